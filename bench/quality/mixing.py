"""MagicMix and the alternatives on the same layout/content pairs and the same noise, scored exactly.

A *pair* is a layout (a world scene: image layout uses its rendered image, text layout its full
prompt) and a content prompt that names another pattern only ("a checkered shape"), as "a coffee
machine" names what the corgi should become. A result keeps the layout when its
silhouette IoU with the layout's is at least demo.LAYOUT_KEPT_IOU (image layout: the layout image's
silhouette; text layout: that of the layout prompt's own image from the same seed) and adopts the
content when its pattern reads as the content's. "both" is the two at once.

Methods (every one through ComfyUI's own nodes or the pack's, on the demo model):
- ``magicmix``: the pack's MagicMix (all in one) node;
- ``img2img``: KSamplerAdvanced with the content prompt from K_max (the same noise);
- ``switch``: two KSamplerAdvanced, the layout prompt down to a level, then the content prompt;
- ``average``: ConditioningAverage(content, layout prompt, 0.5), img2img from K_max (image layout) or
  from pure noise (text layout);
- ``community``: the community pipeline's order (magicmix_dev/community_order.py), image layout;
- ``off_by_one``: a public port's start (docs/method.md, "Public implementations"): the
  layout is noised to level K_max but the first step is taken from level K_max - 1, as if the latent held
  that level's noise; then MagicMix's own step order (the pack's mixing functions), image layout;
- ``relative_kmin``: the port that takes K_min of the already shortened run (effective k_min = k_min * k_max),
  MagicMix otherwise.
Regional rows (image layout): ``region="mask"`` runs MagicMix with demo.region_mask() (the left half)
and reads the pattern inside the mask only; ``region="read"`` is the unmasked run read the same way;
for both, the pixels beyond the mask's band (demo.kept_pixels()) are compared with the layout image.
``region="scenes"`` runs it on a canvas of two scenes (demo.two_scenes: the pair's layout top left,
the next pair's bottom right) in demo.first_scene_mask() (the first scene's quadrant), reads the first
scene and whether the second kept its own pattern; ``region="scenes_read"`` is the unmasked run on the
same canvas; the pixels beyond that mask's band (demo.beyond_first_scene_band()) are compared with it.
``region="object"`` (worlds of several objects per scene, as V2): a scene of two or three objects
(demo_world.world.sample_scenes), the first given the pair's layout pattern, the
MASK its silhouette grown by a cell (OBJECT_MASK_GROWTH); the first object's pattern is read inside its
silhouette, each other object's inside its own (kept when it is still its own), the pixels beyond the
mask's band compared with the layout canvas; ``region="object_read"`` is the unmasked run read the same way.
``img2img`` with ``region="mask"``, ``"scenes"`` or ``"object"`` is the regional baseline: KSamplerAdvanced from K_max
with the same mask as the latent's noise_mask (what Set Latent Noise Mask gives it).
All runs of a seed draw their noise as ComfyUI does: one randn over the batch of pairs from the seed.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

STEPS, CFG, SAMPLER, SCHEDULER = 50, 7.5, "euler", "normal"
K_MIN, K_MAX, NU = 0.3, 0.6, 0.75
IMAGE, TEXT = "image", "text"
SCENE_REGIONS = ("scenes", "scenes_read")
OBJECT_REGIONS = ("object", "object_read")
MASKED_REGIONS = ("mask", "scenes", "object")  # the regions a run is masked to (the rest are read only)
OBJECT_MASK_GROWTH = 8  # px: a cell, so the mask holds the object's anti-aliased edge
OBJECT_BAND = 16  # px beyond the mask where the result may blend into the kept layout
OBJECT_SEED = 7  # the other objects of the regional scenes come from this seed


@dataclass(frozen=True)
class Pair:
    layout: object  # world.Scene
    content_pattern: str
    world: object = None  # world.WorldSpec; None: the 64 px world (V1)

    @property
    def spec(self):
        from demo_world import world
        return self.world or world.V1

    @property
    def layout_prompt(self) -> str:
        from demo_world import world
        return self.layout.prompt + world.lone_clause(self.spec)

    @property
    def content_prompt(self) -> str:
        from demo_world import world
        return world.prompt_for(None, None, self.content_pattern) + world.lone_clause(self.spec)


def make_pairs(count: int = 24, seed: int = 100, spec=None) -> list[Pair]:
    """Layouts drawn from the world (``spec``; None: V1), one object each; each content pattern differs
    from its layout's. In a world whose captions count objects, both prompts ask for one ("... alone")."""
    from demo_world import world
    rng = np.random.default_rng(seed)
    if spec is None or spec == world.V1:
        layouts = None
    else:
        layouts = world.lone_scenes(spec, count, seed)
    pairs = []
    for index in range(count):
        layout = world.random_scene(rng) if layouts is None else layouts[index]
        pattern = rng.choice([p for p in world.PATTERNS if p != layout.pattern])
        pairs.append(Pair(layout, str(pattern), None if layouts is None else spec))
    return pairs


