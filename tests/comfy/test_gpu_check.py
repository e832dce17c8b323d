"""The prepared GPU check (bench/gpu_check.py) in its CPU dry run, from the carry folder that
tools/prepare_gpu_check.py builds: the same code path a GPU machine runs, with tiny models of the same
classes (SD1.5, SDXL, Flux dev, WAN 2.1).

Runs both as a user would, in child processes of the set-up's venv python. About a minute on 2 shared
cores, most of it the dry run (the sd15 fp16 case with the checks and the per-sampler rows).
"""
import json
import os
import subprocess
import sys

import pytest

from bench import gpu_check
from magicmix_dev import host

GPU_CHECK = host.PACK_DIR / "bench" / "gpu_check.py"
PREPARE = host.PACK_DIR / "tools" / "prepare_gpu_check.py"
CARRY_LIMIT = 60 * 2**20
SAMPLER_KINDS = 10
TINY_STEPS, TINY_K_MAX_LEVEL, TINY_K_MIN_LEVEL = 10, 6, 3
# model calls per run at 10 steps: image layout K_max; text layout (T - K_min) + K_max (cond and uncond in one call)
TINY_CALLS = {"image": TINY_K_MAX_LEVEL, "text": TINY_STEPS - TINY_K_MIN_LEVEL + TINY_K_MAX_LEVEL}


