"""Inputs, defaults, ranges and tooltips shared by the MagicMix nodes (the spec's defaults)."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..magicmix_comfy.experts import NEVER as NEVER_SWITCH
from ..magicmix_comfy.validation import number_problem
from ..magicmix_core import defaults
from ..magicmix_core.levels import NU_CURVES

CATEGORY = "sampling/magicmix"

# A custom socket type: the layout made once by MagicMixLayoutNoise, read by both samplers.
Layout = io.Custom("MAGICMIX_LAYOUT")

MAX_CFG = 100.0


MASK_TOOLTIP = ("Optional: mix only inside this mask and keep the layout image outside it (1 = mix, 0 = keep, "
                "soft values blend, as KSampler's inpainting does). When given it replaces a noise_mask on "
                "layout_latent. Encode the layout with VAE Encode, not VAE Encode (for Inpainting): that one "
                "greys the masked pixels, leaving no layout to mix inside. Text layout keeps the layout "
                "prompt's own image outside (k_min x steps more steps).")


def latent_output(samples, layout) -> dict:
    """A LATENT for the samplers' outputs; it keeps the layout's mask, as KSampler's output keeps its noise_mask."""
    latent = {"samples": samples}
    if layout.noise_mask is not None:
        latent["noise_mask"] = layout.noise_mask
    return latent


def model_input():
    return io.Model.Input("model", tooltip="The diffusion model: SD1.x, SD2.x, SDXL, SD3/3.5, Flux, Qwen-Image and the "
                                           "other families ComfyUI loads (see docs/models.md).")


def low_noise_model_input(where: str):
    return io.Model.Input("model_low_noise", optional=True,
                          tooltip=f"Optional second expert (WAN 2.2 A14B: the low-noise model; model is then the "
                                  f"high-noise one). It runs {where} from the layout's switch_at_step on, as a "
                                  "second KSamplerAdvanced would. Same family and schedule as model (patch both "
                                  "alike: LoRA, ModelSamplingSD3 shift). Unconnected, model runs every step.")


def switch_at_step_input():
    return io.Int.Input("switch_at_step", default=NEVER_SWITCH, min=0, max=NEVER_SWITCH, optional=True,
                        tooltip="Two experts: steps with index below this run on model (high noise), the rest on "
                                "model_low_noise; the high expert's end_at_step in ComfyUI's WAN 2.2 A14B template "
                                "(2 of 4 steps, 10 of 20). Counted over the full steps as KSamplerAdvanced counts, "
                                "so it may fall inside the layout phase. 10000: never (one model).")


def cfg_input(name="cfg", phase="this phase"):
    return io.Float.Input(name, default=defaults.CFG, min=0.0, max=MAX_CFG, step=0.1, round=0.01,
                          tooltip=f"Classifier-free guidance scale for {phase}. The paper uses 7.5 (SD). Use 1 on "
                                  "guidance-distilled models (Flux dev with FluxGuidance, Flux schnell, Lightning-"
                                  "type LoRAs): above 1 doubles the model calls and changes the picture. Models "
                                  "trained with real guidance want theirs (Qwen-Image about 2.5, as ComfyUI's "
                                  "template).")


def sampler_name_input(name="sampler_name"):
    return io.Combo.Input(name, options=comfy.samplers.SAMPLER_NAMES, default=defaults.SAMPLER,
                          tooltip="Sampler for each step. Single-step samplers (euler, ddim, heun, dpm_2, "
                                  "dpmpp_2s_ancestral...) follow the paper exactly; multistep ones restart "
                                  "their history after each mix. See docs/samplers.md.")


def sampler_override_input():
    return io.Sampler.Input("sampler", optional=True,
                            tooltip="Optional SAMPLER (e.g. from KSamplerSelect or a Sampler* node with its own "
                                    "options). When connected it replaces sampler_name.")


def positive_input(phase):
    return io.Conditioning.Input("positive", tooltip=f"What to guide towards during {phase}.")


def negative_input(phase):
    return io.Conditioning.Input("negative", tooltip=f"What to guide away from during {phase} "
                                                     "(for concept removal, the layout's concept).")


# ComfyUI skips its own min/max check for every input a node's validate_inputs takes, and in
# ComfyUI 0.3.x it never checks the value of a V3 Combo; so the problems below (and magicmix_comfy's
# levels_problem / nu_problem) cover ranges, NaN, wrong types and unknown choices of the inputs they
# are given. Linked inputs arrive as None at validation time and are checked when the node runs.

def choice_problem(name: str, value, options) -> str | None:
    if value is not None and value not in options:
        return f"{name}: {value!r} is not one of {', '.join(map(str, options))}"
    return None


def cfg_problem(**cfgs) -> str | None:
    """cfg inputs by name (cfg=..., layout_cfg=...)."""
    return next(filter(None, (number_problem(name, value, 0.0, MAX_CFG) for name, value in cfgs.items())), None)


def sampler_choice_problem(**names) -> str | None:
    """sampler_name inputs by name, and scheduler=... / nu_schedule=... when given."""
    options = {"scheduler": comfy.samplers.SCHEDULER_NAMES, "nu_schedule": NU_CURVES}
    return next(filter(None, (choice_problem(name, value, options.get(name, comfy.samplers.SAMPLER_NAMES))
                              for name, value in names.items())), None)


def nu_inputs():
    return [
        io.Float.Input("nu", default=defaults.NU, min=0.0, max=1.0, step=0.01,
                       tooltip="Interpolation constant. 1 = plain img2img from k_max (content wins, layout only "
                               "through the start latent); 0 = the layout latent is kept until k_min. "
                               "0.5 to 0.9 mixes; lower keeps more of the layout."),
        io.Float.Input("nu_end", default=defaults.NU, min=0.0, max=1.0, step=0.01, optional=True,
                       tooltip="nu at the last mix (level k_min) when nu_schedule is linear or cosine; "
                               "ignored when constant."),
        io.Combo.Input("nu_schedule", options=list(NU_CURVES), default=defaults.NU_SCHEDULE, optional=True,
                       tooltip="constant: the same nu at every mix. linear / cosine: from nu at k_max to "
                               "nu_end at k_min."),
    ]
