"""Test-only nodes for the Flux, Qwen-Image and WAN workflows' e2e runs (tests/e2e/test_workflows.py).

Only the test server of those runs loads this folder (an extra ``custom_nodes`` path); the pack never
ships it. The nodes give a component in the place of a loader whose smallest file is too big for CI:

- ``MagicMixTestTinyDiffusionModel`` replaces UNETLoader: the family's real ComfyUI model class with a
  small network (magicmix_dev.tiny_flow_models). ComfyUI's detection fixes Flux at 24 heads of 128 (the
  smallest file UNETLoader loads is about 0.38 B parameters) and Qwen-Image's block width.
- ``MagicMixTestTextConditioning`` replaces CLIPTextEncode (and the text encoder loader): conditioning of
  the form the family's encoders give (tokens, Flux's pooled output), seeded by the prompt's text, at the
  tiny model's text width (WAN: umt5-xxl's 4096, which the WAN file UNETLoader loads expects). T5-XXL,
  umt5-xxl and Qwen2.5-VL 7B have fixed configurations in ComfyUI.
"""
from __future__ import annotations

import functools
import sys
import zlib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))  # appended: the repo's nodes/ must not shadow ComfyUI's nodes module

from magicmix_dev import tiny_flow_models, tiny_video_models  # noqa: E402

# guidance=None: Flux's guidance comes from the workflow's own FluxGuidance node, not from the stand-in
FAMILIES = {"flux_dev": functools.partial(tiny_flow_models.tiny_flux_dev, guidance=None),
            "qwen_image": tiny_flow_models.tiny_qwen_image}


@functools.cache
def tiny_model(family: str):
    return FAMILIES[family](seed=0)


# seed -> CONDITIONING per family: the tiny model's own, or WAN's width (its model is a file UNETLoader loads)
TEXT_CONDITIONING = {family: lambda seed, family=family: tiny_model(family).conditioning(seed) for family in FAMILIES}
TEXT_CONDITIONING["wan"] = tiny_video_models.wan_conditioning


class MagicMixTestTinyDiffusionModel:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"family": (list(FAMILIES),)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load"
    CATEGORY = "testing"

    def load(self, family):
        return (tiny_model(family).model,)


class MagicMixTestTextConditioning:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"family": (list(TEXT_CONDITIONING),), "text": ("STRING", {"multiline": True})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "testing"

    def encode(self, family, text):
        return (TEXT_CONDITIONING[family](zlib.crc32(text.encode("utf-8"))),)


NODE_CLASS_MAPPINGS = {"MagicMixTestTinyDiffusionModel": MagicMixTestTinyDiffusionModel,
                       "MagicMixTestTextConditioning": MagicMixTestTextConditioning}
