"""Regional MagicMix on the real host: a mask limits the mix, the layout image is kept outside it.

The semantics are KSampler's own inpainting (ComfyUI's KSamplerX0Inpaint) in both phases: mask 1 =
mix, 0 = keep. Runs in-process on the generated SD1.5 checkpoint (64x64 px, 8x8 latents) and, for
inpainting checkpoints, on a tiny 9-channel UNet built from ComfyUI's own classes.
"""
import pytest
import torch

from magicmix_dev import tiny_models

TOTAL_STEPS = 12
K_MIN, K_MAX = 0.25, 0.75
K_MIN_LEVEL, K_MAX_LEVEL = 3, 9  # round-half-up of 0.25 * 12 and 0.75 * 12, written out
CFG = 5.0
SEED = 7
NU = 0.6
# the final latent outside a binary mask is the layout's, up to float rounding (max abs difference)
OUTSIDE_BOUND = 1e-5
LATENT_SIDE = 8
PATH_AGREEMENT = 1e-4


@pytest.fixture(scope="module")
def nodes(comfy_host):
    return comfy_host.NODE_CLASS_MAPPINGS


def left_half_mask():
    """A 64x64 px MASK (as LoadImage gives it): 1 (mix) on the left half, 0 (keep) on the right.

    Its edge lies on a latent cell border, so ComfyUI's bilinear resize to 8x8 keeps it binary:
    latent columns 0-3 are mixed, 4-7 kept.
    """
    mask = torch.zeros((1, 64, 64))
    mask[:, :, :32] = 1.0
    return mask


KEPT = (Ellipsis, slice(4, None))  # the latent columns outside the mask
MIXED = (Ellipsis, slice(None, 4))


def run(nodes, model, latent, positive, negative, sampler="euler", mask=None, seed=SEED, k_min=K_MIN, nu=NU,
        layout_prompts=None):
    """The three nodes chained; returns (layout, layout phase LATENT, final LATENT)."""
    extra = {} if layout_prompts is None else dict(layout_positive=layout_prompts[0], layout_negative=layout_prompts[1])
    layout = nodes["MagicMixLayoutNoise"].execute(model, latent, seed, TOTAL_STEPS, "normal", k_min, K_MAX, 1, CFG,
                                                  sampler, mask=mask, **extra).result[0]
    mixed = nodes["MagicMixInterpolatedSampler"].execute(model, layout, positive, negative, CFG, sampler, nu).result[0]
    final = nodes["MagicMixConditionalSampler"].execute(model, layout, mixed, positive, negative, CFG,
                                                        sampler).result[0]
    return layout, mixed, final


def layout_latent_at(model, layout, level):
    """The image layout's latent x_k of ``level`` as a LATENT (latent format removed, noise left in)."""
    model_sampling = model.get_model_object("model_sampling")
    sigma = layout.sigma_at_level(level)
    noised = model_sampling.noise_scaling(sigma, layout.noise, layout.clean_latent)
    return model.model.process_latent_out(model_sampling.inverse_noise_scaling(sigma, noised))


def max_difference(a, b):
    return (a - b).abs().max().item()


def counting(model):
    """A clone of ``model`` that counts its UNet evaluations (each a CFG batch)."""
    calls = []
    counted = model.clone()

    def wrapper(apply_model, args):
        calls.append(float(args["timestep"][0]))
        return apply_model(args["input"], args["timestep"], **args["c"])

    counted.set_model_unet_function_wrapper(wrapper)
    return counted, calls


