"""The in-process ComfyUI host: it loaded this pack, and it detects the generated checkpoint as SD1.5."""
import torch

PACK_NODES = ("MagicMixLayoutNoise", "MagicMixInterpolatedSampler", "MagicMixConditionalSampler")


def test_host_loaded_the_pack_nodes_from_this_repo(comfy_host):
    import nodes
    missing = [name for name in PACK_NODES if name not in comfy_host.NODE_CLASS_MAPPINGS]
    assert not missing, f"pack nodes not registered by the host: {missing}"
    # Registered by ComfyUI's custom-node loader, as a custom node of the pack's folder.
    for name in PACK_NODES:
        assert comfy_host.node(name).RELATIVE_PYTHON_MODULE == "custom_nodes.comfyui-magicmix"
    assert "comfyui-magicmix" in nodes.LOADED_MODULE_DIRS


def test_generated_checkpoint_loads_as_sd15_with_eps_sampling(sd15_model):
    import comfy.model_sampling
    import comfy.supported_models
    model, clip, vae = sd15_model
    assert type(model.model.model_config) is comfy.supported_models.SD15
    assert isinstance(model.model.model_sampling, comfy.model_sampling.EPS)
    assert not isinstance(model.model.model_sampling, comfy.model_sampling.V_PREDICTION)
    assert clip is not None and vae is not None


def test_generated_checkpoint_gives_finite_outputs(comfy_host, sd15_model):
    # The checkpoint is only useful if every stage stays finite (ComfyUI leaves missing weights
    # uninitialised, and badly scaled random weights overflow).
    model, clip, vae = sd15_model
    encode, sample, decode = (comfy_host.node(n)() for n in ("CLIPTextEncode", "KSampler", "VAEDecode"))
    positive = encode.encode(clip, "a photo of a corgi")[0]
    negative = encode.encode(clip, "")[0]
    assert torch.isfinite(positive[0][0]).all() and positive[0][0].shape == (1, 77, 768)
    latent = {"samples": torch.zeros((1, 4, 8, 8))}
    samples = sample.sample(model, 0, 4, 7.0, "euler", "normal", positive, negative, latent)[0]["samples"]
    assert torch.isfinite(samples).all() and samples.abs().sum() > 0
    image = decode.decode(vae, {"samples": samples})[0]
    assert image.shape == (1, 64, 64, 3) and torch.isfinite(image).all()
    assert image.std() > 0.01  # not a flat image
