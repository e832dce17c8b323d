"""The layout phase's cost for each kind of sampler: one sampler call per noise level, measured.

MagicMix's layout phase calls the chosen sampler once per level (it mixes after every step), where
KSamplerAdvanced calls it once for the whole range. For each representative of a row of
docs/samplers.md, the layout phase through the nodes (MagicMix Layout Noise, image layout, then
MagicMix Interpolated Sampler) runs against KSamplerAdvanced with the same sampler, scheduler and
steps over the same range (start step T - K_max, end step T - K_min, leftover noise returned).

Two models are used:

- the real (generated) checkpoint, for the wall ratio, the UNet-adjusted ratio and the evaluation
  counts (see bench/README.md for the two ratios);
- a *null model*: the same ModelPatcher with a UNet function wrapper that returns a fixed tensor and
  never runs the UNet. What such a run costs is everything outside the model (sampler arithmetic,
  per-call set-up such as noise samplers, MagicMix's mixing, Python), timed directly on any device:
  the figure that decides the overhead on a fast GPU, where a step's UNet takes milliseconds.
"""
from __future__ import annotations

import statistics
import time

# (sampler, its row of docs/samplers.md)
SAMPLER_KINDS = (
    ("euler", "one-step, deterministic"),
    ("euler_ancestral", "one-step, stochastic"),
    ("dpmpp_sde", "one-step, stochastic (Brownian tree)"),
    ("dpmpp_2m", "multistep"),
    ("dpmpp_2m_sde", "multistep, stochastic (Brownian tree)"),
    ("uni_pc", "lazy multistep"),
    ("sa_solver", "lazy multistep, stochastic"),
    ("heun", "one-step, two evaluations per step"),
    ("heunpp2", "look-ahead"),
    ("dpm_adaptive", "adaptive"),
)

ADAPTIVE = {"dpm_adaptive"}


class NullUnet:
    """A UNet function wrapper that answers every call with one fixed tensor and runs no model.

    The answer is a seeded normal tensor of the input's shape (x 0.1), made once per shape, dtype and
    device, so samplers see a finite, non-trivial model output and every call costs only a lookup.
    """

    def __init__(self):
        self.calls = 0
        self._answers = {}

    def __call__(self, apply_model, args):
        import torch
        x = args["input"]
        self.calls += 1
        key = (tuple(x.shape), x.dtype, x.device)
        answer = self._answers.get(key)
        if answer is None:
            generator = torch.Generator().manual_seed(0)
            answer = self._answers[key] = (0.1 * torch.randn(x.shape, generator=generator)).to(x)
        return answer


def null_model(model):
    """A clone of ``model`` whose UNet calls go to a NullUnet (returned too, for its call count)."""
    null = NullUnet()
    clone = model.clone()
    clone.set_model_unet_function_wrapper(null)
    return clone, null


def layout_phase_steps(s) -> int:
    return s.k_max_level - s.k_min_level


def magicmix_layout_phase(bench, model, s):
    """MagicMix Layout Noise (image layout) then MagicMix Interpolated Sampler: the layout phase only."""
    n = bench.nodes
    latent = bench.layout_latent(s)
    layout = n["MagicMixLayoutNoise"].execute(model, latent, s.seed, s.steps, s.scheduler, s.k_min, s.k_max,
                                              s.batch, s.cfg, s.sampler).result[0]
    return n["MagicMixInterpolatedSampler"].execute(model, layout, bench.content, bench.negative, s.cfg,
                                                    s.sampler, s.nu).result[0]


def plain_layout_phase(bench, model, s):
    """KSamplerAdvanced over the same levels: steps T - K_max .. T - K_min, noise added, leftover returned."""
    latent = bench.batched(bench.layout_latent(s), s)
    return bench.nodes["KSamplerAdvanced"]().sample(
        model, "enable", s.seed, s.steps, s.cfg, s.sampler, s.scheduler, bench.content, bench.negative, latent,
        s.steps - s.k_max_level, s.steps - s.k_min_level, "enable")[0]


def _timed(bench, run, null: NullUnet) -> tuple[float, int]:
    torch = bench.torch
    calls_before = null.calls
    with torch.inference_mode():
        if bench.device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if bench.device != "cpu":
            torch.cuda.synchronize()
        return time.perf_counter() - start, null.calls - calls_before