@pytest.mark.parametrize("sampler", ["euler", "euler_ancestral", "dpmpp_2m"])
def test_outside_a_binary_mask_the_result_is_the_layout_image(nodes, sd15_model, prompts, layout_latent, sampler):
    model = sd15_model[0]
    _, _, final = run(nodes, model, layout_latent, prompts["content"], prompts["negative"], sampler, left_half_mask())
    outside = max_difference(final["samples"][KEPT], layout_latent["samples"][KEPT])
    assert outside <= OUTSIDE_BOUND, f"{sampler}: outside the mask {outside:.3g} from the layout latent"
    inside = max_difference(final["samples"][MIXED], layout_latent["samples"][MIXED])
    assert inside > 0.1, f"{sampler}: inside the mask the result is still the layout ({inside:.3g}): nothing was mixed"
    assert torch.equal(final["noise_mask"], left_half_mask().reshape(1, 1, 64, 64)), "the output LATENT keeps the mask"


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpm_2"])
def test_outside_the_state_is_the_layout_latent_of_every_level(nodes, sd15_model, prompts, layout_latent, sampler):
    # The layout phase stopped at level k is the run's state at k (deterministic samplers, same
    # prefix), so stopping it at each level from K_max - 1 to K_min shows the state at every level.
    model = sd15_model[0]
    for level in range(K_MAX_LEVEL - 1, K_MIN_LEVEL - 1, -1):
        k_min = level / TOTAL_STEPS
        layout = nodes["MagicMixLayoutNoise"].execute(model, layout_latent, SEED, TOTAL_STEPS, "normal", k_min, K_MAX,
                                                      1, CFG, sampler, mask=left_half_mask()).result[0]
        assert layout.levels.k_min_level == level
        state = nodes["MagicMixInterpolatedSampler"].execute(model, layout, prompts["content"], prompts["negative"],
                                                             CFG, sampler, NU).result[0]["samples"]
        expected = layout_latent_at(model, layout, level)
        bound = OUTSIDE_BOUND * max(1.0, expected.abs().max().item())
        assert max_difference(state[KEPT], expected[KEPT]) <= bound, f"{sampler}: level {level}"
        assert max_difference(state[MIXED], expected[MIXED]) > 0.1, f"{sampler}: level {level} not mixed inside"


@pytest.mark.parametrize("mode", ["image", "text"])
def test_an_all_one_mask_is_bit_identical_to_no_mask(nodes, sd15_model, prompts, layout_latent, mode):
    model = sd15_model[0]
    latent = layout_latent if mode == "image" else {"samples": torch.zeros_like(layout_latent["samples"])}
    layout_prompts = None if mode == "image" else (prompts["layout"], prompts["negative"])
    _, _, plain = run(nodes, model, latent, prompts["content"], prompts["negative"], layout_prompts=layout_prompts)
    _, _, masked = run(nodes, model, latent, prompts["content"], prompts["negative"], mask=torch.ones((1, 64, 64)),
                       layout_prompts=layout_prompts)
    assert torch.equal(plain["samples"], masked["samples"])


def test_an_all_zero_mask_gives_the_layout_image(nodes, sd15_model, prompts, layout_latent):
    _, _, final = run(nodes, sd15_model[0], layout_latent, prompts["content"], prompts["negative"],
                      mask=torch.zeros((1, 64, 64)))
    assert max_difference(final["samples"], layout_latent["samples"]) <= OUTSIDE_BOUND


def test_a_noise_mask_on_the_layout_latent_works_as_the_mask_input_and_the_input_wins(nodes, sd15_model, prompts,
                                                                                        layout_latent):
    model = sd15_model[0]
    with_noise_mask = nodes["SetLatentNoiseMask"]().set_mask(layout_latent, left_half_mask())[0]
    _, _, from_latent = run(nodes, model, with_noise_mask, prompts["content"], prompts["negative"])
    _, _, from_input = run(nodes, model, layout_latent, prompts["content"], prompts["negative"], mask=left_half_mask())
    assert torch.equal(from_latent["samples"], from_input["samples"])
    _, _, input_wins = run(nodes, model, with_noise_mask, prompts["content"], prompts["negative"],
                           mask=torch.zeros((1, 64, 64)))
    assert max_difference(input_wins["samples"], layout_latent["samples"]) <= OUTSIDE_BOUND


def test_same_seed_same_result_other_seed_other_inside_same_outside(nodes, sd15_model, prompts, layout_latent):
    model = sd15_model[0]
    runs = [run(nodes, model, layout_latent, prompts["content"], prompts["negative"], "euler_ancestral",
                left_half_mask(), seed=seed)[2]["samples"] for seed in (SEED, SEED, SEED + 1)]
    assert torch.equal(runs[0], runs[1])
    assert max_difference(runs[0][MIXED], runs[2][MIXED]) > 0.1
    assert max_difference(runs[0][KEPT], runs[2][KEPT]) <= 2 * OUTSIDE_BOUND


