"""MagicMix on ComfyUI objects: MODEL (ModelPatcher), LATENT dicts, CONDITIONING, SAMPLER and SIGMAS.

Sampling goes through ComfyUI's own machinery (``comfy.sample.sample_custom``, ``KSAMPLER``, the
model's ``model_sampling`` and latent format, ``latent_preview`` for previews and the progress bar),
so every sampler, scheduler and model family ComfyUI supports works here. The only new piece is the
sampler function of ``mixing.py`` that steps one level at a time and mixes after each step.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
from comfy.extra_samplers import uni_pc
from comfy.k_diffusion import sampling as k_diffusion_sampling

from .layout import IMAGE_LAYOUT, TEXT_LAYOUT, MagicMixLayout, ModelFingerprint
from .levels import LevelRange, nu_values
from .mixing import (landing_at_next_evaluation, layout_phase_function, seed_shifted, shift_step_index, starting_from,
                     trajectory_recording_function)


class MagicMixInputError(ValueError):
    """Bad input found while running; the message names the input and what is allowed."""


def model_fingerprint(model) -> ModelFingerprint:
    """Sampling type, sigma range and latent channels of a MODEL (as patched, e.g. by ModelSampling* nodes)."""
    model_sampling = model.get_model_object("model_sampling")
    sampling_type = "EPS"
    for name in ("CONST", "V_PREDICTION", "EDM", "X0", "IMG_TO_IMG", "EPS"):
        if any(base.__name__ == name for base in type(model_sampling).__mro__):
            sampling_type = name
            break
    return ModelFingerprint(sampling_type, float(model_sampling.sigma_min), float(model_sampling.sigma_max),
                            int(model.get_model_object("latent_format").latent_channels))


def schedule_sigmas(model, scheduler: str, steps: int) -> torch.Tensor:
    """The model's T + 1 descending sigmas for ``scheduler`` (what BasicScheduler gives at denoise 1)."""
    return comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, steps).cpu()


def check_custom_sigmas(sigmas: torch.Tensor) -> int:
    """Checks a custom SIGMAS schedule (T + 1 finite, descending values ending at 0) and returns T."""
    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1 or sigmas.shape[0] < 2:
        raise MagicMixInputError("sigmas: need a 1-D schedule of at least 2 values (T + 1 sigmas for T steps)")
    if not torch.isfinite(sigmas).all():
        raise MagicMixInputError("sigmas: the schedule contains NaN or infinite values")
    if not bool((sigmas[1:] < sigmas[:-1]).all()) or float(sigmas[-1]) != 0.0:
        raise MagicMixInputError("sigmas: the schedule must descend strictly and end at 0 (a full schedule, "
                                 "not a SplitSigmas part), so that noise levels 0..T are defined")
    return int(sigmas.shape[0] - 1)


def sampler_from_name(sampler_name: str):
    return comfy.samplers.sampler_object(sampler_name)


def _is_max_sigma(model_sampling, sigma: torch.Tensor) -> bool:
    # The rule KSAMPLER uses to decide whether a start at this sigma is "pure noise".
    max_sigma, value = float(model_sampling.sigma_max), float(sigma)
    return math.isclose(max_sigma, value, rel_tol=1e-05) or value > max_sigma


def _check_sampler(sampler) -> None:
    if not callable(getattr(sampler, "sampler_function", None)):
        raise MagicMixInputError(
            f"sampler: MagicMix steps one noise level at a time and needs a KSAMPLER-style sampler "
            f"(KSamplerSelect or any Sampler* node of ComfyUI); got {type(sampler).__name__}")


# ComfyUI samplers that, given a one-step schedule ending above sigma 0, return their input: they land
# a step only at their next model evaluation (see mixing.landing_at_next_evaluation).
_SAMPLERS_LANDING_AT_NEXT_EVALUATION = (uni_pc.sample_unipc, uni_pc.sample_unipc_bh2,
                                        k_diffusion_sampling.sample_sa_solver,
                                        k_diffusion_sampling.sample_sa_solver_pece)


def stepwise_function(sampler):
    """The sampler's function, able to take single steps between two sigmas above 0 (any noise level)."""
    function = sampler.sampler_function
    if getattr(function, "func", function) in _SAMPLERS_LANDING_AT_NEXT_EVALUATION:  # func: a functools.partial
        return landing_at_next_evaluation(function)
    return function


def _stop_if_cancelled(_step: int) -> None:
    comfy.model_management.throw_exception_if_processing_interrupted()


