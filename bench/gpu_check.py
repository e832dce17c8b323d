"""The prepared GPU check: MagicMix on full-size SD1.5, SDXL, Flux dev and WAN 2.1 1.3B architectures, in-process.

It needs a CUDA machine with its own Python and torch (and the few packages ComfyUI imports on this path:
tools/prepare_gpu_check.py lists them), no package index, and room for the repository plus a carry
folder of at most 60 MiB. This script is what runs there, in one go (no server, no frontend), in about
5 minutes (``--budget-s``; each case has its own share, ``Case.budget_s``):

    python3 tools/prepare_gpu_check.py        # on a machine with the set-up: the carry folder .gpu-check/
    python3 bench/gpu_check.py --device cuda --carry .gpu-check --out report/gpu_check.md --json report/gpu_check.json

The carry folder holds the ComfyUI source and the pure-Python packages ComfyUI imports that such a
machine lacks (tools/prepare_gpu_check.py says which). The same script is the CI dry run:

    python bench/gpu_check.py --device cpu --tiny --carry DIR --out FILE   # tiny models, same code path

``--device cuda`` where torch sees no CUDA exits with status 2 before anything else runs.

Every model is built on the device from ComfyUI's own classes with random weights (nothing is loaded
or carried): UNets of SD1.5 (512 px) and SDXL (1024 px) widths and depths in fp16 (and SD1.5 in fp32),
a Flux-dev-size transformer (12 B parameters, bf16, 1024 x 1024, 20 steps, cfg 1 with guidance 3.5)
and a WAN-2.1-1.3B-size video transformer (bf16, 480 x 832, 33 frames, 20 steps). ``--tiny`` builds
the same classes small (magicmix_dev's tiny models). It measures:

- timing that can tell: the GPU clocks are warmed first (bf16 matmuls for ``--warm-s``); each mode of a
  case drops one warm-up round, then runs as many rounds as the case's budget allows (MagicMix and its
  baseline alternating, the order flipping each round); the ratio is the median of the per-round ratios
  with a distribution-free interval (order statistics), each side's spread is given, and the time inside
  the model calls (CUDA events around each call; the clock on the CPU) is taken apart, which gives the
  model-adjusted ratio (the CPU bench's UNet-adjusted ratio);
- MagicMix image layout against KSamplerAdvanced from step T - K_max, and (SD) text layout against the two
  plain KSamplerAdvanced runs with the same model calls (bench/README.md); model calls on both sides; peak
  CUDA memory above the loaded model against the baseline's;
- the cost outside the model per layout step for each kind of sampler (bench/sampler_kinds.py's null
  model, the same list as the CPU bench), after an untimed pass over the whole list;
- checks: outputs finite; the same seed gives the same latent; both sides make the same model calls;
  Cancel (ComfyUI's interrupt flag, seen through the progress hook as the server installs it) stops within
  a step; previews are produced (latent2rgb) at every step; text layout with the trajectory kept on the CPU
  (ComfyUI's default intermediate device) and on the GPU (``--gpu-only``) gives the same result.

MagicMix runs through the pack's engine (``magicmix_comfy``) exactly as the nodes call it, KSamplerAdvanced
through ``comfy.sample.sample`` with the arguments ``nodes.common_ksampler`` gives it; the node classes
themselves need ``comfy_api`` (and PyAV), which such a machine does not have.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PACK_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
import sampler_kinds  # noqa: E402  (bench/sampler_kinds.py: the sampler list and the null model)
from results_file import embed_in_results  # noqa: E402
from run_bench import Settings  # noqa: E402  (the CPU bench's settings)

sys.path.append(str(PACK_DIR))  # magicmix_dev; last: the pack's nodes/ must not shadow ComfyUI's nodes.py
from magicmix_dev.checkpoints import initialise_weights  # noqa: E402  (the test checkpoint's seeded initialisation)
from magicmix_dev.tiny_models import (  # noqa: E402  (the tests' one-level UNets and CLIP's widths)
    SD15_CONTEXT, SDXL_ADM, SDXL_CONTEXT, SDXL_POOLED, TOKENS, sd15_unet_config, sdxl_unet_config, small_heads)

# --- what runs -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    family: str  # "sd15", "sdxl", "flux_dev" or "wan21"
    dtype: str  # "float16", "bfloat16" or "float32"
    width: int  # pixels
    height: int
    budget_s: float  # everything the case does: build, load, checks, warm-up and timed rounds
    min_rounds: int  # timed rounds per mode even when the budget is spent
    max_rounds: int
    modes: tuple[str, ...] = ("image", "text")
    frames: int | None = None  # video frames; None for an image
    steps: int = 30
    cfg: float = 7.5
    scheduler: str = "normal"
    guidance: float | None = None  # FluxGuidance's value in the conditioning

    @property
    def label(self) -> str:
        size = f"{self.width}x{self.height}" + (f"x{self.frames}f" if self.frames else "")
        return f"{self.family} {self.dtype} {size}"


# The 2026-12-04 run of the earlier check (3 / 2 rounds, no clock warm-up) gives the per-round times these
# budgets are sized from: SD1.5 fp16 512 px 0.7 s image / 1.6 s text per run, SDXL fp16 1.7 / 3.0 s, SD1.5
# fp32 0.8 / 1.9 s; a WAN-2.1-1.3B-size run 3.8 s. Flux dev's 12 model calls per run are an estimate (about
# 0.4 s each at 1024 px in bf16). With the clock warm-up and the imports, about 5 minutes.
FLUX_DEV = dict(steps=20, cfg=1.0, scheduler="simple", guidance=3.5, modes=("image",))
WAN_T2V = dict(steps=20, cfg=5.0, scheduler="simple", modes=("image",))
FULL_CASES = (
    Case("sd15", "float16", 512, 512, budget_s=90, min_rounds=8, max_rounds=30),  # and the checks
    Case("flux_dev", "bfloat16", 1024, 1024, budget_s=70, min_rounds=5, max_rounds=16, **FLUX_DEV),
    Case("wan21", "bfloat16", 832, 480, frames=33, budget_s=45, min_rounds=5, max_rounds=16, **WAN_T2V),
    Case("sdxl", "float16", 1024, 1024, budget_s=40, min_rounds=5, max_rounds=16),
    Case("sd15", "float32", 512, 512, budget_s=20, min_rounds=4, max_rounds=12),
)
# What the 5 minutes leave out, and why.
NOT_IN_THE_CHECK = (
    "sdxl float32 1024 px: its build, load and 2 rounds took 116 s in the 2026-12-04 run, 44 % of that check; "
    "the fp16 SDXL case runs the same architecture",
    "text layout on flux_dev and wan21: it makes (T - K_min) + K_max model calls against the image layout's "
    "K_max (26 against 12 at 20 steps), so more than twice the image layout's time per round",
    "the per-sampler rows on the null model for flux_dev and wan21: the cost outside the model does not depend "
    "on the model's size (the rows run once, on the first case)",
    "WAN 2.1 14B (about 10 times the 1.3B's compute per call) and other video or flow families "
    "(tests/comfy/test_video_families.py and test_flow_families.py run them as tiny models)",
)
# The dry run: the same classes small, the same sequence of steps; budgets of seconds, about what each case
# takes on 2 shared CPU cores with the minimum of rounds (the first with the checks).
TINY = dict(steps=10, min_rounds=2, max_rounds=3)
TINY_CASES = (
    Case("sd15", "float16", 64, 64, budget_s=22, **TINY),
    Case("flux_dev", "bfloat16", 64, 64, budget_s=4, **{**FLUX_DEV, **TINY}),
    Case("wan21", "bfloat16", 32, 32, frames=9, budget_s=4, **{**WAN_T2V, **TINY}),
    Case("sdxl", "float16", 64, 64, budget_s=8, **TINY),
    Case("sd15", "float32", 64, 64, budget_s=5, **TINY),
)
BASE_SETTINGS = Settings()  # the CPU bench's k_min, k_max, nu, sampler and seed; steps, cfg, scheduler per case
NULL_ROUNDS = {"full": 6, "tiny": 1}
WARM_MATMUL_SIDE = 8192


def settings_for(case: Case) -> Settings:
    return replace(BASE_SETTINGS, steps=case.steps, cfg=case.cfg, scheduler=case.scheduler, pixels=case.width)


def sd_unet_config(family: str, tiny: bool) -> dict:
    """The UNet's architecture: SD1.5's or SDXL's widths and depths, or the tests' one-level 32-channel UNet."""
    if tiny:
        return sd15_unet_config() if family == "sd15" else sdxl_unet_config()
    common = {"use_checkpoint": False, "image_size": 32, "in_channels": 4, "out_channels": 4,
              "use_spatial_transformer": True, "legacy": False, "use_temporal_attention": False,
              "use_temporal_resblock": False}
    if family == "sd15":
        config = {**common, "adm_in_channels": None, "context_dim": SD15_CONTEXT, "use_linear_in_transformer": False,
                  "model_channels": 320, "num_res_blocks": [2, 2, 2, 2], "channel_mult": [1, 2, 4, 4],
                  "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "transformer_depth_middle": 1,
                  "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], "num_heads": 8}
    else:
        config = {**common, "adm_in_channels": SDXL_ADM, "num_classes": "sequential",
                  "context_dim": SDXL_CONTEXT, "use_linear_in_transformer": True, "model_channels": 320,
                  "num_res_blocks": [2, 2, 2], "channel_mult": [1, 2, 4],
                  "transformer_depth": [0, 0, 2, 2, 10, 10], "transformer_depth_middle": 10,
                  "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10], "num_head_channels": 64}
    return config


# Flux dev's transformer as ComfyUI's model detection reads it from the checkpoint (11.9 B parameters).
FLUX_DEV_CONFIG = {"image_model": "flux", "guidance_embed": True, "in_channels": 16, "out_channels": 16,
                   "vec_in_dim": 768, "context_in_dim": 4096, "hidden_size": 3072, "mlp_ratio": 4.0, "num_heads": 24,
                   "depth": 19, "depth_single_blocks": 38, "axes_dim": [16, 56, 56], "theta": 10000, "patch_size": 2,
                   "qkv_bias": True}
# WAN 2.1 T2V 1.3B (1.42 B parameters with its embedders): dim 1536, 30 blocks, 12 heads of 128.
WAN21_1_3B_CONFIG = {"image_model": "wan2.1", "model_type": "t2v", "patch_size": (1, 2, 2), "text_len": 512,
                     "in_dim": 16, "dim": 1536, "ffn_dim": 8960, "freq_dim": 256, "text_dim": 4096, "out_dim": 16,
                     "num_heads": 12, "num_layers": 30, "window_size": (-1, -1), "qk_norm": True,
                     "cross_attn_norm": True, "eps": 1e-6}
# Text tokens as ComfyUI's tokenizers pad them: Flux's T5 to 256, WAN's umT5 to 512.
FLUX_TOKENS, WAN_TOKENS = 256, 512


def family_parts(family: str, tiny: bool) -> dict:
    """ComfyUI's config class, model class and architecture, and the conditioning's form, for one family."""
    import comfy.model_base
    import comfy.supported_models as sm
    if family in ("sd15", "sdxl"):
        sd15 = family == "sd15"
        return {"config": sm.SD15 if sd15 else sm.SDXL,
                "base": comfy.model_base.BaseModel if sd15 else comfy.model_base.SDXL,
                "unet": sd_unet_config(family, tiny), "base_args": {"model_type": comfy.model_base.ModelType.EPS},
                "tokens": TOKENS, "context": SD15_CONTEXT if sd15 else SDXL_CONTEXT,
                "pooled": None if sd15 else SDXL_POOLED}
    if family == "flux_dev":
        from magicmix_dev import tiny_flow_models as tiny_flow
        return {"config": sm.Flux, "base": comfy.model_base.Flux, "base_args": {},
                "unet": tiny_flow._flux_unet_config(True) if tiny else FLUX_DEV_CONFIG,
                "tokens": tiny_flow.TOKENS if tiny else FLUX_TOKENS, "context": tiny_flow.CONTEXT if tiny else 4096,
                "pooled": tiny_flow.FLUX_POOLED if tiny else 768}
    if family == "wan21":
        from magicmix_dev import tiny_video_models as tiny_video
        return {"config": sm.WAN21_T2V, "base": comfy.model_base.WAN21, "base_args": {},
                "unet": tiny_video.wan_unet_config() if tiny else WAN21_1_3B_CONFIG,
                "tokens": tiny_video.TEXT_TOKENS if tiny else WAN_TOKENS, "context": tiny_video.WAN_TEXT_DIM,
                "pooled": None}
    raise ValueError(f"family: {family!r} is not one of sd15, sdxl, flux_dev, wan21")


def build_model(case: Case, tiny: bool, seed: int = 0):
    """A ModelPatcher of random weights (normal / sqrt(fan_in), norms 1, biases 0), built on the device.

    The SD UNets go to the offload device so that ComfyUI loads them for sampling as it loads a
    checkpoint; the Flux- and WAN-size models stay on the device (a 24 GB round trip through host
    memory would spend the case's budget and says nothing about MagicMix)."""
    import torch
    import comfy.model_management
    import comfy.model_patcher

    parts = family_parts(case.family, tiny)
    config = parts["config"](dict(parts["unet"]))
    if tiny and case.family in ("sd15", "sdxl"):  # the configs set full-size heads in __init__
        small_heads(config)
    config.set_inference_dtype(getattr(torch, case.dtype), None)
    load_device = comfy.model_management.get_torch_device()
    base = parts["base"](config, device=load_device, **parts["base_args"])
    initialise_weights(base, torch.Generator(device=load_device).manual_seed(seed))
    offload = comfy.model_management.unet_offload_device() if case.family in ("sd15", "sdxl") else load_device
    base.to(offload)
    return comfy.model_patcher.ModelPatcher(base, load_device=load_device, offload_device=offload)


def full_size_parameters() -> dict[str, int]:
    """The full cases' models built on the meta device (no memory, no weights): what the dry run can check of
    the sizes it does not run."""
    import torch
    counts = {}
    for case in FULL_CASES:
        if case.family in counts:  # the same architecture in another dtype
            continue
        parts = family_parts(case.family, tiny=False)
        config = parts["config"](dict(parts["unet"]))
        config.set_inference_dtype(getattr(torch, case.dtype), None)
        base = parts["base"](config, device=torch.device("meta"), **parts["base_args"])
        counts[case.family] = sum(p.numel() for p in base.diffusion_model.parameters())
    return counts


def conditioning(case: Case, tiny: bool, seed: int) -> list:
    import torch
    parts = family_parts(case.family, tiny)
    generator = torch.Generator().manual_seed(seed)
    extras = {}
    if parts["pooled"] is not None:
        extras["pooled_output"] = torch.randn((1, parts["pooled"]), generator=generator)
    if case.family == "sdxl":
        extras.update({"width": case.width, "height": case.height, "crop_w": 0, "crop_h": 0,
                       "target_width": case.width, "target_height": case.height})
    if case.guidance is not None:
        extras["guidance"] = case.guidance
    return [[torch.randn((1, parts["tokens"], parts["context"]), generator=generator), extras]]


def stand_in_layout_latent(model, case: Case) -> dict:
    """A smooth, non-zero stand-in for a VAE-encoded layout image (or video) of the case's size and the model's
    latent channels, 8 px a latent cell (and 4 frames a latent frame after the first, as WAN's VAE)."""
    import torch
    channels = model.get_model_object("latent_format").latent_channels
    rows, columns = case.height // 8, case.width // 8
    y, x = torch.meshgrid(torch.linspace(-1, 1, rows), torch.linspace(-1, 1, columns), indexing="ij")
    image = torch.stack([torch.sin(3 * x + c) * torch.cos(2 * y - c) * 4 for c in range(channels)])
    if case.frames is None:
        return {"samples": image[None]}
    latent_frames = (case.frames - 1) // 4 + 1
    drift = torch.linspace(0, 1, latent_frames)[:, None, None]  # the picture changes a little from frame to frame
    return {"samples": torch.stack([image[c] + drift * (c % 3) for c in range(channels)])[None]}


class ModelTimer:
    """A UNet function wrapper that counts the model calls and times them: CUDA events around each call on the
    GPU (read after the run's synchronisation, so the calls stay asynchronous), the clock on the CPU."""

    def __init__(self, cuda: bool):
        import torch
        self.torch, self.cuda = torch, cuda
        self.reset()

    def __deepcopy__(self, memo):  # ModelPatcher.clone deep-copies its options: clones share this timer
        return self

    def reset(self):
        self.calls, self._seconds, self._events = 0, 0.0, []

    def __call__(self, apply_model, args):
        self.calls += 1
        if self.cuda:
            start, end = (self.torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            out = apply_model(args["input"], args["timestep"], **args["c"])
            end.record()
            self._events.append((start, end))
            return out
        started = time.perf_counter()
        out = apply_model(args["input"], args["timestep"], **args["c"])
        self._seconds += time.perf_counter() - started
        return out

    def take(self) -> tuple[int, float]:
        """(calls, seconds inside them) since the last reset; call after the device is synchronised."""
        seconds = self._seconds + sum(start.elapsed_time(end) for start, end in self._events) / 1000
        calls = self.calls
        self.reset()
        return calls, seconds


class Runs:
    """MagicMix (through the engine, as the nodes call it) and KSamplerAdvanced (as common_ksampler calls
    comfy.sample), on the model with a ModelTimer."""

    def __init__(self, model, case: Case, tiny: bool, timer: ModelTimer):
        import torch
        from magicmix_dev.pack import pack_module
        self.torch, self.s = torch, settings_for(case)
        self.build_layout = pack_module("magicmix_comfy.layout_building").build_layout
        self.phases = pack_module("magicmix_comfy.phases")
        levels = pack_module("magicmix_core.levels")
        self.model = model.clone()
        self.model.set_model_unet_function_wrapper(timer)
        self.content, self.layout_prompt, self.negative = (conditioning(case, tiny, seed) for seed in (1, 2, 3))
        s = self.s
        self.levels = levels.LevelRange.from_fractions(s.k_min, s.k_max, s.steps)
        self.nus = levels.nu_values(s.nu, None, self.levels.mix_count)
        self.image = stand_in_layout_latent(model, case)
        self.empty = {"samples": torch.zeros_like(self.image["samples"])}

    def _image_layout(self, model):
        """The image layout, as MagicMix Layout Noise makes it."""
        s = self.s
        return self.build_layout(model, self.image, s.seed, s.steps, s.scheduler, s.k_min, s.k_max)

    def magicmix_image(self, model=None, sampler_name=None):
        import comfy.samplers
        model, s = model or self.model, self.s
        return self.phases.magicmix(model, self._image_layout(model), self.content, self.negative, s.cfg,
                                    comfy.samplers.sampler_object(sampler_name or s.sampler), self.nus)

    def magicmix_text(self):
        import comfy.samplers
        s = self.s
        layout = self.build_layout(self.model, self.empty, s.seed, s.steps, s.scheduler, s.k_min, s.k_max,
                                   layout_cfg=s.cfg, layout_sampler_name=s.sampler,
                                   layout_positive=self.layout_prompt, layout_negative=self.negative)
        return self.phases.magicmix(self.model, layout, self.content, self.negative, s.cfg,
                                    comfy.samplers.sampler_object(s.sampler), self.nus)

    def layout_phase(self, model, sampler_name):
        import comfy.samplers
        return self.phases.sample_layout_phase(model, self._image_layout(model), self.content, self.negative,
                                               self.s.cfg, comfy.samplers.sampler_object(sampler_name), self.nus)

    def ksampler_advanced(self, positive, latent, start: int, end: int, leftover: bool, model=None,
                          sampler_name=None):
        import comfy.sample
        import comfy.utils
        import latent_preview
        model, s = model or self.model, self.s
        samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
        noise = comfy.sample.prepare_noise(samples, s.seed, None)
        return comfy.sample.sample(model, noise, s.steps, s.cfg, sampler_name or s.sampler, s.scheduler, positive,
                                   self.negative, samples, denoise=1.0, disable_noise=False, start_step=start,
                                   last_step=end, force_full_denoise=not leftover,
                                   callback=latent_preview.prepare_callback(model, s.steps),
                                   disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=s.seed)

    def plain_image(self):
        return self.ksampler_advanced(self.content, self.image, self.levels.layout_start_index, 10000, False)

    def plain_text(self):
        lv = self.levels
        layout = self.ksampler_advanced(self.layout_prompt, self.empty, 0, lv.content_start_index, False)
        return self.ksampler_advanced(self.content, {"samples": layout}, lv.layout_start_index, 10000, False)

    def plain_layout_phase(self, model, sampler_name):
        lv = self.levels
        return self.ksampler_advanced(self.content, self.image, lv.layout_start_index, lv.content_start_index,
                                      True, model=model, sampler_name=sampler_name)

    def contenders(self, mode: str) -> dict:
        if mode == "image":
            return {"MagicMix": self.magicmix_image, "KSamplerAdvanced": self.plain_image}
        return {"MagicMix": self.magicmix_text, "plain runs": self.plain_text}


# --- measuring -------------------------------------------------------------------------------------

@dataclass
class Measured:
    result: object  # the latent
    seconds: float
    model_seconds: float  # of ``seconds``, inside the model calls
    calls: int
    peak_bytes: int | None  # above the start; None on the CPU


class Device:
    def __init__(self, name: str):
        import torch
        self.torch, self.cuda = torch, name == "cuda"
        self.timer = ModelTimer(self.cuda)

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def run(self, function) -> Measured:
        torch = self.torch
        gc.collect()
        self.sync()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            start_bytes = torch.cuda.memory_allocated()
        self.timer.reset()
        with torch.inference_mode():
            start = time.perf_counter()
            result = function()
            self.sync()
            seconds = time.perf_counter() - start
        calls, model_seconds = self.timer.take()
        peak = torch.cuda.max_memory_allocated() - start_bytes if self.cuda else None
        return Measured(result, seconds, model_seconds, calls, peak)


def warm_clocks(device: Device, seconds: float) -> dict | None:
    """Run the GPU flat out for ``seconds`` (bf16 matmuls) so that nothing timed later meets it at idle clocks."""
    if not device.cuda or seconds <= 0:
        return None
    torch = device.torch
    side = WARM_MATMUL_SIDE
    a, b = (torch.randn((side, side), device="cuda", dtype=torch.bfloat16) for _ in range(2))
    matmuls, started, last = 0, time.perf_counter(), None
    while time.perf_counter() - started < seconds:
        batch_started = time.perf_counter()
        for _ in range(10):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        matmuls += 10
        last = 10 * 2 * side ** 3 / (time.perf_counter() - batch_started) / 1e12
    del a, b
    torch.cuda.empty_cache()
    return {"seconds": time.perf_counter() - started, "matmuls": matmuls, "side": side, "last_tflops": last}


def rounds_within(seconds_left: float, round_seconds: float, min_rounds: int, max_rounds: int) -> int:
    """As many rounds of ``round_seconds`` as fit in ``seconds_left``, within [min_rounds, max_rounds]."""
    fitting = int(seconds_left // round_seconds) if round_seconds > 0 else max_rounds
    return max(min_rounds, min(max_rounds, fitting))


def median_interval(values: list[float], confidence: float = 0.9) -> tuple[float, float, float]:
    """A distribution-free interval for the median of ``values``: their k-th smallest and k-th largest, with
    the largest k whose coverage 1 - 2 P(Binomial(n, 1/2) < k) is at least ``confidence`` (k = 1 when none
    is: then the coverage returned is below it). Returns (low, high, coverage)."""
    n, ordered = len(values), sorted(values)

    def coverage(k: int) -> float:
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= confidence:
        k += 1
    return ordered[k - 1], ordered[n - k], coverage(k)


def alternate(device: Device, contenders: dict, rounds_for, warm_up: bool = True) -> dict:
    """One dropped warm-up round (unless the caller warmed up already), then rounds with the order flipping each
    round; ``rounds_for(warm-up round's seconds)`` says how many (an int is taken as is)."""
    kept = {name: [] for name in contenders}
    names = list(contenders)
    warm_up_seconds = sum(device.run(contenders[name]).seconds for name in names) if warm_up else 0.0
    rounds = rounds_for if isinstance(rounds_for, int) else rounds_for(warm_up_seconds)
    for round_index in range(rounds):
        for name in (names[::-1] if round_index % 2 == 0 else names):  # the warm-up ran them in list order
            kept[name].append(device.run(contenders[name]))
    return kept


def spread(seconds: list[float]) -> float:
    """Half the range over the median: the +- of one side's per-round times."""
    return (max(seconds) - min(seconds)) / 2 / statistics.median(seconds)


def summary(mine: list[Measured], base: list[Measured]) -> dict:
    ratios = [m.seconds / b.seconds for m, b in zip(mine, base)]
    # The same model calls on the same shapes on both sides: any real difference lies outside the model.
    adjusted = [(b.seconds + (m.seconds - m.model_seconds) - (b.seconds - b.model_seconds)) / b.seconds
                for m, b in zip(mine, base)]
    low, high, coverage = median_interval(ratios)
    adjusted_low, adjusted_high, _ = median_interval(adjusted)
    seconds, baseline_seconds = [m.seconds for m in mine], [b.seconds for b in base]
    row = {"rounds": len(ratios), "seconds": seconds, "baseline_seconds": baseline_seconds,
           "median_seconds": statistics.median(seconds), "baseline_median_seconds": statistics.median(baseline_seconds),
           "spread": spread(seconds), "baseline_spread": spread(baseline_seconds),
           "ratios": ratios, "ratio": statistics.median(ratios), "ratio_interval": [low, high],
           "interval_coverage": coverage,
           "model_seconds": statistics.median(m.model_seconds for m in mine),
           "baseline_model_seconds": statistics.median(b.model_seconds for b in base),
           "extra_outside_model_ms": 1000 * statistics.median(
               (m.seconds - m.model_seconds) - (b.seconds - b.model_seconds) for m, b in zip(mine, base)),
           "adjusted_ratios": adjusted, "adjusted_ratio": statistics.median(adjusted),
           "adjusted_interval": [adjusted_low, adjusted_high],
           "model_calls": mine[0].calls, "baseline_model_calls": base[0].calls,
           "same_model_calls": len({m.calls for m in mine + base}) == 1}
    if mine[0].peak_bytes is not None:
        row["peak_bytes"] = statistics.median(m.peak_bytes for m in mine)
        row["baseline_peak_bytes"] = statistics.median(b.peak_bytes for b in base)
    finite = all(bool(m.result.isfinite().all()) for m in mine + base)
    same = all(bool((m.result == mine[0].result).all()) for m in mine)
    return {**row, "finite": finite, "same_seed_same_result": same}


class ProgressHook:
    """The progress hook as ComfyUI's server installs it: it is where Cancel is noticed; counts previews."""

    def __init__(self):
        self.updates = self.previews = 0
        self.on_update = None

    def __call__(self, value, total, preview_image, prompt_id=None, node_id=None):
        import comfy.model_management
        self.updates += 1
        self.previews += preview_image is not None
        if self.on_update is not None:
            self.on_update(self.updates)
        comfy.model_management.throw_exception_if_processing_interrupted()


class CallCounter:
    def __init__(self):
        self.calls = 0

    def __call__(self, apply_model, args):
        self.calls += 1
        return apply_model(args["input"], args["timestep"], **args["c"])


def check_cancel(runs: Runs, hook: ProgressHook, device: Device, at_update: int = 3) -> dict:
    """Set ComfyUI's interrupt flag at a progress update of the layout phase; count model calls after it."""
    import comfy.model_management
    counter = CallCounter()
    counted = runs.model.clone()
    counted.set_model_unet_function_wrapper(counter)
    state, first_update = {}, hook.updates

    def on_update(update):
        if update - first_update == at_update and "calls" not in state:
            state["calls"], state["time"] = counter.calls, time.perf_counter()
            comfy.model_management.interrupt_current_processing(True)

    hook.on_update = on_update
    stopped = False
    try:
        device.run(lambda: runs.magicmix_image(model=counted))
    except comfy.model_management.InterruptProcessingException:
        stopped = True
    finally:
        hook.on_update = None
        comfy.model_management.interrupt_current_processing(False)
    return {"stopped": stopped, "set_at_step": at_update, "model_calls_after_the_flag": counter.calls - state["calls"],
            "ms_to_stop": (time.perf_counter() - state["time"]) * 1000, "total_model_calls": counter.calls}


def check_previews(runs: Runs, hook: ProgressHook, device: Device) -> dict:
    before_updates, before_previews = hook.updates, hook.previews
    device.run(runs.magicmix_image)
    return {"progress_updates": hook.updates - before_updates, "previews": hook.previews - before_previews,
            "steps": runs.levels.k_max_level}


def check_trajectory_devices(runs: Runs, device: Device) -> dict:
    """Text layout with the layout trajectory on the intermediate device (CPU) and on the GPU (--gpu-only)."""
    import comfy.model_management as mm
    results = {}
    saved = mm.args.gpu_only
    try:
        for gpu_only in (False, True):
            mm.args.gpu_only = gpu_only
            store = f"{mm.intermediate_device()}{' (--gpu-only)' if gpu_only else ''}"
            measured = device.run(runs.magicmix_text)
            results[store] = {"seconds": measured.seconds, "peak_bytes": measured.peak_bytes,
                              "latent": measured.result.cpu()}
    finally:
        mm.args.gpu_only = saved
    latents = [r.pop("latent") for r in results.values()]
    difference = float((latents[0] - latents[-1]).abs().max())
    return {"stores": results, "max_abs_difference": difference}


def sampler_kind_costs(runs: Runs, device: Device, rounds: int) -> list[dict]:
    """ms per layout step outside the model, MagicMix against KSamplerAdvanced, on the null model, after one
    untimed pass over the whole list (so the first row carries no warm-up)."""
    nulled, null = sampler_kinds.null_model(runs.model)
    steps = runs.levels.mix_count
    contenders = {sampler: {"MagicMix": lambda s=sampler: runs.layout_phase(nulled, s),
                            "KSamplerAdvanced": lambda s=sampler: runs.plain_layout_phase(nulled, s)}
                  for sampler, _ in sampler_kinds.SAMPLER_KINDS}
    for pair in contenders.values():
        for run in pair.values():
            device.run(run)
    rows = []
    for sampler, kind in sampler_kinds.SAMPLER_KINDS:
        timed = alternate(device, contenders[sampler], rounds, warm_up=False)  # the pass above warmed each up
        mine = statistics.median(t.seconds for t in timed["MagicMix"]) * 1000 / steps
        base = statistics.median(t.seconds for t in timed["KSamplerAdvanced"]) * 1000 / steps
        rows.append({"sampler": sampler, "kind": kind, "outside_ms_per_step": mine,
                     "baseline_outside_ms_per_step": base, "extra_ms_per_step": mine - base, "rounds": rounds})
    return rows


def run_case(case: Case, device: Device, hook: ProgressHook, tiny: bool, first: bool, deadline: float, log) -> dict:
    """One case within its budget (and the whole check's ``deadline``, a perf_counter time)."""
    import comfy.model_management
    started = time.perf_counter()
    case_deadline = min(started + case.budget_s, deadline)
    model = build_model(case, tiny)
    built = time.perf_counter() - started
    runs = Runs(model, case, tiny, device.timer)
    loaded = device.run(runs.plain_image)  # loads the model onto the device
    log(f"[{case.label}] built in {built:.1f} s, first run (with loading) {loaded.seconds:.2f} s")
    result = {"case": asdict(case), "build_seconds": built, "first_run_seconds": loaded.seconds,
              "parameters": sum(p.numel() for p in model.model.diffusion_model.parameters())}
    if first:  # the checks and the per-sampler costs, once per device, on the first (fp16 SD1.5) case
        result["cancel"] = check_cancel(runs, hook, device)
        result["previews"] = check_previews(runs, hook, device)
        result["trajectory"] = check_trajectory_devices(runs, device)
        result["sampler_kinds"] = sampler_kind_costs(runs, device, NULL_ROUNDS["tiny" if tiny else "full"])
        result["checks_seconds"] = time.perf_counter() - started - built - loaded.seconds
        log(f"  cancel {result['cancel']}, previews {result['previews']}; checks and per-sampler rows "
            f"{result['checks_seconds']:.1f} s")
    for index, mode in enumerate(case.modes):
        modes_left = len(case.modes) - index

        def rounds_for(round_seconds: float) -> int:
            share = (case_deadline - time.perf_counter()) / modes_left
            return rounds_within(share, round_seconds, case.min_rounds, case.max_rounds)

        timed = alternate(device, runs.contenders(mode), rounds_for)
        mine, base = timed.values()
        result[mode] = summary(mine, base)
        r = result[mode]
        log(f"  {mode}: {r['rounds']} rounds, ratio {r['ratio']:.3f} [{r['ratio_interval'][0]:.3f}, "
            f"{r['ratio_interval'][1]:.3f}], model-adjusted {r['adjusted_ratio']:.4f}")
    del runs, model
    comfy.model_management.unload_all_models()
    gc.collect()
    comfy.model_management.soft_empty_cache()
    result["seconds"] = time.perf_counter() - started
    return result


# --- set-up and report -------------------------------------------------------------------------------

def comfyui_source(carry: Path | None) -> Path:
    if carry is not None:
        return carry / "comfyui"
    if os.environ.get("COMFYUI_PATH"):
        return Path(os.environ["COMFYUI_PATH"])
    cache = Path(os.environ.get("MAGICMIX_CACHE") or Path.home() / ".cache" / "comfyui-magicmix")
    return cache / "comfyui"


def import_comfy(carry: Path | None, device: str) -> Path:
    """Put ComfyUI (and the carried packages) on sys.path and parse its arguments, as main.py does."""
    host = comfyui_source(carry).resolve()
    if not (host / "comfy" / "model_management.py").is_file():
        raise SystemExit(f"--carry/COMFYUI_PATH: no ComfyUI source at {host} (run tools/prepare_gpu_check.py)")
    paths = [str(host)] + ([str(carry.resolve() / "site")] if carry is not None else [])
    sys.path[:0] = paths
    sys.path.append(str(PACK_DIR))  # magicmix_core; last, so that ComfyUI's modules win any name
    import comfy.options
    saved = sys.argv
    sys.argv = (["main.py", "--disable-api-nodes", "--preview-method", "latent2rgb"]
                + (["--cpu"] if device == "cpu" else []))
    try:
        comfy.options.enable_args_parsing()
        import comfy.cli_args  # noqa: F401  (parses sys.argv now)
    finally:
        comfy.options.enable_args_parsing(False)
        sys.argv = saved
    return host


def describe(device: Device, host: Path) -> dict:
    import comfy.model_management
    import torch
    import torchsde
    import comfyui_version  # ComfyUI's own, on sys.path since import_comfy
    machine = {"python": platform.python_version(), "torch": torch.__version__, "comfyui": comfyui_version.__version__,
               "platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "imported_from": {"comfy": str(Path(comfy.model_management.__file__).parent),
                                 "torchsde": str(Path(torchsde.__file__).parent)}}
    if device.cuda:
        machine["gpu"] = torch.cuda.get_device_name()
        machine["cuda"] = torch.version.cuda
    return machine


def _mib(value) -> str:
    return "n/a" if value is None else f"{value / 2**20:.1f}"


def _size(case: dict) -> str:
    return f"{case['width']}x{case['height']}" + (f", {case['frames']} frames" if case["frames"] else "")


def _interval(pair: list[float], digits: int = 3) -> str:
    return f"{pair[0]:.{digits}f} to {pair[1]:.{digits}f}"


def render_cases(report: dict) -> list[str]:
    lines = ["| model | dtype | size | steps, cfg | mode | rounds | MagicMix s (+-) | baseline s (+-) | wall ratio "
             "| interval | model-adjusted ratio (interval) | extra ms outside the model | model calls "
             "| peak MiB MagicMix / baseline | finite | same seed, same latent |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in report["cases"]:
        case = c["case"]
        cfg = f"{case['steps']}, {case['cfg']:g}" + (f" (guidance {case['guidance']:g})" if case["guidance"] else "")
        for mode in case["modes"]:
            r = c[mode]
            baseline = "KSamplerAdvanced" if mode == "image" else "plain runs"
            calls = (f"{r['model_calls']} / {r['baseline_model_calls']}" if r["same_model_calls"]
                     else f"**{r['model_calls']} / {r['baseline_model_calls']}**")
            lines.append(
                f"| {case['family']} | {case['dtype']} | {_size(case)} | {cfg} | {mode} (vs {baseline}) "
                f"| {r['rounds']} "
                f"| {r['median_seconds']:.3f} ({r['spread']:.0%}) | {r['baseline_median_seconds']:.3f} "
                f"({r['baseline_spread']:.0%}) | {r['ratio']:.3f} | {_interval(r['ratio_interval'])} "
                f"({r['interval_coverage']:.0%}) | {r['adjusted_ratio']:.4f} ({_interval(r['adjusted_interval'], 4)}) "
                f"| {r['extra_outside_model_ms']:+.1f} | {calls} "
                f"| {_mib(r.get('peak_bytes'))} / {_mib(r.get('baseline_peak_bytes'))} "
                f"| {'yes' if r['finite'] else '**NO**'} | {'yes' if r['same_seed_same_result'] else '**NO**'} |")
    return lines


def render_budget(report: dict) -> list[str]:
    budget = report["budget"]
    lines = ["", f"Time budget: {budget['total_s']:.0f} s for the whole check (a case starts only if its budget fits "
             f"in what is left); spent {report['seconds']:.0f} s.", "",
             "| case | budget s | spent s | build s | first run s | timed rounds per mode |",
             "|---|---|---|---|---|---|"]
    for c in report["cases"]:
        rounds = ", ".join(f"{mode} {c[mode]['rounds']}" for mode in c["case"]["modes"])
        lines.append(f"| {Case(**c['case']).label} | {c['case']['budget_s']:.0f} | {c['seconds']:.1f} "
                     f"| {c['build_seconds']:.1f} | {c['first_run_seconds']:.2f} | {rounds} |")
    for skipped in report["skipped"]:
        lines.append(f"| {Case(**skipped).label} | {skipped['budget_s']:.0f} | not run: over the time left | | | |")
    lines += ["", "Not in the check (over the time budget):"] + [f"- {line}" for line in report["not_in_the_check"]]
    return lines


def render_checks(first: dict) -> list[str]:
    c, p, t = first["cancel"], first["previews"], first["trajectory"]
    case = first["case"]
    rounds = first["sampler_kinds"][0]["rounds"]
    lines = ["", f"Checks on {case['family']} {case['dtype']}:",
             f"- Cancel: interrupt flag set at progress update {c['set_at_step']}: "
             f"{'stopped' if c['stopped'] else '**did not stop**'} after {c['model_calls_after_the_flag']} more "
             f"model calls, {c['ms_to_stop']:.1f} ms.",
             f"- Previews (latent2rgb): {p['previews']} previews in {p['progress_updates']} progress updates for "
             f"{p['steps']} steps.",
             "- Text layout trajectory: " + ", ".join(
                 f"on {store}: {v['seconds']:.3f} s, peak {_mib(v['peak_bytes'])} MiB"
                 for store, v in t["stores"].items()) + f"; max |difference| {t['max_abs_difference']:.3g}.",
             "", f"ms per layout step outside the model (null model, bench/sampler_kinds.py; one untimed pass over the "
             f"list, then per sampler {rounds} alternating rounds, median):", "",
             "| sampler | kind | MagicMix | KSamplerAdvanced | extra |", "|---|---|---|---|---|"]
    for r in first["sampler_kinds"]:
        lines.append(f"| {r['sampler']} | {r['kind']} | {r['outside_ms_per_step']:.3f} "
                     f"| {r['baseline_outside_ms_per_step']:.3f} | {r['extra_ms_per_step']:+.3f} |")
    return lines


def render(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    dry = report["tiny"]
    warm = report["clock_warm_up"]
    title = "dry run on the CPU, tiny models: the code path, not figures" if dry else m.get("gpu", "cpu")
    lines = [f"## GPU check ({title})",
             "",
             f"Made by `bench/gpu_check.py --device {report['device']}{' --tiny' if dry else ''}` on {report['date']} "
             f"in {report['seconds']:.0f} s. Python {m['python']}, torch {m['torch']}"
             + (f" (CUDA {m['cuda']})" if "cuda" in m else "") + f", ComfyUI {m['comfyui']}, {m['platform']}.",
             f"Settings: k_max {s['k_max']}, k_min {s['k_min']}, nu {s['nu']}, {s['sampler']}, batch 1; steps, cfg and "
             "scheduler per case (SD: normal, Flux and WAN: simple); random weights, "
             + ("the same classes small (magicmix_dev's tiny models)" if dry else
                "SD1.5 and SDXL UNets, a Flux-dev-size and a WAN-2.1-1.3B-size transformer")
             + " built on the device from ComfyUI's classes.",
             "GPU clocks: " + (f"warmed first by {warm['seconds']:.1f} s of bf16 {warm['side']}^3 matmuls "
                               f"({warm['last_tflops']:.0f} TFLOPS at the end)." if warm else "no warm-up (CPU)."),
             "",
             "Each mode: a dropped warm-up round, then the rounds its budget allows, MagicMix and the baseline "
             "alternating, the order flipping each round. Ratios are medians of the per-round ratios, with a "
             "distribution-free interval (order statistics; its coverage in brackets); (+-) is half the range "
             "of a side's times over its median. Model-adjusted ratio: (baseline time + MagicMix's extra time "
             "outside the model calls) / baseline time, per round, the model's time taken by "
             + ("the clock around each call." if report["device"] == "cpu" else "CUDA events around each call."),
             ""]
    if "full_size_parameters" in report:
        lines += ["Full-size models of the GPU run, built here on the meta device (no weights): " + ", ".join(
            f"{family} {count / 1e9:.2f} B parameters" for family, count in report["full_size_parameters"].items())
                  + ".", ""]
    lines += render_cases(report)
    lines += render_budget(report)
    first = report["cases"][0] if report["cases"] else None
    if first and "cancel" in first:
        lines += render_checks(first)
    return "\n".join(lines) + "\n"


def parse_arguments(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The prepared GPU check (see the module docstring)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny models of the same classes, 10 steps: the dry run")
    parser.add_argument("--carry", type=Path,
                        help="the folder of tools/prepare_gpu_check.py (default: the set-up's ComfyUI)")
    parser.add_argument("--out", type=Path, help="the Markdown report (needed unless --embed)")
    parser.add_argument("--json", type=Path, help="also the raw results")
    parser.add_argument("--embed-into", type=Path, help="also put the report into this RESULTS.md, between markers")
    parser.add_argument("--embed", type=Path, metavar="REPORT",
                        help="run nothing: put this report (e.g. fetched from the GPU machine) into --embed-into "
                             "(default bench/RESULTS.md)")
    parser.add_argument("--budget-s", type=float, default=300.0,
                        help="the whole check's time budget; a case starts only if its own budget fits in what is "
                             "left (default %(default)s)")
    parser.add_argument("--warm-s", type=float, default=10.0,
                        help="seconds of matmuls that warm the GPU clocks before anything is timed (CUDA only; "
                             "default %(default)s)")
    args = parser.parse_args(argv)
    if args.embed is None and args.out is None:
        parser.error("--out is needed (or --embed REPORT)")
    return args


def embed_report(report: Path, target: Path | None) -> None:
    target = target or BENCH_DIR / "RESULTS.md"
    target.write_text(embed_in_results(target.read_text(), report.read_text()))
    print(f"{report} is now in {target}")


def start_comfy(args) -> tuple[Device, ProgressHook, Path] | None:
    """ComfyUI imported on the asked device with the progress hook installed; None (said why) when that device
    is not what torch or ComfyUI gives here."""
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"--device cuda: torch {torch.__version__} sees no CUDA device here; use --device cpu for the dry run",
              file=sys.stderr)
        return None
    host = import_comfy(args.carry, args.device)
    import comfy.model_management
    import comfy.utils
    if str(comfy.model_management.get_torch_device()).split(":")[0] != args.device:
        print(f"ComfyUI picked {comfy.model_management.get_torch_device()}, not {args.device}", file=sys.stderr)
        return None
    hook = ProgressHook()
    comfy.utils.set_progress_bar_global_hook(hook)
    comfy.utils.PROGRESS_BAR_ENABLED = False  # no tqdm lines, for MagicMix and the baselines alike
    return Device(args.device), hook, host


def run_cases(args, device: Device, hook: ProgressHook, host: Path, started: float, log) -> dict:
    """The clock warm-up, then every case in turn (one whose budget no longer fits is skipped), the checks on
    the first."""
    cases = TINY_CASES if args.tiny else FULL_CASES
    report = {"device": args.device, "tiny": args.tiny, "settings": asdict(BASE_SETTINGS),
              "machine": describe(device, host), "date": time.strftime("%Y-%m-%d %H:%M %Z"), "cases": [], "skipped": [],
              "not_in_the_check": list(NOT_IN_THE_CHECK), "budget": {"total_s": args.budget_s}}
    report["clock_warm_up"] = warm_clocks(device, args.warm_s)
    if args.tiny:
        report["full_size_parameters"] = full_size_parameters()
    deadline = started + args.budget_s
    for index, case in enumerate(cases):
        if index > 0 and time.perf_counter() + case.budget_s > deadline:
            report["skipped"].append(asdict(case))
            continue
        report["cases"].append(run_case(case, device, hook, args.tiny, index == 0, deadline, log))
    report["seconds"] = time.perf_counter() - started
    return report


def write_report(args, report: dict) -> None:
    text = render(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    if args.embed_into:
        args.embed_into.write_text(embed_in_results(args.embed_into.read_text(), text))
    print(text)


def checks_passed(report: dict) -> bool:
    first = report["cases"][0]
    rows = [c[mode] for c in report["cases"] for mode in c["case"]["modes"]]
    return (all(r["finite"] and r["same_seed_same_result"] and r["same_model_calls"] for r in rows)
            and first["cancel"]["stopped"] and first["previews"]["previews"] > 0
            and first["trajectory"]["max_abs_difference"] == 0)


def main(argv=None) -> int:
    args = parse_arguments(argv)
    if args.embed is not None:
        embed_report(args.embed, args.embed_into)
        return 0
    started = time.perf_counter()
    started_comfy = start_comfy(args)
    if started_comfy is None:
        return 2
    report = run_cases(args, *started_comfy, started, lambda message: print(message, file=sys.stderr, flush=True))
    write_report(args, report)
    return 0 if checks_passed(report) else 1


if __name__ == "__main__":
    sys.exit(main())
