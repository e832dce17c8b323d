"""A demo model's own check, made before any MagicMix row is measured on it: its VAE round trip, its
txt2img accuracy and its switch-level curve (text layout: the layout prompt from pure noise down to a
level, then the content prompt), and the band of switch levels where the silhouette is kept in >= 90 %
and the content's pattern adopted in >= 80 % (the band world v2 is designed for: docs/demo_world.md).

    python -m bench.quality.model_check --world v2 [--unet PATH] [--decoder PATH] [--pairs 24] [--seeds 0 1 2]
        [--json OUT]

``--only round_trip txt2img curve``: some of the three (the round trip takes a minute, the curve most of the time).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from . import mixing as M

LEVELS = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
PARTS = ("round_trip", "txt2img", "curve")
BAND_KEPT, BAND_ADOPTED = 0.9, 0.8  # issue 25's design target for world v2, as point estimates


def curve(demo, spec, pairs: int, seeds: list[int], progress=print) -> list[dict]:
    """One row per switch level: kept, adopted and both as (rate, low, high) Wilson intervals."""
    cells = [(M.TEXT, M.Method("switch", switch_at=level)) for level in LEVELS]
    results = M.run_cells(demo, M.make_pairs(pairs, spec=spec), seeds, cells, progress)
    return [{"level": cell.method.switch_at, "n": cell.n, "iou": cell.iou_interval()[0],
             **{which: cell.rate(which) for which in ("kept", "adopted", "both")}} for cell in results]


def band(rows: list[dict]) -> list[float]:
    """The switch levels whose kept and adopted rates reach BAND_KEPT and BAND_ADOPTED."""
    return [r["level"] for r in rows if r["kept"][0] >= BAND_KEPT and r["adopted"][0] >= BAND_ADOPTED]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="v2", choices=("v1", "v2"))
    parser.add_argument("--unet", type=Path, help="UNet EMA weights (default: the world's committed ones)")
    parser.add_argument("--decoder", type=Path, help="TAESD decoder weights (default: the world's committed ones)")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure")
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=96, help="txt2img samples")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    from demo_world import checkpoint, training

    from . import model, reproduce, txt2img
    spec = checkpoint.MODELS[args.world].world
    weights = args.unet or checkpoint.MODELS[args.world].unet
    demo = model.load(unet_weights=args.unet, decoder_weights=args.decoder, world=args.world)
    figures = {"world": dataclasses.asdict(spec), "steps": training.trained_steps(weights) if weights.is_file() else 0,
               "decoder": str(args.decoder or checkpoint.MODELS[args.world].decoder)}
    print(f"world {args.world}, UNet after {figures['steps']} steps", flush=True)
    if "round_trip" in args.only:
        with torch.no_grad():
            figures["vae"] = vae = reproduce.round_trip(demo, spec)
        print(f"VAE round trip, {reproduce.ROUND_TRIP_IMAGES} images: mean absolute error {vae['error']:.4f}, "
              f"read right: shape {vae['shape']:.3f}, colour {vae['colour']:.3f}, pattern {vae['pattern']:.3f}",
              flush=True)
    if "txt2img" in args.only:
        with torch.no_grad():
            accuracy = txt2img.run(demo, samples=args.samples, spec=spec)
        print(f"txt2img, {accuracy.samples} samples: all three right {accuracy.all_three:.3f} (shape "
              f"{accuracy.shape:.3f}, colour {accuracy.colour:.3f}, pattern {accuracy.pattern:.3f}), clean background "
              f"{accuracy.clean_background:.3f}", flush=True)
        figures["txt2img"] = {k: float(getattr(accuracy, k)) for k in
                              ("all_three", "shape", "colour", "pattern", "clean_background")}
    if "curve" in args.only:
        rows = figures["curve"] = curve(demo, spec, args.pairs, args.seeds,
                                        progress=lambda line: print(line, flush=True))
        print("switch level | kept | adopted | both | mean IoU")
        for r in rows:
            print(" | ".join([f"{r['level']:.1f}"] + [f"{r[w][0]:.3f} [{r[w][1]:.3f}, {r[w][2]:.3f}]"
                                                      for w in ("kept", "adopted", "both")] + [f"{r['iou']:.3f}"]))
        found = figures["band"] = band(rows)
        print(f"band (kept >= {BAND_KEPT}, adopted >= {BAND_ADOPTED}): " + (", ".join(map(str, found)) or "none"))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