def _batched_latent(model, latent: dict, batch_size: int, input_name: str) -> tuple[torch.Tensor, Optional[list]]:
    """The LATENT's samples with the model's channel count, repeated to ``batch_size`` when its batch is 1."""
    samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
    channels = model.get_model_object("latent_format").latent_channels
    if samples.shape[1] != channels:
        raise MagicMixInputError(
            f"{input_name}: the latent has {samples.shape[1]} channels but this model uses {channels}; "
            f"encode the image with this model's VAE")
    batch_index = latent.get("batch_index")
    have = samples.shape[0]
    if batch_size > 1 and have != batch_size:
        if have != 1:
            raise MagicMixInputError(
                f"batch_size: a layout batch of {have} cannot be paired with batch_size {batch_size}; "
                f"use batch_size 1 (keep the layout batch) or {have}, or a layout batch of 1")
        samples = samples.repeat((batch_size,) + (1,) * (samples.ndim - 1))
        batch_index = None
    return samples, batch_index


def layout_noise_mask(latent: dict, mask: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
    """The denoise mask of a regional run: ``mask`` (a MASK) when given, else the LATENT's ``noise_mask``.

    Returned as SetLatentNoiseMask stores it (B x 1 x H x W, at any resolution): ComfyUI's sampler
    resizes it to the latent and repeats it over the batch (``comfy.sampler_helpers.prepare_mask``),
    at every noise level alike. None when neither is given (the whole image is mixed).
    """
    name = "mask"
    if mask is None:
        mask, name = latent.get("noise_mask"), "layout_latent (its noise_mask)"
        if mask is None:
            return None
    if not isinstance(mask, torch.Tensor) or mask.ndim < 2 or mask.numel() == 0:
        raise MagicMixInputError(f"{name}: need a MASK (H x W or B x H x W values in 0..1), got "
                                 f"{getattr(mask, 'shape', type(mask).__name__)}")
    mask = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).to(torch.float32)
    if not torch.isfinite(mask).all():
        raise MagicMixInputError(f"{name}: the mask contains NaN or infinite values")
    low, high = float(mask.min()), float(mask.max())
    if low < 0.0 or high > 1.0:
        raise MagicMixInputError(f"{name}: mask values must lie in 0..1 (1 = mix here, 0 = keep the layout "
                                 f"image, values between blend); got {low:.4g}..{high:.4g}")
    return mask


def make_image_layout(model, latent: dict, seed: int, sigmas: torch.Tensor, levels: LevelRange,
                      batch_size: int = 1, noise_mask: Optional[torch.Tensor] = None) -> MagicMixLayout:
    """Mode A. Layout latents come from the encoded layout image x_0 and one fixed noise tensor.

    Nothing is sampled here: the layout latent of level k is computed when a step needs it as
    ``model_sampling.noise_scaling(sigma at level k, noise, x_0)``. ``noise_mask`` (from
    ``layout_noise_mask``) limits the mix to a region; the image is kept outside it.
    """
    samples, batch_index = _batched_latent(model, latent, batch_size, "layout_latent")
    if torch.count_nonzero(samples) == 0:
        raise MagicMixInputError(
            "layout_latent: the latent is empty (all zeros); image layout needs an encoded image "
            "(VAEEncode), or connect layout_positive for text layout")
    if not torch.isfinite(samples).all():
        raise MagicMixInputError("layout_latent: the latent contains NaN or infinite values")
    noise = comfy.sample.prepare_noise(samples, seed, batch_index)
    clean = model.model.process_latent_in(samples.to(torch.float32))
    return MagicMixLayout(IMAGE_LAYOUT, sigmas.cpu(), levels, seed, noise, model_fingerprint(model),
                          clean_latent=clean, noise_mask=noise_mask)


