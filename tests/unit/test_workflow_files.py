"""The shipped workflow files, checked as files: up to date, well-formed UI format, spec defaults.

What the real frontend and the real server make of them is in tests/browser/test_workflows_canvas.py
and tests/e2e/test_workflows.py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from PIL import Image

from tools import make_workflows

PACK_DIR = Path(__file__).resolve().parents[2]

WORKFLOW_NAMES = sorted(make_workflows.WORKFLOWS)
MAGICMIX_TYPES = {"MagicMixLayoutNoise", "MagicMixInterpolatedSampler", "MagicMixConditionalSampler"}
NOTE_TYPES = {"MarkdownNote", "Note"}
SD15_FILES = ("v1-5-pruned-emaonly.safetensors",)
FLUX_DEV_FILES = ("flux1-dev.safetensors", "clip_l.safetensors", "t5xxl_fp16.safetensors", "ae.safetensors")
QWEN_IMAGE_FILES = ("qwen_image_fp8_e4m3fn.safetensors", "qwen_2.5_vl_7b_fp8_scaled.safetensors",
                    "qwen_image_vae.safetensors")
WAN_TEXT_AND_VAE = ("umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan_2.1_vae.safetensors")
NO_SWITCH = 10000


class Expected(NamedTuple):
    """What a workflow must hold: the paper's settings on SD, ComfyUI's templates' on Flux dev, Qwen-Image and
    WAN (docs/models.md: cfg 1 with FluxGuidance 3.5 on a guidance-distilled model; Qwen-Image's template runs
    20 steps, cfg 2.5, ModelSamplingAuraFlow 3.1; docs/video.md: WAN 2.1 T2V 1.3B 832x480, 33 frames, 30 steps,
    cfg 6, ModelSamplingSD3 8; WAN 2.2 A14B's 20-step path, cfg 3.5, shift 8 on both experts, switch at step
    10), with k_max / k_min near SD1.5's noise (WAN 2.2 A14B: the paper's, so that both experts mix)."""
    files: tuple = SD15_FILES
    size: int = 512
    steps: int = 50
    k: tuple = (0.3, 0.6)
    cfg: float = 7.5
    scheduler: str = "normal"
    flux_guidance: float | None = None
    model_sampling: tuple = ()  # (node type, shift) on each diffusion model
    height: int | None = None  # None: square
    frames: int = 0  # a video workflow's frame count
    switch_at_step: int = NO_SWITCH


FLUX_DEV = Expected(FLUX_DEV_FILES, 1024, 20, (0.2, 0.4), 1, "simple", flux_guidance=3.5)
WAN21_T2V = Expected(("wan2.1_t2v_1.3B_fp16.safetensors", *WAN_TEXT_AND_VAE), 832, 30, (0.1, 0.23), 6, "simple",
                     model_sampling=("ModelSamplingSD3", 8), height=480, frames=33)
EXPECTED = {
    "magicmix_sdxl": Expected(("sd_xl_base_1.0.safetensors",), 1024),
    "magicmix_flux_image_layout": FLUX_DEV,
    "magicmix_flux_text_layout": FLUX_DEV,
    "magicmix_qwen_image_layout": Expected(QWEN_IMAGE_FILES, 1328, 20, (0.2, 0.4), 2.5, "simple",
                                           model_sampling=("ModelSamplingAuraFlow", 3.1)),
    "magicmix_wan_video_layout": WAN21_T2V,
    "magicmix_wan_text_layout": WAN21_T2V,
    "magicmix_wan22_two_experts": Expected(
        ("wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
         *WAN_TEXT_AND_VAE), 832, 20, (0.3, 0.6), 3.5, "simple", model_sampling=("ModelSamplingSD3", 8), height=480,
        frames=33, switch_at_step=10),
}
TEXT_LAYOUT_WORKFLOWS = ("magicmix_text_layout", "magicmix_flux_text_layout", "magicmix_wan_text_layout")


def load(name: str) -> dict:
    return json.loads((PACK_DIR / "workflows" / f"{name}.json").read_text(encoding="utf-8"))


def values(node: dict) -> dict:
    names = make_workflows.NODE_DEFS[node["type"]].values
    assert len(node["widgets_values"]) == len(names), node["type"]
    return dict(zip(names, node["widgets_values"]))


def test_the_fourteen_workflows_are_shipped_and_nothing_else():
    assert set(WORKFLOW_NAMES) == {
        "magicmix_image_layout", "magicmix_text_layout", "magicmix_breed_mixing", "magicmix_style_transfer",
        "magicmix_concept_removal", "magicmix_nu_sweep", "magicmix_sdxl", "magicmix_regional",
        "magicmix_flux_image_layout", "magicmix_flux_text_layout", "magicmix_qwen_image_layout",
        "magicmix_wan_video_layout", "magicmix_wan_text_layout", "magicmix_wan22_two_experts"}
    shipped = {p.stem for p in (PACK_DIR / "workflows").glob("*.json")}
    assert shipped == set(WORKFLOW_NAMES), "workflows/ holds a file the generator does not make (or lacks one)"
    assert not (PACK_DIR / "example_workflows").exists(), \
        "a second template folder makes ComfyUI list every template twice (docs/workflows.md)"


def test_committed_files_are_what_the_generator_writes():
    assert make_workflows.main(["--check"]) == 0, "run: python tools/make_workflows.py"


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_ui_format_links_are_consistent(name):
    wf = load(name)
    assert wf["version"] == 0.4
    nodes = {n["id"]: n for n in wf["nodes"]}
    assert len(nodes) == len(wf["nodes"]) and wf["last_node_id"] == max(nodes)
    assert wf["last_link_id"] == max(link[0] for link in wf["links"])
    for link_id, src, src_slot, dst, dst_slot, kind in wf["links"]:
        out = nodes[src]["outputs"][src_slot]
        inp = nodes[dst]["inputs"][dst_slot]
        assert link_id in out["links"] and out["type"] == kind
        assert inp["link"] == link_id and inp["type"] == kind and "widget" not in inp
    linked_inputs = [i["link"] for n in wf["nodes"] for i in n["inputs"] if i["link"] is not None]
    assert sorted(linked_inputs) == sorted(link[0] for link in wf["links"])
    for node in wf["nodes"]:
        if node["type"] in NOTE_TYPES:
            assert node["widgets_values"][0].strip(), "an empty note"
            continue
        assert node["properties"]["Node name for S&R"] == node["type"]
        for inp in node["inputs"]:  # every required socket is connected
            if "widget" not in inp and inp.get("shape") != 7:
                assert inp["link"] is not None, f"{node['type']}.{inp['name']} is not connected"


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_spec_defaults_and_names(name):
    wf = load(name)
    by_type: dict[str, list] = {}
    for node in wf["nodes"]:
        by_type.setdefault(node["type"], []).append(node)
    assert MAGICMIX_TYPES <= set(by_type)
    expected = EXPECTED.get(name, Expected())
    file_widgets = make_workflows.MODEL_FILE_WIDGETS
    loaded = [values(n)[widget] for n in wf["nodes"] if n["type"] in file_widgets for widget in file_widgets[n["type"]]]
    assert sorted(loaded) == sorted(expected.files)
    (layout,) = by_type["MagicMixLayoutNoise"]
    lv = values(layout)
    assert (lv["steps"], lv["k_min"], lv["k_max"]) == (expected.steps, *expected.k)
    assert (lv["layout_cfg"], lv["scheduler"]) == (expected.cfg, expected.scheduler)
    assert lv["control_after_generate"] == "fixed"
    assert lv["switch_at_step"] == expected.switch_at_step
    for node in by_type["MagicMixInterpolatedSampler"]:
        v = values(node)
        assert v["cfg"] == expected.cfg and 0.5 <= v["nu"] <= 0.9
    for node in by_type["MagicMixConditionalSampler"]:
        assert values(node)["cfg"] == expected.cfg
    if expected.frames:
        (save,) = by_type["SaveVideo"]
        assert values(save)["filename_prefix"] == f"video/{name}"
        assert [values(n)["fps"] for n in by_type["CreateVideo"]] == [make_workflows.layout_images.VIDEO_FPS]
        assert "SaveImage" not in by_type
    else:
        (save,) = by_type["SaveImage"]
        assert values(save)["filename_prefix"] == name
    sizers = [n for kind in ("ImageScale", "EmptyLatentImage", "EmptySD3LatentImage", "EmptyHunyuanLatentVideo")
              for n in by_type.get(kind, [])]
    assert sizers
    for node in sizers:
        assert (values(node)["width"], values(node)["height"]) == (expected.size, expected.height or expected.size)
        if node["type"] == "EmptyHunyuanLatentVideo":
            assert values(node)["length"] == expected.frames
    guidance = [values(n)["guidance"] for n in by_type.get("FluxGuidance", [])]
    positives = [i["link"] for n in by_type["MagicMixInterpolatedSampler"] + by_type["MagicMixLayoutNoise"]
                 for i in n["inputs"] if i["name"] in ("positive", "layout_positive") and i["link"] is not None]
    sources = {link[0]: next(n["type"] for n in wf["nodes"] if n["id"] == link[1]) for link in wf["links"]}
    if expected.flux_guidance is None:
        assert guidance == []
    else:  # every positive prompt goes through FluxGuidance
        assert guidance and set(guidance) == {expected.flux_guidance}
        assert {sources[link] for link in positives} == {"FluxGuidance"}
    shifts = [(n["type"], values(n)["shift"]) for kind in ("ModelSamplingAuraFlow", "ModelSamplingSD3")
              for n in by_type.get(kind, [])]
    assert shifts == ([expected.model_sampling] * len(by_type["UNETLoader"]) if expected.model_sampling else [])
    assert len(by_type["MarkdownNote"]) >= 2, "the 'Start here' and settings notes"
    if name == "magicmix_nu_sweep":
        nus = [values(n)["nu"] for n in by_type["MagicMixInterpolatedSampler"]]
        assert nus == [0.5, 0.7, 0.9]
        assert len(by_type["MagicMixLayoutNoise"]) == 1, "one shared layout"
    if name in TEXT_LAYOUT_WORKFLOWS:
        linked = {i["name"] for i in layout["inputs"] if i["link"] is not None}
        assert {"layout_positive", "layout_negative"} <= linked
        assert "LoadImage" not in by_type and "LoadVideo" not in by_type
    else:
        assert ("LoadVideo" if expected.frames else "LoadImage") in by_type
    if name == "magicmix_concept_removal":
        (interp,) = by_type["MagicMixInterpolatedSampler"]
        negative_link = next(i["link"] for i in interp["inputs"] if i["name"] == "negative")
        source = next(link[1] for link in wf["links"] if link[0] == negative_link)
        negative_text = next(values(n)["text"] for n in wf["nodes"] if n["id"] == source)
        assert "lamp" in negative_text, "the negative prompt names the layout's concept"


def model_sources(wf: dict, node: dict) -> dict[str, str]:
    """Input name -> the model file (of a UNETLoader or Load Checkpoint) its MODEL comes from, through any model
    patch, for a node's model inputs."""
    nodes = {n["id"]: n for n in wf["nodes"]}
    links = {link[0]: link for link in wf["links"]}

    def loader_file(node_id: int) -> str:
        source = nodes[node_id]
        if source["type"] in ("UNETLoader", "CheckpointLoaderSimple"):
            return values(source)["unet_name" if source["type"] == "UNETLoader" else "ckpt_name"]
        model_inputs = [i for i in source["inputs"] if i["name"] == "model"]
        return loader_file(links[model_inputs[0]["link"]][1]) if model_inputs else source["type"]

    return {i["name"]: loader_file(links[i["link"]][1]) for i in node["inputs"]
            if i["name"] in ("model", "model_low_noise") and i["link"] is not None}


