"""Two experts (WAN 2.2 A14B: a high-noise and a low-noise model) switched at any step, as two KSamplerAdvanced.

The experts are two tiny WAN 2.1-class nets (WAN 2.2 A14B is that class) of the same architecture and
schedule with different random weights (magicmix_dev/tiny_video_models.py). At nu = 1 MagicMix is plain
sampling, so each result has a reference made of ComfyUI's own KSamplerAdvanced runs, each on the
expert that owns its steps. 8 steps, k 0.25..0.75: the layout phase runs steps 2 to 6, the content
phase 6 to 8; a 3-frame latent of 4 x 4 cells. Cost: about 1.5 s on the shared 2 cores once the ComfyUI
host is loaded (the module, host load included: 8 s).
"""
import dataclasses

import pytest
import torch

from magicmix_dev.comparisons import assert_close_relative, relative_error
from magicmix_dev import tiny_video_models

TOTAL_STEPS = 8
K_MIN, K_MAX = 0.25, 0.75
LAYOUT_START, CONTENT_START = 2, 6  # schedule indices of levels round(0.75 * 8) = 6 and round(0.25 * 8) = 2
CFG = 3.0
SEED = 5
NU = 0.6
RELATIVE_TOLERANCE = 1e-5  # float32 rounding of the same operations in another order (measured below 1e-6)
LAYOUT_PROMPT_SEED = 100
NEVER = 10000  # switch_at_step's default


@pytest.fixture(scope="module")
def nodes(comfy_host):
    return comfy_host.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def experts(comfy_host):
    high, low = tiny_video_models.tiny_wan21_t2v(seed=0), tiny_video_models.tiny_wan21_t2v(seed=11)
    return high, low


def layout_video(high):
    return high.latent(3, 4, 4, seed=1)


def run(nodes, high, low, latent, switch, nu=1.0, text=False, mask=None, connect_low=True):
    """The three nodes chained, the low expert on each; returns (layout, layout phase LATENT, final LATENT)."""
    extra = dict(layout_positive=high.conditioning(LAYOUT_PROMPT_SEED), layout_negative=high.negative) if text else {}
    low_model = low.model if connect_low else None
    layout = nodes["MagicMixLayoutNoise"].execute(high.model, latent, SEED, TOTAL_STEPS, "normal", K_MIN, K_MAX, 1,
                                                  CFG, "euler", mask=mask, model_low_noise=low_model,
                                                  switch_at_step=switch, **extra).result[0]
    mixed = nodes["MagicMixInterpolatedSampler"].execute(high.model, layout, high.positive, high.negative, CFG,
                                                         "euler", nu, model_low_noise=low_model).result[0]
    final = nodes["MagicMixConditionalSampler"].execute(high.model, layout, mixed, high.positive, high.negative, CFG,
                                                        "euler", model_low_noise=low_model).result[0]
    return layout, mixed, final


def chained_ksampler_advanced(nodes, high, low, positive, latent, start, end, switch, add_noise, leftover=False):
    """KSamplerAdvanced from step ``start`` to ``end``, split at ``switch``: the high expert before, the low after."""
    bounds = [start] + [s for s in (switch,) if start < s < end] + [end]
    samples = latent["samples"]
    for i, (first, last) in enumerate(zip(bounds, bounds[1:])):
        model = high.model if first < switch else low.model
        samples = nodes["KSamplerAdvanced"]().sample(
            model, "enable" if add_noise and i == 0 else "disable", SEED, TOTAL_STEPS, CFG, "euler", "normal",
            positive, high.negative, {"samples": samples}, first, last,
            "enable" if leftover or last < end else "disable")[0]["samples"]
    return samples


# s = 1: the whole run on the low expert; 3 and 5: inside the layout phase; 6: at K_min; 7: in the content phase
@pytest.mark.parametrize("switch", [1, 3, 5, 6, 7])
def test_image_layout_at_nu_one_is_two_ksampler_advanced_split_at_the_switch(nodes, experts, switch):
    high, low = experts
    latent = layout_video(high)
    _, _, final = run(nodes, high, low, latent, switch)
    expected = chained_ksampler_advanced(nodes, high, low, high.positive, latent, LAYOUT_START, TOTAL_STEPS, switch,
                                         add_noise=True)
    assert_close_relative(final["samples"], expected, RELATIVE_TOLERANCE)
    # the experts differ enough for the switch to matter: the high expert alone gives another video
    high_only = chained_ksampler_advanced(nodes, high, low, high.positive, latent, LAYOUT_START, TOTAL_STEPS, NEVER,
                                          add_noise=True)
    assert relative_error(final["samples"], high_only) > 100 * RELATIVE_TOLERANCE


def sampler_space(model, samples, sigma):
    """A LATENT with leftover noise (KSamplerAdvanced's output) as the sampler sees it (the layout's trajectory)."""
    model_sampling = model.get_model_object("model_sampling")
    latent = model.model.process_latent_in(samples)
    return model_sampling.noise_scaling(sigma, torch.zeros_like(latent), latent)


