#!/usr/bin/env python3
"""Copies the pack's example layout images and video (layouts/*.png, *.mp4) into ComfyUI's input folder.

The shipped workflows load them with ComfyUI's own LoadImage and LoadVideo nodes, which only list and
read files in ComfyUI's input folder (``folder_paths.get_input_directory()``). Standard library only:
run it with any Python.

    python custom_nodes/comfyui-magicmix/tools/install_layouts.py            # from the ComfyUI folder
    python tools/install_layouts.py --comfyui /path/to/ComfyUI
    python tools/install_layouts.py --input-dir /path/to/input             # ComfyUI run with --input-directory

Without options the input folder is found from COMFYUI_PATH, else from where the pack sits
(``<ComfyUI>/custom_nodes/<pack>``), else ``./input`` when run from a ComfyUI folder. Files already
there with the same content are left alone; a different file of the same name is only replaced with
--force.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
from pathlib import Path

LAYOUTS_DIR = Path(__file__).resolve().parent.parent / "layouts"


LAYOUT_SUFFIXES = (".png", ".mp4")


def layout_files() -> list[Path]:
    return sorted(path for path in LAYOUTS_DIR.iterdir() if path.suffix in LAYOUT_SUFFIXES)


def find_input_dir(comfyui: str | None = None) -> Path:
    candidates = []
    if comfyui:
        candidates.append(Path(comfyui))
    elif os.environ.get("COMFYUI_PATH"):
        candidates.append(Path(os.environ["COMFYUI_PATH"]))
    else:
        # Not resolved: the pack is often a symlink in custom_nodes/, and that path is the one to follow.
        pack = Path(os.path.abspath(__file__)).parent.parent
        if pack.parent.name == "custom_nodes":
            candidates.append(pack.parent.parent)
        candidates.append(Path.cwd())
    for root in candidates:
        if (root / "main.py").is_file() or (root / "input").is_dir():
            return root / "input"
    raise SystemExit(f"no ComfyUI folder found (looked at {', '.join(map(str, candidates))}); "
                     f"pass --comfyui PATH or --input-dir PATH")


def install_layouts(input_dir: Path, force: bool = False) -> list[Path]:
    """Copies every layout file into input_dir; returns the paths there (copied or already equal)."""
    input_dir = Path(input_dir)
    input_dir.mkdir(parents=True, exist_ok=True)
    installed = []
    for source in layout_files():
        target = input_dir / source.name
        if target.exists() and filecmp.cmp(source, target, shallow=False):
            installed.append(target)
            continue
        if target.exists() and not force:
            print(f"skipped {target}: a different file of that name is there (use --force)", file=sys.stderr)
            continue
        shutil.copyfile(source, target)
        installed.append(target)
    return installed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--comfyui", help="the ComfyUI folder (its input/ gets the images)")
    where.add_argument("--input-dir", help="ComfyUI's input folder itself")
    parser.add_argument("--force", action="store_true", help="replace files of the same name")
    args = parser.parse_args(argv)
    input_dir = Path(args.input_dir) if args.input_dir else find_input_dir(args.comfyui)
    installed = install_layouts(input_dir, args.force)
    for path in installed:
        print(path)
    return 0 if len(installed) == len(layout_files()) else 1


if __name__ == "__main__":
    sys.exit(main())
