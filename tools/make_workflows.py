#!/usr/bin/env python3
"""Writes the pack's shipped example workflows, their layout images and template thumbnails.

    python tools/make_workflows.py           # (re)write workflows/*.json, workflows/*.jpg, layouts/*.png / .mp4
    python tools/make_workflows.py --check   # exit 1 when a committed file differs from what this writes

The workflows are in the UI format the ComfyUI canvas saves and loads (``version`` 0.4: nodes, links
as ``[id, from_node, from_slot, to_node, to_slot, type]``, groups, MarkdownNote nodes), laid out as
frontend 1.32 saves them. They go to ``workflows/``, where ComfyUI's template browser lists them with
``<name>.jpg`` as the thumbnail (docs/workflows.md says why one folder). The layout images are drawn
and the layout video by ``layout_images.py`` into ``layouts/`` (``install_layouts.py`` copies them to
ComfyUI's input folder; the video needs PyAV, which ComfyUI requires).

Data it reads: ``workflow_data/object_info.json``, the server's ``/object_info`` for the node types
used, gives each node's sockets, widgets and outputs (``refresh_object_info.py`` rewrites it,
``tests/e2e/test_object_info_snapshot.py`` compares it with the server); ``workflow_notes/*.md`` are
the canvas notes (``$name`` placeholders filled in here); ``workflow_data/models.json`` the model files
named; the paper's settings are ``magicmix_core.defaults``.
"""
from __future__ import annotations

import argparse
import functools
import json
import re
import string
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

PACK_DIR = Path(__file__).resolve().parent.parent
sys.path.append(str(PACK_DIR))  # the repo root: magicmix_core, and tools/ as a namespace package
from magicmix_core import defaults  # noqa: E402
from tools import layout_images  # noqa: E402

WORKFLOWS_DIR = PACK_DIR / "workflows"
LAYOUTS_DIR = PACK_DIR / "layouts"
NOTES_DIR = PACK_DIR / "tools" / "workflow_notes"
OBJECT_INFO_PATH = PACK_DIR / "tools" / "workflow_data" / "object_info.json"

PACK_ID = "comfyui-magicmix"  # the Comfy Registry id (pyproject [project] name)
PACK_VERSION = "0.1.0"
CORE_VERSION = "0.3.75"  # the ComfyUI these were laid out and tested against
SEED = 42
NO_SWITCH = 10000  # switch_at_step's default: one model, no second expert (magicmix_comfy.experts.NEVER)

SD15_CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
SDXL_CHECKPOINT = "sd_xl_base_1.0.safetensors"
# Per model file: its folder, where it can be downloaded, and how the notes describe it. The loaders declare
# the first two in properties.models, as ComfyUI's own templates do, so the frontend's missing-model check
# can offer the file (huggingface.co and civitai.com URLs of .safetensors / .sft). Nothing here downloads.
MODELS = json.loads((PACK_DIR / "tools" / "workflow_data" / "models.json").read_text(encoding="utf-8"))


class ModelSetup(NamedTuple):
    """What a canvas loads and the settings its model wants (docs/models.md and docs/video.md say where they
    come from)."""
    files: tuple  # one checkpoint, or the diffusion model, its text encoder(s) and its VAE (split files)
    size: int = 512  # the width; the height too unless ``height`` is set
    clip_type: str = ""  # the text encoder loader's type, for split files
    flux_guidance: float | None = None  # FluxGuidance on each positive prompt: a guidance-distilled model
    model_sampling: tuple | None = None  # (node type, shift) on the model, as ComfyUI's template has it
    empty_latent: str = "EmptyLatentImage"  # the text layout's empty latent
    height: int | None = None
    frames: int = 0  # a video model's frame count (its template's); 0 for an image model
    fps: int = 16
    low_noise_file: str | None = None  # a second expert's diffusion model (WAN 2.2 A14B)
    switch_at_step: int = NO_SWITCH
    steps: int = defaults.STEPS
    k_min: float = defaults.K_MIN
    k_max: float = defaults.K_MAX
    cfg: float = defaults.CFG
    scheduler: str = defaults.SCHEDULER


SD15 = ModelSetup((SD15_CHECKPOINT,))
SDXL = ModelSetup((SDXL_CHECKPOINT,), 1024)
# Flux dev and Qwen-Image as ComfyUI's templates load and run them (flux_dev_full_text_to_image,
# image_qwen_image: 20 steps, euler / simple); k_max / k_min land near SD1.5's noise at 0.6 / 0.3.
FLUX_DEV = ModelSetup(("flux1-dev.safetensors", "clip_l.safetensors", "t5xxl_fp16.safetensors", "ae.safetensors"),
                      1024, "flux", flux_guidance=3.5, empty_latent="EmptySD3LatentImage", steps=20, k_min=0.2,
                      k_max=0.4, cfg=1, scheduler="simple")
QWEN_IMAGE = ModelSetup(("qwen_image_fp8_e4m3fn.safetensors", "qwen_2.5_vl_7b_fp8_scaled.safetensors",
                         "qwen_image_vae.safetensors"), 1328, "qwen_image",
                        model_sampling=("ModelSamplingAuraFlow", 3.1), empty_latent="EmptySD3LatentImage", steps=20,
                        k_min=0.2, k_max=0.4, cfg=2.5, scheduler="simple")
