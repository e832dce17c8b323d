"""The Comfy Registry archive: what `comfy node pack` (comfy-cli from PyPI, what `comfy node publish`
uploads) makes of the repo, with `.comfyignore`.

- `comfy node validate` passes with no security warning (it runs ruff with --exit-zero, so its
  output is read);
- the archive holds every runtime file and nothing of tests/, bench/, .ci/, docs/, demo_world/, the
  development package magicmix_dev/ or the development tools;
- unzipped into the custom_nodes of a fresh ComfyUI base directory (the only pack there), the real
  server lists the nodes, serves a node docs page, and runs a shipped workflow from the archive with
  the layouts its own installer copied;
- our scan and nodesafe find nothing in the archive beyond reviewed findings.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from magicmix_dev import checkpoints, host
from magicmix_dev.security_scan import is_false_positive, nodesafe_scan, scan_source
from magicmix_dev.server import ComfyServer, saved_images
from magicmix_dev.workflow import ui_to_api

COMFY_CLI = (sys.executable, "-m", "comfy_cli", "--skip-prompt", "--no-enable-telemetry")
RUNTIME_FILES = ("__init__.py", "README.md", "pyproject.toml", "requirements.txt", "tools/install_layouts.py",
                 "web/docs/MagicMixLayoutNoise.md")
RUNTIME_PACKAGES = ("nodes", "magicmix_comfy", "magicmix_core")  # the Python ComfyUI imports from the pack
RUNTIME_FOLDERS = (*RUNTIME_PACKAGES, "workflows", "layouts", "web/docs")
LEFT_OUT = ("tests/", "bench/", ".ci/", "docs/", "demo_world/", "magicmix_diffusers/", "magicmix_dev/", "tools/run_",
            "tools/setup", "tools/make_", "tools/prepare_",
            "requirements-dev.txt", "pytest.ini")
# The layout installer copies files into ComfyUI's input folder on purpose (a user runs it; ComfyUI never
# imports tools/): what our scan reports there is its file handling and nothing else.
INSTALLER = "tools/install_layouts.py"
# (it copies with shutil and compares with filecmp, so no read or write call of its own is reported)
INSTALLER_FINDINGS = {"imports argparse", "imports filecmp", "imports os", "imports shutil", "imports sys",
                      "imports from pathlib"}


def comfy_cli(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(home))  # comfy-cli keeps its config under ~; a scratch one here
    return subprocess.run([*COMFY_CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("comfy-cli-home")


@pytest.fixture(scope="module")
def archive(tmp_path_factory, cli_home) -> Path:
    """`comfy node pack` run in the repo (it packs the git-tracked files), the zip moved out."""
    made = host.PACK_DIR / "node.zip"
    result = comfy_cli("node", "pack", cwd=host.PACK_DIR, home=cli_home)
    assert result.returncode == 0 and made.is_file(), result.stdout[-2000:] + result.stderr[-2000:]
    target = tmp_path_factory.mktemp("archive") / "node.zip"
    shutil.move(made, target)
    return target


@pytest.fixture(scope="module")
def unzipped(archive, tmp_path_factory) -> Path:
    """A fresh ComfyUI base directory whose custom_nodes holds the archive, as the registry installs it."""
    base = tmp_path_factory.mktemp("fresh-comfyui")
    pack = base / "custom_nodes" / host.PACK_FOLDER_NAME
    pack.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(pack)
    return pack


def test_comfy_node_validate_passes_without_security_warnings(cli_home):
    result = comfy_cli("node", "validate", cwd=host.PACK_DIR, home=cli_home)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    said = result.stdout + result.stderr  # comfy-cli prints its verdicts to stderr
    assert "All validation checks passed" in said, said[-2000:]
    assert "Security warnings found" not in said, said[-2000:]


def test_the_archive_holds_the_runtime_files_and_nothing_of_the_development_ones(archive):
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    for name in RUNTIME_FILES:
        assert name in names, f"the archive lacks {name}"
    for folder in RUNTIME_FOLDERS:
        tracked = subprocess.run(["git", "ls-files", folder], cwd=host.PACK_DIR, capture_output=True, text=True,
                                 check=True).stdout.split()
        assert tracked and set(tracked) <= set(names), f"the archive lacks files of {folder}/"
    stray = [n for n in names if n.startswith(LEFT_OUT)]
    assert stray == [], f"development files in the archive: {stray}"
    print(f"registry archive: {len(names)} files, {archive.stat().st_size} bytes")


def test_the_unzipped_archive_runs_on_a_fresh_server(unzipped, sd15_checkpoint, tmp_path):
    base = unzipped.parent.parent
    server = ComfyServer({checkpoints.DEFAULT_MODEL_NAME: sd15_checkpoint}, workdir=tmp_path / "server",
                         extra_args=("--base-directory", str(base)))
    with server:
        info = server.object_info()
        pack_module = f"custom_nodes.{host.PACK_FOLDER_NAME}"
        pack_nodes = sorted(n for n, d in info.items() if d.get("python_module") == pack_module)
        assert pack_nodes == sorted(["MagicMixLayoutNoise", "MagicMixInterpolatedSampler", "MagicMixConditionalSampler",
                                     "MagicMix", "MagicMixSampler"])
        page = requests.get(f"{server.url}/extensions/{host.PACK_FOLDER_NAME}/docs/MagicMix.md", timeout=30)
        assert page.status_code == 200 and page.text.startswith("# MagicMix (all in one)\n")

        installed = subprocess.run([sys.executable, str(unzipped / INSTALLER), "--input-dir", str(server.input_dir)],
                                   capture_output=True, text=True, timeout=60)
        assert installed.returncode == 0, installed.stderr
        workflow = json.loads((unzipped / "workflows" / "magicmix_regional.json").read_text(encoding="utf-8"))
        prompt = ui_to_api(workflow, info)
        for node in prompt.values():
            inputs = node["inputs"]
            if node["class_type"] == "CheckpointLoaderSimple":
                inputs["ckpt_name"] = checkpoints.DEFAULT_MODEL_NAME
            if node["class_type"] == "ImageScale":
                inputs["width"] = inputs["height"] = 64
            if node["class_type"] == "MagicMixLayoutNoise":
                inputs["steps"] = 8
        outputs = server.run_prompt(prompt, timeout_s=600)
        assert len(saved_images(outputs)) == 1


def test_our_scan_finds_nothing_in_the_archive_but_the_layout_installers_file_handling(unzipped):
    findings = {}
    for path in sorted(unzipped.rglob("*.py")):
        relative = path.relative_to(unzipped).as_posix()
        problems = scan_source(path.read_text(encoding="utf-8"), relative)
        if problems:
            findings[relative] = {p.split(": ", 1)[1] for p in problems}
    installer = findings.pop(INSTALLER, set())
    assert findings == {}, f"the archive's code does what the pack must not: {findings}"
    assert installer <= INSTALLER_FINDINGS, f"the installer does more than copy files: {installer}"
    imported_by_pack = [p for p in unzipped.rglob("*.py") if "install_layouts" in p.read_text(encoding="utf-8")
                        and p.relative_to(unzipped).parts[0] in (*RUNTIME_PACKAGES, "__init__.py")]
    assert imported_by_pack == [], "the runtime pack must never import the installer"


def test_nodesafe_finds_nothing_in_the_archive_but_reviewed_false_positives(unzipped):
    report = nodesafe_scan(unzipped)
    assert report["verdict"]["label"] != "malicious", report["verdict"]
    unexplained = [f"{f['layer']} {f['title']} at {f.get('file')}:{f.get('line')}" for f in report["findings"]
                   if not is_false_positive(f, unzipped)]
    assert unexplained == []
    print(f"nodesafe on the archive: {report['verdict']}")


def test_pyproject_declares_the_comfyui_and_frontend_versions_the_tests_ran_against():
    """As the registry reads them (comfy-cli's own parser): requires-comfyui, and the frontend package
    entry that it takes as the supported frontend and leaves out of the dependencies."""
    from comfy_cli.registry.config_parser import extract_node_configuration
    config = extract_node_configuration(str(host.PACK_DIR / "pyproject.toml"))
    assert config.project.supported_comfyui_version == ">=0.3.75"
    assert config.project.supported_comfyui_frontend_version == f">={host.PINNED_FRONTEND}"
    assert config.project.dependencies == [], "the pack installs nothing beyond what ComfyUI ships"
