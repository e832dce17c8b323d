"""The three MagicMix nodes chained in a prompt posted to the real server: an image, and a refused k range."""
import pytest
from PIL import Image

from support.server import PromptError, saved_images

CHECKPOINT = "magicmix-test-sd15.safetensors"


def magicmix_prompt(prefix: str, k_min: float = 0.3, k_max: float = 0.6, text_layout: bool = False) -> dict:
    """Checkpoint -> (image layout: EmptyLatent stand-in through VAEEncode of a decoded latent | text layout)
    -> MagicMixLayoutNoise -> MagicMixInterpolatedSampler -> MagicMixConditionalSampler -> VAEDecode -> SaveImage."""
    prompt = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "content": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a coffee machine", "clip": ["ckpt", 1]}},
        "layout_text": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a corgi", "clip": ["ckpt", 1]}},
        "negative": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["ckpt", 1]}},
        "empty": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        # A real image for the layout: the test checkpoint's own text-to-image output, re-encoded.
        "draft": {"class_type": "KSampler", "inputs": {
            "model": ["ckpt", 0], "positive": ["layout_text", 0], "negative": ["negative", 0], "latent_image": ["empty", 0],
            "seed": 3, "steps": 4, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "draft_image": {"class_type": "VAEDecode", "inputs": {"samples": ["draft", 0], "vae": ["ckpt", 2]}},
        "layout_latent": {"class_type": "VAEEncode", "inputs": {"pixels": ["draft_image", 0], "vae": ["ckpt", 2]}},
        "layout": {"class_type": "MagicMixLayoutNoise", "inputs": {
            "model": ["ckpt", 0], "layout_latent": ["empty", 0] if text_layout else ["layout_latent", 0],
            "seed": 11, "steps": 10, "scheduler": "normal", "k_min": k_min, "k_max": k_max, "batch_size": 2,
            "layout_cfg": 7.5, "layout_sampler_name": "euler"}},
        "mixed": {"class_type": "MagicMixInterpolatedSampler", "inputs": {
            "model": ["ckpt", 0], "layout": ["layout", 0], "positive": ["content", 0], "negative": ["negative", 0],
            "cfg": 7.5, "sampler_name": "euler", "nu": 0.75, "nu_end": 0.75, "nu_schedule": "constant"}},
        "final": {"class_type": "MagicMixConditionalSampler", "inputs": {
            "model": ["ckpt", 0], "layout": ["layout", 0], "latent": ["mixed", 0], "positive": ["content", 0],
            "negative": ["negative", 0], "cfg": 7.5, "sampler_name": "euler"}},
        "decoded": {"class_type": "VAEDecode", "inputs": {"samples": ["final", 0], "vae": ["ckpt", 2]}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["decoded", 0], "filename_prefix": prefix}},
    }
    if text_layout:
        prompt["layout"]["inputs"].update(layout_positive=["layout_text", 0], layout_negative=["negative", 0])
    return prompt


@pytest.mark.parametrize("text_layout", [False, True], ids=["image_layout", "text_layout"])
def test_three_chained_nodes_save_a_batch_of_images(comfy_server, text_layout):
    prefix = f"e2e_magicmix_{'text' if text_layout else 'image'}"
    images = saved_images(comfy_server.run_prompt(magicmix_prompt(prefix, text_layout=text_layout)))
    assert len(images) == 2, "batch_size 2 on MagicMixLayoutNoise gives two images"
    pixels = []
    for entry in images:
        with Image.open(comfy_server.output_file(entry)) as image:
            image.load()
            assert image.format == "PNG" and image.size == (64, 64)
            assert '"MagicMixConditionalSampler"' in image.info.get("prompt", "")
            pixels.append(image.tobytes())
    assert pixels[0] != pixels[1], "each batch item has its own noise, so the two images differ"


def test_swapped_k_range_is_refused_at_validation_naming_both_inputs(comfy_server):
    with pytest.raises(PromptError) as refused:
        comfy_server.run_prompt(magicmix_prompt("e2e_refused", k_min=0.7, k_max=0.4))
    details = refused.value.details
    assert isinstance(details, dict), f"expected a /prompt refusal (HTTP 400), got {details!r}"
    node_error = details["node_errors"]["layout"]
    assert node_error["class_type"] == "MagicMixLayoutNoise"
    message = " ".join(f"{error['message']} {error['details']}" for error in node_error["errors"])
    assert "k_min (0.7)" in message and "k_max (0.4)" in message
    # Nothing ran: the server is still free, and a good prompt right after works.
    assert len(saved_images(comfy_server.run_prompt(magicmix_prompt("e2e_after_refusal")))) == 2
