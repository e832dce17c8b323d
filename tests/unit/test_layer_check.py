"""--require-all-layers (tests/conftest.py) on a small tree of its own: a test skipped while it runs and a
module skipped while it is collected (module-level skip, importorskip) both fail the run.

Each case is a pytest child process on a copy of the conftest (about 2 s each on 2 shared cores).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACK_DIR = Path(__file__).resolve().parents[2]
LAYERS = ("unit", "comfy", "e2e", "browser")
PASSING = "def test_passes():\n    assert True\n"


def run_layers(root: Path, extra: dict[str, str]) -> subprocess.CompletedProcess:
    """pytest --require-all-layers on tests/<layer>/test_<layer>_passes.py for every layer, plus ``extra`` files."""
    shutil.copy(PACK_DIR / "pytest.ini", root / "pytest.ini")
    shutil.copy(PACK_DIR / "tests" / "conftest.py", (root / "tests").mkdir() or root / "tests" / "conftest.py")
    for layer in LAYERS:
        (root / "tests" / layer).mkdir()
        (root / "tests" / layer / f"test_{layer}_passes.py").write_text(PASSING)
    for name, text in extra.items():
        (root / "tests" / name).write_text(text)
    environment = {**os.environ, "PYTHONPATH": str(PACK_DIR)}  # the copied conftest imports magicmix_dev
    return subprocess.run([sys.executable, "-m", "pytest", "--require-all-layers", "-q", "-p", "no:cacheprovider"],
                          cwd=root, env=environment, capture_output=True, text=True, timeout=120)


def test_every_layer_passing_passes(tmp_path):
    done = run_layers(tmp_path, {})
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("skipped", [
    "import pytest\n\ndef test_skips():\n    pytest.skip('at run time')\n",
    "import pytest\n\npytest.skip('at collection', allow_module_level=True)\n\ndef test_never_runs():\n    pass\n",
    "import pytest\n\npytest.importorskip('a_module_that_is_not_installed')\n\ndef test_never_runs():\n    pass\n",
], ids=["run-time skip", "module-level skip", "importorskip"])
def test_a_skip_fails_the_run_and_names_its_layer(tmp_path, skipped):
    done = run_layers(tmp_path, {"e2e/test_skipped.py": skipped})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "layer 'e2e': 1 skipped" in done.stdout, done.stdout
