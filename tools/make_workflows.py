#!/usr/bin/env python3
"""Writes the pack's shipped example workflows, their layout images and template thumbnails.

    python tools/make_workflows.py           # (re)write workflows/*.json, workflows/*.jpg, layouts/*.png
    python tools/make_workflows.py --check   # exit 1 when a committed file differs from what this writes

The workflows are in the UI format the ComfyUI canvas saves and loads (``version`` 0.4: nodes with
id/type/pos/size/inputs/outputs/widgets_values/properties, links as
``[id, from_node, from_slot, to_node, to_slot, type]``, groups, MarkdownNote nodes), laid out the
way frontend 1.32 saves them: socket inputs first (optional ones with ``shape`` 7), then one input
per widget with ``"widget": {"name": ...}``; ``widgets_values`` in the node definition's input order
with the seed's ``control_after_generate`` value right after the seed.

They go to ``workflows/``: ComfyUI lists ``<pack>/workflows/*.json`` in its template browser
(Templates in the side bar > Extensions > comfyui-magicmix) next to ``example_workflows`` and the
other accepted names, and serves ``<name>.jpg`` beside each as its thumbnail (see docs/workflows.md
for why there is one folder only).

The layout images are drawn by ``layout_images.py`` into ``layouts/``; LoadImage only reads
ComfyUI's input folder, so ``tools/install_layouts.py`` copies them there.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = PACK_DIR / "workflows"
LAYOUTS_DIR = PACK_DIR / "layouts"

sys.path.insert(0, str(Path(__file__).resolve().parent))
import layout_images  # noqa: E402  (tools/ is not a package)

PACK_ID = "comfyui-magicmix"  # the Comfy Registry id (pyproject [project] name)
PACK_VERSION = "0.1.0"
CORE_VERSION = "0.3.75"  # the ComfyUI these were laid out and tested against

SD15_CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
SDXL_CHECKPOINT = "sd_xl_base_1.0.safetensors"
# Where each named checkpoint can be downloaded: the loader nodes declare it in properties.models, as
# ComfyUI's own templates do, so the frontend's missing-model check can offer the file (it accepts
# huggingface.co and civitai.com URLs of .safetensors / .sft files). Nothing here downloads anything.
MODEL_URLS = {
    SD15_CHECKPOINT: "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/"
                     "v1-5-pruned-emaonly.safetensors",
    SDXL_CHECKPOINT: "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/"
                     "sd_xl_base_1.0.safetensors",
}

# The spec's defaults (docs/method.md): 50 steps, k_min 0.3, k_max 0.6, CFG 7.5, nu 0.5-0.9.
STEPS, K_MIN, K_MAX, CFG = 50, 0.3, 0.6, 7.5
SAMPLER, SCHEDULER = "euler", "normal"
SEED = 42

# --------------------------------------------------------------------------------------------
# Node definitions: what the frontend puts in a saved node of each type (checked against the
# server's /object_info by tests/e2e/test_workflows.py and against the canvas by the browser test).
# sockets: (name, type, optional); widgets: (name, type, optional) in definition order;
# values: the widgets_values slots (the seed's control_after_generate takes its own slot).


@dataclass(frozen=True)
class NodeDef:
    sockets: tuple = ()
    widgets: tuple = ()
    values: tuple = ()
    outputs: tuple = ()
    size: tuple = (320, 60)
    pack: str = "comfy-core"


NODE_DEFS: dict[str, NodeDef] = {
    "CheckpointLoaderSimple": NodeDef(
        widgets=(("ckpt_name", "COMBO", False),), values=("ckpt_name",),
        outputs=(("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")), size=(320, 98)),
    "CLIPTextEncode": NodeDef(
        sockets=(("clip", "CLIP", False),), widgets=(("text", "STRING", False),), values=("text",),
        outputs=(("CONDITIONING", "CONDITIONING"),), size=(400, 150)),
    "LoadImage": NodeDef(
        widgets=(("image", "COMBO", False), ("upload", "IMAGEUPLOAD", False)), values=("image", "upload"),
        outputs=(("IMAGE", "IMAGE"), ("MASK", "MASK")), size=(320, 380)),
    "ImageScale": NodeDef(
        sockets=(("image", "IMAGE", False),),
        widgets=(("upscale_method", "COMBO", False), ("width", "INT", False), ("height", "INT", False),
                 ("crop", "COMBO", False)),
        values=("upscale_method", "width", "height", "crop"), outputs=(("IMAGE", "IMAGE"),), size=(320, 130)),
    "VAEEncode": NodeDef(
        sockets=(("pixels", "IMAGE", False), ("vae", "VAE", False)), outputs=(("LATENT", "LATENT"),),
        size=(200, 46)),
    "EmptyLatentImage": NodeDef(
        widgets=(("width", "INT", False), ("height", "INT", False), ("batch_size", "INT", False)),
        values=("width", "height", "batch_size"), outputs=(("LATENT", "LATENT"),), size=(320, 106)),
    "VAEDecode": NodeDef(
        sockets=(("samples", "LATENT", False), ("vae", "VAE", False)), outputs=(("IMAGE", "IMAGE"),),
        size=(200, 46)),
    "SaveImage": NodeDef(
        sockets=(("images", "IMAGE", False),), widgets=(("filename_prefix", "STRING", False),),
        values=("filename_prefix",), size=(420, 470)),
    "ImageStitch": NodeDef(
        sockets=(("image1", "IMAGE", False), ("image2", "IMAGE", True)),
        widgets=(("direction", "COMBO", False), ("match_image_size", "BOOLEAN", False),
                 ("spacing_width", "INT", False), ("spacing_color", "COMBO", False)),
        values=("direction", "match_image_size", "spacing_width", "spacing_color"),
        outputs=(("IMAGE", "IMAGE"),), size=(320, 150)),
    "MagicMixLayoutNoise": NodeDef(
        sockets=(("model", "MODEL", False), ("layout_latent", "LATENT", False),
                 ("layout_positive", "CONDITIONING", True), ("layout_negative", "CONDITIONING", True),
                 ("sigmas", "SIGMAS", True), ("mask", "MASK", True)),
        widgets=(("seed", "INT", False), ("steps", "INT", False), ("scheduler", "COMBO", False),
                 ("k_min", "FLOAT", False), ("k_max", "FLOAT", False), ("batch_size", "INT", False),
                 ("layout_cfg", "FLOAT", False), ("layout_sampler_name", "COMBO", False)),
        values=("seed", "control_after_generate", "steps", "scheduler", "k_min", "k_max", "batch_size",
                "layout_cfg", "layout_sampler_name"),
        outputs=(("layout", "MAGICMIX_LAYOUT"),), size=(320, 330), pack=PACK_ID),
    "MagicMixInterpolatedSampler": NodeDef(
        sockets=(("model", "MODEL", False), ("layout", "MAGICMIX_LAYOUT", False),
                 ("positive", "CONDITIONING", False), ("negative", "CONDITIONING", False),
                 ("sampler", "SAMPLER", True)),
        widgets=(("cfg", "FLOAT", False), ("sampler_name", "COMBO", False), ("nu", "FLOAT", False),
                 ("nu_end", "FLOAT", True), ("nu_schedule", "COMBO", True)),
        values=("cfg", "sampler_name", "nu", "nu_end", "nu_schedule"),
        outputs=(("latent", "LATENT"),), size=(320, 234), pack=PACK_ID),
    "MagicMixConditionalSampler": NodeDef(
        sockets=(("model", "MODEL", False), ("layout", "MAGICMIX_LAYOUT", False), ("latent", "LATENT", False),
                 ("positive", "CONDITIONING", False), ("negative", "CONDITIONING", False),
                 ("sampler", "SAMPLER", True)),
        widgets=(("cfg", "FLOAT", False), ("sampler_name", "COMBO", False)),
        values=("cfg", "sampler_name"), outputs=(("latent", "LATENT"),), size=(320, 182), pack=PACK_ID),
    "MarkdownNote": NodeDef(values=("text",), size=(400, 300), pack=""),
}

GROUP_COLOR = {"model": "#3f789e", "layout": "#8A8", "prompt": "#a1309b", "magicmix": "#b58b2a",
               "output": "#88A"}
NOTE_COLOR, NOTE_BGCOLOR = "#432", "#653"
TITLE_HEIGHT = 30  # LiteGraph draws a node's title bar above its pos
GROUP_HEADER = 44  # room for the group's title above its first node's title bar
GROUP_PAD = 12
VIEW = (1280, 800)  # the window the canvas view is fitted to (the browser test's viewport)


@dataclass
class Node:
    id: int
    type: str
    pos: tuple
    values: dict
    title: str | None = None
    size: tuple | None = None
    color: str | None = None
    bgcolor: str | None = None
    input_links: dict = field(default_factory=dict)  # input name -> link id
    output_links: dict = field(default_factory=dict)  # output slot -> [link ids]

    @property
    def definition(self) -> NodeDef:
        return NODE_DEFS[self.type]

    @property
    def box(self) -> tuple:  # x, y, w, h including the title bar
        w, h = self.size or self.definition.size
        return self.pos[0], self.pos[1] - TITLE_HEIGHT, w, h + TITLE_HEIGHT


class Workflow:
    """A UI-format graph built node by node; ``to_json`` gives what the canvas would save."""

    def __init__(self, name: str):
        self.name = name
        self.nodes: list[Node] = []
        self.links: list[list] = []
        self.groups: list[dict] = []

    def add(self, type_: str, pos, title=None, size=None, color=None, bgcolor=None, **values) -> Node:
        definition = NODE_DEFS[type_]
        unknown = set(values) - set(definition.values)
        missing = set(definition.values) - set(values)
        if unknown or missing:
            raise ValueError(f"{type_}: unknown widget values {sorted(unknown)}, missing {sorted(missing)}")
        node = Node(len(self.nodes) + 1, type_, tuple(pos), values, title, size, color, bgcolor)
        self.nodes.append(node)
        return node

    def note(self, pos, text: str, size=(400, 300), title=None) -> Node:
        return self.add("MarkdownNote", pos, title=title, size=size, color=NOTE_COLOR, bgcolor=NOTE_BGCOLOR,
                        text=text.strip() + "\n")

    def link(self, source: Node, output: str, target: Node, input_name: str) -> None:
        out_names = [name for name, _ in source.definition.outputs]
        slot = out_names.index(output)
        in_types = {name: kind for name, kind, _ in target.definition.sockets}
        kind = source.definition.outputs[slot][1]
        if in_types.get(input_name) != kind:
            raise ValueError(f"{source.type}.{output} ({kind}) cannot feed {target.type}.{input_name}")
        if input_name in target.input_links:
            raise ValueError(f"{target.type}.{input_name} is linked twice")
        link_id = len(self.links) + 1
        target_slot = [name for name, _, _ in target.definition.sockets].index(input_name)
        self.links.append([link_id, source.id, slot, target.id, target_slot, kind])
        target.input_links[input_name] = link_id
        source.output_links.setdefault(slot, []).append(link_id)

    def group(self, title: str, members: list[Node], color: str) -> None:
        boxes = [n.box for n in members]
        x0 = min(b[0] for b in boxes) - GROUP_PAD
        y0 = min(b[1] for b in boxes) - GROUP_HEADER
        x1 = max(b[0] + b[2] for b in boxes) + GROUP_PAD
        y1 = max(b[1] + b[3] for b in boxes) + GROUP_PAD
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": [x0, y0, x1 - x0, y1 - y0],
                            "color": color, "font_size": 24, "flags": {}})

    def _order(self) -> dict[int, int]:
        # Execution order as the canvas stores it: a topological order, sources first.
        deps = {n.id: set() for n in self.nodes}
        for _, src, _, dst, _, _ in self.links:
            deps[dst].add(src)
        order, done = {}, set()
        while len(done) < len(self.nodes):
            ready = [n.id for n in self.nodes if n.id not in done and deps[n.id] <= done]
            if not ready:
                raise ValueError(f"{self.name}: the graph has a cycle")
            for node_id in ready:
                order[node_id] = len(order)
                done.add(node_id)
        return order

    def _node_json(self, node: Node, order: int) -> dict:
        d = node.definition
        inputs = []
        for name, kind, optional in d.sockets:
            entry = {"localized_name": name, "name": name}
            if optional:
                entry["shape"] = 7
            entry.update({"type": kind, "link": node.input_links.get(name)})
            inputs.append(entry)
        for name, kind, optional in d.widgets:
            entry = {"localized_name": name, "name": name}
            if optional:
                entry["shape"] = 7
            entry.update({"type": kind, "widget": {"name": name}, "link": None})
            inputs.append(entry)
        missing = [name for name, _, optional in d.sockets if not optional and name not in node.input_links]
        if missing:
            raise ValueError(f"{self.name}: {node.type} #{node.id} has unlinked required inputs {missing}")
        outputs = [{"localized_name": name, "name": name, "type": kind, "links": node.output_links.get(slot)}
                   for slot, (name, kind) in enumerate(d.outputs)]
        properties = {}
        if node.type != "MarkdownNote":
            properties = {"Node name for S&R": node.type, "cnr_id": d.pack,
                          "ver": PACK_VERSION if d.pack == PACK_ID else CORE_VERSION}
        if node.type == "CheckpointLoaderSimple":
            name = node.values["ckpt_name"]
            properties["models"] = [{"name": name, "url": MODEL_URLS[name], "directory": "checkpoints"}]
        data = {"id": node.id, "type": node.type, "pos": list(node.pos), "size": list(node.size or d.size),
                "flags": {}, "order": order, "mode": 0, "inputs": inputs, "outputs": outputs}
        if node.title:
            data["title"] = node.title
        data["properties"] = properties
        data["widgets_values"] = [node.values[name] for name in d.values]
        if node.color:
            data["color"], data["bgcolor"] = node.color, node.bgcolor
        return data

    def view(self) -> dict:
        """The canvas position the workflow opens at: everything fits a 1280x800 window.

        LiteGraph maps graph to screen as (graph + offset) * scale; the frontend's side bar and tabs
        take the left 70 and top 90 pixels.
        """
        boxes = [n.box for n in self.nodes] + [tuple(g["bounding"]) for g in self.groups]
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
        scale = round(min(1.0, (VIEW[0] - 80) / (x1 - x0), (VIEW[1] - 100) / (y1 - y0)), 2)
        return {"scale": scale, "offset": [round(70 / scale - x0, 1), round(90 / scale - y0, 1)]}

    def to_json(self) -> dict:
        order = self._order()
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://registry.comfy.org/{PACK_ID}/{self.name}")),
            "revision": 0,
            "last_node_id": len(self.nodes),
            "last_link_id": len(self.links),
            "nodes": [self._node_json(n, order[n.id]) for n in self.nodes],
            "links": self.links,
            "groups": self.groups,
            "config": {},
            "extra": {"ds": self.view()},
            "version": 0.4,
        }


# --------------------------------------------------------------------------------------------
# Shared pieces of the canvases

def model_loader(wf: Workflow, checkpoint: str, pos=(0, 100)) -> Node:
    loader = wf.add("CheckpointLoaderSimple", pos, ckpt_name=checkpoint)
    wf.group("1. Model", [loader], GROUP_COLOR["model"])
    return loader


def image_layout(wf: Workflow, loader: Node, image: str, size: int, pos=(0, 330), crop="center",
                 title="Layout image", group="2. Layout image") -> tuple[Node, Node]:
    x, y = pos
    load = wf.add("LoadImage", (x, y), title=title, image=image, upload="image")
    scale = wf.add("ImageScale", (x, y + 440), title=f"Scale layout to {size}x{size}",
                   upscale_method="lanczos", width=size, height=size, crop=crop)
    encode = wf.add("VAEEncode", (x + 120, y + 620), title="Encode layout")
    wf.link(load, "IMAGE", scale, "image")
    wf.link(scale, "IMAGE", encode, "pixels")
    wf.link(loader, "VAE", encode, "vae")
    wf.group(group, [load, scale, encode], GROUP_COLOR["layout"])
    return encode, load


def prompts(wf: Workflow, loader: Node, positive: str, negative: str, pos, title="3. Content prompt",
            what="Content") -> tuple[Node, Node]:
    x, y = pos
    pos_node = wf.add("CLIPTextEncode", (x, y), title=f"{what} prompt (positive)", color="#232",
                      bgcolor="#353", text=positive)
    neg_node = wf.add("CLIPTextEncode", (x, y + 200), title=f"{what} negative prompt", color="#322",
                      bgcolor="#533", text=negative)
    wf.link(loader, "CLIP", pos_node, "clip")
    wf.link(loader, "CLIP", neg_node, "clip")
    wf.group(title, [pos_node, neg_node], GROUP_COLOR["prompt"])
    return pos_node, neg_node


def layout_noise(wf: Workflow, loader: Node, latent: Node, pos, k_min=K_MIN, k_max=K_MAX, steps=STEPS,
                 layout_prompts: tuple[Node, Node] | None = None) -> Node:
    node = wf.add("MagicMixLayoutNoise", pos, seed=SEED, control_after_generate="fixed", steps=steps,
                  scheduler=SCHEDULER, k_min=k_min, k_max=k_max, batch_size=1, layout_cfg=CFG,
                  layout_sampler_name=SAMPLER)
    wf.link(loader, "MODEL", node, "model")
    wf.link(latent, "LATENT", node, "layout_latent")
    if layout_prompts:
        wf.link(layout_prompts[0], "CONDITIONING", node, "layout_positive")
        wf.link(layout_prompts[1], "CONDITIONING", node, "layout_negative")
    return node


def mix_pair(wf: Workflow, loader: Node, layout: Node, positive: Node, negative: Node, nu: float, pos,
             title_suffix="") -> Node:
    x, y = pos
    # a title equal to the node's display name is not saved by the canvas: only set one with a suffix
    interp_title = f"MagicMix Interpolated Sampler{title_suffix}" if title_suffix else None
    cond_title = f"MagicMix Conditional Sampler{title_suffix}" if title_suffix else None
    interp = wf.add("MagicMixInterpolatedSampler", (x, y), title=interp_title, cfg=CFG, sampler_name=SAMPLER,
                    nu=nu, nu_end=nu, nu_schedule="constant")
    # 310 below: room for the pack badge the canvas draws above the Conditional Sampler's title
    cond = wf.add("MagicMixConditionalSampler", (x, y + 310), title=cond_title, cfg=CFG, sampler_name=SAMPLER)
    for target in (interp, cond):
        wf.link(loader, "MODEL", target, "model")
        wf.link(layout, "layout", target, "layout")
        wf.link(positive, "CONDITIONING", target, "positive")
        wf.link(negative, "CONDITIONING", target, "negative")
    wf.link(interp, "latent", cond, "latent")
    return cond


def decode_save(wf: Workflow, loader: Node, latent: Node, prefix: str, pos) -> tuple[Node, Node]:
    x, y = pos
    decode = wf.add("VAEDecode", (x, y))
    save = wf.add("SaveImage", (x, y + 110), filename_prefix=prefix)
    wf.link(latent, "latent", decode, "samples")
    wf.link(loader, "VAE", decode, "vae")
    wf.link(decode, "IMAGE", save, "images")
    wf.group("5. Output", [decode, save], GROUP_COLOR["output"])
    return decode, save


def settings_note(k_min: float, k_max: float, nu, advice: str) -> str:
    return f"""