@pytest.mark.parametrize("switch", [1, 4, 7])  # before the layout phase, inside it, in the content phase
def test_text_layout_at_nu_one_runs_each_step_on_the_expert_that_owns_it(nodes, experts, switch):
    high, low = experts
    empty = high.empty_latent(3, 4, 4)
    layout, _, final = run(nodes, high, low, empty, switch, text=True)
    layout_positive = high.conditioning(LAYOUT_PROMPT_SEED)
    # the branch: the layout prompt's run from step 0, each step on its expert, kept down to K_min
    branch = chained_ksampler_advanced(nodes, high, low, layout_positive, empty, 0, CONTENT_START, switch,
                                       add_noise=True, leftover=True)
    sigma = layout.sigmas[CONTENT_START]
    assert_close_relative(layout.trajectory[TOTAL_STEPS - CONTENT_START], sampler_space(high.model, branch, sigma),
                          RELATIVE_TOLERANCE)
    # the content: from the branch at K_max, each step on its expert
    at_k_max = chained_ksampler_advanced(nodes, high, low, layout_positive, empty, 0, LAYOUT_START, switch,
                                         add_noise=True, leftover=True)
    expected = chained_ksampler_advanced(nodes, high, low, high.positive, {"samples": at_k_max}, LAYOUT_START,
                                         TOTAL_STEPS, switch, add_noise=False)
    assert_close_relative(final["samples"], expected, RELATIVE_TOLERANCE)


def test_the_all_in_one_node_gives_the_three_nodes_result(nodes, experts):
    high, low = experts
    latent = layout_video(high)
    _, _, three = run(nodes, high, low, latent, 4, nu=NU)
    one = nodes["MagicMix"].execute(high.model, high.positive, high.negative, latent, SEED, TOTAL_STEPS, CFG, "euler",
                                    "normal", K_MIN, K_MAX, NU, 1, model_low_noise=low.model,
                                    switch_at_step=4).result[0]
    assert torch.equal(one["samples"], three["samples"])


def test_without_a_switch_the_result_is_one_models(nodes, experts):
    high, low = experts
    latent = layout_video(high)
    for text in (False, True):
        source = high.empty_latent(3, 4, 4) if text else latent
        _, _, today = run(nodes, high, low, source, NEVER, nu=NU, text=text, connect_low=False)
        _, _, unused = run(nodes, high, low, source, NEVER, nu=NU, text=text)
        assert torch.equal(unused["samples"], today["samples"]), "a connected expert that owns no step changes nothing"
        # switch at 0: every step on the low expert, as the nodes give with it as their only model
        _, _, at_zero = run(nodes, high, low, source, 0, nu=NU, text=text)
        low_as_model = dataclasses.replace(high, model=low.model)  # the same prompts, the low expert's weights
        _, _, low_only = run(nodes, low_as_model, high, source, NEVER, nu=NU, text=text, connect_low=False)
        assert torch.equal(at_zero["samples"], low_only["samples"])
        assert relative_error(at_zero["samples"], today["samples"]) > 100 * RELATIVE_TOLERANCE


def test_a_masked_run_keeps_the_layout_outside_across_the_switch(nodes, experts):
    high, low = experts
    latent = layout_video(high)
    mask = torch.zeros((1, 4, 4))
    mask[..., :2] = 1.0
    _, _, final = run(nodes, high, low, latent, 4, nu=NU, mask=mask)
    kept = latent["samples"][..., 2:]
    assert (final["samples"][..., 2:] - kept).abs().max().item() <= 1e-5 * kept.abs().max().item()
    assert (final["samples"][..., :2] - latent["samples"][..., :2]).abs().max().item() > 0.1
    # text layout keeps the layout prompt's own video outside: its branch runs on to step T, switching at 7
    empty = high.empty_latent(3, 4, 4)
    _, _, text_final = run(nodes, high, low, empty, 7, nu=NU, text=True, mask=mask)
    own = chained_ksampler_advanced(nodes, high, low, high.conditioning(LAYOUT_PROMPT_SEED), empty, 0, TOTAL_STEPS, 7,
                                    add_noise=True)
    assert relative_error(text_final["samples"][..., 2:], own[..., 2:]) <= RELATIVE_TOLERANCE
    assert (text_final["samples"][..., :2] - own[..., :2]).abs().max().item() > 0.1


def test_bad_experts_are_refused_naming_the_input(nodes, experts):
    high, low = experts
    latent = layout_video(high)
    hunyuan = tiny_video_models.tiny_hunyuan_video()
    layout_noise = nodes["MagicMixLayoutNoise"]
    with pytest.raises(ValueError, match=r"^model_low_noise: the two experts must be one model family"):
        layout_noise.execute(high.model, latent, SEED, TOTAL_STEPS, "normal", K_MIN, K_MAX, 1, CFG, "euler",
                             model_low_noise=hunyuan.model, switch_at_step=4)
    shifted = nodes["ModelSamplingSD3"]().patch(low.model, 5.0)[0]  # the template's shift 5 on one expert only
    with pytest.raises(ValueError, match=r"^model_low_noise: the two experts must share one noise schedule"):
        layout_noise.execute(high.model, latent, SEED, TOTAL_STEPS, "normal", K_MIN, K_MAX, 1, CFG, "euler",
                             model_low_noise=shifted, switch_at_step=4)
    layout = layout_noise.execute(high.model, latent, SEED, TOTAL_STEPS, "normal", K_MIN, K_MAX, 1, CFG, "euler",
                                  switch_at_step=4).result[0]
    sampler = nodes["MagicMixInterpolatedSampler"]
    with pytest.raises(ValueError, match=r"^model_low_noise: the two experts must be one model family"):
        sampler.execute(high.model, layout, high.positive, high.negative, CFG, "euler", NU,
                        model_low_noise=hunyuan.model)
    # a switch inside a node's steps needs the second expert there
    with pytest.raises(ValueError, match=r"^model_low_noise: the layout switches experts at step 4"):
        sampler.execute(high.model, layout, high.positive, high.negative, CFG, "euler", NU)
    assert "switch_at_step must be a whole number" in layout_noise.validate_inputs(switch_at_step=-1)
