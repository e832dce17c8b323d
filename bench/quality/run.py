"""The quality bench: writes bench/QUALITY.md and docs/images/quality_*.png.

    python -m bench.quality.run [--pairs 24] [--seeds 3] [--quick]

``--quick`` (8 pairs, 1 seed, a few cells) checks that everything runs. The full run takes about
half an hour on 2 quiet cores. The model is the demo checkpoint's narrow twin (bench/quality/model.py).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from . import PACK_DIR, mixing as M, model, report, txt2img

NUS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
LATE_K = (0.1, 0.4)  # the range this model's coarse-to-fine order favours (its switch-level curve)
IMAGE_CELLS = (
    [M.Method("magicmix", nu=nu) for nu in NUS]
    + [M.Method("magicmix", nu=nu, k_min=LATE_K[0], k_max=LATE_K[1]) for nu in NUS]
    + [M.Method("magicmix", k_min=0.2, k_max=0.5)]
    + [M.Method("img2img"), M.Method("img2img", k_max=LATE_K[1])]
    + [M.Method("community", nu=nu) for nu in (0.25, 0.5, 0.75)]
    + [M.Method("off_by_one"), M.Method("relative_kmin")]
    + [M.Method("average"), M.Method("switch", switch_at=0.45)]
    + [M.Method("magicmix", sampler=s) for s in ("euler_ancestral", "heun", "dpmpp_2m", "uni_pc")]
    + [M.Method("magicmix", nu=0.9, nu_end=0.5, nu_schedule=c) for c in ("linear", "cosine")]
    + [M.Method("magicmix", region="mask"), M.Method("magicmix", region="read")]
    + [M.Method("magicmix", region="scenes"), M.Method("magicmix", region="scenes_read")]
)
TEXT_CELLS = (
    [M.Method("magicmix", nu=nu) for nu in (0.0, 0.5, 0.75, 1.0)]
    + [M.Method("magicmix", k_min=LATE_K[0], k_max=LATE_K[1])]
    + [M.Method("average")]
    + [M.Method("switch", switch_at=level) for level in (0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)]
)
QUICK_IMAGE = [M.Method("magicmix"), M.Method("img2img"), M.Method("community"), M.Method("off_by_one"),
               M.Method("magicmix", region="mask")]
QUICK_TEXT = [M.Method("magicmix"), M.Method("switch", switch_at=0.5)]
OUT = PACK_DIR / "bench" / "QUALITY.md"
GRID = PACK_DIR / "docs" / "images" / "quality_grid.png"


def find(cells, mode, **match):
    for c in cells:
        if c.mode == mode and all(getattr(c.method, k) == v for k, v in match.items()):
            return c
    raise KeyError(match)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--txt2img", type=int, default=96, help="txt2img samples")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.seeds, args.txt2img = 8, 1, 16
    started = time.monotonic()
    demo = model.load()
    pairs = M.make_pairs(args.pairs)
    image_cells = QUICK_IMAGE if args.quick else IMAGE_CELLS
    text_cells = QUICK_TEXT if args.quick else TEXT_CELLS
    cells = [(M.IMAGE, m) for m in image_cells] + [(M.TEXT, m) for m in text_cells]
    say = lambda m: print(f"[quality] {m} ({time.monotonic() - started:.0f} s)", flush=True)  # noqa: E731
    t2i = txt2img.run(demo, samples=args.txt2img)
    say(f"txt2img: both {t2i.both:.3f}, all three {t2i.all_three:.3f}, clean {t2i.clean_background:.3f}")
    results = M.run_cells(demo, pairs, list(range(args.seeds)), cells, progress=say)
    write_report(args, results, t2i, pairs, time.monotonic() - started)
    say(f"wrote {args.out}")
    return 0


def write_report(args, results, t2i, pairs, seconds: float) -> None:
    from demo_world import checkpoint, demo, training
    image = [c for c in results if c.mode == M.IMAGE]
    text = [c for c in results if c.mode == M.TEXT]
    steps = training.trained_steps(checkpoint.UNET_WEIGHTS)
    n = args.pairs * args.seeds
    lines = [
        "# Quality bench: MagicMix on the demo-world model",
        "",
        "Written by `bash tools/run_quality_bench.sh` (bench/quality/). Our small model trained on a procedural",
        f"world (docs/demo_world.md), **not Stable Diffusion**; UNet after {steps} training steps. {args.pairs} layout /",
        f"content pairs x {args.seeds} seeds = {n} results per row, the same pairs and noise in every row; 50 steps,",
        "cfg 7.5, euler, normal schedule unless a row says otherwise. Intervals: 95 % (mean +- 1.96 standard",
        "errors for IoU, Wilson for rates). *Layout kept*: silhouette IoU with the layout's >=",
        f"{demo.LAYOUT_KEPT_IOU}; *content adopted*: the pattern reads as the content prompt's; *both*: the two.",
        "Each content prompt names only a pattern other than the layout's (\"a checkered shape\").",
        f"Machine: {platform.machine()}, {platform.python_version()}; run time {seconds / 60:.0f} min.",
        "",
        f"txt2img (the model alone, {t2i.samples} samples, each of the 48 prompts in turn): shape and pattern right",
        f"{t2i.both:.3f}, all three attributes {t2i.all_three:.3f} (shape {t2i.shape:.3f}, colour {t2i.colour:.3f},",
        f"pattern {t2i.pattern:.3f}); clean background {t2i.clean_background:.3f}.",
        "",
        "![MagicMix and the baselines on six pairs](../docs/images/quality_grid.png)",
        "",
    ]
    if not args.quick:
        headline = [find(image, M.IMAGE, name="magicmix", nu=0.75, k_min=0.3, k_max=0.6, sampler="euler",
                         nu_schedule="constant")]
        headline.append(find(image, M.IMAGE, name="magicmix", nu=0.75, k_min=LATE_K[0], k_max=LATE_K[1]))
        headline += [c for c in image if c.method.name in ("img2img", "community", "off_by_one", "relative_kmin",
                                                            "average", "switch")]
        image_unmasked = [c for c in image if not c.method.region]
        lines.append(report.table("Image layout: MagicMix at the defaults and every baseline", headline))
        nu_rows = [c for c in image_unmasked if c.method.name == "magicmix" and c.method.sampler == "euler"
                   and c.method.nu_schedule == "constant"]
        lines.append(report.table("Image layout: nu and the k range", nu_rows,
                                  "nu = 1 is img2img from k_max; nu = 0 lands on the layout latent at k_min."))
        lines.append(report.table("Image layout: samplers at the defaults",
                                  [c for c in image if c.method.name == "magicmix" and (c.method.sampler != "euler")]
                                  + headline[:1]))
        lines.append(report.table("Image layout: nu schedules (0.9 to 0.5 over the layout phase) against constant 0.75",
                                  [c for c in image if c.method.nu_schedule != "constant"] + headline[:1]))
        half = [c for c in image if c.method.region in ("mask", "read")]
        lines.append(report.table("Image layout in a mask (regional MagicMix): half of the shape", half,
                                  report.regional_note(half)))
        scenes = [c for c in image if c.method.region in M.SCENE_REGIONS]
        lines.append(report.table("Image layout in a mask (regional MagicMix): one of two scenes", scenes,
                                  report.scenes_note(scenes)))
        lines.append(report.table("Text layout (the layout prompt's own image from the same seed is the reference)",
                                  [c for c in text if c.method.name in ("magicmix", "average")]))
        lines.append(report.table(
            "Text layout: the switch-level curve (layout prompt from pure noise down to the level, then the content prompt)",
            [c for c in text if c.method.name == "switch"],
            "Where the model decides the silhouette and where the pattern: a switch above a level that still keeps the "
            "silhouette, adopting the pattern, is the range MagicMix works in."))
    else:
        lines.append(report.table("Quick run", results, report.regional_note([c for c in results if c.method.region in ("mask", "read")])))
    args.out.write_text("\n".join(lines) + "\n")
    grid_cells = ([find(image, M.IMAGE, name="magicmix", nu=nu, k_min=k_min, k_max=k_max, sampler="euler",
                        nu_schedule="constant") for k_min, k_max in ((0.3, 0.6), LATE_K) for nu in (0.5, 0.75, 0.9)]
                  + [find(image, M.IMAGE, name="img2img", k_max=0.6), find(image, M.IMAGE, name="img2img", k_max=0.4),
                     find(image, M.IMAGE, name="community", nu=0.75)]
                  if not args.quick else image)
    from demo_world import world
    rows = []
    for i in range(min(6, len(pairs))):
        rows.append([world.render(pairs[i].layout)] + [c.images[0][i] for c in grid_cells])
    labels = ["layout image"] + [c.method.label().replace(", k", "\nk") for c in grid_cells]
    report.picture_grid(rows, labels, GRID if not args.quick else args.out.with_suffix(".png"))


if __name__ == "__main__":
    sys.exit(main())
