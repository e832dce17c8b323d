"""Where the test bed's ComfyUI host, venv and models live, and how to import ComfyUI in-process.

Locations follow tools/setup.sh: ``MAGICMIX_CACHE`` (default ~/.cache/comfyui-magicmix) holds the
venv, the bundled ComfyUI and the generated models; ``COMFYUI_PATH`` points at a user's own
ComfyUI instead of the bundled one.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[1]
PACK_FOLDER_NAME = "comfyui-magicmix"  # the name tools/setup.sh links the repo under in custom_nodes/

# What the in-process host runs with: the CPU (no GPU on the test machines, and the same device
# as the real server started with --cpu), and no outbound API nodes.
HOST_ARGS = ("--cpu", "--disable-api-nodes")


def cache_dir() -> Path:
    return Path(os.environ.get("MAGICMIX_CACHE") or Path.home() / ".cache" / "comfyui-magicmix")


# The pinned frontend is what the host's requirements install (comfyui-frontend-package 1.32.9 for
# ComfyUI 0.3.75); tools/setup.sh unpacks this newer one for the canvas tests, served with --front-end-root.
PINNED_FRONTEND = "1.32.9"
NEWER_FRONTEND = "1.58.1"


def newer_frontend_root() -> Path:
    return cache_dir() / f"frontend-{NEWER_FRONTEND}"


def comfyui_path() -> Path:
    path = Path(os.environ.get("COMFYUI_PATH") or cache_dir() / "comfyui")
    if not (path / "main.py").is_file():
        raise RuntimeError(f"no ComfyUI at {path}: run tools/setup.sh (or set COMFYUI_PATH)")
    return path.resolve()


def models_dir() -> Path:
    return cache_dir() / "models"


_prepared: Path | None = None


def prepare_comfy_imports() -> Path:
    """Make ``import comfy`` work in this process, with ComfyUI's arguments parsed from HOST_ARGS.

    ComfyUI reads its command line once, when ``comfy.cli_args`` is first imported, and
    ``comfy.model_management`` picks its device from it at import time; so this must run before
    anything imports ``comfy``. It parses the way main.py does (``enable_args_parsing`` + argv)
    rather than patching attributes, so ComfyUI's own post-processing of the arguments applies.
    """
    global _prepared
    if _prepared is not None:
        return _prepared
    host = comfyui_path()
    if "comfy.cli_args" in sys.modules:
        raise RuntimeError("comfy was imported before prepare_comfy_imports(); its arguments are already parsed")
    if str(host) not in sys.path:
        sys.path.insert(0, str(host))
    import comfy.options

    saved_argv = sys.argv
    sys.argv = [str(host / "main.py"), *HOST_ARGS]
    try:
        comfy.options.enable_args_parsing()
        import comfy.cli_args  # noqa: F401  (parses sys.argv now)
    finally:
        comfy.options.enable_args_parsing(False)
        sys.argv = saved_argv
    # As main.py does early: ComfyUI's nodes.py later puts comfy/ ahead on sys.path, after which
    # "utils" would be comfy/utils.py and nodes that import server (comfy_extras/nodes_images) fail.
    import utils.extra_config  # noqa: F401
    _prepared = host
    return host


def load_host_nodes() -> dict:
    """Load ComfyUI's built-in extra nodes and the host's custom_nodes (this pack among them).

    The same call main.py makes at start-up (``nodes.init_extra_nodes``, a coroutine since 0.3.6x).
    Returns ``nodes.NODE_CLASS_MAPPINGS``. Raises if the pack was not loaded from this repository,
    so a stale or missing custom_nodes link fails loudly instead of testing someone else's copy.
    """
    host = prepare_comfy_imports()
    # ComfyUI's nodes.py must win over the pack's own nodes/ package: pytest may have put the repo
    # folder ahead of the host on sys.path while collecting (it does when the folder's name is not
    # an identifier, since the repo root holds an __init__.py).
    if sys.path[0] != str(host):
        sys.path.remove(str(host))
        sys.path.insert(0, str(host))
    import nodes
    if not hasattr(nodes, "init_extra_nodes"):
        raise RuntimeError(f"'import nodes' found {getattr(nodes, '__file__', nodes)}, not ComfyUI's nodes.py")

    # A private loop in a thread of its own: ComfyUI's loop set-up does not exist here, and the
    # test process may already run a loop on this thread (playwright's sync API does).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(asyncio.run, nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False)).result()
    loaded_from = nodes.LOADED_MODULE_DIRS.get(PACK_FOLDER_NAME)
    if loaded_from is None or Path(loaded_from).resolve() != PACK_DIR:
        raise RuntimeError(
            f"the pack was not loaded from {PACK_DIR} (custom_nodes/{PACK_FOLDER_NAME} -> {loaded_from}); "
            "run tools/setup.sh to link it into the host")
    return nodes.NODE_CLASS_MAPPINGS
