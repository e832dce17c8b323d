"""ComfyUI's samplers driven one noise level at a time, as MagicMix steps them."""
from __future__ import annotations

import math

import torch

import comfy.model_management
from comfy.extra_samplers import uni_pc
from comfy.k_diffusion import sampling as k_diffusion_sampling

from ..magicmix_core import mixing

# ComfyUI samplers that, given a one-step schedule ending above sigma 0, return their input: they land
# a step only at their next model evaluation (see mixing.landing_at_next_evaluation).
_SAMPLERS_LANDING_AT_NEXT_EVALUATION = (uni_pc.sample_unipc, uni_pc.sample_unipc_bh2,
                                        k_diffusion_sampling.sample_sa_solver,
                                        k_diffusion_sampling.sample_sa_solver_pece)


def stepwise_function(sampler):
    """The sampler's function, able to take single steps between two sigmas above 0 (any noise level)."""
    function = sampler.sampler_function
    if getattr(function, "func", function) in _SAMPLERS_LANDING_AT_NEXT_EVALUATION:  # func: a functools.partial
        return mixing.landing_at_next_evaluation(function)
    return function


def stop_if_cancelled(_step: int) -> None:
    comfy.model_management.throw_exception_if_processing_interrupted()


def is_max_sigma(model_sampling, sigma: torch.Tensor) -> bool:
    # The rule KSAMPLER uses to decide whether a start at this sigma is "pure noise".
    max_sigma, value = float(model_sampling.sigma_max), float(sigma)
    return math.isclose(max_sigma, value, rel_tol=1e-05) or value > max_sigma


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
