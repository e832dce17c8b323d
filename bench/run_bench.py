"""MagicMix benchmarks: time and memory against KSamplerAdvanced, model evaluation counts, scaling.

Runs ComfyUI in-process on the generated SD1.5 test checkpoint (magicmix_dev/checkpoints.py), on
the CPU, and on a GPU too when torch sees one; each device runs in a child process of its own
because ComfyUI picks its device once, at import. Prints the table and writes it to
bench/RESULTS.md (or --out), with the machine it ran on.

    python bench/run_bench.py            # the full run (what bench/RESULTS.md holds)
    python bench/run_bench.py --smoke    # a few steps of everything: the CI smoke check

What is compared (every run goes through the node classes, as a server would run them):

- overhead: MagicMix (all in one), image layout, against KSamplerAdvanced doing the same steps from
  the same start step with the same sampler; text layout against the two plain KSamplerAdvanced
  runs that do the same model evaluations (the layout prompt down to K_min, the content prompt from
  K_max). Runs alternate within each round (the order flips every round) and the ratio reported is
  the median of the per-round ratios, so a slow patch of a shared machine hits both sides.
- model evaluations: every run's model is wrapped (``set_model_unet_function_wrapper`` on a clone)
  and each call of the UNet is counted, with its batch rows.
- peak memory: on a GPU the allocator's peak over the run; on the CPU the process's peak resident
  set over the run (its high-water mark reset through /proc/self/clear_refs), both less what was
  in use when the run started, i.e. the run's working memory above the loaded model.
- scaling: MagicMix image layout and KSamplerAdvanced against batch size, resolution and steps.
- the layout phase per kind of sampler (bench/sampler_kinds.py): one sampler call per level against
  KSamplerAdvanced's one call, on the real model and on a null model (the cost outside the model).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import results_file  # bench/results_file.py: the GPU check's report that RESULTS.md holds
import sampler_kinds  # bench/sampler_kinds.py: this script's folder is first on sys.path

BENCH_DIR = Path(__file__).resolve().parent
PACK_DIR = BENCH_DIR.parent
if str(PACK_DIR) not in sys.path:  # run as bench/run_bench.py: the repo root, for magicmix_dev (appended: ComfyUI's
    sys.path.append(str(PACK_DIR))  # nodes.py must win over the pack's nodes/)
DEFAULT_OUT = BENCH_DIR / "RESULTS.md"

OVERHEAD_TARGET = 1.03
MEMORY_TARGET = 1.05

CONTENT_PROMPT = "a photo of a coffee machine"
LAYOUT_PROMPT = "a photo of a corgi"
NEGATIVE_PROMPT = "blurry"

from magicmix_core import defaults  # noqa: E402  (the repo root is on sys.path from here)


@dataclass(frozen=True)
class Settings:
    """One MagicMix configuration (the paper's defaults, magicmix_core.defaults, unless a grid changes one)."""

    steps: int = defaults.STEPS
    k_min: float = defaults.K_MIN
    k_max: float = defaults.K_MAX
    nu: float = defaults.NU
    cfg: float = defaults.CFG
    sampler: str = defaults.SAMPLER
    scheduler: str = defaults.SCHEDULER
    pixels: int = 64  # square images; the latent is pixels / 8 on a side
    batch: int = 1
    seed: int = 1

    def level(self, fraction: float) -> int:
        # the pack's rounding (levels.level_from_fraction), restated so the minimum below is independent
        return min(self.steps, int(fraction * self.steps + 0.5 + 1e-9))

    @property
    def k_max_level(self) -> int:
        return self.level(self.k_max)

    @property
    def k_min_level(self) -> int:
        return self.level(self.k_min)

    def with_(self, **changes) -> Settings:
        return Settings(**{**asdict(self), **changes})


@dataclass(frozen=True)
class Plan:
    base: Settings
    warmup_rounds: int
    image_rounds: int
    text_rounds: int
    scaling_rounds: int
    batches: tuple
    pixel_sizes: tuple
    step_counts: tuple
    text_memory: Settings | None  # an extra text-layout pair at a larger size, for memory
    sampler_kind_rounds: int  # real-model rounds per sampler kind (bench/sampler_kinds.py)
    sampler_kind_null_rounds: int  # null-model rounds per sampler kind


FULL = Plan(base=Settings(), warmup_rounds=1, image_rounds=6, text_rounds=4, scaling_rounds=2,
            batches=(1, 2, 4), pixel_sizes=(64, 96, 128), step_counts=(25, 50, 100),
            text_memory=Settings(steps=20, pixels=128), sampler_kind_rounds=4, sampler_kind_null_rounds=5)
SMOKE = Plan(base=Settings(steps=10), warmup_rounds=0, image_rounds=1, text_rounds=1, scaling_rounds=1,
             batches=(1, 2), pixel_sizes=(64, 96), step_counts=(6, 10), text_memory=None, sampler_kind_rounds=1,
             sampler_kind_null_rounds=1)


def stand_in_layout_latent(pixels: int) -> dict:
    """A smooth, non-zero stand-in for a VAE-encoded layout image of ``pixels`` px (batch 1; MagicMix repeats it)."""
    import torch
    side = pixels // 8
    y, x = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij")
    return {"samples": torch.stack([torch.sin(3 * x + c) * torch.cos(2 * y - c) * 4 for c in range(4)])[None]}


# --- the minimum number of model evaluations -------------------------------------------------

def minimum_image_evaluations(s: Settings) -> int:
    """Image layout: one step per level from K_max down to 0 (the layout latents cost nothing)."""
    return s.k_max_level


def minimum_text_evaluations(s: Settings) -> int:
    """Text layout: the layout prompt's trajectory from level T down to K_min, then image layout's K_max."""
    return (s.steps - s.k_min_level) + s.k_max_level


def rows_per_evaluation(s: Settings) -> int:
    """cond and uncond of every batch item in one UNet call (CFG > 1)."""
    return 2 * s.batch if s.cfg != 1.0 else s.batch


class EvaluationCounter:
    """A model_function_wrapper that counts UNet calls, the batch rows of each and the time spent in them.

    The time is host wall time; on a GPU the calls return before the kernels finish, so it is only
    used on the CPU (to split a run's time into UNet time and everything else).
    """

    def __init__(self):
        self.rows: list[int] = []
        self.seconds = 0.0

    def __call__(self, apply_model, args):
        self.rows.append(int(args["input"].shape[0]))
        start = time.perf_counter()
        try:
            return apply_model(args["input"], args["timestep"], **args["c"])
        finally:
            self.seconds += time.perf_counter() - start

    def take(self) -> tuple[list[int], float]:
        taken = self.rows, self.seconds
        self.rows, self.seconds = [], 0.0
        return taken


# --- peak memory ----------------------------------------------------------------------------------

def _read_status_kib(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field_name} in /proc/self/status")


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD_BYTES = 128 * 1024


class CpuPeakMemory:
    """Peak resident set during a call, above the resident set at its start (bytes).

    glibc's mmap threshold is fixed at 128 KiB (its starting value; by default glibc raises it as
    large blocks are freed, and then keeps freed tensors in the heap), so every tensor's memory goes
    back to the OS when it is freed and the resident set follows the live tensors. Freed heap is
    returned first (malloc_trim), so the start value is what is really in use. The kernel's
    high-water mark is reset through /proc/self/clear_refs (Linux 4.0+); where that is refused a
    thread samples VmRSS every millisecond instead.
    """

    def __init__(self):
        try:
            libc = ctypes.CDLL("libc.so.6")
            self._trim = libc.malloc_trim
            self.fixed_mmap_threshold = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
        except (OSError, AttributeError):
            self._trim, self.fixed_mmap_threshold = None, False
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            self.method = "VmHWM reset via /proc/self/clear_refs"
        except OSError:
            self.method = "VmRSS sampled every 1 ms"
        if self.fixed_mmap_threshold:
            self.method += ", glibc mmap threshold fixed at 128 KiB"

    def _settle(self) -> int:
        gc.collect()
        if self._trim is not None:
            self._trim(0)
        return _read_status_kib("VmRSS")

    def measure(self, run):
        start_kib = self._settle()
        if self.method.startswith("VmHWM"):
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            result = run()
            peak_kib = _read_status_kib("VmHWM")
        else:
            peak = [start_kib]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], _read_status_kib("VmRSS"))
                    time.sleep(0.001)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                result = run()
            finally:
                done.set()
                sampler.join()
            peak_kib = peak[0]
        return result, max(0, peak_kib - start_kib) * 1024


