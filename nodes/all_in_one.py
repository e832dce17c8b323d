"""One-node MagicMix, and MagicMix as a SAMPLER for SamplerCustomAdvanced."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..magicmix_comfy import validation
from ..magicmix_comfy.experts import NEVER, switch_at_step_problem
from ..magicmix_comfy.ksampler import MagicMixKSampler
from ..magicmix_comfy.layout_building import build_layout
from ..magicmix_comfy.phases import magicmix
from ..magicmix_core import defaults
from ..magicmix_core.levels import nu_values
from . import inputs as common
from .layout_noise import MagicMixLayoutNoise


class MagicMix(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        layout_inputs = {i.id: i for i in MagicMixLayoutNoise.define_schema().inputs}
        return io.Schema(
            node_id="MagicMix",
            display_name="MagicMix (all in one)",
            category=common.CATEGORY,
            description=("The whole MagicMix run in one node: layout from an encoded image (or from layout_positive / "
                         "layout_negative for text layout), content from positive / negative. The same as Layout "
                         "Noise -> Interpolated Sampler -> Conditional Sampler with one cfg and sampler for both "
                         "phases."),
            inputs=[
                common.model_input(),
                common.positive_input("both phases (the content prompt)"),
                common.negative_input("both phases"),
                layout_inputs["layout_latent"],
                layout_inputs["seed"],
                layout_inputs["steps"],
                common.cfg_input("cfg", "the layout and content phases"),
                common.sampler_name_input(),
                layout_inputs["scheduler"],
                layout_inputs["k_min"],
                layout_inputs["k_max"],
                *common.nu_inputs(),
                layout_inputs["batch_size"],
                layout_inputs["layout_positive"],
                layout_inputs["layout_negative"],
                layout_inputs["mask"],
                common.low_noise_model_input("both phases (and the text layout's branch)"),
                common.switch_at_step_input(),
            ],
            outputs=[io.Latent.Output(display_name="latent",
                                      tooltip="The finished (clean) latent: decode it with VAE Decode.")],
        )

    @classmethod
    def validate_inputs(cls, k_min=None, k_max=None, steps=None, nu=None, nu_end=None, nu_schedule=None, cfg=None,
                        sampler_name=None, scheduler=None, switch_at_step=None):
        return (validation.levels_problem(k_min, k_max, steps) or validation.nu_problem(nu, nu_end)
                or switch_at_step_problem(switch_at_step)
                or common.cfg_problem(cfg=cfg)
                or common.sampler_choice_problem(sampler_name=sampler_name, scheduler=scheduler,
                                                 nu_schedule=nu_schedule) or True)

    @classmethod
    def execute(cls, model, positive, negative, layout_latent, seed, steps, cfg, sampler_name, scheduler, k_min, k_max,
                nu, batch_size, nu_end=None, nu_schedule=defaults.NU_SCHEDULE, layout_positive=None,
                layout_negative=None, mask=None, model_low_noise=None, switch_at_step=NEVER) -> io.NodeOutput:
        layout = build_layout(model, layout_latent, seed, steps, scheduler, k_min, k_max, batch_size, cfg, sampler_name,
                              layout_positive, layout_negative, mask=mask, model_low_noise=model_low_noise,
                              switch_at_step=switch_at_step)
        validation.check(validation.nu_problem(nu, nu_end))
        nus = nu_values(nu, nu_end, layout.levels.mix_count, nu_schedule)
        samples = magicmix(model, layout, positive, negative, cfg, comfy.samplers.sampler_object(sampler_name), nus,
                           model_low_noise)
        return io.NodeOutput(common.latent_output(samples, layout))


class MagicMixSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MagicMixSampler",
            display_name="MagicMix Sampler (image layout)",
            category=common.CATEGORY,
            description=("MagicMix as a SAMPLER for SamplerCustomAdvanced: give SamplerCustomAdvanced the layout "
                         "image's latent (VAEEncode), a RandomNoise, a guider with the content prompt and the full "
                         "SIGMAS (e.g. BasicScheduler, denoise 1). The run starts at k_max from the noised layout, "
                         "mixes down to k_min, then the inner sampler finishes."),

            inputs=[
                io.Sampler.Input("sampler", tooltip="The sampler for each step (e.g. from KSamplerSelect)."),
                io.Float.Input("k_min", default=defaults.K_MIN, min=0.0, max=1.0, step=0.01,
                               tooltip="Noise level (fraction of the schedule, 0 = clean) where mixing stops."),
                io.Float.Input("k_max", default=defaults.K_MAX, min=0.0, max=1.0, step=0.01,
                               tooltip="Noise level (fraction of the schedule, 1 = pure noise) where the run starts."),
                *common.nu_inputs(),
            ],
            outputs=[io.Sampler.Output(tooltip="Connect to SamplerCustomAdvanced's sampler input.")],
        )

    @classmethod
    def validate_inputs(cls, k_min=None, k_max=None, nu=None, nu_end=None, nu_schedule=None):
        return (validation.levels_problem(k_min, k_max) or validation.nu_problem(nu, nu_end)
                or common.sampler_choice_problem(nu_schedule=nu_schedule) or True)

    @classmethod
    def execute(cls, sampler, k_min, k_max, nu, nu_end=None, nu_schedule=defaults.NU_SCHEDULE) -> io.NodeOutput:
        validation.check(validation.levels_problem(k_min, k_max) or validation.nu_problem(nu, nu_end))
        return io.NodeOutput(MagicMixKSampler(sampler, k_min, k_max, nu, nu_end, nu_schedule))
