"""The same MagicMix on two hosts, measured: the ComfyUI nodes against magicmix_diffusers over a diffusers
pipeline of the same checkpoint (converted offline), and the community pipeline's order on the same inputs.

    python -m bench.diffusers_parity              # writes bench/DIFFUSERS_PARITY.md
    python -m bench.diffusers_parity --out FILE   # elsewhere

The settings and the runs are those of tests/comfy/test_diffusers_parity.py, which asserts on the same
functions; its bounds sit about ten times above what this writes. On 2 shared cores: about 2 minutes.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

PACK_DIR = Path(__file__).resolve().parents[1]
OUT = PACK_DIR / "bench" / "DIFFUSERS_PARITY.md"

STEPS, K_MIN, K_MAX, NU, CFG, SEED, BATCH = 20, 0.3, 0.6, 0.75, 7.5, 1, 2
CONTENT, LAYOUT, NEGATIVE = "a photo of a coffee machine", "a photo of a corgi", "blurry"
SCALE = 0.18215  # SD1.x VAE scaling: ComfyUI's LATENT is unscaled, diffusers' latents are scaled


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| over the largest |value| of a."""
    return float((a - b).abs().max() / a.abs().max())


def layout_latent() -> dict:
    """A stand-in for a VAE-encoded 64x64 image (8x8 latent): smooth and non-zero everywhere
    (the tests' ``layout_latent`` fixture)."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, 8), torch.linspace(-1, 1, 8), indexing="ij")
    return {"samples": torch.stack([torch.sin(3 * x + c) * torch.cos(2 * y - c) * 4 for c in range(4)])[None].float()}


def comfy_magicmix(nodes, model, prompts: dict, latent: dict, text: bool, nu: float = NU) -> torch.Tensor:
    """The three nodes (Layout Noise, Interpolated Sampler, Conditional Sampler) on the real host."""
    extra = dict(layout_positive=prompts["layout"], layout_negative=prompts["negative"]) if text else {}
    with torch.inference_mode():
        layout = nodes["MagicMixLayoutNoise"].execute(model, latent, SEED, STEPS, "simple", K_MIN, K_MAX, BATCH, CFG,
                                                      "euler", **extra).result[0]
        mixed = nodes["MagicMixInterpolatedSampler"].execute(model, layout, prompts["content"], prompts["negative"],
                                                             CFG, "euler", nu).result[0]
        return nodes["MagicMixConditionalSampler"].execute(model, layout, mixed, prompts["content"],
                                                           prompts["negative"], CFG, "euler").result[0]["samples"]


def comfy_all_in_one(nodes, model, prompts: dict, latent: dict, k_max: float) -> torch.Tensor:
    with torch.inference_mode():
        return nodes["MagicMix"].execute(model, prompts["content"], prompts["negative"], latent, SEED, STEPS, CFG,
                                         "euler", "simple", K_MIN, k_max, NU, BATCH).result[0]["samples"]


def diffusers_magicmix(pipe, layout: dict, nu: float = NU, k_max: float = K_MAX, **options) -> torch.Tensor:
    """magicmix_diffusers' final latents (scaled as diffusers scales them)."""
    from magicmix_diffusers import magicmix
    return magicmix(pipe, CONTENT, negative_prompt=NEGATIVE, k_min=K_MIN, k_max=k_max, nu=nu, num_inference_steps=STEPS,
                    guidance_scale=CFG, seed=SEED, batch_size=BATCH, output_type="latent", **layout, **options).latents


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def image_layout_runs(nodes, model, prompts: dict, latent: dict, pipe):
    """(ComfyUI's latents, diffusers' latents unscaled, ComfyUI seconds, diffusers seconds)."""
    comfy, comfy_s = timed(lambda: comfy_magicmix(nodes, model, prompts, latent, text=False))
    ours, diffusers_s = timed(lambda: diffusers_magicmix(pipe, {"layout_latents": latent["samples"] * SCALE}))
    return comfy, ours / SCALE, comfy_s, diffusers_s


def pure_noise_runs(nodes, model, prompts: dict, latent: dict, pipe):
    """k_max = 1: the run starts at the largest sigma, where ComfyUI scales the noise by sqrt(1 + sigma^2)."""
    comfy = comfy_all_in_one(nodes, model, prompts, latent, k_max=1.0)
    ours = diffusers_magicmix(pipe, {"layout_latents": latent["samples"] * SCALE}, k_max=1.0)
    return comfy, ours / SCALE


