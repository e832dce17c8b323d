"""Start the real ComfyUI server on a free loopback port, talk to it over HTTP, stop it.

Used by the e2e and browser fixtures (tests/conftest.py) and by the main job (tools/run_workflow.py).
Each server gets its own scratch folder: output, input, temp and user directories, an in-memory
database, and an extra_model_paths.yaml that adds the scratch models/ folder, so a run never writes
into the host's own folders and the generated checkpoint is visible without touching the host.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from . import host

START_TIMEOUT_S = 120  # measured ~8 s on 2 CPU cores; generous for a loaded machine
STOP_TIMEOUT_S = 15


class ServerStartError(RuntimeError):
    pass


class PromptError(RuntimeError):
    """ComfyUI refused the prompt (validation) or an execution failed; ``details`` holds its JSON."""

    def __init__(self, message: str, details: object = None):
        super().__init__(message)
        self.details = details


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ComfyServer:
    """``python main.py --cpu --listen 127.0.0.1 --port <free>`` of the host, in a scratch folder.

    ``checkpoints`` maps file names to files that are symlinked into the scratch
    models/checkpoints (e.g. ``{"magicmix-test-sd15.safetensors": <cached checkpoint>}``);
    ``model_files`` does the same for other model folders (``{"vae": {name: file}}``).
    ``custom_nodes``: a further folder of custom nodes the server loads (test-only nodes).
    ``cpu=False`` drops ``--cpu`` so ComfyUI picks the GPU (the main job on a machine that has one).
    Use as a context manager, or call start() / stop().
    """

    def __init__(self, checkpoints: dict[str, Path] | None = None, workdir: Path | None = None,
                 python: str | None = None, extra_args: tuple[str, ...] = (), cpu: bool = True,
                 model_files: dict[str, dict[str, Path]] | None = None, custom_nodes: Path | None = None):
        self.comfyui = host.comfyui_path()
        self.python = python or sys.executable
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="magicmix-comfy-server-"))
        self.output_dir = self.workdir / "output"
        self.input_dir = self.workdir / "input"
        self.models_dir = self.workdir / "models"
        self.log_path = self.workdir / "comfyui.log"
        self.model_files = {"checkpoints": dict(checkpoints or {})} | dict(model_files or {})
        self.custom_nodes = custom_nodes
        self.extra_args = tuple(extra_args)
        self.cpu = cpu
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _prepare_folders(self) -> Path:
        for folder in (self.output_dir, self.input_dir, self.workdir / "temp", self.workdir / "user",
                       *(self.models_dir / kind for kind in self.model_files)):
            folder.mkdir(parents=True, exist_ok=True)
        for kind, files in self.model_files.items():
            for name, source in files.items():
                link = self.models_dir / kind / name
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(Path(source).resolve())
        # A fresh user folder makes the frontend open its first-run Templates dialog over the
        # canvas; a user who has seen it has this setting.
        settings = self.workdir / "user" / "default" / "comfy.settings.json"
        if not settings.exists():
            settings.parent.mkdir(parents=True, exist_ok=True)
            settings.write_text(json.dumps({"Comfy.TutorialCompleted": True}))
        config = self.workdir / "extra_model_paths.yaml"
        folders = "".join(f"    {kind}: {kind}\n" for kind in self.model_files)
        if self.custom_nodes is not None:
            folders += f"    custom_nodes: {Path(self.custom_nodes).resolve()}\n"
        config.write_text(f"magicmix_test_bed:\n    base_path: {self.models_dir}\n{folders}")
        return config

    def command(self) -> list[str]:
        config = self._prepare_folders()
        return [
            self.python, "main.py", *(["--cpu"] if self.cpu else []), "--listen", "127.0.0.1", "--port", str(self.port),
            "--output-directory", str(self.output_dir), "--input-directory", str(self.input_dir),
            "--temp-directory", str(self.workdir / "temp"), "--user-directory", str(self.workdir / "user"),
            "--extra-model-paths-config", str(config),
            # the host's default database file lives in the host folder; keep runs independent of it
            "--database-url", "sqlite:///:memory:",
            "--disable-auto-launch", *self.extra_args,
        ]

    def start(self) -> ComfyServer:
        self.port = free_loopback_port()
        command = self.command()
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"$ {' '.join(command)}\n".encode())
        self._log_file.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # Own process group: stop() can signal ComfyUI and anything it spawned, and a Ctrl-C in the
        # terminal does not race our own shutdown.
        self.process = subprocess.Popen(command, cwd=self.comfyui, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        # The HTTP server only starts listening after all nodes are loaded, so the first answer of
        # /object_info means the node list is complete.
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"ComfyUI exited with {self.process.returncode} during start-up:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/object_info", timeout=10).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.25)
        raise ServerStartError(f"ComfyUI did not answer /object_info within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGINT is what ComfyUI handles as a normal stop (KeyboardInterrupt in main.py).
            for sig, wait_s in ((signal.SIGINT, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
                try:
                    os.killpg(self.process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 60) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> ComfyServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- HTTP API -------------------------------------------------------------------------------

    def object_info(self) -> dict:
        response = requests.get(f"{self.url}/object_info", timeout=60)
        response.raise_for_status()
        return response.json()

    def run_prompt(self, prompt: dict, timeout_s: float = 300) -> dict:
        """Queue an API-format prompt and wait for it; return its outputs (node id -> output dict)."""
        return run_prompt(self.url, prompt, timeout_s)

    def output_file(self, image: dict) -> Path:
        """Where an image entry of a SaveImage output ({filename, subfolder, type}) lies on disk."""
        base = {"output": self.output_dir, "temp": self.workdir / "temp", "input": self.input_dir}[image["type"]]
        return base / image.get("subfolder", "") / image["filename"]


def submit(base_url: str, prompt: dict, client_id: str | None = None) -> requests.Response:
    """POST /prompt with the body written by ``json.dumps`` as is (NaN -> ``NaN``, inf -> ``Infinity``).

    A script or a hand-edited API file can send these literals (``requests``' ``json=`` refuses to);
    the server's JSON parser accepts them.
    """
    body = json.dumps({"prompt": prompt, "client_id": client_id or uuid.uuid4().hex})
    return requests.post(f"{base_url}/prompt", data=body, headers={"Content-Type": "application/json"}, timeout=60)


def wait_until_done(base_url: str, prompt_id: str, timeout_s: float = 300) -> dict:
    """The prompt's /history entry once it finished (successfully or not); TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        entry = requests.get(f"{base_url}/history/{prompt_id}", timeout=30).json().get(prompt_id)
        status = (entry or {}).get("status", {})
        if status.get("completed") or status.get("status_str") == "error":
            return entry
        time.sleep(0.1)
    raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout_s} s")


