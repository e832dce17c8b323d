"""The demo model's targets and the quality bench's claims, on a CI-sized sample.

The bench (bash tools/run_quality_bench.sh, bench/QUALITY.md) holds the big sample: 24 pairs x 3 seeds.
These tests run the same code (bench/quality) on its 24 pairs at seed 0, so their values are the first
third of the bench's (bench/QUALITY.json holds them seed by seed). Each threshold is one of two kinds,
said where it is used:
- a comparison the bench makes beyond its 95 % intervals (the two rows' intervals are disjoint) is
  asserted at the gap between those intervals (the higher row's lower end minus the lower row's upper
  end): the smallest difference the bench's intervals allow;
- a bound that is not the bench's (a pixel error margin, "at least half") is described as what it is.
No threshold on a rate lies within one image (1/24 = 0.042) of the seed-0 value it is checked against;
each comment gives that value.
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
# most this much more (half an 8-bit level; not the bench's): the bench measures +0.0005 (half a shape)
# and +0.0000 (two scenes), runs without a mask +0.030 and +0.023.
OUTSIDE_MARGIN = 0.002


def interval_gap(higher: tuple[float, float], lower: tuple[float, float]) -> float:
    """The threshold for a difference the bench shows beyond its intervals (see the module's docstring):
    the higher row's lower end minus the lower row's upper end, each interval given as (low, high)."""
    gap = higher[0] - lower[1]
    assert gap > 0, f"the bench's intervals {higher} and {lower} overlap: no claim to make"
    return gap


@pytest.fixture(scope="module")
def claim_cells(twin):
    """The cells the claims below compare, run once (each cell's seed-0 values printed)."""
    cells = [
        (M.IMAGE, M.Method("magicmix")), (M.IMAGE, M.Method("img2img")),
        (M.IMAGE, M.Method("magicmix", nu=0.25, k_min=0.1, k_max=0.4)),
        (M.IMAGE, M.Method("magicmix", nu=0.9, k_min=0.1, k_max=0.4)),
        (M.IMAGE, M.Method("community", nu=0.25)), (M.IMAGE, M.Method("community", nu=0.75)),
        (M.IMAGE, M.Method("magicmix", nu=0.25)),  # nu 0.75 at k 0.3/0.6 is the first cell
        (M.IMAGE, M.Method("magicmix", region="mask")), (M.IMAGE, M.Method("magicmix", region="read")),
        (M.IMAGE, M.Method("img2img", region="mask")),
        (M.IMAGE, M.Method("magicmix", region="scenes")), (M.IMAGE, M.Method("magicmix", region="scenes_read")),
        (M.IMAGE, M.Method("img2img", region="scenes")),
        (M.TEXT, M.Method("switch", switch_at=0.8)), (M.TEXT, M.Method("switch", switch_at=0.4)),
        (M.TEXT, M.Method("magicmix", nu=0.0, k_min=0.4, k_max=0.8)),
    ]
    results = M.run_cells(twin, M.make_pairs(CLAIM_PAIRS), [0], cells, progress=lambda _: None)
    for (mode, method), r in zip(cells, results):
        print(f"{mode} {method.label()}: IoU {r.iou_interval()[0]:.3f}, kept {r.rate('kept')[0]:.3f}, "
              f"adopted {r.rate('adopted')[0]:.3f}, both {r.rate('both')[0]:.3f}")
    return {(mode, method): r for (mode, method), r in zip(cells, results)}


def cell(cells, mode=M.IMAGE, **kw):
    return cells[(mode, M.Method(**kw))]


def mean_iou(result) -> float:
    return result.iou_interval()[0]  # (mean, lower end, upper end)


def test_magicmix_keeps_the_layout_better_than_img2img_from_the_same_k_max(claim_cells):
    ours, img2img = cell(claim_cells, name="magicmix"), cell(claim_cells, name="img2img")
    # bench: IoU 0.807 [0.785, 0.828] against 0.696 [0.668, 0.724] (gap 0.061), layout kept 0.250 [0.164,
    # 0.361] against 0.056 [0.022, 0.134] (gap 0.030). Seed 0: IoU 0.792 against 0.695 (+0.097), kept 0.208
    # against 0.083 (+0.125)
    assert mean_iou(ours) - mean_iou(img2img) >= interval_gap((0.785, 0.828), (0.668, 0.724))
    assert ours.rate("kept")[0] - img2img.rate("kept")[0] >= interval_gap((0.164, 0.361), (0.022, 0.134))
    # content adopted 0.861 [0.763, 0.923] against 0.889 [0.796, 0.943]: the bench cannot tell them apart.
    # Asserted (not the bench's rule): ours loses at most 0.180, the most the intervals allow (0.943 - 0.763).
    # Seed 0: 0.792 against 0.875 (-0.083)
    assert ours.rate("adopted")[0] >= img2img.rate("adopted")[0] - 0.180


def test_raising_nu_raises_content_adoption_and_lowers_layout_kept(claim_cells):
    # bench, k 0.1/0.4: nu 0.25 -> 0.9 moves adoption 0.458 [0.348, 0.573] -> 0.722 [0.610, 0.812] (gap 0.037)
    # and IoU 0.903 [0.893, 0.914] -> 0.844 [0.826, 0.862] (gap 0.031). Seed 0: adopted 0.458 -> 0.792
    # (+0.334), IoU 0.902 -> 0.832 (-0.070)
    low = cell(claim_cells, name="magicmix", nu=0.25, k_min=0.1, k_max=0.4)
    high = cell(claim_cells, name="magicmix", nu=0.9, k_min=0.1, k_max=0.4)
    assert high.rate("adopted")[0] - low.rate("adopted")[0] >= interval_gap((0.610, 0.812), (0.348, 0.573))
    assert mean_iou(low) - mean_iou(high) >= interval_gap((0.893, 0.914), (0.826, 0.862))


def test_the_community_order_moves_with_nu_far_less_than_ours(claim_cells):
    # bench, k 0.3/0.6, nu 0.25 -> 0.75: ours adopts 0.625 [0.510, 0.728] -> 0.861 [0.763, 0.923] (gap
    # 0.035), the community order 0.833 -> 0.861 (+0.028, the intervals overlap; IoU 0.699 -> 0.696): mixing
    # into the model's input only leaves the result to the prompt. Seed 0: ours 0.667 -> 0.792 (+0.125), the
    # community order 0.833 -> 0.833 (0.000; IoU 0.694 -> 0.692)
    ours = [cell(claim_cells, name="magicmix", nu=nu).rate("adopted")[0] for nu in (0.25, 0.75)]
    community = [cell(claim_cells, name="community", nu=nu) for nu in (0.25, 0.75)]
    community_move = abs(community[1].rate("adopted")[0] - community[0].rate("adopted")[0])
    # ours moves more than the community's by at least the gap between our two rows' intervals
    assert ours[1] - ours[0] - community_move >= interval_gap((0.763, 0.923), (0.510, 0.728))
    # not the bench's rule: the community order's adoption moves by at most 0.1 (under 3 images of 24) and
    # its IoU by at most 0.02 (the bench: 0.003)
    assert community_move <= 0.1
    assert abs(mean_iou(community[1]) - mean_iou(community[0])) <= 0.02


def test_in_a_mask_the_outside_is_the_layout_image_and_the_inside_mixes(claim_cells):
    # bench: beyond the band 0.0043 (worst 0.0098) against the VAE round trip's 0.0038, unmasked 0.0338;
    # the pattern read in the left half adopted 0.736 [0.624, 0.824] in the mask, 0.833 unmasked. Seed 0:
    # 0.0043 (worst 0.0092) / 0.0038 / 0.0317, adopted 0.708 / 0.750.
    masked = cell(claim_cells, name="magicmix", region="mask")
    unmasked = cell(claim_cells, name="magicmix", region="read")
    outside, round_trip = np.mean(masked.outside_errors), np.mean(masked.round_trip_errors)
    assert outside <= round_trip + OUTSIDE_MARGIN, \
        f"outside the mask {outside:.4f}, the VAE round trip {round_trip:.4f}"
    # described as what they are: the worst image within 3 round trips; without a mask at least 2 (seed 0:
    # 2.4 and 8.3 round trips)
    assert max(masked.outside_errors) <= 3 * round_trip
    assert np.mean(unmasked.outside_errors) >= 2 * round_trip, \
        "without a mask the right half changes (else this shows nothing)"
    # Inside, the content is taken up (the layout's own pattern is never the content's), a little less
    # often than without a mask: the kept half shows the layout's pattern, and the world has no shape
    # of two patterns (docs/method.md, regional). Asserted: at least half (not the bench's rule; seed 0 0.708)
    assert masked.rate("adopted")[0] >= 0.5
    # and the silhouette is kept better than without the mask (half of it is the layout image): bench IoU
    # 0.881 [0.867, 0.895] against 0.807 [0.785, 0.828] (gap 0.039). Seed 0: 0.869 against 0.792 (+0.077)
    assert mean_iou(masked) - mean_iou(unmasked) >= interval_gap((0.867, 0.895), (0.785, 0.828))


def test_in_a_mask_magicmix_keeps_the_silhouette_better_than_masked_img2img(claim_cells):
    # The regional baseline: KSamplerAdvanced from the same k_max with the same mask as the latent's
    # noise_mask. Both keep the outside (the mask does that); inside, MagicMix keeps the layout's silhouette
    # where img2img redraws it. bench IoU, half a shape: 0.881 [0.867, 0.895] against 0.833 [0.813, 0.853]
    # (gap 0.014); one of two scenes: 0.735 [0.701, 0.770] against 0.607 [0.566, 0.647] (gap 0.054). Seed 0:
    # 0.869 against 0.825 (+0.044), 0.736 against 0.617 (+0.119); img2img beyond the band 0.0045 and 0.0019
    # against the round trips 0.0038 and 0.0019
    gaps = {"mask": interval_gap((0.867, 0.895), (0.813, 0.853)),
            "scenes": interval_gap((0.701, 0.770), (0.566, 0.647))}
    for region, gap in gaps.items():
        ours, img2img = (cell(claim_cells, name=name, region=region) for name in ("magicmix", "img2img"))
        assert mean_iou(ours) - mean_iou(img2img) >= gap, region
        outside, round_trip = np.mean(img2img.outside_errors), np.mean(img2img.round_trip_errors)
        assert outside <= round_trip + OUTSIDE_MARGIN, f"{region}: masked img2img keeps the outside too"


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
    # described as what they are: the worst image within 2 round trips, unmasked at least 2 (seed 0: 1.3
    # and 12.6 round trips); the second scene kept in >= 95 % masked, <= 70 % unmasked (seed 0: 1.000 and 0.375)
    assert max(masked.outside_errors) <= 2 * round_trip
    assert np.mean(masked.others_kept) >= 0.95, "the second scene outside the mask kept its own pattern"
    assert np.mean(unmasked.outside_errors) >= 2 * round_trip and np.mean(unmasked.others_kept) <= 0.7, \
        "without a mask the second scene changes too (else this shows nothing)"
    # inside, within the bench's interval of the unmasked run on the same canvas: its lower end 0.731
    # (seed 0: 0.792, 0.061 above)
    assert masked.rate("adopted")[0] >= 0.731, f"adopted in the mask {masked.rate('adopted')[0]:.3f}"


def test_text_layout_at_nu_0_is_the_prompt_switch_at_k_min(claim_cells):
    # What ties the switch-level claim below to the pack: MagicMix text layout at nu 0 takes the layout
    # prompt's own trajectory down to K_min, then the content prompt; so from k_max 0.8 to k_min 0.4 it is
    # the switch at 0.4, result for result
    ours = cell(claim_cells, M.TEXT, name="magicmix", nu=0.0, k_min=0.4, k_max=0.8)
    switch = cell(claim_cells, M.TEXT, name="switch", switch_at=0.4)
    assert np.array_equal(ours.images[0], switch.images[0])
    assert ours.ious == switch.ious and ours.adopted == switch.adopted


def test_a_prompt_switch_between_k_max_and_k_min_changes_the_content_while_the_silhouette_stays(claim_cells):
    # The pack's text layout at nu 0 (test above) on this model. bench (text layout): a switch at 0.4
    # (between k_min 0.3 and k_max 0.6) keeps the silhouette in 0.583 [0.468, 0.690], adopts the pattern in
    # 0.444 [0.335, 0.559], both 0.236 [0.153, 0.346]; a switch at 0.8 (above k_max): kept 0.083 [0.039,
    # 0.170], both 0.069 [0.030, 0.152]. Seed 0: kept 0.583 / 0.000, adopted 0.375, both 0.208 / 0.000.
    # The order holds in part on this model: it decides silhouette and pattern at overlapping levels.
    inside, early = (cell(claim_cells, M.TEXT, name="switch", switch_at=level) for level in (0.4, 0.8))
    # kept >= 0.4 and adopted >= 0.2 are not the bench's rule: "the silhouette stays in a good part of the
    # results, the content changes in some" (seed 0: 0.183 and 0.175 above them)
    assert inside.rate("kept")[0] >= 0.4, "the silhouette stays"
    assert inside.rate("adopted")[0] >= 0.2, "the content changes (the layout prompt's pattern is never the content's)"
    # beyond the intervals: gaps 0.298 (kept) and 0.001 (both); seed 0: +0.583 and +0.208
    assert inside.rate("kept")[0] - early.rate("kept")[0] >= interval_gap((0.468, 0.690), (0.039, 0.170))
    assert inside.rate("both")[0] - early.rate("both")[0] >= interval_gap((0.153, 0.346), (0.030, 0.152))
