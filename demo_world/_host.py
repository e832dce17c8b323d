"""Importing ComfyUI in-process, through the test bed's one launcher (tests/support/host.py)."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from support import host  # noqa: E402


def import_comfy() -> Path:
    """Make ``import comfy`` work (CPU, ComfyUI's own argument parsing); returns the ComfyUI folder.

    PyTorch's attention is switched on first: ComfyUI's default CPU attention is several times slower
    for training, and both compute the same function.
    """
    path = host.prepare_comfy_imports()
    import comfy.cli_args
    comfy.cli_args.args.use_pytorch_cross_attention = True
    return path


def cache_dir() -> Path:
    return host.cache_dir() / "demo_world"
