"""A small MagicMix prompt for the server tests, and what they need around it.

Used by tests/e2e/test_bad_input.py, test_cancel.py and test_soak.py:

- :func:`magicmix_prompt`: the three MagicMix nodes on the generated SD1.5 checkpoint, image layout
  from a flat-colour image through VAEEncode (no file needed), saved by SaveImage. Node ids are
  names (``"layout"``, ``"mix"``, ``"content"``...) so tests can change one node by name.
- :func:`cache_buster`: ComfyUI re-runs a node only when its inputs change; a test that must
  really run the samplers again gives ``layout_cfg`` a new value. ``layout_cfg`` is only read by
  text layout, so in this image-layout prompt it changes no pixel.
- :func:`image_pixels` / :func:`file_sha256`: compare saved images by their decoded pixels and files by hash.
- :class:`ServerEvents`: the server's websocket messages of one client id, collected on a thread.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import websocket
from PIL import Image

from .checkpoints import DEFAULT_MODEL_NAME as CHECKPOINT
from .server import submit

_cfg_offsets = itertools.count(1)


def cache_buster() -> float:
    """A ``layout_cfg`` value not used before in this test session (see the module docstring)."""
    return round(1.0 + next(_cfg_offsets) * 0.01, 2)


def magicmix_prompt(prefix: str, seed: int = 7, steps: int = 10, size: int = 64, k_min: float = 0.3,
                    k_max: float = 0.6, nu: float = 0.75, layout_cfg: float | None = None,
                    latent_size: int | None = None, batch_size: int = 1, layout_text: str | None = None) -> dict:
    """API-format prompt: layout image -> MagicMix Layout Noise -> Interpolated -> Conditional -> SaveImage.

    ``latent_size`` (pixels) upscales the 8x8 encoded layout latent before MagicMix (nearest), so a
    test can make the sampling phases last long without running the VAE on a big image.
    ``layout_text`` makes it a text layout: that prompt (node ``"layout_text"``) is the layout, and
    an Empty Latent Image of ``size`` only gives the size.
    """
    layout_latent = ["encode", 0]
    prompt = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "positive": {"class_type": "CLIPTextEncode",
                     "inputs": {"text": "a photo of a coffee machine", "clip": ["ckpt", 1]}},
        "negative": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["ckpt", 1]}},
        # A flat orange square: a non-zero layout latent without any file in the input folder.
        "image": {"class_type": "EmptyImage",
                  "inputs": {"width": size, "height": size, "batch_size": 1, "color": 0xE08030}},
        "encode": {"class_type": "VAEEncode", "inputs": {"pixels": ["image", 0], "vae": ["ckpt", 2]}},
        "layout": {"class_type": "MagicMixLayoutNoise", "inputs": {
            "model": ["ckpt", 0], "layout_latent": layout_latent, "seed": seed, "steps": steps,
            "scheduler": "normal", "k_min": k_min, "k_max": k_max, "batch_size": batch_size,
            "layout_cfg": cache_buster() if layout_cfg is None else layout_cfg, "layout_sampler_name": "euler"}},
        "mix": {"class_type": "MagicMixInterpolatedSampler", "inputs": {
            "model": ["ckpt", 0], "layout": ["layout", 0], "positive": ["positive", 0], "negative": ["negative", 0],
            "cfg": 7.5, "sampler_name": "euler", "nu": nu}},
        "content": {"class_type": "MagicMixConditionalSampler", "inputs": {
            "model": ["ckpt", 0], "layout": ["layout", 0], "latent": ["mix", 0], "positive": ["positive", 0],
            "negative": ["negative", 0], "cfg": 7.5, "sampler_name": "euler"}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["content", 0], "vae": ["ckpt", 2]}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": prefix}},
    }
    if latent_size is not None:
        prompt["upscale"] = {"class_type": "LatentUpscale", "inputs": {
            "samples": layout_latent, "upscale_method": "nearest-exact", "width": latent_size,
            "height": latent_size, "crop": "disabled"}}
        prompt["layout"]["inputs"]["layout_latent"] = ["upscale", 0]
    if layout_text is not None:
        prompt["layout_text"] = {"class_type": "CLIPTextEncode", "inputs": {"text": layout_text, "clip": ["ckpt", 1]}}
        prompt["empty"] = {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}}
        prompt["layout"]["inputs"].update(layout_latent=["empty", 0], layout_positive=["layout_text", 0],
                                          layout_negative=["negative", 0])
    return prompt


def image_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class ServerEvents:
    """The websocket messages the server sends to one client id, collected on a background thread.

    Each message is kept as ``(time.monotonic() at arrival, type, data)``; binary frames (preview
    images) are skipped. Use as a context manager; post prompts with :meth:`queue`.
    """

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.client_id = uuid.uuid4().hex
        self.messages: list[tuple[float, str, dict]] = []
        self._changed = threading.Condition()
        self._socket = websocket.create_connection(
            f"{base_url.replace('http://', 'ws://')}/ws?clientId={self.client_id}", timeout=5)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                frame = self._socket.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                return  # closed
            if not frame:
                return  # closed
            if isinstance(frame, bytes):
                continue  # a preview image
            message = json.loads(frame)
            with self._changed:
                self.messages.append((time.monotonic(), message["type"], message.get("data") or {}))
                self._changed.notify_all()

    def queue(self, prompt: dict) -> str:
        """POST /prompt under this client id; returns the prompt id (raises on a refusal)."""
        response = submit(self.base_url, prompt, self.client_id)
        assert response.status_code == 200, response.text
        return response.json()["prompt_id"]

    def wait_for(self, predicate, timeout_s: float) -> tuple[float, str, dict]:
        """The first message (time, type, data) for which ``predicate(type, data)`` holds."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        with self._changed:
            while True:
                for message in self.messages[seen:]:
                    if predicate(message[1], message[2]):
                        return message
                seen = len(self.messages)
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [m[1] for m in self.messages[-20:]]
                    raise TimeoutError(f"no matching websocket message within {timeout_s} s; last: {kinds}")
                self._changed.wait(left)

    def of_prompt(self, prompt_id: str) -> list[tuple[float, str, dict]]:
        with self._changed:
            return [m for m in self.messages if m[2].get("prompt_id") == prompt_id]

    def close(self) -> None:
        self._socket.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerEvents:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
