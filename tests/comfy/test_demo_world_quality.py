"""The demo model's targets and the quality bench's claims, on a CI-sized sample.

The bench (bash tools/run_quality_bench.sh, bench/QUALITY.md) holds the big sample; these tests run
the same code (bench/quality) on fewer pairs and seeds, with thresholds set from the bench's 95 %
intervals (each stated where it is used), so each can fail.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.quality import mixing as M, model as quality_model, txt2img


@pytest.fixture(scope="module")
def twin(comfy_host):
    return quality_model.load(narrow_twin=True, nodes=comfy_host.NODE_CLASS_MAPPINGS)


def test_txt2img_reaches_the_model_target(twin):
    # target: shape and pattern both right in >= 85 % of >= 96 samples, clean background
    result = txt2img.run(twin, samples=96)
    assert result.both >= 0.85, f"shape and pattern right in {result.both:.3f}"
    assert result.clean_background >= 0.9, f"clean background in {result.clean_background:.3f}"


def test_txt2img_same_seed_same_image(twin):
    a = txt2img.run(twin, samples=4, seed=11, steps=10).images
    b = txt2img.run(twin, samples=4, seed=11, steps=10).images
    c = txt2img.run(twin, samples=4, seed=12, steps=10).images
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_narrow_twin_samples_what_the_checkpoint_samples(twin, demo_model, comfy_host):
    # The bench runs on the twin: one MagicMix run on both gives the same latents and the same scores.
    # The two differ only in the order of float sums (the export is exact: test_demo_world_model), which
    # 50 steps at cfg 7.5 amplify: measured at most 1.3e-3 of the largest latent value, 3.4e-5 on average.
    from demo_world import scorers
    model, clip, vae = demo_model
    wide = quality_model.DemoModel(model, clip, vae, comfy_host.NODE_CLASS_MAPPINGS)
    pairs = M.make_pairs(4)
    method = M.Method("magicmix")
    batch = M.Batch(twin, pairs, 0, M.IMAGE)
    with torch.no_grad():
        on_twin = batch.run(method)["samples"]
        on_checkpoint = M.Batch(wide, pairs, 0, M.IMAGE).run(method)["samples"]
    difference, largest = (on_twin - on_checkpoint).abs(), on_checkpoint.abs().max()
    print(f"twin against checkpoint: max {difference.max() / largest:.1e}, "
          f"mean {difference.mean() / largest:.1e} of the largest value")
    assert difference.max() <= 5e-3 * largest and difference.mean() <= 1e-4 * largest
    scored = [M.CellResult(M.IMAGE, method) for _ in range(2)]
    for latent, result in zip((on_twin, on_checkpoint), scored):
        M.score(batch, {"samples": latent}, result)  # the bench's scoring, decoded by the twin's VAE
    readings = [[scorers.read(image).attributes() for image in result.images[0]] for result in scored]
    assert readings[0] == readings[1]
    ious = [result.ious for result in scored]
    assert np.abs(np.subtract(*ious)).max() <= 0.01, ious


# --- the bench's claims, on its 24 pairs at seed 0 (a third of its sample: the same pairs and noise) -
# Figures quoted are bench/QUALITY.md's (72 results per row: 24 pairs x 3 seeds, 95 % intervals).

CLAIM_PAIRS = 24
# Beyond a mask's band the result may differ from the layout image by the VAE's own round trip and at
# most this much more (half an 8-bit level); the bench measures +0.0005 (half a shape) and +0.0000 (two
# scenes), runs without a mask +0.030 and +0.023.
OUTSIDE_MARGIN = 0.002


@pytest.fixture(scope="module")
def claim_cells(twin):
    """The cells the claims below compare, run once."""
    cells = [
        (M.IMAGE, M.Method("magicmix")), (M.IMAGE, M.Method("img2img")),
        (M.IMAGE, M.Method("magicmix", nu=0.25, k_min=0.1, k_max=0.4)),
        (M.IMAGE, M.Method("magicmix", nu=0.9, k_min=0.1, k_max=0.4)),
        (M.IMAGE, M.Method("community", nu=0.25)), (M.IMAGE, M.Method("community", nu=0.75)),
        (M.IMAGE, M.Method("magicmix", nu=0.25)),  # nu 0.75 at k 0.3/0.6 is the first cell
        (M.IMAGE, M.Method("magicmix", region="mask")), (M.IMAGE, M.Method("magicmix", region="read")),
        (M.IMAGE, M.Method("magicmix", region="scenes")), (M.IMAGE, M.Method("magicmix", region="scenes_read")),
        (M.TEXT, M.Method("switch", switch_at=0.8)), (M.TEXT, M.Method("switch", switch_at=0.4)),
    ]
    results = M.run_cells(twin, M.make_pairs(CLAIM_PAIRS), [0], cells, progress=lambda _: None)
    return {(mode, method): r for (mode, method), r in zip(cells, results)}


def cell(cells, mode=M.IMAGE, **kw):
    return cells[(mode, M.Method(**kw))]


def test_magicmix_keeps_the_layout_better_than_img2img_from_the_same_k_max(claim_cells):
    # bench: IoU 0.807 [0.785, 0.828] against 0.696 [0.668, 0.724] (disjoint); content adopted
    # 0.861 against 0.889: a loss of at most 0.2 is allowed. Seed 0: lower ends 0.758 / 0.644, adopted
    # 0.792 / 0.875, both 0.125 / 0.083
    ours, img2img = cell(claim_cells, name="magicmix"), cell(claim_cells, name="img2img")
    assert ours.iou_interval()[0] >= img2img.iou_interval()[0] + 0.05
    assert ours.rate("adopted")[0] >= img2img.rate("adopted")[0] - 0.2
    assert ours.rate("both")[0] > img2img.rate("both")[0]


def test_raising_nu_raises_content_adoption_and_lowers_layout_kept(claim_cells):
    # bench, k 0.1/0.4: nu 0.25 -> 0.9 moves adoption 0.458 [0.348, 0.573] -> 0.722 [0.610, 0.812] and
    # IoU 0.903 [0.893, 0.914] -> 0.844 [0.826, 0.862], both beyond the intervals. Seed 0: adopted
    # 0.458 -> 0.792, IoU lower ends 0.880 -> 0.799
    low = cell(claim_cells, name="magicmix", nu=0.25, k_min=0.1, k_max=0.4)
    high = cell(claim_cells, name="magicmix", nu=0.9, k_min=0.1, k_max=0.4)
    assert high.rate("adopted")[0] >= low.rate("adopted")[0] + 0.2
    assert low.iou_interval()[0] >= high.iou_interval()[0] + 0.02


def test_the_community_order_moves_with_nu_far_less_than_ours(claim_cells):
    # bench, k 0.3/0.6, nu 0.25 -> 0.75: ours adopts 0.625 -> 0.861 (+0.236), the community order 0.833
    # -> 0.861 (+0.028; IoU 0.699 -> 0.696): mixing into the model's input only leaves the result to the
    # prompt. Asserted: ours moves at least 0.1 more (half the bench's gap). Seed 0: ours 0.667 -> 0.792,
    # the community order 0.833 -> 0.833
    ours = [cell(claim_cells, name="magicmix", nu=nu).rate("adopted")[0] for nu in (0.25, 0.75)]
    community = [cell(claim_cells, name="community", nu=nu) for nu in (0.25, 0.75)]
    community_move = abs(community[1].rate("adopted")[0] - community[0].rate("adopted")[0])
    assert ours[1] - ours[0] >= community_move + 0.1
    assert community_move <= 0.1
    assert abs(community[1].iou_interval()[0] - community[0].iou_interval()[0]) <= 0.02


def test_in_a_mask_the_outside_is_the_layout_image_and_the_inside_mixes(claim_cells):
    # bench: beyond the band 0.0043 (worst 0.0098) against the VAE round trip's 0.0038, unmasked 0.0338;
    # the pattern read in the left half adopted 0.736 [0.624, 0.824] in the mask, 0.833 unmasked. Seed 0:
    # 0.0043 (worst 0.0092) / 0.0038 / 0.0317, adopted 0.708 / 0.750.
    masked, unmasked = cell(claim_cells, name="magicmix", region="mask"), cell(claim_cells, name="magicmix", region="read")
    outside, round_trip = np.mean(masked.outside_errors), np.mean(masked.round_trip_errors)
    assert outside <= round_trip + OUTSIDE_MARGIN, f"outside the mask {outside:.4f}, the VAE round trip {round_trip:.4f}"
    assert max(masked.outside_errors) <= 3 * round_trip
    assert np.mean(unmasked.outside_errors) >= 2 * round_trip, "without a mask the right half changes (else this shows nothing)"
    # Inside, the content is taken up (the layout's own pattern is never the content's), a little less
    # often than without a mask: the kept half shows the layout's pattern, and the world has no shape
    # of two patterns (docs/method.md, regional). At least half (the bench's lower end: 0.624).
    assert masked.rate("adopted")[0] >= 0.5
    assert masked.iou_interval()[0] >= unmasked.iou_interval()[0]


def test_one_of_two_scenes_mixes_in_its_mask_and_the_other_is_kept(claim_cells):
    # bench: beyond the band 0.0019 (worst 0.0025) against the VAE round trip's 0.0019, unmasked 0.0247;
    # the second scene keeps its pattern in 1.000 [0.949, 1.000], unmasked 0.389; the first scene adopts
    # the content in 0.833 [0.731, 0.902] in the mask, unmasked on the same canvas 0.833 [0.731, 0.902],
    # unmasked on the single scenes 0.861 [0.763, 0.923]. Seed 0: 0.0019 (worst 0.0025) / 0.0245, second
    # scene 1.000 / 0.375, adopted 0.792 / 0.792.
    masked = cell(claim_cells, name="magicmix", region="scenes")
    unmasked = cell(claim_cells, name="magicmix", region="scenes_read")
    outside, round_trip = np.mean(masked.outside_errors), np.mean(masked.round_trip_errors)
    assert outside <= round_trip + OUTSIDE_MARGIN, f"beyond the band {outside:.4f}, the VAE round trip {round_trip:.4f}"
    assert max(masked.outside_errors) <= 2 * round_trip
    assert np.mean(masked.others_kept) >= 0.95, "the second scene outside the mask kept its own pattern"
    assert np.mean(unmasked.outside_errors) >= 2 * round_trip and np.mean(unmasked.others_kept) <= 0.7, \
        "without a mask the second scene changes too (else this shows nothing)"
    # inside, within the bench's interval of the unmasked run on the same canvas (its lower end)
    assert masked.rate("adopted")[0] >= 0.731, f"adopted in the mask {masked.rate('adopted')[0]:.3f}"


def test_a_prompt_switch_between_k_max_and_k_min_changes_the_content_while_the_silhouette_stays(claim_cells):
    # bench (text layout): a switch at 0.4 (between k_min 0.3 and k_max 0.6) keeps the silhouette in
    # 0.583 [0.468, 0.690], adopts the pattern in 0.444 [0.335, 0.559], both 0.236 [0.153, 0.346]; a
    # switch at 0.8 (above k_max): kept 0.083 [0.039, 0.170], both 0.069 [0.030, 0.152]. Seed 0: kept
    # 0.583 / 0.000, adopted 0.375, both 0.208 / 0.000. The order holds in part on this model: it decides
    # silhouette and pattern at overlapping levels.
    inside, early = (cell(claim_cells, M.TEXT, name="switch", switch_at=level) for level in (0.4, 0.8))
    assert inside.rate("kept")[0] >= 0.4, "the silhouette stays"
    assert inside.rate("adopted")[0] >= 0.2, "the content changes (the layout prompt's pattern is never the content's)"
    assert inside.rate("kept")[0] >= early.rate("kept")[0] + 0.3
    assert inside.rate("both")[0] >= early.rate("both")[0] + 0.1
