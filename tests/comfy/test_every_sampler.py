"""Every sampler and every scheduler ComfyUI offers, through the three chained nodes, on the generated SD1.5 checkpoint.

The layout phase calls the chosen sampler one step at a time and mixes after each step
(magicmix_core/mixing.py), which is not how ComfyUI's samplers are normally driven: a sampler that
cannot take a single step from one non-zero sigma to the next would leave the layout phase with
nothing but the layout. So beyond "finite latents of the right shape", each run checks that the
layout phase really moved the latent: a phase of no-op steps can only produce a combination of its
own inputs (the layout image and the fixed noise, or the recorded layout trajectory), and a real
step adds the model's prediction, which lies outside that span.

See docs/samplers.md for how each sampler behaves under MagicMix.
"""
import pytest
import torch

from magicmix_dev import host

host.prepare_comfy_imports()  # the parametrisation below reads ComfyUI's own lists at collection time
import comfy.k_diffusion.sampling  # noqa: E402
import comfy.sample  # noqa: E402
import comfy.samplers  # noqa: E402

SAMPLER_NAMES = list(comfy.samplers.SAMPLER_NAMES)
SCHEDULER_NAMES = list(comfy.samplers.SCHEDULER_NAMES)

TOTAL_STEPS = 8
K_MIN, K_MAX = 0.25, 0.75
K_MIN_LEVEL, K_MAX_LEVEL = 2, 6  # round(0.25 * 8), round(0.75 * 8)
CFG = 5.0
NU = 0.7
SEED = 13
MODES = ("image", "text")
# A layout phase of no-op steps stays inside the span of its inputs up to float rounding (~1e-7);
# a real step leaves it by order 1 (measured 0.3 to 1 on this checkpoint).
MIN_FRACTION_OUTSIDE_INPUTS = 1e-3

# ComfyUI samplers that do not step at all when given a one-step schedule that ends above sigma 0
# (UniPC: order = len(sigmas) - 2; SA-Solver: the predicted state is only taken at the next
# evaluation): uni_pc, uni_pc_bh2, sa_solver, sa_solver_pece. The core hands them to
# mixing.landing_at_next_evaluation; these runs check that it works.


@pytest.fixture(scope="module")
def nodes_by_name(comfy_host):
    return comfy_host.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def model(sd15_model):
    return sd15_model[0]


@pytest.fixture(scope="module")
def layout_image_latent():
    # Stands in for a VAE-encoded 64x64 image: non-zero everywhere, no structure the checks could rely on.
    return {"samples": torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(2))}


def run_chain(nodes_by_name, model, prompts, latent, mode, sampler_name="euler", scheduler="normal", sigmas=None):
    layout_extra = {}
    if mode == "text":
        layout_extra = dict(layout_positive=prompts["layout"], layout_negative=prompts["negative"])
        latent = {"samples": torch.zeros_like(latent["samples"])}  # text layout: the latent only gives the size
    if sigmas is not None:
        layout_extra["sigmas"] = sigmas
    layout = nodes_by_name["MagicMixLayoutNoise"].execute(
        model, latent, SEED, TOTAL_STEPS, scheduler, K_MIN, K_MAX, 1, CFG, sampler_name, **layout_extra).result[0]
    mixed = nodes_by_name["MagicMixInterpolatedSampler"].execute(
        model, layout, prompts["content"], prompts["negative"], CFG, sampler_name, NU).result[0]["samples"]
    result = nodes_by_name["MagicMixConditionalSampler"].execute(
        model, layout, {"samples": mixed}, prompts["content"], prompts["negative"], CFG,
        sampler_name).result[0]["samples"]
    return layout, mixed, result


def fraction_outside_span(target, basis):
    """|target - its least-squares projection onto span(basis)| / |target|."""
    matrix = torch.stack([b.flatten().double() for b in basis], dim=1)
    vector = target.flatten().double()
    coefficients = torch.linalg.lstsq(matrix, vector[:, None]).solution[:, 0]
    return ((vector - matrix @ coefficients).norm() / vector.norm()).item()


def layout_phase_inputs(layout, mode, image_latent):
    """What a layout phase of no-op steps could combine; a constant absorbs a latent format's shift."""
    ones = torch.ones_like(image_latent["samples"])
    if mode == "image":
        return [image_latent["samples"], comfy.sample.prepare_noise(image_latent["samples"], SEED), ones]
    return [layout.trajectory[level] for level in range(K_MIN_LEVEL, K_MAX_LEVEL + 1)] + [ones]