def execution_error(entry: dict) -> dict | None:
    """The ``execution_error`` message data of a finished prompt's history entry, or None."""
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_error":
            return data
    return None


def run_prompt(base_url: str, prompt: dict, timeout_s: float = 300) -> dict:
    """POST /prompt, then poll /history/<id> until the prompt finished.

    Returns its ``outputs``. Raises PromptError with ComfyUI's own message when the prompt is
    refused at validation (HTTP 400, ``node_errors``), fails while executing (``execution_error``)
    or does not finish within ``timeout_s``.
    """
    response = submit(base_url, prompt)
    if response.status_code != 200:
        try:
            details = response.json()
        except ValueError:
            details = response.text
        raise PromptError(f"ComfyUI refused the prompt (HTTP {response.status_code}): {_describe_refusal(details)}",
                          details)
    prompt_id = response.json()["prompt_id"]
    try:
        entry = wait_until_done(base_url, prompt_id, timeout_s)
    except TimeoutError as error:
        raise PromptError(str(error)) from None
    if entry["status"].get("status_str") == "error":
        raise PromptError(f"prompt {prompt_id} failed: {_describe_execution_error(entry)}", entry["status"])
    return entry.get("outputs", {})


def _describe_refusal(details: object) -> str:
    if not isinstance(details, dict):
        return str(details)[:2000]
    parts = [str(details.get("error", {}).get("message", ""))]
    for node_id, node_error in (details.get("node_errors") or {}).items():
        for error in node_error.get("errors", []):
            parts.append(f"node {node_id} ({node_error.get('class_type')}): {error.get('message')}: "
                         f"{error.get('details')}")
    return "; ".join(p for p in parts if p)


def _describe_execution_error(entry: dict) -> str:
    data = execution_error(entry)
    if data is None:
        return json.dumps(entry["status"])[:2000]
    return (f"node {data.get('node_id')} ({data.get('node_type')}): {data.get('exception_type')}: "
            f"{data.get('exception_message')}\n{''.join(data.get('traceback') or [])}")


def saved_images(outputs: dict) -> list[dict]:
    """The image entries ({filename, subfolder, type}) of type "output" across all nodes' outputs."""
    return [image for output in outputs.values() for image in output.get("images", []) if image.get("type") == "output"]