def make_text_layout(model, latent: dict, seed: int, sigmas: torch.Tensor, levels: LevelRange,
                     positive, negative, cfg: float, sampler, batch_size: int = 1,
                     noise_mask: Optional[torch.Tensor] = None) -> MagicMixLayout:
    """Mode B. Denoise pure noise with the layout prompt from level T down to level K_min.

    The latents of levels K_max .. K_min (sigmas ``sigmas[T - K_max]`` .. ``sigmas[T - K_min]``) are
    kept; the branch never runs below K_min. Costs T - K_min sampler steps. With a ``noise_mask`` the
    branch runs on from level K_min to level 0 (K_min more steps): its image at level 0 is what the
    run keeps outside the mask.
    """
    _check_sampler(sampler)
    samples, batch_index = _batched_latent(model, latent, batch_size, "layout_latent")
    noise = comfy.sample.prepare_noise(samples, seed, batch_index)
    total = levels.total_steps
    trajectory = {}
    store = comfy.model_management.intermediate_device()

    def record(index: int, x: torch.Tensor) -> None:
        if total - index <= levels.k_max_level:
            trajectory[total - index] = x.detach().to(store, torch.float32)

    recording = comfy.samplers.KSAMPLER(
        trajectory_recording_function(stepwise_function(sampler), sampler.extra_options, levels.layout_start_index,
                                      record, before_step=_stop_if_cancelled,
                                      record_to_index=levels.content_start_index),
        inpaint_options=sampler.inpaint_options)
    branch_sigmas = sigmas if noise_mask is not None else sigmas[:levels.content_start_index + 1]
    branch_end = comfy.sample.sample_custom(model, noise, cfg, recording, branch_sigmas, positive, negative,
                                            torch.zeros_like(samples),
                                            callback=preview_callback(model, len(branch_sigmas) - 1),
                                            disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    clean = None
    if noise_mask is not None:
        clean = model.model.process_latent_in(branch_end.to(torch.float32))
    return MagicMixLayout(TEXT_LAYOUT, sigmas.cpu(), levels, seed, noise, model_fingerprint(model),
                          clean_latent=clean, trajectory=trajectory, noise_mask=noise_mask)


def check_layout_fits(model, layout: MagicMixLayout) -> None:
    problem = layout.model.mismatch(model_fingerprint(model))
    if problem:
        raise MagicMixInputError(f"layout: {problem}; make the layout with the same model")


class LayoutLatents:
    """The layout latents x_k of one run, in sampler space, on the sampling device.

    Image layout computes x_k = ``model_sampling.noise_scaling(sigma at level k, noise, x_0)`` when a
    step needs it (nothing stored per level); the fixed noise, x_0 and the schedule move to the device
    once, and whether a level's sigma is the model's maximum is decided on the CPU copy, so a step
    costs no host-device copy or synchronisation. Text layout reads the recorded trajectory.
    """

    def __init__(self, layout: MagicMixLayout, model_sampling):
        self.layout, self.model_sampling = layout, model_sampling
        self._placed = None  # (device, dtype, noise, clean, sigmas on the device)
        total = layout.levels.total_steps
        self._is_max = {level: _is_max_sigma(model_sampling, layout.sigmas[total - level])
                        for level in range(total + 1)} if layout.mode == IMAGE_LAYOUT else {}

    def at_level(self, level: int, like: torch.Tensor) -> torch.Tensor:
        if self.layout.mode == TEXT_LAYOUT:
            return self.layout.trajectory[level].to(like.device, like.dtype)
        if self._placed is None or self._placed[:2] != (like.device, like.dtype):
            self._placed = (like.device, like.dtype, self.layout.noise.to(like.device, like.dtype),
                            self.layout.clean_latent.to(like.device, like.dtype), self.layout.sigmas.to(like.device))
        _, _, noise, clean, sigmas = self._placed
        sigma = sigmas[self.layout.levels.total_steps - level]
        return self.model_sampling.noise_scaling(sigma, noise, clean, self._is_max[level])


def preview_callback(model, steps: int):
    """ComfyUI's live preview + progress bar callback (also where the Cancel button is noticed)."""
    return latent_preview.prepare_callback(model, steps)


def sample_layout_phase(model, layout: MagicMixLayout, positive, negative, cfg: float, sampler,
                        nus: Sequence[float]) -> torch.Tensor:
    """The layout phase, from level K_max down to level K_min, mixing after every step.

    Returns z_{K_min} as LATENT samples (latent format removed, noise left in, as
    KSamplerAdvanced's ``return_with_leftover_noise`` gives it).
    """
    _check_sampler(sampler)
    check_layout_fits(model, layout)
    levels = layout.levels
    if len(nus) != levels.mix_count:
        raise MagicMixInputError(f"nu: need {levels.mix_count} values (one per mix), got {len(nus)}")
    model_sampling = model.get_model_object("model_sampling")
    layout_latents = LayoutLatents(layout, model_sampling)
    phase_sigmas = levels.layout_phase_sigmas(layout.sigmas)
    guide_latent = _latent_for_guider(model, layout)
    if levels.mix_count == 0:
        start = layout_latents.at_level(levels.k_max_level, layout.noise.to(torch.float32))
        sigma = layout.sigma_at_level(levels.k_max_level)
        return model.model.process_latent_out(model_sampling.inverse_noise_scaling(sigma, start))

    def layout_latent(index: int, like: torch.Tensor) -> torch.Tensor:
        return layout_latents.at_level(levels.k_max_level - index, like)

    mixing = comfy.samplers.KSAMPLER(
        seeing_run_schedule(layout_phase_function(stepwise_function(sampler), sampler.extra_options,
                                                  start_latent=lambda x: layout_latent(0, x),
                                                  layout_latent=layout_latent, nus=list(nus),
                                                  before_step=_stop_if_cancelled),
                            levels.run_sigmas(layout.sigmas)),
        inpaint_options=sampler.inpaint_options)
    return comfy.sample.sample_custom(model, layout.noise, cfg, mixing, phase_sigmas, positive, negative,
                                      guide_latent, noise_mask=layout.noise_mask,
                                      callback=preview_callback(model, levels.mix_count),
                                      disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=layout.seed)


def _latent_for_guider(model, layout: MagicMixLayout) -> torch.Tensor:
    # The layout image as a LATENT: with a mask, the sampler keeps it outside the mask (noised to
    # each level with the layout's noise); without, the guider only reads it for model conds (e.g.
    # inpaint models' concat latent). The layout phase's start latent comes from the layout itself.
    if layout.clean_latent is not None:
        return model.model.process_latent_out(layout.clean_latent.clone())
    return torch.zeros(layout.latent_shape)


def seeing_run_schedule(sampler_function, run_sigmas: torch.Tensor):
    """Let a model's denoise-mask function (DifferentialDiffusion) see the whole run's sigmas.

    ComfyUI's KSamplerX0Inpaint hands that function the sigmas of the sampler call it serves, and a
    soft mask's threshold at each sigma is computed from them. A MagicMix run from level K_max to 0
    is two calls (or, in SamplerCustomAdvanced, one call given all T + 1 sigmas); with this the
    threshold follows ``run_sigmas`` (levels K_max .. 0), as in one KSamplerAdvanced run from K_max.
    """

    def sample(model, x, sigmas, *args, **kwargs):
        model.sigmas = run_sigmas.to(sigmas)  # ``model`` is the KSamplerX0Inpaint of this call
        return sampler_function(model, x, sigmas, *args, **kwargs)

    return sample


def content_phase_seed(seed: int, levels: LevelRange) -> int:
    """Seed of the content phase's sampler noise: the layout phase used seed .. seed + mix_count - 1."""
    return seed + levels.mix_count


def sample_content_phase(model, layout: MagicMixLayout, samples: torch.Tensor, positive, negative, cfg: float,
                         sampler) -> torch.Tensor:
    """The content phase: plain steps from level K_min down to level 0, no mixing.

    ``samples`` is the layout phase's output (LATENT samples at sigma ``layout.sigma_at_level(K_min)``).
    The same as KSamplerAdvanced with add_noise off, starting at step T - K_min.
    """
    _check_sampler(sampler)
    check_layout_fits(model, layout)
    if tuple(samples.shape) != layout.latent_shape:
        raise MagicMixInputError(
            f"latent: shape {tuple(samples.shape)} does not match the layout's {layout.latent_shape}; "
            f"connect the LATENT of the MagicMix Interpolated Sampler that used this layout")
    phase_sigmas = layout.levels.content_phase_sigmas(layout.sigmas)
    if len(phase_sigmas) < 2:  # K_min = 0: the layout phase already reached the clean level
        return samples
    steps = len(phase_sigmas) - 1
    seed = content_phase_seed(layout.seed, layout.levels)
    if layout.noise_mask is None:
        return comfy.sample.sample_custom(model, torch.zeros_like(samples), cfg, sampler, phase_sigmas, positive,
                                          negative, samples, callback=preview_callback(model, steps),
                                          disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    # Masked: the sampler is given the layout image and its noise, which it keeps outside the mask,
    # and starts from the mixed latent, placed in sampler space as it places an unmasked start.
    model_sampling = model.get_model_object("model_sampling")
    mixed = model.model.process_latent_in(samples.to(torch.float32))
    sigma = phase_sigmas[0]

    def mixed_start(x: torch.Tensor) -> torch.Tensor:
        start = mixed.to(x)
        return model_sampling.noise_scaling(sigma.to(x.device), torch.zeros_like(start), start,
                                            _is_max_sigma(model_sampling, sigma))

    from_mixed = comfy.samplers.KSAMPLER(
        seeing_run_schedule(starting_from(sampler.sampler_function, mixed_start), layout.levels.run_sigmas(layout.sigmas)),
        sampler.extra_options, sampler.inpaint_options)
    return comfy.sample.sample_custom(model, layout.noise, cfg, from_mixed, phase_sigmas, positive, negative,
                                      _latent_for_guider(model, layout), noise_mask=layout.noise_mask,
                                      callback=preview_callback(model, steps),
                                      disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)


def nus_for(layout: MagicMixLayout, nu: float, nu_end: float, curve: str) -> list[float]:
    return nu_values(nu, nu_end, layout.levels.mix_count, curve)


def magicmix(model, layout: MagicMixLayout, positive, negative, cfg: float, sampler, nus: Sequence[float]) -> torch.Tensor:
    """Both phases in one call with the same conditioning, CFG and sampler: what the three nodes give chained."""
    mixed = sample_layout_phase(model, layout, positive, negative, cfg, sampler, nus)
    return sample_content_phase(model, layout, mixed, positive, negative, cfg, sampler)


class MagicMixKSampler(comfy.samplers.KSAMPLER):
    """Image-layout MagicMix as a SAMPLER for SamplerCustomAdvanced.

    The layout image is the LATENT given to SamplerCustomAdvanced and the fixed noise is its NOISE;
    the GUIDER carries the content prompt. Over the T + 1 SIGMAS given, it starts at level K_max
    (``sigmas[T - K_max]``) from the noised layout, mixes after each step down to level K_min, then
    runs the inner sampler in one call to sigma 0.
    """

    def __init__(self, inner, k_min: float, k_max: float, nu: float, nu_end: float, curve: str):
        _check_sampler(inner)
        super().__init__(inner.sampler_function, inner.extra_options, inner.inpaint_options)
        self.k_min, self.k_max, self.nu, self.nu_end, self.curve = k_min, k_max, nu, nu_end, curve

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        if latent_image is None or torch.count_nonzero(latent_image) == 0:
            raise MagicMixInputError("latent_image: the MagicMix sampler needs the layout image's latent "
                                     "(VAEEncode), not an empty latent")
        total = len(sigmas) - 1
        levels = LevelRange.from_fractions(self.k_min, self.k_max, total)
        if levels.mix_count < 1:
            raise MagicMixInputError(f"sigmas: {total} steps are too few for k_min {self.k_min} and k_max "
                                     f"{self.k_max} (both round to level {levels.k_min_level}); use more steps")
        model_sampling = model_wrap.inner_model.model_sampling
        nus = nu_values(self.nu, self.nu_end, levels.mix_count, self.curve)
        first, last = levels.layout_start_index, levels.content_start_index
        # decided once on the CPU: reading a sigma on the GPU at every step would synchronise it
        is_max = [_is_max_sigma(model_sampling, sigma) for sigma in sigmas.cpu()]

        def layout_latent(index: int, like: torch.Tensor) -> torch.Tensor:
            return model_sampling.noise_scaling(sigmas[first + index], noise.to(like), latent_image.to(like),
                                                is_max[first + index])

        layout_phase = layout_phase_function(stepwise_function(self), self.extra_options,
                                             start_latent=lambda x: layout_latent(0, x), layout_latent=layout_latent,
                                             nus=nus, before_step=_stop_if_cancelled)
        inner_function, inner_options = self.sampler_function, self.extra_options

        def both_phases(model, x, _sigmas, extra_args=None, callback=None, disable=None):
            z = layout_phase(model, x, sigmas[first:last + 1], extra_args=extra_args,
                             callback=shift_step_index(callback, first))
            if last == total:
                return z
            # the content phase's seed, as content_phase_seed gives it for the three nodes
            return inner_function(model, z, sigmas[last:], extra_args=seed_shifted(extra_args or {}, levels.mix_count),
                                  callback=shift_step_index(callback, last),
                                  disable=disable, **inner_options)

        return comfy.samplers.KSAMPLER(seeing_run_schedule(both_phases, sigmas[first:]),
                                       inpaint_options=self.inpaint_options).sample(
            model_wrap, sigmas, extra_args, callback, noise, latent_image, denoise_mask, disable_pbar)
