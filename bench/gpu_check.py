"""The prepared GPU check: MagicMix on full-size SD1.5 and SDXL architectures, in-process, in minutes.

It needs a CUDA machine with its own Python and torch (and the few packages ComfyUI imports on this path:
tools/prepare_gpu_check.py lists them), no package index, and room for the repository plus a carry
folder of at most 60 MiB. This script is what runs there, in one go (no server, no frontend), in about
5 minutes:

    python3 tools/prepare_gpu_check.py        # on a machine with the set-up: the carry folder .gpu-check/
    python3 bench/gpu_check.py --device cuda --carry .gpu-check --out report/gpu_check.md --json report/gpu_check.json

The carry folder holds the ComfyUI source and the pure-Python packages ComfyUI imports that such a
machine lacks (tools/prepare_gpu_check.py says which). The same script is the CI dry run:

    python bench/gpu_check.py --device cpu --tiny --carry DIR --out FILE   # tiny models, same code path

``--device cuda`` where torch sees no CUDA exits with status 2 before anything else runs.

On random-weight UNets of SD1.5 (512 px) and SDXL (1024 px) widths and depths, built in-process from
ComfyUI's classes (``--tiny``: one-level 32-channel UNets at 64 px), in fp16 and fp32, it measures:

- MagicMix image layout against KSamplerAdvanced from step T - K_max, and text layout against the two
  plain KSamplerAdvanced runs with the same model calls (bench/README.md), alternating rounds, timed
  with CUDA synchronisation; peak CUDA memory above the loaded model against the baseline's;
- the cost outside the model per layout step for each kind of sampler (bench/sampler_kinds.py's null
  model, the same list as the CPU bench);
- checks: outputs finite; the same seed gives the same latent; Cancel (ComfyUI's interrupt flag, seen
  through the progress hook as the server installs it) stops within a step; previews are produced
  (latent2rgb) at every step; text layout with the trajectory kept on the CPU (ComfyUI's default
  intermediate device) and on the GPU (``--gpu-only``) gives the same result.

MagicMix runs through the pack's engine (``magicmix_comfy``) exactly as the nodes call it, KSamplerAdvanced through
``comfy.sample.sample`` with the arguments ``nodes.common_ksampler`` gives it; the node classes
themselves need ``comfy_api`` (and PyAV), which such a machine does not have.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PACK_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
import sampler_kinds  # noqa: E402  (bench/sampler_kinds.py: the sampler list and the null model)
from results_file import embed_in_results  # noqa: E402
from run_bench import Settings, stand_in_layout_latent  # noqa: E402  (the CPU bench's settings and inputs)

sys.path.append(str(PACK_DIR))  # magicmix_dev; last: the pack's nodes/ must not shadow ComfyUI's nodes.py
from magicmix_dev.checkpoints import initialise_weights  # noqa: E402  (the test checkpoint's seeded initialisation)
from magicmix_dev.tiny_models import (  # noqa: E402  (the tests' one-level UNets and CLIP's widths)
    SD15_CONTEXT, SDXL_ADM, SDXL_CONTEXT, SDXL_POOLED, TOKENS, sd15_unet_config, sdxl_unet_config, small_heads)

# --- what runs -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    family: str  # "sd15" or "sdxl"
    dtype: str  # "float16" or "float32"
    pixels: int
    rounds: int


FULL_CASES = (Case("sd15", "float16", 512, 3), Case("sdxl", "float16", 1024, 3),
              Case("sd15", "float32", 512, 2), Case("sdxl", "float32", 1024, 2))
TINY_CASES = (Case("sd15", "float16", 64, 1), Case("sdxl", "float16", 64, 1),
              Case("sd15", "float32", 64, 1), Case("sdxl", "float32", 64, 1))
# the CPU bench's settings (bench/run_bench.py), 30 steps; the image size comes from each Case
FULL_SETTINGS, TINY_SETTINGS = Settings(steps=30), Settings(steps=10)
NULL_ROUNDS = {"full": 3, "tiny": 1}

def unet_config(family: str, tiny: bool) -> dict:
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


def build_model(family: str, dtype_name: str, tiny: bool, seed: int = 0):
    """A ModelPatcher of random weights (normal / sqrt(fan_in), norms 1, biases 0), left on the offload
    device so that ComfyUI loads it for sampling as it loads a checkpoint."""
    import torch
    import comfy.model_base
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models

    dtype = getattr(torch, dtype_name)
    config_class = comfy.supported_models.SD15 if family == "sd15" else comfy.supported_models.SDXL
    config = config_class(unet_config(family, tiny))
    if tiny:  # the configs set full-size heads in __init__
        small_heads(config)
    config.set_inference_dtype(dtype, None)
    load_device = comfy.model_management.get_torch_device()
    base_class = comfy.model_base.BaseModel if family == "sd15" else comfy.model_base.SDXL
    base = base_class(config, model_type=comfy.model_base.ModelType.EPS, device=load_device)
    initialise_weights(base, torch.Generator(device=load_device).manual_seed(seed))
    offload = comfy.model_management.unet_offload_device()
    base.to(offload)
    return comfy.model_patcher.ModelPatcher(base, load_device=load_device, offload_device=offload)


def conditioning(family: str, pixels: int, seed: int) -> list:
    import torch
    generator = torch.Generator().manual_seed(seed)
    if family == "sd15":
        return [[torch.randn((1, TOKENS, SD15_CONTEXT), generator=generator), {}]]
    extras = {"pooled_output": torch.randn((1, SDXL_POOLED), generator=generator), "width": pixels,
              "height": pixels, "crop_w": 0, "crop_h": 0, "target_width": pixels, "target_height": pixels}
    return [[torch.randn((1, TOKENS, SDXL_CONTEXT), generator=generator), extras]]


class Runs:
    """MagicMix (through the engine, as the nodes call it) and KSamplerAdvanced (as common_ksampler calls
    comfy.sample)."""

    def __init__(self, model, family: str, pixels: int, s: Settings):
        import torch
        from magicmix_dev.pack import pack_module
        self.torch, self.s = torch, s
        self.build_layout = pack_module("magicmix_comfy.layout_building").build_layout
        self.phases = pack_module("magicmix_comfy.phases")
        levels = pack_module("magicmix_core.levels")
        self.model, self.pixels = model, pixels
        self.content, self.layout_prompt, self.negative = (conditioning(family, pixels, seed) for seed in (1, 2, 3))
        self.levels = levels.LevelRange.from_fractions(s.k_min, s.k_max, s.steps)
        self.nus = levels.nu_values(s.nu, None, self.levels.mix_count)
        self.image = stand_in_layout_latent(pixels)
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


# --- measuring -------------------------------------------------------------------------------------

class Device:
    def __init__(self, name: str):
        import torch
        self.torch, self.cuda = torch, name == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def run(self, function):
        """(result, seconds, peak bytes above the start or None on the CPU)."""
        torch = self.torch
        gc.collect()
        self.sync()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            start_bytes = torch.cuda.memory_allocated()
        with torch.inference_mode():
            start = time.perf_counter()
            result = function()
            self.sync()
            seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() - start_bytes if self.cuda else None
        return result, seconds, peak


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


def alternate(device: Device, contenders: dict, rounds: int) -> dict:
    """One dropped warm-up round, then ``rounds`` rounds, the order flipping each round."""
    kept = {name: [] for name in contenders}
    for round_index in range(rounds + 1):
        names = list(contenders) if round_index % 2 == 0 else list(contenders)[::-1]
        for name in names:
            measured = device.run(contenders[name])
            if round_index > 0:
                kept[name].append(measured)
    return kept


def summary(mine: list, base: list) -> dict:
    ratios = [m[1] / b[1] for m, b in zip(mine, base)]
    row = {"seconds": [m[1] for m in mine], "baseline_seconds": [b[1] for b in base],
           "median_seconds": statistics.median(m[1] for m in mine),
           "baseline_median_seconds": statistics.median(b[1] for b in base),
           "ratios": ratios, "ratio": statistics.median(ratios)}
    if mine[0][2] is not None:
        row["peak_bytes"] = statistics.median(m[2] for m in mine)
        row["baseline_peak_bytes"] = statistics.median(b[2] for b in base)
    finite = all(bool(m[0].isfinite().all()) for m in mine + base)
    same = all(bool((m[0] == mine[0][0]).all()) for m in mine)
    return {**row, "finite": finite, "same_seed_same_result": same}


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
            latent, seconds, peak = device.run(runs.magicmix_text)
            results[store] = {"seconds": seconds, "peak_bytes": peak, "latent": latent.cpu()}
    finally:
        mm.args.gpu_only = saved
    latents = [r.pop("latent") for r in results.values()]
    difference = float((latents[0] - latents[-1]).abs().max())
    return {"stores": results, "max_abs_difference": difference}


def sampler_kind_costs(runs: Runs, device: Device, rounds: int) -> list[dict]:
    """ms per layout step outside the model, MagicMix against KSamplerAdvanced, on the null model."""
    nulled, null = sampler_kinds.null_model(runs.model)
    steps = runs.levels.mix_count
    rows = []
    for sampler, kind in sampler_kinds.SAMPLER_KINDS:
        timed = alternate(device, {"MagicMix": lambda: runs.layout_phase(nulled, sampler),
                                   "KSamplerAdvanced": lambda: runs.plain_layout_phase(nulled, sampler)}, rounds)
        mine = statistics.median(t[1] for t in timed["MagicMix"]) * 1000 / steps
        base = statistics.median(t[1] for t in timed["KSamplerAdvanced"]) * 1000 / steps
        rows.append({"sampler": sampler, "kind": kind, "outside_ms_per_step": mine,
                     "baseline_outside_ms_per_step": base, "extra_ms_per_step": mine - base})
    return rows


def run_case(case: Case, s: Settings, device: Device, hook: ProgressHook, tiny: bool, first: bool, log) -> dict:
    import comfy.model_management
    started = time.perf_counter()
    model = build_model(case.family, case.dtype, tiny)
    built = time.perf_counter() - started
    runs = Runs(model, case.family, case.pixels, s)
    _, first_seconds, _ = device.run(runs.plain_image)  # loads the model onto the device
    log(f"[{case.family} {case.dtype}] built in {built:.1f} s, first run (with loading) {first_seconds:.2f} s")
    image = alternate(device, {"MagicMix": runs.magicmix_image, "KSamplerAdvanced": runs.plain_image}, case.rounds)
    text = alternate(device, {"MagicMix": runs.magicmix_text, "plain runs": runs.plain_text}, case.rounds)
    result = {"case": asdict(case), "build_seconds": built, "first_run_seconds": first_seconds,
              "image": summary(image["MagicMix"], image["KSamplerAdvanced"]),
              "text": summary(text["MagicMix"], text["plain runs"])}
    log(f"  image ratio {result['image']['ratio']:.3f}, text ratio {result['text']['ratio']:.3f}")
    if first:  # the checks and the per-sampler costs, once per device, on the first (fp16 SD1.5) case
        result["cancel"] = check_cancel(runs, hook, device)
        result["previews"] = check_previews(runs, hook, device)
        result["trajectory"] = check_trajectory_devices(runs, device)
        result["sampler_kinds"] = sampler_kind_costs(runs, device, NULL_ROUNDS["tiny" if tiny else "full"])
        log(f"  cancel {result['cancel']}, previews {result['previews']}")
    del runs, model
    comfy.model_management.unload_all_models()
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
    sys.argv = ["main.py", "--disable-api-nodes", "--preview-method", "latent2rgb"] + (["--cpu"] if device == "cpu" else [])
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
               "imported_from": {"comfy": str(Path(comfy.model_management.__file__).parent), "torchsde": str(Path(torchsde.__file__).parent)}}
    if device.cuda:
        machine["gpu"] = torch.cuda.get_device_name()
        machine["cuda"] = torch.version.cuda
    return machine


def _mib(value) -> str:
    return "n/a" if value is None else f"{value / 2**20:.1f}"


def render(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    dry = report["tiny"]
    lines = [f"## GPU check ({'dry run on the CPU, tiny models: the code path, not figures' if dry else m.get('gpu', 'cpu')})",
             "",
             f"Made by `bench/gpu_check.py --device {report['device']}{' --tiny' if dry else ''}` on {report['date']} "
             f"in {report['seconds']:.0f} s. Python {m['python']}, torch {m['torch']}"
             + (f" (CUDA {m['cuda']})" if "cuda" in m else "") + f", ComfyUI {m['comfyui']}, {m['platform']}.",
             f"Settings: {s['steps']} steps, k_max {s['k_max']}, k_min {s['k_min']}, nu {s['nu']}, cfg {s['cfg']}, "
             f"{s['sampler']}/{s['scheduler']}, batch 1; random-weight UNets of "
             + ("one level, 32 channels" if dry else "SD1.5 and SDXL widths and depths") + ".", "",
             "| model | dtype | px | mode | MagicMix s | baseline s | wall ratio | per-round ratios | peak MiB MagicMix / baseline "
             "| finite | same seed, same latent |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in report["cases"]:
        case = c["case"]
        for mode, baseline in (("image", "KSamplerAdvanced"), ("text", "plain runs")):
            r = c[mode]
            lines.append(f"| {case['family']} | {case['dtype']} | {case['pixels']} | {mode} (vs {baseline}) "
                         f"| {r['median_seconds']:.3f} | {r['baseline_median_seconds']:.3f} | {r['ratio']:.3f} "
                         f"| {', '.join(f'{x:.3f}' for x in r['ratios'])} "
                         f"| {_mib(r.get('peak_bytes'))} / {_mib(r.get('baseline_peak_bytes'))} "
                         f"| {'yes' if r['finite'] else '**NO**'} | {'yes' if r['same_seed_same_result'] else '**NO**'} |")
    for skipped in report["skipped"]:
        lines.append(f"| {skipped['family']} | {skipped['dtype']} | {skipped['pixels']} | skipped: over the time budget "
                     f"| | | | | | | |")
    first = report["cases"][0] if report["cases"] else None
    if first and "cancel" in first:
        c, p, t = first["cancel"], first["previews"], first["trajectory"]
        case = first["case"]
        lines += ["", f"Checks on {case['family']} {case['dtype']}:",
                  f"- Cancel: interrupt flag set at progress update {c['set_at_step']}: "
                  f"{'stopped' if c['stopped'] else '**did not stop**'} after {c['model_calls_after_the_flag']} more "
                  f"model calls, {c['ms_to_stop']:.1f} ms.",
                  f"- Previews (latent2rgb): {p['previews']} previews in {p['progress_updates']} progress updates for "
                  f"{p['steps']} steps.",
                  "- Text layout trajectory: " + ", ".join(
                      f"on {store}: {v['seconds']:.3f} s, peak {_mib(v['peak_bytes'])} MiB"
                      for store, v in t["stores"].items()) + f"; max |difference| {t['max_abs_difference']:.3g}.",
                  "", "ms per layout step outside the model (null model, bench/sampler_kinds.py):", "",
                  "| sampler | kind | MagicMix | KSamplerAdvanced | extra |", "|---|---|---|---|---|"]
        for r in first["sampler_kinds"]:
            lines.append(f"| {r['sampler']} | {r['kind']} | {r['outside_ms_per_step']:.3f} "
                         f"| {r['baseline_outside_ms_per_step']:.3f} | {r['extra_ms_per_step']:+.3f} |")
    return "\n".join(lines) + "\n"


def parse_arguments(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The prepared GPU check (see the module docstring)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny models at 64 px, 10 steps: the dry run")
    parser.add_argument("--carry", type=Path,
                        help="the folder of tools/prepare_gpu_check.py (default: the set-up's ComfyUI)")
    parser.add_argument("--out", type=Path, help="the Markdown report (needed unless --embed)")
    parser.add_argument("--json", type=Path, help="also the raw results")
    parser.add_argument("--embed-into", type=Path, help="also put the report into this RESULTS.md, between markers")
    parser.add_argument("--embed", type=Path, metavar="REPORT",
                        help="run nothing: put this report (e.g. fetched from the GPU machine) into --embed-into "
                             "(default bench/RESULTS.md)")
    parser.add_argument("--budget-s", type=float, default=240.0,
                        help="start no further model case after this many seconds (default %(default)s)")
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
    """Every case in turn (none started after the time budget), with the checks on the first."""
    cases, s = (TINY_CASES, TINY_SETTINGS) if args.tiny else (FULL_CASES, FULL_SETTINGS)
    report = {"device": args.device, "tiny": args.tiny, "settings": asdict(s), "machine": describe(device, host),
              "date": time.strftime("%Y-%m-%d %H:%M %Z"), "cases": [], "skipped": []}
    for index, case in enumerate(cases):
        if index > 0 and time.perf_counter() - started > args.budget_s:
            report["skipped"].append(asdict(case))
            continue
        report["cases"].append(run_case(case, s, device, hook, args.tiny, index == 0, log))
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
    return (all(c[mode]["finite"] and c[mode]["same_seed_same_result"] for c in report["cases"]
                for mode in ("image", "text"))
            and first["cancel"]["stopped"] and first["previews"]["previews"] > 0)


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
