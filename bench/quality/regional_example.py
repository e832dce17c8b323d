"""docs/images/demo_regional.png: regional MagicMix on the demo model, the README's example.

Per pair (the bench's first four, seed 0): the layout image with its mask (the left half, shown
lighter), MagicMix at the defaults (nu 0.75, k 0.3/0.6) inside the mask, and the same without a mask;
then the two-scene canvas (this pair's layout top left, the next pair's bottom right) with the first
scene's quadrant as the mask, MagicMix in it, and the same without a mask.

    python -m bench.quality.regional_example
"""
from __future__ import annotations

import sys

import torch

from . import PACK_DIR, mixing as M, report

OUT = PACK_DIR / "docs" / "images" / "demo_regional.png"


def main() -> int:
    from demo_world import demo as world_demo
    demo, pairs, batch = M.example_batch(M.IMAGE)
    with torch.no_grad():
        half, unmasked, scenes, scenes_unmasked = (
            demo.decode(batch.run(M.Method("magicmix", region=region)))
            for region in ("mask", "", "scenes", "scenes_read"))
    shown = lightened(batch.layout_images, world_demo.region_mask())
    canvases = lightened(batch.scenes.images, world_demo.first_scene_mask())
    rows = [[shown[i], half[i], unmasked[i], canvases[i], scenes[i], scenes_unmasked[i]] for i in range(len(pairs))]
    report.write_example(rows, ["layout image\n(mask: left half)", "MagicMix\nin the mask", "MagicMix\nno mask",
                                "two scenes\n(mask: top left)", "MagicMix\nin the mask", "MagicMix\nno mask"],
                         pairs, OUT)
    return 0


def lightened(images, mask):
    """Images with their mask shown lighter."""
    mask = mask[..., None]
    return [image * (1 - 0.35 * mask) + 0.35 * mask for image in images]


if __name__ == "__main__":
    sys.exit(main())
