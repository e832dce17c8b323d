"""The procedural world: one shape on a grey background, with a two-tone pattern inside.

Images are 64 x 64 RGB in [0, 1]. What each image shows is drawn from a seed:

- layout attributes, low spatial frequency: the silhouette (circle, square, triangle), its
  position and size (half-extent 18-26 px, so it spans 4.5-6.5 latent cells) and its coarse colour;
- the content attribute, high frequency: the pattern inside the shape (plain, striped, checkered,
  dotted), drawn on the image's 8 px cell grid with one-cell elements (period 2 cells, 16 px), so
  an 8 x 8 latent resolves it exactly. The pattern's phase follows the shape: the cell holding the
  centroid is dark for dotted (its row for striped); for checkered that cell is light and its four
  neighbours dark. So every pattern shows inside even the smallest shape.

Prompts name the attributes as captions do, some and not always all: "a striped red circle", "a
striped shape", "a red circle", "a shape" (training omits each of the three with probability 1/2).
Position and size are never named: they come from the seed.

The first version named all three in every prompt. Measured on the model trained on it, even img2img
from sigma 0.53 (k_max 0.2) redrew the silhouette to the prompt's: a prompt that fixes the silhouette
leaves the model no reason to read it from the latent, unlike natural images, whose captions leave
layout open. The vocabulary was changed once, for that reason, before the quality bench's figures
(docs/demo_world.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 64
CELL = 8  # pixels per latent cell
SHAPES = ("circle", "square", "triangle")
PATTERNS = ("plain", "striped", "checkered", "dotted")
COLOURS = {  # light tone; the dark tone is DARK times it
    "red": (1.0, 0.15, 0.15),
    "green": (0.15, 1.0, 0.15),
    "blue": (0.15, 0.35, 1.0),
    "yellow": (1.0, 1.0, 0.15),
}
COLOUR_NAMES = tuple(COLOURS)
DARK = 0.4
BACKGROUND = 0.5
SIZE_RANGE = (18.0, 26.0)  # half-extent in pixels
MARGIN = 2.0
SUPERSAMPLE = 4  # edge anti-aliasing: coverage from 4 x 4 samples per pixel


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    pattern: str
    centre: tuple  # (x, y) in pixels
    size: float  # half-extent in pixels

    @property
    def phase(self) -> tuple:
        """(x, y) cell offset, 0 or 1 each: odd offset cells of the centroid's cell (see dark_cells)."""
        cx, cy = centroid(self.shape, self.centre, self.size)
        return (1 - int(cx // CELL) % 2, 1 - int(cy // CELL) % 2)

    @property
    def prompt(self) -> str:
        return prompt_for(self.shape, self.colour, self.pattern)


UNNAMED_SHAPE = "shape"  # the noun when the silhouette is not named


def prompt_for(shape: str | None, colour: str | None, pattern: str | None) -> str:
    """The caption naming the given attributes; None leaves one out ("a checkered shape")."""
    return " ".join(["a"] + [w for w in (pattern, colour) if w] + [shape or UNNAMED_SHAPE])


def full_prompts() -> list[str]:
    """The 48 prompts that name all three attributes, in a fixed order."""
    return [prompt_for(s, c, p) for s in SHAPES for c in COLOUR_NAMES for p in PATTERNS]


def all_prompts() -> list[str]:
    """Every prompt of the world (each attribute named or not: 5 x 5 x 4 = 100), full ones first."""
    partial = [prompt_for(s, c, p) for s in SHAPES + (None,) for c in COLOUR_NAMES + (None,)
               for p in PATTERNS + (None,)]
    full = full_prompts()
    return full + [p for p in partial if p not in full]


def caption(scene: Scene, rng: np.random.Generator, omit: float = 0.5) -> str:
    """The scene's prompt with each attribute left out with probability ``omit``."""
    keep = rng.random(3) >= omit
    return prompt_for(scene.shape if keep[0] else None, scene.colour if keep[1] else None,
                      scene.pattern if keep[2] else None)


def random_scene(rng: np.random.Generator, shape: str | None = None, colour: str | None = None,
                 pattern: str | None = None) -> Scene:
    """A scene with the given attributes; the rest (and position, size, phase) drawn from ``rng``."""
    shape = shape or SHAPES[rng.integers(len(SHAPES))]
    colour = colour or COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))]
    pattern = pattern or PATTERNS[rng.integers(len(PATTERNS))]
    size = float(rng.uniform(*SIZE_RANGE))
    low, high = size + MARGIN, IMAGE_SIZE - size - MARGIN
    centre = (float(rng.uniform(low, high)), float(rng.uniform(low, high)))
    return Scene(shape, colour, pattern, centre, size)


