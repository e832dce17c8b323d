"""MagicMix over a diffusers Stable Diffusion pipeline (SD1.x, SD2.x incl. v-prediction, SDXL).

The levels and the mix are ``magicmix_core.levels`` and ``magicmix_core.mixing`` (the ComfyUI pack's
own); the model, scheduler arithmetic and text encoder are the pipeline's. Level k is schedule index
T - k: ``timesteps[T - k]`` (level 0 is the clean end of the schedule).

Step order (the paper's Fig. 2, as in the ComfyUI nodes): from the layout latent x_{K_max}, for each
level k = K_max .. K_min + 1: z' = scheduler.step(model(z_k), t_k, z_k), then
z_{k-1} = nu * z' + (1 - nu) * x_{k-1}; the mixed latent is what the next step starts from. Then
plain steps from level K_min to 0. Layout latents: image layout x_k = ``scheduler.add_noise(x_0, noise,
t_k)`` with one fixed noise (the scheduler's own sample space, whatever it is); text layout x_k is the
layout prompt's own trajectory from pure noise, recorded at levels K_max .. K_min.

Multistep schedulers (those with ``lower_order_nums``: DPMSolverMultistep, UniPC, DEIS...) restart
their history before every layout-phase step, so each is their first-order step, and once more at
K_min (the content phase starts at first order and climbs back to full order), as the ComfyUI pack
does with multistep samplers (docs/samplers.md): after a mix, earlier model outputs describe a latent
that no longer exists. Single-step schedulers (Euler, Euler ancestral, DDIM, DDPM) are exact.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from magicmix_core import defaults
from magicmix_core.levels import LevelRange, level_at_index, nu_values, schedule_index
from magicmix_core.mixing import mix


@dataclass
class MagicMixOutput:
    latents: torch.Tensor  # in the scheduler's space, VAE scaling applied (what pipe.vae.decode takes / scaling)
    images: list | None = None  # PIL images when output_type is "pil"


def comfy_noise(shape: Sequence[int], seed: int) -> torch.Tensor:
    """The fixed noise as ComfyUI draws it: one randn over the whole batch from ``seed`` (CPU, float32)."""
    return torch.randn(tuple(shape), generator=torch.Generator(device="cpu").manual_seed(seed), dtype=torch.float32)


def encode_prompt(pipe, prompt: str, batch_size: int) -> torch.Tensor:
    """The pipeline's text encoder on one prompt, padded to the encoder's 77 tokens, repeated over the batch."""
    length = pipe.text_encoder.config.max_position_embeddings  # 77 (a tokenizer file may say more)
    tokens = pipe.tokenizer([prompt], padding="max_length", max_length=length, truncation=True, return_tensors="pt")
    with torch.no_grad():
        embeddings = pipe.text_encoder(tokens.input_ids.to(pipe.text_encoder.device))[0]
    return embeddings.repeat(batch_size, 1, 1)


@dataclass
class Guidance:
    """A prompt, its negative and the CFG scale, encoded once. ``extra``/``extra_negative``: SDXL's
    added conditioning (pooled text embeddings and size ids) for the UNet, else None."""

    positive: torch.Tensor
    negative: torch.Tensor
    scale: float
    extra: dict | None = None
    extra_negative: dict | None = None


def is_sdxl(pipe) -> bool:
    return getattr(pipe, "text_encoder_2", None) is not None


def guidance(pipe, prompt: str, negative_prompt: str, scale: float, batch_size: int,
             size_px: tuple | None = None) -> Guidance:
    """Encode a prompt pair. SDXL pipelines use their own ``encode_prompt`` (both text encoders, pooled
    output of the second) and the size ids of an uncropped image of ``size_px`` (height, width)."""
    if not is_sdxl(pipe):
        return Guidance(encode_prompt(pipe, prompt, batch_size), encode_prompt(pipe, negative_prompt, batch_size),
                        scale)
    device = pipe.unet.device
    positive, negative, pooled, negative_pooled = pipe.encode_prompt(
        prompt=prompt, device=device, num_images_per_prompt=batch_size, do_classifier_free_guidance=True,
        negative_prompt=negative_prompt)
    height, width = size_px
    ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=positive.dtype, device=device)
    ids = ids.repeat(batch_size, 1)
    return Guidance(positive, negative, scale, {"text_embeds": pooled, "time_ids": ids},
                    {"text_embeds": negative_pooled, "time_ids": ids})


def model_output(pipe, scheduler, z: torch.Tensor, t, g: Guidance) -> torch.Tensor:
    """The UNet's output at timestep ``t`` with classifier-free guidance (cond and uncond in one batch)."""
    unet = pipe.unet
    if g.scale == 1.0:
        model_in = scheduler.scale_model_input(z, t).to(unet.dtype)
        return unet(model_in, t, encoder_hidden_states=g.positive.to(unet.dtype),
                    added_cond_kwargs=g.extra).sample.to(z.dtype)
    model_in = scheduler.scale_model_input(torch.cat([z, z]), t).to(unet.dtype)
    context = torch.cat([g.negative, g.positive]).to(unet.dtype)
    extra = None if g.extra is None else {key: torch.cat([g.extra_negative[key], g.extra[key]]) for key in g.extra}
    uncond, cond = unet(model_in, t, encoder_hidden_states=context, added_cond_kwargs=extra).sample.to(z.dtype).chunk(2)
    return uncond + g.scale * (cond - uncond)


