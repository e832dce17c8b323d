"""The MagicMix step order as k-diffusion style sampler functions: pure torch, no ComfyUI imports.

All latents here are in *sampler space*, the space a k-diffusion sampler steps in: for EPS and
V-prediction models ``x = x0 + sigma * eps``, for flow (CONST) models ``x = sigma * eps + (1 - sigma) * x0``.
A sampler function has the signature ``f(model, x, sigmas, extra_args, callback, disable, **options)``
and walks ``x`` from ``sigmas[0]`` down to ``sigmas[-1]``, as ComfyUI's ``KSAMPLER`` expects.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# (step index reached, latent at that index) -> latent to carry on
AfterStep = Callable[[int, torch.Tensor], torch.Tensor]


def mix(stepped: torch.Tensor, layout_latent: torch.Tensor, nu: float) -> torch.Tensor:
    """One MagicMix interpolation at a single noise level (the level the step just reached).

    ``nu`` weights the freshly stepped latent, ``1 - nu`` the layout latent of the same level.
    """
    return torch.lerp(layout_latent, stepped, nu)


def run_one_step_at_a_time(inner_function, inner_options: dict, model, x: torch.Tensor, sigmas: torch.Tensor,
                           extra_args: dict | None, callback, disable, after_step: AfterStep,
                           before_step: Callable[[int], None] | None = None) -> torch.Tensor:
    """Run ``inner_function`` one step per call from ``sigmas[0]`` to ``sigmas[-1]``.

    After the step from ``sigmas[i]`` to ``sigmas[i + 1]`` the result goes through
    ``after_step(i + 1, x)`` and what that returns is carried forward: MagicMix steps first, then
    mixes, then steps from the mixed latent (Fig. 2 of the paper).

    Each call hands the inner sampler a seed of its own (``seed + i``), so ancestral and SDE
    samplers draw independent noise per step instead of repeating the first step's noise, and a
    seed still reproduces a run. Multistep samplers restart their history at each call: after a
    mix the old derivatives belong to a latent that no longer exists.
    """
    extra_args = {} if extra_args is None else extra_args
    for i in range(len(sigmas) - 1):
        if before_step is not None:
            before_step(i)
        x = inner_function(model, x, sigmas[i:i + 2], extra_args=seed_shifted(extra_args, i),
                           callback=shift_step_index(callback, i), disable=True, **inner_options)
        x = after_step(i + 1, x)
    return x


def shift_step_index(callback, offset: int):
    """``callback`` reporting step indices ``offset`` later (None stays None).

    The inner sampler sees a one-step (or shorter) schedule and reports step 0; the progress bar and
    preview must see the step's place in the whole phase.
    """
    if callback is None:
        return None
    return lambda info: callback({**info, "i": info["i"] + offset})


def seed_shifted(extra_args: dict, offset: int) -> dict:
    """A copy of ``extra_args`` whose noise seed (when there is one) is ``offset`` later.

    Each call of the inner sampler gets a seed of its own, so its noise is independent of the
    other calls' and a seed still reproduces the whole run.
    """
    shifted = dict(extra_args)
    if shifted.get("seed") is not None:
        shifted["seed"] = shifted["seed"] + offset
    return shifted


class _LandedAtNextLevel(Exception):
    def __init__(self, x: torch.Tensor):
        super().__init__("sampler stopped at its next model evaluation")
        self.x = x


class _StopAtSecondEvaluation:
    """Stands in for the sampler's model; at the second evaluation it stops the sampler with that input.

    Anything else the sampler reads off its model (``inner_model``, ``sigmas``...) is the model's own.
    """

    def __init__(self, model):
        self._model = model
        self._evaluations = 0

    def __call__(self, x, sigma, **kwargs):
        self._evaluations += 1
        if self._evaluations == 2:
            raise _LandedAtNextLevel(x)
        return self._model(x, sigma, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


def landing_at_next_evaluation(inner_function):
    """Make a sampler that lands a step only at its next model evaluation able to take one step.

    Works at any pair of sigmas ``sigmas[0] > sigmas[1] > 0``. Some samplers apply a step's update
    lazily: UniPC's order for a schedule of n steps is n - 1 (0 for one step), SA-Solver's predicted
    state becomes ``x`` only when the next step's corrector runs. Given a one-step schedule that
    ends above sigma 0 they return their input. The wrapper instead hands them the two-step schedule
    ``[sigmas[0], sigmas[1], 0]`` and stops them when they evaluate the model at ``sigmas[1]``: the
    latent they evaluate there is their first-order step to ``sigmas[1]``, and no model evaluation
    is spent beyond the one step. Any other schedule is passed through unchanged.
    """

    def one_step(model, x, sigmas, extra_args=None, callback=None, disable=None, **options):
        if len(sigmas) != 2 or float(sigmas[-1]) == 0.0:
            return inner_function(model, x, sigmas, extra_args=extra_args, callback=callback, disable=disable,
                                  **options)
        two_steps = torch.cat([sigmas, sigmas.new_zeros(1)])
        try:
            inner_function(_StopAtSecondEvaluation(model), x, two_steps, extra_args=extra_args, callback=callback,
                           disable=disable, **options)
        except _LandedAtNextLevel as landed:
            return landed.x
        raise RuntimeError("the sampler finished without evaluating the model at the step's end")

    return one_step


def starting_from(inner_function, start_latent: Callable[[torch.Tensor], torch.Tensor]):
    """A sampler function that runs ``inner_function`` from ``start_latent(x)`` instead of ``x``.

    For the masked content phase: ComfyUI's sampler computes its start from the LATENT and NOISE it is
    given, and those are the layout image and its noise (what it keeps outside the mask); the run
    itself continues from the layout phase's mixed latent at level K_min.
    """

    def sample_from_start(model, x, sigmas, extra_args=None, callback=None, disable=None, **options):
        return inner_function(model, start_latent(x), sigmas, extra_args=extra_args, callback=callback,
                              disable=disable, **options)

    return sample_from_start


def layout_phase_function(inner_function, inner_options: dict, start_latent: Callable[[torch.Tensor], torch.Tensor],
                          layout_latent: Callable[[int, torch.Tensor], torch.Tensor], nus: Sequence[float],
                          before_step: Callable[[int], None] | None = None):
    """A sampler function for the layout phase, over the sigmas of levels K_max .. K_min.

    ``start_latent(x)`` gives z at level K_max (the layout latent x_{K_max}, on ``x``'s device and
    dtype); ``layout_latent(i, like)`` gives the layout latent at schedule index ``i`` of the phase
    (index 0 is level K_max, the last index is level K_min); ``nus[i - 1]`` is the nu of the mix that
    lands on index ``i``. Per step: z' = D(z_k); z_{k-1} = nu * z' + (1 - nu) * x_{k-1}.
    """

    def sample_layout_phase(model, x, sigmas, extra_args=None, callback=None, disable=None):
        if len(nus) != len(sigmas) - 1:
            raise ValueError(f"need one nu per step: {len(sigmas) - 1} steps, {len(nus)} nu values")
        z = start_latent(x)
        return run_one_step_at_a_time(
            inner_function, inner_options, model, z, sigmas, extra_args, callback, disable,
            after_step=lambda i, stepped: mix(stepped, layout_latent(i, stepped), nus[i - 1]),
            before_step=before_step)

    return sample_layout_phase


def trajectory_recording_function(inner_function, inner_options: dict, record_from_index: int,
                                  record: Callable[[int, torch.Tensor], None],
                                  before_step: Callable[[int], None] | None = None,
                                  record_to_index: int | None = None):
    """A sampler function that denoises as usual and records the latents of indices in a range.

    Used by text layout (mode B): the layout prompt's own trajectory from level T down to K_min.
    Steps before ``record_from_index`` run in one call of the inner sampler (multistep samplers keep
    their history there); from that index to ``record_to_index`` (default: the last index) the run
    goes one step at a time and ``record(i, x)`` receives the latent at every schedule index in the
    range. Steps after ``record_to_index`` (the masked text layout's branch continuing to sigma 0)
    run in one more call.
    """

    def sample_recording(model, x, sigmas, extra_args=None, callback=None, disable=None):
        extra_args = {} if extra_args is None else extra_args
        last = len(sigmas) - 1 if record_to_index is None else record_to_index
        if record_from_index > 0:
            x = inner_function(model, x, sigmas[:record_from_index + 1], extra_args=extra_args,
                               callback=callback, disable=disable, **inner_options)
        record(record_from_index, x)

        def keep(i, stepped):
            record(record_from_index + i, stepped)
            return stepped

        shifted_before_step = None if before_step is None else (lambda i: before_step(record_from_index + i))
        x = run_one_step_at_a_time(inner_function, inner_options, model, x, sigmas[record_from_index:last + 1],
                                   seed_shifted(extra_args, record_from_index),
                                   shift_step_index(callback, record_from_index), disable, after_step=keep,
                                   before_step=shifted_before_step)
        if last < len(sigmas) - 1:
            x = inner_function(model, x, sigmas[last:], extra_args=seed_shifted(extra_args, last),
                               callback=shift_step_index(callback, last), disable=disable, **inner_options)
        return x

    return sample_recording