### MagicMix settings

Here: **nu {nu}**, **k_min {k_min}**, **k_max {k_max}**, {STEPS} steps, cfg {CFG}.

- **nu** (Interpolated Sampler): how much of each step is the new content; 1 - nu is the layout.
  0.5 to 0.9 mixes; **lower keeps more of the layout**, 1 is plain img2img.
- **k_max** (Layout Noise): the noise level the run starts at (fraction of the steps, 1 = pure
  noise). **Higher gives the content more freedom** to change shape.
- **k_min**: where mixing stops and the content prompt alone finishes. **Lower keeps more layout
  detail.**
- The paper's defaults: k_min 0.3, k_max 0.6, 50 steps, cfg 7.5, nu 0.5 to 0.9.

{advice.strip()}
"""


LAYOUT_FILES_NOTE = """
The example layout images ship in the pack's `layouts/` folder. LoadImage only lists ComfyUI's
`input/` folder: copy them there with `python custom_nodes/comfyui-magicmix/tools/install_layouts.py`
(run from the ComfyUI folder), or press **choose file to upload** and pick any image.
"""


# --------------------------------------------------------------------------------------------
# The workflows

def image_mixing_workflow(name: str, title: str, intro: str, image: str, content: str, negative: str, nu: float,
                          advice: str, k_min=K_MIN, k_max=K_MAX, checkpoint=SD15_CHECKPOINT, size=512,
                          model_hint="an SD1.5 checkpoint") -> Workflow:
    """Mode A: layout from an image, content from a prompt. The canvas every image workflow shares."""
    wf = Workflow(name)
    loader = model_loader(wf, checkpoint)
    encode, _ = image_layout(wf, loader, image, size)
    positive, neg = prompts(wf, loader, content, negative, (420, 100))
    layout = layout_noise(wf, loader, encode, (900, 100), k_min=k_min, k_max=k_max)
    cond = mix_pair(wf, loader, layout, positive, neg, nu, (900, 500))
    decode_save(wf, loader, cond, name, (1300, 100))
    magic = [n for n in wf.nodes if n.type.startswith("MagicMix")]
    wf.group("4. MagicMix", magic, GROUP_COLOR["magicmix"])
    wf.note((-480, 100), f"""
