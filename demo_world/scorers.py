"""Scorers for images of the world: what silhouette, colour and pattern an image shows, and how well
its silhouette matches another. Exact rules over the known world, no learned classifier.

- foreground: pixels whose farthest channel from the grey background is more than FOREGROUND_THRESHOLD away;
- silhouette IoU: between two foreground masks (or a mask and a world silhouette);
- shape: the world silhouette with the highest IoU with the foreground, each shape placed at the
  foreground's centroid and sized from its area; "none" below SHAPE_MIN_IOU;
- colour: the palette colour nearest to the mean of the light-tone pixels; "none" when too few or too far;
- pattern: each pattern's dark-cell map, at each phase, compared with the dark / light tone of the
  shape's interior pixels; the best agreement wins, "none" below PATTERN_MIN_AGREEMENT.

"none" is an answer: noise, an empty image or a smeared mix of patterns is not counted as a category.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from . import world

FOREGROUND_THRESHOLD = 0.2
SHAPE_MIN_IOU = 0.7
PATTERN_MIN_AGREEMENT = 0.85
MIN_PIXELS = 64
COLOUR_MAX_DISTANCE = 0.35  # mean light-tone colour farther than this from every palette colour: none
NONE = "none"


@dataclass(frozen=True)
class Reading:
    shape: str
    colour: str
    pattern: str
    shape_iou: float  # IoU of the foreground with the best world silhouette
    pattern_agreement: float  # fraction of interior pixels the best pattern explains

    def attributes(self) -> tuple:
        return self.shape, self.colour, self.pattern


def foreground(image: np.ndarray) -> np.ndarray:
    """H x W bool: not the grey background. ``image`` H x W x 3 in [0, 1], averaged over 5 x 5 first
    (grain from a sampler or added noise does not make background pixels foreground)."""
    return np.abs(_box_mean(image, 2) - world.BACKGROUND).max(axis=-1) > FOREGROUND_THRESHOLD


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


# area of each silhouette per size^2 (world._inside): circle pi, square 1.7^2, triangle 2.3 * 1.8 / 2
_AREA_PER_SIZE2 = {"circle": np.pi, "square": 1.7 ** 2, "triangle": 2.3 * 1.8 / 2}
_SIZE_STEPS = (0.94, 0.97, 1.0, 1.03, 1.06)


def _best_silhouettes(mask: np.ndarray) -> np.ndarray:
    """Best IoU of ``mask`` with each world shape: size from its area, centre from its centroid."""
    area = mask.sum()
    if area < MIN_PIXELS:
        return np.zeros(len(world.SHAPES))
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean() + 0.5, ys.mean() + 0.5
    scores = []
    for shape in world.SHAPES:
        size = float(np.sqrt(area / _AREA_PER_SIZE2[shape]))
        best = 0.0
        for step in _SIZE_STEPS:
            s = size * step
            centre = (cx, cy - (0.2 * s if shape == "triangle" else 0.0))
            scene = world.Scene(shape, "red", "plain", centre, s)
            best = max(best, iou(mask, world.silhouette(scene, mask.shape[0])))
        scores.append(best)
    return np.asarray(scores)


def _box_mean(image: np.ndarray, radius: int) -> np.ndarray:
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    cumsum = padded.cumsum(0).cumsum(1)
    cumsum = np.pad(cumsum, ((1, 0), (1, 0), (0, 0)))
    k, h, w = 2 * radius + 1, image.shape[0], image.shape[1]
    total = cumsum[k:k + h, k:k + w] - cumsum[:h, k:k + w] - cumsum[k:k + h, :w] + cumsum[:h, :w]
    return total / (k * k)


def _interior(mask: np.ndarray) -> np.ndarray:
    """Foreground pixels whose 5 x 5 neighbourhood is all foreground (anti-aliased edges left out)."""
    padded = np.pad(mask, 2)
    out = np.ones_like(mask)
    for dy in range(5):
        for dx in range(5):
            out &= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
    return out


@functools.cache
def _pattern_maps(cells: int = world.IMAGE_SIZE // world.CELL) -> list[tuple[str, np.ndarray]]:
    """Each pattern's dark-pixel map at each phase, for images of ``cells`` x ``cells`` latent cells."""
    maps = []
    for pattern in world.PATTERNS:
        phases = [(0, 0)] if pattern == "plain" else [(px, py) for py in (0, 1) for px in (0, 1)]
        for phase in phases:
            dark = world.dark_cells(pattern, phase, cells)
            maps.append((pattern, np.kron(dark, np.ones((world.CELL, world.CELL))).astype(bool)))
    return maps


def tone_threshold(spec: world.WorldSpec) -> float:
    """Max channel between a pattern's dark and light tones (light ones are 1.0): 0.7 in V1, 0.925 in V2."""
    return (1.0 + spec.dark) / 2


def read(image: np.ndarray, region: np.ndarray | None = None) -> Reading:
    """What one image (H x W x 3 in [0, 1]) shows; colour and pattern only within ``region`` when given."""
    return read_batch(image[None], None if region is None else region[None])[0]


def read_batch(images: np.ndarray, regions: np.ndarray | None = None) -> list[Reading]:
    """Readings of N images; ``regions`` (N x H x W bool) limits the colour and pattern reading to a
    part of each shape (regional MagicMix: the part inside the mask). The shape is read on the whole."""
    masks = [foreground(im) for im in images]
    shape_scores = [_best_silhouettes(m) for m in masks]
    palette = np.asarray(list(world.COLOURS.values()))
    readings = []
    for index, (image, mask, scores) in enumerate(zip(images, masks, shape_scores)):
        best_shape = int(scores.argmax())
        shape = world.SHAPES[best_shape] if scores[best_shape] >= SHAPE_MIN_IOU else NONE
        inner = _interior(mask)
        if regions is not None:
            inner = inner & regions[index].astype(bool)
        colour, pattern, agreement = NONE, NONE, 0.0
        if inner.sum() >= MIN_PIXELS:
            dark = image.max(axis=-1) < tone_threshold(world.spec_for_image(image.shape[0]))
            light = inner & ~dark
            if light.sum() >= MIN_PIXELS // 4:
                distances = np.linalg.norm(palette - image[light].mean(axis=0), axis=1)
                if distances.min() <= COLOUR_MAX_DISTANCE:
                    colour = world.COLOUR_NAMES[int(distances.argmin())]
            maps = _pattern_maps(image.shape[0] // world.CELL)
            agreements = [(float((dark[inner] == m[inner]).mean()), name) for name, m in maps]
            agreement, name = max(agreements)
            pattern = name if agreement >= PATTERN_MIN_AGREEMENT else NONE
        readings.append(Reading(shape, colour, pattern, float(scores[best_shape]), agreement))
    return readings
