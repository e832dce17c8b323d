#!/usr/bin/env python3
"""Draws docs/images/video_pipeline.png: frames of the layout video above the same frames of a WAN workflow's
e2e output.

    bash tools/refresh_video_picture.sh      # runs the e2e test that saves the output, then this

The output is the one tests/e2e/test_workflows.py saved to test-artifacts/video/ for
workflows/magicmix_wan_video_layout.json, made by a tiny random-weight WAN 2.1 net at 64x64: the picture
shows the pipeline (a video in, a video of the same frames out), not a quality result, and says so.
"""
from __future__ import annotations

import sys
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
LAYOUT_VIDEO = REPO / "layouts" / "magicmix_walking_corgi.mp4"
OUTPUT_VIDEO = REPO / "test-artifacts" / "video" / "magicmix_wan_video_layout.mp4"
PICTURE = REPO / "docs" / "images" / "video_pipeline.png"
SHOWN_FRAMES = (0, 8, 16, 24, 32)
CELL = 160  # each frame shown as a CELL x CELL square (the layout video centre-cropped, as the workflow does)
LABEL_HEIGHT = 28


def frames(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def square(image: Image.Image) -> Image.Image:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    resample = Image.Resampling.NEAREST if side < CELL else Image.Resampling.LANCZOS
    return image.crop((left, top, left + side, top + side)).resize((CELL, CELL), resample)


def picture(layout: list[Image.Image], output: list[Image.Image]) -> Image.Image:
    rows = (("Layout video: layouts/magicmix_walking_corgi.mp4, frames " + ", ".join(map(str, SHOWN_FRAMES)), layout),
            ("Output of magicmix_wan_video_layout in the e2e test: a tiny random-weight WAN 2.1 net, 64x64 "
             "(the pipeline, not a quality result)", output))
    width = len(SHOWN_FRAMES) * (CELL + 8) + 8
    sheet = Image.new("RGB", (width, len(rows) * (CELL + LABEL_HEIGHT + 8) + 8), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for row, (label, video) in enumerate(rows):
        top = 8 + row * (CELL + LABEL_HEIGHT + 8)
        draw.text((8, top + 6), label, fill=(30, 30, 30), font=font)
        for column, index in enumerate(SHOWN_FRAMES):
            sheet.paste(square(video[index]), (8 + column * (CELL + 8), top + LABEL_HEIGHT))
    return sheet


def main() -> int:
    if not OUTPUT_VIDEO.is_file():
        print(f"no {OUTPUT_VIDEO.relative_to(REPO)}: run bash tools/refresh_video_picture.sh", file=sys.stderr)
        return 1
    layout, output = frames(LAYOUT_VIDEO), frames(OUTPUT_VIDEO)
    assert len(layout) == len(output) > max(SHOWN_FRAMES), (len(layout), len(output))
    sheet = picture(layout, output).quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    PICTURE.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(PICTURE, optimize=True)
    print(f"wrote {PICTURE.relative_to(REPO)} ({PICTURE.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