def check_run(layout, mixed, result, mode, image_latent):
    where = f"{mode} layout"
    assert tuple(mixed.shape) == tuple(result.shape) == (1, 4, 8, 8), where
    assert torch.isfinite(mixed).all() and torch.isfinite(result).all(), where
    outside = fraction_outside_span(mixed, layout_phase_inputs(layout, mode, image_latent))
    assert outside > MIN_FRACTION_OUTSIDE_INPUTS, (
        f"{where}: the layout phase output is a combination of its inputs ({outside:.2g} outside their span): "
        f"the sampler did not step")
    assert (result - mixed).abs().max().item() > 1e-4, f"{where}: the content phase left the latent unchanged"


@pytest.mark.parametrize("sampler_name", SAMPLER_NAMES)
def test_every_sampler_runs_the_three_nodes_in_both_modes(nodes_by_name, model, prompts, layout_image_latent,
                                                          sampler_name):
    for mode in MODES:
        check_run(*run_chain(nodes_by_name, model, prompts, layout_image_latent, mode, sampler_name=sampler_name),
                  mode, layout_image_latent)


@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
def test_every_scheduler_runs_the_three_nodes_with_euler(nodes_by_name, model, prompts, layout_image_latent,
                                                         scheduler):
    expected_sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, TOTAL_STEPS)
    for mode in MODES:
        layout, mixed, result = run_chain(nodes_by_name, model, prompts, layout_image_latent, mode, scheduler=scheduler)
        assert torch.equal(layout.sigmas, expected_sigmas.cpu()), f"{mode}: the layout did not use {scheduler}"
        check_run(layout, mixed, result, mode, layout_image_latent)


def test_custom_karras_sigmas_replace_steps_and_scheduler(nodes_by_name, model, prompts, layout_image_latent):
    model_sampling = model.get_model_object("model_sampling")
    karras = comfy.k_diffusion.sampling.get_sigmas_karras(
        n=TOTAL_STEPS, sigma_min=float(model_sampling.sigma_min), sigma_max=float(model_sampling.sigma_max))
    for mode in MODES:
        layout, mixed, result = run_chain(nodes_by_name, model, prompts, layout_image_latent, mode, sigmas=karras)
        assert torch.equal(layout.sigmas, karras), mode
        check_run(layout, mixed, result, mode, layout_image_latent)
        # The same run on the default "normal" schedule lands elsewhere: the SIGMAS input was used.
        _, _, on_normal = run_chain(nodes_by_name, model, prompts, layout_image_latent, mode)
        assert (result - on_normal).abs().max().item() > 1e-3, mode


@pytest.mark.parametrize("lazy_sampler", ["uni_pc", "uni_pc_bh2"])
def test_unipc_single_step_is_its_first_order_step(model, prompts, lazy_sampler):
    """UniPC's first-order predictor is DDIM, which is Euler in sigma space: one layout-phase step of
    uni_pc must equal one Euler step (and not return its input, as a one-step schedule makes UniPC do)."""
    from magicmix_dev.pack import pack_module
    stepwise_function = pack_module("magicmix_comfy.stepping").stepwise_function

    latent = torch.zeros((1, 4, 8, 8))
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "normal", TOTAL_STEPS)
    one_step = sigmas[3:5]
    start = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(3)) * float(one_step[0])

    def single_step(sampler):
        function = stepwise_function(sampler)
        step = comfy.samplers.KSAMPLER(lambda m, x, s, extra_args=None, callback=None, disable=None:
                                       function(m, start.to(x), s, extra_args=extra_args, callback=callback,
                                                disable=disable, **sampler.extra_options))
        return comfy.sample.sample_custom(model, torch.zeros_like(latent), CFG, step, one_step,
                                          prompts["content"], prompts["negative"], latent, seed=SEED)

    lazy = single_step(comfy.samplers.sampler_object(lazy_sampler))
    euler = single_step(comfy.samplers.sampler_object("euler"))
    moved = (lazy - model.model.process_latent_out(start)).abs().max().item()
    assert moved > 1e-2, f"{lazy_sampler} did not step ({moved:.2g})"
    assert (lazy - euler).abs().max().item() < 1e-4
