"""Each shipped workflow (workflows/*.json) runs on the real server and saves its images.

The workflow file is converted from the canvas's UI format to the API format with the running
server's /object_info (magicmix_dev/workflow.py), its layout images are put in the server's input
folder with tools/install_layouts.py (what a user runs), and the prompt is queued over HTTP.

What is changed before the run, and why (the test machines have 2 CPU cores and no real weights):

- the checkpoint: every workflow names a real model file; it is replaced by the generated
  random-weight SD1.5 test checkpoint ``magicmix-test-sd15.safetensors``;
- the size: 512x512 (1024x1024) becomes 64x64 (an 8x8 latent);
- steps: 50 becomes 8 (k_min 0.3 / k_max 0.6 stay, levels 2 and 5: three mixes), batch 1 becomes 2.

The SDXL workflow (magicmix_sdxl.json) runs on the SD1.5 test checkpoint too: no SDXL checkpoint
file exists on the test machines (nothing is downloaded, no weights are committed), so this checks
that its graph is accepted and runs through the server with its own prompts and settings at the
reduced size and steps; MagicMix on the SDXL architecture itself is tested in-process by
tests/comfy/test_model_families.py.

The Flux dev, Qwen-Image and WAN workflows load split files. They run on a second test server that also
loads the test-only nodes of tests/e2e/stand_in_nodes/ (the pack does not ship them), 64x64, their own
20 or 30 steps (the tiny nets take milliseconds a step), batch 2 (the video workflows batch 1: VAEDecode
lays a batch of videos end to end as one frame sequence, so one video's frame count is checked; batches
of videos are tests/comfy/test_video_families.py's); per component:

- VAE: ComfyUI's own VAELoader, on generated files (magicmix_dev/tiny_vaes.py): for Flux a TAESD-format
  VAE with 16 latent channels (the loader reads the channels from the weights; the Flux VAE's own
  format is detected with width 128 fixed, about 84 M parameters), for Qwen-Image and WAN a WAN 2.1 VAE
  of width 8 (the loader reads the width from the weights);
- diffusion model: for WAN, ComfyUI's own UNETLoader on a generated WAN 2.1 T2V file (one block, dim
  128: its detection sets one head per 128 channels; magicmix_dev/tiny_video_models.py), one seed per
  expert file; for Flux and Qwen-Image a stand-in node in UNETLoader's place, the family's real ComfyUI
  model class with a small network (magicmix_dev/tiny_flow_models.py): ComfyUI's detection fixes Flux at
  24 heads of 128 (the smallest file UNETLoader loads is about 0.38 B parameters) and Qwen-Image's block
  width;
- text: a stand-in node in CLIPTextEncode's place (the text encoder loader is dropped) giving
  conditioning of the family's form at the model's text width, seeded by the prompt's text: T5-XXL,
  umt5-xxl and Qwen2.5-VL 7B have fixed configurations;
- FluxGuidance, ModelSamplingAuraFlow / SD3, LoadImage, LoadVideo, GetVideoComponents, ImageScale,
  VAEEncode / Decode, CreateVideo, SaveImage / SaveVideo and the MagicMix nodes are the real ones, with
  the workflow's own values; the layout video is the one the pack ships, installed by
  tools/install_layouts.py. A saved video is decoded (PyAV) and its frame count and size checked.

Before anything is changed, the converted prompt is checked to carry the workflow's own values
(checkpoint name, 50 steps, k_min/k_max), and the unchanged prompt is posted once: the server must
refuse it for the missing checkpoint file only, which shows every other value in the shipped file is
valid as it is.

Each run's wall time goes to test-artifacts/workflow_times.json (the first run includes loading the
checkpoint into the server).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from typing import NamedTuple

import av
import numpy as np
import pytest
import requests
from PIL import Image

from magicmix_core.levels import LevelRange
from magicmix_dev import tiny_vaes, tiny_video_models
from magicmix_dev.checkpoints import DEFAULT_MODEL_NAME as TEST_CHECKPOINT
from magicmix_dev.server import ComfyServer, PromptError, saved_images
from magicmix_dev.workflow import ui_to_api
from tools import make_workflows

PACK_DIR = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = PACK_DIR / "workflows"
TIMES_FILE = PACK_DIR / "test-artifacts" / "workflow_times.json"
WORKFLOW_NAMES = sorted(p.stem for p in WORKFLOWS_DIR.glob("*.json"))

SHIPPED_CHECKPOINTS = {"v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors"}
SHIPPED_STEPS = 50
TEST_SIZE = 64
TEST_STEPS = 8
TEST_BATCH = 2
STAND_IN_NODES = Path(__file__).resolve().parent / "stand_in_nodes"
LAYOUT_FILE_SUFFIXES = (".png", ".mp4")


class SplitFileModel(NamedTuple):
    """How a split-file workflow's diffusion model file is stood in for, and what the shipped file sets."""
    text_family: str  # the stand-in conditioning's family
    vae_kind: str  # a tiny_vaes kind
    shipped: tuple  # steps, k_min, k_max
    wan_file_seed: int | None = None  # UNETLoader loads the generated WAN file of this seed; None: a stand-in node


