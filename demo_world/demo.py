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
# The main job makes this many images from its one seed (a noise draw each, as any batch): a single
# draw can miss, a batch shows how often the pair mixes.
DEMO_BATCH = 4


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

    def findings(self) -> str:
        r = self.reading
        return (f"silhouette IoU with the layout {self.layout_iou:.3f} (kept: >= {LAYOUT_KEPT_IOU}: "
                f"{'yes' if self.layout_kept else 'no'}); pattern {r.pattern} (agreement {r.pattern_agreement:.2f}; "
                f"content asked {self.content_pattern}: {'yes' if self.content_adopted else 'no'}); "
                f"shape read {r.shape}, colour {r.colour}")

    def describe(self) -> str:
        return f"{self.findings()} -> {'a MIX' if self.is_mix else 'NOT a mix'}"


def layout_image() -> np.ndarray:
    return world.render(LAYOUT_SCENE)


def judge(image: np.ndarray, layout_mask: np.ndarray = None, content_pattern: str = CONTENT_PATTERN) -> MixVerdict:
    """Score a result image (H x W x 3 in [0, 1]) against the layout's silhouette and the content's pattern."""
    layout_mask = world.silhouette(LAYOUT_SCENE) if layout_mask is None else layout_mask
    return MixVerdict(scorers.iou(scorers.foreground(image), layout_mask), scorers.read(image), content_pattern)


def save_png(image: np.ndarray, path) -> None:
    """An H x W x 3 (RGB) or H x W x 4 (RGBA) image in [0, 1] as an 8-bit PNG."""
    from PIL import Image
    Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(path)


