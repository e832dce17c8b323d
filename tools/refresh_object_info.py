#!/usr/bin/env python3
"""Rewrites tools/workflow_data/object_info.json, the snapshot of the server's /object_info that
make_workflows.py builds the workflows' nodes from.

    python tools/refresh_object_info.py

It starts the ComfyUI host of ``tools/setup.sh`` with this pack loaded (a scratch server: no models, an
empty input folder) and keeps the node types make_workflows.py uses (its NODE_SIZES), less the file
lists of the machine's folders. Run it when a node's inputs or outputs change or the host is upgraded
(``tests/e2e/test_object_info_snapshot.py`` fails until then), then ``make_workflows.py``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repo root: tools/ and magicmix_dev
from magicmix_dev.server import ComfyServer  # noqa: E402
from tools import make_workflows  # noqa: E402

# Choices ComfyUI lists from the machine's folders: they depend on the machine, so they are left out.
FOLDER_LISTED = make_workflows.MODEL_FILE_WIDGETS | {"LoadImage": ("image",), "LoadVideo": ("file",)}


def snapshot(object_info: dict) -> dict:
    """The entries of the node types the workflows use, less the folder listings."""
    used = sorted(set(make_workflows.NODE_SIZES) - make_workflows.FRONTEND_ONLY)
    entries = {name: json.loads(json.dumps(object_info[name])) for name in used}
    for name, input_names in FOLDER_LISTED.items():
        for input_name in input_names:
            spec = entries[name]["input"]["required"][input_name]
            if isinstance(spec[0], list):
                spec[0] = []
            else:  # the V3 form: ["COMBO", {"options": [...]}]
                spec[1]["options"] = []
    return entries


def snapshot_text(object_info: dict) -> str:
    return json.dumps(snapshot(object_info), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    with ComfyServer() as server:
        text = snapshot_text(server.object_info())
    make_workflows.OBJECT_INFO_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {make_workflows.OBJECT_INFO_PATH.relative_to(make_workflows.PACK_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
