"""Where k_max and k_min land on each model family's schedule: writes bench/NOISE_LEVELS.md.

    python -m bench.noise_levels [--out bench/NOISE_LEVELS.md]

(from the repo root, with the set-up's venv: ``~/.cache/comfyui-magicmix/venv/bin/python``). No model
is loaded: each family's schedule comes from ComfyUI's own ``model_sampling`` classes, built from the
family's ``supported_models`` config (its shift and multiplier) or set as its usual ModelSampling node
sets them, and ``comfy.samplers.calculate_sigmas`` (or Flux2Scheduler). k counts steps of the model's
schedule, as KSamplerAdvanced's start_at_step does: level round(k * steps) is ``sigmas[steps - level]``.

Noise-to-signal is what the noised latent holds of noise per unit of image, comparable across
families: sigma itself for SD's EPS / V models (x = x_0 + sigma * noise), sigma / (1 - sigma) for
flow models (x = (1 - sigma) x_0 + sigma * noise). The "SD-matched" columns give the k_max / k_min
whose noise-to-signal is nearest to SD1.5's at the paper's settings (50 steps, k 0.6 / 0.3).
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from magicmix_core import defaults  # noqa: E402
from magicmix_core.levels import LevelRange  # noqa: E402

OUT = REPO / "bench" / "NOISE_LEVELS.md"


@dataclass
class Setting:
    family: str
    label: str  # how the schedule is set (node, shift, scheduler)
    steps: int
    sigmas: Callable[[int], list[float]]  # steps -> the T + 1 sigmas
    flow: bool  # noise-to-signal is sigma / (1 - sigma)


def _sampling(config_name: str, model_type: str, unet_config: dict | None = None):
    import comfy.model_base
    import comfy.supported_models
    config = getattr(comfy.supported_models, config_name)(unet_config or {})
    return comfy.model_base.model_sampling(config, getattr(comfy.model_base.ModelType, model_type))


def _discrete_flow(shift: float, multiplier: float):
    """What ModelSamplingSD3 (multiplier 1000) and ModelSamplingAuraFlow (multiplier 1) set."""
    import comfy.model_sampling

    class ModelSamplingAdvanced(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
        pass

    model_sampling = ModelSamplingAdvanced()
    model_sampling.set_parameters(shift=shift, multiplier=multiplier)
    return model_sampling


def _scheduled(model_sampling_of: Callable, scheduler: str) -> Callable[[int], list[float]]:
    def sigmas(steps: int) -> list[float]:
        import comfy.samplers
        return [float(s) for s in comfy.samplers.calculate_sigmas(model_sampling_of(), scheduler, steps)]
    return sigmas


def _flux2_scheduler(width: int, height: int) -> Callable[[int], list[float]]:
    def sigmas(steps: int) -> list[float]:
        from comfy_extras.nodes_flux import Flux2Scheduler
        return [float(s) for s in Flux2Scheduler.execute(steps, width, height).result[0]]
    return sigmas


def _ltxv_scheduler(frames: int, height: int, width: int) -> Callable[[int], list[float]]:
    """LTXVScheduler as LTXV's templates set it (max_shift 2.05, base_shift 0.95, stretch, terminal 0.1),
    its shift read from a video latent of this many pixel frames and size (128 channels, 8 x 32 x 32)."""
    def sigmas(steps: int) -> list[float]:
        import torch
        from comfy_extras.nodes_lt import LTXVScheduler
        latent = {"samples": torch.zeros((1, 128, (frames - 1) // 8 + 1, height // 32, width // 32))}
        return [float(s) for s in LTXVScheduler.execute(steps, 2.05, 0.95, True, 0.1, latent=latent).result[0]]
    return sigmas


def video_settings() -> list[Setting]:
    """The video families at their ComfyUI templates' settings (docs/video.md)."""
    wan21, wan22_5b = partial(_sampling, "WAN21_T2V", "FLOW"), partial(_sampling, "WAN22_T2V", "FLOW")
    hunyuan_video = partial(_sampling, "HunyuanVideo", "FLOW")
    return [
        Setting("WAN 2.1 T2V", "ModelSamplingSD3 8, simple", 30, _scheduled(wan21, "simple"), True),
        Setting("WAN 2.2 TI2V 5B", "ModelSamplingSD3 8, simple", 20, _scheduled(wan22_5b, "simple"), True),
        Setting("WAN 2.2 A14B", "ModelSamplingSD3 8, simple", 20,
                _scheduled(partial(_discrete_flow, 8.0, 1000.0), "simple"), True),
        Setting("WAN 2.2 A14B", "LightX2V LoRA: ModelSamplingSD3 5, simple", 4,
                _scheduled(partial(_discrete_flow, 5.0, 1000.0), "simple"), True),
        Setting("Hunyuan Video", "ModelSamplingSD3 7, simple", 20, _scheduled(hunyuan_video, "simple"), True),
        Setting("LTXV", "LTXVScheduler 768 x 512 x 97 frames", 30, _ltxv_scheduler(97, 512, 768), True),
    ]


