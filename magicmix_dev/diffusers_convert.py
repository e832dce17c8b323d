"""Our own SD1.x-format checkpoints as diffusers pipelines, offline: nothing is fetched.

diffusers' single-file loader looks its configs up on the Hub; here the configs are written from the
UNet's LDM parameters we give (the same form ComfyUI's model detection produces) and the weights are
converted with diffusers' own LDM converters. The tokenizer comes from a folder on disk (ComfyUI ships
CLIP-L's as ``comfy/sd1_tokenizer``). ``convert_checkpoint`` writes a pipeline folder that
``StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)`` loads.

SD1.x scheduler: the checkpoint's discrete schedule (scaled-linear betas 0.00085 .. 0.012 over 1000
steps); EulerDiscreteScheduler with ``timestep_spacing="trailing"`` picks the same table entries as
ComfyUI's ``simple`` scheduler when the step count divides 1000.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .sd_checkpoint import CLIP_PREFIX, VAE_PREFIX
CONVERSION_VERSION = 2  # bump when what convert_checkpoint writes changes: older folders are rewritten
SD1_SCALING_FACTOR = 0.18215
SD1_SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                "beta_schedule": "scaled_linear", "steps_offset": 1}
CLIP_L = {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
          "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
          "layer_norm_eps": 1e-05, "bos_token_id": 0, "eos_token_id": 49407, "pad_token_id": 1,
          "projection_dim": 768}
SD_VAE = {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "block_out_channels": [128, 256, 512, 512],
          "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
          "layers_per_block": 2, "scaling_factor": SD1_SCALING_FACTOR}


def unet_config(ldm: dict, sample_size: int = 64) -> dict:
    """UNet2DConditionModel's config for an SD1.x/SD2.x LDM UNet (ComfyUI's detected unet_config form).

    Every level carries cross-attention where ``transformer_depth`` is non-zero.
    """
    mults = ldm["channel_mult"]
    res_blocks = ldm["num_res_blocks"]
    layers = res_blocks[0] if isinstance(res_blocks, (list, tuple)) else res_blocks
    depth = ldm["transformer_depth"]
    per_level = [depth[i * layers] if isinstance(depth, (list, tuple)) else depth for i in range(len(mults))]
    channels = [ldm["model_channels"] * m for m in mults]
    if ldm.get("num_head_channels", -1) not in (-1, None):
        heads = [c // ldm["num_head_channels"] for c in channels]
    else:
        heads = ldm["num_heads"]
    return {
        "sample_size": sample_size, "in_channels": ldm["in_channels"], "out_channels": ldm["out_channels"],
        "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in per_level],
        "up_block_types": ["CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(per_level)],
        "block_out_channels": channels, "layers_per_block": layers, "cross_attention_dim": ldm["context_dim"],
        "attention_head_dim": heads, "use_linear_projection": bool(ldm.get("use_linear_in_transformer", False)),
        "transformer_layers_per_block": [max(1, d) for d in per_level],
    }


def _strip(state_dict: dict, prefix: str) -> dict:
    return {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}


def build_pipeline(checkpoint: dict, ldm_unet: dict, tokenizer_dir: Path, prediction_type: str = "epsilon",
                   dtype: torch.dtype = torch.float32):
    """A StableDiffusionPipeline from an SD1.x-layout state dict (UNet, CLIP-L text encoder, SD VAE)."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    config = unet_config(ldm_unet)
    unet = UNet2DConditionModel(**config)
    _load_exactly(unet, convert_ldm_unet_checkpoint(checkpoint, config))
    if any(key.startswith(VAE_PREFIX + "taesd_decoder.") for key in checkpoint):
        vae = taesd_as_autoencoder_tiny(_strip(checkpoint, VAE_PREFIX))
    else:
        vae = AutoencoderKL(**SD_VAE)
        _load_exactly(vae, convert_ldm_vae_checkpoint(checkpoint, vae.config))
    text_encoder = CLIPTextModel(CLIPTextConfig(**CLIP_L))
    clip_state = _strip(checkpoint, CLIP_PREFIX)  # "text_model.…" as in an SD1.x file
    if not any(key.startswith("text_model.") for key in text_encoder.state_dict()):
        clip_state = _strip(clip_state, "text_model.")  # transformers 5 names CLIPTextModel's keys without it
    missing, unexpected = text_encoder.load_state_dict(clip_state, strict=False)
    missing = [key for key in missing if not key.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"text encoder: missing {missing[:5]}, unexpected {unexpected[:5]}")
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    tokenizer.model_max_length = CLIP_L["max_position_embeddings"]  # ComfyUI's copy says 8192; the pipeline pads to it
    scheduler = EulerDiscreteScheduler(**SD1_SCHEDULE, prediction_type=prediction_type, timestep_spacing="trailing")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    return pipe if dtype == torch.float32 else pipe.to(dtype=dtype)


