"""Figures the docs quote from a results file are in that file.

A block of a Markdown page (a paragraph, a list item, or a table together with the paragraph just
above it, its caption) that names bench/QUALITY.md, bench/RESULTS.md, bench/DIFFUSERS_PARITY.md or
bench/NOISE_LEVELS.md quotes its figures from there: every number in it with three or more decimals,
or written as a power of ten with a mantissa (1.2e-6), must appear in the named file as written. A
quoted figure that goes stale when the bench is re-run fails here; so a page quoting the bench names
it. (A bare power of ten, 1e-5, is a bound, not a figure.)
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

PACK_DIR = Path(__file__).resolve().parents[2]
RESULTS_FILES = ("bench/QUALITY.md", "bench/RESULTS.md", "bench/DIFFUSERS_PARITY.md",
                 "bench/NOISE_LEVELS.md")
PAGES = [PACK_DIR / "README.md", *sorted((PACK_DIR / "docs").glob("*.md")),
         *sorted((PACK_DIR / "web" / "docs").glob("*.md"))]
# three or more decimals (0.458, 0.0042), or a measured power of ten (1.2e-6)
FIGURE = re.compile(r"(?<![\w.])(?:\d+\.\d{3,}(?![\d])|\d+\.\d+e-\d+)")


def is_list_item(line: str) -> bool:
    return line.startswith(("- ", "* ")) or re.match(r"\d+\. ", line) is not None


def blocks(text: str) -> list[str]:
    """Paragraphs and list items; a table joined to the block just above it (its caption); a list item
    joined to the sentence that introduces its list (a block ending with a colon), whose source it shares."""
    out: list[str] = []
    intro = ""
    for chunk in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in chunk.splitlines() if line.strip()]
        if lines and all(line.startswith("|") for line in lines):
            out.append(" ".join([out.pop() if out else ""] + lines))
            continue
        chunk_blocks: list[str] = []
        for line in lines:
            if not chunk_blocks or line.startswith(("#", "|")) or is_list_item(line):
                chunk_blocks.append(line)
            else:
                chunk_blocks[-1] += " " + line
        for block in chunk_blocks:
            if is_list_item(block):
                out.append(f"{block} [{intro}]" if intro else block)
            else:
                out.append(block)
                intro = block if block.endswith(":") else ""
    return out


def quoted(page: Path) -> list[tuple[str, str, str]]:
    """(results file, figure, block) for each figure a block of the page quotes from a named results file."""
    found = []
    for block in blocks(page.read_text()):
        for name in RESULTS_FILES:
            if name in block or Path(name).name in block:
                found += [(name, figure, block) for figure in FIGURE.findall(block)]
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(PACK_DIR)))
def test_every_quoted_figure_is_in_the_results_file_it_names(page):
    results = {name: (PACK_DIR / name).read_text() for name in RESULTS_FILES}
    missing = [(name, figure, block[:160]) for name, figure, block in quoted(page)
               if figure not in results[name] and not any(figure in results[other] for other in RESULTS_FILES
                                                          if other in block)]
    assert not missing, "\n".join(f"{figure} is not in {name}: {block}" for name, figure, block in missing)