# WAN as ComfyUI's templates load and run it: 2.1 T2V 1.3B (text_to_video_wan: 832x480, 33 frames, 30 steps,
# cfg 6, shift 8) with k at SD1.5's noise (docs/video.md); 2.2 A14B (video_wan2_2_14B_t2v) on its 20-step path
# (cfg 3.5, shift 8 on both experts, the switch at step 10), with the paper's k: the switch then falls inside
# the layout phase (steps 8 -> 14), so both experts mix; the SD-matched k (0.2 / 0.1) would leave the high one out.
WAN_TEXT_AND_VAE = ("umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan_2.1_vae.safetensors")
WAN21_T2V = ModelSetup(("wan2.1_t2v_1.3B_fp16.safetensors", *WAN_TEXT_AND_VAE), 832, "wan",
                       model_sampling=("ModelSamplingSD3", 8), empty_latent="EmptyHunyuanLatentVideo", steps=30,
                       k_min=0.1, k_max=0.23, cfg=6, scheduler="simple", height=480, frames=33)
WAN22_A14B = ModelSetup(("wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", *WAN_TEXT_AND_VAE), 832, "wan",
                        model_sampling=("ModelSamplingSD3", 8), empty_latent="EmptyHunyuanLatentVideo", steps=20,
                        cfg=3.5, scheduler="simple", height=480, frames=33,
                        low_noise_file="wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors", switch_at_step=10)

# Node interfaces: the snapshot of the server's /object_info, read by the frontend's rules

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# The size each node type is saved with (the frontend's, not in /object_info). Its keys are the node types
# the workflows may use, so the ones the snapshot holds: a new type is a new entry, then a refresh.
NODE_SIZES = {
    "CheckpointLoaderSimple": (320, 98), "CLIPTextEncode": (400, 150), "LoadImage": (320, 380),
    "ImageScale": (320, 130), "VAEEncode": (200, 46), "EmptyLatentImage": (320, 106), "VAEDecode": (200, 46),
    "SaveImage": (420, 470), "ImageStitch": (320, 150), "MagicMixLayoutNoise": (320, 374),
    "MagicMixInterpolatedSampler": (320, 254), "MagicMixConditionalSampler": (320, 202), "MarkdownNote": (400, 300),
    "UNETLoader": (320, 82), "DualCLIPLoader": (320, 130), "CLIPLoader": (320, 106), "VAELoader": (320, 58),
    "FluxGuidance": (320, 58), "ModelSamplingAuraFlow": (320, 58), "EmptySD3LatentImage": (320, 106),
    "ModelSamplingSD3": (320, 58), "EmptyHunyuanLatentVideo": (320, 130), "LoadVideo": (320, 420),
    "GetVideoComponents": (250, 66), "CreateVideo": (270, 78), "SaveVideo": (420, 470),
}
FRONTEND_ONLY = {"MarkdownNote"}  # drawn by the frontend, unknown to the server
# The loaders' widgets that name a model file: each is declared in the node's properties.models, and the
# snapshot leaves out their choices (the machine's files).
MODEL_FILE_WIDGETS = {"CheckpointLoaderSimple": ("ckpt_name",), "UNETLoader": ("unet_name",),
                      "DualCLIPLoader": ("clip_name1", "clip_name2"), "CLIPLoader": ("clip_name",),
                      "VAELoader": ("vae_name",)}


@dataclass(frozen=True)
class NodeDef:
    """What the frontend saves for a node type. sockets / widgets: (name, type, optional) in definition
    order; values: the widgets_values slots (a seed's control_after_generate takes one of its own)."""
    sockets: tuple = ()
    widgets: tuple = ()
    values: tuple = ()
    outputs: tuple = ()  # (name, type)
    size: tuple = (320, 60)
    pack: str = ""


def node_def(type_: str, info: dict) -> NodeDef:
    """A node type's saved form: sockets first; a widget per INT, FLOAT, STRING, BOOLEAN or COMBO input,
    a control value after a seed, an upload button after the required widgets of an image loader."""
    sockets, widgets, values = [], [], []
    for section in ("required", "optional"):
        specs, upload = info["input"].get(section, {}), False
        for name in info["input_order"].get(section, []):
            kind = "COMBO" if isinstance(specs[name][0], list) else specs[name][0]
            options = specs[name][1] if len(specs[name]) > 1 else {}
            if kind not in WIDGET_TYPES or options.get("forceInput"):
                sockets.append((name, kind, section == "optional"))
                continue
            widgets.append((name, kind, section == "optional"))
            values.append(name)
            if kind == "INT" and options.get("control_after_generate", name in ("seed", "noise_seed")):
                values.append("control_after_generate")
            upload = upload or (section == "required" and (options.get("image_upload") or options.get("video_upload")))
        if upload:
            widgets.append(("upload", "IMAGEUPLOAD", False))
            values.append("upload")
    pack = PACK_ID if info["python_module"].startswith("custom_nodes.") else "comfy-core"
    outputs = tuple(zip(info["output_name"], info["output"]))
    return NodeDef(tuple(sockets), tuple(widgets), tuple(values), outputs, NODE_SIZES[type_], pack)


