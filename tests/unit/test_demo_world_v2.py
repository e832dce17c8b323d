"""World v2 (128 px, one to three objects), drawn and rendered in batches by torch (demo_world.world)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from demo_world import latent, world


def _scenes(spec, n, seed=0, count=None):
    return world.sample_scenes(spec, n, torch.Generator().manual_seed(seed), count=count)


def test_the_batch_renderer_draws_a_one_object_scene_as_the_numpy_renderer_does():
    scenes = _scenes(world.V1, 12)
    images, _ = world.render_scenes(scenes, world.V1)
    for index in range(len(scenes)):
        (scene,) = scenes.objects(index)
        assert np.array_equal(images[index].permute(1, 2, 0).numpy(), world.render(scene)), scene


@pytest.mark.parametrize("count", [1, 2, 3])
def test_v2_objects_are_as_large_as_their_count_allows_inside_the_margin_and_a_cell_apart(count):
    spec = world.V2
    scenes = _scenes(spec, 24, seed=count, count=count)
    _, cover = world.render_scenes(scenes, spec)
    low, high = spec.size_ranges[count - 1]
    assert bool(((scenes.size[:, :count] >= low) & (scenes.size[:, :count] <= high)).all())
    inside = cover > 0
    assert not inside[:, count:].any(), "no object past the scene's count"
    ring = torch.ones(spec.image_size, spec.image_size, dtype=torch.bool)
    margin = int(spec.margin) - 1  # the anti-aliased edge may touch the pixel next to the margin
    ring[margin:-margin, margin:-margin] = False
    assert not inside[:, :, ring].any(), "an object reaches into the margin"
    if count > 1:
        grown = torch.nn.functional.max_pool2d(inside.float(), 2 * int(spec.gap) - 1, 1, int(spec.gap) - 1) > 0
        for i in range(count):
            for j in range(i + 1, count):
                assert not (grown[:, i] & inside[:, j]).any(), "two objects closer than a cell"


def test_v2_one_object_is_8_5_to_15_latent_cells_wide():
    # a square of half-extent 40 px is 1.7 x 40 = 68 px wide, a triangle of 52 is 2.3 x 52 = 120 px
    scenes = _scenes(world.V2, 48, count=1)
    _, cover = world.render_scenes(scenes, world.V2)
    columns = (cover[:, 0] >= 0.5).any(dim=1).sum(dim=1).float() / world.CELL  # width in cells
    assert 8.5 <= float(columns.min()) and float(columns.max()) <= 15.0, columns
    assert world.V2.spans() == (2 * 18.0 / world.CELL, 2 * 52.0 / world.CELL)


def test_v2_draws_are_seeded():
    a, b, c = _scenes(world.V2, 8, seed=3), _scenes(world.V2, 8, seed=3), _scenes(world.V2, 8, seed=4)
    assert torch.equal(a.centre, b.centre) and torch.equal(a.shape, b.shape)
    assert not torch.equal(a.centre, c.centre)


def test_v2_captions_name_one_of_the_objects_and_sometimes_the_count():
    spec = world.V2
    scenes = _scenes(spec, 64, seed=5)
    prompts = spec.prompts()
    assert len(prompts) == len(set(prompts)) == 4 * len(world.all_prompts())
    rows = world.caption_rows(scenes, spec, torch.Generator().manual_seed(6))
    counted = 0
    for index, row in enumerate(rows.tolist()):
        text = prompts[row]
        objects = scenes.objects(index)
        for clause_count, clause in enumerate(world.COUNT_CLAUSES, start=1):
            if text.endswith(" " + clause):
                assert clause_count == len(objects), (text, len(objects))
                text, counted = text[:-len(clause) - 1], counted + 1
        words = text.split()[1:]
        assert any(all(w in (o.shape, o.colour, o.pattern, world.UNNAMED_SHAPE) for w in words) for o in objects), text
    assert 16 <= counted <= 48, "the count is said about half the time"


def test_the_latent_of_a_v2_image_is_its_16_by_16_cell_map():
    scenes = _scenes(world.V2, 2, count=1)
    images, _ = world.render_scenes(scenes, world.V2)
    assert latent.analytic_latent(images).shape == (2, 4, 16, 16)


def test_an_impossible_world_says_so_instead_of_drawing_forever():
    crowded = world.WorldSpec("crowded", 64, ((30.0, 31.0), (30.0, 31.0)), gap=8.0)
    with pytest.raises(RuntimeError, match="no place"):
        world.sample_scenes(crowded, 4, torch.Generator().manual_seed(0), count=2)


def test_the_scorers_read_v2_images_a_lone_object_whole_and_each_of_several_in_its_silhouette():
    from demo_world import scorers
    alone = _scenes(world.V2, 40, seed=7, count=1)
    images, _ = world.render_scenes(alone, world.V2)
    for index, reading in enumerate(scorers.read_batch(images.permute(0, 2, 3, 1).numpy())):
        (scene,) = alone.objects(index)
        assert reading.attributes() == (scene.shape, scene.colour, scene.pattern), scene
    several = _scenes(world.V2, 16, seed=8, count=3)
    images, cover = world.render_scenes(several, world.V2)
    pictures = images.permute(0, 2, 3, 1).numpy()
    for index in range(len(several)):
        for slot, scene in enumerate(several.objects(index)):
            reading = scorers.read(pictures[index], region=cover[index, slot].numpy() >= 0.5)
            assert (reading.colour, reading.pattern) == (scene.colour, scene.pattern), scene


def test_v2_patterns_are_drawn_at_its_lower_contrast_and_the_scorers_read_them_at_it():
    from demo_world import scorers
    scenes = _scenes(world.V2, 16, seed=9, count=1)
    images, cover = world.render_scenes(scenes, world.V2)
    for index in range(len(scenes)):
        (scene,) = scenes.objects(index)
        inside = images[index][:, cover[index, 0] == 1.0].amax(dim=0)  # max channel of fully covered pixels
        light = max(world.COLOURS[scene.colour])
        tones = {round(float(t), 4) for t in inside.unique()}
        assert tones <= {round(light, 4), round(world.V2.dark * light, 4)}, (scene, tones)
    assert world.V2.dark == 0.85 and world.V1.dark == world.DARK == 0.4
    assert scorers.tone_threshold(world.V1) == 0.7 and scorers.tone_threshold(world.V2) == 0.925
    # read with V1's threshold, every tone inside V2's objects would be light: no pattern but plain
    covered = cover[:, 0] == 1.0
    assert not (images.amax(dim=1)[covered] < scorers.tone_threshold(world.V1)).any()


def test_each_world_is_found_by_its_image_size():
    assert world.spec_for_image(64) is world.V1 and world.spec_for_image(128) is world.V2
    with pytest.raises(ValueError, match="no world has 96 px"):
        world.spec_for_image(96)


def test_given_scenes_render_as_drawn_ones():
    drawn = _scenes(world.V2, 6, seed=10)
    given = [drawn.objects(i) for i in range(len(drawn))]
    images, _ = world.render_scenes(drawn, world.V2)
    assert np.array_equal(world.render_images(given, world.V2), images.permute(0, 2, 3, 1).numpy())
    with pytest.raises(ValueError, match="holds 1 to 3 objects, not 4"):
        world.scene_batch([[given[0][0]] * 4], world.V2)


def test_lone_scenes_and_their_prompts_ask_for_one_object():
    scenes = world.lone_scenes(world.V2, 5, seed=11)
    assert len(scenes) == 5 and scenes == world.lone_scenes(world.V2, 5, seed=11)
    assert world.lone_clause(world.V2) == " alone" and world.lone_clause(world.V1) == ""
    assert all(s.prompt + " alone" in world.V2.prompts() for s in scenes)


def test_the_v2_decoder_trains_on_cell_aligned_crops_of_v2_images():
    from demo_world import train_decoder
    latents, crops = train_decoder.make_batch_on_device(world.V2, 3, 4, torch.device("cpu"))
    assert crops.shape == (4, 3, 64, 64) and latents.shape == (4, 4, 8, 8)
    # the latent is the crop's own cell map, plus the trainer's small noise
    assert float((latents - latent.analytic_latent(crops)).std()) == pytest.approx(train_decoder.LATENT_NOISE, rel=0.2)
    again, _ = train_decoder.make_batch_on_device(world.V2, 3, 4, torch.device("cpu"))
    assert torch.equal(latents, again)


def test_the_band_is_the_switch_levels_that_keep_the_silhouette_and_adopt_the_pattern():
    from bench.quality import model_check
    rows = [{"level": level, "kept": (kept, 0, 1), "adopted": (adopted, 0, 1)}
            for level, kept, adopted in ((0.7, 0.6, 0.95), (0.6, 0.9, 0.85), (0.5, 0.95, 0.8), (0.4, 1.0, 0.79))]
    assert model_check.band(rows) == [0.6, 0.5]
    assert model_check.band(rows[:1] + rows[3:]) == []
