"""Build the carry folder of the GPU check (bench/gpu_check.py): what a GPU machine lacks, <= 60 MiB.

    python tools/prepare_gpu_check.py                 # writes .gpu-check/ in the repo (git-ignored)
    python tools/prepare_gpu_check.py --out DIR

The check needs a CUDA machine with its own Python (3.10 or newer) and torch, numpy, scipy, pillow,
transformers, safetensors, einops, psutil, tqdm and pyyaml, a GPU of about 40 GiB (the check builds a
Flux-dev-size model of 24 GB in bf16 there) and no package index; what else ComfyUI needs travels in this
folder, within a size limit (60 MiB). No model travels: the check builds every model on the device from
ComfyUI's classes (the model code is in ``comfyui/``). The folder holds:

- ``comfyui/``: the ComfyUI source of the set-up's host (tools/setup.sh), its Python files and the
  small data files beside them, without custom_nodes, tests, the tokenizer vocabularies of text
  encoders the check never builds, and caches;
- ``site/``: the pure-Python packages ComfyUI imports that such a machine lacks (torchsde and its
  trampoline), copied from the set-up's venv. Pure Python, so the venv's copy runs on another Python
  version; a compiled file in one is refused.

Nothing is downloaded. ``manifest.json`` lists every file with its size; the total is checked
against the limit.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[1]
DEFAULT_OUT = PACK_DIR / ".gpu-check"
LIMIT_BYTES = 60 * 2**20

# Packages of the set-up's venv that ComfyUI imports and the check does not expect on the GPU machine (import names).
CARRIED_PACKAGES = ("torchsde", "trampoline")

# Folders of the host's top level that are not source (a user's models, inputs, outputs...).
SKIPPED_TOP_DIRS = {"custom_nodes", "tests", "tests-unit", "input", "output", "models", "user", "temp",
                    "script_examples", "notebooks"}
# Tokenizer folders: the check builds no text encoder. The sd1 tokenizer is small and kept.
SKIPPED_DATA_DIRS = ("comfy/text_encoders",)
DATA_SUFFIXES = {".json", ".yaml", ".txt", ".md"}
MAX_DATA_FILE = 256 * 1024


def comfyui_host() -> Path:
    cache = Path(os.environ.get("MAGICMIX_CACHE") or Path.home() / ".cache" / "comfyui-magicmix")
    host = Path(os.environ.get("COMFYUI_PATH") or cache / "comfyui")
    if not (host / "comfy" / "model_management.py").is_file():
        raise SystemExit(f"no ComfyUI at {host}: run bash tools/setup.sh first (or set COMFYUI_PATH)")
    return host.resolve()


def comfyui_files(host: Path):
    for root, dirs, files in os.walk(host):
        relative_root = Path(root).relative_to(host)
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith(".")
                         and not (root == str(host) and d in SKIPPED_TOP_DIRS))
        for name in sorted(files):
            relative = relative_root / name
            path = Path(root) / name
            if relative.suffix == ".py":
                yield path, relative
            elif (relative.suffix in DATA_SUFFIXES and path.stat().st_size <= MAX_DATA_FILE
                  and not any(relative.as_posix().startswith(d) for d in SKIPPED_DATA_DIRS)):
                yield path, relative


def package_files(name: str):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{name} is not installed in {sys.executable}: run this with the set-up's venv python")
    origin = Path(spec.origin)
    if origin.name == "__init__.py":
        base = origin.parent
        for path in sorted(base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                if path.suffix in {".so", ".pyd", ".dylib"}:
                    raise SystemExit(f"{name} has a compiled file ({path.name}); it cannot be carried from here")
                yield path, Path(name) / path.relative_to(base)
    else:
        yield origin, Path(origin.name)


def build(out: Path) -> dict:
    host = comfyui_host()
    if out.exists():
        shutil.rmtree(out)
    entries = []
    for source, relative in comfyui_files(host):
        entries.append((source, Path("comfyui") / relative))
    for name in CARRIED_PACKAGES:
        for source, relative in package_files(name):
            entries.append((source, Path("site") / relative))
    manifest = {"comfyui": str(host), "packages": list(CARRIED_PACKAGES), "files": {}}
    total = 0
    for source, relative in entries:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        size = target.stat().st_size
        total += size
        manifest["files"][relative.as_posix()] = size
    manifest["total_bytes"] = total
    manifest["sha256_of_list"] = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if total > LIMIT_BYTES:
        raise SystemExit(f"the carry folder is {total / 2**20:.1f} MiB, over the {LIMIT_BYTES / 2**20:.0f} MiB limit")
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the GPU check's carry folder (see the module docstring)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    args = parser.parse_args(argv)
    manifest = build(args.out)
    print(f"{args.out}: {len(manifest['files'])} files, {manifest['total_bytes'] / 2**20:.1f} MiB "
          f"(ComfyUI from {manifest['comfyui']}; carried packages: {', '.join(manifest['packages'])})")
    print(f"on the GPU machine (about 5 minutes): python3 bench/gpu_check.py --device cuda --carry {args.out.name} "
          f"--out report/gpu_check.md --json report/gpu_check.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
