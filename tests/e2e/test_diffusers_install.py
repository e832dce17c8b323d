"""`pip install` of the repo gives the diffusers entry point in a venv where ComfyUI is not importable.

The new venv reaches torch, diffusers and transformers through a .pth file naming the test venv's
site-packages (nothing is downloaded; ComfyUI is a folder on sys.path only in the test process, never a
package there). pip builds from a copy of the files the build reads, so the checkout gets no build/ or
.egg-info folders.
"""
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from magicmix_dev import host

BUILD_FILES = ("pyproject.toml", "README.md", "magicmix_core", "magicmix_diffusers")


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("pip")
    source = root / "source"
    source.mkdir()
    for name in BUILD_FILES:
        path = host.PACK_DIR / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    venv = root / "venv"
    # no pip of its own: pip and setuptools come from the test venv too (the .pth below)
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    shared = sysconfig.get_paths()["purelib"]  # the test venv's: torch, diffusers, transformers, setuptools
    (Path(purelib) / "test-venv-packages.pth").write_text(shared + "\n")
    done = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           str(source)], capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return python, purelib, root


def run_in(clean_venv, code: str) -> subprocess.CompletedProcess:
    python, _, root = clean_venv
    return subprocess.run([str(python), "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600,
                          cwd=root)


def test_the_packages_are_installed_and_comfyui_is_not_there(clean_venv):
    _, purelib, _ = clean_venv
    done = run_in(clean_venv, """
        import importlib.util, magicmix_core.levels, magicmix_diffusers
        print(magicmix_diffusers.__file__)
        print(magicmix_core.levels.__file__)
        print(importlib.util.find_spec("comfy"), importlib.util.find_spec("nodes"))
    """)
    assert done.returncode == 0, done.stderr
    diffusers_file, core_file, comfy_specs = done.stdout.split("\n")[:3]
    assert diffusers_file.startswith(purelib) and core_file.startswith(purelib)
    assert comfy_specs == "None None"


def test_the_entry_point_runs_magicmix_there(clean_venv, tmp_path):
    # The tiny pipeline's builder (it imports no ComfyUI): a copy of the development package alone, so that
    # nothing else of the repo is importable there.
    shutil.copytree(host.PACK_DIR / "magicmix_dev", tmp_path / "magicmix_dev",
                    ignore=shutil.ignore_patterns("__pycache__"))
    done = run_in(clean_venv, f"""
        import sys
        sys.path.append({str(tmp_path)!r})
        import torch
        from magicmix_diffusers import magicmix
        from magicmix_dev.diffusers_models import tiny_v_pipeline
        pipe = tiny_v_pipeline()
        layout = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
        result = magicmix(pipe, "a coffee machine", layout_latents=layout, num_inference_steps=10, seed=5,
                          batch_size=2, output_type="latent")
        again = magicmix(pipe, "a coffee machine", layout_latents=layout, num_inference_steps=10, seed=5,
                         batch_size=2, output_type="latent")
        print(tuple(result.latents.shape), bool(result.latents.isfinite().all()),
              torch.equal(result.latents, again.latents))
        print("comfy" in sys.modules)
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    shape, imported_comfy = done.stdout.strip().split("\n")[-2:]
    assert shape == "(2, 4, 8, 8) True True"
    assert imported_comfy == "False"
