"""The two phases of a run: the layout phase (step, then mix) from K_max to K_min, the content phase to 0."""
from __future__ import annotations

from collections.abc import Sequence

import torch

import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ..magicmix_core import layout, levels, mixing
from .experts import LOW_NOISE_INPUT, check_experts, expert_runs, shifted_callback
from .fingerprint import check_layout_fits
from .guidance import warn_distilled_cfg
from .stepping import is_max_sigma, seeing_run_schedule, stepwise_function, stop_if_cancelled
from .validation import MagicMixInputError, check_sampler


class LayoutLatents:
    """The layout latents x_k of one run, in sampler space, on the sampling device.

    Image layout computes x_k = ``model_sampling.noise_scaling(sigma at level k, noise, x_0)`` when a
    step needs it (nothing stored per level); the fixed noise, x_0 and the schedule move to the device
    once, and whether a level's sigma is the model's maximum is decided on the CPU copy, so a step
    costs no host-device copy or synchronisation. Text layout reads its recorded ``trajectory``.
    """

    def __init__(self, model_sampling, sigmas: torch.Tensor, noise: torch.Tensor,
                 clean_latent: torch.Tensor | None = None, trajectory: dict | None = None):
        self.model_sampling, self.trajectory = model_sampling, trajectory
        self._sigmas, self._noise, self._clean = sigmas, noise, clean_latent
        self._total = len(sigmas) - 1
        self._placed = None  # (device, dtype, noise, clean, sigmas on the device)
        self._is_max = [] if trajectory is not None else [is_max_sigma(model_sampling, sigma) for sigma in sigmas.cpu()]

    @classmethod
    def of(cls, magicmix_layout: layout.MagicMixLayout, model_sampling) -> LayoutLatents:
        if magicmix_layout.mode == layout.TEXT_LAYOUT:
            return cls(model_sampling, magicmix_layout.sigmas, magicmix_layout.noise,
                       trajectory=magicmix_layout.trajectory)
        return cls(model_sampling, magicmix_layout.sigmas, magicmix_layout.noise, magicmix_layout.clean_latent)

    def at_level(self, level: int, like: torch.Tensor) -> torch.Tensor:
        if self.trajectory is not None:
            return self.trajectory[level].to(like.device, like.dtype)
        if self._placed is None or self._placed[:2] != (like.device, like.dtype):
            self._placed = (like.device, like.dtype, self._noise.to(like.device, like.dtype),
                            self._clean.to(like.device, like.dtype), self._sigmas.to(like.device))
        _, _, noise, clean, sigmas = self._placed
        index = levels.schedule_index(level, self._total)
        return self.model_sampling.noise_scaling(sigmas[index], noise, clean, self._is_max[index])


def sample_layout_phase(model, magicmix_layout: layout.MagicMixLayout, positive, negative, cfg: float, sampler,
                        nus: Sequence[float], model_low_noise=None) -> torch.Tensor:
    """The layout phase, from level K_max down to level K_min, mixing after every step.

    Returns z_{K_min} as LATENT samples (latent format removed, noise left in, as
    KSamplerAdvanced's ``return_with_leftover_noise`` gives it). With two experts the steps from
    the layout's ``switch_index`` on run on ``model_low_noise``, continuing from the first expert's
    LATENT as a second KSamplerAdvanced would.
    """
    check_sampler(sampler)
    check_layout_fits(model, magicmix_layout)
    _check_low_noise(model, model_low_noise, magicmix_layout)
    warn_distilled_cfg(model, cfg, magicmix_layout)
    level_range = magicmix_layout.levels
    if len(nus) != level_range.mix_count:
        raise MagicMixInputError(f"nu: need {level_range.mix_count} values (one per mix), got {len(nus)}")
    first, last = level_range.layout_start_index, level_range.content_start_index
    runs = expert_runs(model, model_low_noise, magicmix_layout.switch_index, first, last)
    model_sampling = runs[0][0].get_model_object("model_sampling")
    layout_latents = LayoutLatents.of(magicmix_layout, model_sampling)
    if level_range.mix_count == 0:
        start = layout_latents.at_level(level_range.k_max_level, magicmix_layout.noise.to(torch.float32))
        sigma = magicmix_layout.sigma_at_level(level_range.k_max_level)
        return model.model.process_latent_out(model_sampling.inverse_noise_scaling(sigma, start))
    callback = latent_preview.prepare_callback(runs[0][0], level_range.mix_count)
    samples = None
    for run_model, start, end in runs:
        run_callback = callback if len(runs) == 1 else shifted_callback(callback, start - first, level_range.mix_count)
        samples = _layout_phase_steps(run_model, magicmix_layout, positive, negative, cfg, sampler, nus,
                                      layout_latents, start, end, samples, run_callback)
    return samples


