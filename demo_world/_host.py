"""Importing ComfyUI in-process, through the development package's one launcher (magicmix_dev/host.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from magicmix_dev import host

REPO = Path(__file__).resolve().parent.parent


def import_comfy() -> Path:
    """Make ``import comfy`` work (CPU, ComfyUI's own argument parsing, as the server runs it)."""
    return host.prepare_comfy_imports()


def use_pytorch_attention() -> None:
    """For the trainers only, before anything imports ComfyUI's attention: PyTorch's attention is
    several times faster to train with than ComfyUI's default CPU attention (the same function).
    Nothing that must match the server bit for bit (the prompt encodings) runs after this."""
    import_comfy()
    if "comfy.ldm.modules.attention" in sys.modules:
        raise RuntimeError("ComfyUI's attention is already imported; call use_pytorch_attention() first")
    import comfy.cli_args
    comfy.cli_args.args.use_pytorch_cross_attention = True


def cache_dir() -> Path:
    return host.cache_dir() / "demo_world"
