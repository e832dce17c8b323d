"""The demo model's latent space and its TAESD-format VAE.

The latent is designed, not learned: for each 8 x 8 pixel cell, 4 numbers in *model space* (what
the UNet sees, after ComfyUI's SD1.5 latent scaling of 0.18215):

- channels 0-2: ``RGB_GAIN * (cell mean of R, G, B - 0.5)``: the grey background is 0;
- channel 3: ``FOREGROUND_GAIN * cell mean of sum_c |c - 0.5|``: 0 on the background, about the
  cell's covered fraction inside a shape (it tells a half-covered cell from a dark one).

The VAE is ComfyUI's ``TAESD`` class, so it loads from the checkpoint like any TAESD-format VAE:

- its encoder computes exactly that latent, by construction (``build_encoder_state``): the first
  conv splits each colour into c, relu(c - 0.5), relu(0.5 - c), every residual block is switched off
  (all-zero convs, so a block is a ReLU of non-negative values: the identity), each stride-2 conv
  averages 2 x 2, and the last conv applies the gains. ``analytic_latent`` is the same map in plain
  torch, used for training and tested against the encoder;
- its decoder is trained (``train_decoder``) to turn that latent back into the image.

``vae_scale`` is 0.18215, so ComfyUI's raw latent is ``model space / 0.18215`` and its SD1.5
latent format brings it back to model space before the UNet.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .world import CELL

LATENT_CHANNELS = 4
RGB_GAIN = 3.0
FOREGROUND_GAIN = 1.5
SD15_SCALE_FACTOR = 0.18215  # comfy.latent_formats.SD15.scale_factor
# The checkpoint stores vae_scale in fp16 (0.18213...): ComfyUI's model-space latent is the encoder's
# output times 0.18215 / that, 1.00011, which the designed latent includes so both agree exactly.
STORED_SCALE_RATIO = SD15_SCALE_FACTOR / float(torch.tensor(SD15_SCALE_FACTOR, dtype=torch.float16))


def analytic_latent(images: torch.Tensor) -> torch.Tensor:
    """Model-space latents (N x 4 x H/8 x W/8) of images N x 3 x H x W in [0, 1]."""
    centred = images - 0.5
    foreground = centred.abs().sum(dim=1, keepdim=True)
    cells = F.avg_pool2d(torch.cat([centred, foreground], dim=1), CELL)
    gains = torch.tensor([RGB_GAIN] * 3 + [FOREGROUND_GAIN], dtype=images.dtype, device=images.device)
    return cells * gains.view(1, 4, 1, 1) * STORED_SCALE_RATIO


def _encoder_convs(encoder) -> tuple:
    """(first conv, the three stride-2 convs, the last conv) of a TAESD Encoder (its top-level convs)."""
    convs = [m for m in encoder if isinstance(m, torch.nn.Conv2d)]
    return convs[0], convs[1:4], convs[4]


def build_encoder_state(encoder) -> None:
    """Set a ComfyUI TAESD ``Encoder``'s weights so that it computes ``analytic_latent`` (in place).

    Input pixels in [0, 1] (TAESD.encode maps ComfyUI's [-1, 1] back to that).
    """
    first, strided, last = _encoder_convs(encoder)
    # every residual block stays all-zero: relu(x), the identity on these non-negative features
    with torch.no_grad():
        for parameter in encoder.parameters():
            parameter.zero_()
        for c in range(3):  # channel c: the colour; 3 + c: relu(c - .5); 6 + c: relu(.5 - c)
            first.weight[c, c, 1, 1] = 1.0
            first.weight[3 + c, c, 1, 1] = 1.0
            first.bias[3 + c] = -0.5
            first.weight[6 + c, c, 1, 1] = -1.0
            first.bias[6 + c] = 0.5
        for conv in strided:  # output i reads input rows 2i - 1 .. 2i + 1: rows 2i, 2i + 1 are taps 1, 2
            for c in range(9):
                conv.weight[c, c, 1:3, 1:3] = 0.25
        for c in range(3):
            last.weight[c, c, 1, 1] = RGB_GAIN
            last.bias[c] = -0.5 * RGB_GAIN
        for c in range(3, 9):
            last.weight[3, c, 1, 1] = FOREGROUND_GAIN


def new_taesd():
    """A ComfyUI ``TAESD`` with the designed encoder, a freshly initialised decoder and the SD1.5 scale."""
    import comfy.taesd.taesd as taesd
    vae = taesd.TAESD(latent_channels=LATENT_CHANNELS)
    build_encoder_state(vae.taesd_encoder)
    initialise_decoder(vae.taesd_decoder, torch.Generator().manual_seed(0))
    with torch.no_grad():
        vae.vae_scale.fill_(SD15_SCALE_FACTOR)
        vae.vae_shift.zero_()
    return vae


def initialise_decoder(decoder, generator: torch.Generator) -> None:
    """He-normal convs, zero biases; the last conv of each residual branch starts at zero.

    ComfyUI's conv layers skip initialisation, so every weight is set here.
    """
    import comfy.taesd.taesd as taesd
    with torch.no_grad():
        for module in decoder.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.zero_()
        for module in decoder.modules():
            if isinstance(module, taesd.Block):
                module.conv[-1].weight.zero_()
                if module.conv[-1].bias is not None:
                    module.conv[-1].bias.zero_()


def decode(decoder, latents: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] from model-space latents, as ComfyUI's VAEDecode computes them.

    TAESD.decode feeds ``(raw - shift) * scale`` (= model space) to the decoder and maps its output
    to [-1, 1]; ComfyUI's VAE maps that back to [0, 1] and clamps.
    """
    return decoder(latents).clamp(0.0, 1.0)
