"""What the two trainers share: seeded per-step data, EMA, resumable state, atomic saves, progress.

A run is resumable exactly: its state file (cache) holds the model, EMA, optimizer and step, and
every step's data is drawn from ``(seed, step)`` alone, so stopping and resuming gives the same
weights as running straight through (on the same thread count). Without a state file a run starts
from the committed weights when they exist (a fresh optimizer), else from the seeded initialisation.
"""
from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import torch

from magicmix_dev.sd_checkpoint import atomic_write

EMA_DECAY = 0.999


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2 ** 63)


def save_weights(state: dict, target: Path, steps: int, what: str) -> None:
    """fp16 safetensors with the number of training steps behind them in the metadata."""
    from safetensors.torch import save_file
    half = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in state.items()}
    atomic_write(lambda p: save_file(half, p, metadata={"trained_steps": str(steps), "what": what}), target)


def trained_steps(path: Path) -> int:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        return int((f.metadata() or {}).get("trained_steps", 0))


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: the first CUDA device where torch sees one, else the CPU; any other name as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: torch sees no CUDA device here (use auto or cpu)")
    return device


class Run:
    """A model, its EMA copy and optimizer on ``device``, resumable from ``state_path`` (on any device)."""

    def __init__(self, model: torch.nn.Module, optimizer_factory, weights_path: Path, state_path: Path,
                 device: torch.device = torch.device("cpu")):
        self.model, self.weights_path, self.state_path, self.device = model.to(device), weights_path, state_path, device
        self.optimizer = optimizer_factory(model.parameters())
        self.step = 0
        if state_path.is_file():
            saved = torch.load(state_path, map_location=device)
            model.load_state_dict(saved["model"])
            self.ema = copy.deepcopy(model)
            self.ema.load_state_dict(saved["ema"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.step = saved["step"]
            self.source = f"resumed from {state_path} at step {self.step}"
        else:
            if weights_path.is_file():
                from safetensors.torch import load_file
                weights = load_file(str(weights_path), device=str(device))
                model.load_state_dict({k: v.float() for k, v in weights.items()})
                self.step = trained_steps(weights_path)
                self.source = f"committed weights {weights_path} ({self.step} steps), fresh optimizer"
            else:
                self.source = "seeded initialisation"
            self.ema = copy.deepcopy(model)
        for p in self.ema.parameters():
            p.requires_grad_(False)

    def update_ema(self) -> None:
        # warm-up: with a fixed 0.999 the first thousand steps' EMA is still a third initialisation
        decay = min(EMA_DECAY, (1.0 + self.step) / (10.0 + self.step))
        with torch.no_grad():
            for e, p in zip(self.ema.parameters(), self.model.parameters()):
                e.lerp_(p, 1.0 - decay)

    def save(self, what: str) -> None:
        state = {"model": self.model.state_dict(), "ema": self.ema.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "step": self.step}
        atomic_write(lambda p: torch.save(state, p), self.state_path)
        save_weights(self.ema.state_dict(), self.weights_path, self.step, what)


def train(run: Run, loss_fn, until_step: int, save_every: int, log_every: int, what: str, clip: float = 1.0,
          minutes: float | None = None) -> None:
    """Steps ``run`` until ``until_step`` (or, given ``minutes``, until that much wall time has passed, then
    saves: a run on a lent machine ends in time and resumes later); ``loss_fn(model, step)`` gives the loss
    of that step's batch."""
    where = f"{torch.get_num_threads()} CPU thread(s)" if run.device.type == "cpu" else str(run.device)
    print(f"[{what}] {run.source}; training to step {until_step} on {where}", flush=True)
    started, losses = time.monotonic(), []
    first = run.step
    while run.step < until_step:
        if minutes is not None and time.monotonic() - started > 60 * minutes:
            print(f"[{what}] stopped at step {run.step} after {minutes:g} min", flush=True)
            run.save(what)
            break
        loss = loss_fn(run.model, run.step)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), clip)
        run.optimizer.step()
        run.update_ema()
        run.step += 1
        losses.append(loss.item())
        if run.step % log_every == 0 or run.step == until_step:
            rate = (time.monotonic() - started) / (run.step - first)
            print(f"[{what}] step {run.step} loss {sum(losses) / len(losses):.5f} ({rate:.2f} s/step)", flush=True)
            losses = []
        if run.step % save_every == 0 or run.step == until_step:
            run.save(what)
    sys.stdout.flush()


def default_state(net: str, world: str) -> Path:
    """Where a trainer keeps its resumable state in the cache: ``{net}-state.pt`` for V1 (its name from
    before there were worlds), ``{net}-{world}-state.pt`` for the others."""
    from . import _host
    return _host.cache_dir() / "train" / (f"{net}-state.pt" if world == "v1" else f"{net}-{world}-state.pt")


def batches_of_steps(world, numpy_batch, torch_batch, batch: int, device: torch.device, seed: int):
    """step -> that step's batch: V1's drawn with numpy on the CPU (``numpy_batch(step, batch, seed)``, as its
    committed weights were made), any other world's by torch on ``device`` (``torch_batch(spec, step, ...)``)."""
    if world.name == "v1":
        return lambda step: numpy_batch(step, batch, seed)
    return lambda step: torch_batch(world, step, batch, device, seed)

