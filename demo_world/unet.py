"""The demo model's UNet: trained narrow (64 channels), exported exactly into SD1.5's 320-wide layout.

ComfyUI detects SD1.5 from the UNet's shapes (model_channels 320, context 768, conv proj_in). A
320-wide network is slow to train on 2 CPU cores, so the trained network is ComfyUI's own
``UNetModel`` at a fifth of the width, and the export puts its weights into the 320-wide layout with
every extra channel a structural zero. The two compute the same function because:

- norms: the narrow net's GroupNorm / LayerNorm (``VirtualWidthOps``) take their mean and variance as
  if each group were five times wider and the extra channels zero, which is what the wide net's
  norms see; the wide net's extra norm weights and biases are zero, so extra channels stay zero;
- attention: the narrow heads are 8 wide, the wide ones 40; the export multiplies ``to_q`` by
  sqrt(40 / 8) so the wide net's 1/sqrt(40) scale gives the narrow net's logits;
- the timestep embedding: the sinusoid of width 64 has the frequencies of every fifth of width 320,
  so the narrow features land on those;
- channel placement keeps every GroupNorm group whole: narrow channel i of a 64-wide space goes to
  ``10 * (i // 2) + i % 2`` (group i // 2 of 32, ten wide); a concatenation of two such spaces maps
  each half into its own 320 block; attention channels go head by head.

``tests/comfy/test_demo_world_model.py`` checks that the exported file, loaded by ComfyUI, gives the
narrow net's output.
"""
from __future__ import annotations

import functools
import math
import re

import torch

WIDTH_FACTOR = 5  # 320 / 64
NARROW_CHANNELS = 64
WIDE_CHANNELS = NARROW_CHANNELS * WIDTH_FACTOR
HEADS = 8
CONTEXT_DIM = 768
GROUPS = 32


def unet_config(model_channels: int, levels: int = 2) -> dict:
    """``levels`` levels of equal width (so every concatenation is of two same-width spaces), two res
    blocks each, a transformer after every res block and in the middle: SD1.5's block types, smaller.
    Two levels for the 64 px world (8 x 8 latent), three for the 128 px one (16 x 16)."""
    return {
        "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": model_channels,
        "num_res_blocks": [2] * levels, "channel_mult": [1] * levels, "transformer_depth": [1] * (2 * levels),
        "transformer_depth_output": [1] * (3 * levels), "transformer_depth_middle": 1,
        "num_heads": HEADS, "num_head_channels": -1, "use_spatial_transformer": True,
        "use_linear_in_transformer": False, "context_dim": CONTEXT_DIM, "legacy": False,
        "use_checkpoint": False, "adm_in_channels": None,
        "use_temporal_attention": False, "use_temporal_resblock": False,
    }


def levels_of(state: dict) -> int:
    """The number of levels of a UNet state dict (of this config: 3 input blocks per level)."""
    return (1 + max(int(k.split(".")[1]) for k in state if k.startswith("input_blocks."))) // 3


def _virtual_stats(x: torch.Tensor, dims: tuple, factor: int, eps: float):
    # Mean and variance over a group made `factor` times wider by zero channels.
    mean = x.mean(dim=dims, keepdim=True) / factor
    mean_square = (x * x).mean(dim=dims, keepdim=True) / factor
    return mean, torch.rsqrt(mean_square - mean * mean + eps)


def virtual_width_ops():
    """ComfyUI ``operations`` whose norms count the wide net's structural-zero channels."""
    import comfy.ops

    class VirtualWidthOps(comfy.ops.disable_weight_init):
        class GroupNorm(comfy.ops.disable_weight_init.GroupNorm):
            def forward(self, x):
                n, c = x.shape[:2]
                grouped = x.reshape(n, self.num_groups, -1)
                mean, inv_std = _virtual_stats(grouped, (2,), WIDTH_FACTOR, self.eps)
                y = ((grouped - mean) * inv_std).reshape(x.shape)
                shape = (1, c) + (1,) * (x.ndim - 2)
                return y * self.weight.view(shape) + self.bias.view(shape)

        class LayerNorm(comfy.ops.disable_weight_init.LayerNorm):
            def forward(self, x):
                mean, inv_std = _virtual_stats(x, (-1,), WIDTH_FACTOR, self.eps)
                return (x - mean) * inv_std * self.weight + self.bias

    return VirtualWidthOps


def new_narrow_unet(seed: int = 0, levels: int = 2):
    """The trainable narrow UNet (ComfyUI's UNetModel with VirtualWidthOps), seeded initialisation."""
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    unet = UNetModel(**unet_config(NARROW_CHANNELS, levels), dtype=torch.float32, device="cpu",
                     operations=virtual_width_ops())
    initialise(unet, torch.Generator().manual_seed(seed))
    return unet


