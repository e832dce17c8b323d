"""The benchmark command in its reduced form (--smoke, 10 steps): it runs, writes its table, and every
MagicMix run makes exactly the model evaluations the method needs. No timing is asserted.

Runs ``bash tools/run_bench.sh`` as a user would (a child process with the real ComfyUI and the
generated checkpoint), so it also checks the command named in the README.
"""
import json
import subprocess

import pytest

from magicmix_dev import host

SMOKE_STEPS = 10
# The minimum, written out for the smoke settings (k_max 0.6, k_min 0.3, 10 steps): image layout steps
# from level K_max = 6 to 0; text layout adds the layout prompt's steps from level 10 down to K_min = 3.
IMAGE_LAYOUT_MINIMUM = 6
TEXT_LAYOUT_MINIMUM = (10 - 3) + 6
ROWS_PER_CALL = 2  # cond and uncond of the one image, in one UNet call


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, sd15_checkpoint):
    out_dir = tmp_path_factory.mktemp("bench")
    table, raw = out_dir / "RESULTS.md", out_dir / "results.json"
    done = subprocess.run(["bash", str(host.PACK_DIR / "tools" / "run_bench.sh"), "--smoke", "--out", str(table),
                           "--json", str(raw)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"run_bench.sh --smoke failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return table, json.loads(raw.read_text()), done.stdout


def test_the_table_is_written_and_printed(smoke_run):
    table, results, printed = smoke_run
    text = table.read_text()
    for heading in ("## CPU", "### Overhead (time)", "### Model evaluations", "### Peak memory",
                    "### What the layout keeps between the nodes", "### Scaling"):
        assert heading in text
    assert "torch" in text and "ComfyUI" in text  # the machine description
    assert text.strip() in printed
    assert [r["device"] for r in results][0] == "cpu"


def test_every_run_makes_exactly_the_minimum_model_evaluations(smoke_run):
    _, results, _ = smoke_run
    for device in results:
        assert device["plan"]["base"]["steps"] == SMOKE_STEPS
        counts = {row["name"]: row for row in device["counts"]}
        assert len(counts) == 7
        for name, row in counts.items():
            expected = TEXT_LAYOUT_MINIMUM if name.startswith(("text layout", "plain runs")) else IMAGE_LAYOUT_MINIMUM
            assert row["minimum_calls"] == expected, name
            assert row["calls"] == expected, f"{device['device']} {name}: {row['calls']} UNet calls, need {expected}"
            assert row["rows"] == [ROWS_PER_CALL], f"{name}: cond and uncond not batched: {row['rows']}"
            assert row["equal"] is True
        for cell in device["scaling"]:
            assert cell["counted"] == cell["evaluations"], cell["name"]


def test_image_layout_stores_no_latent_per_level(smoke_run):
    _, results, _ = smoke_run
    for device in results:
        image, text = device["storage"]
        assert image["mode"] == "image" and image["trajectory_levels"] == []
        assert image["latents"] == 2  # the fixed noise and x_0; every layout latent is computed from them
        # text layout keeps the layout prompt's latents of levels K_min..K_max, nothing more
        assert text["mode"] == "text" and text["trajectory_levels"] == [3, 6]
        assert text["latents"] == 1 + (6 - 3 + 1)


def test_memory_is_measured_for_every_comparison(smoke_run):
    _, results, _ = smoke_run
    for device in results:
        for row in device["overhead"] + device["scaling"]:
            assert len(row["peak_bytes"]) == len(row["baseline_peak_bytes"]) == row["rounds"] >= 1
            peaks = row["peak_bytes"] + row["baseline_peak_bytes"]
            assert all(isinstance(value, int) and value >= 0 for value in peaks)


def test_magicmix_holds_no_more_tensor_memory_than_its_baseline(smoke_run):
    # exact live-tensor bytes, not a timing: the layout's few latents are all MagicMix adds
    _, results, _ = smoke_run
    for device in results:
        assert len(device["tensor_memory"]) == 2
        for row in device["tensor_memory"]:
            assert row["baseline_bytes"] > 0
            assert row["ratio"] <= 1.05, f"{row['name']}: {row['bytes']} bytes against {row['baseline_bytes']}"


# Model evaluations per layout step of each sampler kind's one-step rule (docs/samplers.md): dpmpp_sde
# and heun evaluate twice per step; heunpp2 takes a plain Euler step on a one-step schedule.
EVALUATIONS_PER_LAYOUT_STEP = {"euler": 1, "euler_ancestral": 1, "dpmpp_sde": 2, "dpmpp_2m": 1, "dpmpp_2m_sde": 1,
                               "uni_pc": 1, "sa_solver": 1, "heun": 2, "heunpp2": 1}
LAYOUT_STEPS = 6 - 3  # levels K_max = 6 down to K_min = 3


def test_the_layout_phase_is_measured_for_every_kind_of_sampler(smoke_run):
    table, results, _ = smoke_run
    assert "### The layout phase per kind of sampler" in table.read_text()
    for device in results:
        rows = {row["sampler"]: row for row in device["sampler_kinds"]}
        assert set(rows) == set(EVALUATIONS_PER_LAYOUT_STEP) | {"dpm_adaptive"}
        for sampler, per_step in EVALUATIONS_PER_LAYOUT_STEP.items():
            row = rows[sampler]
            assert row["layout_steps"] == LAYOUT_STEPS
            assert row["calls"] == row["null_calls"] == per_step * LAYOUT_STEPS, sampler
            if sampler != "heunpp2":  # KSamplerAdvanced's heunpp2 uses its look-ahead rule over the range
                assert row["baseline_calls"] == row["calls"], sampler
        adaptive = rows["dpm_adaptive"]
        assert adaptive["calls"] >= LAYOUT_STEPS  # at least one solve per level
        for row in rows.values():
            assert row["outside_ms_per_step"] > 0 and row["baseline_outside_ms_per_step"] > 0
