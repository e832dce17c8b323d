"""The diffusers community MagicMix pipeline's step order, as a ComfyUI sampler function.

That pipeline (and one other port) mixes the layout latent only into the model's *input* and then
steps from the unmixed latent, so the layout reaches the result only through the noise prediction
(docs/method.md, "Public implementations"). Ours mixes after the step and carries the
mixed latent. One implementation, on the development side: the quality bench and the diffusers parity
check (bench/diffusers_parity.py) compare with it.

Euler steps in sampler space: at each layout level k (K_max .. K_min + 1, noisiest first)
``model_in = nu * z + (1 - nu) * x_k``, ``d = (model_in - D(model_in)) / sigma``,
``z <- z + d * (sigma_next - sigma)``; below K_min plain Euler steps.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def community_order_function(clean_latent: torch.Tensor, noise: torch.Tensor, nus: Sequence[float], model_sampling):
    """A KSAMPLER sampler function over the sigmas from level K_max to 0.

    ``clean_latent`` is x_0 in model space (latent format applied) and ``noise`` the fixed noise the
    layout latents are made with: x_k = model_sampling.noise_scaling(sigma_k, noise, x_0).
    """
    nus = list(nus)

    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None):
        extra_args = extra_args or {}
        x0, eps = clean_latent.to(x), noise.to(x)
        for i in range(len(sigmas) - 1):
            sigma, sigma_next = sigmas[i], sigmas[i + 1]
            model_in = x
            if i < len(nus):
                layout = model_sampling.noise_scaling(sigma, eps, x0)
                model_in = torch.lerp(layout, x, nus[i])
            denoised = model(model_in, sigma * x.new_ones([x.shape[0]]), **extra_args)
            x = x + (model_in - denoised) / sigma * (sigma_next - sigma)
        return x

    return sample
