"""The demo model's text encoder: a full 12-layer CLIP-L with untrained weights from a seed.

ComfyUI needs a complete CLIP-L (missing weights stay uninitialised), and the world's prompts do not
need a trained one: the UNet learns to read whatever this encoder outputs. The weights come from
numpy's ``RandomState`` (its stream is fixed across numpy versions and does not depend on the torch
build), normal / sqrt(fan_in) for matrices and embeddings, 1 for LayerNorm weights, 0 for biases,
stored as fp16. ``WEIGHTS_SHA256`` is the hash of those fp16 bytes; generation checks it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

SEED = 20261201
# sha256 over key, shape and fp16 bytes of every tensor, in key order (see weights_hash)
WEIGHTS_SHA256 = "b646b9f713bf057f9aff5ca43bc866dccfe02223de970966157bfb64095eb269"


def clip_config() -> dict:
    import comfy.sd1_clip
    with open(Path(comfy.sd1_clip.__file__).with_name("sd1_clip_config.json")) as f:
        return json.load(f)


def _layout() -> list[tuple[str, tuple, str]]:
    """(key, shape, kind) of every CLIPTextModel tensor, in state-dict order; kind is norm / bias / matrix."""
    import comfy.clip_model
    import comfy.ops
    model = comfy.clip_model.CLIPTextModel(clip_config(), dtype=torch.float32, device="meta",
                                           operations=comfy.ops.disable_weight_init)
    layout = []
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, torch.nn.LayerNorm)
        for name, parameter in module.named_parameters(recurse=False):
            key = f"{module_name}.{name}" if module_name else name
            kind = "norm" if is_norm and name == "weight" else ("matrix" if parameter.ndim >= 2 else "bias")
            layout.append((key, tuple(parameter.shape), kind))
    return [entry for entry in layout if entry[0].startswith("text_model.")]


def generate(seed: int = SEED) -> dict:
    """The text encoder's state dict (CLIPTextModel keys, fp16), checked against WEIGHTS_SHA256."""
    rng = np.random.RandomState(seed)
    state = {}
    for key, shape, kind in _layout():
        if kind == "norm":
            values = np.ones(shape)
        elif kind == "bias":
            values = np.zeros(shape)
        else:
            values = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        state[key] = torch.from_numpy(values.astype(np.float16))
    digest = weights_hash(state)
    if seed == SEED and WEIGHTS_SHA256 is not None and digest != WEIGHTS_SHA256:
        raise RuntimeError(f"generated text encoder weights hash {digest}, expected {WEIGHTS_SHA256}: "
                           "numpy's RandomState stream or the CLIP layout changed")
    return state


def weights_hash(state: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].to(torch.float16).contiguous()
        h.update(key.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()
