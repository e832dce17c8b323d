"""Bad input, found as early as possible; every message names the input and what is allowed.

The ``*_problem`` functions return a sentence (or None) for the nodes' ``validate_inputs``, which
ComfyUI runs before a prompt is queued; the ``check_*`` functions raise ``MagicMixInputError`` when
a run meets what validation could not see (linked inputs, tensors).
"""
from __future__ import annotations

import math

import torch

from ..magicmix_core import levels

MAX_STEPS = 10000


class MagicMixInputError(ValueError):
    """Bad input found while running; the message names the input and what is allowed."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number_problem(name: str, value, low: float, high: float) -> str | None:
    if value is not None and not (_is_number(value) and low <= value <= high):
        return f"{name} must be a number within [{low:g}, {high:g}], got {value!r}"
    return None


def steps_problem(steps) -> str | None:
    if steps is not None and not (isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= MAX_STEPS):
        return f"steps must be a whole number within [1, {MAX_STEPS}], got {steps!r}"
    return None


def levels_problem(k_min, k_max, steps=None) -> str | None:
    """Why this k_min/k_max/steps combination cannot run, naming the inputs; None when it can."""
    problem = (number_problem("k_min", k_min, 0.0, 1.0) or number_problem("k_max", k_max, 0.0, 1.0)
               or steps_problem(steps))
    if problem:
        return problem
    if k_min is not None and k_max is not None:
        if not k_min < k_max:
            return (f"k_min ({k_min}) must be smaller than k_max ({k_max}): the layout phase runs from "
                    f"noise level k_max down to k_min")
        if steps is not None:
            level_range = levels.LevelRange.from_fractions(k_min, k_max, steps)
            if level_range.mix_count < 1:
                return (f"steps ({steps}) is too small for k_min {k_min} and k_max {k_max}: both round to noise "
                        f"level {level_range.k_min_level} of {steps}, so nothing would be mixed; use more steps or "
                        f"move k_min and k_max further apart (need round(k_max*steps) > round(k_min*steps))")
    return None


def nu_problem(nu, nu_end=None) -> str | None:
    return number_problem("nu", nu, 0.0, 1.0) or number_problem("nu_end", nu_end, 0.0, 1.0)


def check(problem: str | None) -> None:
    """Raise a ``*_problem`` sentence as MagicMixInputError (for inputs that arrive linked)."""
    if problem:
        raise MagicMixInputError(problem)


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


def check_sampler(sampler) -> None:
    if not callable(getattr(sampler, "sampler_function", None)):
        raise MagicMixInputError(
            f"sampler: MagicMix steps one noise level at a time and needs a KSAMPLER-style sampler "
            f"(KSamplerSelect or any Sampler* node of ComfyUI); got {type(sampler).__name__}")


def layout_noise_mask(latent: dict, mask: torch.Tensor | None = None) -> torch.Tensor | None:
    """The denoise mask of a regional run: ``mask`` (a MASK) when given, else the LATENT's ``noise_mask``.

    Returned as SetLatentNoiseMask stores it (B x 1 x H x W, at any resolution), or as it is when
    5-D (B x 1 x frames x H x W, as video latent nodes such as Wan22ImageToVideoLatent write it):
    ComfyUI's sampler resizes it to the latent and repeats it over the batch
    (``comfy.sampler_helpers.prepare_mask``), at every noise level alike. None when neither is given
    (the whole image is mixed).
    """
    name = "mask"
    if mask is None:
        mask, name = latent.get("noise_mask"), "layout_latent (its noise_mask)"
        if mask is None:
            return None
    if not isinstance(mask, torch.Tensor) or mask.ndim < 2 or mask.numel() == 0:
        raise MagicMixInputError(f"{name}: need a MASK (H x W or B x H x W values in 0..1), got "
                                 f"{getattr(mask, 'shape', type(mask).__name__)}")
    if mask.ndim != 5:
        mask = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
    # A 5-D mask stays as it is: flattened, its batch items would be read as frames of one video
    # (comfy.utils.reshape_mask reads a 4-D mask's batch as frames on a video latent).
    mask = mask.to(torch.float32)
    if not torch.isfinite(mask).all():
        raise MagicMixInputError(f"{name}: the mask contains NaN or infinite values")
    low, high = float(mask.min()), float(mask.max())
    if low < 0.0 or high > 1.0:
        raise MagicMixInputError(f"{name}: mask values must lie in 0..1 (1 = mix here, 0 = keep the layout "
                                 f"image, values between blend); got {low:.4g}..{high:.4g}")
    return mask