@dataclass(frozen=True)
class Method:
    name: str  # magicmix, img2img, switch, average, community, off_by_one, relative_kmin
    nu: float = NU
    k_min: float = K_MIN
    k_max: float = K_MAX
    sampler: str = SAMPLER
    nu_schedule: str = "constant"
    nu_end: float | None = None
    switch_at: float | None = None  # switch: the level fraction where the content prompt takes over
    region: str = ""  # "mask": MagicMix in demo.region_mask(); "read": unmasked, read there; "": neither;
    # "scenes" / "scenes_read": on the two-scene canvas, in the first scene's quadrant / unmasked

    def label(self) -> str:
        if self.region:
            what = (f"img2img from k_max {self.k_max}" if self.name == "img2img"
                    else f"MagicMix nu {self.nu}, k {self.k_min}/{self.k_max}")
            if self.region in OBJECT_REGIONS:
                where = "in the first object's mask" if self.region == "object" else "no mask"
                return f"{what}, several objects, {where}"
            if self.region in SCENE_REGIONS:
                where = "in the first scene's quadrant" if self.region == "scenes" else "no mask"
                return f"{what}, two scenes, {where}"
            where = "in the mask (left half)" if self.region == "mask" else "no mask"
            return f"{what}, {where}, read in the left half"
        if self.name == "magicmix":
            extra = f", {self.sampler}" if self.sampler != SAMPLER else ""
            if self.nu_schedule != "constant":
                extra += f", nu {self.nu_schedule} {self.nu}->{self.nu_end}"
                return f"MagicMix k {self.k_min}/{self.k_max}{extra}"
            return f"MagicMix nu {self.nu}, k {self.k_min}/{self.k_max}{extra}"
        if self.name == "switch":
            return f"prompt switch at {self.switch_at}"
        if self.name == "community":
            return f"community order nu {self.nu}, k {self.k_min}/{self.k_max}"
        if self.name == "off_by_one":
            return f"port: start off by one level, nu {self.nu}, k {self.k_min}/{self.k_max}"
        if self.name == "relative_kmin":
            return (f"port: k_min of the shortened run (k_min {self.k_min * self.k_max:.2f}), nu {self.nu}, "
                    f"k_max {self.k_max}")
        if self.name == "img2img":
            return f"img2img from k_max {self.k_max}"
        return f"embedding average 0.5 (from k_max {self.k_max})"


