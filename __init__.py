"""MagicMix for ComfyUI: semantic mixing with diffusion models (arXiv 2210.16056).

ComfyUI imports this package from custom_nodes/ and calls ``comfy_entrypoint`` to get the nodes.
"""
import importlib.util

# web/docs/<NodeId>.md: the pages the frontend's node docs panel shows (served under /extensions/).
WEB_DIRECTORY = "./web"

# Outside a ComfyUI host there is nothing to register: pytest imports this file when it collects the
# tests, as the package of the repo's folder, or as a plain module (no __package__) when the folder's
# name is not an identifier (e.g. a clone named comfyui-magicmix).
if __package__ and importlib.util.find_spec("comfy_api") is not None:
    from .nodes import comfy_entrypoint

    # No NODE_CLASS_MAPPINGS on purpose: ComfyUI only calls comfy_entrypoint when that name is absent.
    __all__ = ["comfy_entrypoint"]