def taesd_as_autoencoder_tiny(state: dict):
    """A TAESD-format VAE (ComfyUI's ``taesd_encoder.*``, ``taesd_decoder.*``, ``vae_scale``, ``vae_shift``
    keys, as a checkpoint's first stage) as diffusers' AutoencoderTiny.

    The layers are the same in both; the decoder's index is one lower in diffusers, whose decoder applies
    TAESD's input clamp in ``forward`` rather than as a first layer. TAESD's decoder and encoder work in
    model space (the UNet's latents); with ``vae_scale`` 0.18215 and shift 0, ComfyUI's raw LATENT is
    model space / 0.18215, and AutoencoderTiny (scaling factor 1) takes and gives model space itself.
    """
    from diffusers import AutoencoderTiny

    shift = float(state["vae_shift"])
    if shift != 0.0:
        raise ValueError(f"vae_shift {shift}: only an unshifted TAESD maps onto AutoencoderTiny here")
    vae = AutoencoderTiny(latent_channels=state[f"taesd_encoder.{_last_conv(state)}.weight"].shape[0],
                          scaling_factor=1.0)
    converted = {}
    for key, value in state.items():
        if key.startswith("taesd_encoder."):
            converted["encoder.layers." + key[len("taesd_encoder."):]] = value
        elif key.startswith("taesd_decoder."):
            index, rest = key[len("taesd_decoder."):].split(".", 1)
            converted[f"decoder.layers.{int(index) - 1}.{rest}"] = value
    _load_exactly(vae, converted)
    return vae


def _last_conv(state: dict) -> int:
    return max(int(key.split(".")[1]) for key in state if key.startswith("taesd_encoder."))


def _load_exactly(module: torch.nn.Module, state_dict: dict) -> None:
    missing, unexpected = module.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        raise ValueError(f"{type(module).__name__}: missing {missing[:5]}, unexpected {unexpected[:5]}")


def convert_checkpoint(checkpoint_path: Path, out_dir: Path, ldm_unet: dict, tokenizer_dir: Path,
                       prediction_type: str = "epsilon") -> Path:
    """Write a diffusers pipeline folder for a .safetensors checkpoint (skipped when already written)."""
    from safetensors.torch import load_file

    out_dir = Path(out_dir)
    stamp = out_dir / "magicmix_converted_from.json"
    source = {"format": CONVERSION_VERSION, "checkpoint": str(Path(checkpoint_path).resolve()),
              "size": Path(checkpoint_path).stat().st_size,
              "unet": ldm_unet, "prediction_type": prediction_type}
    if stamp.is_file() and json.loads(stamp.read_text()) == source:
        return out_dir
    state_dict = load_file(str(checkpoint_path))
    all_fp16 = all(value.dtype == torch.float16 for value in state_dict.values() if value.is_floating_point())
    state_dict = {key: value.to(torch.float32) for key, value in state_dict.items()}
    pipe = build_pipeline(state_dict, ldm_unet, tokenizer_dir, prediction_type)
    # An fp16 checkpoint is saved in fp16 (half the disk): loading as fp32 gives back exactly its values.
    (pipe.to(dtype=torch.float16) if all_fp16 else pipe).save_pretrained(str(out_dir), safe_serialization=True)
    stamp.write_text(json.dumps(source))
    return out_dir


def load_pipeline(folder: Path, dtype: torch.dtype = torch.float32):
    from diffusers import StableDiffusionPipeline
    return StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True, dtype=dtype,
                                                   safety_checker=None, requires_safety_checker=False)
