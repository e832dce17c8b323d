"""The world's prompts encoded as ComfyUI's CLIPTextEncode encodes them with the demo checkpoint.

The UNet is trained on exactly these tensors, so at use time ComfyUI reproduces what it learned
from. The empty prompt "" is the null condition for classifier-free guidance (ComfyUI's negative
when a workflow leaves it empty). Cached per text-encoder hash.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from magicmix_dev.sd_checkpoint import atomic_write

from . import _host, world

NULL_PROMPT = ""


def prompt_table(spec: world.WorldSpec = world.V1) -> list[str]:
    """Row 0 is the null prompt, then every prompt of the world in ``spec.prompts()`` order (full ones first)."""
    return [NULL_PROMPT] + spec.prompts()


def encode_prompts(checkpoint_path, prompts: list[str]) -> torch.Tensor:
    """N x 77 x 768 conditioning tensors, from ComfyUI's own CLIP loaded from the checkpoint."""
    _host.import_comfy()
    import comfy.sd
    _, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(checkpoint_path), output_vae=False, output_clip=True,
                                                          output_model=False)
    rows = []
    for text in prompts:
        conditioning = clip.encode_from_tokens_scheduled(clip.tokenize(text))
        rows.append(conditioning[0][0][0].to(torch.float32))
    return torch.stack(rows)


def _cache_path(spec: world.WorldSpec) -> Path:
    import hashlib
    from . import text_encoder
    prompts = hashlib.sha256("\n".join(prompt_table(spec)).encode()).hexdigest()[:8]
    return _host.cache_dir() / f"conditioning-{text_encoder.WEIGHTS_SHA256[:12]}-{prompts}.pt"


def prompt_conditioning(spec: world.WorldSpec = world.V1) -> torch.Tensor:
    """The table's encodings (cached under the demo world's cache, keyed by the text encoder's hash).

    Made in a process of its own: ComfyUI picks its CLIP attention from its settings at import, and
    the table must be what the server's CLIPTextEncode gives, not what a trainer's settings give.
    """
    path = _cache_path(spec)
    if not path.is_file():
        subprocess.run([sys.executable, "-m", "demo_world.conditioning", spec.name], check=True, cwd=_host.REPO)
    return torch.load(path)


def main(argv: list[str] | None = None) -> int:
    from . import checkpoint
    names = argv if argv is not None else sys.argv[1:]
    spec = world.WORLDS[names[0] if names else world.V1.name]
    table = encode_prompts(checkpoint.ensure_checkpoint(), prompt_table(spec))  # one text encoder for every world
    atomic_write(lambda p: torch.save(table, p), _cache_path(spec))
    print(_cache_path(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