def live_tensor_peak(run) -> int:
    """The most bytes of tensor storage that ``run`` had alive at once, counting what it allocated.

    Exact and free of allocator noise: every op's outputs are seen through a TorchDispatchMode and a
    storage is counted from its creation until it is freed (a finalizer on the storage object, which
    torch keeps alive exactly as long as the storage). Scratch memory inside a single op (e.g. oneDNN
    workspaces) is not seen; it is the same for MagicMix and the baseline.
    """
    import weakref

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class LiveStorages(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.live = self.peak = 0
            self.seen = set()

        def _freed(self, key, size):
            self.seen.discard(key)
            self.live -= size

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for tensor in tree_leaves(out):
                if isinstance(tensor, torch.Tensor):
                    storage = tensor.untyped_storage()
                    if id(storage) not in self.seen:
                        size = storage.nbytes()
                        self.seen.add(id(storage))
                        self.live += size
                        self.peak = max(self.peak, self.live)
                        weakref.finalize(storage, self._freed, id(storage), size)
            return out

    tracker = LiveStorages()
    with torch.inference_mode(), tracker:
        run()
    return tracker.peak


class CudaPeakMemory:
    method = "torch.cuda.max_memory_allocated above memory_allocated at the start"

    def measure(self, run):
        import torch
        gc.collect()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        result = run()
        torch.cuda.synchronize()
        return result, torch.cuda.max_memory_allocated() - start


# --- the runs -------------------------------------------------------------------------------------

@dataclass
class Measurement:
    seconds: float
    peak_bytes: int
    rows: list  # batch rows of each counted UNet call
    unet_seconds: float  # of ``seconds``, the time inside UNet calls (meaningful on the CPU only)

    @property
    def outside_unet_seconds(self) -> float:
        return self.seconds - self.unet_seconds


class Bench:
    """The loaded host, model and prompts; each ``run_*`` method is one timed, measured, counted run."""

    def __init__(self, device: str):
        from magicmix_dev import checkpoints, host

        if device != "cpu":  # the test bed's host runs on the CPU; here ComfyUI may take the GPU
            host.HOST_ARGS = tuple(arg for arg in host.HOST_ARGS if arg != "--cpu")
        self.nodes = host.load_host_nodes()
        import comfy.model_management
        import comfy.sd
        import comfy.utils
        import torch

        self.torch = torch
        comfy.utils.PROGRESS_BAR_ENABLED = False  # no tqdm lines; the same for MagicMix and the baselines
        self.device = device
        self.checkpoint = checkpoints.ensure_checkpoint()
        model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(self.checkpoint), output_vae=False,
                                                                   output_clip=True)
        self.counter = EvaluationCounter()
        self.model = model.clone()
        self.model.set_model_unet_function_wrapper(self.counter)
        encode = lambda text: clip.encode_from_tokens_scheduled(clip.tokenize(text))
        self.content, self.layout_prompt, self.negative = (encode(t) for t in
                                                           (CONTENT_PROMPT, LAYOUT_PROMPT, NEGATIVE_PROMPT))
        self.torch_device = str(comfy.model_management.get_torch_device())
        self.memory = CpuPeakMemory() if device == "cpu" else CudaPeakMemory()

    # inputs
    def layout_latent(self, s: Settings) -> dict:
        return stand_in_layout_latent(s.pixels)

    def batched(self, latent: dict, s: Settings) -> dict:
        return {"samples": latent["samples"].repeat(s.batch, 1, 1, 1)}

    def empty_latent(self, s: Settings) -> dict:
        side = s.pixels // 8
        return {"samples": self.torch.zeros(1, 4, side, side)}

    def measure(self, run) -> Measurement:
        torch = self.torch
        self.counter.take()

        def timed():
            with torch.inference_mode():  # as ComfyUI's executor runs nodes
                start = time.perf_counter()
                run()
                if self.device != "cpu":
                    torch.cuda.synchronize()
                return time.perf_counter() - start

        seconds, peak = self.memory.measure(timed)
        rows, unet_seconds = self.counter.take()
        return Measurement(seconds, peak, rows, unet_seconds)

    # MagicMix
    def magicmix_image(self, s: Settings) -> Measurement:
        latent = self.layout_latent(s)
        return self.measure(lambda: self.nodes["MagicMix"].execute(
            self.model, self.content, self.negative, latent, s.seed, s.steps, s.cfg, s.sampler, s.scheduler,
            s.k_min, s.k_max, s.nu, s.batch))

    def magicmix_text(self, s: Settings) -> Measurement:
        latent = self.empty_latent(s)
        return self.measure(lambda: self.nodes["MagicMix"].execute(
            self.model, self.content, self.negative, latent, s.seed, s.steps, s.cfg, s.sampler, s.scheduler,
            s.k_min, s.k_max, s.nu, s.batch, layout_positive=self.layout_prompt, layout_negative=self.negative))

    def magicmix_sampler(self, s: Settings) -> Measurement:
        """Image layout through the MagicMix SAMPLER in SamplerCustomAdvanced (one sampler call for both phases)."""
        n = self.nodes
        latent = self.batched(self.layout_latent(s), s)

        def run():
            inner = n["KSamplerSelect"].execute(s.sampler).result[0]
            sampler = n["MagicMixSampler"].execute(inner, s.k_min, s.k_max, s.nu).result[0]
            sigmas = n["BasicScheduler"].execute(self.model, s.scheduler, s.steps, 1.0).result[0]
            noise = n["RandomNoise"].execute(s.seed).result[0]
            guider = n["CFGGuider"].execute(self.model, self.content, self.negative, s.cfg).result[0]
            n["SamplerCustomAdvanced"].execute(noise, guider, sampler, sigmas, latent)

        return self.measure(run)

    def chained_nodes(self, s: Settings, text: bool):
        """Layout Noise -> Interpolated Sampler -> Conditional Sampler; also returns the layout object."""
        n = self.nodes
        kept = {}

        def run():
            extra = dict(layout_positive=self.layout_prompt, layout_negative=self.negative) if text else {}
            latent = self.empty_latent(s) if text else self.layout_latent(s)
            layout = n["MagicMixLayoutNoise"].execute(self.model, latent, s.seed, s.steps, s.scheduler, s.k_min,
                                                      s.k_max, s.batch, s.cfg, s.sampler, **extra).result[0]
            mixed = n["MagicMixInterpolatedSampler"].execute(self.model, layout, self.content, self.negative, s.cfg,
                                                             s.sampler, s.nu).result[0]
            n["MagicMixConditionalSampler"].execute(self.model, layout, mixed, self.content, self.negative, s.cfg,
                                                    s.sampler)
            kept["layout"] = layout

        return self.measure(run), kept["layout"]

    # baselines
    def ksampler_advanced(self, s: Settings, positive, latent: dict, add_noise: bool, start: int, end: int,
                          leftover: bool):
        return self.nodes["KSamplerAdvanced"]().sample(
            self.model, "enable" if add_noise else "disable", s.seed, s.steps, s.cfg, s.sampler, s.scheduler,
            positive, self.negative, latent, start, end, "enable" if leftover else "disable")[0]

    def plain_image(self, s: Settings) -> Measurement:
        """KSamplerAdvanced from step T - K_max (level K_max) to the end, on the layout latent, noise added."""
        latent = self.batched(self.layout_latent(s), s)
        return self.measure(lambda: self.ksampler_advanced(s, self.content, latent, True, s.steps - s.k_max_level,
                                                           10000, False))

    def plain_text(self, s: Settings) -> Measurement:
        """The plain runs with text layout's evaluations: the layout prompt from pure noise down to level K_min
        (finished to its clean estimate there), then img2img of that with the content prompt from step T - K_max."""
        latent = self.batched(self.empty_latent(s), s)

        def run():
            layout = self.ksampler_advanced(s, self.layout_prompt, latent, True, 0, s.steps - s.k_min_level, False)
            self.ksampler_advanced(s, self.content, layout, True, s.steps - s.k_max_level, 10000, False)

        return self.measure(run)


