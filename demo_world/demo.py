"""The main job's demo: one world layout image, one content prompt, and the verdict on the result.

The layout is a plain red circle; the content prompt asks for "a checkered shape" (it names the
content, the pattern, as "a coffee machine" names a category). A mix keeps the layout's silhouette
(IoU with the circle at least LAYOUT_KEPT_IOU) and takes the content's pattern (checkered), as the
corgi-shaped coffee machine keeps the corgi's outline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import scorers, world

LAYOUT_SCENE = world.Scene("circle", "red", "plain", (32.0, 32.0), 24.0)
CONTENT_PATTERN = "checkered"
CONTENT_PROMPT = world.prompt_for(None, None, CONTENT_PATTERN)
LAYOUT_IMAGE_NAME = "magicmix_demo_world_layout.png"
# "layout kept": silhouette IoU with the layout at least this. World images read through the
# scorer's smoothing reach 0.91-1.0; a square of the circle's size and centre has 0.83.
LAYOUT_KEPT_IOU = 0.88


@dataclass(frozen=True)
class MixVerdict:
    layout_iou: float
    reading: scorers.Reading
    content_pattern: str

    @property
    def layout_kept(self) -> bool:
        return self.layout_iou >= LAYOUT_KEPT_IOU

    @property
    def content_adopted(self) -> bool:
        return self.reading.pattern == self.content_pattern

    @property
    def is_mix(self) -> bool:
        return self.layout_kept and self.content_adopted

    def describe(self) -> str:
        r = self.reading
        return (f"silhouette IoU with the layout {self.layout_iou:.3f} (kept: >= {LAYOUT_KEPT_IOU}: "
                f"{'yes' if self.layout_kept else 'no'}); pattern {r.pattern} (agreement {r.pattern_agreement:.2f}; "
                f"content asked {self.content_pattern}: {'yes' if self.content_adopted else 'no'}); "
                f"shape read {r.shape}, colour {r.colour} -> {'a MIX' if self.is_mix else 'NOT a mix'}")


def layout_image() -> np.ndarray:
    return world.render(LAYOUT_SCENE)


def judge(image: np.ndarray, layout_mask: np.ndarray = None, content_pattern: str = CONTENT_PATTERN) -> MixVerdict:
    """Score a result image (H x W x 3 in [0, 1]) against the layout's silhouette and the content's pattern."""
    layout_mask = world.silhouette(LAYOUT_SCENE) if layout_mask is None else layout_mask
    return MixVerdict(scorers.iou(scorers.foreground(image), layout_mask), scorers.read(image), content_pattern)


def save_png(image: np.ndarray, path) -> None:
    from PIL import Image
    Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(path)


def load_png(path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