# (refresh_object_info.py imports this module, also before there is a snapshot)
SNAPSHOT = json.loads(OBJECT_INFO_PATH.read_text(encoding="utf-8")) if OBJECT_INFO_PATH.exists() else {}
NODE_DEFS = {name: node_def(name, info) for name, info in SNAPSHOT.items()} | {
    "MarkdownNote": NodeDef(values=("text",), size=NODE_SIZES["MarkdownNote"])}

GROUP_COLOR = {"model": "#3f789e", "layout": "#8A8", "prompt": "#a1309b", "magicmix": "#b58b2a", "output": "#88A"}
NOTE_COLOR, NOTE_BGCOLOR = "#432", "#653"
TITLE_HEIGHT = 30  # LiteGraph draws a node's title bar above its pos
GROUP_HEADER = 44  # room for the group's title above its first node's title bar
GROUP_PAD = 12
VIEW = (1280, 800)  # the window the canvas view is fitted to (the browser test's viewport)


@dataclass
class Node:
    id: int
    type: str
    definition: NodeDef
    pos: tuple
    values: dict
    title: str | None = None
    size: tuple | None = None
    color: str | None = None
    bgcolor: str | None = None
    input_links: dict = field(default_factory=dict)  # input name -> link id
    output_links: dict = field(default_factory=dict)  # output slot -> [link ids]

    @property
    def box(self) -> tuple:  # x, y, w, h including the title bar
        w, h = self.size or self.definition.size
        return self.pos[0], self.pos[1] - TITLE_HEIGHT, w, h + TITLE_HEIGHT


class Sources(NamedTuple):
    """Where MODEL, CLIP and VAE come from when separate loaders give them: (node, output) each; for two
    experts MODEL is the high-noise one."""
    MODEL: tuple
    CLIP: tuple
    VAE: tuple
    MODEL_LOW_NOISE: tuple | None = None


