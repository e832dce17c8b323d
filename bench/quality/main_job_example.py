"""docs/images/demo_main_job.png: the main job's images on the demo model, the README's example.

The layout image, then each image `bash tools/run_main.sh` saved (its batch of demo.DEMO_BATCH from
the shipped workflow's seed), labelled with its verdict.

    bash tools/run_main.sh && python -m bench.quality.main_job_example [--images output]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import PACK_DIR, report

OUT = PACK_DIR / "docs" / "images" / "demo_main_job.png"


def main(argv=None) -> int:
    from demo_world import demo
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=PACK_DIR / "output", help="the main job's --out folder")
    args = parser.parse_args(argv)
    paths = sorted(args.images.glob("magicmix_image_layout_*.png"))
    if not paths:
        raise SystemExit(f"no magicmix_image_layout_*.png in {args.images}: run `bash tools/run_main.sh` first")
    images = [demo.load_png(path) for path in paths]
    labels = ["layout image"]
    for image in images:
        verdict = demo.judge(image)
        labels.append(f"IoU {verdict.layout_iou:.3f}, {verdict.reading.pattern}\n"
                      f"{'a mix' if verdict.is_mix else 'not a mix'}")
        print(f"{labels[-1]!r}")
    report.picture_grid([[demo.layout_image()] + images], labels, OUT, scale=2)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