def load_png(path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


# --- regional MagicMix on the world -----------------------------------------------------------------
# Two masks. Half a shape: the world's shapes fill most of its 8 x 8 latent cells, so on a single
# scene the mask is the left REGION_CELLS cell columns (binary at latent resolution), and the left
# part of the shape should take the content's pattern. One of two scenes (below): the first scene's
# quadrant of a two-scene canvas. "Outside" is judged beyond a band of BAND_CELLS cells from the
# mask's edge, where the decoder's view of the mixed cells has faded: there the result must equal
# the layout image up to the VAE's own round-trip error.
REGION_CELLS = 4
BAND_CELLS = 2


def region_mask() -> np.ndarray:
    """The half-shape MASK (H x W, 1 = mix, 0 = keep): the left half of the image."""
    mask = np.zeros((world.IMAGE_SIZE, world.IMAGE_SIZE), dtype=np.float32)
    mask[:, :REGION_CELLS * world.CELL] = 1.0
    return mask


def kept_pixels() -> np.ndarray:
    """Pixels beyond the band of BAND_CELLS cells outside the region mask (H x W bool)."""
    kept = np.zeros((world.IMAGE_SIZE, world.IMAGE_SIZE), dtype=bool)
    kept[:, (REGION_CELLS + BAND_CELLS) * world.CELL:] = True
    return kept


def with_mask_as_alpha(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """H x W x 4 RGBA in [0, 1]: transparent where the mask is 1, as LoadImage reads a MASK (1 - alpha)."""
    return np.concatenate([image, (1.0 - mask)[..., None]], axis=-1)


# Two scenes on one canvas: the regional use the half mask cannot show ("turn this object into ...,
# keep the rest of the picture"). The first scene fills the top-left quadrant, which is the mask; the
# second, the bottom-right one, is kept. The model was trained on single 64 px scenes only; a 128 px
# canvas (16 x 16 latent cells) of two is new to it. Composed from the world's own renderings: the
# world itself is unchanged.
SCENES_SIZE = 2 * world.IMAGE_SIZE


def two_scenes(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A SCENES_SIZE canvas (H x W x 3): ``first`` top left, ``second`` bottom right, background between."""
    canvas = np.full((SCENES_SIZE, SCENES_SIZE, 3), world.BACKGROUND, dtype=np.float32)
    size = world.IMAGE_SIZE
    canvas[:size, :size], canvas[size:, size:] = first, second
    return canvas


def first_scene_mask() -> np.ndarray:
    """The two-scene canvas's MASK (H x W, 1 = mix, 0 = keep): the first scene's quadrant."""
    mask = np.zeros((SCENES_SIZE, SCENES_SIZE), dtype=np.float32)
    mask[:world.IMAGE_SIZE, :world.IMAGE_SIZE] = 1.0
    return mask


def beyond_first_scene_band() -> np.ndarray:
    """Pixels of the two-scene canvas beyond BAND_CELLS cells from first_scene_mask() (H x W bool)."""
    edge = world.IMAGE_SIZE + BAND_CELLS * world.CELL
    kept = np.zeros((SCENES_SIZE, SCENES_SIZE), dtype=bool)
    kept[edge:, :] = kept[:, edge:] = True
    return kept


REGIONAL_LAYOUT_IMAGE_NAME = "magicmix_demo_world_layout_region.png"
# The regional main job: the demo's red circle top left (masked: it should become checkered) and this
# scene bottom right (kept), on the two-scene canvas.
REGIONAL_SECOND_SCENE = world.Scene("square", "blue", "striped", (32.0, 32.0), 22.0)
# "outside kept": mean |result - layout image| beyond the mask's band at most this. The VAE's own
# round trip gives 0.0038 there on the bench's half-masked layouts and 0.0019 on its two-scene
# canvases; runs without a mask 0.025-0.034 (bench/QUALITY.md).
OUTSIDE_KEPT_ERROR = 0.02


def regional_canvas() -> np.ndarray:
    """The regional main job's layout (RGB): the demo layout top left, REGIONAL_SECOND_SCENE bottom right."""
    return two_scenes(layout_image(), world.render(REGIONAL_SECOND_SCENE))


def regional_layout_image() -> np.ndarray:
    """regional_canvas() with first_scene_mask() as its alpha (RGBA), what the regional workflow loads."""
    return with_mask_as_alpha(regional_canvas(), first_scene_mask())


@dataclass(frozen=True)
class RegionalVerdict:
    """A regional mix keeps everything outside the mask and, inside it, is a mix as MixVerdict judges one:
    the first scene keeps the layout's silhouette and takes the content's pattern."""
    outside_error: float  # mean |result - layout image| beyond the mask's band
    inside: MixVerdict  # the first scene (inside the mask) against the layout's silhouette and the content
    second_reading: scorers.Reading  # the second scene (outside)

    @property
    def outside_kept(self) -> bool:
        return self.outside_error <= OUTSIDE_KEPT_ERROR and self.second_reading.pattern == REGIONAL_SECOND_SCENE.pattern

    @property
    def is_mix(self) -> bool:
        return self.outside_kept and self.inside.is_mix

    def describe(self) -> str:
        second = self.second_reading
        return (f"outside the mask (beyond {BAND_CELLS} latent cells): mean difference from the layout image "
                f"{self.outside_error:.4f} (<= {OUTSIDE_KEPT_ERROR}), the second scene reads {second.pattern} "
                f"{second.colour} {second.shape} (kept: {'yes' if self.outside_kept else 'no'}); "
                f"inside: {self.inside.findings()} -> {'a regional MIX' if self.is_mix else 'NOT a regional mix'}")


def judge_regional(image: np.ndarray, content_pattern: str = CONTENT_PATTERN) -> RegionalVerdict:
    """Score a regional result (the two-scene canvas, H x W x 3 in [0, 1]): the outside against the
    layout, the scene inside the mask as judge() scores a single result, the second scene's own pattern."""
    size = world.IMAGE_SIZE
    outside = float(np.abs(image - regional_canvas())[beyond_first_scene_band()].mean())
    inside = judge(image[:size, :size], content_pattern=content_pattern)
    return RegionalVerdict(outside, inside, scorers.read(image[size:, size:]))