## {title}

{intro.strip()}

**What to change**

1. **Load Checkpoint**: {model_hint} (this canvas names `{checkpoint}`, from
   `models/checkpoints`).
2. **Layout image**: your own picture of the layout object (any size: it is scaled and
   centre-cropped to {size}x{size}).
3. **Content prompt**: what the object should become.
4. **MagicMix**: nu, k_min and k_max (see the note below), the seed for variations.

{LAYOUT_FILES_NOTE.strip()}
""", size=(440, 520), title="Start here")
    wf.note((-480, 700), settings_note(k_min, k_max, nu, advice), size=(440, 420), title="MagicMix settings")
    return wf


def image_layout_wf() -> Workflow:
    return image_mixing_workflow(
        "magicmix_image_layout", "MagicMix: novel object from an image layout",
        """
MagicMix (arXiv 2210.16056) mixes two meanings without masks or training: the **layout** (shape,
pose, colours) comes from the image, the **content** (what it is) from the prompt. Here a corgi
drawing + *a photo of a coffee machine* gives a corgi-shaped coffee machine.

Also try: watermelon image + *a lamp*, pineapple + *a cake*, telephone + *a bed*.
""",
        "magicmix_corgi.png", "a photo of a coffee machine", "", 0.75,
        "Novel objects: start at nu 0.75; if the result is just the layout object, raise nu or k_max; if "
        "the layout's shape is lost, lower nu (0.6) or k_max (0.5).")


def breed_mixing_wf() -> Workflow:
    return image_mixing_workflow(
        "magicmix_breed_mixing", "MagicMix: breed mixing",
        """