def _layout_phase_steps(model, magicmix_layout: layout.MagicMixLayout, positive, negative, cfg: float, sampler,
                        nus: Sequence[float], layout_latents: LayoutLatents, start: int, end: int,
                        carried: torch.Tensor | None, callback) -> torch.Tensor:
    """The layout phase's steps from schedule index ``start`` to ``end`` on one model.

    They begin at the layout latent of level K_max, or (``carried``, a run's second expert) at the
    LATENT samples the first expert left at ``start``.
    """
    level_range = magicmix_layout.levels
    offset = start - level_range.layout_start_index  # steps of the phase already run
    run_sigmas = magicmix_layout.sigmas[start:end + 1]

    def layout_latent(index: int, like: torch.Tensor) -> torch.Tensor:
        return layout_latents.at_level(level_range.k_max_level - offset - index, like)

    start_latent = (lambda x: layout_latent(0, x)) if carried is None else _start_from(model, carried, run_sigmas[0])
    layout_phase = mixing.layout_phase_function(stepwise_function(sampler), sampler.extra_options,
                                                start_latent=start_latent, layout_latent=layout_latent,
                                                nus=list(nus)[offset:offset + end - start],
                                                before_step=stop_if_cancelled)
    mixing_sampler = comfy.samplers.KSAMPLER(
        seeing_run_schedule(layout_phase, level_range.run_sigmas(magicmix_layout.sigmas)),
        inpaint_options=sampler.inpaint_options)
    return comfy.sample.sample_custom(model, magicmix_layout.noise, cfg, mixing_sampler, run_sigmas, positive,
                                      negative, _latent_for_guider(model, magicmix_layout),
                                      noise_mask=magicmix_layout.noise_mask, callback=callback,
                                      disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED,
                                      seed=magicmix_layout.seed + offset)


def _check_low_noise(model, model_low_noise, magicmix_layout: layout.MagicMixLayout) -> None:
    if model_low_noise is not None:
        check_experts(model, model_low_noise)
        check_layout_fits(model_low_noise, magicmix_layout, LOW_NOISE_INPUT)


def _start_from(model, samples: torch.Tensor, sigma: torch.Tensor):
    """The start latent (in sampler space) of a run given LATENT ``samples`` at ``sigma``, noise left in.

    What KSamplerAdvanced with add_noise off starts from; for runs whose sampler is handed another
    LATENT (the layout image, which a masked run keeps outside the mask).
    """
    model_sampling = model.get_model_object("model_sampling")
    latent = model.model.process_latent_in(samples.to(torch.float32))

    def start(x: torch.Tensor) -> torch.Tensor:
        begin = latent.to(x)
        return model_sampling.noise_scaling(sigma.to(x.device), torch.zeros_like(begin), begin,
                                            is_max_sigma(model_sampling, sigma))

    return start


def _latent_for_guider(model, magicmix_layout: layout.MagicMixLayout) -> torch.Tensor:
    # The layout image as a LATENT: with a mask, the sampler keeps it outside the mask (noised to
    # each level with the layout's noise); without, the guider only reads it for model conds (e.g.
    # inpaint models' concat latent). The layout phase's start latent comes from the layout itself.
    if magicmix_layout.clean_latent is not None:
        return model.model.process_latent_out(magicmix_layout.clean_latent.clone())
    return torch.zeros(magicmix_layout.latent_shape)