@pytest.mark.parametrize("mode", ["image", "text"])
def test_a_masked_run_costs_the_evaluations_of_an_unmasked_one(nodes, sd15_model, prompts, layout_latent, mode):
    latent = layout_latent if mode == "image" else {"samples": torch.zeros_like(layout_latent["samples"])}
    layout_prompts = None if mode == "image" else (prompts["layout"], prompts["negative"])
    counts = {}
    for masked in (False, True):
        model, calls = counting(sd15_model[0])
        run(nodes, model, latent, prompts["content"], prompts["negative"],
            mask=left_half_mask() if masked else None, layout_prompts=layout_prompts)
        counts[masked] = len(calls)
    # Euler, one evaluation per step: layout phase K_max - K_min, content phase K_min; text layout's
    # branch T - K_min, and with a mask it runs on to level 0 (K_min more) for the image kept outside.
    image_steps = K_MAX_LEVEL
    expected = {False: image_steps, True: image_steps} if mode == "image" else {
        False: image_steps + TOTAL_STEPS - K_MIN_LEVEL, True: image_steps + TOTAL_STEPS}
    assert counts == expected


def test_masked_text_layout_keeps_the_layout_prompts_own_image_outside(nodes, sd15_model, prompts, layout_latent):
    model = sd15_model[0]
    empty = {"samples": torch.zeros_like(layout_latent["samples"])}
    _, _, final = run(nodes, model, empty, prompts["content"], prompts["negative"], mask=left_half_mask(),
                      layout_prompts=(prompts["layout"], prompts["negative"]))
    own_image = nodes["KSamplerAdvanced"]().sample(model, "enable", SEED, TOTAL_STEPS, CFG, "euler", "normal",
                                                   prompts["layout"], prompts["negative"], empty, 0, TOTAL_STEPS,
                                                   "disable")[0]["samples"]
    # The random-weight model's text-layout latents reach magnitudes of ~100, where float32 resolves ~1e-5.
    bound = max(OUTSIDE_BOUND, 2e-6 * own_image.abs().max().item())
    assert max_difference(final["samples"][KEPT], own_image[KEPT]) <= bound
    assert max_difference(final["samples"][MIXED], own_image[MIXED]) > 0.1


def soft_ramp_mask():
    """A horizontal gradient: 0 (keep) in latent columns 0-1, rising to 1 (mix) at the right edge."""
    ramp = torch.clamp((torch.arange(64, dtype=torch.float32) - 16) / 47, 0.0, 1.0)
    return ramp.expand(1, 64, 64).clone()


def recording_masks(model, comfy_host):
    """DifferentialDiffusion on ``model``, with each binary mask it makes recorded with its sigma."""
    differential = comfy_host.NODE_CLASS_MAPPINGS["DifferentialDiffusion"].execute(model).result[0]
    function = differential.model_options["denoise_mask_function"]
    seen = []

    def record(sigma, denoise_mask, extra_options):
        out = function(sigma, denoise_mask, extra_options=extra_options)
        seen.append((round(float(sigma[0]), 5), out.clone()))
        return out

    differential.set_model_denoise_mask_function(record)
    return differential, seen


def test_differential_diffusion_follows_one_schedule_from_k_max_to_0(nodes, comfy_host, sd15_model, prompts,
                                                                      layout_latent):
    model, magicmix_masks = recording_masks(sd15_model[0], comfy_host)
    run(nodes, model, layout_latent, prompts["content"], prompts["negative"], mask=soft_ramp_mask())
    reference, ksampler_masks = recording_masks(sd15_model[0], comfy_host)
    masked_latent = nodes["SetLatentNoiseMask"]().set_mask(layout_latent, soft_ramp_mask())[0]
    nodes["KSamplerAdvanced"]().sample(reference, "enable", SEED, TOTAL_STEPS, CFG, "euler", "normal",
                                       prompts["content"], prompts["negative"], masked_latent,
                                       TOTAL_STEPS - K_MAX_LEVEL, TOTAL_STEPS, "disable")
    assert [s for s, _ in magicmix_masks] == [s for s, _ in ksampler_masks]
    for (sigma, got), (_, expected) in zip(magicmix_masks, ksampler_masks):
        assert torch.equal(got, expected), f"sigma {sigma}: the soft mask's threshold is not one KSampler run's"
    # The threshold moves: the region mixed grows as the run goes (otherwise this shows nothing).
    first, last = magicmix_masks[0][1], magicmix_masks[-1][1]
    assert first.sum() < last.sum()
    # Where the mask is 0 the layout image is kept at every step whose threshold is above 0: the
    # last, at sigma_min, has threshold 0 and so regenerates everything, in MagicMix as in KSampler.
    print("DifferentialDiffusion masked columns per sigma:",
          [(sigma, int(mask[0, 0, 0].sum())) for sigma, mask in magicmix_masks])
    sigma_min = round(float(sd15_model[0].get_model_object("model_sampling").sigma_min), 5)
    for sigma, mask in magicmix_masks:
        if sigma > sigma_min:
            assert not mask[..., :2].any(), f"sigma {sigma}: a 0 of the mask was mixed"