Breed mixing: the layout image shows animal A, the content prompt names animal B, and the result is a
B with A's pose and build. Here a rabbit drawing + *a photo of a tiger* (the paper's example); for dog
breeds use a photo of breed A and *a photo of a <breed B>*.
""",
        "magicmix_rabbit.png", "a photo of a tiger", "", 0.7,
        "Breed mixing: animals of a similar build mix well at nu 0.6 to 0.8. Keep k_min at 0.3 so fur and "
        "face come from the content prompt.")


def style_transfer_wf() -> Workflow:
    return image_mixing_workflow(
        "magicmix_style_transfer", "MagicMix: semantic style transfer",
        """
Semantic style transfer: keep the composition and colours of the layout image, render it as the
category or style the content prompt names. Here a simple village drawing + *an ukiyo-e woodblock print
of a village by a river*.
""",
        "magicmix_landscape.png", "an ukiyo-e woodblock print of a village by a river", "", 0.6,
        "Style transfer: nu 0.5 to 0.7 keeps the composition; raise k_max (0.7) for a stronger style, lower "
        "it (0.5) to stay closer to the picture.")


def concept_removal_wf() -> Workflow:
    return image_mixing_workflow(
        "magicmix_concept_removal", "MagicMix: concept removal",
        """
Concept removal: the layout image shows a concept (here a table lamp); the **negative** prompt names
that concept, so both MagicMix phases guide away from it and the object turns into something else with
the same shape and place. The positive prompt stays generic.

