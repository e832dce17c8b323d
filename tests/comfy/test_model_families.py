"""The three nodes on every sampling type ComfyUI has for this pack: EPS, V_PREDICTION, SDXL's ADM and CONST flow.

Each family is a tiny random-weight model built from ComfyUI's own classes (magicmix_dev/tiny_models.py).
Beyond "runs and stays finite", the nu = 0 limit of the spec pins each family's noise maths: the layout
phase must land exactly on the layout latent at K_min, computed here with the model's own
``model_sampling`` and latent format, so a pack that hard-coded EPS noise scaling or forgot the latent
format would fail on V, SDXL or flow.
"""
import pytest
import torch

from magicmix_dev.comparisons import assert_close_relative
from magicmix_dev.tiny_models import EXPECTED_SAMPLING_TYPE, TINY_MODEL_FAMILIES

TOTAL_STEPS = 8
K_MIN, K_MAX = 0.25, 0.75
K_MIN_LEVEL = int(K_MIN * TOTAL_STEPS + 0.5)  # the spec's round-half-up, written out independently of the pack
CFG = 4.0
SEED = 5
RELATIVE_TOLERANCE = 1e-5
LATENT_HW = (8, 8)  # 64x64 px


@pytest.fixture(scope="module")
def nodes_by_name(comfy_host):
    return comfy_host.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module", params=list(TINY_MODEL_FAMILIES))
def tiny(request, comfy_host):
    return TINY_MODEL_FAMILIES[request.param]()


LAYOUT_PROMPT_SEED = 100


def layout_prompt(tiny):
    # Distinct from the content prompt: with the same prompt and a deterministic sampler the layout
    # phase would retrace the layout trajectory whatever nu is.
    return tiny.conditioning(LAYOUT_PROMPT_SEED)


def make_layout(nodes_by_name, tiny, mode, latent, seed=SEED):
    layout_prompts = {} if mode == "image" else dict(layout_positive=layout_prompt(tiny), layout_negative=tiny.negative)
    return nodes_by_name["MagicMixLayoutNoise"].execute(
        tiny.model, latent, seed, TOTAL_STEPS, "normal", K_MIN, K_MAX, 1, CFG, "euler", **layout_prompts).result[0]


def layout_phase(nodes_by_name, tiny, layout, nu):
    return nodes_by_name["MagicMixInterpolatedSampler"].execute(
        tiny.model, layout, tiny.positive, tiny.negative, CFG, "euler", nu).result[0]


def content_phase(nodes_by_name, tiny, layout, mixed):
    return nodes_by_name["MagicMixConditionalSampler"].execute(
        tiny.model, layout, mixed, tiny.positive, tiny.negative, CFG, "euler").result[0]


def layout_input(tiny, mode):
    # Image layout: a random non-zero latent stands in for a VAE-encoded image. Text layout: an
    # empty latent that only gives the size, as EmptyLatentImage does.
    return tiny.latent(*LATENT_HW, seed=1) if mode == "image" else tiny.empty_latent(*LATENT_HW)


def sigma_at_k_min(tiny):
    import comfy.samplers
    sigmas = comfy.samplers.calculate_sigmas(tiny.model.get_model_object("model_sampling"), "normal", TOTAL_STEPS)
    return sigmas[TOTAL_STEPS - K_MIN_LEVEL].cpu()


def as_latent_output(tiny, sigma, sampler_state):
    """A sampler-space state as a node's LATENT output: what KSAMPLER + CFGGuider do on the way out."""
    model_sampling = tiny.model.get_model_object("model_sampling")
    return tiny.model.model.process_latent_out(model_sampling.inverse_noise_scaling(sigma, sampler_state))