@pytest.mark.parametrize("mask_kind", ["binary", "differential"])
def test_the_magicmix_sampler_in_sampler_custom_advanced_agrees_with_the_three_nodes(nodes, comfy_host, sd15_model,
                                                                                     prompts, layout_latent, mask_kind):
    model = sd15_model[0]
    mask = left_half_mask() if mask_kind == "binary" else soft_ramp_mask()
    if mask_kind == "differential":
        model = nodes["DifferentialDiffusion"].execute(model).result[0]
    _, _, chained = run(nodes, model, layout_latent, prompts["content"], prompts["negative"], mask=mask)
    sampler = nodes["MagicMixSampler"].execute(nodes["KSamplerSelect"].execute("euler").result[0],
                                               K_MIN, K_MAX, NU).result[0]
    sigmas = nodes["BasicScheduler"].execute(model, "normal", TOTAL_STEPS, 1.0).result[0]
    guider = nodes["CFGGuider"].execute(model, prompts["content"], prompts["negative"], CFG).result[0]
    noise = nodes["RandomNoise"].execute(SEED).result[0]
    masked_latent = nodes["SetLatentNoiseMask"]().set_mask(layout_latent, mask)[0]
    custom = nodes["SamplerCustomAdvanced"].execute(noise, guider, sampler, sigmas, masked_latent).result[0]
    # The two paths round differently (one sampler call in sampler space against three nodes passing
    # LATENTs): 2.3e-5 measured with the soft mask; the reference tests' 1e-4 bounds it.
    assert max_difference(custom["samples"], chained["samples"]) <= PATH_AGREEMENT


def test_an_inpainting_model_gets_its_concat_latent_and_mask_in_both_phases(nodes, comfy_host, sd15_model):
    _, _, vae = sd15_model
    tiny = tiny_models.tiny_sd15_inpaint()
    pixels = torch.rand((1, 64, 64, 3), generator=torch.Generator().manual_seed(3))
    mask = left_half_mask()
    positive, negative, latent = nodes["InpaintModelConditioning"]().encode(tiny.positive, tiny.negative, pixels,
                                                                             vae, mask, True)
    concat_inputs = []
    model = tiny.model.clone()

    def wrapper(apply_model, args):
        concat_inputs.append((float(args["timestep"][0]), args["c"].get("c_concat")))
        return apply_model(args["input"], args["timestep"], **args["c"])

    model.set_model_unet_function_wrapper(wrapper)
    _, _, final = run(nodes, model, latent, positive, negative)
    assert len(concat_inputs) == K_MAX_LEVEL  # layout phase and content phase, one evaluation per step
    expected_mask = torch.zeros((1, 1, LATENT_SIDE, LATENT_SIDE))
    expected_mask[..., :4] = 1.0
    for timestep, concat in concat_inputs:
        assert concat is not None and concat.shape[1] == 5, f"timestep {timestep}: no 9-channel input"
        assert torch.equal(concat[:1, :1], expected_mask), f"timestep {timestep}: not the mask"
    # InpaintModelConditioning's LATENT is the unmasked image: it is the layout, kept outside.
    assert max_difference(final["samples"][KEPT], latent["samples"][KEPT]) <= OUTSIDE_BOUND


@pytest.mark.parametrize("bad, words", [(torch.full((1, 64, 64), 2.0), "values must lie in 0..1"),
                                        (torch.full((1, 64, 64), float("nan")), "NaN"),
                                        (torch.ones(64), "need a MASK")])
def test_a_bad_mask_is_refused_with_an_error_naming_the_input(nodes, sd15_model, layout_latent, bad, words):
    # MagicMixInputError is a ValueError; the pack ComfyUI loaded has its own copy of the class
    with pytest.raises(ValueError, match=words) as refused:
        nodes["MagicMixLayoutNoise"].execute(sd15_model[0], layout_latent, SEED, TOTAL_STEPS, "normal", K_MIN, K_MAX, 1,
                                             CFG, "euler", mask=bad)
    assert str(refused.value).startswith("mask:")
    with pytest.raises(ValueError, match=r"^layout_latent \(its noise_mask\):"):
        nodes["MagicMixLayoutNoise"].execute(sd15_model[0], {**layout_latent, "noise_mask": bad}, SEED, TOTAL_STEPS,
                                             "normal", K_MIN, K_MAX, 1, CFG, "euler")