Change the negative prompt to the concept in your own image.
""",
        "magicmix_lamp.png", "a photo", "a lamp, lampshade", 0.8,
        "Concept removal: give the content room to change: nu 0.8 to 0.9 and k_max 0.6 to 0.7. If the "
        "concept survives, raise cfg on both samplers.")


def sdxl_wf() -> Workflow:
    return image_mixing_workflow(
        "magicmix_sdxl", "MagicMix on SDXL",
        """
The novel-object workflow on SDXL: same nodes, an SDXL checkpoint and 1024x1024 images. The layout
drawing is scaled up to 1024; a 1024 photo of your own works better. CLIPTextEncode fills in SDXL's
size conditioning.
""",
        "magicmix_corgi.png", "a photo of a coffee machine", "", 0.75,
        "SDXL: the same ranges apply; nu 0.7 to 0.8 is a good start. Any SD1.x, SD2.x, SDXL, SD3 or newer "
        "checkpoint works with these nodes: only the checkpoint and the size change.",
        checkpoint=SDXL_CHECKPOINT, size=1024, model_hint="an SDXL checkpoint")


def text_layout_wf() -> Workflow:
    name = "magicmix_text_layout"
    wf = Workflow(name)
    loader = model_loader(wf, SD15_CHECKPOINT)
    empty = wf.add("EmptyLatentImage", (0, 330), title="Output size", width=512, height=512, batch_size=1)
    wf.group("2. Size", [empty], GROUP_COLOR["layout"])
    layout_prompts = prompts(wf, loader, "a photo of a pineapple", "", (420, 100), title="3a. Layout prompt",
                             what="Layout")
    positive, negative = prompts(wf, loader, "a photo of a cake", "", (420, 560), title="3b. Content prompt")
    layout = layout_noise(wf, loader, empty, (900, 100), layout_prompts=layout_prompts)
    cond = mix_pair(wf, loader, layout, positive, negative, 0.75, (900, 500))
    decode_save(wf, loader, cond, name, (1300, 100))
    wf.group("4. MagicMix", [n for n in wf.nodes if n.type.startswith("MagicMix")], GROUP_COLOR["magicmix"])
    wf.note((-480, 100), """