def restart_history(scheduler) -> None:
    """Make a multistep scheduler's next step first order (no-op for single-step schedulers)."""
    if hasattr(scheduler, "lower_order_nums"):
        scheduler.lower_order_nums = 0
    if hasattr(scheduler, "model_outputs"):
        scheduler.model_outputs = [None] * len(scheduler.model_outputs)
    if hasattr(scheduler, "last_sample"):
        scheduler.last_sample = None


def step(pipe, scheduler, z: torch.Tensor, t, g: Guidance, generator: torch.Generator) -> torch.Tensor:
    eps = model_output(pipe, scheduler, z, t, g)
    return scheduler.step(eps, t, z, generator=generator, return_dict=False)[0]


def pure_noise_scale(scheduler) -> float:
    """The factor on the fixed noise for a run that starts from pure noise: ComfyUI's, on both hosts.

    ComfyUI starts such a run (its first sigma is the model's largest) from noise * sqrt(1 + sigma^2),
    the spread of x_T for an image of unit variance. diffusers' sigma-space schedulers with "trailing"
    or "linspace" spacing start from noise * sigma (``init_noise_sigma``), 0.2 % less at SD's
    sigma_max 14.6; VP-space schedulers (DDIM, DDPM, DPM-Solver) start from noise * 1 on both.
    """
    scale = float(scheduler.init_noise_sigma)
    if scale > 1.0 and getattr(scheduler.config, "timestep_spacing", None) in ("linspace", "trailing"):
        return (scale ** 2 + 1.0) ** 0.5
    return scale


def text_layout_trajectory(pipe, scheduler, noise: torch.Tensor, levels: LevelRange, g: Guidance,
                           generator: torch.Generator) -> dict:
    """The layout prompt's own run from pure noise down to level K_min; its latents of levels K_max .. K_min.

    Steps above K_max keep the scheduler's history; from K_max on each step restarts it, as the
    ComfyUI pack's recording does (one sampler call per recorded level).
    """
    total = levels.total_steps
    z = noise * pure_noise_scale(scheduler)
    trajectory = {total: z} if levels.k_max_level == total else {}
    for index in range(total - levels.k_min_level):
        if index >= levels.layout_start_index:
            restart_history(scheduler)
        z = step(pipe, scheduler, z, scheduler.timesteps[index], g, generator)
        level = level_at_index(index + 1, total)
        if level <= levels.k_max_level:
            trajectory[level] = z
    return trajectory


@torch.no_grad()
def magicmix(pipe, prompt: str, *, layout_image=None, layout_latents: torch.Tensor | None = None,
             layout_prompt: str | None = None, negative_prompt: str = "", layout_negative_prompt: str = "",
             k_min: float = defaults.K_MIN, k_max: float = defaults.K_MAX, nu: float = defaults.NU,
             nu_end: float | None = None, nu_schedule: str = defaults.NU_SCHEDULE,
             num_inference_steps: int = defaults.STEPS, guidance_scale: float = defaults.CFG,
             layout_guidance_scale: float | None = None, seed: int = 0, batch_size: int = 1,
             height: int | None = None, width: int | None = None, output_type: str = "pil") -> MagicMixOutput:
    """MagicMix with ``pipe`` (a diffusers StableDiffusionPipeline or one with the same parts).

    Layout: ``layout_image`` (PIL image, or B x C x H x W tensor in 0..1, encoded with the pipeline's VAE), or
    ``layout_latents`` (already encoded and scaled by the VAE's scaling factor), or ``layout_prompt``
    (text layout, an image of ``height`` x ``width`` px, by default the UNet's sample size). ``prompt``
    is the content. ``k_min``/``k_max`` are fractions of the schedule
    (1 = pure noise); ``nu`` weights the freshly stepped latent at each mix (``nu_end`` and
    ``nu_schedule`` "linear"/"cosine" vary it from the first mix to the last). The fixed noise is
    drawn as ComfyUI draws it from ``seed``; a stochastic scheduler's step noise comes from a
    generator seeded with ``seed + 1``. ``output_type`` "latent" skips decoding.
    """
    check_inputs(layout_image, layout_latents, layout_prompt, k_min, k_max)
    device = pipe.unet.device
    levels = LevelRange.from_fractions(k_min, k_max, num_inference_steps)
    nus = nu_values(nu, nu_end, levels.mix_count, nu_schedule)
    if layout_prompt is None and layout_latents is None:
        layout_latents = encode_image(pipe, layout_image)
    size_px = image_size(pipe, layout_latents, height, width)
    content = guidance(pipe, prompt, negative_prompt, guidance_scale, batch_size, size_px)
    scheduler = copy.deepcopy(pipe.scheduler)
    scheduler.set_timesteps(num_inference_steps, device=device)
    generator = torch.Generator(device="cpu").manual_seed(seed + 1)
    if layout_prompt is not None:
        layout = guidance(pipe, layout_prompt, layout_negative_prompt,
                          guidance_scale if layout_guidance_scale is None else layout_guidance_scale, batch_size,
                          size_px)
        layout_latent = text_layout(pipe, layout, levels, size_px, batch_size, seed, generator)
    else:
        layout_latent = image_layout(scheduler, layout_latents.to(device, torch.float32), levels, batch_size, seed)
    z = denoise(pipe, scheduler, levels, nus, content, layout_latent, generator)
    images = None
    if output_type == "pil":
        decoded = pipe.vae.decode(z.to(pipe.vae.dtype) / pipe.vae.config.scaling_factor).sample
        images = pipe.image_processor.postprocess(decoded, output_type="pil")
    return MagicMixOutput(latents=z, images=images)