def centroid(shape: str, centre, size: float) -> tuple:
    """The silhouette's centroid (x, y); a triangle's lies 0.2 size below its centre."""
    return (centre[0], centre[1] + (0.2 * size if shape == "triangle" else 0.0))


def _inside(shape: str, x: np.ndarray, y: np.ndarray, centre, size: float) -> np.ndarray:
    dx, dy = x - centre[0], y - centre[1]
    if shape == "circle":
        return dx * dx + dy * dy <= size * size
    if shape == "square":
        half = 0.85 * size  # about the circle's area
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if shape == "triangle":  # pointing up, apex at size above the centre, base 0.8 size below
        top, bottom, half_base = -size, 0.8 * size, 1.15 * size
        t = (dy - top) / (bottom - top)  # 0 at the apex, 1 at the base
        return (t >= 0) & (t <= 1) & (np.abs(dx) <= t * half_base)
    raise ValueError(f"unknown shape {shape!r}")


def coverage(scene: Scene) -> np.ndarray:
    """Fraction of each pixel inside the silhouette (H x W, float32, anti-aliased)."""
    n = IMAGE_SIZE * SUPERSAMPLE
    coords = (np.arange(n) + 0.5) / SUPERSAMPLE
    x, y = np.meshgrid(coords, coords)
    inside = _inside(scene.shape, x, y, scene.centre, scene.size).astype(np.float32)
    return inside.reshape(IMAGE_SIZE, SUPERSAMPLE, IMAGE_SIZE, SUPERSAMPLE).mean(axis=(1, 3))


def silhouette(scene: Scene) -> np.ndarray:
    """The silhouette as a boolean mask (pixels at least half covered)."""
    return coverage(scene) >= 0.5


def dark_cells(pattern: str, phase=(0, 0), cells: int = IMAGE_SIZE // CELL) -> np.ndarray:
    """Which cells of the 8 x 8 grid have the dark tone (cells x cells, bool)."""
    u, v = np.meshgrid(np.arange(cells) + phase[0], np.arange(cells) + phase[1])
    if pattern == "plain":
        return np.zeros((cells, cells), bool)
    if pattern == "striped":  # horizontal bands one cell high
        return v % 2 == 1
    if pattern == "checkered":
        return (u + v) % 2 == 1
    if pattern == "dotted":  # one dark cell in every 2 x 2 block
        return (u % 2 == 1) & (v % 2 == 1)
    raise ValueError(f"unknown pattern {pattern!r}")


def render(scene: Scene) -> np.ndarray:
    """The scene as an H x W x 3 float32 image in [0, 1]."""
    cover = coverage(scene)[..., None]
    dark = np.kron(dark_cells(scene.pattern, scene.phase), np.ones((CELL, CELL))).astype(bool)
    light = np.asarray(COLOURS[scene.colour], np.float32)
    tone = np.where(dark[..., None], DARK * light, light)
    return (cover * tone + (1.0 - cover) * BACKGROUND).astype(np.float32)


def sample_batch(seed: int, count: int, **fixed) -> tuple[np.ndarray, list[Scene]]:
    """``count`` scenes from ``seed`` and their images (N x H x W x 3)."""
    rng = np.random.default_rng(seed)
    scenes = [random_scene(rng, **fixed) for _ in range(count)]
    return np.stack([render(s) for s in scenes]), scenes
