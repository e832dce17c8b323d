"""The chained nodes against an independent plain-loop MagicMix and against ComfyUI's own KSamplerAdvanced.

Runs in-process on the generated SD1.5 checkpoint. The reference below is written from the spec
alone: Euler steps over the model's own denoiser (``BaseModel.apply_model``) with hand-written CFG,
hand-written EPS noise scaling and latent scale, one ``torch.randn`` per seed; none of the pack's
code and none of ComfyUI's samplers.
"""
import pytest
import torch

TOTAL_STEPS = 12
K_MIN, K_MAX = 0.25, 0.75
CFG = 5.0
SD15_LATENT_SCALE = 0.18215
TOLERANCE = 1e-4
# float32 resolves a latent of magnitude m only to about m * 1.2e-7; the random-weight checkpoint's
# text-layout latents reach m ~ 300 (a real SD latent stays below ~30), where 1e-4 is 3 float32 steps and
# the rounding of the mix and CFG arithmetic alone (nodes vs reference) measured 1.07e-4. Above magnitude
# 50 the bound scales with the latent.
RELATIVE_TOLERANCE = 2e-6


@pytest.fixture(scope="module")
def nodes_by_name(comfy_host):
    return comfy_host.NODE_CLASS_MAPPINGS


def assert_matches(got, expected):
    difference = (got - expected).abs().max().item()
    bound = max(TOLERANCE, RELATIVE_TOLERANCE * expected.abs().max().item())
    assert difference <= bound, \
        f"max abs difference {difference:.3g} > {bound:.3g} (latent magnitude {expected.abs().max().item():.3g})"


def run_nodes(nodes_by_name, model, latent, positive, negative, seed, nu, sampler="euler", k_min=K_MIN, k_max=K_MAX,
              layout_prompts=None, batch_size=1):
    layout_extra = {} if layout_prompts is None else dict(layout_positive=layout_prompts[0],
                                                          layout_negative=layout_prompts[1])
    layout = nodes_by_name["MagicMixLayoutNoise"].execute(
        model, latent, seed, TOTAL_STEPS, "normal", k_min, k_max, batch_size, CFG, sampler, **layout_extra).result[0]
    mixed = nodes_by_name["MagicMixInterpolatedSampler"].execute(
        model, layout, positive, negative, CFG, sampler, nu).result[0]
    return nodes_by_name["MagicMixConditionalSampler"].execute(
        model, layout, mixed, positive, negative, CFG, sampler).result[0]["samples"]


def reference_sigmas(model):
    import comfy.samplers  # the schedule is an input of the method, not part of what is compared
    return comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "normal", TOTAL_STEPS).cpu()


def make_denoiser(model, positive, negative):
    base = model.model

    def denoise(x, sigma):
        # Unconditional and conditional predictions in one batch, [uncond, cond], the way ComfyUI
        # batches them: on the CPU a batch of 2 rounds differently from two batches of 1 (~1e-6
        # relative), which 12 steps of this random-weight model amplify past the 1e-4 tolerance.
        sigma_batch = torch.full((2 * x.shape[0],), float(sigma))
        context = torch.cat([negative[0][0].expand(x.shape[0], -1, -1), positive[0][0].expand(x.shape[0], -1, -1)])
        uncond, cond = base.apply_model(torch.cat([x, x]), sigma_batch, c_crossattn=context).float().chunk(2)
        return uncond + CFG * (cond - uncond)

    return denoise


def euler_step(denoise, x, sigma, sigma_next):
    return x + (x - denoise(x, sigma)) / sigma * (sigma_next - sigma)


def reference_magicmix(model, content, negative, seed, nu, clean_latent=None, layout_prompt=None):
    """MagicMix from the spec: mode A when clean_latent is given, mode B when layout_prompt is."""
    sigmas = reference_sigmas(model)
    k_min_level, k_max_level = int(K_MIN * TOTAL_STEPS + 0.5), int(K_MAX * TOTAL_STEPS + 0.5)
    sigma_at = lambda level: sigmas[TOTAL_STEPS - level]
    shape = (1, 4, 8, 8)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    if clean_latent is not None:
        x0 = clean_latent * SD15_LATENT_SCALE
        layout_at = {level: x0 + sigma_at(level) * noise for level in range(k_min_level, k_max_level + 1)}
    else:
        layout_denoise = make_denoiser(model, layout_prompt, negative)
        x = noise * torch.sqrt(1.0 + sigmas[0] ** 2)  # the start of a txt2img run at sigma_max
        layout_at = {TOTAL_STEPS: x}
        for level in range(TOTAL_STEPS, k_min_level, -1):
            x = euler_step(layout_denoise, x, sigma_at(level), sigma_at(level - 1))
            layout_at[level - 1] = x
    denoise = make_denoiser(model, content, negative)
    z = layout_at[k_max_level]
    for level in range(k_max_level, k_min_level, -1):
        stepped = euler_step(denoise, z, sigma_at(level), sigma_at(level - 1))
        z = nu * stepped + (1 - nu) * layout_at[level - 1]
    for level in range(k_min_level, 0, -1):
        z = euler_step(denoise, z, sigma_at(level), sigma_at(level - 1))
    return z / SD15_LATENT_SCALE


