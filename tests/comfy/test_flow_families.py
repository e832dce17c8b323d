"""MagicMix on the flow and DiT families people run today, each a tiny net of its real ComfyUI model class.

Families (magicmix_dev/tiny_flow_models.py): Flux dev (FluxGuidance 3.5, cfg 1), Flux schnell, Flux 2,
Chroma, SD3.5, Qwen-Image (5-D single-frame latents), HiDream, Lumina 2 and AuraFlow. Their
``model_sampling`` (ModelSamplingFlux, discrete flow at the family's shift and multiplier), latent
format and conditioning are ComfyUI's own, so what is checked here is the pack's arithmetic on each:

- nu = 1 is KSamplerAdvanced's img2img from step T - K_max (no mix changes anything), image and text
  layout, and a batch of 2 from a layout of 1;
- nu = 0 lands the layout phase on the layout noised to K_min (the family's own noise_scaling);
- a binary mask keeps the layout outside it;
- a layout made for another family or at another shift is refused, naming the input;
- cfg > 1 on a guidance-distilled model (Flux dev) logs one warning per run; cfg 1 and schnell none.

The comparisons are ComfyUI's sampler against itself with the same weights, so they hold to float
rounding: RELATIVE_TOLERANCE is 1e-5 of the largest value, and the runs agree far inside it. Cost: 9
families x 6 tests of 8-step runs on 8 x 8 latents (64 px) and nets of 0.1-1.5 M parameters: about 10 s.
"""
import logging

import pytest
import torch

from magicmix_dev.comparisons import relative_error
from magicmix_dev.tiny_flow_models import TINY_FLOW_FAMILIES

TOTAL_STEPS = 8
K_MIN, K_MAX = 0.25, 0.75
K_MIN_LEVEL, K_MAX_LEVEL = 2, 6  # round-half-up of 0.25 * 8 and 0.75 * 8, written out
SEED = 5
NU = 0.6
LATENT_SIDE = 8  # 64 px
RELATIVE_TOLERANCE = 1e-5
# Families distilled to run without real CFG take cfg 1 (their guidance, if any, is FluxGuidance's);
# the others get real CFG, so the negative prompt takes part.
DISTILLED = {"flux_dev", "flux_schnell", "flux2"}
# A family whose layouts this one must refuse (a different sampling type, schedule or latent).
OTHER_FAMILY = {"flux_dev": "sd35", "flux_schnell": "lumina2", "flux2": "flux_dev", "chroma": "auraflow",
                "sd35": "flux_dev", "qwen_image": "flux_dev", "hidream": "sd35", "lumina2": "hidream",
                "auraflow": "sd35"}


@pytest.fixture(scope="module")
def nodes(comfy_host):
    return comfy_host.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module", params=list(TINY_FLOW_FAMILIES))
def tiny(request, comfy_host):
    return TINY_FLOW_FAMILIES[request.param]()


def cfg_of(tiny):
    return 1.0 if tiny.name in DISTILLED else 2.0


def image_latent(tiny, batch=1, frames_axis=None, seed=1):
    """A random non-zero LATENT of the family's shape (stands in for VAEEncode's output).

    Qwen-Image's VAEEncode gives B x C x 1 x H x W (a one-frame video latent); ``frames_axis`` False
    gives the 4-D form a user may connect instead (KSampler unsqueezes it).
    """
    samples = tiny.latent(LATENT_SIDE, LATENT_SIDE, batch=batch, seed=seed)["samples"]
    if frames_axis is None:
        frames_axis = tiny.name == "qwen_image"
    return {"samples": samples.unsqueeze(2) if frames_axis else samples}


def empty_latent(tiny):
    return {"samples": torch.zeros_like(image_latent(tiny)["samples"])}


def left_half_mask():
    """64 x 64 px, 1 (mix) on the left half: latent columns 0-3 mixed, 4-7 kept (edge on a cell border)."""
    mask = torch.zeros((1, 64, 64))
    mask[:, :, :32] = 1.0
    return mask


KEPT = (Ellipsis, slice(4, None))
MIXED = (Ellipsis, slice(None, 4))


def run(nodes, tiny, latent, nu, model=None, cfg=None, batch_size=1, mask=None, layout_prompt=False):
    """The three nodes chained; returns (layout, layout phase samples, final samples)."""
    model = model or tiny.model
    cfg = cfg_of(tiny) if cfg is None else cfg
    extra = dict(layout_positive=tiny.conditioning(100), layout_negative=tiny.negative) if layout_prompt else {}
    layout = nodes["MagicMixLayoutNoise"].execute(model, latent, SEED, TOTAL_STEPS, "normal", K_MIN, K_MAX,
                                                  batch_size, cfg, "euler", mask=mask, **extra).result[0]
    mixed = nodes["MagicMixInterpolatedSampler"].execute(model, layout, tiny.positive, tiny.negative, cfg, "euler",
                                                         nu).result[0]
    final = nodes["MagicMixConditionalSampler"].execute(model, layout, mixed, tiny.positive, tiny.negative, cfg,
                                                        "euler").result[0]
    return layout, mixed["samples"], final["samples"]


