"""The same MagicMix on two hosts: the three ComfyUI nodes on the real host against magicmix_diffusers over
a diffusers pipeline of the same checkpoint (converted offline), and the spec's limits on the diffusers side.

The checkpoint is the generated SD1.5 test checkpoint. Euler, ComfyUI's ``simple`` schedule with 20 steps,
whose sigmas are entries of the model's discrete table; diffusers' EulerDiscreteScheduler with "trailing"
spacing picks the same entries (20 divides 1000). The model calls are computed by two independent stacks
(ComfyUI's UNet, CFG and k-diffusion Euler against diffusers' UNet2DConditionModel, its scheduler and
transformers' CLIP), so agreement checks the chain, not only the mixing code they share.

The cross-host runs are bench/diffusers_parity.py's functions; ``python -m bench.diffusers_parity`` writes
what they measure to bench/DIFFUSERS_PARITY.md, and the bounds below sit about ten times above it.
"""
import pytest
import torch

from bench import diffusers_parity as P
from magicmix_dev import diffusers_models

STEPS, K_MIN, K_MAX, NU, CFG, SEED, BATCH = P.STEPS, P.K_MIN, P.K_MAX, P.NU, P.CFG, P.SEED, P.BATCH
CONTENT, NEGATIVE, SCALE = P.CONTENT, P.NEGATIVE, P.SCALE
# Bounds about ten times bench/DIFFUSERS_PARITY.md's figures (room for other CPUs' kernels and thread counts),
# so that a change of 1e-4 of the largest value on one side fails:
RELATIVE_BOUND = 1.5e-5  # final latents, max |ComfyUI - diffusers| / max |value|: measured 1.2e-6 to 1.4e-6
TEXT_ENCODER_BOUND = 1e-5  # conditioning, likewise: measured 7.8e-7
ENCODE_BOUND = 1e-3  # the demo world's encoded image: measured 1.2e-4 (the checkpoint stores vae_scale in fp16)
PIXEL_BOUND = 0.02  # the demo world's decoded images, absolute in 0..1: measured 2.0e-3 (diffusers' image is 8-bit)
relative_difference = P.relative_difference
diffusers_magicmix = P.diffusers_magicmix


@pytest.fixture(scope="module")
def pipe():
    return diffusers_models.sd15_pipeline()


@pytest.fixture(scope="module")
def nodes(comfy_host):
    return comfy_host.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def image_layout_runs(nodes, sd15_model, prompts, layout_latent, pipe):
    return P.image_layout_runs(nodes, sd15_model[0], prompts, layout_latent, pipe)


@pytest.fixture(scope="module")
def text_layout_runs(nodes, sd15_model, prompts, pipe):
    return P.text_layout_runs(nodes, sd15_model[0], prompts, pipe)


def test_the_layout_stand_in_is_the_benchs(layout_latent):
    assert torch.equal(layout_latent["samples"], P.layout_latent()["samples"])


def test_the_text_encoders_agree(pipe, prompts):
    for name, difference in P.text_encoder_differences(pipe, prompts).items():
        assert difference < TEXT_ENCODER_BOUND, name


def test_image_layout_agrees_across_hosts(image_layout_runs, record_property):
    comfy, ours, comfy_s, diffusers_s = image_layout_runs
    assert comfy.shape == ours.shape == (BATCH, 4, 8, 8)
    difference = relative_difference(comfy, ours)
    record_property("image_layout",
                    f"relative {difference:.2e}, ComfyUI {comfy_s:.2f} s, diffusers {diffusers_s:.2f} s")
    print(f"image layout: max |ComfyUI - diffusers| / max |latent| = {difference:.2e} "
          f"(max |latent| {float(comfy.abs().max()):.1f}); ComfyUI {comfy_s:.2f} s, diffusers {diffusers_s:.2f} s")
    assert difference <= RELATIVE_BOUND
    assert not torch.equal(ours[0], ours[1])  # batch 2: the noise differs per image, as ComfyUI draws it


def test_image_layout_from_pure_noise_agrees_across_hosts(nodes, sd15_model, prompts, layout_latent, pipe):
    """k_max = 1: the run starts at the largest sigma, where ComfyUI scales the noise by sqrt(1 + sigma^2)."""
    comfy, ours = P.pure_noise_runs(nodes, sd15_model[0], prompts, layout_latent, pipe)
    assert relative_difference(comfy, ours) <= RELATIVE_BOUND


def test_text_layout_agrees_across_hosts(text_layout_runs):
    comfy, ours, comfy_s, diffusers_s = text_layout_runs
    difference = relative_difference(comfy, ours)
    print(f"text layout: max |ComfyUI - diffusers| / max |latent| = {difference:.2e} "
          f"(max |latent| {float(comfy.abs().max()):.1f}); ComfyUI {comfy_s:.2f} s, diffusers {diffusers_s:.2f} s")
    assert difference <= RELATIVE_BOUND
    assert not torch.equal(ours[0], ours[1])


def test_the_community_order_is_far_outside_the_bound(image_layout_runs, sd15_model, prompts, layout_latent):
    """The community pipeline's order (mix fed to the UNet only) on the same inputs, in ComfyUI."""
    comfy_result, ours, _, _ = image_layout_runs
    community = P.community_order_run(sd15_model[0], prompts, layout_latent)
    difference = relative_difference(comfy_result, community)
    print(f"community order against ours: {difference:.3f} of max |latent| "
          f"({difference / RELATIVE_BOUND:.0f}x the cross-host bound; ours across hosts: "
          f"{relative_difference(comfy_result, ours):.1e})")
    assert difference >= 100 * RELATIVE_BOUND


