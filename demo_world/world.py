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

World v2 (``V2``, in progress; docs/demo_world.md) is the same world at other scales, given by a
``WorldSpec``: 128 x 128 images (a 16 x 16 latent), one to three objects per scene, a lone object 8.5-15
latent cells wide against the same one-cell pattern (period 2 cells) at a quarter of the contrast, two or
three smaller so that they fit at least one cell apart; a caption names one object and may say how many
there are. Its
scenes are drawn and rendered in batches by torch on any device (``sample_scenes``, ``render_scenes``:
the trainers' data keeps up with a GPU); the 64 px world above (``V1``) is unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

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


def _inside_offset(shape: str, dx, dy, size):
    """Whether offsets (dx, dy) from the centre lie inside the silhouette; numpy arrays or torch tensors."""
    if shape == "circle":
        return dx * dx + dy * dy <= size * size
    if shape == "square":
        half = 0.85 * size  # about the circle's area
        return (abs(dx) <= half) & (abs(dy) <= half)
    if shape == "triangle":  # pointing up, apex at size above the centre, base 0.8 size below
        top, bottom, half_base = -size, 0.8 * size, 1.15 * size
        t = (dy - top) / (bottom - top)  # 0 at the apex, 1 at the base
        return (t >= 0) & (t <= 1) & (abs(dx) <= t * half_base)
    raise ValueError(f"unknown shape {shape!r}")


def _inside(shape: str, x: np.ndarray, y: np.ndarray, centre, size: float) -> np.ndarray:
    return _inside_offset(shape, x - centre[0], y - centre[1], size)


def coverage(scene: Scene, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """Fraction of each pixel inside the silhouette (H x W, float32, anti-aliased)."""
    n = image_size * SUPERSAMPLE
    coords = (np.arange(n) + 0.5) / SUPERSAMPLE
    x, y = np.meshgrid(coords, coords)
    inside = _inside(scene.shape, x, y, scene.centre, scene.size).astype(np.float32)
    return inside.reshape(image_size, SUPERSAMPLE, image_size, SUPERSAMPLE).mean(axis=(1, 3))


def silhouette(scene: Scene, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """The silhouette as a boolean mask (pixels at least half covered)."""
    return coverage(scene, image_size) >= 0.5


def dark_cells(pattern: str, phase=(0, 0), cells: int = IMAGE_SIZE // CELL) -> np.ndarray:
    """Which cells of the 8 x 8 grid have the dark tone (cells x cells, bool)."""
    u, v = np.meshgrid(np.arange(cells) + phase[0], np.arange(cells) + phase[1])
    return _dark(pattern, u, v)


def _dark(pattern: str, u, v):
    """The pattern's dark cells at cell coordinates (u, v) plus the phase; numpy arrays or torch tensors."""
    if pattern == "plain":
        return u != u
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


# --- World v2: the same world at other scales, drawn and rendered in batches by torch -------------

OVERLAP_GRID = 4  # px of the grid the objects' distance is checked on
MAX_DRAWS = 1000  # redraws of scenes whose objects overlap, before giving up
COUNT_CLAUSES = ("alone", "and another shape", "and two other shapes")  # how many objects: 1, 2, 3
# Each shape's reach from its centre, per unit of size: (half width, above, below) (see _inside_offset).
EXTENTS = {"circle": (1.0, 1.0, 1.0), "square": (0.85, 0.85, 0.85), "triangle": (1.15, 1.0, 0.8)}


@dataclass(frozen=True)
class WorldSpec:
    """A world's scales. Silhouettes, colours, patterns (one-cell elements, period 2 cells) and the words
    are the same in every world; what differs is the image size, how many objects a scene holds and how
    large they are, and the pattern's contrast: together they set the noise level at which a model
    decides the silhouette and the one at which it decides the pattern."""
    name: str
    image_size: int
    size_ranges: tuple  # half-extent in pixels of each object, for scenes of 1, 2, ... objects
    gap: float = 0.0  # least distance in pixels between two objects' silhouettes
    margin: float = MARGIN  # least distance in pixels from a silhouette to the image's border
    counted: bool = False  # captions may say how many objects the scene holds (COUNT_CLAUSES)
    dark: float = DARK  # the pattern's dark tone, times the light one: 1 - dark is the pattern's contrast

    @property
    def max_objects(self) -> int:
        return len(self.size_ranges)

    @property
    def cells(self) -> int:
        """Latent cells along a side."""
        return self.image_size // CELL

    def spans(self) -> tuple:
        """(fewest, most) latent cells across a circle of the world (twice its half-extent)."""
        return (2 * min(r[0] for r in self.size_ranges) / CELL, 2 * max(r[1] for r in self.size_ranges) / CELL)

    def prompts(self) -> list[str]:
        """Every prompt of the world: ``all_prompts`` without a count, then with each count's clause."""
        base = all_prompts()
        if not self.counted:
            return base
        return base + [f"{p} {clause}" for clause in COUNT_CLAUSES[:self.max_objects] for p in base]


V1 = WorldSpec("v1", IMAGE_SIZE, (SIZE_RANGE,))
# 128 px: one object 8.5-15 cells wide (half-extent 40-52 px: a circle 10-13 cells, a square of 40 is
# 1.7 x 40 = 68 px, a triangle of 52 is 2.3 x 52 = 120 px), the size of every pair the MagicMix rows use.
# Two objects with a cell between them fit at 6-7.5 cells (half-extent 24-30), three at 4.5-5.5 (18-22):
# those scenes serve the regional rows. The pattern's period stays 2 cells.
# The pattern's contrast is 0.15, not V1's 0.6: the one change of scales (docs/demo_world.md). A
# periodic pattern's evidence adds up over every cell of the object, so at V1's contrast a model
# trained on these scenes fixed the pattern as early as the silhouette (its switch-level curve
# crossed at level 0.7); natural images hold much less power in fine texture than in object edges.
V2 = WorldSpec("v2", 128, ((40.0, 52.0), (24.0, 30.0), (18.0, 22.0)), gap=float(CELL), margin=4.0, counted=True,
               dark=0.85)
WORLDS = {spec.name: spec for spec in (V1, V2)}


@dataclass
class SceneBatch:
    """N scenes of up to K objects as tensors (slots past a scene's count are unused)."""
    shape: torch.Tensor  # N x K, index into SHAPES
    colour: torch.Tensor  # N x K, index into COLOUR_NAMES
    pattern: torch.Tensor  # N x K, index into PATTERNS
    centre: torch.Tensor  # N x K x 2, (x, y) in pixels
    size: torch.Tensor  # N x K, half-extent in pixels
    count: torch.Tensor  # N, objects in each scene

    def __len__(self) -> int:
        return self.shape.shape[0]

    def objects(self, index: int) -> list[Scene]:
        """The scene's objects as ``Scene``s (one object each)."""
        return [Scene(SHAPES[int(self.shape[index, k])], COLOUR_NAMES[int(self.colour[index, k])],
                      PATTERNS[int(self.pattern[index, k])],
                      (float(self.centre[index, k, 0]), float(self.centre[index, k, 1])), float(self.size[index, k]))
                for k in range(int(self.count[index]))]


def _coverage_torch(shape: torch.Tensor, centre: torch.Tensor, size: torch.Tensor, image_size: int,
                    supersample: int) -> torch.Tensor:
    """N x H x W fraction of each pixel inside each silhouette (``supersample`` x ``supersample`` samples)."""
    n = image_size * supersample
    coords = (torch.arange(n, device=size.device, dtype=torch.float32) + 0.5) / supersample
    dx = coords.view(1, 1, n) - centre[:, 0].view(-1, 1, 1)
    dy = coords.view(1, n, 1) - centre[:, 1].view(-1, 1, 1)
    inside = torch.zeros((len(size), n, n), dtype=torch.bool, device=size.device)
    for index, name in enumerate(SHAPES):
        rows = (shape == index).nonzero()[:, 0]
        if len(rows):
            inside[rows] = _inside_offset(name, dx[rows], dy[rows], size[rows].view(-1, 1, 1))
    return inside.float().view(-1, image_size, supersample, image_size, supersample).mean(dim=(2, 4))


def sample_scenes(spec: WorldSpec, n: int, generator: torch.Generator, count: int | None = None) -> SceneBatch:
    """``n`` scenes drawn on the generator's device: the object count uniform over 1..max (or ``count``),
    each object's attributes uniform, its size uniform in the count's range, its position uniform where it
    fits inside the margin; a scene whose objects come within ``gap`` of each other is drawn again."""
    device, k = generator.device, spec.max_objects

    def uniform(*shape):
        return torch.rand(shape, generator=generator, device=device)

    counts = (torch.randint(1, k + 1, (n,), generator=generator, device=device) if count is None
              else torch.full((n,), count, device=device))
    ranges = torch.tensor(spec.size_ranges, device=device)
    extents = torch.tensor([EXTENTS[s] for s in SHAPES], device=device)
    out = SceneBatch(*(torch.zeros((n, k), dtype=torch.long, device=device) for _ in range(3)),
                     torch.zeros((n, k, 2), device=device), torch.zeros((n, k), device=device), counts)
    todo = torch.arange(n, device=device)
    for _ in range(MAX_DRAWS):
        if not len(todo):
            return out
        m, c = len(todo), counts[todo]
        shape, colour, pattern = (torch.randint(0, len(v), (m, k), generator=generator, device=device)
                                  for v in (SHAPES, COLOUR_NAMES, PATTERNS))
        low, high = ranges[c - 1, 0:1], ranges[c - 1, 1:2]
        size = low + (high - low) * uniform(m, k)
        reach = extents[shape] * size[..., None] + spec.margin  # m x k x (half width, above, below)
        x = reach[..., 0] + (spec.image_size - 2 * reach[..., 0]) * uniform(m, k)
        y = reach[..., 1] + (spec.image_size - reach[..., 1] - reach[..., 2]) * uniform(m, k)
        centre = torch.stack([x, y], dim=-1)
        clear = _apart(shape, centre, size, torch.arange(k, device=device) < c[:, None], spec)
        done = todo[clear]
        for name, value in (("shape", shape), ("colour", colour), ("pattern", pattern), ("centre", centre),
                            ("size", size)):
            getattr(out, name)[done] = value[clear]
        todo = todo[~clear]
    raise RuntimeError(f"{len(todo)} scenes of {spec.name} found no place for their objects in {MAX_DRAWS} draws")


def _apart(shape: torch.Tensor, centre: torch.Tensor, size: torch.Tensor, present: torch.Tensor,
           spec: WorldSpec) -> torch.Tensor:
    """Which of m scenes (m x k objects) have every two objects at least ``spec.gap`` apart. Checked on a
    grid of OVERLAP_GRID px (cheap enough to keep up with a trainer): each silhouette sampled there, one
    grown by the gap plus a grid step, so objects may end up to a grid step farther apart, never closer."""
    m, k = shape.shape
    side = spec.image_size // OVERLAP_GRID
    masks = _coverage_torch(shape.flatten(), centre.flatten(0, 1) / OVERLAP_GRID, size.flatten() / OVERLAP_GRID,
                            side, 1) > 0
    masks = masks.view(m, k, side, side) & present[..., None, None]
    grow = int(math.ceil(spec.gap / OVERLAP_GRID)) + 1
    grown = torch.nn.functional.max_pool2d(masks.float(), 2 * grow + 1, 1, grow) > 0
    clear = torch.ones(m, dtype=torch.bool, device=shape.device)
    for i in range(k):
        for j in range(i + 1, k):
            clear &= ~(grown[:, i] & masks[:, j]).flatten(1).any(dim=1)
    return clear


def render_scenes(batch: SceneBatch, spec: WorldSpec, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(images N x 3 x H x W in [0, 1], coverage N x K x H x W) on the batch's device, drawn as ``render``
    draws one scene (anti-aliased by SUPERSAMPLE, the pattern on the cell grid with its phase tied to each
    object's centroid), objects painted in slot order."""
    n, k, size = len(batch), spec.max_objects, spec.image_size
    device = batch.size.device
    images = torch.full((n, 3, size, size), BACKGROUND, device=device)
    cover = torch.zeros((n, k, size, size), device=device)
    palette = torch.tensor([COLOURS[c] for c in COLOUR_NAMES], device=device)
    cells = torch.arange(spec.cells, device=device)
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        for slot in range(k):
            shape, centre, half = batch.shape[rows, slot], batch.centre[rows, slot], batch.size[rows, slot]
            present = (batch.count[rows] > slot).float().view(-1, 1, 1)
            cover[rows, slot] = _coverage_torch(shape, centre, half, size, SUPERSAMPLE) * present
            centroid_y = centre[:, 1] + torch.where(shape == SHAPES.index("triangle"), 0.2 * half, 0.0)
            phase_x = 1 - torch.floor(centre[:, 0] / CELL).long() % 2
            phase_y = 1 - torch.floor(centroid_y / CELL).long() % 2
            u, v = cells.view(1, 1, -1) + phase_x.view(-1, 1, 1), cells.view(1, -1, 1) + phase_y.view(-1, 1, 1)
            dark = torch.zeros((len(shape), spec.cells, spec.cells), dtype=torch.bool, device=device)
            for index, name in enumerate(PATTERNS):
                dark = torch.where((batch.pattern[rows, slot] == index).view(-1, 1, 1), _dark(name, u, v), dark)
            dark = dark.repeat_interleave(CELL, 1).repeat_interleave(CELL, 2)[:, None]
            light = palette[batch.colour[rows, slot]].view(-1, 3, 1, 1)
            tone = torch.where(dark, spec.dark * light, light)
            coverage_here = cover[rows, slot, None]
            images[rows] = coverage_here * tone + (1.0 - coverage_here) * images[rows]
    return images, cover


def caption_rows(batch: SceneBatch, spec: WorldSpec, generator: torch.Generator, omit: float = 0.5) -> torch.Tensor:
    """Indices into ``spec.prompts()`` of each scene's caption: it names one of the scene's objects, each
    of that object's attributes left out with probability ``omit`` (as ``caption``), and, in a counted
    world, says how many objects there are with probability 1/2 ("a striped shape and two other shapes").
    Position and size are never named; the other objects are left to the model."""
    n, device = len(batch), generator.device
    subject = (torch.rand(n, generator=generator, device=device) * batch.count).long().clamp(max=batch.count - 1)
    named = [getattr(batch, a).gather(1, subject[:, None])[:, 0] for a in ("shape", "colour", "pattern")]
    keep = torch.rand((n, 3), generator=generator, device=device) >= omit
    none = torch.tensor([len(SHAPES), len(COLOUR_NAMES), len(PATTERNS)], device=device)
    named = [torch.where(keep[:, i], named[i], none[i]) for i in range(3)]
    clause = torch.zeros(n, dtype=torch.long, device=device)
    if spec.counted:
        clause = torch.where(torch.rand(n, generator=generator, device=device) < 0.5, clause, batch.count)
    return _caption_lookup(spec).to(device)[clause, named[0], named[1], named[2]]


def _caption_lookup(spec: WorldSpec) -> torch.Tensor:
    """(clause, shape, colour, pattern) -> index into ``spec.prompts()``; the last index of each is "not named"."""
    row_of = {p: i for i, p in enumerate(spec.prompts())}
    clauses = ("",) + (tuple(f" {c}" for c in COUNT_CLAUSES[:spec.max_objects]) if spec.counted else ())
    lookup = torch.zeros((len(clauses), len(SHAPES) + 1, len(COLOURS) + 1, len(PATTERNS) + 1), dtype=torch.long)
    for q, clause in enumerate(clauses):
        for s, shape in enumerate(SHAPES + (None,)):
            for c, colour in enumerate(COLOUR_NAMES + (None,)):
                for p, pattern in enumerate(PATTERNS + (None,)):
                    lookup[q, s, c, p] = row_of[prompt_for(shape, colour, pattern) + clause]
    return lookup


def spec_for_image(image_size: int) -> WorldSpec:
    """The world whose images are ``image_size`` px wide (the scorers read each world's tones)."""
    for spec in WORLDS.values():
        if spec.image_size == image_size:
            return spec
    raise ValueError(f"no world has {image_size} px images (worlds: "
                     + ", ".join(f"{s.name} {s.image_size} px" for s in WORLDS.values()) + ")")


def scene_batch(scenes: list[list[Scene]], spec: WorldSpec) -> SceneBatch:
    """Given scenes (each a list of its objects, at most ``spec.max_objects``) as a SceneBatch on the CPU."""
    n, k = len(scenes), spec.max_objects
    out = SceneBatch(*(torch.zeros((n, k), dtype=torch.long) for _ in range(3)), torch.zeros((n, k, 2)),
                     torch.zeros((n, k)), torch.tensor([len(objects) for objects in scenes]))
    for i, objects in enumerate(scenes):
        if not 1 <= len(objects) <= k:
            raise ValueError(f"a scene of {spec.name} holds 1 to {k} objects, not {len(objects)}")
        for slot, o in enumerate(objects):
            out.shape[i, slot], out.colour[i, slot] = SHAPES.index(o.shape), COLOUR_NAMES.index(o.colour)
            out.pattern[i, slot], out.size[i, slot] = PATTERNS.index(o.pattern), o.size
            out.centre[i, slot] = torch.tensor(o.centre)
    return out


def render_images(scenes: list[list[Scene]], spec: WorldSpec) -> np.ndarray:
    """Given scenes as N x H x W x 3 float32 images in [0, 1] (``render_scenes``, on the CPU)."""
    images, _ = render_scenes(scene_batch(scenes, spec), spec)
    return images.permute(0, 2, 3, 1).numpy()


def lone_scenes(spec: WorldSpec, n: int, seed: int) -> list[Scene]:
    """``n`` one-object scenes of the world, drawn from ``seed`` on the CPU."""
    batch = sample_scenes(spec, n, torch.Generator().manual_seed(seed), count=1)
    return [batch.objects(i)[0] for i in range(n)]


def lone_clause(spec: WorldSpec) -> str:
    """What a prompt of the world ends with to ask for one object: " alone" where captions count."""
    return f" {COUNT_CLAUSES[0]}" if spec.counted else ""
