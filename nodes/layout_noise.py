"""MagicMixLayoutNoise: makes the layout (mode A from an image latent, mode B from a layout prompt)."""
from __future__ import annotations

from comfy_api.latest import io

from ..magicmix_comfy import validation
from ..magicmix_comfy.experts import NEVER, switch_at_step_problem
from ..magicmix_comfy.layout_building import build_layout
from ..magicmix_core import defaults
from . import inputs as common


class MagicMixLayoutNoise(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        import comfy.samplers
        return io.Schema(
            node_id="MagicMixLayoutNoise",
            display_name="MagicMix Layout Noise",
            category=common.CATEGORY,
            description=("Sets up a MagicMix run: the seed, the noise schedule and the k_min..k_max range in which "
                         "the layout is mixed in. Image layout: connect a VAE-encoded image to layout_latent. "
                         "Text layout: also connect layout_positive/layout_negative; the layout prompt is then "
                         "denoised from pure noise and its own trajectory is the layout (layout_latent only "
                         "gives the size)."),
            inputs=[
                common.model_input(),
                io.Latent.Input("layout_latent", tooltip="Image layout: the layout image through VAEEncode. Text "
                                                         "layout: an Empty Latent Image of the output size. A "
                                                         "noise_mask on it (Set Latent Noise Mask) makes the mix "
                                                         "regional, as the mask input does."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seed of the one fixed noise tensor per batch item, drawn as KSampler draws it."),
                io.Int.Input("steps", default=defaults.STEPS, min=1, max=validation.MAX_STEPS,
                             tooltip="Total sampler steps T of the full schedule. The run itself only does the "
                                     "steps below k_max (k_max * T of them)."),
                io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default=defaults.SCHEDULER,
                               tooltip="Noise schedule over the T steps."),
                io.Float.Input("k_min", default=defaults.K_MIN, min=0.0, max=1.0, step=0.01,
                               tooltip="Noise level (fraction of T, 0 = clean) where mixing stops and the content "
                                       "prompt alone finishes. Lower = more layout detail kept. Typical 0.2-0.4."),
                io.Float.Input("k_max", default=defaults.K_MAX, min=0.0, max=1.0, step=0.01,
                               tooltip="Noise level (fraction of T, 1 = pure noise) where the run starts from the "
                                       "noised layout. Higher = more freedom for the content. Typical 0.5-0.8."),
                io.Int.Input("batch_size", default=1, min=1, max=4096,
                             tooltip="Images per run. A layout batch of 1 is repeated, each copy with its own "
                                     "noise; 1 keeps the layout's own batch."),
                io.Conditioning.Input("layout_positive", optional=True,
                                      tooltip="Text layout (mode B): the prompt whose layout is kept."),
                io.Conditioning.Input("layout_negative", optional=True,
                                      tooltip="Text layout: negative prompt for the layout branch."),
                common.cfg_input("layout_cfg", "the text layout branch"),
                common.sampler_name_input("layout_sampler_name"),
                io.Sigmas.Input("sigmas", optional=True,
                                tooltip="Optional custom SIGMAS (T + 1 descending values ending at 0); when "
                                        "connected they replace steps and scheduler."),
                io.Mask.Input("mask", optional=True, tooltip=common.MASK_TOOLTIP),
                common.low_noise_model_input("the text layout's branch here, and both phases in the samplers"),
                common.switch_at_step_input(),
            ],
            outputs=[common.Layout.Output(display_name="layout",
                                          tooltip="The layout of this run (seed, schedule, k_min..k_max levels, "
                                                  "layout latents): connect it to both MagicMix Interpolated "
                                                  "Sampler and MagicMix Conditional Sampler.")],
        )

    @classmethod
    def validate_inputs(cls, k_min=None, k_max=None, steps=None, scheduler=None, layout_cfg=None,
                        layout_sampler_name=None, switch_at_step=None):
        return (validation.levels_problem(k_min, k_max, steps) or common.cfg_problem(layout_cfg=layout_cfg)
                or switch_at_step_problem(switch_at_step)
                or common.sampler_choice_problem(scheduler=scheduler, layout_sampler_name=layout_sampler_name)
                or True)

    @classmethod
    def execute(cls, model, layout_latent, seed, steps, scheduler, k_min, k_max, batch_size, layout_cfg,
                layout_sampler_name, layout_positive=None, layout_negative=None, sigmas=None,
                mask=None, model_low_noise=None, switch_at_step=NEVER) -> io.NodeOutput:
        return io.NodeOutput(build_layout(model, layout_latent, seed, steps, scheduler, k_min, k_max, batch_size,
                                          layout_cfg, layout_sampler_name, layout_positive, layout_negative,
                                          sigmas, mask, model_low_noise, switch_at_step))
