"""Tiny random-weight flow and DiT models (Flux, Chroma, SD3.5, Qwen-Image, HiDream, Lumina 2, AuraFlow).

Each builder makes the family's real ComfyUI model class (``comfy.model_base``) with the family's
``supported_models`` config, so its ``model_sampling`` (shift, multiplier), latent format and
``extra_conds`` are ComfyUI's own; only the network is small (a hidden width of 32 to 64, one or two
blocks). Text widths are small too (a real loader reads them from the weights): what the tests need
is the conditioning's form (pooled outputs, Flux's ``guidance``, HiDream's Llama layers), not CLIP or
T5. Weights are initialised as in ``tiny_models`` (seeded, no file).

Flux 2's text width and Qwen-Image's are fixed by ComfyUI (Flux2 pads the text to 512 tokens; Qwen's
``txt_norm`` is as wide as its input), so they keep their real text widths with few tokens.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from .tiny_models import TinyModel, _finish

TOKENS = 8  # a short prompt: the tests need the conditioning's form, not its length
CONTEXT = 64  # text width of the families whose loader reads it from the weights


def _config(config_class, unet_config: dict, **sampling_settings):
    config = config_class(unet_config)
    config.sampling_settings.update(sampling_settings)
    return config


def _tokens_maker(context_dim: int, extras: Callable[[torch.Generator], dict] = lambda g: {}):
    def make(seed: int) -> list:
        generator = torch.Generator().manual_seed(seed)
        return [[torch.randn((1, TOKENS, context_dim), generator=generator), extras(generator)]]
    return make


FLUX_POOLED = 32  # CLIP-L's pooled 768, small


def _flux_unet_config(guidance_embed: bool) -> dict:
    # Flux's layout (patch 2, double and single blocks, RoPE over 3 axes) at hidden 64 with 2 heads of 32.
    return {"image_model": "flux", "guidance_embed": guidance_embed, "in_channels": 16, "out_channels": 16,
            "vec_in_dim": FLUX_POOLED, "context_in_dim": CONTEXT, "hidden_size": 64, "mlp_ratio": 2.0,
            "num_heads": 2, "depth": 1, "depth_single_blocks": 1, "axes_dim": [8, 12, 12], "theta": 10000,
            "patch_size": 2, "qkv_bias": True}


def flux_guidance_extras(guidance: float | None):
    """A Flux prompt's extras: the pooled output and, when given, FluxGuidance's ``guidance``."""
    def extras(generator):
        out = {"pooled_output": torch.randn((1, FLUX_POOLED), generator=generator)}
        if guidance is not None:
            out["guidance"] = guidance
        return out
    return extras


def tiny_flux_dev(seed: int = 0, guidance: float = 3.5, **sampling_settings) -> TinyModel:
    """Flux dev: guidance-distilled (``guidance_embed``), ModelSamplingFlux (shift 1.15 = 1024 x 1024)."""
    import comfy.model_base
    import comfy.supported_models
    base = comfy.model_base.Flux(_config(comfy.supported_models.Flux, _flux_unet_config(True), **sampling_settings))
    return _finish("flux_dev", base, seed, _tokens_maker(CONTEXT, flux_guidance_extras(guidance)))


def tiny_flux_schnell(seed: int = 0) -> TinyModel:
    """Flux schnell: no guidance embedding, ModelSamplingDiscreteFlow shift 1 (multiplier 1)."""
    import comfy.model_base
    import comfy.supported_models
    config = comfy.supported_models.FluxSchnell(_flux_unet_config(False))
    base = config.get_model({})
    return _finish("flux_schnell", base, seed, _tokens_maker(CONTEXT, flux_guidance_extras(None)))


FLUX2_CONTEXT = 64


def tiny_flux2(seed: int = 0) -> TinyModel:
    """Flux 2: 128-channel latents (patch 1), global modulation, no pooled input, ModelSamplingFlux shift 2.02."""
    import comfy.model_base
    import comfy.supported_models
    unet_config = {"image_model": "flux2", "guidance_embed": True, "in_channels": 128, "out_channels": 128,
                   "vec_in_dim": None, "context_in_dim": FLUX2_CONTEXT, "hidden_size": 64, "mlp_ratio": 2.0,
                   "num_heads": 2, "depth": 1, "depth_single_blocks": 1, "axes_dim": [8, 8, 8, 8], "theta": 2000,
                   "patch_size": 1, "qkv_bias": False, "global_modulation": True, "mlp_silu_act": True,
                   "ops_bias": False, "default_ref_method": "index", "ref_index_scale": 10.0}
    base = comfy.model_base.Flux2(comfy.supported_models.Flux2(unet_config))
    def extras(generator):  # Flux 2 has no pooled input; 4.0 is FluxGuidance's value in ComfyUI's Flux 2 template
        return {"pooled_output": None, "guidance": 4.0}

    return _finish("flux2", base, seed, _tokens_maker(FLUX2_CONTEXT, extras))


def tiny_chroma(seed: int = 0) -> TinyModel:
    """Chroma: Flux blocks modulated by a distilled approximator (no pooled input), guidance 0."""
    import comfy.model_base
    import comfy.supported_models
    unet_config = {"image_model": "chroma", "in_channels": 64, "out_channels": 64, "context_in_dim": CONTEXT,
                   "hidden_size": 64, "mlp_ratio": 2.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1,
                   "axes_dim": [8, 12, 12], "theta": 10000, "patch_size": 2, "qkv_bias": True,
                   "in_dim": 64, "out_dim": 64, "hidden_dim": 64, "n_layers": 1}
    base = comfy.model_base.Chroma(comfy.supported_models.Chroma(unet_config))
    # CLIPTextEncode always sets pooled_output; Chroma's T5 encoder gives None.
    return _finish("chroma", base, seed, _tokens_maker(CONTEXT, lambda g: {"pooled_output": None}))


SD3_POOLED = 2048  # CLIP-L + CLIP-G pooled: the MMDiT's y embedder width is set from adm_in_channels


def tiny_sd35(seed: int = 0) -> TinyModel:
    """SD3.5 (medium's MMDiT-X: self-attention in the first joint block, RMS q/k norm), shift 3."""
    import comfy.model_base
    import comfy.supported_models
    unet_config = {"in_channels": 16, "out_channels": 16, "patch_size": 2, "depth": 2, "input_size": None,
                   "adm_in_channels": SD3_POOLED, "pos_embed_scaling_factor": None, "qk_norm": "rms",
                   "x_block_self_attn_layers": [0],
                   "context_embedder_config": {"target": "torch.nn.Linear",
                                               "params": {"in_features": CONTEXT, "out_features": 64 * 2}}}
    base = comfy.model_base.SD3(comfy.supported_models.SD3(unet_config))
    return _finish("sd35", base, seed, _tokens_maker(
        CONTEXT, lambda g: {"pooled_output": torch.randn((1, SD3_POOLED), generator=g)}))


QWEN_CONTEXT = 3584  # Qwen2.5-VL 7B's width: fixed in ComfyUI's QwenImage class (joint_attention_dim default)


def tiny_qwen_image(seed: int = 0) -> TinyModel:
    """Qwen-Image: 16-channel Wan 2.1 latents with a frame axis (B x C x 1 x H x W), ModelSamplingFlux 1.15."""
    import comfy.model_base
    import comfy.supported_models
    unet_config = {"image_model": "qwen_image", "in_channels": 64, "out_channels": 16, "num_layers": 1,
                   "attention_head_dim": 32, "num_attention_heads": 2, "axes_dims_rope": (8, 12, 12)}
    base = comfy.model_base.QwenImage(comfy.supported_models.QwenImage(unet_config))
    return _finish("qwen_image", base, seed, _tokens_maker(QWEN_CONTEXT))


HIDREAM_T5, HIDREAM_LLAMA, HIDREAM_POOLED = 48, 40, 32


def tiny_hidream(seed: int = 0) -> TinyModel:
    """HiDream: MoE double and single blocks fed T5 and per-block Llama-3 layers, pooled CLIP; flow shift 1."""
    import comfy.model_base
    import comfy.supported_models
    unet_config = {"image_model": "hidream", "patch_size": 2, "in_channels": 16, "out_channels": None,
                   "num_layers": 1, "num_single_layers": 1, "attention_head_dim": 16, "num_attention_heads": 2,
                   "caption_channels": [HIDREAM_T5, HIDREAM_LLAMA], "text_emb_dim": HIDREAM_POOLED,
                   "num_routed_experts": 2, "num_activated_experts": 2, "axes_dims_rope": (8, 4, 4),
                   "max_resolution": (32, 32), "llama_layers": [0, 1]}
    base = comfy.model_base.HiDream(comfy.supported_models.HiDream(unet_config))

    def extras(generator):
        return {"pooled_output": torch.randn((1, HIDREAM_POOLED), generator=generator),
                "conditioning_llama3": torch.randn((1, 2, TOKENS, HIDREAM_LLAMA), generator=generator)}

    return _finish("hidream", base, seed, _tokens_maker(HIDREAM_T5, extras))


def tiny_lumina2(seed: int = 0) -> TinyModel:
    """Lumina 2 (NextDiT, Gemma features): 16-channel Flux latents, flow shift 6 (multiplier 1)."""
    import comfy.model_base
    import comfy.supported_models
    unet_config = {"image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 64, "cap_feat_dim": CONTEXT,
                   "n_layers": 1, "n_refiner_layers": 1, "n_heads": 2, "n_kv_heads": 2, "multiple_of": 16,
                   "qk_norm": True, "axes_dims": [8, 12, 12], "axes_lens": [64, 64, 64]}
    base = comfy.model_base.Lumina2(comfy.supported_models.Lumina2(unet_config))
    return _finish("lumina2", base, seed, _tokens_maker(CONTEXT))


def tiny_auraflow(seed: int = 0) -> TinyModel:
    """AuraFlow: MMDiT on 4-channel SDXL latents, flow shift 1.73 (multiplier 1)."""
    import comfy.model_base
    import comfy.supported_models
    unet_config = {"cond_seq_dim": CONTEXT, "in_channels": 4, "out_channels": 4, "patch_size": 2, "dim": 64,
                   "n_layers": 2, "n_double_layers": 1, "n_heads": 2, "global_conddim": 64, "max_seq": 64}
    base = comfy.model_base.AuraFlow(comfy.supported_models.AuraFlow(unet_config))
    return _finish("auraflow", base, seed, _tokens_maker(CONTEXT))


TINY_FLOW_FAMILIES: dict[str, Callable[..., TinyModel]] = {
    "flux_dev": tiny_flux_dev,
    "flux_schnell": tiny_flux_schnell,
    "flux2": tiny_flux2,
    "chroma": tiny_chroma,
    "sd35": tiny_sd35,
    "qwen_image": tiny_qwen_image,
    "hidream": tiny_hidream,
    "lumina2": tiny_lumina2,
    "auraflow": tiny_auraflow,
}
