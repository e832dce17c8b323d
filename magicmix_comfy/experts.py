"""Two experts (WAN 2.2 A14B's high-noise and low-noise models): which model runs which step.

Steps starting at a schedule index below the layout's ``switch_index`` run on a node's ``model``,
the rest on its ``model_low_noise``, as two KSamplerAdvanced split a run (end_at_step /
start_at_step). A node whose steps all lie on one side of the switch runs them on that side's
model; without ``model_low_noise`` it runs every step on ``model``, as before.
"""
from __future__ import annotations

import torch

from ..magicmix_core import levels
from .fingerprint import model_fingerprint
from .validation import MagicMixInputError

LOW_NOISE_INPUT = "model_low_noise"
NEVER = 10000  # switch_at_step's default: KSamplerAdvanced's end_at_step default, past any schedule


def switch_at_step_problem(switch_at_step) -> str | None:
    if switch_at_step is not None and not (isinstance(switch_at_step, int) and not isinstance(switch_at_step, bool)
                                           and 0 <= switch_at_step <= NEVER):
        return f"switch_at_step must be a whole number within [0, {NEVER}], got {switch_at_step!r}"
    return None


def switch_index(switch_at_step: int, total_steps: int) -> int | None:
    """The layout's ``switch_index``: None when the switch lies past the schedule's last step."""
    return switch_at_step if switch_at_step < total_steps else None


def _family(model) -> str:
    return f"{type(model.model).__name__} ({type(model.model.model_config).__name__})"


def _schedule(model) -> torch.Tensor | None:
    sigmas = getattr(model.get_model_object("model_sampling"), "sigmas", None)
    return sigmas.detach().float().cpu() if isinstance(sigmas, torch.Tensor) else None


def check_experts(model, model_low_noise) -> None:
    """``model_low_noise`` must be ``model``'s family with its schedule (model_sampling, shift included)."""
    if model_low_noise is None:
        return
    if _family(model) != _family(model_low_noise):
        raise MagicMixInputError(
            f"{LOW_NOISE_INPUT}: the two experts must be one model family; model is {_family(model)}, "
            f"{LOW_NOISE_INPUT} is {_family(model_low_noise)} (connect the low-noise expert of the same model)")
    problem = model_fingerprint(model).mismatch(model_fingerprint(model_low_noise))
    first, second = _schedule(model), _schedule(model_low_noise)
    if problem is None and first is not None and second is not None and (
            first.shape != second.shape or not torch.allclose(first, second, rtol=1e-4, atol=1e-6)):
        problem = "the two noise schedules differ"
    if problem:
        problem = problem.replace("the layout was made for", "model is").replace("the layout", "model")
        raise MagicMixInputError(
            f"{LOW_NOISE_INPUT}: the two experts must share one noise schedule; {problem}. Patch both the same "
            f"way (e.g. the same ModelSamplingSD3 shift on each)")


def expert_runs(model, model_low_noise, switch: int | None, start: int, end: int) -> list[tuple[object, int, int]]:
    """The steps ``start`` .. ``end`` (schedule indices) as (model, first index, last index) runs."""
    runs = levels.split_at_switch(start, end, switch)
    if model_low_noise is None:
        if len(runs) > 1:
            raise MagicMixInputError(
                f"{LOW_NOISE_INPUT}: the layout switches experts at step {switch} (switch_at_step), inside this "
                f"node's steps {start} to {end}; connect the low-noise expert to {LOW_NOISE_INPUT}, or set "
                f"switch_at_step to {NEVER} for one model")
        return [(model, start, end)]
    return [(model if expert == 0 else model_low_noise, first, last) for expert, first, last in runs]


def shifted_callback(callback, offset: int, total: int):
    """A preview callback (``latent_preview.prepare_callback``) for a run ``offset`` steps into a phase of ``total``."""
    if callback is None:
        return None
    return lambda step, x0, x, _total: callback(step + offset, x0, x, total)