def ksampler_advanced(nodes, tiny, positive, latent, start, end, add_noise, leftover, model=None):
    return nodes["KSamplerAdvanced"]().sample(
        model or tiny.model, "enable" if add_noise else "disable", SEED, TOTAL_STEPS, cfg_of(tiny), "euler",
        "normal", positive, tiny.negative, latent, start, end, "enable" if leftover else "disable")[0]


def counting(model):
    """A clone of ``model`` that records each model call's batch size and ``guidance`` cond."""
    calls = []
    counted = model.clone()

    def wrapper(apply_model, args):
        guidance = args["c"].get("guidance")
        calls.append((args["input"].shape[0], None if guidance is None else guidance.flatten().tolist()))
        return apply_model(args["input"], args["timestep"], **args["c"])

    counted.set_model_unet_function_wrapper(wrapper)
    return counted, calls


def test_nu_one_is_ksampler_advanced_img2img_from_k_max(nodes, tiny):
    latent = image_latent(tiny)
    _, _, got = run(nodes, tiny, latent, nu=1.0)
    expected = ksampler_advanced(nodes, tiny, tiny.positive, latent, TOTAL_STEPS - K_MAX_LEVEL, 10000,
                                 add_noise=True, leftover=False)["samples"]
    assert got.shape == expected.shape == latent["samples"].shape
    assert relative_error(got, expected) <= RELATIVE_TOLERANCE
    # ... and nu < 1 is not img2img: the comparison could fail.
    _, _, mixed = run(nodes, tiny, latent, nu=NU)
    assert relative_error(mixed, expected) > 100 * RELATIVE_TOLERANCE


def test_nu_zero_layout_phase_lands_on_the_layout_noised_to_k_min(nodes, tiny):
    latent = image_latent(tiny)
    layout, got, _ = run(nodes, tiny, latent, nu=0.0)
    model_sampling = tiny.model.get_model_object("model_sampling")
    sigma = layout.sigma_at_level(K_MIN_LEVEL)
    noise = torch.randn(latent["samples"].shape, generator=torch.Generator().manual_seed(SEED))  # KSampler's draw
    clean = tiny.model.model.process_latent_in(latent["samples"])
    expected = tiny.model.model.process_latent_out(
        model_sampling.inverse_noise_scaling(sigma, model_sampling.noise_scaling(sigma, noise, clean)))
    assert relative_error(got, expected) <= RELATIVE_TOLERANCE
    _, mixed, _ = run(nodes, tiny, latent, nu=NU)
    assert relative_error(mixed, expected) > 100 * RELATIVE_TOLERANCE


def test_text_layout_at_nu_one_is_the_two_chained_ksampler_advanced(nodes, tiny):
    # nu = 1: the layout prompt's branch from pure noise to level K_max, then the content prompt alone.
    empty = empty_latent(tiny)
    _, _, got = run(nodes, tiny, empty, nu=1.0, layout_prompt=True)
    switch = TOTAL_STEPS - K_MAX_LEVEL
    first = ksampler_advanced(nodes, tiny, tiny.conditioning(100), empty, 0, switch, add_noise=True, leftover=True)
    expected = ksampler_advanced(nodes, tiny, tiny.positive, first, switch, 10000, add_noise=False,
                                 leftover=False)["samples"]
    assert relative_error(got, expected) <= RELATIVE_TOLERANCE


def test_a_binary_mask_keeps_the_layout_outside(nodes, tiny):
    latent = image_latent(tiny)
    _, _, got = run(nodes, tiny, latent, nu=NU, mask=left_half_mask())
    layout_samples = latent["samples"]
    assert relative_error(got[KEPT], layout_samples[KEPT]) <= RELATIVE_TOLERANCE
    assert relative_error(got[MIXED], layout_samples[MIXED]) > 0.01, "inside the mask nothing was mixed"


def test_a_batch_of_two_from_one_layout_is_img2img_of_the_repeated_layout_at_nu_one(nodes, tiny):
    latent = image_latent(tiny)
    _, _, got = run(nodes, tiny, latent, nu=1.0, batch_size=2)
    repeated = {"samples": latent["samples"].repeat((2,) + (1,) * (latent["samples"].ndim - 1))}
    expected = ksampler_advanced(nodes, tiny, tiny.positive, repeated, TOTAL_STEPS - K_MAX_LEVEL, 10000,
                                 add_noise=True, leftover=False)["samples"]
    assert got.shape[0] == 2
    assert relative_error(got, expected) <= RELATIVE_TOLERANCE
    assert relative_error(got[0], got[1]) > 0.01, "each batch item has its own noise"


