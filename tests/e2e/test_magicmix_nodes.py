"""The three MagicMix nodes chained in a prompt posted to the real server: an image, and a refused k range."""
import pytest
from PIL import Image

from magicmix_dev.magicmix_prompt import magicmix_prompt
from magicmix_dev.server import PromptError, saved_images


@pytest.mark.parametrize("text_layout", [False, True], ids=["image_layout", "text_layout"])
def test_three_chained_nodes_save_a_batch_of_images(comfy_server, text_layout):
    prefix = f"e2e_magicmix_{'text' if text_layout else 'image'}"
    prompt = magicmix_prompt(prefix, seed=11, batch_size=2, layout_text="a photo of a corgi" if text_layout else None)
    images = saved_images(comfy_server.run_prompt(prompt))
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
    assert len(saved_images(comfy_server.run_prompt(magicmix_prompt("e2e_after_refusal", batch_size=2)))) == 2
