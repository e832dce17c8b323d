"""Seeded random-weight SD1.5 checkpoints that ComfyUI's CheckpointLoaderSimple detects as SD15.

No real weights can be downloaded on the test machines, and none may be committed, so the tests
build one: the UNet, text encoder and VAE are ComfyUI's own classes, their state dicts are saved
under the key prefixes of an original SD1.5 checkpoint, in fp16 (about 465 MB).

- UNet: SD1.5's widths (model_channels 320, context_dim 768, conv proj_in, 8 heads) but one
  resolution level with one res block and transformer depth 1. ComfyUI reads depth, channel_mult
  and num_res_blocks from the keys, so this small UNet is still detected as SD15 and is fast on a CPU.
- Text encoder: a full 12-layer CLIP-L (ComfyUI leaves weights missing from a file uninitialised,
  so a shorter one would compute with garbage). Like an original SD1.5 file it has no
  text_projection (ComfyUI expects that and does not use the pooled output for SD1.5).
- VAE: the full SD VAE (ComfyUI tells VAE kinds apart by their full key set).

Weights: random normal / sqrt(fan_in) for matrices, kernels and embeddings, 1 for norm weights,
0 for everything else, so activations stay near unit scale and outputs stay finite.

Files are cached under ``$MAGICMIX_CACHE/models`` with the seed and GENERATOR_VERSION in the name,
written atomically; asking again for the same seed is a no-op.

tools/run_workflow.py (the main job) and the test fixtures call ensure_checkpoint(). The CLI puts
the model into a ComfyUI of yours::

    python -m magicmix_dev.checkpoints --out ComfyUI/models/checkpoints
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from . import host
from .sd_checkpoint import cached_checkpoint, place_file, sd15_state_dict

DEFAULT_SEED = 0
DEFAULT_MODEL_NAME = "magicmix-test-sd15.safetensors"
# Bump when the generated weights or layout change, so cached files of older builds are not reused.
GENERATOR_VERSION = 1

SD15_ONE_LEVEL_UNET = {
    "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 320,
    "num_res_blocks": [1], "channel_mult": [1], "transformer_depth": [1], "transformer_depth_output": [1, 1],
    "transformer_depth_middle": 1, "num_heads": 8, "num_head_channels": -1,
    "use_spatial_transformer": True, "use_linear_in_transformer": False, "context_dim": 768,
    "legacy": False, "use_checkpoint": False, "adm_in_channels": None,
    "use_temporal_attention": False, "use_temporal_resblock": False,
}

# comfy.sd.VAE's default SD1.x/SD2.x VAE configuration
SD_VAE_DDCONFIG = {
    "double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
    "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0,
}
SD_VAE_EMBED_DIM = 4


def checkpoint_file_name(seed: int = DEFAULT_SEED) -> str:
    return f"magicmix-test-sd15-seed{seed}-v{GENERATOR_VERSION}.safetensors"


def initialise_weights(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Random normal / sqrt(fan_in) for tensors of rank >= 2, 1 for norm weights, 0 otherwise.

    ComfyUI's layers skip initialisation (torch.empty), so every parameter is set here. Norm layers
    are found by type, not by parameter name: the UNet's GroupNorms are called e.g. ``out.0``. The
    numbers are drawn on the generator's device (bench/gpu_check.py initialises on the GPU).
    """
    with torch.no_grad():
        for submodule in module.modules():
            is_norm = "norm" in type(submodule).__name__.lower()
            for name, parameter in submodule.named_parameters(recurse=False):
                if is_norm:
                    parameter.fill_(1.0 if name == "weight" else 0.0)
                elif parameter.ndim >= 2:
                    fan_in = parameter[0].numel()
                    parameter.copy_(torch.randn(parameter.shape, generator=generator, device=generator.device)
                                    / fan_in ** 0.5)
                else:
                    parameter.zero_()


def build_state_dict(seed: int = DEFAULT_SEED) -> dict:
    """The full checkpoint state dict, fp16, in SD1.5 key layout."""
    host.prepare_comfy_imports()
    import comfy.clip_model
    import comfy.ldm.models.autoencoder
    import comfy.ldm.modules.diffusionmodules.openaimodel
    import comfy.ops
    import comfy.sd1_clip

    generator = torch.Generator().manual_seed(seed)
    operations = comfy.ops.disable_weight_init  # plain layers; every weight is set below

    def initialised(module: torch.nn.Module) -> torch.nn.Module:
        initialise_weights(module, generator)
        return module

    def unet() -> dict:
        return initialised(comfy.ldm.modules.diffusionmodules.openaimodel.UNetModel(
            **SD15_ONE_LEVEL_UNET, dtype=torch.float32, device="cpu", operations=operations)).state_dict()

    def clip() -> dict:
        with open(Path(comfy.sd1_clip.__file__).with_name("sd1_clip_config.json")) as f:
            config = json.load(f)
        text_encoder = initialised(comfy.clip_model.CLIPTextModel(config, dtype=torch.float32, device="cpu",
                                                                  operations=operations))
        return {key: value for key, value in text_encoder.state_dict().items() if key.startswith("text_model.")}

    def vae() -> dict:
        return initialised(comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=SD_VAE_DDCONFIG,
                                                                      embed_dim=SD_VAE_EMBED_DIM)).state_dict()

    return sd15_state_dict(unet, clip, vae)


def ensure_checkpoint(seed: int = DEFAULT_SEED, directory: Path | None = None) -> Path:
    """Path of the cached checkpoint for ``seed``, generating it first if it is not there yet."""
    directory = Path(directory) if directory is not None else host.models_dir()
    # One metadata entry: safetensors writes several in hash order, which would make the bytes
    # differ between runs of the same seed.
    metadata = {"magicmix_test_checkpoint": f"seed={seed} version={GENERATOR_VERSION}"}
    return cached_checkpoint(directory / checkpoint_file_name(seed), lambda: build_state_dict(seed), metadata)


def place_checkpoint(out_dir: Path, name: str = DEFAULT_MODEL_NAME, seed: int = DEFAULT_SEED) -> Path:
    """Put the cached checkpoint into ``out_dir`` under ``name`` (a hard link where possible, else a copy)."""
    return place_file(ensure_checkpoint(seed), out_dir, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path,
                        help="also place the checkpoint in this folder (e.g. ComfyUI's models/checkpoints)")
    parser.add_argument("--name", default=DEFAULT_MODEL_NAME, help="file name to use in --out (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    path = place_checkpoint(args.out, args.name, args.seed) if args.out else ensure_checkpoint(args.seed)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