def bounds(boxes: list[tuple]) -> tuple:
    """x0, y0, x1, y1 around (x, y, w, h) boxes."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes))


class Workflow:
    """A UI-format graph built node by node; ``to_json`` gives what the canvas would save."""

    def __init__(self, name: str, setup: ModelSetup = SD15):
        self.name, self.setup = name, setup
        self.checkpoint, self.size = setup.files[0], setup.size  # the (first) model file it loads, the width
        self.height = setup.height or setup.size
        self.nodes: list[Node] = []
        self.links: list[list] = []
        self.groups: list[dict] = []

    def add(self, type_: str, pos, title=None, size=None, color=None, bgcolor=None, **values) -> Node:
        expected = set(NODE_DEFS[type_].values)
        if set(values) != expected:
            raise ValueError(f"{type_}: unknown widget values {sorted(set(values) - expected)}, "
                             f"missing {sorted(expected - set(values))}")
        self.nodes.append(Node(len(self.nodes) + 1, type_, NODE_DEFS[type_], tuple(pos), values, title, size, color,
                               bgcolor))
        return self.nodes[-1]

    def link(self, source: Node | Sources, output: str, target: Node, input_name: str) -> None:
        if isinstance(source, Sources):
            source, output = getattr(source, output)
        slot = [name for name, _ in source.definition.outputs].index(output)
        kind = source.definition.outputs[slot][1]
        if {name: kind for name, kind, _ in target.definition.sockets}.get(input_name) != kind:
            raise ValueError(f"{source.type}.{output} ({kind}) cannot feed {target.type}.{input_name}")
        if input_name in target.input_links:
            raise ValueError(f"{target.type}.{input_name} is linked twice")
        link_id = len(self.links) + 1
        target_slot = [name for name, _, _ in target.definition.sockets].index(input_name)
        self.links.append([link_id, source.id, slot, target.id, target_slot, kind])
        target.input_links[input_name] = link_id
        source.output_links.setdefault(slot, []).append(link_id)

    def group(self, title: str, members: list[Node], color: str) -> None:
        x0, y0, x1, y1 = bounds([n.box for n in members])
        x0, y0, x1, y1 = x0 - GROUP_PAD, y0 - GROUP_HEADER, x1 + GROUP_PAD, y1 + GROUP_PAD
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": [x0, y0, x1 - x0, y1 - y0],
                            "color": color, "font_size": 24, "flags": {}})

    def _order(self) -> dict[int, int]:
        # Execution order as the canvas stores it: a topological order, sources first.
        deps = {n.id: set() for n in self.nodes}
        for _, src, _, dst, _, _ in self.links:
            deps[dst].add(src)
        order = {}
        while len(order) < len(self.nodes):
            ready = [n.id for n in self.nodes if n.id not in order and deps[n.id] <= set(order)]
            if not ready:
                raise ValueError(f"{self.name}: the graph has a cycle")
            order.update({node_id: len(order) + i for i, node_id in enumerate(ready)})
        return order

    def _node_json(self, node: Node, order: int) -> dict:
        d = node.definition
        missing = [name for name, _, optional in d.sockets if not optional and name not in node.input_links]
        if missing:
            raise ValueError(f"{self.name}: {node.type} #{node.id} has unlinked required inputs {missing}")
        # socket inputs first, then one per widget; optional ones are drawn hollow (shape 7)
        inputs = [{"localized_name": name, "name": name, **({"shape": 7} if optional else {}), "type": kind,
                   "link": node.input_links.get(name)} for name, kind, optional in d.sockets]
        inputs += [{"localized_name": name, "name": name, **({"shape": 7} if optional else {}), "type": kind,
                    "widget": {"name": name}, "link": None} for name, kind, optional in d.widgets]
        outputs = [{"localized_name": name, "name": name, "type": kind, "links": node.output_links.get(slot)}
                   for slot, (name, kind) in enumerate(d.outputs)]
        properties = {}
        if node.type not in FRONTEND_ONLY:
            properties = {"Node name for S&R": node.type, "cnr_id": d.pack,
                          "ver": PACK_VERSION if d.pack == PACK_ID else CORE_VERSION}
        if node.type in MODEL_FILE_WIDGETS:
            properties["models"] = [{"name": name, "url": MODELS[name]["url"], "directory": MODELS[name]["directory"]}
                                    for name in (node.values[widget] for widget in MODEL_FILE_WIDGETS[node.type])]
        return {"id": node.id, "type": node.type, "pos": list(node.pos), "size": list(node.size or d.size),
                "flags": {}, "order": order, "mode": 0, "inputs": inputs, "outputs": outputs,
                **({"title": node.title} if node.title else {}), "properties": properties,
                "widgets_values": [node.values[name] for name in d.values],
                **({"color": node.color, "bgcolor": node.bgcolor} if node.color else {})}

    def view(self) -> dict:
        """The canvas position the workflow opens at: everything fits a 1280x800 window. LiteGraph maps graph
        to screen as (graph + offset) * scale; the frontend's side bar and tabs take the left 70 and top 90 px."""
        x0, y0, x1, y1 = bounds([n.box for n in self.nodes] + [tuple(g["bounding"]) for g in self.groups])
        scale = round(min(1.0, (VIEW[0] - 80) / (x1 - x0), (VIEW[1] - 100) / (y1 - y0)), 2)
        return {"scale": scale, "offset": [round(70 / scale - x0, 1), round(90 / scale - y0, 1)]}

    def to_json(self) -> dict:
        order = self._order()
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://registry.comfy.org/{PACK_ID}/{self.name}")),
            "revision": 0, "last_node_id": len(self.nodes), "last_link_id": len(self.links),
            "nodes": [self._node_json(n, order[n.id]) for n in self.nodes],
            "links": self.links, "groups": self.groups, "config": {}, "extra": {"ds": self.view()}, "version": 0.4,
        }


# The notes: Markdown files in workflow_notes/

