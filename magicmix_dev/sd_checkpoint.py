"""SD1.x-format checkpoint files as we generate them, and files written atomically.

The key prefixes of an original SD1.5 checkpoint, the fp16 state dict under them, a cached file built
once and written beside its final name then renamed (a reader never sees a partial file), and placing
a file into a ComfyUI folder. The test checkpoint (checkpoints.py) and the demo model
(demo_world/checkpoint.py) are assembled with it; diffusers_convert.py reads the prefixes back.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from collections.abc import Callable

import torch

UNET_PREFIX = "model.diffusion_model."
CLIP_PREFIX = "cond_stage_model.transformer."
VAE_PREFIX = "first_stage_model."


def sd15_state_dict(unet: Callable[[], dict], clip: Callable[[], dict], vae: Callable[[], dict]) -> dict:
    """The three parts' weights under SD1.5's key prefixes, in fp16 as a released file holds them.

    Each part is a function that returns its state dict, called in this order (a seeded build draws its
    numbers in it) and converted before the next is built, so only one part is held in fp32 at a time.
    """
    state = {}
    for prefix, part in ((UNET_PREFIX, unet), (CLIP_PREFIX, clip), (VAE_PREFIX, vae)):
        state.update({prefix + key: tensor.to(torch.float16).contiguous() for key, tensor in part().items()})
    return state


def cached_checkpoint(target: Path, build_state: Callable[[], dict], metadata: dict[str, str]) -> Path:
    """``target`` when it exists, else ``build_state()`` saved there first (safetensors, atomically)."""
    if target.is_file():
        return target
    from safetensors.torch import save_file
    state = build_state()
    atomic_write(lambda partial: save_file(state, partial, metadata=metadata), target)
    return target


def atomic_write(write: Callable[[str], None], target: Path) -> None:
    """``write(path)`` to a temporary file beside ``target``, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        write(partial)
        os.chmod(partial, 0o666 & ~_current_umask())  # mkstemp made it owner-only
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def place_file(source: Path, out_dir: Path, name: str) -> Path:
    """Put ``source`` into ``out_dir`` under ``name`` (a hard link where possible, else a copy), atomically.

    A real file, not a symlink: it keeps working if the cache it came from is deleted later.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    if target.is_file() and os.path.samefile(target, source):
        return target
    partial = out_dir / f".{name}.partial"
    if partial.exists():
        partial.unlink()
    try:
        os.link(source, partial)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target