## MagicMix: text layout + text content

Both meanings come from prompts. The **layout prompt** is denoised from noise first; its trajectory
between k_max and k_min is the layout. The **content prompt** then takes over. Here *a pineapple* gives
the shape and *a cake* the content: a pineapple-shaped cake.

**What to change**

1. **Load Checkpoint**: an SD1.5 checkpoint (this canvas names `v1-5-pruned-emaonly.safetensors`).
2. **Layout prompt** (3a): the object whose shape you keep.
3. **Content prompt** (3b): what it should become.
4. **Output size**: 512x512 for SD1.5.
5. **MagicMix**: the seed picks the layout; layout_cfg and layout_sampler_name drive the layout prompt.
""", size=(440, 520), title="Start here")
    wf.note((-480, 700), settings_note(K_MIN, K_MAX, 0.75, """
Text layout: change the seed until the layout prompt gives a shape you like (set nu to 0 to see the
layout alone), then raise nu to mix in the content.
"""), size=(440, 420), title="MagicMix settings")
    return wf


def regional_wf() -> Workflow:
    name = "magicmix_regional"
    wf = Workflow(name)
    loader = model_loader(wf, SD15_CHECKPOINT)
    # crop "disabled": the image is stretched to the size, as the mask is stretched to the latent, so the
    # two stay aligned for any aspect ratio (a centre crop would cut the image but not the mask).
    encode, load = image_layout(wf, loader, "magicmix_corgi_region.png", 512, crop="disabled",
                                title="Layout image (its alpha is the mask)", group="2. Layout image and mask")
    positive, negative = prompts(wf, loader, "a photo of a coffee machine", "", (420, 100))
    layout = layout_noise(wf, loader, encode, (900, 100))
    wf.link(load, "MASK", layout, "mask")
    cond = mix_pair(wf, loader, layout, positive, negative, 0.75, (900, 500))
    decode_save(wf, loader, cond, name, (1300, 100))
    wf.group("4. MagicMix", [n for n in wf.nodes if n.type.startswith("MagicMix")], GROUP_COLOR["magicmix"])
    wf.note((-480, 100), f"""
