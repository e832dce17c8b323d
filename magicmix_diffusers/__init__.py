"""MagicMix for diffusers: the same levels and mix as the ComfyUI pack (``magicmix_core``), over a diffusers
Stable Diffusion pipeline. The ComfyUI pack never imports this package; it needs ``diffusers`` (the
``diffusers`` extra of pyproject.toml) and transformers.

    from magicmix_diffusers import magicmix
    result = magicmix(pipe, "a photo of a coffee machine", layout_image=corgi, k_min=0.3, k_max=0.6, nu=0.75)
"""
from .pipeline import MagicMixOutput, comfy_noise, magicmix

__all__ = ["MagicMixOutput", "comfy_noise", "magicmix"]