def text_layout_runs(nodes, model, prompts: dict, pipe):
    empty = {"samples": torch.zeros(1, 4, 8, 8)}
    comfy, comfy_s = timed(lambda: comfy_magicmix(nodes, model, prompts, empty, text=True))
    ours, diffusers_s = timed(lambda: diffusers_magicmix(
        pipe, {"layout_prompt": LAYOUT, "layout_negative_prompt": NEGATIVE, "height": 64, "width": 64}))
    return comfy, ours / SCALE, comfy_s, diffusers_s


def text_encoder_differences(pipe, prompts: dict) -> dict:
    """CLIPTextEncode's conditioning against magicmix_diffusers' encoder output, per prompt."""
    from magicmix_diffusers.pipeline import encode_prompt
    return {name: relative_difference(prompts[name][0][0], encode_prompt(pipe, text, 1))
            for name, text in (("content", CONTENT), ("layout", LAYOUT), ("negative", NEGATIVE))}


def community_order_run(model, prompts: dict, latent: dict) -> torch.Tensor:
    """The community pipeline's order (mix fed to the UNet only, magicmix_dev/community_order.py) in ComfyUI,
    on the image layout run's inputs."""
    import comfy.sample
    import comfy.samplers

    from magicmix_core.levels import LevelRange, nu_values
    from magicmix_dev.community_order import community_order_function
    samples = latent["samples"].repeat(BATCH, 1, 1, 1)
    noise = comfy.sample.prepare_noise(samples, SEED)
    model_sampling = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(model_sampling, "simple", STEPS)
    levels = LevelRange.from_fractions(K_MIN, K_MAX, STEPS)
    function = community_order_function(model.model.process_latent_in(samples), noise,
                                        nu_values(NU, NU, levels.mix_count), model_sampling)
    with torch.inference_mode():
        return comfy.sample.sample_custom(model, noise, CFG, comfy.samplers.KSAMPLER(function),
                                          sigmas[levels.layout_start_index:], prompts["content"], prompts["negative"],
                                          samples, seed=SEED)


def demo_world_runs(nodes, demo_model, target) -> dict:
    """The demo-world checkpoint on both hosts (its TAESD VAE as diffusers' AutoencoderTiny): encode, MagicMix
    (batch 1), decode. Returns the relative differences of the encoded layout and the final latents, and the
    largest absolute difference of the decoded images (pixels in 0..1; diffusers' image is 8-bit)."""
    from demo_world import demo

    from magicmix_diffusers import magicmix
    from magicmix_diffusers.pipeline import encode_image
    model, clip, vae = demo_model
    image = torch.from_numpy(demo.layout_image()[..., :3]).float()[None]  # IMAGE: B x H x W x C in 0..1
    with torch.inference_mode():
        raw = vae.encode(image)
    encoded = encode_image(target, image.permute(0, 3, 1, 2))

    def encode(text):
        return clip.encode_from_tokens_scheduled(clip.tokenize(text))

    with torch.inference_mode():
        comfy = nodes["MagicMix"].execute(model, encode(demo.CONTENT_PROMPT), encode(""), {"samples": raw}, SEED,
                                          STEPS, CFG, "euler", "simple", K_MIN, K_MAX, NU, 1).result[0]["samples"]
        comfy_image = vae.decode(comfy)[0]
    ours = magicmix(target, demo.CONTENT_PROMPT, layout_latents=raw * SCALE, negative_prompt="", k_min=K_MIN,
                    k_max=K_MAX, nu=NU, num_inference_steps=STEPS, guidance_scale=CFG, seed=SEED, output_type="pil")
    pixels = torch.from_numpy(np.asarray(ours.images[0])).float() / 255
    return dict(encoded=relative_difference(raw * SCALE, encoded),
                latents=relative_difference(comfy, ours.latents / SCALE),
                pixels=float((comfy_image - pixels).abs().max()))


# --- the command -----------------------------------------------------------------------------------

def figure(value: float) -> str:
    """Two significant digits, as the README quotes them (1.2e-6, not 1.2e-06)."""
    return f"{value:.1e}".replace("e-0", "e-") if value < 0.01 else f"{value:.3f}"


