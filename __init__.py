"""MagicMix for ComfyUI: semantic mixing with diffusion models (arXiv 2210.16056).

ComfyUI imports this package from custom_nodes/ and calls ``comfy_entrypoint`` to get the nodes.
"""
from .nodes import comfy_entrypoint

# No NODE_CLASS_MAPPINGS on purpose: ComfyUI only calls comfy_entrypoint when that name is absent.
__all__ = ["comfy_entrypoint"]