def content_phase_seed(seed: int, level_range: levels.LevelRange) -> int:
    """Seed of the content phase's sampler noise: the layout phase used seed .. seed + mix_count - 1."""
    return seed + level_range.mix_count


def sample_content_phase(model, magicmix_layout: layout.MagicMixLayout, samples: torch.Tensor, positive, negative,
                         cfg: float, sampler, model_low_noise=None) -> torch.Tensor:
    """The content phase: plain steps from level K_min down to level 0, no mixing.

    ``samples`` is the layout phase's output (LATENT samples at sigma ``layout.sigma_at_level(K_min)``).
    The same as KSamplerAdvanced with add_noise off, starting at step T - K_min (two of them, split
    at the layout's ``switch_index``, with two experts).
    """
    check_sampler(sampler)
    check_layout_fits(model, magicmix_layout)
    _check_low_noise(model, model_low_noise, magicmix_layout)
    warn_distilled_cfg(model, cfg, magicmix_layout, repeat=False)  # the layout phase warned already
    if tuple(samples.shape) != magicmix_layout.latent_shape:
        raise MagicMixInputError(
            f"latent: shape {tuple(samples.shape)} does not match the layout's {magicmix_layout.latent_shape}; "
            f"connect the LATENT of the MagicMix Interpolated Sampler that used this layout")
    level_range = magicmix_layout.levels
    first, total = level_range.content_start_index, level_range.total_steps
    if first >= total:  # K_min = 0: the layout phase already reached the clean level
        return samples
    steps = total - first
    seed = content_phase_seed(magicmix_layout.seed, level_range)
    runs = expert_runs(model, model_low_noise, magicmix_layout.switch_index, first, total)
    callback = latent_preview.prepare_callback(runs[0][0], steps)
    for run_model, start, end in runs:
        run_callback = callback if len(runs) == 1 else shifted_callback(callback, start - first, steps)
        samples = _content_phase_steps(run_model, magicmix_layout, samples, positive, negative, cfg, sampler,
                                       magicmix_layout.sigmas[start:end + 1], run_callback, seed + start - first)
    return samples


def _content_phase_steps(model, magicmix_layout: layout.MagicMixLayout, samples: torch.Tensor, positive, negative,
                         cfg: float, sampler, phase_sigmas: torch.Tensor, callback, seed: int) -> torch.Tensor:
    """Plain steps over ``phase_sigmas`` on one model, from LATENT ``samples`` at ``phase_sigmas[0]``."""
    if magicmix_layout.noise_mask is None:
        return comfy.sample.sample_custom(model, torch.zeros_like(samples), cfg, sampler, phase_sigmas, positive,
                                          negative, samples, callback=callback,
                                          disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    # Masked: the sampler is given the layout image and its noise, which it keeps outside the mask,
    # and starts from the mixed latent, placed in sampler space as it places an unmasked start.
    from_mixed = comfy.samplers.KSAMPLER(
        seeing_run_schedule(mixing.starting_from(sampler.sampler_function, _start_from(model, samples,
                                                                                       phase_sigmas[0])),
                            magicmix_layout.levels.run_sigmas(magicmix_layout.sigmas)),
        sampler.extra_options, sampler.inpaint_options)
    return comfy.sample.sample_custom(model, magicmix_layout.noise, cfg, from_mixed, phase_sigmas, positive, negative,
                                      _latent_for_guider(model, magicmix_layout), noise_mask=magicmix_layout.noise_mask,
                                      callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)


def magicmix(model, magicmix_layout: layout.MagicMixLayout, positive, negative, cfg: float, sampler,
             nus: Sequence[float], model_low_noise=None) -> torch.Tensor:
    """Both phases in one call with the same conditioning, CFG and sampler: what the three nodes give chained."""
    mixed = sample_layout_phase(model, magicmix_layout, positive, negative, cfg, sampler, nus, model_low_noise)
    return sample_content_phase(model, magicmix_layout, mixed, positive, negative, cfg, sampler, model_low_noise)
