"""The prepared GPU check (bench/gpu_check.py) in its CPU dry run, from the carry folder that
tools/prepare_gpu_check.py builds: the same code path a GPU machine runs, with tiny models.

Runs both as a user would, in child processes of the set-up's venv python.
"""
import json
import os
import subprocess
import sys

import pytest

from magicmix_dev import host

GPU_CHECK = host.PACK_DIR / "bench" / "gpu_check.py"
PREPARE = host.PACK_DIR / "tools" / "prepare_gpu_check.py"
CARRY_LIMIT = 60 * 2**20
SAMPLER_KINDS = 10
TINY_STEPS, TINY_K_MAX_LEVEL = 10, 6


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


def test_the_dry_run_covers_both_families_both_dtypes_and_both_modes(dry_run):
    report, text, _, _ = dry_run
    cases = [(c["case"]["family"], c["case"]["dtype"]) for c in report["cases"]]
    assert cases == [("sd15", "float16"), ("sdxl", "float16"), ("sd15", "float32"), ("sdxl", "float32")]
    assert report["skipped"] == []
    for case in report["cases"]:
        for mode in ("image", "text"):
            row = case[mode]
            assert row["finite"] is True and row["same_seed_same_result"] is True, (case["case"], mode)
            assert len(row["ratios"]) == case["case"]["rounds"] and row["median_seconds"] > 0
    assert text.count("| sd15 |") == 4 and text.count("| sdxl |") == 4


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