# --- the sections ---------------------------------------------------------------------------------

def alternate(contenders: dict, rounds: int, warmup: int, log, warm_with_baseline: bool = False) -> dict:
    """Run every contender once per round, the order reversed every other round; warm-up rounds are dropped.

    ``warm_with_baseline``: before the rounds, one run of the last contender (the baseline), dropped.
    The first run at a new latent shape fills shape-keyed caches (oneDNN primitives and their
    workspaces), which shows in its time and memory; without this the contender that happens to
    run first at that shape would carry that cost.
    """
    names = list(contenders)
    kept = {name: [] for name in names}
    if warm_with_baseline:
        warm = contenders[names[-1]]()
        log(f"  warm-up {names[-1]}: {warm.seconds:.3f} s, peak {warm.peak_bytes / 2**20:.1f} MiB")
    for round_index in range(warmup + rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            measurement = contenders[name]()
            if round_index >= warmup:
                kept[name].append(measurement)
            log(f"  round {round_index}{' (warm-up)' if round_index < warmup else ''} {name}: "
                f"{measurement.seconds:.3f} s ({measurement.outside_unet_seconds:.3f} s outside the UNet), "
                f"peak {measurement.peak_bytes / 2**20:.1f} MiB, "
                f"{len(measurement.rows)} evaluations")
    return kept


def comparison(name: str, measured: list, baseline_name: str, baseline: list) -> dict:
    """MagicMix against its baseline, round by round.

    Both sides make the same UNet calls on the same shapes (the counts section checks it), so any
    real difference in time lies outside the UNet. ``unet_adjusted_ratio`` is the time ratio with
    that in mind: (baseline time + extra time outside the UNet) / baseline time; unlike the wall
    ratio it does not swing with how fast the shared CPU happened to run each side's UNet calls.
    """
    ratios = [m.seconds / b.seconds for m, b in zip(measured, baseline)]
    adjusted = [(b.seconds + m.outside_unet_seconds - b.outside_unet_seconds) / b.seconds
                for m, b in zip(measured, baseline)]
    memory_ratios = [m.peak_bytes / b.peak_bytes for m, b in zip(measured, baseline) if b.peak_bytes > 0]
    return {
        "name": name, "baseline": baseline_name, "rounds": len(ratios),
        "seconds": [m.seconds for m in measured], "baseline_seconds": [b.seconds for b in baseline],
        "median_seconds": statistics.median(m.seconds for m in measured),
        "baseline_median_seconds": statistics.median(b.seconds for b in baseline),
        "ratios": ratios, "ratio": statistics.median(ratios),
        "outside_unet_seconds": statistics.median(m.outside_unet_seconds for m in measured),
        "baseline_outside_unet_seconds": statistics.median(b.outside_unet_seconds for b in baseline),
        "unet_adjusted_ratios": adjusted, "unet_adjusted_ratio": statistics.median(adjusted),
        "extra_outside_unet_seconds": statistics.median(m.outside_unet_seconds - b.outside_unet_seconds
                                                        for m, b in zip(measured, baseline)),
        "peak_bytes": [m.peak_bytes for m in measured], "baseline_peak_bytes": [b.peak_bytes for b in baseline],
        "median_peak_bytes": statistics.median(m.peak_bytes for m in measured),
        "baseline_median_peak_bytes": statistics.median(b.peak_bytes for b in baseline),
        "memory_ratio": statistics.median(memory_ratios) if memory_ratios else None,
    }


def count_row(name: str, measurement: Measurement, minimum_calls: int, rows_per_call: int, minimum_text: str) -> dict:
    rows = measurement.rows
    return {"name": name, "calls": len(rows), "rows": sorted(set(rows)), "minimum_calls": minimum_calls,
            "rows_per_call": rows_per_call, "minimum": minimum_text,
            "equal": len(rows) == minimum_calls and all(r == rows_per_call for r in rows)}


def layout_storage(layout, latent_bytes: int) -> dict:
    """What a MAGICMIX_LAYOUT object keeps between the nodes, in tensors and bytes."""
    torch = sys.modules["torch"]
    tensors = {"noise": layout.noise}
    if layout.clean_latent is not None:
        tensors["clean latent x_0"] = layout.clean_latent
    for level, latent in layout.trajectory.items():
        tensors[f"trajectory level {level}"] = latent
    total = sum(t.numel() * t.element_size() for t in tensors.values() if isinstance(t, torch.Tensor))
    trajectory_levels = sorted(layout.trajectory)
    return {"mode": layout.mode, "latents": len(tensors), "bytes": total, "latent_bytes": latent_bytes,
            "trajectory_levels": [trajectory_levels[0], trajectory_levels[-1]] if trajectory_levels else []}


def run_device(device: str, plan: Plan, log) -> dict:
    """Every section of the bench on one device, in the report's order."""
    bench = Bench(device)
    import torch
    s = plan.base
    results = {"device": device, "machine": describe_machine(device, bench), "plan": plan_summary(plan),
               "memory_method": bench.memory.method}
    started = time.perf_counter()
    load_before = os.getloadavg()

    image, text = overhead_runs(bench, plan, device, log)
    results["overhead"] = overhead_rows(image, text)
    results["counts"], results["storage"] = evaluation_counts(bench, s, image, text, device, log)
    if plan.text_memory is not None:
        results["text_memory"] = text_layout_memory(bench, plan, device, log)
    results["tensor_memory"] = tensor_memory(bench, plan, device, log)
    results["sampler_kinds"] = sampler_kinds.measure_sampler_kinds(
        bench, s, plan.sampler_kind_rounds, plan.sampler_kind_null_rounds, log, comparison)
    results["scaling"] = scaling(bench, plan, image, device, log)

    results["wall_seconds"] = time.perf_counter() - started
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    results["torch_threads"] = torch.get_num_threads()
    return results


def plan_summary(plan: Plan) -> dict:
    return {"base": asdict(plan.base), "warmup_rounds": plan.warmup_rounds, "image_rounds": plan.image_rounds,
            "text_rounds": plan.text_rounds, "scaling_rounds": plan.scaling_rounds,
            "sampler_kind_rounds": plan.sampler_kind_rounds, "sampler_kind_null_rounds": plan.sampler_kind_null_rounds}


def overhead_runs(bench: Bench, plan: Plan, device: str, log) -> tuple[dict, dict]:
    """The timed rounds at the base settings: image layout (MagicMix, its SAMPLER, KSamplerAdvanced), then
    text layout (MagicMix, the two plain runs)."""
    s = plan.base
    log(f"[{device}] image layout against KSamplerAdvanced ({s.steps} steps, k_max {s.k_max}, k_min {s.k_min})")
    image = alternate({"MagicMix": lambda: bench.magicmix_image(s),
                       "KSamplerAdvanced": lambda: bench.plain_image(s),
                       "MagicMix Sampler": lambda: bench.magicmix_sampler(s)},
                      plan.image_rounds, plan.warmup_rounds, log)
    log(f"[{device}] text layout against the plain runs")
    text = alternate({"MagicMix": lambda: bench.magicmix_text(s),
                      "plain runs": lambda: bench.plain_text(s)}, plan.text_rounds, plan.warmup_rounds, log)
    return image, text


def overhead_rows(image: dict, text: dict) -> list[dict]:
    image_baseline = "KSamplerAdvanced, same sampler, steps T-K_max..T"
    return [
        comparison("image layout, MagicMix (all in one)", image["MagicMix"], image_baseline, image["KSamplerAdvanced"]),
        comparison("image layout, MagicMix Sampler in SamplerCustomAdvanced", image["MagicMix Sampler"],
                   image_baseline, image["KSamplerAdvanced"]),
        comparison("text layout, MagicMix (all in one)", text["MagicMix"],
                   "KSamplerAdvanced x2: layout prompt 0..T-K_min, content prompt T-K_max..T", text["plain runs"]),
    ]


def evaluation_counts(bench: Bench, s: Settings, image: dict, text: dict, device: str, log) -> tuple[list, list]:
    """Each run's UNet calls against the minimum (the timed runs' last round and the chained nodes), and what
    the chained nodes' layout keeps."""
    log(f"[{device}] chained nodes (evaluation counts, layout storage)")
    chained_image, image_layout = bench.chained_nodes(s, text=False)
    chained_text, text_layout = bench.chained_nodes(s, text=True)
    image_min, text_min = minimum_image_evaluations(s), minimum_text_evaluations(s)
    rows = rows_per_evaluation(s)
    image_rule = f"K_max = round({s.k_max}*{s.steps}) = {image_min}"
    text_rule = (f"(T - K_min) + K_max = ({s.steps} - {s.k_min_level}) + {s.k_max_level} = {text_min}")
    counts = [
        count_row("image layout, MagicMix (all in one)", image["MagicMix"][-1], image_min, rows, image_rule),
        count_row("image layout, chained nodes", chained_image, image_min, rows, image_rule),
        count_row("image layout, MagicMix Sampler", image["MagicMix Sampler"][-1], image_min, rows, image_rule),
        count_row("KSamplerAdvanced (baseline)", image["KSamplerAdvanced"][-1], image_min, rows, image_rule),
        count_row("text layout, MagicMix (all in one)", text["MagicMix"][-1], text_min, rows, text_rule),
        count_row("text layout, chained nodes", chained_text, text_min, rows, text_rule),
        count_row("plain runs (baseline)", text["plain runs"][-1], text_min, rows, text_rule),
    ]
    latent_bytes = 4 * (s.pixels // 8) ** 2 * 4 * s.batch
    return counts, [layout_storage(image_layout, latent_bytes), layout_storage(text_layout, latent_bytes)]


def text_layout_memory(bench: Bench, plan: Plan, device: str, log) -> dict:
    """Text layout against the plain runs at the larger memory settings, one round."""
    m = plan.text_memory
    log(f"[{device}] text layout memory at {m.pixels} px, {m.steps} steps")
    memory = alternate({"MagicMix": lambda: bench.magicmix_text(m), "plain runs": lambda: bench.plain_text(m)},
                       1, 0, log, warm_with_baseline=plan.warmup_rounds > 0)
    row = comparison(f"text layout, {m.pixels} px, {m.steps} steps", memory["MagicMix"], "plain runs",
                     memory["plain runs"])
    row["settings"] = asdict(m)
    return row


def tensor_memory(bench: Bench, plan: Plan, device: str, log) -> list[dict]:
    """Peak live tensor bytes of MagicMix against its baseline, at the base and the text-memory settings."""
    rows = []
    for cell in [plan.base] + ([plan.text_memory] if plan.text_memory is not None else []):
        log(f"[{device}] live tensor memory at {cell.pixels} px, {cell.steps} steps")
        live_tensor_peak(lambda: bench.plain_image(cell))  # warm-up at this shape, dropped
        for name, mine, baseline_name, base in (
                ("image layout, MagicMix (all in one)", bench.magicmix_image, "KSamplerAdvanced", bench.plain_image),
                ("text layout, MagicMix (all in one)", bench.magicmix_text, "plain runs", bench.plain_text)):
            base_bytes = live_tensor_peak(lambda: base(cell))
            mine_bytes = live_tensor_peak(lambda: mine(cell))
            rows.append({
                "name": f"{name}, {cell.pixels} px, {cell.steps} steps", "baseline": baseline_name,
                "bytes": mine_bytes, "baseline_bytes": base_bytes, "ratio": mine_bytes / base_bytes,
                "latent_bytes": 4 * (cell.pixels // 8) ** 2 * 4 * cell.batch})
            log(f"  {name}: {mine_bytes} bytes, {baseline_name}: {base_bytes} bytes")
    return rows


def scaling(bench: Bench, plan: Plan, image: dict, device: str, log) -> list[dict]:
    """Image layout against KSamplerAdvanced along batch size, resolution and steps (the base cell reused)."""
    s = plan.base
    grid = [("batch", "batch", value) for value in plan.batches] + \
           [("resolution (px)", "pixels", value) for value in plan.pixel_sizes] + \
           [("steps", "steps", value) for value in plan.step_counts]
    rows = []
    for axis, key, value in grid:
        cell = s.with_(**{key: value})
        if cell == s and image["MagicMix"]:  # the overhead section already measured this one
            mine, base = image["MagicMix"], image["KSamplerAdvanced"]
        else:
            log(f"[{device}] scaling: {axis} = {value}")
            measured = alternate({"MagicMix": lambda: bench.magicmix_image(cell),
                                  "KSamplerAdvanced": lambda: bench.plain_image(cell)}, plan.scaling_rounds, 0, log,
                                 warm_with_baseline=plan.warmup_rounds > 0 and cell.steps == s.steps)
            mine, base = measured["MagicMix"], measured["KSamplerAdvanced"]
        row = comparison(f"{axis} {value}", mine, "KSamplerAdvanced", base)
        row.update(axis=axis, value=value, evaluations=minimum_image_evaluations(cell),
                   counted=len(mine[-1].rows), rows_per_call=rows_per_evaluation(cell))
        rows.append(row)
    return rows


def describe_machine(device: str, bench) -> dict:
    import torch
    cpu_model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        total_kib = _read_meminfo_kib("MemTotal")
    except (OSError, RuntimeError):
        total_kib = 0
    import comfyui_version
    machine = {
        "cpu": cpu_model, "logical_cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(total_kib / 2**20, 1), "python": platform.python_version(), "torch": torch.__version__,
        "comfyui": comfyui_version.__version__, "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"), "device": bench.torch_device,
        "checkpoint": bench.checkpoint.name, "platform": platform.platform(),
    }
    if device != "cpu":
        machine["gpu"] = torch.cuda.get_device_name()
    return machine


def _read_meminfo_kib(name: str) -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/meminfo")


# --- the report -----------------------------------------------------------------------------------

def _mib(value) -> str:
    return "n/a" if value is None else f"{value / 2**20:.1f}"


def _mark(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def render_device(r: dict) -> list[str]:
    """One device's section of the report: what ran where, then a table per measurement."""
    cpu = r["device"] == "cpu"
    s = r["plan"]["base"]
    return (_render_header(r) + _render_overhead(r, cpu) + _render_counts(r) + _render_peak_memory(r, cpu)
            + _render_tensor_memory(r) + _render_storage(r) + _render_scaling(r, cpu)
            + [""] + sampler_kinds.render_sampler_kinds(r["sampler_kinds"], s, cpu, r["plan"]["sampler_kind_rounds"],
                                                        r["plan"]["sampler_kind_null_rounds"]))


def _render_header(r: dict) -> list[str]:
    m, s = r["machine"], r["plan"]["base"]
    return [
        f"## {r['device'].upper()}: {m.get('gpu', m['cpu'])}", "",
        f"- machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable), "
        f"{m['memory_gib']} GiB RAM, {m['platform']}",
        f"- software: Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads, "
        f"OMP_WAIT_POLICY={m['omp_wait_policy']}), ComfyUI {m['comfyui']}, device `{m['device']}`"
        + (f", GPU {m['gpu']}" if "gpu" in m else ""),
        f"- model: `{m['checkpoint']}` (the generated random-weight SD1.5 test checkpoint: SD1.5 widths, "
        f"one UNet level; fp32 on the CPU)",
        f"- settings: {s['steps']} steps, k_max {s['k_max']}, k_min {s['k_min']}, nu {s['nu']}, cfg {s['cfg']}, "
        f"{s['sampler']}/{s['scheduler']}, {s['pixels']}x{s['pixels']} px "
        f"({s['pixels'] // 8}x{s['pixels'] // 8} latent), batch {s['batch']}",
        f"- rounds: {r['plan']['warmup_rounds']} warm-up + {r['plan']['image_rounds']} (image layout), "
        f"{r['plan']['text_rounds']} (text layout), {r['plan']['scaling_rounds']} per scaling cell; "
        f"wall time {r['wall_seconds']:.0f} s; load average (1 min) {r['load_average']['before'][0]:.1f} "
        f"before, {r['load_average']['after'][0]:.1f} after",
    ]


def _render_overhead(r: dict, cpu: bool) -> list[str]:
    lines = [
        "", "### Overhead (time)", "",
        "Wall ratio: MagicMix time / baseline time, the median of the per-round ratios. UNet-adjusted ratio: "
        "(baseline time + MagicMix's extra time outside the UNet calls) / baseline time, per round, median; "
        "both sides make the same UNet calls on the same shapes (see the evaluation counts), so this is the "
        "overhead with the shared CPU's swings in UNet speed taken out (CPU only: on a GPU the calls are "
        "asynchronous).", "",
        "| run | median s | baseline | baseline median s | wall ratio | per-round wall ratios "
        "| s outside the UNet (MagicMix / baseline) | extra ms outside the UNet | UNet-adjusted ratio | target "
        "| met (wall / adjusted) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in r["overhead"]:
        adjusted = o["unet_adjusted_ratio"]
        lines.append(f"| {o['name']} | {o['median_seconds']:.3f} | {o['baseline']} "
                     f"| {o['baseline_median_seconds']:.3f} | {o['ratio']:.3f} "
                     f"| {', '.join(f'{x:.3f}' for x in o['ratios'])} "
                     f"| {o['outside_unet_seconds']:.3f} / {o['baseline_outside_unet_seconds']:.3f} "
                     f"| {o['extra_outside_unet_seconds'] * 1000:+.1f} "
                     f"| {f'{adjusted:.4f}' if cpu else 'n/a'} | <= {OVERHEAD_TARGET} "
                     f"| {_mark(o['ratio'] <= OVERHEAD_TARGET)} / "
                     f"{_mark(adjusted <= OVERHEAD_TARGET) if cpu else 'n/a'} |")
    baseline_times = r["overhead"][0]["baseline_seconds"]
    if len(baseline_times) > 1:
        spread = statistics.pstdev(baseline_times) / statistics.mean(baseline_times)
        lines += ["", f"Noise: the baseline's own time varied by {spread * 100:.1f}% (coefficient of variation) "
                      f"across rounds, from {min(baseline_times):.3f} s to {max(baseline_times):.3f} s, for the "
                      f"same {r['counts'][3]['calls']} UNet calls. The extra time outside the UNet is a fixed cost "
                      f"per run and per step; on a faster device it weighs more: ratio = 1 + extra / baseline time."]
    return lines


def _render_counts(r: dict) -> list[str]:
    lines = ["", "### Model evaluations (UNet calls, counted by a model_function_wrapper)", "",
             "| run | calls | rows per call | minimum calls | minimum | rows needed (cond + uncond per image) "
             "| equal |",
             "|---|---|---|---|---|---|---|"]
    for c in r["counts"]:
        lines.append(f"| {c['name']} | {c['calls']} | {', '.join(map(str, c['rows']))} | {c['minimum_calls']} "
                     f"| {c['minimum']} | {c['rows_per_call']} | {_mark(c['equal'])} |")
    return lines


def _render_peak_memory(r: dict, cpu: bool) -> list[str]:
    s = r["plan"]["base"]
    lines = ["", f"### Peak memory ({r['memory_method']}; working memory above the loaded model, median)", "",
             "| run | MiB | baseline MiB | difference MiB | baseline's own range over rounds MiB | ratio | target "
             "| met |",
             "|---|---|---|---|---|---|---|---|"]
    memory_rows = list(r["overhead"]) + ([r["text_memory"]] if "text_memory" in r else [])
    memory_rows += [row for row in r["scaling"] if row["value"] != s.get(_SCALING_KEYS[row["axis"]])]
    for o in memory_rows:
        ratio = o["memory_ratio"]
        difference = o["median_peak_bytes"] - o["baseline_median_peak_bytes"]
        spread = f"{_mib(min(o['baseline_peak_bytes']))} to {_mib(max(o['baseline_peak_bytes']))}"
        lines.append(f"| {o['name']} | {_mib(o['median_peak_bytes'])} | {_mib(o['baseline_median_peak_bytes'])} "
                     f"| {difference / 2**20:+.2f} | {spread} "
                     f"| {'n/a' if ratio is None else f'{ratio:.3f}'} | <= {MEMORY_TARGET} "
                     f"| {'n/a' if ratio is None else _mark(ratio <= MEMORY_TARGET)} |")
    if cpu:
        lines += ["", "The resident set is a noisy gauge at these sizes: it carries allocator and oneDNN memory that "
                      "is not tensors and swings by several MiB between runs of the same baseline; the single-round "
                      "text layout row at 128 px is the most exposed. The exact tensor figures below decide the "
                      "memory target."]
    return lines


def _render_tensor_memory(r: dict) -> list[str]:
    lines = ["", "### Peak live tensor memory (exact: every tensor storage counted from creation to free)", "",
             "| run | bytes | baseline | baseline bytes | difference (bytes, latents) | ratio | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for t in r["tensor_memory"]:
        difference = t["bytes"] - t["baseline_bytes"]
        lines.append(f"| {t['name']} | {t['bytes']} | {t['baseline']} | {t['baseline_bytes']} "
                     f"| {difference:+d} ({difference / t['latent_bytes']:+.1f} latents) | {t['ratio']:.4f} "
                     f"| <= {MEMORY_TARGET} | {_mark(t['ratio'] <= MEMORY_TARGET)} |")
    return lines


def _render_storage(r: dict) -> list[str]:
    lines = ["", "### What the layout keeps between the nodes", "",
             "| mode | tensors | bytes | one latent (batch) | trajectory levels |", "|---|---|---|---|---|"]
    for st in r["storage"]:
        levels = f"{st['trajectory_levels'][0]}..{st['trajectory_levels'][1]}" if st["trajectory_levels"] else "none"
        lines.append(f"| {st['mode']} | {st['latents']} | {st['bytes']} | {st['latent_bytes']} | {levels} |")
    return lines


def _render_scaling(r: dict, cpu: bool) -> list[str]:
    lines = ["", "### Scaling (image layout against KSamplerAdvanced; the other settings as above)", "",
             "| axis | value | model calls | MagicMix s | KSamplerAdvanced s | wall ratio | UNet-adjusted ratio "
             "| MagicMix s per call |",
             "|---|---|---|---|---|---|---|---|"]
    for row in r["scaling"]:
        adjusted = f"{row['unet_adjusted_ratio']:.4f}" if cpu else "n/a"
        lines.append(f"| {row['axis']} | {row['value']} | {row['counted']} (min {row['evaluations']}) "
                     f"| {row['median_seconds']:.3f} | {row['baseline_median_seconds']:.3f} | {row['ratio']:.3f} "
                     f"| {adjusted} | {row['median_seconds'] / max(1, row['counted']):.4f} |")
    return lines


_SCALING_KEYS = {"batch": "batch", "resolution (px)": "pixels", "steps": "steps"}


def render(all_results: list, smoke: bool) -> str:
    lines = ["# MagicMix benchmark results", "",
             f"Made by `bash tools/run_bench.sh{' --smoke' if smoke else ''}` "
             f"({'smoke run: a few steps, timings not meaningful' if smoke else 'full run'}) on "
             f"{time.strftime('%Y-%m-%d %H:%M %Z')}. What each figure means: bench/README.md.", ""]
    for r in all_results:
        lines += render_device(r) + [""]
    return "\n".join(lines)


# --- entry points -----------------------------------------------------------------------------------

def worker_main(device: str, smoke: bool, json_out: Path) -> int:
    plan = SMOKE if smoke else FULL
    log = lambda message: print(message, file=sys.stderr, flush=True)
    results = run_device(device, plan, log)
    json_out.write_text(json.dumps(results, indent=1))
    return 0


def devices_to_run() -> list[str]:
    import torch
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="MagicMix benchmarks (see the module docstring)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the full run (the default)")
    size.add_argument("--smoke", action="store_true", help="a few steps of everything, for CI")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the table goes (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--device", choices=("cpu", "cuda"), action="append",
                        help="run only this device (repeatable); default: the CPU, and CUDA when present")
    parser.add_argument("--worker", choices=("cpu", "cuda"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.smoke, args.worker_json)

    env = dict(os.environ)
    # Idle OpenMP threads spin by default; on a CPU shared with other jobs that spinning slows every
    # UNet call several-fold and swamps what is measured.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    all_results = []
    with tempfile.TemporaryDirectory(prefix="magicmix-bench-") as scratch:
        for device in args.device or devices_to_run():
            json_path = Path(scratch) / f"{device}.json"
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", device, "--worker-json",
                       str(json_path)] + (["--smoke"] if args.smoke else [])
            print(f"running the {device} benchmark ({'smoke' if args.smoke else 'full'})", file=sys.stderr, flush=True)
            done = subprocess.run(command, env=env, cwd=PACK_DIR)
            if done.returncode != 0:
                print(f"the {device} benchmark failed (exit {done.returncode})", file=sys.stderr)
                return done.returncode
            all_results.append(json.loads(json_path.read_text()))
    report = render(all_results, args.smoke)
    if args.out.exists():  # the GPU check's report (bench/gpu_check.py) stays in the file
        kept = results_file.embedded_report(args.out.read_text())
        if kept is not None:
            report = results_file.embed_in_results(report, kept)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    if args.json:
        args.json.write_text(json.dumps(all_results, indent=1))
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
