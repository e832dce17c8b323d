"""The step-then-mix order, checked against the spec's loop with analytic denoisers (no ComfyUI)."""
import pytest
import torch

from magicmix_core.levels import LevelRange
from magicmix_core.mixing import (landing_at_next_evaluation, layout_phase_function, mix, run_one_step_at_a_time,
                                  starting_from, trajectory_recording_function)

DATA_VARIANCE = 0.7


def gaussian_denoiser(x, sigma, **_):
    """The exact denoiser of data drawn from N(0, DATA_VARIANCE): E[x0 | x] at noise level sigma."""
    return x * DATA_VARIANCE / (DATA_VARIANCE + sigma ** 2)


class CountingDenoiser:
    def __init__(self):
        self.sigmas_seen = []

    def __call__(self, x, sigma, **kwargs):
        self.sigmas_seen.append(float(sigma))
        return gaussian_denoiser(x, sigma)


def euler(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """A plain Euler sampler in k-diffusion form (what ComfyUI's sample_euler does without churn)."""
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": denoised})
        x = x + (x - denoised) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
    return x


def euler_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Euler ancestral with its noise drawn from extra_args['seed'], as ComfyUI's noise samplers do."""
    generator = torch.Generator().manual_seed(extra_args["seed"])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        sigma_down = sigmas[i + 1] * 0.5
        sigma_up = (sigmas[i + 1] ** 2 - sigma_down ** 2) ** 0.5
        x = x + (x - denoised) / sigmas[i] * (sigma_down - sigmas[i])
        x = x + torch.randn(x.shape, generator=generator) * sigma_up
    return x


def spec_layout_phase(denoise_step, z_start, layout_latents, nus):
    """The spec's loop, written out: for k = K_max .. K_min + 1, z' = D(z_k); z_{k-1} = nu z' + (1 - nu) x_{k-1}."""
    z = z_start
    for j, nu in enumerate(nus):
        stepped = denoise_step(z, j)
        z = nu * stepped + (1 - nu) * layout_latents[j + 1]
    return z


@pytest.fixture
def schedule():
    total = 20
    sigmas = torch.linspace(8.0, 0.0, total + 1)
    levels = LevelRange.from_fractions(0.3, 0.6, total)
    clean = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    phase = levels.layout_phase_sigmas(sigmas)
    # EPS-style noise_scaling of one fixed noise tensor: x_k = x_0 + sigma_k * eps
    layout = [clean + s * noise for s in phase]
    return phase, layout, levels


def run_layout_phase(phase, layout, nus, inner=euler, model=gaussian_denoiser, extra_args=None, callback=None):
    function = layout_phase_function(inner, {}, start_latent=lambda x: layout[0],
                                     layout_latent=lambda i, like: layout[i], nus=nus)
    return function(model, torch.zeros_like(layout[0]), phase, extra_args=extra_args, callback=callback)


def test_each_step_steps_first_then_mixes_and_carries_the_mix(schedule):
    phase, layout, levels = schedule
    nus = [0.5 + 0.03 * i for i in range(levels.mix_count)]
    got = run_layout_phase(phase, layout, nus)
    expected = spec_layout_phase(lambda z, j: euler(gaussian_denoiser, z, phase[j:j + 2]), layout[0], layout, nus)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_mixing_the_input_instead_of_the_output_gives_a_different_result(schedule):
    # The bug of the public ports: mix the UNet input, then step from the unmixed latent.
    phase, layout, levels = schedule
    nus = [0.6] * levels.mix_count
    got = run_layout_phase(phase, layout, nus)
    z = layout[0]
    for j, nu in enumerate(nus):
        mixed_input = nu * z + (1 - nu) * layout[j]
        denoised = gaussian_denoiser(mixed_input, phase[j])
        z = z + (z - denoised) / phase[j] * (phase[j + 1] - phase[j])
    assert (got - z).abs().max() > 1e-3


def test_nu_one_is_plain_sampling_from_k_max(schedule):
    phase, layout, levels = schedule
    got = run_layout_phase(phase, layout, [1.0] * levels.mix_count)
    expected = euler(gaussian_denoiser, layout[0], phase)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_nu_zero_lands_exactly_on_the_layout_latent_at_k_min(schedule):
    phase, layout, levels = schedule
    got = run_layout_phase(phase, layout, [0.0] * levels.mix_count)
    assert torch.equal(got, layout[-1])


def test_equal_k_min_and_k_max_mix_nothing(schedule):
    phase, layout, _ = schedule
    denoiser = CountingDenoiser()
    got = run_layout_phase(phase[:1], layout[:1], [], model=denoiser)
    assert torch.equal(got, layout[0]) and denoiser.sigmas_seen == []


def test_one_model_evaluation_per_level(schedule):
    phase, layout, levels = schedule
    denoiser = CountingDenoiser()
    run_layout_phase(phase, layout, [0.7] * levels.mix_count, model=denoiser)
    assert denoiser.sigmas_seen == [float(s) for s in phase[:-1]]


def test_batch_items_do_not_influence_each_other(schedule):
    phase, layout, levels = schedule
    nus = [0.7] * levels.mix_count
    both = run_layout_phase(phase, layout, nus)
    changed = [latent.clone() for latent in layout]
    for latent in changed:
        latent[1] += 3.0
    other = run_layout_phase(phase, changed, nus)
    assert torch.equal(both[0], other[0])
    assert not torch.equal(both[1], other[1])


def test_stochastic_samplers_get_a_new_seed_each_step_and_a_seed_reproduces(schedule):
    phase, layout, levels = schedule
    nus = [0.7] * levels.mix_count
    seeds = []

    def recording_ancestral(model, x, sigmas, extra_args=None, **kwargs):
        seeds.append(extra_args["seed"])
        return euler_ancestral(model, x, sigmas, extra_args=extra_args)

    first = run_layout_phase(phase, layout, nus, inner=recording_ancestral, extra_args={"seed": 42})
    assert seeds == list(range(42, 42 + levels.mix_count))
    again = run_layout_phase(phase, layout, nus, inner=euler_ancestral, extra_args={"seed": 42})
    other = run_layout_phase(phase, layout, nus, inner=euler_ancestral, extra_args={"seed": 43})
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_progress_callback_sees_each_steps_place_in_the_phase(schedule):
    phase, layout, levels = schedule
    steps_reported = []
    run_layout_phase(phase, layout, [0.5] * levels.mix_count, callback=lambda info: steps_reported.append(info["i"]))
    assert steps_reported == list(range(levels.mix_count))


def test_one_nu_per_step_is_required(schedule):
    phase, layout, levels = schedule
    with pytest.raises(ValueError, match="one nu per step"):
        run_layout_phase(phase, layout, [0.5] * (levels.mix_count - 1))


def test_mix_weights():
    stepped, layout = torch.full((3,), 2.0), torch.full((3,), -1.0)
    assert torch.equal(mix(stepped, layout, 1.0), stepped)
    assert torch.equal(mix(stepped, layout, 0.0), layout)
    torch.testing.assert_close(mix(stepped, layout, 0.25), 0.25 * stepped + 0.75 * layout)


def test_recording_keeps_the_trajectory_from_the_given_index():
    sigmas = torch.linspace(8.0, 0.0, 11)
    start = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(3))
    recorded = {}
    function = trajectory_recording_function(euler, {}, 4, lambda i, x: recorded.__setitem__(i, x.clone()))
    end = function(gaussian_denoiser, start, sigmas[:8])
    assert sorted(recorded) == [4, 5, 6, 7]
    for index, latent in recorded.items():
        torch.testing.assert_close(latent, euler(gaussian_denoiser, start, sigmas[:index + 1]), rtol=0, atol=1e-6)
    assert torch.equal(end, recorded[7])


