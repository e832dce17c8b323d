"""The pack's ComfyUI engine (``magicmix_comfy``) imported outside ComfyUI's custom_nodes loader.

The engine reaches the method by relative import (``..magicmix_core``), as a registry install loads
it: both are subpackages of the pack. Here the repo folder becomes that parent package, under the name
``PACKAGE``, without running the pack's ``__init__.py`` (which registers the nodes and needs
``comfy_api``). ComfyUI itself must already be importable.
"""
from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[1]
PACKAGE = "magicmix_pack"


def pack_module(name: str) -> types.ModuleType:
    """The pack's module ``name`` (e.g. ``"magicmix_comfy.layout_building"``), imported as a subpackage."""
    if PACKAGE not in sys.modules:
        pack = types.ModuleType(PACKAGE, "The MagicMix pack's folder, as a package without its __init__.py.")
        pack.__path__ = [str(PACK_DIR)]
        sys.modules[PACKAGE] = pack
    return importlib.import_module(f"{PACKAGE}.{name}")
