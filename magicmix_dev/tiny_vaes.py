"""Seeded random-weight VAE files that ComfyUI's own VAELoader loads, for the Flux, Qwen-Image and WAN workflows.

ComfyUI detects a VAE's kind and size from its keys. The Flux VAE's own format (AutoencoderKL) is
detected with ``ch`` 128 fixed (about 84 M parameters, slow on 2 CPU cores), but VAELoader also loads a
TAESD-format file and reads its latent channels from the weights: a 16-channel one stands in for
``ae.safetensors``. The WAN 2.1 VAE (Qwen-Image's too) is detected with its width read from the weights
(``decoder.head.0.gamma``), so the same class is built at width 8 (its real width is 96).

Files are cached under ``$MAGICMIX_CACHE/models`` (as the test checkpoint is), never committed.
"""
from __future__ import annotations

from pathlib import Path

import torch

from . import host
from .checkpoints import initialise_weights
from .sd_checkpoint import cached_checkpoint

DEFAULT_SEED = 0
GENERATOR_VERSION = 1  # bump when the weights or layout change, so older cached files are not reused
WAN21_TEST_WIDTH = 8


def _initialised(module: torch.nn.Module, seed: int) -> dict:
    initialise_weights(module, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith("gamma"):  # Wan's RMS_norm scale: 1, as a norm weight
                parameter.fill_(1.0)
    return {key: value.contiguous() for key, value in module.state_dict().items()}


def flux_taesd_state(seed: int = DEFAULT_SEED) -> dict:
    """A TAESD-format VAE with Flux's 16 latent channels (VAELoader's ``taesd_decoder.1.weight`` branch)."""
    host.prepare_comfy_imports()
    import comfy.taesd.taesd
    state = _initialised(comfy.taesd.taesd.TAESD(latent_channels=16), seed)
    state["vae_scale"] = torch.tensor(1.0)  # latents are divided by it: TAESD's own 1 and 0
    state["vae_shift"] = torch.tensor(0.0)
    return state


def wan21_state(seed: int = DEFAULT_SEED) -> dict:
    """A WAN 2.1 VAE (Qwen-Image's too) of width 8 with ComfyUI's own layout: 16 latent channels, 8x down,
    4x in time after the first frame."""
    host.prepare_comfy_imports()
    import comfy.ldm.wan.vae
    vae = comfy.ldm.wan.vae.WanVAE(dim=WAN21_TEST_WIDTH, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                                   attn_scales=[], temperal_downsample=[False, True, True], dropout=0.0)
    return _initialised(vae, seed)


TINY_VAES = {"flux": flux_taesd_state, "wan21": wan21_state}


def ensure_tiny_vae(kind: str, seed: int = DEFAULT_SEED, directory: Path | None = None) -> Path:
    """Path of the cached VAE file of ``kind`` (a key of TINY_VAES), generated first if it is not there."""
    directory = Path(directory) if directory is not None else host.models_dir()
    metadata = {"magicmix_test_vae": f"kind={kind} seed={seed} version={GENERATOR_VERSION}"}
    target = directory / f"magicmix-test-vae-{kind}-seed{seed}-v{GENERATOR_VERSION}.safetensors"
    return cached_checkpoint(target, lambda: TINY_VAES[kind](seed), metadata)
