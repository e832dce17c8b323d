"""The two phases as nodes: MagicMixInterpolatedSampler (layout phase), MagicMixConditionalSampler (content)."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..magicmix_comfy import validation
from ..magicmix_comfy.phases import sample_content_phase, sample_layout_phase
from ..magicmix_core import defaults
from ..magicmix_core.levels import nu_values
from . import inputs as common


class MagicMixInterpolatedSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MagicMixInterpolatedSampler",
            display_name="MagicMix Interpolated Sampler",
            category=common.CATEGORY,
            description=("Layout phase: from noise level k_max down to k_min, each step is denoised with the content "
                         "prompt and then mixed with the layout at the new level: z = nu * step(z) + (1 - nu) * "
                         "layout. Outputs the mixed latent at k_min, still noisy: feed it to MagicMix Conditional "
                         "Sampler."),
            inputs=[
                common.model_input(),
                common.Layout.Input("layout", tooltip="From MagicMix Layout Noise."),
                common.positive_input("the layout phase (the content prompt, e.g. 'a coffee machine')"),
                common.negative_input("the layout phase"),
                common.cfg_input("cfg", "the layout phase"),
                common.sampler_name_input(),
                *common.nu_inputs(),
                common.sampler_override_input(),
                common.low_noise_model_input("this phase's steps"),
            ],
            outputs=[io.Latent.Output(display_name="latent",
                                      tooltip="The mixed latent at noise level k_min, still noisy: connect it "
                                              "to MagicMix Conditional Sampler's latent.")],
        )

    @classmethod
    def validate_inputs(cls, nu=None, nu_end=None, nu_schedule=None, cfg=None, sampler_name=None):
        return (validation.nu_problem(nu, nu_end) or common.cfg_problem(cfg=cfg)
                or common.sampler_choice_problem(sampler_name=sampler_name, nu_schedule=nu_schedule) or True)

    @classmethod
    def execute(cls, model, layout, positive, negative, cfg, sampler_name, nu, nu_end=None,
                nu_schedule=defaults.NU_SCHEDULE, sampler=None, model_low_noise=None) -> io.NodeOutput:
        validation.check(validation.nu_problem(nu, nu_end))
        nus = nu_values(nu, nu_end, layout.levels.mix_count, nu_schedule)
        samples = sample_layout_phase(model, layout, positive, negative, cfg,
                                      sampler or comfy.samplers.sampler_object(sampler_name), nus, model_low_noise)
        return io.NodeOutput(common.latent_output(samples, layout))


class MagicMixConditionalSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MagicMixConditionalSampler",
            display_name="MagicMix Conditional Sampler",
            category=common.CATEGORY,
            description=("Content phase: denoises the mixed latent from noise level k_min to clean with the content "
                         "prompt alone, no mixing."),
            inputs=[
                common.model_input(),
                common.Layout.Input("layout", tooltip="The same layout the Interpolated Sampler used."),
                io.Latent.Input("latent", tooltip="The LATENT output of MagicMix Interpolated Sampler."),
                common.positive_input("the content phase"),
                common.negative_input("the content phase"),
                common.cfg_input("cfg", "the content phase"),
                common.sampler_name_input(),
                common.sampler_override_input(),
                common.low_noise_model_input("this phase's steps"),
            ],
            outputs=[io.Latent.Output(display_name="latent",
                                      tooltip="The finished (clean) latent: decode it with VAE Decode.")],
        )

    @classmethod
    def validate_inputs(cls, cfg=None, sampler_name=None):
        return common.cfg_problem(cfg=cfg) or common.sampler_choice_problem(sampler_name=sampler_name) or True

    @classmethod
    def execute(cls, model, layout, latent, positive, negative, cfg, sampler_name, sampler=None,
                model_low_noise=None) -> io.NodeOutput:
        samples = sample_content_phase(model, layout, latent["samples"], positive, negative, cfg,
                                       sampler or comfy.samplers.sampler_object(sampler_name), model_low_noise)
        return io.NodeOutput(common.latent_output(samples, layout))
