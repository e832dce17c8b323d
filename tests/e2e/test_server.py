"""The real ComfyUI server, started by our tooling, serves the pack and runs a workflow on the generated checkpoint."""
from PIL import Image

from magicmix_dev.checkpoints import DEFAULT_MODEL_NAME as CHECKPOINT
from magicmix_dev.server import saved_images

PACK_NODES = ("MagicMixLayoutNoise", "MagicMixInterpolatedSampler", "MagicMixConditionalSampler")


def test_object_info_lists_the_pack_nodes_and_the_generated_checkpoint(comfy_server):
    info = comfy_server.object_info()
    missing = [name for name in PACK_NODES if name not in info]
    assert not missing, f"/object_info lacks the pack's nodes {missing}; server log:\n{comfy_server.log_tail()}"
    for name in PACK_NODES:
        assert info[name]["python_module"] == "custom_nodes.comfyui-magicmix"
    assert CHECKPOINT in info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]


def plain_txt2img_prompt(prefix: str) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a corgi", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": 7, "steps": 4, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": prefix}},
    }


def test_plain_workflow_runs_through_prompt_to_a_saved_png(comfy_server):
    outputs = comfy_server.run_prompt(plain_txt2img_prompt("e2e_plain"))
    images = saved_images(outputs)
    assert len(images) == 1 and images[0]["filename"].startswith("e2e_plain")
    path = comfy_server.output_file(images[0])
    assert path.is_file()
    with Image.open(path) as image:
        image.load()  # decodes the whole file, not just the header
        assert image.format == "PNG" and image.size == (64, 64)
        # SaveImage embeds the prompt it ran; this proves the file is this run's output.
        assert '"e2e_plain"' in image.info.get("prompt", "")
        low, high = image.convert("L").getextrema()
        assert high > low  # not a flat image: the decoder produced something


def test_the_server_serves_the_node_docs_pages_the_docs_panel_reads(comfy_server):
    """WEB_DIRECTORY's docs/<NodeId>.md, under /extensions/<pack folder>/ as the frontend requests it."""
    import requests
    from magicmix_dev.host import PACK_FOLDER_NAME
    for node_id, title in (("MagicMixLayoutNoise", "MagicMix Layout Noise"), ("MagicMix", "MagicMix (all in one)")):
        response = requests.get(f"{comfy_server.url}/extensions/{PACK_FOLDER_NAME}/docs/{node_id}.md", timeout=30)
        assert response.status_code == 200, f"{node_id}: {response.status_code}"
        assert response.text.startswith(f"# {title}\n")
    missing = requests.get(f"{comfy_server.url}/extensions/{PACK_FOLDER_NAME}/docs/NoSuchNode.md", timeout=30)
    assert missing.status_code == 404
