"""Tiny random-weight video diffusion models (and the VAEs their image-to-video nodes need), from ComfyUI's classes.

Each family is its real ComfyUI model class (``supported_models`` config + ``model_base`` class) with a
small network: one transformer block, a narrow width, the real latent channels, patching and
``model_sampling`` (shift), so ComfyUI's own ``extra_conds``, per-frame timesteps and 5-D latent
handling are exercised:

- ``wan21_t2v``: WAN 2.1 T2V (WanModel, 16 channels, shift 8, text width 4096).
- ``wan21_i2v``: WAN 2.1 I2V (in_dim 36: latent 16 + WanImageToVideo's mask 4 + image 16).
- ``wan22_ti2v``: WAN 2.2 TI2V 5B (model_base.WAN22: 48 channels, per-frame timesteps from the denoise mask).
- ``hunyuan_video``: Hunyuan Video (double + single stream blocks, pooled 768, guidance embedding, shift 7).
- ``ltxv``: LTXV (128 channels, shift 2.37, per-frame timesteps from the denoise mask).

``ensure_wan21_t2v_file`` writes a WAN 2.1 T2V diffusion-model file that ComfyUI's own UNETLoader loads
(its detection sets one head per 128 channels, so the net is 128 wide), for the WAN workflows' e2e runs.

The VAEs go through ``comfy.sd.VAE``'s own detection from a tiny state dict: WAN 2.1's width is read
from its weights; WAN 2.2's is fixed at 160 there (700 M parameters), so it is built at width 16 by
narrowing the class while ComfyUI constructs it; LTXV's comes from the ``config`` metadata ComfyUI reads.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from . import host
from .sd_checkpoint import cached_checkpoint
from .tiny_models import initialise_weights, _patcher, _sampling_type

TEXT_TOKENS = 8  # fewer than the real 512 / 256 tokens: the cross-attention is the same either way
WAN_TEXT_DIM = 4096  # umt5-xxl
HUNYUAN_POOLED = 768  # CLIP-L pooled output
WAN_VAE_DIM = 16


@dataclass
class TinyVideoModel:
    name: str
    model: object  # comfy.model_patcher.ModelPatcher
    positive: list
    negative: list
    latent_channels: int
    frame_ratio: int  # video frames per latent frame (after the first)
    pixel_ratio: int  # pixels per latent cell
    make_conditioning: Callable[[int], list]
    sampling_type: str = "CONST"

    def conditioning(self, seed: int) -> list:
        return self.make_conditioning(seed)

    def latent(self, frames: int = 3, height: int = 4, width: int = 4, batch: int = 1, seed: int = 0) -> dict:
        """A random non-zero 5-D LATENT (B x C x frames x H x W): stands in for a VAE-encoded layout video."""
        generator = torch.Generator().manual_seed(seed)
        return {"samples": torch.randn((batch, self.latent_channels, frames, height, width), generator=generator)}

    def empty_latent(self, frames: int = 3, height: int = 4, width: int = 4, batch: int = 1) -> dict:
        return {"samples": torch.zeros((batch, self.latent_channels, frames, height, width))}

    def video_length(self, latent_frames: int) -> int:
        """The pixel frame count whose latent has ``latent_frames`` frames (what the video nodes' length means)."""
        return (latent_frames - 1) * self.frame_ratio + 1


def _conditioning_maker(width: int, extras: Callable[[torch.Generator], dict] = lambda g: {}):
    def make(seed: int) -> list:
        generator = torch.Generator().manual_seed(seed)
        return [[torch.randn((1, TEXT_TOKENS, width), generator=generator), extras(generator)]]
    return make


def _finish(name: str, base_model, seed: int, make_conditioning, frame_ratio: int, pixel_ratio: int):
    initialise_weights(base_model, seed)
    return TinyVideoModel(name, _patcher(base_model), make_conditioning(seed + 1), make_conditioning(seed + 2),
                          base_model.latent_format.latent_channels, frame_ratio, pixel_ratio, make_conditioning,
                          _sampling_type(base_model))


def wan_unet_config(model_type: str = "t2v", in_dim: int = 16, out_dim: int = 16) -> dict:
    # dim 32 with 2 heads: 16 channels a head, split by WAN's 3-D rope into 8 + 4 + 4.
    return {"image_model": "wan2.1", "model_type": model_type, "patch_size": (1, 2, 2), "text_len": 512,
            "in_dim": in_dim, "dim": 32, "ffn_dim": 64, "freq_dim": 256, "text_dim": WAN_TEXT_DIM,
            "out_dim": out_dim, "num_heads": 2, "num_layers": 1, "window_size": (-1, -1), "qk_norm": True,
            "cross_attn_norm": True, "eps": 1e-6}


def wan_conditioning(seed: int) -> list:
    """A CONDITIONING of umt5-xxl's width (what WAN's CLIPTextEncode gives), seeded."""
    return _conditioning_maker(WAN_TEXT_DIM)(seed)


WAN_FILE_DIM = 128  # UNETLoader's WAN detection: num_heads = dim // 128, text_dim 4096
WAN_FILE_VERSION = 1  # bump when the weights or layout change, so older cached files are not reused


def wan21_t2v_file_state(seed: int = 0) -> dict:
    """The tensors of a WAN 2.1 T2V diffusion-model file (UNETLoader's key layout): one block, dim 128."""
    host.prepare_comfy_imports()
    import comfy.ldm.wan.model
    import comfy.ops
    config = wan_unet_config() | {"dim": WAN_FILE_DIM, "ffn_dim": 2 * WAN_FILE_DIM, "num_heads": 1}
    net = comfy.ldm.wan.model.WanModel(**config, operations=comfy.ops.disable_weight_init)
    initialise_weights(net, seed)
    return {key: value.contiguous() for key, value in net.state_dict().items()}


def ensure_wan21_t2v_file(seed: int = 0, directory: Path | None = None) -> Path:
    """Path of the cached WAN 2.1 T2V file of ``seed``, generated first if it is not there."""
    directory = Path(directory) if directory is not None else host.models_dir()
    metadata = {"magicmix_test_model": f"wan21_t2v dim={WAN_FILE_DIM} seed={seed} version={WAN_FILE_VERSION}"}
    target = directory / f"magicmix-test-wan21-t2v-seed{seed}-v{WAN_FILE_VERSION}.safetensors"
    return cached_checkpoint(target, lambda: wan21_t2v_file_state(seed), metadata)


def tiny_wan21_t2v(seed: int = 0) -> TinyVideoModel:
    import comfy.model_base
    import comfy.supported_models
    config = comfy.supported_models.WAN21_T2V(wan_unet_config())
    base = comfy.model_base.WAN21(config)
    return _finish("wan21_t2v", base, seed, _conditioning_maker(WAN_TEXT_DIM), 4, 8)


def tiny_wan21_i2v(seed: int = 0) -> TinyVideoModel:
    import comfy.model_base
    import comfy.supported_models
    config = comfy.supported_models.WAN21_I2V(wan_unet_config("i2v", in_dim=36))
    base = comfy.model_base.WAN21(config, image_to_video=True)
    return _finish("wan21_i2v", base, seed, _conditioning_maker(WAN_TEXT_DIM), 4, 8)


def tiny_wan22_ti2v(seed: int = 0) -> TinyVideoModel:
    import comfy.model_base
    import comfy.supported_models
    config = comfy.supported_models.WAN22_T2V(wan_unet_config(in_dim=48, out_dim=48))
    base = comfy.model_base.WAN22(config, image_to_video=True)
    return _finish("wan22_ti2v", base, seed, _conditioning_maker(WAN_TEXT_DIM), 4, 16)


def tiny_hunyuan_video(seed: int = 0) -> TinyVideoModel:
    import comfy.model_base
    import comfy.supported_models
    # hidden 64 with 2 heads: 32 channels a head = rope axes 8 (time) + 12 + 12 (space)
    unet_config = {"image_model": "hunyuan_video", "in_channels": 16, "out_channels": 16, "patch_size": [1, 2, 2],
                   "vec_in_dim": HUNYUAN_POOLED, "axes_dim": [8, 12, 12], "meanflow": False,
                   "context_in_dim": 4096, "hidden_size": 64, "mlp_ratio": 4.0, "num_heads": 2, "depth": 1,
                   "depth_single_blocks": 1, "theta": 256, "qkv_bias": True, "byt5": False, "guidance_embed": True,
                   "use_cond_type_embedding": False, "vision_in_dim": None}
    config = comfy.supported_models.HunyuanVideo(unet_config)
    base = comfy.model_base.HunyuanVideo(config)

    def extras(generator):
        return {"pooled_output": torch.randn((1, HUNYUAN_POOLED), generator=generator), "guidance": 6.0}

    return _finish("hunyuan_video", base, seed, _conditioning_maker(4096, extras), 4, 8)


def tiny_ltxv(seed: int = 0) -> TinyVideoModel:
    import comfy.model_base
    import comfy.supported_models
    unet_config = {"image_model": "ltxv", "in_channels": 128, "cross_attention_dim": 64, "attention_head_dim": 32,
                   "num_attention_heads": 2, "caption_channels": 4096, "num_layers": 1}
    config = comfy.supported_models.LTXV(unet_config)
    base = comfy.model_base.LTXV(config)

    def extras(_generator):  # LTXV's T5 encoder returns its token mask with the conditioning
        return {"attention_mask": torch.ones((1, TEXT_TOKENS), dtype=torch.long), "frame_rate": 25.0}

    return _finish("ltxv", base, seed, _conditioning_maker(4096, extras), 8, 32)


TINY_VIDEO_FAMILIES: dict[str, Callable[..., TinyVideoModel]] = {
    "wan21_t2v": tiny_wan21_t2v,
    "wan21_i2v": tiny_wan21_i2v,
    "wan22_ti2v": tiny_wan22_ti2v,
    "hunyuan_video": tiny_hunyuan_video,
    "ltxv": tiny_ltxv,
}


def _wan_vae_config(z_dim: int) -> dict:
    return {"dim": WAN_VAE_DIM, "z_dim": z_dim, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
            "temperal_downsample": [False, True, True], "dropout": 0.0}


def _seeded_state_dict(module: torch.nn.Module, seed: int) -> dict:
    initialise_weights(module, seed)
    with torch.no_grad():  # WAN's RMS_norm scales are called gamma: 1, as a norm weight (0 would silence the VAE)
        for name, parameter in module.named_parameters():
            if name.endswith("gamma"):
                parameter.fill_(1.0)
    return module.state_dict()


def tiny_wan21_vae(seed: int = 0):
    """A WAN 2.1 VAE of width 16, loaded by ``comfy.sd.VAE`` (which reads the width from the weights)."""
    import comfy.ldm.wan.vae
    import comfy.sd
    return comfy.sd.VAE(sd=_seeded_state_dict(comfy.ldm.wan.vae.WanVAE(**_wan_vae_config(16)), seed))


def tiny_wan22_vae(seed: int = 0):
    """A WAN 2.2 VAE (48 channels, 16x spatial) of width 16 through ``comfy.sd.VAE``'s WAN 2.2 branch.

    That branch fixes the width at 160; the class is narrowed while ComfyUI constructs it, so its
    ratios, latent channels and patcher are ComfyUI's own.
    """
    import comfy.ldm.wan.vae2_2 as wan22_vae
    import comfy.sd
    real_class = wan22_vae.WanVAE
    state_dict = _seeded_state_dict(real_class(**_wan_vae_config(48), dec_dim=WAN_VAE_DIM), seed)
    wan22_vae.WanVAE = lambda **config: real_class(**{**config, "dim": WAN_VAE_DIM, "dec_dim": WAN_VAE_DIM})
    try:
        return comfy.sd.VAE(sd=state_dict)
    finally:
        wan22_vae.WanVAE = real_class


LTXV_VAE_CONFIG = {  # 4x4 patches and three 2x compressions: 32x spatial, 8x in time, as LTXV's VAE
    "_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3, "latent_channels": 128,
    "blocks": [["res_x", 1], ["compress_all", 1], ["compress_all", 1], ["compress_all", 1], ["res_x", 1]],
    "scaling_factor": 1.0, "norm_layer": "pixel_norm", "patch_size": 4, "latent_log_var": "uniform",
    "use_quant_conv": False, "causal_decoder": False,
}


def tiny_ltxv_vae(seed: int = 0):
    """An LTXV VAE of few blocks, its config given as the ``config`` metadata ComfyUI reads for LTXV VAEs."""
    import comfy.ldm.lightricks.vae.causal_video_autoencoder as ltxv_vae
    import comfy.sd
    state_dict = _seeded_state_dict(ltxv_vae.VideoVAE(config=LTXV_VAE_CONFIG), seed)
    # the latent statistics are buffers (left uninitialised by the class): identity normalisation
    for name in ("std-of-means", "mean-of-stds", "mean-of-stds_over_std-of-means"):
        state_dict[f"per_channel_statistics.{name}"] = torch.ones(128)
    for name in ("mean-of-means", "channel"):
        state_dict[f"per_channel_statistics.{name}"] = torch.zeros(128)
    return comfy.sd.VAE(sd=state_dict, metadata={"config": json.dumps({"vae": LTXV_VAE_CONFIG})})