def initialise(unet, generator: torch.Generator) -> None:
    """Normal / sqrt(fan_in) weights, zero biases, norms at identity; each residual branch's last
    layer and the output conv at zero (as ldm's zero_module does). Norms are found by type: their
    parameter names (``in_layers.0``, ``out.0``) do not say so."""
    with torch.no_grad():
        for name, module in unet.named_modules():
            if isinstance(module, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
                module.weight.fill_(1.0)
                module.bias.zero_()
            elif isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / math.sqrt(fan_in))
                if module.bias is not None:
                    module.bias.zero_()
        for name, module in unet.named_modules():
            if re.search(r"(out_layers\.3|proj_out|^out\.2)$", name):
                module.weight.zero_()
                if module.bias is not None:
                    module.bias.zero_()


# --- export -------------------------------------------------------------------------------------

def _residual_index(n: int) -> torch.Tensor:
    """Wide positions of a narrow residual space of width n (a multiple of 64): whole groups kept."""
    blocks = n // NARROW_CHANNELS
    per_group = NARROW_CHANNELS // GROUPS  # 2 narrow channels per group
    i = torch.arange(NARROW_CHANNELS)
    one = (WIDTH_FACTOR * per_group) * (i // per_group) + i % per_group
    return torch.cat([one + b * WIDE_CHANNELS for b in range(blocks)])


def _head_index() -> torch.Tensor:
    i = torch.arange(NARROW_CHANNELS)
    narrow_head = NARROW_CHANNELS // HEADS
    return (narrow_head * WIDTH_FACTOR) * (i // narrow_head) + i % narrow_head


def _timestep_index() -> torch.Tensor:
    # [cos(f_0..f_31), sin(f_0..f_31)] of width 64 sit at every fifth frequency of width 320
    half_narrow, half_wide = NARROW_CHANNELS // 2, WIDE_CHANNELS // 2
    i = torch.arange(half_narrow)
    return torch.cat([WIDTH_FACTOR * i, half_wide + WIDTH_FACTOR * i])


def _geglu_index(n: int) -> torch.Tensor:
    half = n // 2
    i = torch.arange(half)
    return torch.cat([i, half * WIDTH_FACTOR + i])


def _index_for(key: str, dim: int, n: int) -> torch.Tensor:
    """Wide positions of dimension ``dim`` (size ``n``) of the narrow tensor ``key``."""
    if re.search(r"attn[12]\.to_[qkv]\.weight$", key) and dim == 0:
        return _head_index()
    if re.search(r"attn[12]\.to_out\.0\.weight$", key) and dim == 1:
        return _head_index()
    if key == "time_embed.0.weight" and dim == 1:
        return _timestep_index()
    if re.search(r"ff\.net\.0\.proj\.(weight|bias)$", key) and dim == 0:
        return _geglu_index(n)
    if n in (NARROW_CHANNELS, 2 * NARROW_CHANNELS):  # conv channels, transformer width, concatenations
        return _residual_index(n)
    return torch.arange(n)  # 4 latent channels, 768 context, 256 time embedding and feed-forward inner


def export_wide(narrow_state: dict) -> dict:
    """The narrow UNet's state dict placed into the 320-wide SD1.5 layout (UNet keys, no prefix)."""
    wide_unet = wide_shapes(levels_of(narrow_state))
    out = {}
    q_scale = math.sqrt(WIDTH_FACTOR)  # 1/sqrt(8) -> 1/sqrt(40) attention scale
    for key, tensor in narrow_state.items():
        shape = wide_unet[key]
        wide = torch.zeros(shape, dtype=torch.float32)
        index = [_index_for(key, d, tensor.shape[d]) if d < 2 else slice(None) for d in range(tensor.ndim)]
        value = tensor.detach().to(torch.float32)
        if re.search(r"attn[12]\.to_q\.weight$", key):
            value = value * q_scale
        if tensor.ndim == 1:
            wide[index[0]] = value
        else:
            wide[index[0][:, None], index[1][None, :]] = value
        out[key] = wide
    return out


@functools.cache
def wide_shapes(levels: int = 2) -> dict:
    """Key -> shape of the 320-wide UNet (built once per depth on the meta device)."""
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    wide = UNetModel(**unet_config(WIDE_CHANNELS, levels), dtype=torch.float32, device="meta",
                     operations=comfy.ops.disable_weight_init)
    return {k: tuple(v.shape) for k, v in wide.state_dict().items()}