def test_the_two_experts_feed_every_magicmix_node():
    """WAN 2.2 A14B: model is the high-noise expert and model_low_noise the low-noise one, on all three nodes."""
    wf = load("magicmix_wan22_two_experts")
    high, low = EXPECTED["magicmix_wan22_two_experts"].files[:2]
    magicmix = [n for n in wf["nodes"] if n["type"] in MAGICMIX_TYPES]
    assert len(magicmix) == 3
    for node in magicmix:
        assert model_sources(wf, node) == {"model": high, "model_low_noise": low}, node["type"]
    for name in WORKFLOW_NAMES:  # every other canvas runs one model
        if name != "magicmix_wan22_two_experts":
            assert all("model_low_noise" not in model_sources(load(name), n) for n in load(name)["nodes"]
                       if n["type"] in MAGICMIX_TYPES), name


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_canvas_is_readable(name):
    """Groups hold their nodes and do not overlap; nodes do not overlap each other."""
    wf = load(name)

    def box(node):
        x, y = node["pos"]
        w, h = node["size"]
        return x, y - make_workflows.TITLE_HEIGHT, x + w, y + h

    def overlap(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    boxes = [(n["type"], box(n)) for n in wf["nodes"]]
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1:]:
            assert not overlap(a, b), f"{ta} overlaps {tb}"
    groups = [(g["title"], (g["bounding"][0], g["bounding"][1], g["bounding"][0] + g["bounding"][2],
                            g["bounding"][1] + g["bounding"][3])) for g in wf["groups"]]
    for i, (ta, a) in enumerate(groups):
        for tb, b in groups[i + 1:]:
            assert not overlap(a, b), f"groups {ta!r} and {tb!r} overlap"
    for node_type, b in boxes:
        inside = [t for t, g in groups if g[0] <= b[0] and g[1] <= b[1] and b[2] <= g[2] and b[3] <= g[3]]
        if node_type not in NOTE_TYPES:
            assert len(inside) == 1, f"{node_type} is in groups {inside}"


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_layout_images_and_thumbnail_ship(name):
    wf = load(name)
    for node in wf["nodes"]:
        if node["type"] in ("LoadImage", "LoadVideo"):
            layout = PACK_DIR / "layouts" / values(node)["image" if node["type"] == "LoadImage" else "file"]
            assert layout.is_file(), f"{layout.name} is not in layouts/"
    with Image.open(PACK_DIR / "workflows" / f"{name}.jpg") as thumb:
        assert thumb.format == "JPEG" and thumb.size == (256, 256)