def test_family_has_its_sampling_type_and_latent_channels(tiny):
    # Guards the test bed itself: a misbuilt family would make the tests below test the wrong maths.
    model_sampling = tiny.model.get_model_object("model_sampling")
    mro_names = {cls.__name__ for cls in type(model_sampling).__mro__}
    assert EXPECTED_SAMPLING_TYPE[tiny.name] in mro_names
    assert tiny.model.get_model_object("latent_format").latent_channels == tiny.latent_channels
    assert tiny.latent_channels == (16 if tiny.name == "sd3_flow" else 4)


@pytest.mark.parametrize("mode", ["image", "text"])
def test_three_nodes_chain_to_finite_latents_of_the_right_shape(nodes_by_name, tiny, mode):
    layout = make_layout(nodes_by_name, tiny, mode, layout_input(tiny, mode))
    mixed = layout_phase(nodes_by_name, tiny, layout, nu=0.7)
    result = content_phase(nodes_by_name, tiny, layout, mixed)
    expected_shape = (1, tiny.latent_channels) + LATENT_HW
    for latent in (mixed, result):
        assert tuple(latent["samples"].shape) == expected_shape
        assert torch.isfinite(latent["samples"]).all()
    # The content phase must have denoised something: a silent model (zero output) or a skipped
    # phase would hand the mixed latent back unchanged.
    assert (result["samples"] - mixed["samples"]).abs().max().item() > 1e-4


def test_image_layout_at_nu_zero_lands_on_the_noised_layout_at_k_min(nodes_by_name, tiny):
    import comfy.sample
    latent = layout_input(tiny, "image")
    layout = make_layout(nodes_by_name, tiny, "image", latent)
    got = layout_phase(nodes_by_name, tiny, layout, nu=0.0)["samples"]

    sigma = sigma_at_k_min(tiny)
    noise = comfy.sample.prepare_noise(latent["samples"], SEED)
    model_sampling = tiny.model.get_model_object("model_sampling")
    layout_state = model_sampling.noise_scaling(sigma, noise, tiny.model.model.process_latent_in(latent["samples"]))
    expected = as_latent_output(tiny, sigma, layout_state)
    assert_close_relative(got, expected, RELATIVE_TOLERANCE)

    # The same comparison must fail when the content prompt has a say, or it proves nothing.
    mixed = layout_phase(nodes_by_name, tiny, layout, nu=0.5)["samples"]
    assert (mixed - expected).abs().max().item() > 100 * RELATIVE_TOLERANCE * expected.abs().max().item()


def test_text_layout_at_nu_zero_lands_on_the_layout_trajectory_at_k_min(nodes_by_name, tiny):
    layout = make_layout(nodes_by_name, tiny, "text", layout_input(tiny, "text"))
    got = layout_phase(nodes_by_name, tiny, layout, nu=0.0)["samples"]
    expected = as_latent_output(tiny, sigma_at_k_min(tiny), layout.trajectory[K_MIN_LEVEL])
    assert_close_relative(got, expected, RELATIVE_TOLERANCE)

    mixed = layout_phase(nodes_by_name, tiny, layout, nu=0.5)["samples"]
    assert (mixed - expected).abs().max().item() > 100 * RELATIVE_TOLERANCE * expected.abs().max().item()


def test_text_layout_trajectory_at_k_min_is_what_ksampler_advanced_stops_at(nodes_by_name, tiny):
    # The recorded trajectory itself, checked against ComfyUI's own sampler: the layout prompt run
    # from pure noise and stopped at step T - K_min with its leftover noise.
    empty = layout_input(tiny, "text")
    layout = make_layout(nodes_by_name, tiny, "text", empty)
    stopped = nodes_by_name["KSamplerAdvanced"]().sample(
        tiny.model, "enable", SEED, TOTAL_STEPS, CFG, "euler", "normal", layout_prompt(tiny), tiny.negative, empty,
        0, TOTAL_STEPS - K_MIN_LEVEL, "enable")[0]["samples"]
    recorded = as_latent_output(tiny, sigma_at_k_min(tiny), layout.trajectory[K_MIN_LEVEL])
    assert_close_relative(recorded, stopped, RELATIVE_TOLERANCE)
