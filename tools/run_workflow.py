#!/usr/bin/env python3
"""Run a shipped (UI-format) workflow headless on a real ComfyUI server with this pack, save its PNGs.

What ``bash tools/run_main.sh`` runs, in the venv tools/setup.sh made:

1. start the host's ComfyUI (``main.py`` on a free loopback port, scratch input/output folders),
2. copy the pack's layouts/*.png into its input folder (the workflows' LoadImage reads them there),
3. give it a checkpoint: ``--checkpoint`` / ``$MAGICMIX_CHECKPOINT`` (a .safetensors file of yours);
   else the demo-world model (demo_world/, our small trained model, assembled once, then cached):
   the image-layout workflow then runs on a world layout image (a plain red circle) with a world
   content prompt (a checkered shape) at the model's 64x64 as a batch of demo.DEMO_BATCH, and each
   result is scored (silhouette IoU with the layout, the pattern read), its verdict printed, then how
   many mix; ``--test-checkpoint``
   uses the seeded random-weight SD1.5 test checkpoint instead (CPU-sized: 256x256, 20 steps),
4. convert the workflow to the API format with the server's own /object_info, point every
   CheckpointLoaderSimple at that checkpoint, apply --size / --steps if given,
5. POST /prompt, wait, copy the saved PNGs into --out (default ./output of the repo) and print their paths.

    python tools/run_workflow.py [workflow.json] [--checkpoint FILE | --test-checkpoint] [--size N] [--steps N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as tools/run_workflow.py: the repo root, for magicmix_dev and demo_world

from demo_world import demo  # noqa: E402
from install_layouts import install_layouts  # noqa: E402  (tools/ is this script's own folder)
from magicmix_dev import checkpoints  # noqa: E402
from magicmix_dev.server import ComfyServer, PromptError, saved_images  # noqa: E402
from magicmix_dev.workflow import ui_to_api  # noqa: E402

DEFAULT_WORKFLOW = REPO / "workflows" / "magicmix_image_layout.json"
# The test checkpoint's images are noise-like at any size, and the workflows' 512x512 / 50 steps
# take 30 min and more on a busy 2-core CPU (docs/measurements.md); this is the pipeline in a few minutes.
TEST_CHECKPOINT_SIZE = 256
TEST_CHECKPOINT_STEPS = 20
CHECKPOINT_LOADERS = ("CheckpointLoaderSimple",)


def log(message: str) -> None:
    print(f"[run_main] {message}", file=sys.stderr, flush=True)


def apply_overrides(prompt: dict, checkpoint_name: str, size: int | None, steps: int | None) -> list[str]:
    """Set the checkpoint, and optionally the image size and step count, on every node that has them.

    Size goes to every node with integer ``width`` and ``height`` inputs (EmptyLatentImage,
    ImageScale, ...), steps to every node with an integer ``steps`` input (MagicMixLayoutNoise,
    KSampler, ...). Returns what was changed, for the log.
    """
    changes = []
    for node_id, node in prompt.items():
        inputs, kind = node["inputs"], node["class_type"]
        if kind in CHECKPOINT_LOADERS:
            inputs["ckpt_name"] = checkpoint_name
            changes.append(f"{kind} #{node_id}: ckpt_name={checkpoint_name}")
        if size is not None and isinstance(inputs.get("width"), int) and isinstance(inputs.get("height"), int):
            inputs["width"] = inputs["height"] = size
            changes.append(f"{kind} #{node_id}: {size}x{size}")
        if steps is not None and isinstance(inputs.get("steps"), int):
            inputs["steps"] = steps
            changes.append(f"{kind} #{node_id}: steps={steps}")
    return changes


DEMO_SIZE = 64  # the demo-world model's image size


def apply_demo_world(prompt: dict) -> list[str]:
    """Point the workflow at the demo's layout image and content prompt.

    LoadImage reads demo.LAYOUT_IMAGE_NAME (demo.REGIONAL_LAYOUT_IMAGE_NAME, the layout with its mask
    as alpha, when the workflow uses the LoadImage's MASK); every CLIPTextEncode that feeds a ``positive`` input says
    demo.CONTENT_PROMPT, one that feeds ``layout_positive`` (text layout) the layout scene's prompt,
    and every negative is empty (the null prompt the model was trained with); the MagicMix nodes make a
    batch of demo.DEMO_BATCH images. Returns what was changed.
    """
    changes = []
    texts = {"positive": demo.CONTENT_PROMPT, "layout_positive": demo.LAYOUT_SCENE.prompt,
             "negative": "", "layout_negative": ""}
    roles = {}
    for node in prompt.values():
        for name, value in node["inputs"].items():
            if name in texts and isinstance(value, list):
                roles[str(value[0])] = name
    for node_id, node in prompt.items():
        kind, inputs = node["class_type"], node["inputs"]
        if kind == "LoadImage":
            inputs["image"] = demo.REGIONAL_LAYOUT_IMAGE_NAME if uses_mask(prompt, node_id) else demo.LAYOUT_IMAGE_NAME
            changes.append(f"{kind} #{node_id}: image={inputs['image']}")
        elif kind == "CLIPTextEncode" and node_id in roles:
            inputs["text"] = texts[roles[node_id]]
            changes.append(f"{kind} #{node_id}: text={inputs['text']!r}")
        elif kind.startswith("MagicMix") and isinstance(inputs.get("batch_size"), int):
            inputs["batch_size"] = demo.DEMO_BATCH
            changes.append(f"{kind} #{node_id}: batch_size={demo.DEMO_BATCH}")
    return changes


def uses_mask(prompt: dict, load_image_id: str) -> bool:
    """Whether any node reads this LoadImage's MASK (its output 1): the regional workflow."""
    return any(value == [load_image_id, 1] for node in prompt.values() for value in node["inputs"].values())


def use_gpu(device: str) -> bool:
    """auto: an NVIDIA driver is loaded and the venv's torch is a CUDA build.

    Asked from files and package metadata: importing torch here just to ask takes 5 to 15 s on a busy
    CPU, and the server process imports it anyway.
    """
    if device != "auto":
        return device == "gpu"
    from importlib import metadata
    installed = {dist.metadata["Name"] for dist in metadata.distributions()}
    cuda_runtime = installed & {"nvidia-cuda-runtime", "nvidia-cuda-runtime-cu12"}
    return bool(cuda_runtime) and Path("/proc/driver/nvidia/version").is_file()


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workflow", nargs="?", type=Path, default=DEFAULT_WORKFLOW,
                        help="UI-format workflow file (default: %(default)s)")
    parser.add_argument("--checkpoint", type=Path, default=os.environ.get("MAGICMIX_CHECKPOINT") or None,
                        help="an SD checkpoint file to use (default: $MAGICMIX_CHECKPOINT, else the demo-world model)")
    parser.add_argument("--test-checkpoint", action="store_true",
                        help="the seeded random-weight SD1.5 test checkpoint instead of the demo-world model")
    parser.add_argument("--size", type=int, help="output width = height in pixels (default: the workflow's; "
                                                 f"{TEST_CHECKPOINT_SIZE} with the built-in test checkpoint)")
    parser.add_argument("--steps", type=int, help="total sampler steps (default: the workflow's; "
                                                  f"{TEST_CHECKPOINT_STEPS} with the built-in test checkpoint)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="where ComfyUI runs the model (auto: the GPU when an NVIDIA driver is loaded)")
    parser.add_argument("--out", type=Path, default=REPO / "output",
                        help="where the PNGs are copied (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds to wait for the workflow (default: %(default)s)")
    return parser


def choose_checkpoint(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Path, str, bool]:
    """(file, name in the server's models folder, whether it is the demo-world model) for the arguments.

    The test checkpoint also sets the CPU-sized --size / --steps the user left out."""
    if args.checkpoint is not None:
        checkpoint = args.checkpoint.expanduser().resolve()
        if not checkpoint.is_file():
            parser.error(f"checkpoint {checkpoint} is not a file")
        log(f"checkpoint: {checkpoint}")
        return checkpoint, checkpoint.name, False
    started = time.monotonic()
    if not args.test_checkpoint:
        from demo_world import checkpoint as demo_checkpoint
        checkpoint = demo_checkpoint.ensure_checkpoint()
        log(f"checkpoint: the demo-world model {checkpoint} ({time.monotonic() - started:.0f} s), our small model "
            f"trained on a procedural world (docs/demo_world.md), not Stable Diffusion")
        return checkpoint, demo_checkpoint.MODEL_NAME, True
    checkpoint = checkpoints.ensure_checkpoint()
    log(f"checkpoint: built-in random-weight SD1.5 test checkpoint {checkpoint} "
        f"({time.monotonic() - started:.0f} s); its images are noise-like, the point is the pipeline")
    if args.size is None or args.steps is None:
        args.size = args.size or TEST_CHECKPOINT_SIZE
        args.steps = args.steps or TEST_CHECKPOINT_STEPS
        log(f"test checkpoint: CPU-sized run, {args.size}x{args.size} with {args.steps} steps instead of "
            "the workflow's own (give --size / --steps to change)")
    return checkpoint, checkpoints.DEFAULT_MODEL_NAME, False


def put_layout_images(server: ComfyServer, use_demo: bool) -> None:
    """The shipped layouts (the workflows' LoadImage names), and the demo's own when it runs."""
    install_layouts(server.input_dir)
    if use_demo:
        demo.save_png(demo.layout_image(), server.input_dir / demo.LAYOUT_IMAGE_NAME)
        demo.save_png(demo.regional_layout_image(), server.input_dir / demo.REGIONAL_LAYOUT_IMAGE_NAME)


def api_prompt(workflow: dict, server: ComfyServer, args: argparse.Namespace, checkpoint_name: str,
               use_demo: bool) -> tuple[dict, list[str], bool]:
    """The workflow in the API format with the overrides applied; its LoadImage ids; whether it is regional."""
    prompt = ui_to_api(workflow, server.object_info())
    loaders = [node_id for node_id, node in prompt.items() if node["class_type"] == "LoadImage"]
    regional = any(uses_mask(prompt, node_id) for node_id in loaders)
    if use_demo:  # the demo's layouts: one 64 px scene, or the regional two-scene canvas
        args.size = args.size or (demo.SCENES_SIZE if regional else DEMO_SIZE)
    changes = apply_overrides(prompt, checkpoint_name, args.size, args.steps)
    if use_demo:
        changes += apply_demo_world(prompt)
    for change in changes:
        log(f"set {change}")
    return prompt, loaders, regional


def run(server: ComfyServer, prompt: dict, workflow_path: Path, timeout_s: float) -> dict | None:
    """The prompt's outputs, or None (logged with the server's log) when ComfyUI refused or failed it."""
    log(f"running {workflow_path} ({len(prompt)} nodes)")
    started = time.monotonic()
    try:
        outputs = server.run_prompt(prompt, timeout_s=timeout_s)
    except PromptError as error:
        log(f"{error}\n--- ComfyUI log (all of it: {server.log_path}) ---\n{server.log_tail()}")
        return None
    log(f"workflow finished in {time.monotonic() - started:.0f} s")
    return outputs


def copy_and_judge(server: ComfyServer, images: list[dict], out: Path, use_demo: bool, scored: bool,
                   regional: bool) -> None:
    """Copy the saved images into ``out`` and print their paths; the demo's image-layout ones get a verdict."""
    out.mkdir(parents=True, exist_ok=True)
    verdicts = []
    for image in images:
        target = out / image["filename"]
        shutil.copyfile(server.output_file(image), target)
        if use_demo and scored:
            verdict = (demo.judge_regional if regional else demo.judge)(demo.load_png(target))
            verdicts.append(verdict.is_mix)
            log(f"{target.name}: {verdict.describe()}")
        elif use_demo:
            log(f"{target.name}: text layout, no layout image to score against (bench/QUALITY.md scores "
                "text layout against the layout prompt's own image)")
        print(target)
    if verdicts:
        log(f"{sum(verdicts)} of {len(verdicts)} images are {'a regional mix' if regional else 'a mix'}")


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser()
    args = parser.parse_args(argv)
    workflow = json.loads(args.workflow.read_text())
    checkpoint, checkpoint_name, use_demo = choose_checkpoint(args, parser)
    gpu = use_gpu(args.device)
    server = ComfyServer({checkpoint_name: checkpoint}, cpu=not gpu)
    put_layout_images(server, use_demo)
    log(f"starting ComfyUI {server.comfyui} on {'the GPU' if gpu else 'the CPU'} (log: {server.log_path})")
    started = time.monotonic()
    with server:
        log(f"server up at {server.url} after {time.monotonic() - started:.0f} s")
        prompt, loaders, regional = api_prompt(workflow, server, args, checkpoint_name, use_demo)
        outputs = run(server, prompt, args.workflow, args.timeout)
        if outputs is None:
            return 1
        images = saved_images(outputs)
        if not images:
            log("the workflow saved no image")
            return 1
        copy_and_judge(server, images, args.out, use_demo, scored=bool(loaders), regional=regional)
    shutil.rmtree(server.workdir, ignore_errors=True)  # scratch folders, log included: the run succeeded
    return 0


if __name__ == "__main__":
    sys.exit(main())
