"""The main job as a user runs it: `bash tools/run_main.sh` with no checkpoint of theirs starts a
real ComfyUI server, loads the demo-world checkpoint through CheckpointLoaderSimple, runs the
image-layout workflow on a world layout image as a batch of demo.DEMO_BATCH, and prints each image's
scored verdict (a mix: the layout's silhouette kept, the content's pattern adopted) and how many mix."""
from __future__ import annotations

import re
import subprocess

from demo_world import demo
from magicmix_dev import host


def test_main_job_runs_the_shipped_workflow_on_the_demo_model(tmp_path, demo_checkpoint):
    env = {k: v for k, v in __import__("os").environ.items() if k != "MAGICMIX_CHECKPOINT"}
    result = subprocess.run(["bash", str(host.PACK_DIR / "tools" / "run_main.sh"), "--out", str(tmp_path)],
                            cwd=host.PACK_DIR, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "the demo-world model" in result.stderr
    saved = sorted(tmp_path.glob("*.png"))
    assert len(saved) == demo.DEMO_BATCH and all(str(path) in result.stdout for path in saved)
    verdicts = re.findall(r"silhouette IoU with the layout ([0-9.]+).*pattern (\w+).*-> (a MIX|NOT a mix)",
                          result.stderr)
    assert len(verdicts) == demo.DEMO_BATCH, result.stderr[-2000:]
    mixes = sum(verdict == "a MIX" for _, _, verdict in verdicts)
    assert f"{mixes} of {demo.DEMO_BATCH} images are a mix" in result.stderr
    # the shipped workflow's seed and settings on the committed weights: measured 1 of 4 a mix (IoU 0.858,
    # 0.926, 0.842, 0.872 against the cut 0.88), all four checkered
    assert mixes >= 1 and all(pattern == "checkered" for _, pattern, _ in verdicts), verdicts


def test_the_regional_workflow_mixes_inside_its_mask_and_keeps_the_layout_outside(tmp_path, demo_checkpoint):
    """`bash tools/run_main.sh workflows/magicmix_regional.json`: the shipped regional workflow on the demo
    model, its layout a canvas of two scenes whose mask (the first scene's quadrant) is the image's
    alpha, read back through LoadImage's MASK."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "MAGICMIX_CHECKPOINT"}
    workflow = host.PACK_DIR / "workflows" / "magicmix_regional.json"
    command = ["bash", str(host.PACK_DIR / "tools" / "run_main.sh"), str(workflow), "--out", str(tmp_path)]
    result = subprocess.run(command, cwd=host.PACK_DIR, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "magicmix_demo_world_layout_region.png" in result.stderr, "the layout with its mask was not loaded"
    assert "ImageScale #3: 128x128" in result.stderr, "the two-scene canvas was scaled down"
    verdicts = re.findall(r"mean difference from the layout image ([0-9.]+).*the second scene reads (\w+) (\w+) (\w+).*"
                          r"inside: silhouette IoU with the layout ([0-9.]+).*?pattern (\w+).*"
                          r"-> (a regional MIX|NOT a regional mix)", result.stderr)
    assert len(verdicts) == demo.DEMO_BATCH, result.stderr[-2000:]
    # measured: each outside 0.0032 (the VAE round trip of the bench's two-scene canvases: 0.0019 there),
    # the second scene striped blue square as in the layout, inside checkered, but the first scene's
    # silhouette IoU 0.834 / 0.752 / 0.806 / 0.796, under the cut (0.88): 0 of 4 a regional mix. The
    # model was trained on single 64 px scenes; on the two-scene canvas its silhouettes soften
    # (bench/QUALITY.md, two scenes: layout kept in 0.069 of the masked results).
    for outside, *second, iou, inside, verdict in verdicts:
        assert float(outside) <= 0.02 and tuple(second) == ("striped", "blue", "square"), verdicts
        assert inside == "checkered", verdicts
        assert (verdict == "a regional MIX") == (float(iou) >= demo.LAYOUT_KEPT_IOU), verdicts
    mixes = sum(verdict == "a regional MIX" for *_, verdict in verdicts)
    assert f"{mixes} of {demo.DEMO_BATCH} images are a regional mix" in result.stderr
