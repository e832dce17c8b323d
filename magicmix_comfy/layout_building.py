"""The layout of a run (``build_layout``): mode A from an encoded image, mode B from a layout prompt."""
from __future__ import annotations

import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ..magicmix_core import defaults, layout, levels, mixing
from . import experts
from .fingerprint import model_fingerprint
from .stepping import stepwise_function, stop_if_cancelled
from .validation import (MagicMixInputError, check, check_custom_sigmas, check_sampler, layout_noise_mask,
                         levels_problem)


def build_layout(model, layout_latent: dict, seed: int, steps: int, scheduler: str, k_min: float, k_max: float,
                 batch_size: int = 1, layout_cfg: float = defaults.CFG, layout_sampler_name: str = defaults.SAMPLER,
                 layout_positive=None, layout_negative=None, sigmas: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None, model_low_noise=None,
                 switch_at_step: int = experts.NEVER) -> layout.MagicMixLayout:
    """What MagicMix Layout Noise outputs: image layout, or text layout when both layout prompts are given.

    ``sigmas`` (a full custom schedule) replaces ``steps`` and ``scheduler``; ``mask``, or else a
    ``noise_mask`` on ``layout_latent``, makes the run regional. Two experts: the steps from
    ``switch_at_step`` on run on ``model_low_noise`` (the text layout's branch here, both phases in
    the samplers).
    """
    if sigmas is not None:
        steps = check_custom_sigmas(sigmas)
    check(levels_problem(k_min, k_max, steps) or experts.switch_at_step_problem(switch_at_step))
    experts.check_experts(model, model_low_noise)
    switch = experts.switch_index(switch_at_step, steps)
    if sigmas is None:
        sigmas = schedule_sigmas(model, scheduler, steps)
    level_range = levels.LevelRange.from_fractions(k_min, k_max, steps)
    noise_mask = layout_noise_mask(layout_latent, mask)
    if layout_positive is None and layout_negative is None:
        image_layout = make_image_layout(model, layout_latent, seed, sigmas, level_range, batch_size, noise_mask)
        image_layout.switch_index = switch
        return image_layout
    if layout_positive is None or layout_negative is None:
        raise MagicMixInputError(
            "layout_positive / layout_negative: text layout needs both connected (image layout neither)")
    return make_text_layout(model, layout_latent, seed, sigmas, level_range, layout_positive, layout_negative,
                            layout_cfg, comfy.samplers.sampler_object(layout_sampler_name), batch_size, noise_mask,
                            model_low_noise, switch)


def schedule_sigmas(model, scheduler: str, steps: int) -> torch.Tensor:
    """The model's T + 1 descending sigmas for ``scheduler`` (what BasicScheduler gives at denoise 1)."""
    return comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, steps).cpu()


def _batched_latent(model, latent: dict, batch_size: int, input_name: str) -> tuple[torch.Tensor, list | None]:
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


def make_image_layout(model, latent: dict, seed: int, sigmas: torch.Tensor, level_range: levels.LevelRange,
                      batch_size: int = 1, noise_mask: torch.Tensor | None = None) -> layout.MagicMixLayout:
    """Mode A. Layout latents come from the encoded layout image x_0 and one fixed noise tensor.

    Nothing is sampled here: the layout latent of level k is computed when a step needs it
    (``phases.LayoutLatents``). ``noise_mask`` (from ``layout_noise_mask``) limits the mix to a
    region; the image is kept outside it.
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
    return layout.MagicMixLayout(layout.IMAGE_LAYOUT, sigmas.cpu(), level_range, seed, noise, model_fingerprint(model),
                                 clean_latent=clean, noise_mask=noise_mask)


def make_text_layout(model, latent: dict, seed: int, sigmas: torch.Tensor, level_range: levels.LevelRange,
                     positive, negative, cfg: float, sampler, batch_size: int = 1,
                     noise_mask: torch.Tensor | None = None, model_low_noise=None,
                     switch: int | None = None) -> layout.MagicMixLayout:
    """Mode B. Denoise pure noise with the layout prompt from level T down to level K_min.

    The latents of levels K_max .. K_min (sigmas ``sigmas[T - K_max]`` .. ``sigmas[T - K_min]``) are
    kept; the branch never runs below K_min. Costs T - K_min sampler steps. With a ``noise_mask`` the
    branch runs on from level K_min to level 0 (K_min more steps): its image at level 0 is what the
    run keeps outside the mask. With two experts (``switch``) the branch is two runs, the second on
    ``model_low_noise`` from the first's LATENT, as two chained KSamplerAdvanced.
    """
    check_sampler(sampler)
    samples, batch_index = _batched_latent(model, latent, batch_size, "layout_latent")
    noise = comfy.sample.prepare_noise(samples, seed, batch_index)
    trajectory = {}
    store = comfy.model_management.intermediate_device()

    def record(index: int, x: torch.Tensor) -> None:
        level = levels.level_at_index(index, level_range.total_steps)
        if level_range.k_min_level <= level <= level_range.k_max_level:
            trajectory[level] = x.detach().to(store, torch.float32)

    first, last = level_range.layout_start_index, level_range.content_start_index
    branch_steps = level_range.total_steps if noise_mask is not None else last
    runs = experts.expert_runs(model, model_low_noise, switch, 0, branch_steps)
    callback = latent_preview.prepare_callback(model, branch_steps)
    branch_end = None
    for run_model, start, end in runs:
        def within(index: int) -> int:
            return min(max(index - start, 0), end - start)

        recording = comfy.samplers.KSAMPLER(
            mixing.trajectory_recording_function(stepwise_function(sampler), sampler.extra_options, within(first),
                                                 lambda i, x, start=start: record(start + i, x),
                                                 before_step=lambda i, start=start: stop_if_cancelled(start + i),
                                                 record_to_index=within(last)),
            inpaint_options=sampler.inpaint_options)
        # the second run goes on from the first's LATENT, noise left in (KSamplerAdvanced, add_noise off)
        run_noise, run_latent = (noise, torch.zeros_like(samples)) if start == 0 else (
            torch.zeros_like(samples), branch_end)
        run_callback = callback if len(runs) == 1 else experts.shifted_callback(callback, start, branch_steps)
        branch_end = comfy.sample.sample_custom(run_model, run_noise, cfg, recording, sigmas[start:end + 1], positive,
                                                negative, run_latent, callback=run_callback,
                                                disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed + start)
    clean = None
    if noise_mask is not None:
        clean = model.model.process_latent_in(branch_end.to(torch.float32))
    return layout.MagicMixLayout(layout.TEXT_LAYOUT, sigmas.cpu(), level_range, seed, noise, model_fingerprint(model),
                                 clean_latent=clean, trajectory=trajectory, noise_mask=noise_mask, switch_index=switch)
