"""bench/RESULTS.md holds the GPU check's report (bench/gpu_check.py) between two markers, so that
bench/run_bench.py can rewrite its own tables and keep the latest report, and a report fetched from a
GPU machine can be put in without rerunning the CPU bench."""
from __future__ import annotations

RESULTS_BEGIN = "<!-- gpu-check: begin (written by bench/gpu_check.py --embed-into) -->"
RESULTS_END = "<!-- gpu-check: end -->"


def embed_in_results(results_text: str, check_text: str) -> str:
    """RESULTS.md with the GPU check's report between the markers (added at the end when absent)."""
    block = f"{RESULTS_BEGIN}\n{check_text.strip()}\n{RESULTS_END}"
    if RESULTS_BEGIN in results_text and RESULTS_END in results_text:
        head, rest = results_text.split(RESULTS_BEGIN, 1)
        return head + block + rest.split(RESULTS_END, 1)[1]
    return results_text.rstrip() + "\n\n" + block + "\n"


def embedded_report(results_text: str) -> str | None:
    """The GPU check's report held in RESULTS.md, or None."""
    if RESULTS_BEGIN not in results_text or RESULTS_END not in results_text:
        return None
    return results_text.split(RESULTS_BEGIN, 1)[1].split(RESULTS_END, 1)[0].strip()
