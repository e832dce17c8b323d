"""diffusers pipelines for the tests of magicmix_diffusers: our checkpoints converted offline, and a tiny
v-prediction (SD2.x-style) pipeline built in-process.

- ``sd15_pipeline()``: the generated SD1.5 test checkpoint (magicmix_dev/checkpoints.py) as a diffusers
  folder under ``$MAGICMIX_CACHE/diffusers`` (diffusers_convert.convert_checkpoint, once), with
  the CLIP-L tokenizer ComfyUI ships (comfy/sd1_tokenizer).
- ``demo_pipeline()``: the demo-world checkpoint (demo_world/checkpoint.py) likewise; its TAESD-format VAE
  becomes diffusers' AutoencoderTiny.
- ``tiny_v_pipeline()``: a one-level UNet with SD2.x's 1024-wide context and a 2-layer CLIP text encoder,
  seeded random weights, EulerDiscreteScheduler with ``prediction_type="v_prediction"``.
- ``tiny_sdxl_pipeline()``: an SDXL pipeline of the same size: two text encoders (the second with a
  projection, whose pooled output and the size ids go to the UNet's text_time embedding).
"""
from __future__ import annotations

import torch

from . import checkpoints, diffusers_convert, host


def tokenizer_dir():
    return host.comfyui_path() / "comfy" / "sd1_tokenizer"


def sd15_pipeline():
    folder = host.cache_dir() / "diffusers" / checkpoints.checkpoint_file_name().replace(".safetensors", "")
    diffusers_convert.convert_checkpoint(checkpoints.ensure_checkpoint(), folder,
                                         dict(checkpoints.SD15_ONE_LEVEL_UNET), tokenizer_dir())
    return diffusers_convert.load_pipeline(folder)


def demo_pipeline():
    from demo_world import checkpoint, unet
    source = checkpoint.ensure_checkpoint()
    folder = host.cache_dir() / "diffusers" / source.name.replace(".safetensors", "")
    diffusers_convert.convert_checkpoint(source, folder, unet.unet_config(unet.NARROW_CHANNELS * unet.WIDTH_FACTOR),
                                         tokenizer_dir())
    return diffusers_convert.load_pipeline(folder)


def tiny_v_pipeline(seed: int = 0):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)  # diffusers and transformers initialise their layers from the global RNG
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32,),
                                down_block_types=("CrossAttnDownBlock2D",), up_block_types=("CrossAttnUpBlock2D",),
                                layers_per_block=1, cross_attention_dim=1024, attention_head_dim=4,
                                use_linear_projection=True, norm_num_groups=8)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=1024, intermediate_size=256,
                                                num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                                hidden_act="gelu"))
    vae = AutoencoderKL(block_out_channels=(32,), down_block_types=("DownEncoderBlock2D",),
                        up_block_types=("UpDecoderBlock2D",), latent_channels=4, norm_num_groups=8)
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir()), local_files_only=True)
    tokenizer.model_max_length = 77
    scheduler = EulerDiscreteScheduler(**diffusers_convert.SD1_SCHEDULE, prediction_type="v_prediction",
                                       timestep_spacing="trailing")
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def tiny_sdxl_pipeline(seed: int = 0):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(seed)
    text = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=77, hidden_act="gelu", projection_dim=32)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32,),
                                down_block_types=("CrossAttnDownBlock2D",), up_block_types=("CrossAttnUpBlock2D",),
                                layers_per_block=1, cross_attention_dim=64, attention_head_dim=4,
                                use_linear_projection=True, norm_num_groups=8, addition_embed_type="text_time",
                                addition_time_embed_dim=8, projection_class_embeddings_input_dim=32 + 6 * 8)
    vae = AutoencoderKL(block_out_channels=(32,), down_block_types=("DownEncoderBlock2D",),
                        up_block_types=("UpDecoderBlock2D",), latent_channels=4, norm_num_groups=8)
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir()), local_files_only=True)
    tokenizer.model_max_length = 77
    scheduler = EulerDiscreteScheduler(**diffusers_convert.SD1_SCHEDULE, timestep_spacing="trailing")
    return StableDiffusionXLPipeline(vae=vae, text_encoder=CLIPTextModel(CLIPTextConfig(**text)),
                                     text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**text)),
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