def img2img(pipe, layout_latents, strength: float, **options):
    """diffusers' own img2img pipeline (SD or SDXL) on the layout latents, its noise drawn as ComfyUI draws it."""
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline
    from magicmix_diffusers.pipeline import is_sdxl
    img2img = (StableDiffusionXLImg2ImgPipeline if is_sdxl(pipe) else StableDiffusionImg2ImgPipeline)(**pipe.components)
    generator = torch.Generator(device="cpu").manual_seed(SEED)  # randn over the batch: comfy_noise's numbers
    return img2img(prompt=[CONTENT] * BATCH, negative_prompt=[NEGATIVE] * BATCH,
                   image=layout_latents.repeat(BATCH, 1, 1, 1),
                   strength=strength, num_inference_steps=STEPS, guidance_scale=CFG, generator=generator,
                   output_type="latent", **options).images


@pytest.mark.parametrize("family", ["sd15_eps", "tiny_sd2_v", "tiny_sdxl"])
def test_nu_one_is_img2img_from_k_max_and_nu_zero_lands_on_the_layout_at_k_min(pipe, layout_latent, family):
    """The spec's limits, on the diffusers side, against diffusers' own img2img pipeline.

    nu = 1: the mix keeps the stepped latent, so the run is img2img from level K_max (strength k_max).
    nu = 0: every mix returns the layout latent, so z at K_min is x_{K_min} and the run is img2img from
    level K_min (strength k_min) with the same noise. v-prediction on a tiny SD2.x-style pipeline; SDXL
    (two text encoders, pooled embeddings and size ids) on a tiny SDXL pipeline.
    """
    target = {"sd15_eps": lambda: pipe, "tiny_sd2_v": diffusers_models.tiny_v_pipeline,
              "tiny_sdxl": diffusers_models.tiny_sdxl_pipeline}[family]()
    latents = layout_latent["samples"] * SCALE
    for nu, strength in ((1.0, K_MAX), (0.0, K_MIN)):
        ours = diffusers_magicmix(target, {"layout_latents": latents}, nu=nu)
        reference = img2img(target, latents, strength)
        assert relative_difference(reference, ours) < 1e-5, (family, nu)
    half = diffusers_magicmix(target, {"layout_latents": latents}, nu=0.5)
    assert relative_difference(reference, half) > 1e-3  # the mix does something between the limits


def test_multistep_schedulers_restart_their_history_at_each_mix(pipe, layout_latent):
    """DPMSolverMultistep: every layout-phase step is its first-order step, the content phase climbs back.

    With k_min = 0 every step is a mixing step, so order 2 gives exactly order 1's result; with
    k_min = 0.3 the content phase's second steps use order 2 and the results differ.
    """
    from diffusers import DPMSolverMultistepScheduler

    from magicmix_diffusers import magicmix
    latents = layout_latent["samples"] * SCALE

    def run(order: int, k_min: float):
        target = type(pipe)(**{**pipe.components, "scheduler": DPMSolverMultistepScheduler.from_config(
            pipe.scheduler.config, solver_order=order, timestep_spacing="trailing")})
        return magicmix(target, CONTENT, layout_latents=latents, negative_prompt=NEGATIVE, k_min=k_min, k_max=K_MAX,
                        nu=NU, num_inference_steps=STEPS, guidance_scale=CFG, seed=SEED, batch_size=BATCH,
                        output_type="latent").latents

    assert torch.equal(run(2, 0.0), run(1, 0.0))
    assert relative_difference(run(1, K_MIN), run(2, K_MIN)) > 1e-4


def test_the_demo_world_checkpoint_runs_alike_on_both_hosts(comfy_host, demo_model):
    """Our trained demo model converted offline (its TAESD VAE as AutoencoderTiny): encode, MagicMix, decode."""
    target = diffusers_models.demo_pipeline()
    assert type(target.vae).__name__ == "AutoencoderTiny"
    differences = P.demo_world_runs(comfy_host.NODE_CLASS_MAPPINGS, demo_model, target)
    print(f"demo world: max |ComfyUI - diffusers| / max |latent| = {differences['latents']:.2e}, "
          f"decoded {differences['pixels']:.4f}, encoded {differences['encoded']:.2e}")
    assert differences["encoded"] < ENCODE_BOUND
    assert differences["latents"] <= RELATIVE_BOUND
    assert differences["pixels"] < PIXEL_BOUND


def test_nu_schedules_reach_the_diffusers_side():
    """A linear nu from 0.2 to 0.9 is neither constant end; with nu_end equal to nu it is the constant run."""
    target = diffusers_models.tiny_v_pipeline()
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(4))

    def run(**nu):
        return diffusers_magicmix(target, {"layout_latents": latents}, **nu)

    constant_low, constant_high = run(nu=0.2), run(nu=0.9)
    linear = run(nu=0.2, nu_end=0.9, nu_schedule="linear")
    assert relative_difference(linear, constant_low) > 1e-4 and relative_difference(linear, constant_high) > 1e-4
    assert torch.equal(run(nu=0.2, nu_end=0.2, nu_schedule="cosine"), constant_low)
