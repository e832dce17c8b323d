"""The layout carried from MagicMixLayoutNoise to the two samplers: pure torch, no ComfyUI imports."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .levels import LevelRange

IMAGE_LAYOUT = "image"
TEXT_LAYOUT = "text"


@dataclass
class ModelFingerprint:
    """What a layout's sigmas and latents depend on, to refuse a layout made for another model."""

    sampling_type: str  # e.g. "EPS", "V_PREDICTION", "CONST"
    sigma_min: float
    sigma_max: float
    latent_channels: int
    # ComfyUI's latent format class (its VAE's scale and shift, its axes): Qwen-Image's (Wan21) and
    # Flux's have the same channels and, at their defaults, the same schedule. "" when unknown.
    latent_format: str = ""

    def mismatch(self, other: ModelFingerprint) -> str | None:
        """A sentence saying how ``other`` differs, or None when the layout fits it."""
        if self.sampling_type != other.sampling_type:
            return f"the layout was made for a {self.sampling_type} model, this model is {other.sampling_type}"
        if self.latent_channels != other.latent_channels:
            return (f"the layout has {self.latent_channels}-channel latents, "
                    f"this model uses {other.latent_channels} channels")
        if self.latent_format and other.latent_format and self.latent_format != other.latent_format:
            return (f"the layout has {self.latent_format} latents, this model uses {other.latent_format} latents "
                    f"(another VAE)")
        for name in ("sigma_min", "sigma_max"):
            a, b = getattr(self, name), getattr(other, name)
            if not math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6):
                return f"the layout's {name} is {a:.6g}, this model's is {b:.6g} (a different noise schedule)"
        return None


@dataclass
class MagicMixLayout:
    """Everything the layout and content phases share, set once by the layout node.

    ``sigmas`` is the whole descending schedule (T + 1 values, CPU). ``noise`` is the one fixed noise
    tensor per batch item drawn from ``seed``. For image layout ``clean_latent`` is x_0 in model space
    (latent format applied) and the layout latent of any level is computed when needed; for text
    layout ``trajectory`` holds the layout prompt's latents of levels K_min .. K_max, keyed by level,
    in sampler space.

    ``noise_mask`` (regional MagicMix) is the denoise mask as SetLatentNoiseMask stores it (B x 1 x H x W
    at any resolution; 1 = mix, 0 = keep the layout image); both phases hand it to ComfyUI's sampler
    as KSampler does. Outside it the layout image is kept: for text layout that is the layout prompt's
    own image, so a masked text layout also carries ``clean_latent`` (its branch run on to level 0).

    ``switch_index`` (two experts, e.g. WAN 2.2 A14B): steps starting at a schedule index below it run
    on the first model, the rest on the second (``model_low_noise``); None: one model runs every step.
    """

    mode: str
    sigmas: torch.Tensor
    levels: LevelRange
    seed: int
    noise: torch.Tensor
    model: ModelFingerprint
    clean_latent: torch.Tensor | None = None
    trajectory: dict = field(default_factory=dict)
    noise_mask: torch.Tensor | None = None
    switch_index: int | None = None

    @property
    def batch_size(self) -> int:
        return self.noise.shape[0]

    @property
    def latent_shape(self) -> tuple:
        return tuple(self.noise.shape)

    def sigma_at_level(self, level: int) -> torch.Tensor:
        return self.levels.sigma_at_level(self.sigmas, level)