SPLIT_FILE_MODELS = {
    "flux1-dev.safetensors": SplitFileModel("flux_dev", "flux", (20, 0.2, 0.4)),
    "qwen_image_fp8_e4m3fn.safetensors": SplitFileModel("qwen_image", "wan21", (20, 0.2, 0.4)),
    "wan2.1_t2v_1.3B_fp16.safetensors": SplitFileModel("wan", "wan21", (30, 0.1, 0.23), wan_file_seed=0),
    "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors": SplitFileModel("wan", "wan21", (20, 0.3, 0.6), 0),
    "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors": SplitFileModel("wan", "wan21", (20, 0.3, 0.6), 1),
}
WAN_FILE_SEEDS = sorted({model.wan_file_seed for model in SPLIT_FILE_MODELS.values()} - {None})
TEXT_LOADERS = ("DualCLIPLoader", "CLIPLoader")
# the inputs naming model files, as the server reports a missing one
MODEL_FILE_INPUTS = {"CheckpointLoaderSimple": ("ckpt_name",), "UNETLoader": ("unet_name",),
                     "DualCLIPLoader": ("clip_name1", "clip_name2"), "CLIPLoader": ("clip_name",),
                     "VAELoader": ("vae_name",)}


def load_workflow(name: str) -> dict:
    return json.loads((WORKFLOWS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def nodes_of(prompt: dict, class_type: str) -> dict[str, dict]:
    return {node_id: node for node_id, node in prompt.items() if node["class_type"] == class_type}


@pytest.fixture(scope="module")
def object_info(comfy_server) -> dict:
    return comfy_server.object_info()


def install_layouts(server: ComfyServer) -> Path:
    """The pack's layout images in the server's input folder, copied by the tool users run."""
    result = subprocess.run([sys.executable, str(PACK_DIR / "tools" / "install_layouts.py"),
                             "--input-dir", str(server.input_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    shipped = sorted(p.name for p in (PACK_DIR / "layouts").iterdir() if p.suffix in LAYOUT_FILE_SUFFIXES)
    assert any(name.endswith(".mp4") for name in shipped), "the layout video"
    assert all((server.input_dir / name).is_file() for name in shipped)
    return server.input_dir


@pytest.fixture(scope="module")
def layouts_installed(comfy_server) -> Path:
    return install_layouts(comfy_server)


def vae_file_name(kind: str) -> str:
    return f"magicmix-test-vae-{kind}.safetensors"


def wan_file_name(seed: int) -> str:
    return f"magicmix-test-wan21-t2v-seed{seed}.safetensors"


@pytest.fixture(scope="module")
def split_file_server(tmp_path_factory):
    """A test server with the generated VAE files in models/vae, the generated WAN files in
    models/diffusion_models and the test-only stand-in nodes loaded."""
    vaes = {vae_file_name(kind): tiny_vaes.ensure_tiny_vae(kind) for kind in tiny_vaes.TINY_VAES}
    wan_files = {wan_file_name(seed): tiny_video_models.ensure_wan21_t2v_file(seed) for seed in WAN_FILE_SEEDS}
    server = ComfyServer(workdir=tmp_path_factory.mktemp("comfy-server-split-files"),
                         model_files={"vae": vaes, "diffusion_models": wan_files}, custom_nodes=STAND_IN_NODES)
    with server:
        info = server.object_info()
        assert {"MagicMixTestTinyDiffusionModel", "MagicMixTestTextConditioning"} <= set(info), server.log_tail()
        install_layouts(server)
        yield server


def is_split_file(prompt: dict) -> bool:
    return bool(nodes_of(prompt, "UNETLoader"))


def split_file_model(prompt: dict) -> SplitFileModel:
    """The split-file workflow's (first) diffusion model, as SPLIT_FILE_MODELS stands it in."""
    unets = nodes_of(prompt, "UNETLoader")
    return SPLIT_FILE_MODELS[unets[min(unets, key=int)]["inputs"]["unet_name"]]


def use_stand_ins(prompt: dict) -> None:
    """The split-file workflow's loaders: the generated WAN file for UNETLoader or a stand-in node in its
    place, a stand-in node for the text, the test VAE file for VAELoader (module docstring)."""
    family, vae_kind = split_file_model(prompt)[:2]
    for unet_id, unet in nodes_of(prompt, "UNETLoader").items():
        seed = SPLIT_FILE_MODELS[unet["inputs"]["unet_name"]].wan_file_seed
        if seed is None:
            prompt[unet_id] = {"class_type": "MagicMixTestTinyDiffusionModel", "inputs": {"family": family}}
        else:
            unet["inputs"]["unet_name"] = wan_file_name(seed)
    text_loaders = [node_id for kind in TEXT_LOADERS for node_id in nodes_of(prompt, kind)]
    assert len(text_loaders) == 1, "one text encoder loader"
    del prompt[text_loaders[0]]
    encoders = nodes_of(prompt, "CLIPTextEncode")
    assert encoders and all(node["inputs"]["clip"][0] == text_loaders[0] for node in encoders.values())
    for node_id, node in encoders.items():
        prompt[node_id] = {"class_type": "MagicMixTestTextConditioning",
                           "inputs": {"family": family, "text": node["inputs"]["text"]}}
    (vae,) = nodes_of(prompt, "VAELoader").values()
    vae["inputs"]["vae_name"] = vae_file_name(vae_kind)


def shrink_for_test(prompt: dict) -> dict:
    """The test models, 64x64, 8 steps (split-file workflows: their own), batch 2; every node that is
    changed must be found."""
    if is_split_file(prompt):
        use_stand_ins(prompt)
        steps = None
    else:
        loaders = nodes_of(prompt, "CheckpointLoaderSimple")
        assert len(loaders) == 1, "each workflow has one Load Checkpoint"
        for node in loaders.values():
            node["inputs"]["ckpt_name"] = TEST_CHECKPOINT
        steps = TEST_STEPS
    sizers = {**nodes_of(prompt, "ImageScale"), **nodes_of(prompt, "EmptyLatentImage"),
              **nodes_of(prompt, "EmptySD3LatentImage"), **nodes_of(prompt, "EmptyHunyuanLatentVideo")}
    assert sizers, "each workflow sets its size with Upscale Image or an empty latent"
    for node in sizers.values():
        node["inputs"]["width"] = node["inputs"]["height"] = TEST_SIZE
    layout_nodes = nodes_of(prompt, "MagicMixLayoutNoise")
    assert len(layout_nodes) == 1, "each workflow has one MagicMix Layout Noise"
    for node in layout_nodes.values():
        node["inputs"]["steps"] = steps = steps or node["inputs"]["steps"]
        node["inputs"]["batch_size"] = 1 if is_video(prompt) else TEST_BATCH
        levels = LevelRange.from_fractions(node["inputs"]["k_min"], node["inputs"]["k_max"], steps)
        assert levels.mix_count >= 2, f"{steps} steps leave only {levels.mix_count} mix(es) for these k_min/k_max"
    return prompt


def is_video(prompt: dict) -> bool:
    return bool(nodes_of(prompt, "SaveVideo"))


def expected_image_size(prompt: dict, source: list) -> tuple[int, int]:
    """(width, height) of the IMAGE at ``source`` ([node id, slot]) for a 64x64 run."""
    node = prompt[source[0]]
    if node["class_type"] == "VAEDecode":
        return TEST_SIZE, TEST_SIZE
    if node["class_type"] == "ImageStitch":
        inputs = node["inputs"]
        assert inputs["direction"] == "right" and inputs["match_image_size"], \
            "only a left-to-right stitch is sized here"
        w1, h1 = expected_image_size(prompt, inputs["image1"])
        w2, h2 = expected_image_size(prompt, inputs["image2"])
        assert h1 == h2
        spacing = inputs["spacing_width"] + inputs["spacing_width"] % 2  # ImageStitch rounds spacing up to even
        return w1 + spacing + w2, h1
    raise AssertionError(f"no size rule for {node['class_type']} feeding Save Image")


def record_time(name: str, seconds: float, models: str, steps: int, batch_size: int) -> None:
    TIMES_FILE.parent.mkdir(parents=True, exist_ok=True)
    times = json.loads(TIMES_FILE.read_text()) if TIMES_FILE.exists() else {}
    times[name] = {
        "seconds": round(seconds, 2), "checkpoint": models, "size": f"{TEST_SIZE}x{TEST_SIZE}",
        "steps": steps, "batch_size": batch_size, "device": "cpu",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_1min": round(os.getloadavg()[0], 2),  # on a shared machine the times scale with this
        "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    TIMES_FILE.write_text(json.dumps(dict(sorted(times.items())), indent=2) + "\n")


def test_every_workflow_is_under_test():
    # The generator's list, so a new workflow cannot ship without being loaded here.
    assert WORKFLOW_NAMES == sorted(make_workflows.WORKFLOWS), WORKFLOW_NAMES


def test_the_server_lists_the_workflows_as_the_packs_templates(comfy_server):
    """What Workflow > Browse Templates shows under the pack's name (README, docs/workflows.md)."""
    templates = requests.get(f"{comfy_server.url}/api/workflow_templates", timeout=30).json()
    assert sorted(templates.get("comfyui-magicmix", [])) == WORKFLOW_NAMES


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_shipped_values_are_valid_but_for_the_missing_model_files(name, comfy_server, object_info, layouts_installed):
    prompt = ui_to_api(load_workflow(name), object_info)
    (layout,) = nodes_of(prompt, "MagicMixLayoutNoise").values()
    shipped = (layout["inputs"]["steps"], layout["inputs"]["k_min"], layout["inputs"]["k_max"])
    if is_split_file(prompt):
        assert shipped == split_file_model(prompt).shipped
    else:
        (loader,) = nodes_of(prompt, "CheckpointLoaderSimple").values()
        assert loader["inputs"]["ckpt_name"] in SHIPPED_CHECKPOINTS
        assert shipped == (SHIPPED_STEPS, 0.3, 0.6)

    with pytest.raises(PromptError) as refused:
        comfy_server.run_prompt(prompt, timeout_s=60)
    node_errors = refused.value.details.get("node_errors", {}) if isinstance(refused.value.details, dict) else {}
    problems = {(node_id, error["extra_info"].get("input_name"))
                for node_id, node_error in node_errors.items() for error in node_error["errors"]}
    model_files = {(node_id, input_name) for kind, inputs in MODEL_FILE_INPUTS.items()
                   for node_id in nodes_of(prompt, kind) for input_name in inputs}
    assert model_files and problems == model_files, f"the server refused other than the model files: {refused.value}"


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_workflow_runs_on_the_server_and_saves_its_images(name, object_info, request):
    prompt = ui_to_api(load_workflow(name), object_info)
    if is_split_file(prompt):
        server = request.getfixturevalue("split_file_server")
        models = "stand-ins (tests/e2e/stand_in_nodes), test VAE"
    else:
        server = request.getfixturevalue("comfy_server")
        request.getfixturevalue("layouts_installed")
        models = TEST_CHECKPOINT
    prompt = shrink_for_test(prompt)
    if is_video(prompt):
        check_saved = check_saved_videos
        save_nodes = nodes_of(prompt, "SaveVideo")
    else:
        check_saved = check_saved_images
        save_nodes = nodes_of(prompt, "SaveImage")
    assert save_nodes, "a shipped workflow must save its result"

    started = time.monotonic()
    outputs = server.run_prompt(prompt, timeout_s=600)
    (layout,) = nodes_of(prompt, "MagicMixLayoutNoise").values()
    record_time(name, time.monotonic() - started, models, layout["inputs"]["steps"], layout["inputs"]["batch_size"])
    check_saved(server, prompt, save_nodes, outputs)


def check_saved_images(server: ComfyServer, prompt: dict, save_nodes: dict, outputs: dict) -> None:
    assert len(saved_images(outputs)) == len(save_nodes) * TEST_BATCH
    for node_id, node in save_nodes.items():
        images = [image for image in outputs.get(node_id, {}).get("images", []) if image["type"] == "output"]
        assert len(images) == TEST_BATCH, f"Save Image {node_id} saved {len(images)} images"
        size = expected_image_size(prompt, node["inputs"]["images"])
        pixels = []
        for image in images:
            assert image["filename"].startswith(node["inputs"]["filename_prefix"])
            with Image.open(server.output_file(image)) as saved:
                saved.load()  # decodes the whole file, not just its header
                assert saved.format == "PNG" and saved.size == size
                pixels.append(np.asarray(saved.convert("RGB"), dtype=np.int16))
                low, high = saved.convert("L").getextrema()
                assert high > low, "a flat image: nothing was decoded"
        # each batch item has its own noise, so the images of one batch differ
        assert np.abs(pixels[0] - pixels[1]).max() > 0, "the two batch items are identical"


VIDEO_RESULTS_DIR = PACK_DIR / "test-artifacts" / "video"  # decoded frames of each saved video (docs/video.md)


def check_saved_videos(server: ComfyServer, prompt: dict, save_nodes: dict, outputs: dict) -> None:
    """One MP4 per Save Video, with the layout's frame count, at the test size, its frames not all alike."""
    expected_frames = layout_frame_count(server, prompt)
    for node_id, node in save_nodes.items():
        videos = [video for video in outputs.get(node_id, {}).get("images", []) if video["type"] == "output"]
        assert len(videos) == 1, f"Save Video {node_id} saved {len(videos)} files"
        path = server.output_file(videos[0])
        assert path.suffix == ".mp4" and videos[0]["filename"].startswith(
            Path(node["inputs"]["filename_prefix"]).name)
        with av.open(str(path)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        assert len(frames) == expected_frames, f"{len(frames)} frames, the layout has {expected_frames}"
        assert frames[0].shape == (TEST_SIZE, TEST_SIZE, 3)
        assert max(np.ptp(frame) for frame in frames) > 0, "flat frames: nothing was decoded"
        VIDEO_RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, VIDEO_RESULTS_DIR / f"{node['inputs']['filename_prefix'].split('/')[-1]}.mp4")


def layout_frame_count(server: ComfyServer, prompt: dict) -> int:
    """The frames of the workflow's layout: the layout video's (Load Video), or the empty video latent's length."""
    for node in nodes_of(prompt, "LoadVideo").values():
        with av.open(str(server.input_dir / node["inputs"]["file"])) as container:
            return sum(1 for _ in container.decode(video=0))
    (empty,) = nodes_of(prompt, "EmptyHunyuanLatentVideo").values()
    return empty["inputs"]["length"]
