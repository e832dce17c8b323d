"""Tiny random-weight diffusion models built in-process from ComfyUI's own classes.

One builder per sampling type the pack must handle (what matters to MagicMix is each model's
``model_sampling`` and latent format, not its weights):

- ``sd15_eps``: SD1.5 UNet, EPS prediction, 4-channel latents, context 768.
- ``sd2_v``: SD2.x 768-v style UNet, V_PREDICTION, context 1024, linear transformer proj.
- ``sdxl_eps``: SDXL UNet with an ADM input: conditioning carries ``pooled_output`` (1280) and the
  size conds (width, height, crop_w, crop_h, target_width, target_height), context 2048.
- ``sd3_flow``: SD3 MMDiT, CONST (rectified flow, shift 3), 16-channel latents, context 4096,
  pooled 2048.

Each builder returns a :class:`TinyModel`: a ``ModelPatcher`` on ComfyUI's torch device (the CPU
under ``--cpu``) and CONDITIONING lists for positive and negative that have the model's real
context/pooled widths, so ComfyUI's own ``extra_conds`` path is exercised. Weights are seeded
random normals scaled by 1/sqrt(fan_in), norm weights 1 and biases 0 (ComfyUI's layers skip
initialisation, so leaving them would give garbage or NaN).

``comfy`` is imported inside the builders: the host must be importable (the ``comfy_host``
fixture) before a builder runs, not when this module is imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import torch

from . import checkpoints

# Small enough for a 2-core CPU, big enough to have every block type of the family.
MODEL_CHANNELS = 32
HEAD_CHANNELS = 16
TOKENS = 77  # CLIP's context length
SD15_CONTEXT = 768  # CLIP-L


@dataclass
class TinyModel:
    name: str
    model: object  # comfy.model_patcher.ModelPatcher
    positive: list  # CONDITIONING
    negative: list  # CONDITIONING
    latent_channels: int
    sampling_type: str  # the model_sampling prediction class name: "EPS", "V_PREDICTION" or "CONST"
    make_conditioning: Callable[[int], list]  # seed -> another CONDITIONING of this family's form

    def conditioning(self, seed: int) -> list:
        """A further random prompt (e.g. a layout prompt distinct from ``positive``), same widths and extras."""
        return self.make_conditioning(seed)

    def latent(self, height: int = 8, width: int = 8, batch: int = 1, seed: int = 0) -> dict:
        """A random non-zero LATENT of this model's channel count (stands in for a VAE-encoded image)."""
        generator = torch.Generator().manual_seed(seed)
        return {"samples": torch.randn((batch, self.latent_channels, height, width), generator=generator)}

    def empty_latent(self, height: int = 8, width: int = 8, batch: int = 1) -> dict:
        return {"samples": torch.zeros((batch, self.latent_channels, height, width))}


def initialise_weights(module: torch.nn.Module, seed: int) -> None:
    """The generated checkpoint's initialisation (``checkpoints.initialise_weights``), seeded."""
    checkpoints.initialise_weights(module, torch.Generator().manual_seed(seed))


def one_level_unet_config(context_dim: int, use_linear_in_transformer: bool, adm_in_channels=None,
                          in_channels: int = 4, out_channels: int = 4) -> dict:
    # One resolution level with one res block and one transformer block: ComfyUI reads depth,
    # channel_mult and num_res_blocks from here, so a single level is a complete UNet.
    config = {
        "image_size": 32, "use_checkpoint": False, "use_spatial_transformer": True, "legacy": False,
        "in_channels": in_channels, "out_channels": out_channels, "model_channels": MODEL_CHANNELS,
        "num_res_blocks": [1], "channel_mult": [1], "transformer_depth": [1], "transformer_depth_output": [1, 1],
        "transformer_depth_middle": 1, "use_linear_in_transformer": use_linear_in_transformer,
        "context_dim": context_dim, "adm_in_channels": adm_in_channels,
        "use_temporal_attention": False, "use_temporal_resblock": False,
    }
    if adm_in_channels is not None:
        config["num_classes"] = "sequential"  # what model_detection sets when the UNet has label_emb
    return config