def test_recording_up_to_an_index_runs_on_to_the_end_in_one_more_call():
    # The masked text layout: the trajectory of levels K_max .. K_min kept, the branch finished to 0.
    sigmas = torch.linspace(8.0, 0.0, 11)
    start = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(3))
    recorded = {}
    denoiser = CountingDenoiser()
    function = trajectory_recording_function(euler, {}, 4, lambda i, x: recorded.__setitem__(i, x.clone()),
                                             record_to_index=7)
    end = function(denoiser, start, sigmas)
    assert sorted(recorded) == [4, 5, 6, 7]
    assert len(denoiser.sigmas_seen) == 10
    torch.testing.assert_close(end, euler(gaussian_denoiser, start, sigmas), rtol=0, atol=1e-6)


def test_recording_from_index_zero_keeps_the_start():
    sigmas = torch.linspace(8.0, 0.0, 5)
    start = torch.randn(1, 4, 4, 4)
    recorded = {}
    function = trajectory_recording_function(euler, {}, 0, lambda i, x: recorded.__setitem__(i, x.clone()))
    function(gaussian_denoiser, start, sigmas[:3])
    assert sorted(recorded) == [0, 1, 2] and torch.equal(recorded[0], start)


def test_before_step_runs_before_every_step_so_cancel_stops_between_steps():
    sigmas = torch.linspace(8.0, 0.0, 6)

    class Cancelled(Exception):
        pass

    denoiser = CountingDenoiser()

    def cancel_at_third(step):
        if step == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        run_one_step_at_a_time(euler, {}, denoiser, torch.ones(1, 1, 2, 2), sigmas, None, None, None,
                               after_step=lambda i, x: x, before_step=cancel_at_third)
    assert len(denoiser.sigmas_seen) == 2


