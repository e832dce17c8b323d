"""The two security scans of the pack's code, shared by tests/unit/test_security.py (the runtime files
of the checkout) and tests/e2e/test_registry_archive.py (the files of the registry archive).

1. ``scan_source``: our own static scan (``ast``): imports on a reviewed list, no call of the
   dangerous kinds (running strings, pickles, processes, network, file reads and writes).
2. ``nodesafe_scan``: nodesafe (PyPI, pinned in requirements-dev.txt), offline, and
   ``is_false_positive`` for its reviewed false positives on this code.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

# Top-level modules the runtime code may import (relative imports of the pack itself are always fine).
ALLOWED_MODULES = {
    "__future__", "math", "dataclasses", "typing", "functools", "itertools", "collections", "enum",
    "importlib",  # only importlib.util.find_spec("comfy_api") in __init__.py: see FORBIDDEN_CALLS
    "logging",  # only logging.warning to ComfyUI's console (magicmix_comfy/guidance.py)
    "torch", "einops", "safetensors",  # the pack's runtime requirements
    "comfy", "comfy_api", "latent_preview", "node_helpers",  # the ComfyUI host
}
# Called by name (builtins) or as an attribute (x.name(...)), each is a way to run strings, load
# pickles, spawn processes, touch the network or read/write a file.
FORBIDDEN_CALLS = {
    "eval", "exec", "compile", "__import__", "breakpoint", "input", "open", "import_module",
    "system", "popen", "spawnl", "spawnv", "execv", "execl", "startfile",
    "read_text", "read_bytes", "write_text", "write_bytes", "load_file", "safe_open", "urlopen",
    "loads", "load",  # pickle.load(s), marshal.load(s), np.load, torch.load: see the torch.load rule
}


def scan_source(source: str, filename: str = "<snippet>") -> list[str]:
    """Problems in one file's source, each as 'file:line: what'."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in ALLOWED_MODULES:
                    problems.append(f"{where}: imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if (node.module or "").split(".")[0] not in ALLOWED_MODULES:
                problems.append(f"{where}: imports from {node.module}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name == "load" and _is_torch_load_with_weights_only(node):
                continue
            if name in FORBIDDEN_CALLS:
                problems.append(f"{where}: calls {name}()")
            if name == "getattr" and len(node.args) >= 2 and _names_builtins(node.args[0]):
                problems.append(f"{where}: getattr on builtins")
        elif isinstance(node, ast.Attribute) and node.attr in {"__builtins__", "__globals__", "__code__",
                                                               "__subclasses__"}:
            problems.append(f"{where}: reaches {node.attr}")
    return problems


def _is_torch_load_with_weights_only(call: ast.Call) -> bool:
    func = call.func
    is_torch_load = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "torch"
    return is_torch_load and any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                                 for k in call.keywords)


def _names_builtins(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in {"builtins", "__builtins__"}


# nodesafe's false positives on this code, each with the check that it is only that.
REVIEWED_GETATTR = {
    ("magicmix_core/layout.py", "a, b = getattr(self, name), getattr(other, name)"),  # over ("sigma_min", "sigma_max")
    ("magicmix_core/mixing.py", "return getattr(self._model, name)"),  # __getattr__ of a model proxy
}


def is_false_positive(finding: dict, pack: Path) -> bool:
    layer, category, title = finding["layer"], finding["category"], finding["title"]
    line = ""
    if finding.get("file") and finding.get("line"):
        line = (pack / finding["file"]).read_text(encoding="utf-8").splitlines()[finding["line"] - 1]
    if layer == "L2" and category == "obfuscation_chains" and "`ord(`" in title:
        return "record(" in line and not re.search(r"(?<![\w.])ord\(", line)  # the pattern is a substring
    if layer == "L2" and category == "obfuscation_chains" and "`lambda x:`" in title:
        return "lambda x:" in line
    if layer == "L3" and category == "code_obfuscation_high_entropy":
        return _is_prose_string_at(pack / finding["file"], finding["line"])
    if layer == "L3" and category == "dynamic_attribute_access":
        return (finding["file"], finding["snippet"].strip()) in REVIEWED_GETATTR
    if layer == "L5":
        return title.startswith("Aggregate heuristic risk score")  # the sum of the findings above
    return False


def _is_prose_string_at(path: Path, line: int) -> bool:
    """A docstring or message (words and spaces) starts on ``line`` of ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if getattr(node, "lineno", None) != line:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        else:
            continue
        if len(text.split()) >= 8:
            return True
    return False


def nodesafe_scan(pack: Path) -> dict:
    """nodesafe's JSON report on a folder laid out as custom_nodes/<pack> holds it (all layers, offline)."""
    result = subprocess.run(
        [sys.executable, "-c", "from nodesafe.cli import main; main()", "scan", str(pack), "--format", "json",
         "--fail-on", "malicious", "--layers", "0,1,2,3,4,5"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, \
        f"nodesafe: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(result.stdout)