def notes_file(name: str) -> dict[str, str]:
    """A notes file's sections: each HTML comment line starts one, named by the comment's first word."""
    parts = re.split(r"^<!-- (\w+).*-->\n", (NOTES_DIR / f"{name}.md").read_text(encoding="utf-8"), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def fill(template: str, **values) -> str:
    return string.Template(template.strip()).substitute({key: str(v).strip() for key, v in values.items()})


def model_files(wf: Workflow) -> dict[str, str]:
    """The notes' names for the files a canvas loads: $checkpoint and $model_hint; for split files also
    $model_file, $text_files and $vae_file."""
    first, *others = wf.setup.files
    names = {"checkpoint": first, "model_hint": MODELS[first]["described_as"]}
    if others:
        *text_files, vae_file = others
        names |= {"model_file": first, "vae_file": vae_file, "text_files": " and ".join(f"`{f}`" for f in text_files)}
    return names


def add_notes(wf: Workflow, start: str, nu, start_height: int, **values) -> None:
    """The "Start here" note (``start``, filled in) and the settings note below it, left of the graph."""
    setup = wf.setup
    settings = fill(notes_file("settings")["note"], nu=nu, k_min=setup.k_min, k_max=setup.k_max,
                    steps=setup.steps, cfg=setup.cfg, advice=notes_file(wf.name)["advice"])
    start = fill(start, size=wf.size, layout_files=notes_file("layout_files")["note"], **model_files(wf), **values)
    for y, text, height, title in ((100, start, start_height, "Start here"),
                                   (180 + start_height, settings, 420, "MagicMix settings")):
        wf.add("MarkdownNote", (-480, y), title=title, size=(440, height), color=NOTE_COLOR, bgcolor=NOTE_BGCOLOR,
               text=text + "\n")


# Shared pieces of the canvases

def model_loader(wf: Workflow) -> Node | Sources:
    """Load Checkpoint, or for split files the diffusion model (and its model sampling patch), the text
    encoder(s) and the VAE stacked in one group."""
    setup = wf.setup
    if len(setup.files) == 1:
        loader = wf.add("CheckpointLoaderSimple", (0, 100), ckpt_name=wf.checkpoint)
        wf.group("1. Model", [loader], GROUP_COLOR["model"])
        return loader
    model_file, *text_files, vae_file = setup.files
    stack: list[Node] = []

    def below(type_: str, title: str | None = None, **values) -> Node:
        y = stack[-1].pos[1] + stack[-1].definition.size[1] + TITLE_HEIGHT + 20 if stack else 100
        stack.append(wf.add(type_, (0, y), title=title, **values))
        return stack[-1]

    def diffusion_model(file_name: str, title: str | None = None) -> Node:
        model = below("UNETLoader", title=title, unet_name=file_name, weight_dtype="default")
        if setup.model_sampling is None:
            return model
        node_type, shift = setup.model_sampling
        patched = below(node_type, shift=shift)
        wf.link(model, "MODEL", patched, "model")
        return patched

    high_noise_title = "Load Diffusion Model (high noise)" if setup.low_noise_file else None
    model = diffusion_model(model_file, high_noise_title)
    low_noise = None
    if setup.low_noise_file:
        low_noise = diffusion_model(setup.low_noise_file, "Load Diffusion Model (low noise)")
    if len(text_files) == 2:
        clip = below("DualCLIPLoader", clip_name1=text_files[0], clip_name2=text_files[1], type=setup.clip_type,
                     device="default")
    else:
        clip = below("CLIPLoader", clip_name=text_files[0], type=setup.clip_type, device="default")
    vae = below("VAELoader", vae_name=vae_file)
    wf.group("1. Model", stack, GROUP_COLOR["model"])
    return Sources((model, "MODEL"), (clip, "CLIP"), (vae, "VAE"), (low_noise, "MODEL") if low_noise else None)


def below_model_group(wf: Workflow) -> int:
    """The y of the first node under the model group (330 under a Load Checkpoint)."""
    x, y, w, h = wf.groups[0]["bounding"]
    return y + h + 120


def image_layout(wf: Workflow, loader: Node | Sources, image: str, crop="center", title="Layout image",
                 group="2. Layout image") -> tuple[Node, Node]:
    size, top = wf.size, below_model_group(wf)
    load = wf.add("LoadImage", (0, top), title=title, image=image, upload="image")
    scale = wf.add("ImageScale", (0, top + 440), title=f"Scale layout to {size}x{wf.height}", upscale_method="lanczos",
                   width=size, height=wf.height, crop=crop)
    encode = wf.add("VAEEncode", (120, top + 620), title="Encode layout")
    wf.link(load, "IMAGE", scale, "image")
    wf.link(scale, "IMAGE", encode, "pixels")
    wf.link(loader, "VAE", encode, "vae")
    wf.group(group, [load, scale, encode], GROUP_COLOR["layout"])
    return encode, load


def video_layout(wf: Workflow, loader: Sources, video: str) -> Node:
    """Load Video -> Get Video Components -> Upscale Image (each frame) -> VAE Encode: the layout video's latent."""
    top = below_model_group(wf)
    load = wf.add("LoadVideo", (0, top), title="Layout video", file=video, upload="image")
    components = wf.add("GetVideoComponents", (0, top + 480))
    scale = wf.add("ImageScale", (0, top + 600), title=f"Scale frames to {wf.size}x{wf.height}",
                   upscale_method="lanczos", width=wf.size, height=wf.height, crop="center")
    encode = wf.add("VAEEncode", (120, top + 780), title="Encode layout video")
    wf.link(load, "VIDEO", components, "video")
    wf.link(components, "images", scale, "image")
    wf.link(scale, "IMAGE", encode, "pixels")
    wf.link(loader, "VAE", encode, "vae")
    wf.group("2. Layout video", [load, components, scale, encode], GROUP_COLOR["layout"])
    return encode


def prompt_rows(wf: Workflow) -> int:
    """The height a prompt group and the gap below it take (FluxGuidance adds a row)."""
    return 460 if wf.setup.flux_guidance is None else 560


def prompts(wf: Workflow, loader: Node | Sources, positive: str, negative: str, y=100, title="3. Content prompt",
            what="Content") -> tuple[Node, Node]:
    """The positive and negative prompt; a guidance-distilled model's positive goes through FluxGuidance."""
    nodes = (wf.add("CLIPTextEncode", (420, y), title=f"{what} prompt (positive)", color="#232", bgcolor="#353",
                    text=positive),
             wf.add("CLIPTextEncode", (420, y + 200), title=f"{what} negative prompt", color="#322", bgcolor="#533",
                    text=negative))
    for node in nodes:
        wf.link(loader, "CLIP", node, "clip")
    members, positive_out = list(nodes), nodes[0]
    if wf.setup.flux_guidance is not None:
        positive_out = wf.add("FluxGuidance", (420, y + 400), guidance=wf.setup.flux_guidance)
        wf.link(nodes[0], "CONDITIONING", positive_out, "conditioning")
        members.append(positive_out)
    wf.group(title, members, GROUP_COLOR["prompt"])
    return positive_out, nodes[1]


def link_models(wf: Workflow, loader: Node | Sources, node: Node) -> None:
    """The model, and a second expert's where the canvas loads one, into a MagicMix node."""
    wf.link(loader, "MODEL", node, "model")
    if isinstance(loader, Sources) and loader.MODEL_LOW_NOISE:
        wf.link(loader, "MODEL_LOW_NOISE", node, "model_low_noise")


def layout_noise(wf: Workflow, loader: Node, latent: Node, pos, layout_prompts: tuple[Node, Node] = ()) -> Node:
    setup = wf.setup
    node = wf.add("MagicMixLayoutNoise", pos, seed=SEED, control_after_generate="fixed", steps=setup.steps,
                  scheduler=setup.scheduler, k_min=setup.k_min, k_max=setup.k_max, batch_size=1,
                  layout_cfg=setup.cfg, layout_sampler_name=defaults.SAMPLER, switch_at_step=setup.switch_at_step)
    link_models(wf, loader, node)
    wf.link(latent, "LATENT", node, "layout_latent")
    for prompt, input_name in zip(layout_prompts, ("layout_positive", "layout_negative")):
        wf.link(prompt, "CONDITIONING", node, input_name)
    return node


def mix_pair(wf: Workflow, loader: Node, layout: Node, positive: Node, negative: Node, nu: float, pos,
             title_suffix="") -> Node:
    x, y = pos
    # a title equal to the node's display name is not saved by the canvas: only set one with a suffix
    titles = [f"MagicMix {kind} Sampler{title_suffix}" if title_suffix else None
              for kind in ("Interpolated", "Conditional")]
    interp = wf.add("MagicMixInterpolatedSampler", (x, y), title=titles[0], cfg=wf.setup.cfg,
                    sampler_name=defaults.SAMPLER, nu=nu, nu_end=nu, nu_schedule=defaults.NU_SCHEDULE)
    # 330 below: room for the pack badge the canvas draws above the Conditional Sampler's title
    cond = wf.add("MagicMixConditionalSampler", (x, y + 330), title=titles[1], cfg=wf.setup.cfg,
                  sampler_name=defaults.SAMPLER)
    for target in (interp, cond):
        link_models(wf, loader, target)
        wf.link(layout, "layout", target, "layout")
        wf.link(positive, "CONDITIONING", target, "positive")
        wf.link(negative, "CONDITIONING", target, "negative")
    wf.link(interp, "latent", cond, "latent")
    return cond


def decode(wf: Workflow, loader: Node, latent: Node, pos, title=None) -> Node:
    node = wf.add("VAEDecode", pos, title=title)
    wf.link(latent, "latent", node, "samples")
    wf.link(loader, "VAE", node, "vae")
    return node


def mix_and_save(wf: Workflow, loader: Node, layout: Node, positive: Node, negative: Node, nu: float) -> None:
    """One sampler pair at nu, decoded and saved (a video model's frames as a video); the MagicMix nodes grouped."""
    decoded = decode(wf, loader, mix_pair(wf, loader, layout, positive, negative, nu, (900, 550)), (1300, 100))
    if wf.setup.frames:
        video = wf.add("CreateVideo", (1300, 210), fps=wf.setup.fps)
        save = wf.add("SaveVideo", (1300, 350), filename_prefix=f"video/{wf.name}", format="auto", codec="auto")
        wf.link(decoded, "IMAGE", video, "images")
        wf.link(video, "VIDEO", save, "video")
        outputs = [decoded, video, save]
    else:
        save = wf.add("SaveImage", (1300, 210), filename_prefix=wf.name)
        wf.link(decoded, "IMAGE", save, "images")
        outputs = [decoded, save]
    wf.group("5. Output", outputs, GROUP_COLOR["output"])
    wf.group("4. MagicMix", [n for n in wf.nodes if n.type.startswith("MagicMix")], GROUP_COLOR["magicmix"])


# The workflows. Layout from an image, content from a prompt, is one canvas: a row of IMAGE_LAYOUT_CANVASES
# each. The others are functions. Each has its notes in workflow_notes/<name>.md.

class ImageLayoutCanvas(NamedTuple):
    name: str
    image: str  # in layouts/ (layout_images.py)
    content: str  # the content prompt
    negative: str
    nu: float
    caption: str  # the thumbnail's words
    setup: ModelSetup = SD15


IMAGE_LAYOUT_CANVASES = (
    ImageLayoutCanvas("magicmix_image_layout", "magicmix_corgi.png", "a photo of a coffee machine", "", 0.75,
                      "+ coffee machine"),
    ImageLayoutCanvas("magicmix_breed_mixing", "magicmix_rabbit.png", "a photo of a tiger", "", 0.7, "+ tiger"),
    ImageLayoutCanvas("magicmix_style_transfer", "magicmix_landscape.png",
                      "an ukiyo-e woodblock print of a village by a river", "", 0.6, "+ ukiyo-e print"),
    ImageLayoutCanvas("magicmix_concept_removal", "magicmix_lamp.png", "a photo", "a lamp, lampshade", 0.8, "- lamp"),
    ImageLayoutCanvas("magicmix_sdxl", "magicmix_corgi.png", "a photo of a coffee machine", "", 0.75,
                      "SDXL + coffee machine", SDXL),
    ImageLayoutCanvas("magicmix_flux_image_layout", "magicmix_corgi.png", "a photo of a coffee machine", "", 0.75,
                      "Flux + coffee machine", FLUX_DEV),
    ImageLayoutCanvas("magicmix_qwen_image_layout", "magicmix_corgi.png", "a photo of a coffee machine", "", 0.75,
                      "Qwen-Image + coffee machine", QWEN_IMAGE),
)


def image_layout_canvas(row: ImageLayoutCanvas) -> Workflow:
    wf = Workflow(row.name, row.setup)
    loader = model_loader(wf)
    encode, _ = image_layout(wf, loader, row.image)
    positive, negative = prompts(wf, loader, row.content, row.negative)
    mix_and_save(wf, loader, layout_noise(wf, loader, encode, (900, 100)), positive, negative, row.nu)
    own_notes = notes_file(row.name)
    # step 1 of "What to change": the workflow's own for split files, else Load Checkpoint's
    model_step = own_notes.get("model_step") or notes_file("image_layout")["checkpoint_step"]
    add_notes(wf, notes_file("image_layout")["note"], row.nu, 520, intro=own_notes["intro"],
              model_step=fill(model_step, **model_files(wf)))
    return wf


def text_layout_wf(name: str = "magicmix_text_layout", setup: ModelSetup = SD15, layout_text="a photo of a pineapple",
                   content_text="a photo of a cake") -> Workflow:
    wf = Workflow(name, setup)
    loader = model_loader(wf)
    length = {"length": setup.frames} if setup.frames else {}
    empty = wf.add(setup.empty_latent, (0, below_model_group(wf)), title="Output size", width=wf.size,
                   height=wf.height, **length, batch_size=1)
    wf.group("2. Size", [empty], GROUP_COLOR["layout"])
    layout_prompts = prompts(wf, loader, layout_text, "", title="3a. Layout prompt", what="Layout")
    positive, negative = prompts(wf, loader, content_text, "", 100 + prompt_rows(wf), title="3b. Content prompt")
    layout = layout_noise(wf, loader, empty, (900, 100), layout_prompts)
    mix_and_save(wf, loader, layout, positive, negative, 0.75)
    add_notes(wf, notes_file(wf.name)["start"], 0.75, 520, **(video_values(wf) if setup.frames else {}))
    return wf


def regional_wf() -> Workflow:
    wf = Workflow("magicmix_regional")
    loader = model_loader(wf)
    # crop "disabled": the image is stretched to the size, as the mask is stretched to the latent, so the
    # two stay aligned for any aspect ratio (a centre crop would cut the image but not the mask).
    encode, load = image_layout(wf, loader, "magicmix_corgi_region.png", crop="disabled",
                                title="Layout image (its alpha is the mask)", group="2. Layout image and mask")
    positive, negative = prompts(wf, loader, "a photo of a coffee machine", "")
    layout = layout_noise(wf, loader, encode, (900, 100))
    wf.link(load, "MASK", layout, "mask")
    mix_and_save(wf, loader, layout, positive, negative, 0.75)
    add_notes(wf, notes_file(wf.name)["start"], 0.75, 620)
    return wf


LAYOUT_VIDEO = "magicmix_walking_corgi.mp4"  # in layouts/ (layout_images.py)


def video_layout_wf(name: str, setup: ModelSetup, content: str) -> Workflow:
    """A layout video and a content prompt: the video's motion and shapes, the prompt's look."""
    wf = Workflow(name, setup)
    loader = model_loader(wf)
    encode = video_layout(wf, loader, LAYOUT_VIDEO)
    positive, negative = prompts(wf, loader, content, "")
    mix_and_save(wf, loader, layout_noise(wf, loader, encode, (900, 100)), positive, negative, 0.75)
    add_notes(wf, notes_file(wf.name)["start"], 0.75, 620, **video_values(wf))
    return wf


def video_values(wf: Workflow) -> dict:
    """The notes' $width, $height, $frames and $fps of a video canvas; $low_noise_file for two experts."""
    setup = wf.setup
    values = {"width": wf.size, "height": wf.height, "frames": setup.frames, "fps": setup.fps}
    if setup.low_noise_file:
        values |= {"low_noise_file": setup.low_noise_file, "switch_at_step": setup.switch_at_step}
    return values


NU_SWEEP = (0.5, 0.7, 0.9)


def nu_sweep_wf() -> Workflow:
    wf = Workflow("magicmix_nu_sweep")
    loader = model_loader(wf)
    encode, _ = image_layout(wf, loader, "magicmix_corgi.png")
    positive, negative = prompts(wf, loader, "a photo of a coffee machine", "")
    layout = layout_noise(wf, loader, encode, (420, 580))
    wf.group("4. Layout Noise (shared)", [layout], GROUP_COLOR["magicmix"])
    decoded = []
    for i, nu in enumerate(NU_SWEEP):
        x = 900 + i * 360
        cond = mix_pair(wf, loader, layout, positive, negative, nu, (x, 100), title_suffix=f" (nu {nu})")
        decoded.append(decode(wf, loader, cond, (x, 690), title=f"Decode nu {nu}"))
    wf.group("5. MagicMix: three values of nu", wf.nodes[layout.id:], GROUP_COLOR["magicmix"])  # all after layout
    image, stitches = decoded[0], []  # stitched left to right, one more image at a time
    for i, right in enumerate(decoded[1:]):
        stitches.append(wf.add("ImageStitch", (1040 + i * 360, 840), title=f"Side by side ({i + 1})", direction="right",
                               match_image_size=True, spacing_width=8, spacing_color="white"))
        wf.link(image, "IMAGE", stitches[-1], "image1")
        wf.link(right, "IMAGE", stitches[-1], "image2")
        image = stitches[-1]
    save = wf.add("SaveImage", (1040, 1050), size=(720, 330), filename_prefix=wf.name)
    wf.link(image, "IMAGE", save, "images")
    nus = ", ".join(str(nu) for nu in NU_SWEEP)
    wf.group(f"6. Output: nu {nus} left to right", [*stitches, save], GROUP_COLOR["output"])
    add_notes(wf, notes_file(wf.name)["start"], " / ".join(str(nu) for nu in NU_SWEEP), 560, nus=nus)
    return wf


WORKFLOWS = {row.name: functools.partial(image_layout_canvas, row) for row in IMAGE_LAYOUT_CANVASES} | {
    "magicmix_text_layout": text_layout_wf, "magicmix_nu_sweep": nu_sweep_wf, "magicmix_regional": regional_wf,
    "magicmix_flux_text_layout": functools.partial(text_layout_wf, "magicmix_flux_text_layout", FLUX_DEV),
    "magicmix_wan_video_layout": functools.partial(video_layout_wf, "magicmix_wan_video_layout", WAN21_T2V,
                                                   "a red fox walking, snowy forest, tracking camera"),
    "magicmix_wan_text_layout": functools.partial(text_layout_wf, "magicmix_wan_text_layout", WAN21_T2V,
                                                  "a horse galloping across a meadow, side view, tracking camera",
                                                  "a zebra, photo"),
    "magicmix_wan22_two_experts": functools.partial(video_layout_wf, "magicmix_wan22_two_experts", WAN22_A14B,
                                                    "a red fox walking, snowy forest, tracking camera")}

# Thumbnail card per workflow: (layout image or layout words, content words)
THUMBNAILS = {row.name: (row.image, row.caption) for row in IMAGE_LAYOUT_CANVASES} | {
    "magicmix_text_layout": ("pineapple", "+ cake"),
    "magicmix_flux_text_layout": ("pineapple", "Flux + cake"),
    "magicmix_nu_sweep": ("magicmix_corgi.png", "nu 0.5 / 0.7 / 0.9"),
    "magicmix_regional": ("magicmix_corgi_region.png", "in the mask + coffee machine"),
    "magicmix_wan_video_layout": (LAYOUT_VIDEO, "WAN video + fox"),
    "magicmix_wan_text_layout": ("video: horse", "WAN + zebra"),
    "magicmix_wan22_two_experts": (LAYOUT_VIDEO, "WAN 2.2 experts + fox"),
}


def workflow_text(name: str) -> str:
    return json.dumps(WORKFLOWS[name]().to_json(), indent=2, ensure_ascii=False) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when a workflow JSON differs or an image is missing")
    args = parser.parse_args(argv)
    texts = {WORKFLOWS_DIR / f"{name}.json": workflow_text(name) for name in WORKFLOWS}
    images = {WORKFLOWS_DIR / f"{name}.jpg": functools.partial(layout_images.thumbnail_jpeg, *THUMBNAILS[name])
              for name in WORKFLOWS} | {LAYOUTS_DIR / filename: lambda draw=draw: layout_images.png_bytes(draw())
                                        for filename, draw in layout_images.LAYOUT_IMAGES.items()} | {
        LAYOUTS_DIR / filename: lambda frames=frames: layout_images.mp4_bytes(frames())
        for filename, frames in layout_images.LAYOUT_VIDEOS.items()}
    if args.check:  # images only need to exist: another Pillow may encode the same drawing differently
        stale = [path for path, text in texts.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
        stale += [path for path in images if not path.exists()]
        if stale:
            print("out of date (run python tools/make_workflows.py):",
                  *[str(p.relative_to(PACK_DIR)) for p in stale], sep="\n  ", file=sys.stderr)
        return 1 if stale else 0
    for path, text in texts.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for path, draw in images.items():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(draw())
    print(f"wrote {len(WORKFLOWS)} workflows and thumbnails to {WORKFLOWS_DIR.relative_to(PACK_DIR)}/, "
          f"{len(layout_images.LAYOUT_IMAGES)} layout images and {len(layout_images.LAYOUT_VIDEOS)} layout video to "
          f"{LAYOUTS_DIR.relative_to(PACK_DIR)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
