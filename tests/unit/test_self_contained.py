"""The repository speaks of itself alone: no tracked file points outside it.

Fails on
- a Markdown or HTML link (``[text](target)``, ``src="..."``, ``href="..."``) whose relative target
  resolves outside the repository root;
- a reference to the checkout's sibling folder of shared documents or to a tool library folder (the
  two patterns in OUTSIDE_REFERENCE), in any text file;
- an absolute path into a development machine's home or work folders: ``/work/``, ``/root/``,
  ``/home/<user>/``, ``/Users/<user>/``, ``/mnt/``.
Allowed: web links (the paper on arXiv, the project's GitHub), the documented cache location
``~/.cache/comfyui-magicmix`` (or ``$HOME/...``), system paths such as ``/usr/bin/chromium``, and
``/tmp/...`` as a scratch place in example commands (every machine has one).

Reads every tracked (and new, not ignored) text file but this one, which spells out the rules: about a
second.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".git", "test-artifacts", ".gpu-check", "__pycache__", ".pytest_cache", "output", ".venv"}
LINK_SUFFIXES = {".md", ".html"}
MARKDOWN_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)")
HTML_LINK = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
OUTSIDE_REFERENCE = re.compile(r"(?<![\w.])[.][.]/shared/|(?<![\w])[.]library/")
MACHINE_PATH = re.compile(r"(?<![\w.~$}/-])/(?:work|root|mnt|home/\w+|Users/\w+)/")
SCHEME = re.compile(r"^[a-zA-Z][\w+.-]*:")


def repository_files() -> list[Path]:
    """Tracked files and new files git does not ignore; without git (an unpacked archive), every file."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=PACK_DIR, capture_output=True, check=True, timeout=60).stdout
        return sorted({PACK_DIR / name for name in listed.decode().split("\0") if name and (PACK_DIR / name).is_file()})
    except (OSError, subprocess.CalledProcessError):
        files = []
        for root, dirs, names in os.walk(PACK_DIR):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
            files += [Path(root) / name for name in names]
        return sorted(files)


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary: images, weights
    return data.decode("utf-8", errors="replace")


def link_leaves_repository(page: Path, target: str) -> bool:
    if SCHEME.match(target) or target.startswith(("#", "/", "~")):
        return False  # a web link, an anchor; absolute paths are MACHINE_PATH's
    resolved = (page.parent / target.split("#", 1)[0]).resolve()
    return not resolved.is_relative_to(PACK_DIR)


def problems_in(path: Path, text: str) -> list[str]:
    found = []
    relative = path.relative_to(PACK_DIR)
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{relative}:{number}"
        if OUTSIDE_REFERENCE.search(line):
            found.append(f"{where}: refers to a folder outside the repository: {line.strip()[:120]}")
        if MACHINE_PATH.search(line):
            found.append(f"{where}: a path on a development machine: {line.strip()[:120]}")
        if path.suffix in LINK_SUFFIXES:
            for target in MARKDOWN_LINK.findall(line) + HTML_LINK.findall(line):
                if link_leaves_repository(path, target):
                    found.append(f"{where}: the link {target!r} leaves the repository")
    return found


def test_no_file_points_outside_the_repository():
    files = repository_files()
    assert len(files) > 50, "the file list is not the repository's"
    problems = [problem for path in files if path != Path(__file__).resolve() and (text := text_of(path)) is not None
                for problem in problems_in(path, text)]
    assert not problems, "\n".join(problems)


def test_the_check_sees_each_kind_of_outside_reference(tmp_path):
    """Control: the rules flag what they are meant to, and pass what is allowed."""
    page = PACK_DIR / "docs" / "page.md"  # not written: problems_in only needs where it would be
    flagged = {
        "[spec](../../spec.md)": "leaves the repository",
        '<img src="../../x.png">': "leaves the repository",
        "see " + "../" + "shared/docs/spec.md": "outside the repository",
        "lists in " + "." + "library/device": "outside the repository",
        "python x.py --out " + "/work/" + "x": "development machine",
        "cd " + "/home/" + "someone/repo": "development machine",
        "cache in " + "/root/" + ".cache": "development machine",
    }
    for line, why in flagged.items():
        found = problems_in(page, line)
        assert len(found) == 1 and why in found[0], (line, found)
    allowed = ["[method](method.md#limits)", "[paper](https://arxiv.org/abs/2210.16056)", "[top](../README.md)",
               "~/.cache/comfyui-magicmix/venv", "$HOME/.cache/comfyui-magicmix", "/usr/bin/chromium",
               "--out /tmp/r.md", "https://github.com/comfyui-magicmix/comfyui-magicmix/issues"]
    for line in allowed:
        assert problems_in(page, line) == [], line
