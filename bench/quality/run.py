"""The quality bench: writes bench/QUALITY.md and docs/images/quality_grid.png.

    python -m bench.quality.run [--pairs 24] [--seeds 3] [--quick] [--out PATH]

``--quick`` (8 pairs, 1 seed, a few cells) checks that everything runs; it writes
test-artifacts/quality-quick/QUALITY.md and its grid beside it, never the committed report. The full run
takes about 40 minutes on 2 quiet cores. The model is the demo checkpoint's narrow twin
(bench/quality/model.py).
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
    + [M.Method("magicmix", region="mask"), M.Method("magicmix", region="read"), M.Method("img2img", region="mask")]
    + [M.Method("magicmix", region="scenes"), M.Method("magicmix", region="scenes_read"),
       M.Method("img2img", region="scenes")]
)
TEXT_CELLS = (
    [M.Method("magicmix", nu=nu) for nu in (0.0, 0.5, 0.75, 1.0)]
    + [M.Method("magicmix", k_min=LATE_K[0], k_max=LATE_K[1])]
    + [M.Method("average")]
    + [M.Method("switch", switch_at=level) for level in (0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)]
)
QUICK_IMAGE = [M.Method("magicmix"), M.Method("img2img"), M.Method("community"), M.Method("off_by_one"),
               M.Method("magicmix", region="mask"), M.Method("img2img", region="mask")]
QUICK_TEXT = [M.Method("magicmix"), M.Method("switch", switch_at=0.5)]
OUT = PACK_DIR / "bench" / "QUALITY.md"
QUICK_OUT = PACK_DIR / "test-artifacts" / "quality-quick" / "QUALITY.md"
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
    parser.add_argument("--out", type=Path, help=f"the report (default {OUT.relative_to(PACK_DIR)}; with --quick "
                                                 f"{QUICK_OUT.relative_to(PACK_DIR)})")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.seeds, args.txt2img = 8, 1, 16
    args.out = args.out or (QUICK_OUT if args.quick else OUT)
    grid = GRID if args.out == OUT else args.out.with_name("quality_grid.png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    demo = model.load()
    pairs = M.make_pairs(args.pairs)
    cells = ([(M.IMAGE, m) for m in (QUICK_IMAGE if args.quick else IMAGE_CELLS)]
             + [(M.TEXT, m) for m in (QUICK_TEXT if args.quick else TEXT_CELLS)])
    say = lambda m: print(f"[quality] {m} ({time.monotonic() - started:.0f} s)", flush=True)  # noqa: E731
    t2i = txt2img.run(demo, samples=args.txt2img)
    say(f"txt2img: both {t2i.both:.3f}, all three {t2i.all_three:.3f}, clean {t2i.clean_background:.3f}")
    results = M.run_cells(demo, pairs, list(range(args.seeds)), cells, progress=say)
    header = report_header(args, t2i, time.monotonic() - started, grid)
    tables = quick_tables(results) if args.quick else full_tables(results)
    args.out.write_text("\n".join(header + tables) + "\n")
    write_grid(results, pairs, grid, quick=args.quick)
    raw = args.out.with_suffix(".json")
    write_raw(results, args.seeds, raw)
    say(f"wrote {args.out}, {raw} and {grid}")
    return 0


def report_header(args, t2i, seconds: float, grid: Path) -> list[str]:
    """The report's opening: what was run on which model, txt2img, and the grid."""
    from demo_world import checkpoint, demo, training
    steps = training.trained_steps(checkpoint.UNET_WEIGHTS)
    return [
        "# Quality bench: MagicMix on the demo-world model",
        "",
        "Written by `bash tools/run_quality_bench.sh` (bench/quality/). Our small model trained on a procedural",
        f"world (docs/demo_world.md), **not Stable Diffusion**; UNet after {steps} training steps. "
        f"{args.pairs} layout /",
        f"content pairs x {args.seeds} seeds = {args.pairs * args.seeds} results per row, the same pairs and noise in "
        "every row; 50 steps,",
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
        f"![MagicMix and the baselines on six pairs]({_relative_link(grid, args.out)})",
        "",
    ]


def _relative_link(target: Path, report: Path) -> str:
    import os
    return Path(os.path.relpath(target, report.parent)).as_posix()


def quick_tables(results) -> list[str]:
    regional = [c for c in results if c.method.region in ("mask", "read")]
    return [report.table("Quick run", results, report.regional_note(regional))]


