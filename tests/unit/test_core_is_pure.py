"""magicmix_core is the method alone: it imports no ComfyUI, so the pip package (with magicmix_diffusers) runs
without one. Checked in a fresh interpreter (about 2 s, torch's import) where ComfyUI's modules cannot be
imported, since earlier layers of a full run have ComfyUI in this process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[2]
COMFY_MODULES = ("comfy", "comfy_api", "comfy_extras", "latent_preview", "node_helpers", "folder_paths")

# Any import of a ComfyUI module fails, as where ComfyUI is not installed; then every module of
# magicmix_core is imported and none of ComfyUI's may have been loaded.
IMPORT_EVERY_MODULE = f"""
import importlib, pkgutil, sys
BLOCKED = {COMFY_MODULES!r}

class NoComfyUI:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"no ComfyUI here: {{name}}")
        return None

sys.meta_path.insert(0, NoComfyUI())
import magicmix_core
names = [info.name for info in pkgutil.iter_modules(magicmix_core.__path__, "magicmix_core.")]
for name in names:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
print(" ".join(names))
"""


def test_every_magicmix_core_module_imports_without_comfyui():
    result = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE], cwd=PACK_DIR, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    expected = {f"magicmix_core.{path.stem}" for path in (PACK_DIR / "magicmix_core").glob("*.py")
                if path.stem != "__init__"}
    assert imported == expected
