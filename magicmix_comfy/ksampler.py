"""MagicMix with an image layout, as a SAMPLER that SamplerCustomAdvanced runs in one call."""
from __future__ import annotations

import comfy.samplers
import torch

from ..magicmix_core import levels, mixing
from .guidance import warn_distilled_cfg
from .phases import LayoutLatents
from .stepping import seeing_run_schedule, stepwise_function, stop_if_cancelled
from .validation import MagicMixInputError, check_sampler


class MagicMixKSampler(comfy.samplers.KSAMPLER):
    """Image-layout MagicMix as a SAMPLER for SamplerCustomAdvanced.

    The layout image is the LATENT given to SamplerCustomAdvanced and the fixed noise is its NOISE;
    the GUIDER carries the content prompt. Over the T + 1 SIGMAS given, it starts at level K_max
    (``sigmas[T - K_max]``) from the noised layout, mixes after each step down to level K_min, then
    runs the inner sampler in one call to sigma 0.
    """

    def __init__(self, inner, k_min: float, k_max: float, nu: float, nu_end: float | None, curve: str):
        check_sampler(inner)
        super().__init__(inner.sampler_function, inner.extra_options, inner.inpaint_options)
        self.k_min, self.k_max, self.nu, self.nu_end, self.curve = k_min, k_max, nu, nu_end, curve

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        if latent_image is None or torch.count_nonzero(latent_image) == 0:
            raise MagicMixInputError("latent_image: the MagicMix sampler needs the layout image's latent "
                                     "(VAEEncode), not an empty latent")
        if isinstance(model_wrap, comfy.samplers.CFGGuider):  # the GUIDER (BasicGuider's cfg stays 1)
            warn_distilled_cfg(model_wrap.model_patcher, model_wrap.cfg)
        total = len(sigmas) - 1
        level_range = levels.LevelRange.from_fractions(self.k_min, self.k_max, total)
        if level_range.mix_count < 1:
            raise MagicMixInputError(f"sigmas: {total} steps are too few for k_min {self.k_min} and k_max "
                                     f"{self.k_max} (both round to level {level_range.k_min_level}); use more steps")
        nus = levels.nu_values(self.nu, self.nu_end, level_range.mix_count, self.curve)
        first, last = level_range.layout_start_index, level_range.content_start_index
        layout_latents = LayoutLatents(model_wrap.inner_model.model_sampling, sigmas, noise, latent_image)

        def layout_latent(index: int, like: torch.Tensor) -> torch.Tensor:
            return layout_latents.at_level(level_range.k_max_level - index, like)

        layout_phase = mixing.layout_phase_function(stepwise_function(self), self.extra_options,
                                                    start_latent=lambda x: layout_latent(0, x),
                                                    layout_latent=layout_latent, nus=nus,
                                                    before_step=stop_if_cancelled)
        inner_function, inner_options = self.sampler_function, self.extra_options

        def both_phases(model, x, _sigmas, extra_args=None, callback=None, disable=None):
            z = layout_phase(model, x, sigmas[first:last + 1], extra_args=extra_args,
                             callback=mixing.shift_step_index(callback, first))
            if last == total:
                return z
            # the content phase's seed, as phases.content_phase_seed gives it for the three nodes
            return inner_function(model, z, sigmas[last:],
                                  extra_args=mixing.seed_shifted(extra_args or {}, level_range.mix_count),
                                  callback=mixing.shift_step_index(callback, last),
                                  disable=disable, **inner_options)

        return comfy.samplers.KSAMPLER(seeing_run_schedule(both_phases, sigmas[first:]),
                                       inpaint_options=self.inpaint_options).sample(
            model_wrap, sigmas, extra_args, callback, noise, latent_image, denoise_mask, disable_pbar)
