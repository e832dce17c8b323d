"""Guidance-distilled models (Flux dev, Flux 2 dev): a console warning when a run adds real CFG on top.

Such a model takes its guidance as an input (FluxGuidance) and was distilled to follow it in one
call; cfg > 1 then runs classifier-free guidance on top: twice the model calls and another picture.
It is legal, so it is a warning, not an error. Every Flux-family model gets a ``guidance`` cond
(3.5 by default, 0 for Chroma), so its presence says nothing; ComfyUI's model detection records
``guidance_embed`` in the model's ``unet_config`` (True for Flux dev, False for schnell). Schnell
and LoRA-distilled models (Lightning and the like) cannot be told apart at run time: the tooltips
and docs/models.md are their remedy.
"""
from __future__ import annotations

import logging

from ..magicmix_core import layout

# What the last warning was about (the layout's identity and the cfg), so that a run's content phase
# does not repeat what its layout phase said: one warning per run.
_last_warning: tuple | None = None


def is_guidance_distilled(model) -> bool:
    """Whether ComfyUI's model detection found a guidance embedding in this MODEL (a ModelPatcher)."""
    return bool(model.model.model_config.unet_config.get("guidance_embed", False))


def _about(magicmix_layout: layout.MagicMixLayout | None, cfg: float) -> tuple | None:
    if magicmix_layout is None:
        return None
    return id(magicmix_layout), magicmix_layout.seed, magicmix_layout.latent_shape, cfg


def distilled_cfg_warning(model, cfg: float, input_name: str = "cfg") -> str | None:
    """The warning for ``cfg`` on this model, or None when there is nothing to say."""
    if cfg <= 1.0 or not is_guidance_distilled(model):
        return None
    return (f"MagicMix: {input_name} is {cfg:g} on a guidance-distilled model (Flux dev type: ComfyUI detected "
            f"guidance_embed). That runs classifier-free guidance on top of the distilled guidance: twice the "
            f"model calls and a different picture. Use {input_name} 1 and set the guidance with FluxGuidance "
            f"(3.5 is usual).")


def warn_distilled_cfg(model, cfg: float, magicmix_layout: layout.MagicMixLayout | None = None,
                       repeat: bool = True) -> bool:
    """Log ``distilled_cfg_warning`` once; True when it was logged.

    ``repeat`` False (a run's content phase): stay silent when the last warning was for this layout
    and this cfg, i.e. the run's layout phase already said it.
    """
    global _last_warning
    message = distilled_cfg_warning(model, cfg)
    if message is None:
        return False
    about = _about(magicmix_layout, cfg)
    if not repeat and about is not None and about == _last_warning:
        return False
    _last_warning = about
    logging.warning(message)
    return True
