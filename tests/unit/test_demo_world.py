"""The demo world and its scorers (numpy and plain torch; no ComfyUI).

Scorer validation: on world images and on the same images with Gaussian noise (sigma 0.1) the
scorers must read shape, colour and pattern right at least 98% of the time (chance: shape 1/3,
colour 1/4, pattern 1/4), and read "none" for at least 98% of noise images. Through the VAE:
tests/comfy/test_demo_world_model.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from demo_world import demo, latent, scorers, unet, world

VALIDATION = 300


@pytest.fixture(scope="module")
def world_sample():
    return world.sample_batch(seed=777, count=VALIDATION)


def test_prompts_name_any_subset_of_the_attributes_and_are_unique():
    prompts = world.all_prompts()
    expected = (len(world.SHAPES) + 1) * (len(world.COLOURS) + 1) * (len(world.PATTERNS) + 1)
    assert len(prompts) == len(set(prompts)) == expected
    assert prompts[:48] == world.full_prompts()
    assert world.prompt_for("circle", "red", "striped") == "a striped red circle"
    assert world.prompt_for(None, None, "checkered") == "a checkered shape"
    assert world.prompt_for(None, None, None) == "a shape"


def test_captions_leave_attributes_out_about_half_the_time():
    rng = np.random.default_rng(0)
    scene = world.Scene("circle", "red", "striped", (32.0, 32.0), 20.0)
    captions = [world.caption(scene, rng) for _ in range(2000)]
    assert set(captions) <= set(world.all_prompts())
    for word in ("circle", "red", "striped"):
        assert 0.45 < np.mean([word in c for c in captions]) < 0.55


def test_same_seed_same_images_and_other_seed_other_images():
    a, scenes = world.sample_batch(5, 8)
    b, _ = world.sample_batch(5, 8)
    c, _ = world.sample_batch(6, 8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert all(s.size >= world.SIZE_RANGE[0] for s in scenes)


@pytest.mark.parametrize("pattern", [p for p in world.PATTERNS if p != "plain"])
def test_every_pattern_shows_around_the_centroid(pattern):
    # dotted / striped: the centroid's cell is dark; checkered: it is light and the cell to its right dark
    rng = np.random.default_rng(0)
    for _ in range(20):
        scene = world.random_scene(rng, pattern=pattern)
        cx, cy = world.centroid(scene.shape, scene.centre, scene.size)
        image = world.render(scene)
        dark, light = world.DARK * max(world.COLOURS[scene.colour]), max(world.COLOURS[scene.colour])
        at_centroid = image[int(cy), int(cx)].max()
        if pattern == "checkered":
            assert at_centroid == pytest.approx(light, abs=1e-6)
            right = world.CELL * (int(cx) // world.CELL + 1) + world.CELL // 2
            assert image[int(cy), min(right, world.IMAGE_SIZE - 1)].max() < light
        else:
            assert at_centroid == pytest.approx(dark, abs=1e-6)


def test_scorers_read_world_images(world_sample):
    images, scenes = world_sample
    readings = scorers.read_batch(images)
    for attribute in ("shape", "colour", "pattern"):
        accuracy = np.mean([getattr(r, attribute) == getattr(s, attribute) for r, s in zip(readings, scenes)])
        assert accuracy >= 0.98, f"{attribute} accuracy {accuracy:.3f}"
    ious = [scorers.iou(scorers.foreground(im), world.silhouette(s)) for im, s in zip(images, scenes)]
    assert np.mean(ious) >= 0.95 and np.min(ious) >= 0.85


def test_scorers_read_world_images_with_noise(world_sample):
    images, scenes = world_sample
    noisy = np.clip(images + 0.1 * np.random.default_rng(1).standard_normal(images.shape), 0, 1).astype(np.float32)
    readings = scorers.read_batch(noisy)
    for attribute in ("shape", "colour", "pattern"):
        accuracy = np.mean([getattr(r, attribute) == getattr(s, attribute) for r, s in zip(readings, scenes)])
        assert accuracy >= 0.98, f"{attribute} accuracy with noise {accuracy:.3f}"


@pytest.mark.parametrize("kind", ["uniform", "grey_gaussian", "blank"])
def test_noise_reads_none(kind):
    rng = np.random.default_rng(2)
    if kind == "uniform":
        images = rng.random((100, 64, 64, 3))
    elif kind == "grey_gaussian":
        images = np.clip(0.5 + 0.3 * rng.standard_normal((100, 64, 64, 3)), 0, 1)
    else:
        images = np.full((100, 64, 64, 3), world.BACKGROUND)
    readings = scorers.read_batch(images.astype(np.float32))
    for attribute in ("shape", "pattern"):
        assert np.mean([getattr(r, attribute) == scorers.NONE for r in readings]) >= 0.98


def test_a_wrong_pattern_is_not_read_as_the_asked_one():
    scene = world.Scene("circle", "red", "striped", (32.0, 32.0), 24.0)
    image = world.render(scene)
    assert scorers.read(image).pattern == "striped"
    verdict = demo.judge(image)  # the demo asks for checkered
    assert verdict.layout_kept and not verdict.content_adopted and not verdict.is_mix


def test_the_demo_verdict_accepts_a_checkered_circle_and_refuses_a_checkered_square():
    circle = world.render(world.Scene("circle", "blue", "checkered", (32.0, 32.0), 24.0))
    square = world.render(world.Scene("square", "blue", "checkered", (32.0, 32.0), 24.0))
    assert demo.judge(circle).is_mix
    assert not demo.judge(square).layout_kept


def test_the_regional_verdict_needs_the_layout_silhouette_inside_the_mask_as_well():
    # the regional main job's canvas with its first scene redrawn: checkered in the layout's circle is a
    # regional mix; checkered in a square of the circle's size (silhouette IoU 0.83 < 0.88) is not, although
    # the outside is kept and the content's pattern adopted
    second = world.render(demo.REGIONAL_SECOND_SCENE)
    size = world.IMAGE_SIZE
    circle = demo.two_scenes(world.render(world.Scene("circle", "red", "checkered", (32.0, 32.0), 24.0)), second)
    square = demo.two_scenes(world.render(world.Scene("square", "red", "checkered", (32.0, 32.0), 24.0)), second)
    mixed, reshaped = demo.judge_regional(circle), demo.judge_regional(square)
    assert mixed.outside_kept and mixed.inside.is_mix and mixed.is_mix
    assert reshaped.outside_kept and reshaped.inside.content_adopted
    assert not reshaped.inside.layout_kept and not reshaped.is_mix
    assert reshaped.inside.layout_iou == demo.judge(square[:size, :size]).layout_iou


def test_two_scenes_are_read_back_each_in_its_quadrant_and_the_band_spares_the_second():
    first = world.Scene("circle", "red", "plain", (32.0, 32.0), 24.0)
    second = world.Scene("square", "blue", "striped", (30.0, 34.0), 20.0)
    canvas = demo.two_scenes(world.render(first), world.render(second))
    size = world.IMAGE_SIZE
    assert canvas.shape == (2 * size, 2 * size, 3)
    assert scorers.read(canvas[:size, :size]).attributes() == ("circle", "red", "plain")
    assert scorers.read(canvas[size:, size:]).attributes() == ("square", "blue", "striped")
    assert not scorers.foreground(canvas[:size, size:]).any() and not scorers.foreground(canvas[size:, :size]).any()
    mask, kept = demo.first_scene_mask(), demo.beyond_first_scene_band()
    assert mask[:size, :size].all() and mask.sum() == size * size
    # kept: nothing within two latent cells of the mask; most of the second scene
    band = demo.BAND_CELLS * world.CELL
    assert not kept[:size + band, :size + band].any() and kept[size + band:, :].all() and kept[:, size + band:].all()
    second_pixels = np.zeros_like(kept)
    second_pixels[size:, size:] = world.silhouette(second)
    assert (kept & second_pixels).sum() >= 0.6 * second_pixels.sum()


def test_analytic_latent_is_zero_on_the_background_and_the_cell_means_elsewhere():
    images, _ = world.sample_batch(3, 4)
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    z = latent.analytic_latent(x)
    assert z.shape == (4, 4, 8, 8)
    grey = torch.full((1, 3, 64, 64), world.BACKGROUND)
    assert torch.count_nonzero(latent.analytic_latent(grey)) == 0
    cell = x[0, :, :8, :8].mean(dim=(1, 2))
    assert torch.allclose(z[0, :3, 0, 0], latent.RGB_GAIN * latent.STORED_SCALE_RATIO * (cell - 0.5), atol=1e-6)


def test_export_index_maps_are_injective_and_keep_groupnorm_groups_whole():
    for n in (64, 128):
        index = unet._residual_index(n)
        wide = n * unet.WIDTH_FACTOR
        assert len(set(index.tolist())) == n and int(index.max()) < wide
        narrow_groups = torch.arange(n) // (n // unet.GROUPS)
        wide_groups = index // (wide // unet.GROUPS)
        assert torch.equal(narrow_groups, wide_groups)
    heads = unet._head_index()
    assert torch.equal(heads // 40, torch.arange(64) // 8)
    timestep = unet._timestep_index()
    assert len(set(timestep.tolist())) == 64 and int(timestep.max()) < 320


def test_the_runtime_pack_never_imports_the_demo_world():
    import ast
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    runtime = [root / "__init__.py", *(root / "nodes").glob("*.py"), *(root / "magicmix_comfy").glob("*.py"),
               *(root / "magicmix_core").glob("*.py")]
    for path in runtime:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "demo_world" for n in names), f"{path.name} imports demo_world"
    assert "/demo_world/" in (root / ".comfyignore").read_text().split()  # the archive test checks the zip itself