## MagicMix in a region: mix inside a mask, keep the rest

The layout image's **mask** says where MagicMix mixes: inside it the corgi becomes a corgi-shaped
coffee machine, outside it the image is kept as it is (what KSampler's inpainting keeps).

**What to change**

1. **Load Checkpoint**: an SD1.5 checkpoint (this canvas names `{SD15_CHECKPOINT}`).
2. **Layout image**: your own picture (it is scaled to 512x512 without cropping, so the mask stays
   aligned with it).
3. **Mask**: right-click Load Image -> **Open in MaskEditor** and paint over the object to change
   (painted = mixed). This example's mask ships as the image's transparency (LoadImage's MASK is
   1 - alpha). A Set Latent Noise Mask on the encoded layout works too; the mask input wins.
4. **Content prompt**: what the object should become.

Use **VAE Encode**, not VAE Encode (for Inpainting): that one greys the masked pixels, and then
there is no layout left to mix inside the mask.

{LAYOUT_FILES_NOTE.strip()}
""", size=(440, 620), title="Start here")
    wf.note((-480, 800), settings_note(K_MIN, K_MAX, 0.75, """
Regional: the same nu, k_min and k_max as without a mask; they act inside the mask only.
"""), size=(440, 420), title="MagicMix settings")
    return wf


NU_SWEEP = (0.5, 0.7, 0.9)


def nu_sweep_wf() -> Workflow:
    name = "magicmix_nu_sweep"
    wf = Workflow(name)
    loader = model_loader(wf, SD15_CHECKPOINT)
    encode, _ = image_layout(wf, loader, "magicmix_corgi.png", 512)
    positive, negative = prompts(wf, loader, "a photo of a coffee machine", "", (420, 100))
    layout = layout_noise(wf, loader, encode, (420, 580))
    wf.group("4. Layout Noise (shared)", [layout], GROUP_COLOR["magicmix"])
    decodes = []
    for i, nu in enumerate(NU_SWEEP):
        x = 900 + i * 360
        cond = mix_pair(wf, loader, layout, positive, negative, nu, (x, 100), title_suffix=f" (nu {nu})")
        decode = wf.add("VAEDecode", (x, 650), title=f"Decode nu {nu}")
        wf.link(cond, "latent", decode, "samples")
        wf.link(loader, "VAE", decode, "vae")
        decodes.append(decode)
    wf.group("5. MagicMix: three values of nu",
             [n for n in wf.nodes if n.type in ("MagicMixInterpolatedSampler", "MagicMixConditionalSampler",
                                                "VAEDecode")], GROUP_COLOR["magicmix"])
    stitch_a = wf.add("ImageStitch", (1040, 800), title="Side by side (1)", direction="right", match_image_size=True,
                      spacing_width=8, spacing_color="white")
    stitch_b = wf.add("ImageStitch", (1400, 800), title="Side by side (2)", direction="right", match_image_size=True,
                      spacing_width=8, spacing_color="white")
    wf.link(decodes[0], "IMAGE", stitch_a, "image1")
    wf.link(decodes[1], "IMAGE", stitch_a, "image2")
    wf.link(stitch_a, "IMAGE", stitch_b, "image1")
    wf.link(decodes[2], "IMAGE", stitch_b, "image2")
    save = wf.add("SaveImage", (1040, 1010), size=(720, 330), filename_prefix=name)
    wf.link(stitch_b, "IMAGE", save, "images")
    wf.group("6. Output: nu " + ", ".join(str(nu) for nu in NU_SWEEP) + " left to right",
             [stitch_a, stitch_b, save], GROUP_COLOR["output"])
    wf.note((-480, 100), f"""
## MagicMix: nu sweep

One layout (corgi drawing), one content prompt (*a photo of a coffee machine*), three values of
**nu** side by side: {", ".join(str(nu) for nu in NU_SWEEP)} from left to right. The three pairs share one
Layout Noise node, so they start from the same noised layout and differ only in nu.

**What to change**

1. **Load Checkpoint**: an SD1.5 checkpoint (this canvas names `v1-5-pruned-emaonly.safetensors`).
2. **Layout image** and **content prompt**, as in the novel-object workflow.
3. The **nu** of each Interpolated Sampler, or k_min / k_max on Layout Noise for all three.

{LAYOUT_FILES_NOTE.strip()}
""", size=(440, 560), title="Start here")
    wf.note((-480, 740), settings_note(K_MIN, K_MAX, " / ".join(str(nu) for nu in NU_SWEEP), """
Reading the sweep: the left image keeps the most layout, the right one the most content. Pick the
nu you like for the single-image workflows.
"""), size=(440, 420), title="MagicMix settings")
    return wf


WORKFLOWS = {
    "magicmix_image_layout": image_layout_wf,
    "magicmix_text_layout": text_layout_wf,
    "magicmix_breed_mixing": breed_mixing_wf,
    "magicmix_style_transfer": style_transfer_wf,
    "magicmix_concept_removal": concept_removal_wf,
    "magicmix_nu_sweep": nu_sweep_wf,
    "magicmix_sdxl": sdxl_wf,
    "magicmix_regional": regional_wf,
}

# Thumbnail card per workflow: (layout image or layout words, content words)
THUMBNAILS = {
    "magicmix_image_layout": ("magicmix_corgi.png", "+ coffee machine"),
    "magicmix_text_layout": ("pineapple", "+ cake"),
    "magicmix_breed_mixing": ("magicmix_rabbit.png", "+ tiger"),
    "magicmix_style_transfer": ("magicmix_landscape.png", "+ ukiyo-e print"),
    "magicmix_concept_removal": ("magicmix_lamp.png", "- lamp"),
    "magicmix_nu_sweep": ("magicmix_corgi.png", "nu 0.5 / 0.7 / 0.9"),
    "magicmix_sdxl": ("magicmix_corgi.png", "SDXL + coffee machine"),
    "magicmix_regional": ("magicmix_corgi_region.png", "in the mask + coffee machine"),
}


def workflow_text(name: str) -> str:
    return json.dumps(WORKFLOWS[name]().to_json(), indent=2, ensure_ascii=False) + "\n"


def thumbnail(name: str):
    """A 256x256 card for the template browser: the layout (image or words) and the content words."""
    from PIL import Image, ImageDraw, ImageFont

    layout, caption = THUMBNAILS[name]
    if layout.endswith(".png"):
        card = layout_images.LAYOUT_IMAGES[layout]().convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)
    else:
        card = Image.new("RGB", (256, 256), (236, 232, 222))
        ImageDraw.Draw(card).text((128, 110), layout, fill=(60, 60, 60), anchor="mm",
                                  font=ImageFont.load_default(size=30))
    draw = ImageDraw.Draw(card)
    draw.rectangle((0, 206, 256, 256), fill=(30, 30, 30))
    draw.text((128, 231), caption, fill=(255, 255, 255), anchor="mm", font=ImageFont.load_default(size=20))
    return card


def jpeg_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when a workflow JSON differs or an image is missing")
    args = parser.parse_args(argv)
    stale = []
    for name in WORKFLOWS:
        path = WORKFLOWS_DIR / f"{name}.json"
        text = workflow_text(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
            if not (WORKFLOWS_DIR / f"{name}.jpg").exists():
                stale.append(WORKFLOWS_DIR / f"{name}.jpg")
            continue
        WORKFLOWS_DIR.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        (WORKFLOWS_DIR / f"{name}.jpg").write_bytes(jpeg_bytes(thumbnail(name)))
    for filename, draw in layout_images.LAYOUT_IMAGES.items():
        path = LAYOUTS_DIR / filename
        if args.check:
            if not path.exists():
                stale.append(path)
            continue
        LAYOUTS_DIR.mkdir(exist_ok=True)
        path.write_bytes(layout_images.png_bytes(draw()))
    if stale:
        print("out of date (run python tools/make_workflows.py):", *[str(p.relative_to(PACK_DIR)) for p in stale],
              sep="\n  ", file=sys.stderr)
        return 1
    if not args.check:
        print(f"wrote {len(WORKFLOWS)} workflows and thumbnails to {WORKFLOWS_DIR.relative_to(PACK_DIR)}/, "
              f"{len(layout_images.LAYOUT_IMAGES)} layout images to {LAYOUTS_DIR.relative_to(PACK_DIR)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