@pytest.mark.parametrize("filename", sorted(make_workflows.layout_images.LAYOUT_IMAGES))
def test_layout_images_are_small_pngs_drawn_by_the_script(filename):
    path = PACK_DIR / "layouts" / filename
    assert path.stat().st_size < 10_000
    with Image.open(path) as shipped:
        assert shipped.format == "PNG" and shipped.size == (512, 512)
        shipped_rgb = np.asarray(shipped.convert("RGB"), dtype=np.float32)
    drawn = np.asarray(make_workflows.layout_images.LAYOUT_IMAGES[filename]().convert("RGB"), dtype=np.float32)
    # Pixel for pixel on the Pillow that wrote them; another Pillow may quantise a colour differently.
    assert np.abs(shipped_rgb - drawn).mean() < 2.0
    assert len(np.unique(shipped_rgb.reshape(-1, 3), axis=0)) > 4, "a drawing, not a blank"


@pytest.mark.parametrize("filename", sorted(make_workflows.layout_images.LAYOUT_VIDEOS))
def test_the_layout_video_is_a_small_mp4_drawn_by_the_script(filename):
    av = pytest.importorskip("av", reason="PyAV ships with ComfyUI's requirements, which the test venv installs")
    images = make_workflows.layout_images
    path = PACK_DIR / "layouts" / filename
    assert path.stat().st_size < 1_000_000
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == images.VIDEO_FPS
        shipped = [frame.to_ndarray(format="rgb24").astype(np.float32) for frame in container.decode(video=0)]
    assert len(shipped) == images.VIDEO_FRAMES and (images.VIDEO_FRAMES - 1) % 4 == 0, "4n + 1 frames, as WAN reads"
    assert shipped[0].shape == (images.VIDEO_HEIGHT, images.VIDEO_WIDTH, 3)
    drawn = [np.asarray(frame, dtype=np.float32) for frame in images.LAYOUT_VIDEOS[filename]()]
    # H.264 at crf 23 on flat colours: a few levels of error, far below a moved subject's
    errors = [np.abs(a - b).mean() for a, b in zip(shipped, drawn)]
    assert max(errors) < 3.0, errors
    moved = np.abs(drawn[0] - drawn[-1]).max(axis=-1) > 40  # the dog's colours against the room's
    assert moved.mean() > 0.1, "the subject moves: more than a tenth of the frame changes between first and last"


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_each_loader_declares_its_model_for_the_frontends_missing_model_check(name):
    # ComfyUI's templates' form; the pinned frontend (1.32.9) offers a download only for huggingface.co
    # and civitai.com URLs of .safetensors / .sft files (its MissingModelsWarning).
    folders = {"CheckpointLoaderSimple": "checkpoints", "UNETLoader": "diffusion_models",
               "DualCLIPLoader": "text_encoders", "CLIPLoader": "text_encoders", "VAELoader": "vae"}
    loaders = [n for n in load(name)["nodes"] if n["type"] in folders]
    assert loaders
    for node in loaders:
        declared = node["properties"]["models"]
        assert [model["name"] for model in declared] == \
            [values(node)[widget] for widget in make_workflows.MODEL_FILE_WIDGETS[node["type"]]]
        for model in declared:
            assert model["directory"] == folders[node["type"]]
            assert model["url"].startswith(("https://huggingface.co/", "https://civitai.com/"))
            assert model["name"].endswith((".safetensors", ".sft"))
            assert "/resolve/main/" in model["url"] and model["url"].rsplit("/", 1)[1] == model["name"], \
                "a direct file download of that very file"
