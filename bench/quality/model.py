"""The demo-world model for the bench: ComfyUI's loaded checkpoint, with its UNet swapped for the
narrow twin that the export makes it from (5x fewer channels, the same function:
tests/comfy/test_demo_world_model.py checks the two UNets and a whole sampled image agree).

Everything else is ComfyUI's: the ModelPatcher, model sampling, CFG, samplers, the TAESD VAE, CLIP.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class DemoModel:
    model: object  # ModelPatcher
    clip: object
    vae: object
    nodes: dict  # ComfyUI's NODE_CLASS_MAPPINGS, this pack's nodes included
    encodings: dict = field(default_factory=dict)  # prompt -> CONDITIONING, each encoded once

    def encode(self, text: str) -> list:
        """CONDITIONING, as CLIPTextEncode makes it."""
        if text not in self.encodings:
            self.encodings[text] = self.nodes["CLIPTextEncode"]().encode(self.clip, text)[0]
        return self.encodings[text]

    def encode_images(self, images: np.ndarray) -> dict:
        """LATENT of world images (N x H x W x 3 in [0, 1]), through VAEEncode."""
        return self.nodes["VAEEncode"]().encode(self.vae, torch.from_numpy(images))[0]

    def decode(self, latent: dict) -> np.ndarray:
        return self.nodes["VAEDecode"]().decode(self.vae, latent)[0].detach().numpy()


def load(narrow_twin: bool = True, nodes: dict | None = None, unet_weights=None, decoder_weights=None,
         world: str = "v1") -> DemoModel:
    """The demo model of ``world`` (demo_world.checkpoint.MODELS) in this process (ComfyUI on the CPU, this
    pack's nodes loaded; ``nodes``: the host's NODE_CLASS_MAPPINGS where a caller has loaded them already).
    A model of its own: the twin's swap never touches another loaded copy. ``unet_weights`` /
    ``decoder_weights``: other trained weights (e.g. a retrain's) in place of the committed ones, swapped
    into the loaded checkpoint."""
    from magicmix_dev import host
    mappings = nodes if nodes is not None else host.load_host_nodes()
    import comfy.sd
    from demo_world import checkpoint, unet
    files = checkpoint.MODELS[world]
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(
        str(checkpoint.ensure_checkpoint(files.unet, files.decoder, files.levels)), output_vae=True,
        output_clip=True)
    if unet_weights is not None and not narrow_twin:
        raise ValueError("other UNet weights are swapped in as the narrow twin")
    if narrow_twin:
        twin = unet.new_narrow_unet(levels=files.levels)
        state = checkpoint.unet_state(unet_weights or files.unet, files.levels)
        # the checkpoint holds fp16 weights: the twin computes with the same rounded values
        twin.load_state_dict({k: v.to(torch.float16).to(torch.float32) for k, v in state.items()})
        model.model.diffusion_model = twin.eval().requires_grad_(False)
    if decoder_weights is not None:
        decoder = vae.first_stage_model.taesd_decoder
        decoder.load_state_dict({k: v.to(torch.float16).to(next(decoder.parameters()).dtype)
                                 for k, v in checkpoint.load_weights(decoder_weights).items()})
    return DemoModel(model, clip, vae, mappings)