@pytest.fixture(scope="module")
def carry(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "carry"
    done = subprocess.run([sys.executable, str(PREPARE), "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def dry_run(carry, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-report")
    results = out / "RESULTS.md"
    results.write_text("# results\n\nearlier tables\n")
    command = [sys.executable, str(GPU_CHECK), "--device", "cpu", "--tiny", "--carry", str(carry),
               "--out", str(out / "gpu_check.md"), "--json", str(out / "gpu_check.json"), "--embed-into", str(results)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=host.PACK_DIR)
    assert done.returncode == 0, f"dry run failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text(), results, done


def test_the_carry_folder_holds_comfyui_and_the_missing_packages_within_the_limit(carry):
    manifest = json.loads((carry / "manifest.json").read_text())
    files = manifest["files"]
    assert manifest["total_bytes"] == sum(files.values()) <= CARRY_LIMIT
    for needed in ("comfyui/comfy/model_management.py", "comfyui/comfy/ldm/models/autoencoder.py",
                   "comfyui/latent_preview.py", "comfyui/comfyui_version.py", "site/torchsde/__init__.py",
                   "site/trampoline/__init__.py"):
        assert needed in files and (carry / needed).is_file(), needed
    assert not any(name.startswith("comfyui/custom_nodes/") for name in files)  # not the pack, not a user's nodes
    assert not any(name.endswith((".so", ".pyd")) for name in files)  # pure Python: runs on another Python


def test_the_dry_run_imports_comfyui_and_the_carried_packages_from_the_carry_folder(carry, dry_run):
    report, _, _, _ = dry_run
    assert report["device"] == "cpu" and report["tiny"] is True
    imported = report["machine"]["imported_from"]
    assert imported["comfy"].startswith(str(carry / "comfyui" / "comfy"))
    assert imported["torchsde"].startswith(str(carry / "site" / "torchsde"))


def test_the_dry_run_covers_every_case_with_the_rounds_its_budget_allows(dry_run):
    report, text, _, _ = dry_run
    cases = [(c["case"]["family"], c["case"]["dtype"], tuple(c["case"]["modes"])) for c in report["cases"]]
    assert cases == [("sd15", "float16", ("image", "text")), ("flux_dev", "bfloat16", ("image",)),
                     ("wan21", "bfloat16", ("image",)), ("sdxl", "float16", ("image", "text")),
                     ("sd15", "float32", ("image", "text"))]
    assert report["skipped"] == []
    for case in report["cases"]:
        settings = case["case"]
        for mode in settings["modes"]:
            row = case[mode]
            assert row["finite"] is True and row["same_seed_same_result"] is True, (settings, mode)
            assert row["model_calls"] == row["baseline_model_calls"] == TINY_CALLS[mode], (settings, mode)
            assert settings["min_rounds"] <= row["rounds"] <= settings["max_rounds"]
            assert len(row["ratios"]) == len(row["adjusted_ratios"]) == row["rounds"]
            low, high = row["ratio_interval"]
            assert low <= row["ratio"] <= high and row["interval_coverage"] in (0.5, 0.75)  # 2 or 3 rounds: k = 1
            assert row["adjusted_interval"][0] <= row["adjusted_ratio"] <= row["adjusted_interval"][1]
            # the time inside the model calls is part of the run's time, on both sides
            assert 0 < row["model_seconds"] < row["median_seconds"] * 1.5
            assert 0 < row["baseline_model_seconds"] < row["baseline_median_seconds"] * 1.5
    assert text.count("| sd15 |") == 4 and text.count("| sdxl |") == 2
    assert text.count("| flux_dev |") == 1 and text.count("| wan21 |") == 1


def test_the_flux_and_wan_cases_run_their_families_conditioning_and_latents(dry_run):
    report, text, _, _ = dry_run
    flux, wan = report["cases"][1], report["cases"][2]
    assert flux["case"]["cfg"] == 1.0 and flux["case"]["guidance"] == 3.5
    assert wan["case"]["frames"] == 9 and "32x32, 9 frames" in text
    assert flux["parameters"] > 0 and wan["parameters"] > 0
    # the GPU run's models at their real sizes (built on the meta device): Flux dev 11.9 B, WAN 2.1 1.3B 1.42 B
    # parameters with its embedders, SD1.5's UNet 0.86 B, SDXL's 2.57 B
    full = report["full_size_parameters"]
    assert 11.8e9 < full["flux_dev"] < 12.0e9 and 1.40e9 < full["wan21"] < 1.45e9
    assert 0.85e9 < full["sd15"] < 0.87e9 and 2.5e9 < full["sdxl"] < 2.6e9


def test_the_report_gives_the_budget_and_what_did_not_fit(dry_run):
    report, text, _, _ = dry_run
    assert "| case | budget s | spent s |" in text
    for case in gpu_check.TINY_CASES:
        assert f"| {case.label} | {case.budget_s:.0f} |" in text
    assert report["not_in_the_check"] and all(line in text for line in report["not_in_the_check"])
    assert report["clock_warm_up"] is None and "no warm-up (CPU)" in text


def test_the_full_check_is_planned_within_its_time_budget():
    # the cases' own budgets and the clock warm-up within the default whole budget, the imports aside
    defaults = gpu_check.parse_arguments(["--out", "r.md"])
    assert sum(case.budget_s for case in gpu_check.FULL_CASES) + defaults.warm_s <= defaults.budget_s - 15
    sd15_fp16 = gpu_check.FULL_CASES[0]
    assert (sd15_fp16.family, sd15_fp16.dtype, sd15_fp16.min_rounds) == ("sd15", "float16", 8)


def test_rounds_fill_the_time_left_within_their_bounds():
    assert gpu_check.rounds_within(28.0, 1.4, 8, 30) == 20
    assert gpu_check.rounds_within(5.0, 1.4, 8, 30) == 8  # the minimum even when the budget is spent
    assert gpu_check.rounds_within(600.0, 1.4, 8, 30) == 30


def test_the_ratio_interval_is_the_order_statistic_interval_of_the_median():
    # n = 8: the 2nd smallest and 2nd largest cover the median with 1 - 2 (1 + 8) / 2^8 = 0.9297
    assert gpu_check.median_interval([1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0]) == (2.0, 7.0, 0.9296875)
    # n = 3: only the extremes, covering 1 - 2 / 2^3 = 0.75 (said, since it is below 0.9)
    assert gpu_check.median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0, 0.75)


def test_cancel_stops_within_a_step_and_every_step_gives_a_preview(dry_run):
    report, _, _, _ = dry_run
    first = report["cases"][0]
    cancel = first["cancel"]
    assert cancel["stopped"] is True
    assert cancel["model_calls_after_the_flag"] <= 1  # at most the step under way (euler: one call per step)
    assert cancel["total_model_calls"] < TINY_K_MAX_LEVEL  # it did not run to the end
    previews = first["previews"]
    assert previews["steps"] == TINY_K_MAX_LEVEL
    assert previews["previews"] == previews["progress_updates"] == TINY_K_MAX_LEVEL


def test_text_layout_gives_the_same_result_with_its_trajectory_on_either_device(dry_run):
    report, _, _, _ = dry_run
    trajectory = report["cases"][0]["trajectory"]
    assert len(trajectory["stores"]) == 2
    assert trajectory["max_abs_difference"] == 0.0


def test_the_cost_outside_the_model_is_measured_for_every_kind_of_sampler(dry_run):
    report, text, _, _ = dry_run
    rows = report["cases"][0]["sampler_kinds"]
    assert len(rows) == SAMPLER_KINDS
    assert all(r["outside_ms_per_step"] > 0 and r["baseline_outside_ms_per_step"] > 0 for r in rows)
    assert "ms per layout step outside the model" in text


def test_the_report_goes_into_results_md_once_and_is_replaced_by_the_next(dry_run, tmp_path):
    _, text, results, _ = dry_run
    written = results.read_text()
    assert written.startswith("# results\n\nearlier tables\n")
    assert written.count("## GPU check") == 1 and text.strip() in written
    newer = tmp_path / "newer.md"
    newer.write_text("## GPU check (a later run)\n")
    done = subprocess.run([sys.executable, str(GPU_CHECK), "--embed", str(newer), "--embed-into", str(results)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    replaced = results.read_text()
    assert replaced.count("## GPU check") == 1 and "(a later run)" in replaced and "earlier tables" in replaced


def test_asking_for_cuda_where_there_is_none_fails_at_once(carry, tmp_path):
    # CUDA hidden from the child: the refusal is checked on every machine, one with a GPU included
    no_cuda = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(GPU_CHECK), "--device", "cuda", "--carry", str(carry),
                           "--out", str(tmp_path / "r.md")], capture_output=True, text=True, timeout=120, env=no_cuda)
    assert done.returncode == 2
    assert "sees no CUDA device" in done.stderr
    assert not (tmp_path / "r.md").exists()