def settings() -> list[Setting]:
    sd15, sdxl = partial(_sampling, "SD15", "EPS"), partial(_sampling, "SDXL", "EPS")
    flux = partial(_sampling, "Flux", "FLUX", {"guidance_embed": True})  # shift 1.15: ModelSamplingFlux at 1024 x 1024
    schnell, flux2 = partial(_sampling, "FluxSchnell", "FLOW"), partial(_sampling, "Flux2", "FLUX")
    sd3, qwen = partial(_sampling, "SD3", "FLOW"), partial(_sampling, "QwenImage", "FLUX")
    lumina2, hidream = partial(_sampling, "Lumina2", "FLOW"), partial(_sampling, "HiDream", "FLOW")
    auraflow = partial(_sampling, "AuraFlow", "FLOW")
    return [
        Setting("SD1.5", "EPS, normal", 50, _scheduled(sd15, "normal"), False),
        Setting("SDXL", "EPS, normal", 50, _scheduled(sdxl, "normal"), False),
        Setting("Flux dev", "ModelSamplingFlux 1.15 (1024 x 1024), simple", 20, _scheduled(flux, "simple"), True),
        Setting("Flux dev", "ModelSamplingFlux 1.15 (1024 x 1024), simple", 50, _scheduled(flux, "simple"), True),
        Setting("Flux schnell", "discrete flow shift 1, simple", 4, _scheduled(schnell, "simple"), True),
        Setting("Flux schnell", "discrete flow shift 1, simple", 8, _scheduled(schnell, "simple"), True),
        Setting("Flux 2", "Flux2Scheduler 1248 x 832", 20, _flux2_scheduler(1248, 832), True),
        Setting("Flux 2", "ModelSamplingFlux 2.02, simple", 20, _scheduled(flux2, "simple"), True),
        Setting("Chroma", "ModelSamplingAuraFlow 1, beta", 26, _scheduled(partial(_discrete_flow, 1.0, 1.0), "beta"),
                True),
        Setting("SD3.5", "shift 3, simple", 30, _scheduled(sd3, "simple"), True),
        Setting("SD3.5", "shift 3, simple", 50, _scheduled(sd3, "simple"), True),
        Setting("Qwen-Image", "ModelSamplingAuraFlow 3.1, simple", 20,
                _scheduled(partial(_discrete_flow, 3.1, 1.0), "simple"), True),
        Setting("Qwen-Image", "ModelSamplingFlux 1.15 (no node), simple", 50, _scheduled(qwen, "simple"), True),
        Setting("HiDream", "shift 1 (ComfyUI's default), simple", 50, _scheduled(hidream, "simple"), True),
        Setting("HiDream", "ModelSamplingSD3 3, simple", 50,
                _scheduled(partial(_discrete_flow, 3.0, 1000.0), "simple"), True),
        Setting("Lumina 2", "shift 6, simple", 30, _scheduled(lumina2, "simple"), True),
        Setting("Lumina 2", "shift 6, simple", 50, _scheduled(lumina2, "simple"), True),
        Setting("AuraFlow", "shift 1.73, simple", 30, _scheduled(auraflow, "simple"), True),
        *video_settings(),
    ]


def noise_to_signal(sigma: float, flow: bool) -> float:
    if not flow:
        return sigma
    return math.inf if sigma >= 1.0 else sigma / (1.0 - sigma)


def nearest_level(sigmas: list[float], flow: bool, target: float) -> int:
    """The level (1 .. T - 1) whose noise-to-signal is nearest to ``target`` (on a log scale)."""
    steps = len(sigmas) - 1
    return min(range(1, steps), key=lambda level: abs(math.log(noise_to_signal(sigmas[steps - level], flow) / target)))


def default_levels(steps: int) -> LevelRange:
    return LevelRange.from_fractions(defaults.K_MIN, defaults.K_MAX, steps)


def rows() -> tuple[list[str], tuple[float, float]]:
    all_settings = settings()
    reference = all_settings[0]
    reference_sigmas = reference.sigmas(reference.steps)
    reference_levels = default_levels(reference.steps)
    targets = tuple(noise_to_signal(reference_sigmas[reference.steps - level], reference.flow)
                    for level in (reference_levels.k_max_level, reference_levels.k_min_level))
    out = []
    for setting in all_settings:
        sigmas = setting.sigmas(setting.steps)
        levels = default_levels(setting.steps)
        cells = []
        for level in (levels.k_max_level, levels.k_min_level):
            sigma = sigmas[setting.steps - level]
            cells += [f"{level}", f"{sigma:.3f}", f"{noise_to_signal(sigma, setting.flow):.2f}"]
        matched = [nearest_level(sigmas, setting.flow, target) for target in targets]
        if matched[0] <= matched[1]:  # too few steps to keep both apart: one mix at the nearest pair
            matched = [matched[1] + 1, matched[1]] if matched[1] + 1 < setting.steps else [matched[0], matched[0] - 1]
        out.append(f"| {setting.family} | {setting.label} | {setting.steps} | {levels.mix_count} | "
                   + " | ".join(cells)
                   + f" | {matched[0] / setting.steps:.2f} / {matched[1] / setting.steps:.2f} | "
                   + " / ".join(f"{noise_to_signal(sigmas[setting.steps - level], setting.flow):.2f}"
                                for level in matched) + " |")
    return out, targets


def report() -> str:
    table, targets = rows()
    return "\n".join([
        "# Noise levels of k_max and k_min per model family",
        "",
        "Written by `python -m bench.noise_levels` from ComfyUI's own `model_sampling` classes (no model is "
        "loaded). Level = round(k * steps); sigma = the schedule's sigma at that level; NSR = SD-equivalent "
        "noise-to-signal (sigma for EPS models, sigma / (1 - sigma) for flow models). Defaults k_max "
        f"{defaults.K_MAX}, k_min {defaults.K_MIN}. SD-matched: the k_max / k_min whose NSR is nearest to "
        f"SD1.5's at 50 steps ({targets[0]:.2f} / {targets[1]:.2f}).",
        "",
        "| family | schedule | steps | mixes | K_max level | sigma | NSR | K_min level | sigma | NSR | "
        "SD-matched k_max / k_min | their NSR |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *table,
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    from magicmix_dev import host
    host.load_host_nodes()  # comfy_extras (Flux2Scheduler) as ComfyUI loads them
    text = report()
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
