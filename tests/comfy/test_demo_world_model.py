"""The demo-world checkpoint as ComfyUI loads it: SD1.5 detection, the exact export of the narrow
UNet, the designed VAE encoder and the trained decoder, the seeded text encoder, prompt encodings
bit for bit, and a short training run that resumes exactly."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from magicmix_dev import host

from demo_world import checkpoint, conditioning, latent, text_encoder, unet, world


def narrow_from(state: dict):
    net = unet.new_narrow_unet()
    net.load_state_dict(state)
    return net.eval()


def test_the_checkpoint_is_detected_as_sd15_with_a_taesd_vae(demo_model):
    import comfy.supported_models
    import comfy.taesd.taesd
    model, clip, vae = demo_model
    assert type(model.model.model_config) is comfy.supported_models.SD15
    assert model.model.diffusion_model.model_channels == unet.WIDE_CHANNELS
    assert isinstance(vae.first_stage_model, comfy.taesd.taesd.TAESD)
    assert vae.latent_channels == latent.LATENT_CHANNELS


@pytest.mark.parametrize("levels,cells", [(2, 8), (3, 16)], ids=["v1-two-levels", "v2-three-levels"])
def test_the_export_of_random_narrow_weights_is_exact(levels, cells):
    # every parameter non-zero, so no structural zero of the narrow net hides a wrong placement
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    net = unet.new_narrow_unet(levels=levels)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    wide = UNetModel(**unet.unet_config(unet.WIDE_CHANNELS, levels), dtype=torch.float32, device="cpu",
                     operations=comfy.ops.disable_weight_init)
    exported = unet.export_wide(net.state_dict())
    assert unet.levels_of(exported) == levels
    wide.load_state_dict(exported, strict=True)
    x, t, context = torch.randn(3, 4, cells, cells, generator=generator), torch.tensor([999.0, 500.0, 3.0]), \
        torch.randn(3, 77, 768, generator=generator)
    with torch.no_grad():
        expected, got = net(x, t, context=context), wide(x, t, context=context)
    assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_comfyui_detects_the_three_level_v2_unet_as_sd15():
    import comfy.model_detection
    import comfy.supported_models
    wide = unet.export_wide(checkpoint.unet_state(checkpoint.MODELS["v2"].unet.with_name("absent"), levels=3))
    config = comfy.model_detection.model_config_from_unet(wide, "")
    assert type(config) is comfy.supported_models.SD15
    assert config.unet_config["channel_mult"] == [1, 1, 1]


def test_the_loaded_unet_computes_the_committed_narrow_unet(demo_model):
    model = demo_model[0]
    wide = model.model.diffusion_model
    committed = checkpoint.unet_state()
    # the file holds fp16: compare with the narrow net at the same rounding
    narrow = narrow_from({k: v.to(torch.float16).to(torch.float32) for k, v in committed.items()})
    table = conditioning.prompt_conditioning()
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(4, 4, 8, 8, generator=generator)
    t = torch.tensor([999.0, 600.0, 250.0, 10.0])
    context = table[[0, 1, 17, 48]]
    with torch.no_grad():
        expected = narrow(x, t, context=context)
        got = wide(x.to(model.model.manual_cast_dtype or torch.float32), t, context=context).float()
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_the_unet_reacts_to_the_prompt_and_the_timestep(demo_model):
    wide = demo_model[0].model.diffusion_model
    table = conditioning.prompt_conditioning()
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        a = wide(x, torch.tensor([400.0]), context=table[1:2])
        b = wide(x, torch.tensor([400.0]), context=table[30:31])
        c = wide(x, torch.tensor([50.0]), context=table[1:2])
    scale = a.abs().mean()
    assert (a - b).abs().mean() > 0.01 * scale, "the prompt changes the prediction"
    assert (a - c).abs().mean() > 0.01 * scale, "the timestep changes the prediction"


def _comfy_images(count: int, seed: int):
    images, scenes = world.sample_batch(seed, count)
    return torch.from_numpy(images), scenes  # ComfyUI IMAGE: N x H x W x 3 in [0, 1]


def test_vae_encode_gives_the_designed_latent(comfy_host, demo_model):
    model, _, vae = demo_model
    images, _ = _comfy_images(16, seed=8)
    (encoded,) = comfy_host.node("VAEEncode")().encode(vae, images)
    in_model_space = model.model.process_latent_in(encoded["samples"].float())
    expected = latent.analytic_latent(images.permute(0, 3, 1, 2))
    assert torch.allclose(in_model_space, expected, atol=1e-5)


def test_the_vae_round_trip_keeps_world_images_readable(comfy_host, demo_model):
    # the measurement bench/REPRODUCTION.md reports (200 world images, VAEEncode then VAEDecode)
    from bench.quality import model as quality_model, reproduce
    measured = reproduce.round_trip(quality_model.DemoModel(*demo_model, comfy_host.NODE_CLASS_MAPPINGS))
    assert measured["error"] <= 0.02, f"mean absolute round-trip error {measured['error']:.4f}"
    for attribute in ("shape", "colour", "pattern"):
        assert measured[attribute] >= 0.98, f"{attribute} accuracy through the VAE {measured[attribute]:.3f}"
    assert measured["iou"] >= 0.93


def test_the_text_encoder_is_the_seeded_one_with_the_committed_hash(demo_model):
    generated = text_encoder.generate()
    assert text_encoder.weights_hash(generated) == text_encoder.WEIGHTS_SHA256
    clip = demo_model[1]
    loaded = clip.cond_stage_model.clip_l.transformer.state_dict()
    for key in ("text_model.embeddings.token_embedding.weight", "text_model.encoder.layers.5.mlp.fc1.weight"):
        assert torch.equal(loaded[key].to(torch.float16), generated[key])


def test_clip_text_encode_gives_what_the_unet_was_trained_on(comfy_host, demo_model):
    clip = demo_model[1]
    table = conditioning.prompt_conditioning()
    prompts = conditioning.prompt_table()
    encode = comfy_host.node("CLIPTextEncode")()
    for row in (0, 1, 23, 48):
        (cond,) = encode.encode(clip, prompts[row])
        assert torch.equal(cond[0][0][0].float(), table[row]), f"prompt {prompts[row]!r}"


def _train(tmp_path, name: str, steps: int, *extra: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "demo_world.train_unet", "--steps", str(steps), "--batch", "4", "--threads", "1",
         "--weights", str(tmp_path / f"{name}.safetensors"), "--state", str(tmp_path / f"{name}-state.pt"), *extra],
        cwd=host.PACK_DIR, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_training_smoke_loss_falls(tmp_path):
    log = _train(tmp_path, "smoke", 200, "--log-every", "20", "--save-every", "200")
    losses = [float(v) for v in re.findall(r"step \d+ loss ([0-9.]+)", log)]
    assert len(losses) == 10
    assert np.mean(losses[-3:]) < 0.5 * losses[0], losses


@pytest.mark.parametrize("world_name", ["v1", "v2"])
def test_a_stopped_and_resumed_run_gives_the_weights_of_a_straight_run(tmp_path, world_name):
    _train(tmp_path, "straight", 12, "--save-every", "6", "--world", world_name)
    _train(tmp_path, "resumed", 6, "--save-every", "6", "--world", world_name)
    log = _train(tmp_path, "resumed", 12, "--save-every", "6", "--world", world_name)
    assert "resumed from" in log and "at step 6" in log
    straight, resumed = (torch.load(tmp_path / f"{n}-state.pt") for n in ("straight", "resumed"))
    assert straight["step"] == resumed["step"] == 12
    for part in ("model", "ema"):
        for key, value in straight[part].items():
            assert torch.equal(value, resumed[part][key]), f"{part} {key}"