def measure(say=print) -> dict:
    from demo_world import checkpoint as demo_checkpoint
    from magicmix_dev import checkpoints, diffusers_models, host
    nodes = host.load_host_nodes()
    import comfy.sd  # importable once the host is prepared
    model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(checkpoints.ensure_checkpoint()), output_vae=False,
                                                              output_clip=True)

    def encode(text):
        return clip.encode_from_tokens_scheduled(clip.tokenize(text))

    prompts = {"content": encode(CONTENT), "layout": encode(LAYOUT), "negative": encode(NEGATIVE)}
    latent = layout_latent()
    pipe = diffusers_models.sd15_pipeline()
    figures = {"text encoders": max(text_encoder_differences(pipe, prompts).values())}
    comfy_latents, ours_latents, comfy_s, diffusers_s = image_layout_runs(nodes, model, prompts, latent, pipe)
    figures["image layout"] = relative_difference(comfy_latents, ours_latents)
    say(f"image layout: {figures['image layout']:.2e} (ComfyUI {comfy_s:.1f} s, diffusers {diffusers_s:.1f} s)")
    figures["image layout from pure noise"] = relative_difference(*pure_noise_runs(nodes, model, prompts, latent, pipe))
    comfy_text, ours_text, _, _ = text_layout_runs(nodes, model, prompts, pipe)
    figures["text layout"] = relative_difference(comfy_text, ours_text)
    say(f"text layout: {figures['text layout']:.2e}")
    figures["community order"] = relative_difference(comfy_latents, community_order_run(model, prompts, latent))
    say(f"community order against ours: {figures['community order']:.3f}")
    demo_model = comfy.sd.load_checkpoint_guess_config(str(demo_checkpoint.ensure_checkpoint()), output_vae=True,
                                                       output_clip=True)[:3]
    demo = demo_world_runs(nodes, demo_model, diffusers_models.demo_pipeline())
    figures.update({"demo world encode": demo["encoded"], "demo world latents": demo["latents"],
                    "demo world pixels": demo["pixels"]})
    say(f"demo world: latents {demo['latents']:.2e}, pixels {demo['pixels']:.4f}, encode {demo['encoded']:.2e}")
    return figures


ROWS = (  # figure key, what is compared, how the difference is taken
    ("text encoders", "CLIPTextEncode against the diffusers text encoder (the largest of content, layout and "
     "negative prompt)", "relative"),
    ("image layout", "image layout, k_max 0.6: the three nodes against magicmix_diffusers", "relative"),
    ("image layout from pure noise", "image layout, k_max 1 (the MagicMix node)", "relative"),
    ("text layout", "text layout: the three nodes against magicmix_diffusers", "relative"),
    ("demo world latents", "the demo-world checkpoint, image layout, batch 1", "relative"),
    ("demo world pixels", "the demo world's decoded images (ComfyUI's float image against diffusers' 8-bit one)",
     "absolute, pixel range 0..1"),
    ("demo world encode", "the demo world's encoded layout image (the checkpoint stores vae_scale in fp16)",
     "relative"),
    ("community order", "the community pipeline's order against ours, in ComfyUI (image layout's inputs)", "relative"),
)


def write(figures: dict, out: Path, seconds: float) -> None:
    lines = [
        "# diffusers parity", "",
        f"Written by `python -m bench.diffusers_parity` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"in {seconds:.0f} s: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}.", "",
        "The MagicMix nodes on the real ComfyUI host against `magicmix_diffusers` over a diffusers pipeline of the "
        "same checkpoint, converted offline (`magicmix_dev/diffusers_convert.py`): the generated SD1.5 test "
        f"checkpoint, Euler, the `simple` schedule, {STEPS} steps, k_min {K_MIN}, k_max {K_MAX}, nu {NU}, "
        f"CFG {CFG}, seed {SEED}, batch {BATCH}; the two sides share no model code (ComfyUI's UNet, CFG and "
        "k-diffusion Euler against diffusers' UNet2DConditionModel, its scheduler and transformers' CLIP). "
        "*relative*: max |ComfyUI - diffusers| over the largest |value| of ComfyUI's result.", "",
        "| compared | difference | taken as |", "|---|---|---|",
    ]
    lines += [f"| {what} | {figure(figures[key])} | {how} |" for key, what, how in ROWS]
    lines += ["", "tests/comfy/test_diffusers_parity.py runs the same functions (`bench/diffusers_parity.py`) and "
              "bounds each difference at about ten times these figures (summation order differs between CPUs and "
              "thread counts); the community order must stay at least 100 times the cross-host bound away.", ""]
    out.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="the results file (default bench/DIFFUSERS_PARITY.md)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    figures = measure(lambda text: print(text, file=sys.stderr))
    write(figures, args.out, time.perf_counter() - start)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