def sd15_unet_config(in_channels: int = 4) -> dict:
    """A one-level SD1.5 UNet: context 768 (CLIP-L), conv proj_in, no ADM."""
    return one_level_unet_config(SD15_CONTEXT, use_linear_in_transformer=False, in_channels=in_channels)


def small_heads(model_config) -> None:
    # supported_models configs overwrite num_heads/num_head_channels in __init__ with full-size
    # values (SD2/SDXL: 64-channel heads, more than the tiny UNet has).
    model_config.unet_config["num_heads"] = -1
    model_config.unet_config["num_head_channels"] = HEAD_CHANNELS


def _patcher(base_model):
    import comfy.model_management
    import comfy.model_patcher
    return comfy.model_patcher.ModelPatcher(base_model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def conditioning_maker(context_dim: int, extras: Callable[[torch.Generator], dict] = lambda g: {}):
    """seed -> a random CONDITIONING of ``TOKENS`` tokens of this width, with ``extras(generator)`` (drawn after)."""
    def make(seed: int) -> list:
        generator = torch.Generator().manual_seed(seed)
        return [[torch.randn((1, TOKENS, context_dim), generator=generator), extras(generator)]]
    return make


def _sampling_type(base_model) -> str:
    for name in ("CONST", "V_PREDICTION", "EPS"):
        if any(cls.__name__ == name for cls in type(base_model.model_sampling).__mro__):
            return name
    raise AssertionError(f"unexpected model_sampling {type(base_model.model_sampling).__mro__}")


def _finish(name: str, base_model, seed: int, make_conditioning) -> TinyModel:
    initialise_weights(base_model, seed)
    # Prompts are seeded apart from the weights (seed + 1, seed + 2; further ones from the caller).
    return TinyModel(name, _patcher(base_model), make_conditioning(seed + 1), make_conditioning(seed + 2),
                     base_model.latent_format.latent_channels, _sampling_type(base_model), make_conditioning)


def tiny_sd15(seed: int = 0) -> TinyModel:
    """SD1.5: EPS, context 768 (CLIP-L), conv proj_in, no ADM."""
    import comfy.model_base
    import comfy.supported_models
    config = comfy.supported_models.SD15(sd15_unet_config())
    small_heads(config)
    base = comfy.model_base.BaseModel(config, model_type=comfy.model_base.ModelType.EPS)
    return _finish("sd15_eps", base, seed, conditioning_maker(SD15_CONTEXT))


def tiny_sd15_inpaint(seed: int = 0) -> TinyModel:
    """An SD1.5 inpainting checkpoint's UNet: 9 input channels (latent 4 + mask 1 + masked image 4), out 4.

    Built as ComfyUI's SD15 config builds one it detects with ``in_channels`` 9 (``set_inpaint``); its
    extra input comes from InpaintModelConditioning's ``concat_latent_image`` and ``concat_mask``.
    """
    import comfy.model_base
    import comfy.supported_models
    config = comfy.supported_models.SD15(sd15_unet_config(in_channels=9))
    small_heads(config)
    assert config.inpaint_model()
    base = comfy.model_base.BaseModel(config, model_type=comfy.model_base.ModelType.EPS)
    base.set_inpaint()
    return _finish("sd15_inpaint", base, seed, conditioning_maker(SD15_CONTEXT))


def tiny_sd2_v(seed: int = 0) -> TinyModel:
    """SD2.x 768-v: V_PREDICTION, context 1024 (OpenCLIP-H), linear proj_in.

    The model type is explicit: SD20.model_type guesses it from trained weights' statistics.
    """
    import comfy.model_base
    import comfy.supported_models
    config = comfy.supported_models.SD20(one_level_unet_config(1024, use_linear_in_transformer=True))
    small_heads(config)
    base = comfy.model_base.BaseModel(config, model_type=comfy.model_base.ModelType.V_PREDICTION)
    return _finish("sd2_v", base, seed, conditioning_maker(1024))


SDXL_CONTEXT = 2048  # CLIP-L 768 + CLIP-G 1280
SDXL_POOLED = 1280  # CLIP-G pooled output
# pooled + 6 size conds (height, width, crop_h, crop_w, target_h, target_w) embedded to 256 each
SDXL_ADM = SDXL_POOLED + 6 * 256


def sdxl_unet_config() -> dict:
    """A one-level SDXL UNet: context 2048, linear proj_in, the ADM input of pooled output and size conds."""
    return one_level_unet_config(SDXL_CONTEXT, use_linear_in_transformer=True, adm_in_channels=SDXL_ADM)


def sdxl_size_conds(height_px: int, width_px: int) -> dict:
    """What CLIPTextEncodeSDXL puts in the conditioning for an uncropped image of this size."""
    return {"width": width_px, "height": height_px, "crop_w": 0, "crop_h": 0,
            "target_width": width_px, "target_height": height_px}


def tiny_sdxl(seed: int = 0, height_px: int = 64, width_px: int = 64) -> TinyModel:
    """SDXL: EPS, context 2048 (CLIP-L + CLIP-G), ADM 2816 = pooled 1280 + size conds."""
    import comfy.model_base
    import comfy.supported_models
    config = comfy.supported_models.SDXL(sdxl_unet_config())
    small_heads(config)
    base = comfy.model_base.SDXL(config, model_type=comfy.model_base.ModelType.EPS)

    def extras(generator):
        return {"pooled_output": torch.randn((1, SDXL_POOLED), generator=generator),
                **sdxl_size_conds(height_px, width_px)}

    return _finish("sdxl_eps", base, seed, conditioning_maker(SDXL_CONTEXT, extras))


SD3_CONTEXT = 4096  # T5-XXL width (CLIP-L/G features are padded to it)
SD3_POOLED = 2048  # CLIP-L pooled 768 + CLIP-G pooled 1280


def tiny_sd3(seed: int = 0) -> TinyModel:
    """SD3 MMDiT: CONST flow (ModelSamplingDiscreteFlow, shift 3), 16 latent channels.

    depth 2 gives hidden size 128 (MMDiT fixes 64 per head, heads = depth). No ``num_patches``:
    the position embedding is then computed (sin-cos) rather than an uninitialised buffer.
    """
    import comfy.model_base
    import comfy.supported_models
    unet_config = {
        "in_channels": 16, "out_channels": 16, "patch_size": 2, "depth": 2, "input_size": None,
        "adm_in_channels": SD3_POOLED, "pos_embed_scaling_factor": None, "x_block_self_attn_layers": [],
        "context_embedder_config": {"target": "torch.nn.Linear",
                                    "params": {"in_features": SD3_CONTEXT, "out_features": 64 * 2}},
    }
    config = comfy.supported_models.SD3(unet_config)
    base = comfy.model_base.SD3(config)  # ModelType.FLOW is SD3's default

    def extras(generator):
        return {"pooled_output": torch.randn((1, SD3_POOLED), generator=generator)}

    return _finish("sd3_flow", base, seed, conditioning_maker(SD3_CONTEXT, extras))


TINY_MODEL_FAMILIES: dict[str, Callable[..., TinyModel]] = {
    "sd15_eps": tiny_sd15,
    "sd2_v": tiny_sd2_v,
    "sdxl_eps": tiny_sdxl,
    "sd3_flow": tiny_sd3,
}

EXPECTED_SAMPLING_TYPE = {"sd15_eps": "EPS", "sd2_v": "V_PREDICTION", "sdxl_eps": "EPS", "sd3_flow": "CONST"}