@pytest.mark.parametrize("nu", [0.6, 0.0])
def test_image_layout_nodes_equal_the_reference_loop(nodes_by_name, sd15_model, prompts, layout_latent, nu):
    model = sd15_model[0]
    got = run_nodes(nodes_by_name, model, layout_latent, prompts["content"], prompts["negative"], seed=7, nu=nu)
    expected = reference_magicmix(model, prompts["content"], prompts["negative"], 7, nu,
                                  clean_latent=layout_latent["samples"])
    assert torch.isfinite(got).all()
    assert_matches(got, expected)


def test_text_layout_nodes_equal_the_reference_loop(nodes_by_name, sd15_model, prompts, layout_latent):
    model = sd15_model[0]
    empty = {"samples": torch.zeros_like(layout_latent["samples"])}
    got = run_nodes(nodes_by_name, model, empty, prompts["content"], prompts["negative"], seed=11, nu=0.7,
                    layout_prompts=(prompts["layout"], prompts["negative"]))
    expected = reference_magicmix(model, prompts["content"], prompts["negative"], 11, 0.7,
                                  layout_prompt=prompts["layout"])
    assert_matches(got, expected)


def ksampler_advanced(nodes_by_name, model, positive, negative, latent, seed, start, end, add_noise, leftover):
    return nodes_by_name["KSamplerAdvanced"]().sample(
        model, "enable" if add_noise else "disable", seed, TOTAL_STEPS, CFG, "euler", "normal", positive, negative,
        latent, start, end, "enable" if leftover else "disable")[0]


def test_nu_one_equals_ksampler_advanced_started_at_k_max(nodes_by_name, sd15_model, prompts, layout_latent):
    model = sd15_model[0]
    got = run_nodes(nodes_by_name, model, layout_latent, prompts["content"], prompts["negative"], seed=3, nu=1.0)
    start_step = TOTAL_STEPS - int(K_MAX * TOTAL_STEPS + 0.5)
    expected = ksampler_advanced(nodes_by_name, model, prompts["content"], prompts["negative"], layout_latent, 3,
                                 start_step, 10000, add_noise=True, leftover=False)["samples"]
    assert_matches(got, expected)


def test_text_layout_at_nu_zero_is_a_prompt_switch_at_k_min(nodes_by_name, sd15_model, prompts, layout_latent):
    # nu weights the generated latent (the spec's notation), so nu = 0 keeps the layout prompt's own
    # trajectory down to K_min and the content prompt takes over from there.
    model = sd15_model[0]
    empty = {"samples": torch.zeros_like(layout_latent["samples"])}
    got = run_nodes(nodes_by_name, model, empty, prompts["content"], prompts["negative"], seed=5, nu=0.0, k_max=1.0,
                    layout_prompts=(prompts["layout"], prompts["negative"]))
    switch_step = TOTAL_STEPS - int(K_MIN * TOTAL_STEPS + 0.5)
    first = ksampler_advanced(nodes_by_name, model, prompts["layout"], prompts["negative"], empty, 5, 0, switch_step,
                              add_noise=True, leftover=True)
    expected = ksampler_advanced(nodes_by_name, model, prompts["content"], prompts["negative"], first, 5, switch_step,
                                 10000, add_noise=False, leftover=False)["samples"]
    assert_matches(got, expected)


def test_same_seed_same_latent_other_seed_other_latent(nodes_by_name, sd15_model, prompts, layout_latent):
    model = sd15_model[0]
    run = lambda seed: run_nodes(nodes_by_name, model, layout_latent, prompts["content"], prompts["negative"],
                                 seed=seed, nu=0.7, sampler="euler_ancestral")
    first, again, other = run(21), run(21), run(22)
    assert torch.equal(first, again)
    assert (first - other).abs().max().item() > 1e-3


def test_a_layout_of_one_drives_a_batch_with_independent_noise(nodes_by_name, sd15_model, prompts, layout_latent):
    model = sd15_model[0]
    batch = run_nodes(nodes_by_name, model, layout_latent, prompts["content"], prompts["negative"], seed=9, nu=0.7,
                      batch_size=3)
    assert batch.shape[0] == 3
    assert (batch[0] - batch[1]).abs().max().item() > 1e-3 and (batch[1] - batch[2]).abs().max().item() > 1e-3
    # Item i's noise is row i of one randn over the whole batch, as KSampler draws it.
    noise = torch.randn((3, 4, 8, 8), generator=torch.Generator().manual_seed(9))
    layout = nodes_by_name["MagicMixLayoutNoise"].execute(
        model, layout_latent, 9, TOTAL_STEPS, "normal", K_MIN, K_MAX, 3, CFG, "euler").result[0]
    assert torch.equal(layout.noise, noise)


def test_all_in_one_node_equals_the_chain(nodes_by_name, sd15_model, prompts, layout_latent):
    model = sd15_model[0]
    chained = run_nodes(nodes_by_name, model, layout_latent, prompts["content"], prompts["negative"], seed=4, nu=0.8)
    one_node = nodes_by_name["MagicMix"].execute(
        model, prompts["content"], prompts["negative"], layout_latent, 4, TOTAL_STEPS, CFG, "euler", "normal", K_MIN,
        K_MAX, 0.8, 1).result[0]["samples"]
    assert torch.equal(chained, one_node)
