"""One style for the whole repository: ruff with the settings in pyproject.toml ([tool.ruff])."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[2]


def ruff_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("ruff")
    found = beside_python if beside_python.is_file() else shutil.which("ruff")
    assert found, "ruff is not installed: it is in requirements-dev.txt (tools/setup.sh installs it)"
    return [str(found)]


def test_the_code_passes_ruff():
    result = subprocess.run([*ruff_command(), "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=PACK_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