def full_tables(results) -> list[str]:
    """The committed report's tables, each a question the bench answers."""
    image = [c for c in results if c.mode == M.IMAGE]
    text = [c for c in results if c.mode == M.TEXT]
    unmasked = [c for c in image if not c.method.region]
    headline = [find(image, M.IMAGE, name="magicmix", nu=0.75, k_min=0.3, k_max=0.6, sampler="euler",
                     nu_schedule="constant", region="")]
    headline.append(find(image, M.IMAGE, name="magicmix", nu=0.75, k_min=LATE_K[0], k_max=LATE_K[1]))
    headline += [c for c in unmasked if c.method.name in ("img2img", "community", "off_by_one", "relative_kmin",
                                                          "average", "switch")]
    half = [c for c in image if c.method.region in ("mask", "read")]
    scenes = [c for c in image if c.method.region in M.SCENE_REGIONS]
    return [
        report.table("Image layout: MagicMix at the defaults and every baseline", headline),
        report.table("Image layout: nu and the k range",
                     [c for c in unmasked if c.method.name == "magicmix" and c.method.sampler == "euler"
                      and c.method.nu_schedule == "constant"],
                     "nu = 1 is img2img from k_max; nu = 0 lands on the layout latent at k_min."),
        report.table("Image layout: samplers at the defaults",
                     [c for c in image if c.method.name == "magicmix" and c.method.sampler != "euler"] + headline[:1]),
        report.table("Image layout: nu schedules (0.9 to 0.5 over the layout phase) against constant 0.75",
                     [c for c in image if c.method.nu_schedule != "constant"] + headline[:1]),
        report.table("Image layout in a mask (regional MagicMix): half of the shape", half,
                     report.regional_note(half)),
        report.table("Image layout in a mask (regional MagicMix): one of two scenes", scenes,
                     report.scenes_note(scenes)),
        report.table("Text layout (the layout prompt's own image from the same seed is the reference)",
                     [c for c in text if c.method.name in ("magicmix", "average")]),
        report.table(
            "Text layout: the switch-level curve (layout prompt from pure noise down to the level, then the content "
            "prompt)",
            [c for c in text if c.method.name == "switch"],
            "Where the model decides the silhouette and where the pattern: a switch above a level that still keeps "
            "the silhouette, adopting the pattern, is the range MagicMix works in."),
    ]


def write_raw(results, seeds: int, path: Path) -> None:
    """Every result of every row, seed by seed: what a claim drawn from one seed can be checked against."""
    import json
    rows = []
    for cell in results:
        per_seed = len(cell.ious) // seeds
        chunks = lambda values: [list(values[i * per_seed:(i + 1) * per_seed]) for i in range(seeds)]  # noqa: E731
        rows.append({"mode": cell.mode, "label": cell.method.label(), "method": vars(cell.method),
                     "iou": chunks([round(float(v), 4) for v in cell.ious]),
                     "adopted": chunks([bool(v) for v in cell.adopted]),
                     "outside_error": chunks([round(v, 5) for v in cell.outside_errors]),
                     "round_trip_error": chunks([round(v, 5) for v in cell.round_trip_errors]),
                     "others_kept": chunks([bool(v) for v in cell.others_kept])})
    path.write_text(json.dumps({"seeds": seeds, "rows": rows}, indent=None, separators=(",", ":")) + "\n")


def write_grid(results, pairs, path: Path, quick: bool) -> None:
    """Six pairs: the layout image, then MagicMix at three nu in both k ranges and the baselines."""
    from demo_world import world
    image = [c for c in results if c.mode == M.IMAGE]
    if quick:
        grid_cells = image
    else:
        grid_cells = ([find(image, M.IMAGE, name="magicmix", nu=nu, k_min=k_min, k_max=k_max, sampler="euler",
                            nu_schedule="constant", region="") for k_min, k_max in ((0.3, 0.6), LATE_K)
                       for nu in (0.5, 0.75, 0.9)]
                      + [find(image, M.IMAGE, name="img2img", k_max=k_max, region="") for k_max in (0.6, 0.4)]
                      + [find(image, M.IMAGE, name="community", nu=0.75)])
    rows = [[world.render(pairs[i].layout)] + [c.images[0][i] for c in grid_cells] for i in range(min(6, len(pairs)))]
    labels = ["layout image"] + [c.method.label().replace(", k", "\nk") for c in grid_cells]
    report.picture_grid(rows, labels, path)


if __name__ == "__main__":
    sys.exit(main())