class Batch:
    """One seed's inputs for every pair, encoded once."""

    def __init__(self, demo, pairs: list[Pair], seed: int, mode: str):
        from demo_world import world
        self.demo, self.pairs, self.seed, self.mode = demo, pairs, seed, mode
        self.content = self._conditioning([p.content_prompt for p in pairs])
        self.layout_text = self._conditioning([p.layout_prompt for p in pairs])
        self.negative = demo.encode("")
        self.spec = pairs[0].spec
        if mode == IMAGE:
            from demo_world import demo as world_demo
            self.layout_images = (np.stack([world.render(p.layout) for p in pairs]) if self.spec == world.V1
                                  else world.render_images([[p.layout] for p in pairs], self.spec))
            self.latent = demo.encode_images(self.layout_images)
            self.layout_masks = [world.silhouette(p.layout, self.spec.image_size) for p in pairs]
            self.region = torch.from_numpy(np.stack([world_demo.region_mask()] * len(pairs)))
            self.round_trip = None  # the layout images through the VAE, decoded once when a regional row needs them
            self._scenes = self._objects = None
        else:
            self.latent = {"samples": torch.zeros(len(pairs), 4, self.spec.cells, self.spec.cells)}
            own = self.ksampler_advanced(self.layout_text, self.latent, 0, STEPS, add_noise=True)
            self.layout_images = demo.decode(own)
            from demo_world import scorers
            self.layout_masks = [scorers.foreground(im) for im in self.layout_images]

    @property
    def scenes(self) -> Scenes:
        """The two-scene canvases (image layout), encoded when a row first needs them."""
        if self._scenes is None:
            from demo_world import demo as world_demo
            seconds = np.roll(self.layout_images, -1, axis=0)  # the next pair's layout
            images = np.stack([world_demo.two_scenes(a, b) for a, b in zip(self.layout_images, seconds)])
            mask = torch.from_numpy(np.stack([world_demo.first_scene_mask()] * len(self.pairs)))
            patterns = [p.layout.pattern for p in self.pairs[1:] + self.pairs[:1]]
            self._scenes = Scenes(images, self.demo.encode_images(images), mask, patterns)
        return self._scenes

    @property
    def objects(self) -> Objects:
        """The scenes of several objects (image layout), encoded when a row first needs them."""
        if self._objects is None:
            self._objects = make_objects(self.demo, self.pairs)
        return self._objects

    def _conditioning(self, prompts: list[str]) -> list:
        """One CONDITIONING for the batch: each pair's prompt along the batch axis."""
        return [[torch.cat([self.demo.encode(p)[0][0] for p in prompts]), {}]]

    def ksampler_advanced(self, positive, latent, start: int, end: int, add_noise: bool, leftover: bool = False,
                          sampler: str = SAMPLER) -> dict:
        node = self.demo.nodes["KSamplerAdvanced"]()
        return node.sample(self.demo.model, "enable" if add_noise else "disable", self.seed, STEPS, CFG, sampler,
                           SCHEDULER, positive, self.negative, latent, start, end,
                           "enable" if leftover else "disable")[0]

    def run(self, method: Method) -> dict:
        text = self.mode == TEXT
        k_max_step = STEPS - round(method.k_max * STEPS)
        if method.name == "magicmix":
            extra = dict(layout_positive=self.layout_text, layout_negative=self.negative) if text else {}
            latent, mask = self._regional_inputs(method.region)
            if method.region in MASKED_REGIONS:
                extra["mask"] = mask
            return self.demo.nodes["MagicMix"].execute(
                self.demo.model, self.content, self.negative, latent, self.seed, STEPS, CFG, method.sampler,
                SCHEDULER, method.k_min, method.k_max, method.nu, 1,
                nu_end=method.nu_end, nu_schedule=method.nu_schedule, **extra).result[0]
        if method.name == "img2img":
            return self.ksampler_advanced(self.content, self._masked_latent(method.region), k_max_step, 10000,
                                          add_noise=True)
        if method.name == "switch":
            start = 0 if text else k_max_step
            switch = STEPS - round(method.switch_at * STEPS)
            first = self.ksampler_advanced(self.layout_text, self.latent, start, switch, add_noise=True, leftover=True)
            return self.ksampler_advanced(self.content, first, switch, 10000, add_noise=False)
        if method.name == "average":
            average = self.demo.nodes["ConditioningAverage"]().addWeighted(self.content, self.layout_text, 0.5)[0]
            return self.ksampler_advanced(average, self.latent, 0 if text else k_max_step, 10000, add_noise=True)
        if method.name == "community":
            return self._community(method)
        if method.name == "off_by_one":
            return self._off_by_one(method)
        if method.name == "relative_kmin":
            return self.run(Method("magicmix", nu=method.nu, k_min=method.k_min * method.k_max, k_max=method.k_max))
        raise ValueError(method.name)

    def _masked_latent(self, region: str) -> dict:
        """The LATENT a baseline starts from: with a region, the canvas and its mask as the latent's noise_mask
        (what Set Latent Noise Mask gives KSamplerAdvanced), the same mask the MagicMix row gets."""
        if not region:
            return self.latent
        if region not in MASKED_REGIONS:
            raise ValueError(f"a baseline runs in a mask or without one, not {region!r}")
        latent, mask = self._regional_inputs(region)
        return {**latent, "noise_mask": mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))}

    def _regional_inputs(self, region: str) -> tuple[dict, torch.Tensor | None]:
        """The LATENT a row starts from and the MASK of its region (None where it has none)."""
        if region in SCENE_REGIONS:
            return self.scenes.latent, self.scenes.mask
        if region in OBJECT_REGIONS:
            return self.objects.latent, self.objects.mask
        return self.latent, (self.region if region else None)

    def _image_layout_inputs(self, method: Method):
        """What the test-side orders start from, as MagicMix Layout Noise makes it: the model, the layout's
        LATENT samples, the fixed noise (ComfyUI's draw), model_sampling, the schedule, the levels, x_0."""
        import comfy.sample
        import comfy.samplers
        from magicmix_core.levels import LevelRange
        model = self.demo.model
        samples = self.latent["samples"]
        model_sampling = model.get_model_object("model_sampling")
        return (model, samples, comfy.sample.prepare_noise(samples, self.seed), model_sampling,
                comfy.samplers.calculate_sigmas(model_sampling, SCHEDULER, STEPS),
                LevelRange.from_fractions(method.k_min, method.k_max, STEPS), model.model.process_latent_in(samples))

    def _off_by_one(self, method: Method) -> dict:
        import comfy.sample
        import comfy.samplers
        from magicmix_core.levels import nu_values
        from magicmix_core.mixing import layout_phase_function
        model, samples, noise, model_sampling, sigmas, levels, clean = self._image_layout_inputs(method)
        first, last = levels.layout_start_index, levels.content_start_index  # schedule indices of K_max, K_min

        def noised(index: int, like: torch.Tensor) -> torch.Tensor:
            return model_sampling.noise_scaling(sigmas[index].to(like), noise.to(like), clean.to(like))

        inner = comfy.samplers.sampler_object(SAMPLER)
        # the phase's schedule starts one level late (index first + 1) while the start latent is level K_max's
        layout_phase = layout_phase_function(inner.sampler_function, inner.extra_options,
                                             start_latent=lambda x: noised(first, x),
                                             layout_latent=lambda i, like: noised(first + 1 + i, like),
                                             nus=nu_values(method.nu, method.nu, last - first - 1))

        def both_phases(model_wrap, x, phase_sigmas, extra_args=None, callback=None, disable=None):
            z = layout_phase(model_wrap, x, sigmas[first + 1:last + 1].to(x.device), extra_args=extra_args)
            return inner.sampler_function(model_wrap, z, sigmas[last:].to(x.device), extra_args=extra_args,
                                          callback=None, disable=True, **inner.extra_options)

        out = comfy.sample.sample_custom(model, noise, CFG, comfy.samplers.KSAMPLER(both_phases), sigmas[first + 1:],
                                         self.content, self.negative, samples, seed=self.seed)
        return {"samples": out}

    def _community(self, method: Method) -> dict:
        import comfy.sample
        import comfy.samplers
        from magicmix_core.levels import nu_values
        from magicmix_dev.community_order import community_order_function
        model, samples, noise, model_sampling, sigmas, levels, clean = self._image_layout_inputs(method)
        function = community_order_function(clean, noise, nu_values(method.nu, method.nu, levels.mix_count),
                                            model_sampling)
        out = comfy.sample.sample_custom(model, noise, CFG, comfy.samplers.KSAMPLER(function),
                                         sigmas[levels.layout_start_index:], self.content, self.negative, samples,
                                         seed=self.seed)
        return {"samples": out}


