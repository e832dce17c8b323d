"""Assemble the demo model's loadable SD1.5 checkpoint from the committed weights (seconds, cached).

Committed (``demo_world/weights/``, fp16): the trained narrow UNet and the trained TAESD decoder.
Generated here: the designed TAESD encoder (``latent.build_encoder_state``) and the seeded text
encoder (``text_encoder.generate``). The file has SD1.5's key prefixes and loads through
``CheckpointLoaderSimple`` like any SD1.5 checkpoint.

    python -m demo_world.checkpoint                          # prints the cached file's path
    python -m demo_world.checkpoint --out ComfyUI/models/checkpoints   # also put it into a ComfyUI
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from magicmix_dev.sd_checkpoint import cached_checkpoint, place_file, sd15_state_dict

from . import _host, world

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
UNET_WEIGHTS = WEIGHTS_DIR / "unet.safetensors"
DECODER_WEIGHTS = WEIGHTS_DIR / "taesd_decoder.safetensors"


@dataclass(frozen=True)
class ModelFiles:
    """One demo model: its world, its UNet's depth and its committed weights. The decoder is per world:
    the latent is the same cell map at any image size, but V2's pattern tones are V1's tones at another
    contrast, which V1's decoder does not draw (the pattern of 0.255 of v2 images read right after a round
    trip through it: docs/demo_world.md)."""
    world: world.WorldSpec
    levels: int
    unet: Path
    decoder: Path = DECODER_WEIGHTS


MODELS = {"v1": ModelFiles(world.V1, 2, UNET_WEIGHTS),
          "v2": ModelFiles(world.V2, 3, WEIGHTS_DIR / "v2" / "unet.safetensors",
                           WEIGHTS_DIR / "v2" / "taesd_decoder.safetensors")}
MODEL_NAME = "magicmix-demo-world.safetensors"
# Bump when the assembly changes, so cached files of older builds are not reused.
ASSEMBLY_VERSION = 1


def load_weights(path: Path) -> dict:
    from safetensors.torch import load_file
    return {k: v.to(torch.float32) for k, v in load_file(str(path)).items()}


def unet_state(path: Path = UNET_WEIGHTS, levels: int = 2) -> dict:
    """The narrow UNet's weights: the committed ones, else the seeded initialisation (before any training)."""
    if path.is_file():
        return load_weights(path)
    from . import unet
    return unet.new_narrow_unet(levels=levels).state_dict()


def vae_state(decoder_path: Path = DECODER_WEIGHTS) -> dict:
    """TAESD state dict: designed encoder, the committed decoder (else its initialisation), SD1.5 scale."""
    from . import latent
    vae = latent.new_taesd()
    if decoder_path.is_file():
        vae.taesd_decoder.load_state_dict(load_weights(decoder_path))
    return vae.state_dict()


def _fingerprint(levels: int, *paths: Path) -> str:
    h = hashlib.sha256(f"assembly {ASSEMBLY_VERSION}".encode() + (f" levels {levels}".encode() if levels != 2 else b""))
    for path in paths:
        h.update(path.read_bytes() if path.is_file() else b"(initialisation)")
    return h.hexdigest()[:12]


def build_state_dict(unet_path: Path = UNET_WEIGHTS, decoder_path: Path = DECODER_WEIGHTS, levels: int = 2) -> dict:
    _host.import_comfy()
    from . import text_encoder, unet
    return sd15_state_dict(lambda: unet.export_wide(unet_state(unet_path, levels)), text_encoder.generate,
                           lambda: vae_state(decoder_path))


def ensure_checkpoint(unet_path: Path = UNET_WEIGHTS, decoder_path: Path = DECODER_WEIGHTS, levels: int = 2) -> Path:
    """The cached checkpoint for these weights (built first if it is not there yet)."""
    directory = _host.cache_dir() / "checkpoints"
    stem = "magicmix-demo-world" if levels == 2 else f"magicmix-demo-world-{levels}-levels"
    target = directory / f"{stem}-{_fingerprint(levels, unet_path, decoder_path)}.safetensors"
    if target.is_file():
        return target
    cached_checkpoint(target, lambda: build_state_dict(unet_path, decoder_path, levels),
                      {"magicmix_demo_world": f"assembly {ASSEMBLY_VERSION}"})
    for older in directory.glob(f"{stem}-*.safetensors"):  # 0.3 GB each: keep the newest of each depth only
        if older != target and older.stem.rsplit("-", 1)[0] == stem:
            older.unlink()
    return target


def place_checkpoint(out_dir: Path, name: str = MODEL_NAME) -> Path:
    """Put the checkpoint into ``out_dir`` (e.g. ComfyUI/models/checkpoints) as a real file."""
    return place_file(ensure_checkpoint(), out_dir, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path,
                        help="also copy the checkpoint into this folder (ComfyUI/models/checkpoints)")
    parser.add_argument("--name", default=MODEL_NAME, help="file name in --out (default %(default)s)")
    args = parser.parse_args(argv)
    print(place_checkpoint(args.out, args.name) if args.out else ensure_checkpoint())
    return 0


if __name__ == "__main__":
    sys.exit(main())