def lazy_euler(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Euler that, like UniPC and SA-Solver, only takes a predicted state at the next evaluation:
    it returns its input for a one-step schedule that ends above sigma 0."""
    predicted = x
    for i in range(len(sigmas) - 1):
        denoised = model(predicted, sigmas[i])
        x = predicted
        predicted = x + (x - denoised) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
    return predicted if float(sigmas[-1]) == 0.0 else x


def test_a_lazy_sampler_returns_its_input_for_one_step():
    x = torch.ones(1, 2, 2) * 3.0
    assert torch.equal(lazy_euler(gaussian_denoiser, x, torch.tensor([3.0, 2.0])), x)


def test_landing_at_next_evaluation_takes_the_step_with_one_evaluation():
    x = torch.ones(1, 2, 2) * 3.0
    sigmas = torch.tensor([3.0, 2.0])
    counting = CountingDenoiser()
    stepped = landing_at_next_evaluation(lazy_euler)(counting, x, sigmas)
    assert torch.allclose(stepped, euler(gaussian_denoiser, x, sigmas))
    assert counting.sigmas_seen == [3.0]  # the evaluation at 2.0 is stopped before it reaches the model


def test_landing_at_next_evaluation_passes_other_schedules_through():
    x = torch.ones(1, 2, 2) * 3.0
    for sigmas in (torch.tensor([3.0, 0.0]), torch.tensor([3.0, 2.0, 1.0, 0.0])):
        assert torch.equal(landing_at_next_evaluation(lazy_euler)(gaussian_denoiser, x, sigmas),
                           lazy_euler(gaussian_denoiser, x, sigmas))


def test_landing_at_next_evaluation_keeps_the_models_attributes():
    class ModelWithAttributes(CountingDenoiser):
        inner_model = "the model patcher's model"

    seen = []

    def reads_inner_model(model, x, sigmas, extra_args=None, callback=None, disable=None):
        seen.append(model.inner_model)
        return lazy_euler(model, x, sigmas)

    landing_at_next_evaluation(reads_inner_model)(ModelWithAttributes(), torch.ones(1), torch.tensor([2.0, 1.0]))
    assert seen == ["the model patcher's model"]


# --- regional (masked) MagicMix ------------------------------------------------------------------

class InpaintingDenoiser:
    """KSampler's inpainting around a denoiser, written from its definition (ComfyUI's KSamplerX0Inpaint).

    Outside the mask (1 - m) the model's input is replaced by the layout image noised to the current
    sigma with the layout's noise, and its output by the layout image itself: in = m x + (1 - m)(x_0 +
    sigma eps), out = m D(in) + (1 - m) x_0.
    """

    def __init__(self, mask, clean, noise, denoiser=gaussian_denoiser):
        self.mask, self.clean, self.noise, self.denoiser = mask, clean, noise, denoiser

    def __call__(self, x, sigma, **_):
        kept = 1.0 - self.mask
        model_input = x * self.mask + (self.clean + sigma * self.noise) * kept
        return self.denoiser(model_input, sigma) * self.mask + self.clean * kept


@pytest.fixture
def regional(schedule):
    phase, layout, levels = schedule
    # Recover x_0 and eps from two layout latents (x_k = x_0 + sigma_k eps) to keep one source of truth.
    noise = (layout[0] - layout[-1]) / (phase[0] - phase[-1])
    clean = layout[0] - phase[0] * noise
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1.0  # mix the left half, keep the right
    return phase, layout, levels, clean, noise, mask


def test_an_all_zero_mask_gives_exactly_the_layout_latents(regional):
    phase, layout, levels, clean, noise, mask = regional
    model = InpaintingDenoiser(torch.zeros_like(mask), clean, noise)
    got = run_layout_phase(phase, layout, [0.7] * levels.mix_count, model=model)
    torch.testing.assert_close(got, layout[-1], rtol=0, atol=1e-5)


def test_an_all_one_mask_is_bit_identical_to_no_mask(regional):
    phase, layout, levels, clean, noise, mask = regional
    nus = [0.7] * levels.mix_count
    masked = run_layout_phase(phase, layout, nus, model=InpaintingDenoiser(torch.ones_like(mask), clean, noise))
    assert torch.equal(masked, run_layout_phase(phase, layout, nus))


def test_outside_a_binary_mask_the_euler_state_is_the_layout_latent_of_each_level(regional):
    phase, layout, levels, clean, noise, mask = regional
    model = InpaintingDenoiser(mask, clean, noise)
    for end in range(1, len(phase)):  # the phase stopped at each of its levels
        state = run_layout_phase(phase[:end + 1], layout[:end + 1], [0.7] * end, model=model)
        torch.testing.assert_close(state[..., 4:], layout[end][..., 4:], rtol=0, atol=1e-5)
        assert (state[..., :4] - layout[end][..., :4]).abs().max() > 1e-2, "nothing mixed inside"


def test_a_soft_mask_blends_the_model_input_and_output_as_ksampler_inpainting_does(regional):
    phase, layout, levels, clean, noise, _ = regional
    m, nu = 0.3, 0.7
    got = run_layout_phase(phase[:2], layout[:2], [nu], model=InpaintingDenoiser(torch.full((1, 1, 8, 8), m),
                                                                                     clean, noise))
    z, sigma, sigma_next = layout[0], phase[0], phase[1]
    # The input is the layout latent x_{K_max} wherever the mask is soft, since z starts there.
    denoised = m * gaussian_denoiser(z, sigma) + (1 - m) * clean
    stepped = z + (z - denoised) / sigma * (sigma_next - sigma)
    torch.testing.assert_close(got, nu * stepped + (1 - nu) * layout[1], rtol=0, atol=1e-6)


def test_the_masked_content_phase_starts_from_the_mix_and_ends_on_the_layout_image_outside(regional):
    phase, layout, levels, clean, noise, mask = regional
    mixed = run_layout_phase(phase, layout, [0.7] * levels.mix_count, model=InpaintingDenoiser(mask, clean, noise))
    content_sigmas = levels.content_phase_sigmas(torch.linspace(8.0, 0.0, levels.total_steps + 1))
    function = starting_from(euler, lambda x: mixed)
    # What ComfyUI hands the sampler: the layout image noised with the layout's noise (ignored).
    final = function(InpaintingDenoiser(mask, clean, noise), clean + content_sigmas[0] * noise, content_sigmas)
    torch.testing.assert_close(final[..., 4:], clean[..., 4:], rtol=0, atol=1e-5)
    plain = euler(gaussian_denoiser, mixed, content_sigmas)
    torch.testing.assert_close(final[..., :4], plain[..., :4], rtol=0, atol=1e-6)