def shifted(nodes, tiny):
    """The family's model through its usual ModelSampling node at another shift than its default."""
    import comfy.model_sampling
    model_sampling = tiny.model.get_model_object("model_sampling")
    if isinstance(model_sampling, comfy.model_sampling.ModelSamplingFlux):
        return nodes["ModelSamplingFlux"]().patch(tiny.model, 1.15, 0.5, 512, 512)[0]  # Flux's shift at 512 x 512
    if model_sampling.multiplier == 1.0:  # AuraFlow's timesteps (sigma, not 1000 sigma)
        return nodes["ModelSamplingAuraFlow"]().patch_aura(tiny.model, model_sampling.shift + 1.0)[0]
    return nodes["ModelSamplingSD3"]().patch(tiny.model, model_sampling.shift + 1.0)[0]


def test_a_layout_is_refused_by_another_family_and_at_another_shift(nodes, tiny):
    other = TINY_FLOW_FAMILIES[OTHER_FAMILY[tiny.name]]()
    for model, latent in ((other.model, image_latent(other)), (shifted(nodes, tiny), image_latent(tiny))):
        layout = nodes["MagicMixLayoutNoise"].execute(model, latent, SEED, TOTAL_STEPS, "normal", K_MIN, K_MAX, 1,
                                                      1.0, "euler").result[0]
        # the pack's MagicMixInputError (a ValueError; the copy ComfyUI loaded, not importable here)
        with pytest.raises(ValueError, match=r"^layout: ") as refused:
            nodes["MagicMixInterpolatedSampler"].execute(tiny.model, layout, tiny.positive, tiny.negative,
                                                         cfg_of(tiny), "euler", NU)
        assert type(refused.value).__name__ == "MagicMixInputError" and "same model" in str(refused.value)


def test_qwen_image_takes_a_4d_latent_as_ksampler_does(nodes, comfy_host):
    tiny = TINY_FLOW_FAMILIES["qwen_image"]()
    five_d = run(nodes, tiny, image_latent(tiny, frames_axis=True), nu=NU)[2]
    four_d = run(nodes, tiny, image_latent(tiny, frames_axis=False), nu=NU)[2]
    assert five_d.ndim == 5 and torch.equal(four_d, five_d)


def test_flux_dev_at_cfg_one_makes_one_model_call_per_step_with_flux_guidance(nodes, comfy_host):
    tiny = TINY_FLOW_FAMILIES["flux_dev"](guidance=3.5)
    model, calls = counting(tiny.model)
    run(nodes, tiny, image_latent(tiny), nu=NU, model=model, cfg=1.0)
    assert calls == [(1, [3.5])] * K_MAX_LEVEL  # euler: one call per step from level K_max, no negative batch


DISTILLED_WARNING = "guidance-distilled"


def warnings_of(caplog):
    return [record.getMessage() for record in caplog.records
            if record.levelno == logging.WARNING and DISTILLED_WARNING in record.getMessage()]


@pytest.mark.parametrize("family, cfg, expected_warnings", [("flux_dev", 3.0, 1), ("flux_dev", 1.0, 0),
                                                              ("flux_schnell", 3.0, 0), ("sd35", 3.0, 0)])
def test_cfg_above_one_on_a_guidance_distilled_model_warns_once_per_run(nodes, comfy_host, caplog, family, cfg,
                                                                         expected_warnings):
    tiny = TINY_FLOW_FAMILIES[family]()
    with caplog.at_level(logging.WARNING):
        run(nodes, tiny, image_latent(tiny), nu=NU, cfg=cfg)  # the three nodes
    chained = warnings_of(caplog)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        nodes["MagicMix"].execute(tiny.model, tiny.positive, tiny.negative, image_latent(tiny), SEED, TOTAL_STEPS, cfg,
                                  "euler", "normal", K_MIN, K_MAX, NU, 1)
    one_node = warnings_of(caplog)
    assert len(chained) == len(one_node) == expected_warnings
    for message in chained + one_node:
        assert "cfg is 3" in message and "FluxGuidance" in message


@pytest.mark.parametrize("cfg, expected_warnings", [(3.0, 1), (1.0, 0)])
def test_the_magicmix_sampler_warns_from_the_guiders_cfg(nodes, comfy_host, caplog, cfg, expected_warnings):
    # SamplerCustomAdvanced's path: the cfg lives in the GUIDER (CFGGuider), not in a MagicMix input.
    import comfy.samplers
    tiny = TINY_FLOW_FAMILIES["flux_dev"]()
    guider = comfy.samplers.CFGGuider(tiny.model)
    guider.set_conds(tiny.positive, tiny.negative)
    guider.set_cfg(cfg)
    sampler = nodes["MagicMixSampler"].execute(comfy.samplers.sampler_object("euler"), K_MIN, K_MAX, NU).result[0]
    sigmas = comfy.samplers.calculate_sigmas(tiny.model.get_model_object("model_sampling"), "normal", TOTAL_STEPS)
    latent = image_latent(tiny)["samples"]
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(SEED))
    with caplog.at_level(logging.WARNING):
        guider.sample(noise, latent, sampler, sigmas.cpu(), seed=SEED)
    assert len(warnings_of(caplog)) == expected_warnings
