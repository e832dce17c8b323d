"""The pack's nodes: thin classes (inputs, defaults, tooltips, validation) over magicmix_core."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .all_in_one import MagicMix, MagicMixSampler
from .layout_noise import MagicMixLayoutNoise
from .samplers import MagicMixConditionalSampler, MagicMixInterpolatedSampler

NODES = [MagicMixLayoutNoise, MagicMixInterpolatedSampler, MagicMixConditionalSampler, MagicMix, MagicMixSampler]


class MagicMixExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


async def comfy_entrypoint() -> MagicMixExtension:
    return MagicMixExtension()