def measure_sampler_kinds(bench, base, rounds: int, null_rounds: int, log, comparison) -> list[dict]:
    """One row per sampler kind; ``comparison`` is run_bench's round-by-round MagicMix/baseline summary."""
    rows = []
    steps = layout_phase_steps(base)
    nulled, null = null_model(bench.model)
    for sampler, kind in SAMPLER_KINDS:
        s = base.with_(sampler=sampler)
        log(f"[{bench.device}] layout phase, {sampler} ({kind})")
        # real model: both contenders alternate, order flipping each round, after one dropped warm-up round
        real = {"MagicMix": [], "KSamplerAdvanced": []}
        contenders = {"MagicMix": lambda: bench.measure(lambda: magicmix_layout_phase(bench, bench.model, s)),
                      "KSamplerAdvanced": lambda: bench.measure(lambda: plain_layout_phase(bench, bench.model, s))}
        for round_index in range(rounds + 1):
            for name in (list(contenders) if round_index % 2 == 0 else list(contenders)[::-1]):
                measurement = contenders[name]()
                if round_index > 0:
                    real[name].append(measurement)
        summary = comparison(sampler, real["MagicMix"], "KSamplerAdvanced", real["KSamplerAdvanced"])
        # null model: the cost outside the model, per layout step
        outside = {"MagicMix": [], "KSamplerAdvanced": []}
        null_calls = {}
        runs = {"MagicMix": lambda: magicmix_layout_phase(bench, nulled, s),
                "KSamplerAdvanced": lambda: plain_layout_phase(bench, nulled, s)}
        for round_index in range(null_rounds + 1):
            for name in (list(runs) if round_index % 2 == 0 else list(runs)[::-1]):
                seconds, calls = _timed(bench, runs[name], null)
                if round_index > 0:
                    outside[name].append(seconds)
                    null_calls[name] = calls
        mine_ms = statistics.median(outside["MagicMix"]) * 1000 / steps
        base_ms = statistics.median(outside["KSamplerAdvanced"]) * 1000 / steps
        calls, base_calls = len(real["MagicMix"][-1].rows), len(real["KSamplerAdvanced"][-1].rows)
        row = {
            "sampler": sampler, "kind": kind, "layout_steps": steps,
            "calls": calls, "baseline_calls": base_calls,
            "null_calls": null_calls["MagicMix"], "baseline_null_calls": null_calls["KSamplerAdvanced"],
            "ratio": summary["ratio"], "ratios": summary["ratios"],
            "unet_adjusted_ratio": summary["unet_adjusted_ratio"],
            "median_seconds": summary["median_seconds"], "baseline_median_seconds": summary["baseline_median_seconds"],
            "unet_ms_per_call": 1000 * statistics.median(m.unet_seconds / max(1, len(m.rows))
                                                         for m in real["MagicMix"]),
            "outside_ms_per_step": mine_ms, "baseline_outside_ms_per_step": base_ms,
            "extra_outside_ms_per_step": mine_ms - base_ms,
            "outside_seconds": outside["MagicMix"], "baseline_outside_seconds": outside["KSamplerAdvanced"],
        }
        log(f"  {sampler}: calls {calls} / {base_calls}, wall ratio {row['ratio']:.3f}, adjusted "
            f"{row['unet_adjusted_ratio']:.4f}, outside the model {mine_ms:.3f} / {base_ms:.3f} ms per step")
        rows.append(row)
    return rows


def render_sampler_kinds(rows: list[dict], settings: dict, cpu: bool, rounds: int, null_rounds: int) -> list[str]:
    steps = rows[0]["layout_steps"] if rows else 0
    lines = [
        "### The layout phase per kind of sampler (one sampler call per level, against KSamplerAdvanced)", "",
        f"The layout phase alone, image layout, {settings['steps']} steps, k_max {settings['k_max']}, k_min "
        f"{settings['k_min']} ({steps} levels, {steps} mixes), {settings['scheduler']} scheduler: MagicMix Layout "
        "Noise + MagicMix Interpolated Sampler against KSamplerAdvanced with the same sampler over the same steps "
        f"(start T-K_max, end T-K_min, leftover noise returned). Real model: {rounds} rounds after a dropped "
        "warm-up, alternating; ratios are medians of the per-round ratios. Outside the model: the same runs on a "
        f"null model (a UNet wrapper that returns a fixed tensor; {null_rounds} rounds, median), i.e. everything "
        "but the UNet, per layout step. One representative per row of docs/samplers.md.", "",
        "| sampler | kind | model calls MagicMix / KSamplerAdvanced | wall ratio | UNet-adjusted ratio "
        "| ms per step outside the model: MagicMix / KSamplerAdvanced | extra ms per step | ms per UNet call |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        adjusted = f"{r['unet_adjusted_ratio']:.4f}" if cpu else "n/a"
        unet = f"{r['unet_ms_per_call']:.1f}" if cpu else "n/a"
        lines.append(f"| {r['sampler']} | {r['kind']} | {r['calls']} / {r['baseline_calls']} | {r['ratio']:.3f} "
                     f"| {adjusted} | {r['outside_ms_per_step']:.3f} / {r['baseline_outside_ms_per_step']:.3f} "
                     f"| {r['extra_outside_ms_per_step']:+.3f} | {unet} |")
    adaptive = [r for r in rows if r["sampler"] in ADAPTIVE]
    for r in adaptive:
        lines += ["", f"`{r['sampler']}`: MagicMix runs an adaptive solve inside each of the {steps} levels; "
                      f"the baseline is one adaptive solve over the whole range sigma(K_max)..sigma(K_min), with "
                      f"the step sizes it picks itself. The calls differ ({r['calls']} against "
                      f"{r['baseline_calls']}), so its ratio is the cost of the finer solve, not of per-call "
                      f"overhead; with the null model's fixed output the solver accepts larger steps "
                      f"({r['null_calls']} / {r['baseline_null_calls']} calls)."]
    return lines