@dataclass
class Scenes:
    """One seed's two-scene canvases: images (N x 128 x 128 x 3), their LATENT, the MASK, and the
    pattern each second scene shows."""
    images: np.ndarray
    latent: dict
    mask: torch.Tensor
    second_patterns: list
    round_trip: np.ndarray | None = None  # the canvases through the VAE, decoded once


@dataclass
class Objects:
    """One batch's scenes of several objects: images (N x H x W x 3), their LATENT, the MASK over each first
    object, every object's silhouette and pattern (the first's is the layout's), the pixels beyond the band."""
    images: np.ndarray
    latent: dict
    mask: torch.Tensor
    silhouettes: list  # per scene, one H x W bool per object
    patterns: list  # per scene, each object's pattern
    kept: np.ndarray  # N x H x W bool: beyond OBJECT_BAND px of the mask
    round_trip: np.ndarray | None = None


def make_objects(demo, pairs: list[Pair]) -> Objects:
    """For each pair a scene of two or three objects (alternately) drawn from OBJECT_SEED, its first object
    given the pair's layout pattern."""
    from demo_world import world
    spec = pairs[0].spec
    if spec.max_objects < 2:
        raise ValueError(f"world {spec.name} has one object per scene: no object regions")
    scenes = []
    for count in range(2, min(3, spec.max_objects) + 1):
        drawn = world.sample_scenes(spec, len(pairs), torch.Generator().manual_seed(OBJECT_SEED + count), count=count)
        scenes.append([drawn.objects(i) for i in range(len(pairs))])
    objects = []
    for index, pair in enumerate(pairs):
        first, *others = scenes[index % len(scenes)][index]
        # the drawn shape keeps its place clear of the others; the pattern is the layout's, so the content's differs
        objects.append([dataclasses.replace(first, pattern=pair.layout.pattern), *others])
    images = world.render_images(objects, spec)
    silhouettes = [[world.silhouette(o, spec.image_size) for o in scene] for scene in objects]
    grown = [_grow(masks[0], OBJECT_MASK_GROWTH) for masks in silhouettes]
    kept = np.stack([~_grow(g, OBJECT_BAND) for g in grown])
    mask = torch.from_numpy(np.stack(grown).astype(np.float32))
    return Objects(images, demo.encode_images(images), mask, silhouettes,
                   [[o.pattern for o in scene] for scene in objects], kept)


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` grown by ``pixels`` in every direction (a square neighbourhood)."""
    grown = torch.nn.functional.max_pool2d(torch.from_numpy(mask.astype(np.float32))[None, None],
                                           2 * pixels + 1, 1, pixels)
    return grown[0, 0].numpy() > 0


def example_batch(mode: str, count: int = 4, seed: int = 0):
    """The README examples' inputs: the demo model, the bench's first ``count`` pairs, one seed's Batch."""
    from . import model
    demo = model.load()
    pairs = make_pairs(count)
    return demo, pairs, Batch(demo, pairs, seed, mode)

def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


@dataclass
class CellResult:
    mode: str
    method: Method
    ious: list = field(default_factory=list)
    adopted: list = field(default_factory=list)
    images: list = field(default_factory=list)
    outside_errors: list = field(default_factory=list)  # regional rows: mean |result - layout| beyond the band
    round_trip_errors: list = field(default_factory=list)  # the same for the layout image through the VAE
    others_kept: list = field(default_factory=list)  # two-scene rows: the second scene shows its own pattern

    @property
    def n(self) -> int:
        return len(self.ious)

    def iou_interval(self) -> tuple[float, float, float]:
        values = np.asarray(self.ious)
        half = 1.96 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
        return float(values.mean()), float(values.mean() - half), float(values.mean() + half)

    def rate(self, which: str) -> tuple[float, float, float]:
        from demo_world import demo
        kept = np.asarray(self.ious) >= demo.LAYOUT_KEPT_IOU
        adopted = np.asarray(self.adopted)
        flags = {"kept": kept, "adopted": adopted, "both": kept & adopted}[which]
        low, high = wilson(int(flags.sum()), len(flags))
        return float(flags.mean()), low, high


def score(batch: Batch, latent: dict, result: CellResult) -> None:
    if result.method.region in SCENE_REGIONS:
        return score_scenes(batch, latent, result)
    if result.method.region in OBJECT_REGIONS:
        return score_objects(batch, latent, result)
    from demo_world import demo, scorers
    images = batch.demo.decode(latent)
    regional = bool(result.method.region)
    regions = batch.region.numpy().astype(bool) if regional else None
    _score_layout_and_content(batch, images, scorers.read_batch(images, regions), result)
    result.images.append(images)
    if regional:
        if batch.round_trip is None:
            batch.round_trip = batch.demo.decode(batch.latent)
        _score_outside(images, batch.layout_images, batch.round_trip, demo.kept_pixels(), result)


def score_scenes(batch: Batch, latent: dict, result: CellResult) -> None:
    """A two-scene row: the first scene read as any result (IoU with its layout, its pattern), the second
    scene's pattern against its own, the pixels beyond the mask's band against the canvas."""
    from demo_world import demo, scorers, world
    scenes, size = batch.scenes, world.IMAGE_SIZE
    canvases = batch.demo.decode(latent)
    firsts = canvases[:, :size, :size]
    _score_layout_and_content(batch, firsts, scorers.read_batch(firsts), result)
    seconds = scorers.read_batch(canvases[:, size:, size:])
    result.others_kept += [r.pattern == p for r, p in zip(seconds, scenes.second_patterns)]
    result.images.append(canvases)
    if scenes.round_trip is None:
        scenes.round_trip = batch.demo.decode(scenes.latent)
    _score_outside(canvases, scenes.images, scenes.round_trip, demo.beyond_first_scene_band(), result)


def score_objects(batch: Batch, latent: dict, result: CellResult) -> None:
    """A row on the scenes of several objects: the silhouettes' IoU with the layout's, the first object's
    pattern inside its silhouette against the content's, the others' against their own, the pixels beyond
    the mask's band against the layout canvas."""
    from demo_world import scorers
    objects = batch.objects
    images = batch.demo.decode(latent)
    for image, silhouettes, patterns, pair in zip(images, objects.silhouettes, objects.patterns, batch.pairs):
        result.ious.append(scorers.iou(scorers.foreground(image), np.logical_or.reduce(silhouettes)))
        readings = [scorers.read(image, region=s) for s in silhouettes]
        result.adopted.append(readings[0].pattern == pair.content_pattern)
        result.others_kept.append(all(r.pattern == p for r, p in zip(readings[1:], patterns[1:])))
    result.images.append(images)
    if objects.round_trip is None:
        objects.round_trip = batch.demo.decode(objects.latent)
    for image, layout, round_trip, kept in zip(images, objects.images, objects.round_trip, objects.kept):
        result.outside_errors.append(float(np.abs(image - layout)[kept].mean()))
        result.round_trip_errors.append(float(np.abs(round_trip - layout)[kept].mean()))


def _score_layout_and_content(batch: Batch, images: np.ndarray, readings: list, result: CellResult) -> None:
    """Each pair's silhouette IoU with its layout and whether its pattern is the content's."""
    from demo_world import scorers
    for image, reading, mask, pair in zip(images, readings, batch.layout_masks, batch.pairs):
        result.ious.append(scorers.iou(scorers.foreground(image), mask))
        result.adopted.append(reading.pattern == pair.content_pattern)


def _score_outside(images: np.ndarray, layouts: np.ndarray, round_trips: np.ndarray, kept: np.ndarray,
                   result: CellResult) -> None:
    """Mean |result - layout| over the kept pixels, and the same for the layout's VAE round trip."""
    for image, layout, round_trip in zip(images, layouts, round_trips):
        result.outside_errors.append(float(np.abs(image - layout)[kept].mean()))
        result.round_trip_errors.append(float(np.abs(round_trip - layout)[kept].mean()))


def run_cells(demo, pairs: list[Pair], seeds: list[int], cells: list[tuple[str, Method]],
              progress=print) -> list[CellResult]:
    """Every (mode, method) cell over every seed; a seed's Batch is shared by its cells."""
    results = {cell: CellResult(cell[0], cell[1]) for cell in cells}
    for mode in (IMAGE, TEXT):
        mode_cells = [c for c in cells if c[0] == mode]
        if not mode_cells:
            continue
        for seed in seeds:
            batch = Batch(demo, pairs, seed, mode)
            for cell in mode_cells:
                with torch.no_grad():
                    score(batch, batch.run(cell[1]), results[cell])
            progress(f"{mode} layout, seed {seed}: {len(mode_cells)} cells")
    return [results[c] for c in cells]