def check_inputs(layout_image, layout_latents: torch.Tensor | None, layout_prompt: str | None, k_min: float,
                 k_max: float) -> None:
    sources = [layout_image is not None, layout_latents is not None, layout_prompt is not None]
    if sum(sources) != 1:
        raise ValueError("give exactly one layout: layout_image, layout_latents or layout_prompt")
    if not 0.0 <= k_min <= k_max <= 1.0:
        raise ValueError(f"k_min and k_max: need 0 <= k_min <= k_max <= 1, got k_min {k_min}, k_max {k_max}")


def image_size(pipe, layout_latents: torch.Tensor | None, height: int | None, width: int | None) -> tuple[int, int]:
    """(height, width) in pixels: the layout image's, or for text layout the given or the UNet's sample size."""
    scale = pipe.vae_scale_factor
    if layout_latents is not None:
        return layout_latents.shape[-2] * scale, layout_latents.shape[-1] * scale
    default = pipe.unet.config.sample_size * scale
    return height or default, width or default


def text_layout(pipe, layout: Guidance, levels: LevelRange, size_px: tuple[int, int], batch_size: int, seed: int,
                generator: torch.Generator) -> Callable[[int], torch.Tensor]:
    """Text layout: the layout latent of a level is the layout prompt's own latent there (from a branch run)."""
    scale = pipe.vae_scale_factor
    shape = (batch_size, pipe.unet.config.in_channels, size_px[0] // scale, size_px[1] // scale)
    noise = comfy_noise(shape, seed).to(pipe.unet.device)
    branch = copy.deepcopy(pipe.scheduler)
    branch.set_timesteps(levels.total_steps, device=pipe.unet.device)
    return text_layout_trajectory(pipe, branch, noise, levels, layout, generator).__getitem__


def image_layout(scheduler, clean: torch.Tensor, levels: LevelRange, batch_size: int,
                 seed: int) -> Callable[[int], torch.Tensor]:
    """Image layout: the layout latent of level k is x_0 noised to level k with one fixed noise."""
    if clean.shape[0] == 1 and batch_size > 1:
        clean = clean.repeat(batch_size, 1, 1, 1)
    noise = comfy_noise(clean.shape, seed).to(clean.device)
    noiser = copy.deepcopy(scheduler)  # add_noise looks the level up by its timestep
    timesteps, total = scheduler.timesteps, levels.total_steps
    start_scale = pure_noise_scale(scheduler)

    def layout_latent(level: int) -> torch.Tensor:
        if level == 0:
            return clean
        if level == total and start_scale != float(scheduler.init_noise_sigma):  # k_max 1, sigma space
            return clean + noise * start_scale  # ComfyUI's start at the largest sigma (pure_noise_scale)
        index = schedule_index(level, total)
        return noiser.add_noise(clean, noise, timesteps[index:index + 1])

    return layout_latent


def denoise(pipe, scheduler, levels: LevelRange, nus: Sequence[float], content: Guidance,
            layout_latent: Callable[[int], torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """The run: from x_{K_max}, step then mix down to level K_min (the layout phase), then plain steps to 0."""
    timesteps, total = scheduler.timesteps, levels.total_steps
    z = layout_latent(levels.k_max_level)
    for n, index in enumerate(range(levels.layout_start_index, levels.content_start_index)):
        restart_history(scheduler)
        stepped = step(pipe, scheduler, z, timesteps[index], content, generator)
        z = mix(stepped, layout_latent(level_at_index(index + 1, total)), nus[n])
    restart_history(scheduler)
    for index in range(levels.content_start_index, total):
        z = step(pipe, scheduler, z, timesteps[index], content, generator)
    return z


def encode_image(pipe, image) -> torch.Tensor:
    """The layout image through the pipeline's VAE (its distribution's mean; AutoencoderTiny's latents), scaled
    by its scaling factor, as ComfyUI's VAEEncode takes the mean."""
    pixels = pipe.image_processor.preprocess(image).to(pipe.vae.device, pipe.vae.dtype)
    encoded = pipe.vae.encode(pixels)
    latents = encoded.latent_dist.mean if hasattr(encoded, "latent_dist") else encoded.latents  # AutoencoderTiny
    return latents * pipe.vae.config.scaling_factor
