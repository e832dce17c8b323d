"""Inputs, defaults, ranges and tooltips shared by the MagicMix nodes (the spec's defaults)."""
from __future__ import annotations

import math

import comfy.samplers
from comfy_api.latest import io

from ..magicmix_core.levels import NU_CURVES, LevelRange

CATEGORY = "sampling/magicmix"

# A custom socket type: the layout made once by MagicMixLayoutNoise, read by both samplers.
Layout = io.Custom("MAGICMIX_LAYOUT")

DEFAULT_STEPS = 50
DEFAULT_K_MIN = 0.3
DEFAULT_K_MAX = 0.6
DEFAULT_NU = 0.75
DEFAULT_CFG = 7.5
DEFAULT_SAMPLER = "euler"
DEFAULT_SCHEDULER = "normal"


def model_input():
    return io.Model.Input("model", tooltip="The diffusion model (any SD1.x, SD2.x, SDXL, SD3 or newer checkpoint).")


def cfg_input(name="cfg", phase="this phase"):
    return io.Float.Input(name, default=DEFAULT_CFG, min=0.0, max=100.0, step=0.1, round=0.01,
                          tooltip=f"Classifier-free guidance scale for {phase}. The paper uses 7.5.")


def sampler_name_input(name="sampler_name"):
    return io.Combo.Input(name, options=comfy.samplers.SAMPLER_NAMES, default=DEFAULT_SAMPLER,
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


def levels_problem(k_min, k_max, steps=None) -> str | None:
    """Why this k_min/k_max/steps combination cannot run, naming the inputs; None when it can.

    Linked inputs arrive as None at validation time and are checked when the node runs.
    """
    for name, value in (("k_min", k_min), ("k_max", k_max)):
        if value is not None and not (0.0 <= value <= 1.0):  # NaN fails this too
            return f"{name} must be a number within [0, 1], got {value}"
    if k_min is not None and k_max is not None:
        if not k_min < k_max:
            return (f"k_min ({k_min}) must be smaller than k_max ({k_max}): the layout phase runs from "
                    f"noise level k_max down to k_min")
        if steps is not None and steps >= 1:
            levels = LevelRange.from_fractions(k_min, k_max, steps)
            if levels.mix_count < 1:
                return (f"steps ({steps}) is too small for k_min {k_min} and k_max {k_max}: both round to noise "
                        f"level {levels.k_min_level} of {steps}, so nothing would be mixed; use more steps or "
                        f"move k_min and k_max further apart (need round(k_max*steps) > round(k_min*steps))")
    return None


def nu_problem(nu, nu_end=None) -> str | None:
    for name, value in (("nu", nu), ("nu_end", nu_end)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
            return f"{name} must be a number within [0, 1], got {value}"
    return None


def nu_inputs():
    return [
        io.Float.Input("nu", default=DEFAULT_NU, min=0.0, max=1.0, step=0.01,
                       tooltip="Interpolation constant. 1 = plain img2img from k_max (content wins, layout only "
                               "through the start latent); 0 = the layout latent is kept until k_min. "
                               "0.5 to 0.9 mixes; lower keeps more of the layout."),
        io.Float.Input("nu_end", default=DEFAULT_NU, min=0.0, max=1.0, step=0.01, optional=True,
                       tooltip="nu at the last mix (level k_min) when nu_schedule is linear or cosine; "
                               "ignored when constant."),
        io.Combo.Input("nu_schedule", options=list(NU_CURVES), default="constant", optional=True,
                       tooltip="constant: the same nu at every mix. linear / cosine: from nu at k_max to "
                               "nu_end at k_min."),
    ]
