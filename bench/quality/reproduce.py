"""The committed demo model next to other weights (a retrain from the seeds, or earlier weights), measured alike.

The committed weights are one straight run of the two trainers from their seeds, each on one thread
(side by side on 2 cores), the UNet resumed from its state at step 4,500 on two threads:

    python -m demo_world.train_decoder --steps 2400 --weights DIR/decoder.safetensors --state DIR/decoder.pt
    python -m demo_world.train_unet --steps 4500 --threads 1 --weights DIR/unet.safetensors --state DIR/unet.pt
    python -m demo_world.train_unet --steps 6000 --threads 2 --weights DIR/unet.safetensors --state DIR/unet.pt
    python -m bench.quality.reproduce --unet DIR/unet.safetensors --decoder DIR/decoder.safetensors

A resume gives the weights of a straight run on the same thread count (a CI test); another thread
count, CPU or torch build sums in another order, so a retrain should match in quality, not bit for bit.
Measured for each: the VAE round trip (200 world images: mean absolute error, scorers' accuracy,
silhouette IoU), txt2img (the model target: 96 samples) and the rows the CI claims compare (the
quality bench's code on its 24 pairs at seed 0). Written to bench/REPRODUCTION.md.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import PACK_DIR, mixing as M, model, report, txt2img

OUT = PACK_DIR / "bench" / "REPRODUCTION.md"
ROUND_TRIP_IMAGES, ROUND_TRIP_SEED = 200, 9  # tests/comfy/test_demo_world_model.py asserts on this measurement
CLAIM_CELLS = [
    (M.IMAGE, M.Method("magicmix")), (M.IMAGE, M.Method("img2img")),
    (M.IMAGE, M.Method("magicmix", nu=0.25)),
    (M.IMAGE, M.Method("magicmix", nu=0.25, k_min=0.1, k_max=0.4)),
    (M.IMAGE, M.Method("magicmix", nu=0.9, k_min=0.1, k_max=0.4)),
    (M.IMAGE, M.Method("community", nu=0.25)), (M.IMAGE, M.Method("community", nu=0.75)),
    (M.TEXT, M.Method("switch", switch_at=0.8)), (M.TEXT, M.Method("switch", switch_at=0.4)),
]


def round_trip(demo, spec=None) -> dict:
    """The VAE on world images (of ``spec``, None: V1; one object each, which the scorers read): mean
    absolute error, scorers' accuracy per attribute, silhouette IoU."""
    from demo_world import scorers, world
    if spec is None or spec == world.V1:
        images, scenes = world.sample_batch(ROUND_TRIP_SEED, ROUND_TRIP_IMAGES)
    else:
        scenes = world.lone_scenes(spec, ROUND_TRIP_IMAGES, ROUND_TRIP_SEED)
        images = world.render_images([[s] for s in scenes], spec)
    decoded = demo.decode(demo.encode_images(images))
    readings = scorers.read_batch(decoded)
    accuracy = {a: float(np.mean([getattr(r, a) == getattr(s, a) for r, s in zip(readings, scenes)]))
                for a in ("shape", "colour", "pattern")}
    iou = float(np.mean([scorers.iou(scorers.foreground(d), world.silhouette(s, len(d)))
                         for d, s in zip(decoded, scenes)]))
    return dict(error=float(np.abs(decoded - images).mean()), iou=iou, **accuracy)


def measure(name: str, demo, pairs, say) -> dict:
    with torch.no_grad():
        vae = round_trip(demo)
        say(f"{name}: VAE round trip {vae['error']:.4f}")
        t2i = txt2img.run(demo, samples=96)
        say(f"{name}: txt2img both {t2i.both:.3f}")
        cells = M.run_cells(demo, pairs, [0], CLAIM_CELLS, progress=say)
    return dict(vae=vae, t2i=t2i, cells=cells)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unet", type=Path, required=True, help="the other UNet's EMA weights")
    parser.add_argument("--decoder", type=Path, required=True, help="the other TAESD decoder's weights")
    parser.add_argument("--name", default="retrained", help="what the other weights are, for the report")
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    from demo_world import checkpoint, training
    started = time.monotonic()
    say = lambda m: print(f"[reproduce] {m} ({time.monotonic() - started:.0f} s)", flush=True)  # noqa: E731
    pairs = M.make_pairs(args.pairs)
    committed = measure("committed", model.load(), pairs, say)
    other = measure(args.name, model.load(unet_weights=args.unet, decoder_weights=args.decoder), pairs, say)
    steps = {name: (training.trained_steps(unet), training.trained_steps(decoder)) for name, unet, decoder in (
        ("committed", checkpoint.UNET_WEIGHTS, checkpoint.DECODER_WEIGHTS), ("other", args.unet, args.decoder))}
    write(args, committed, other, steps, time.monotonic() - started)
    say(f"wrote {args.out}")
    return 0


def write(args, committed: dict, other: dict, steps: dict, seconds: float) -> None:
    lines = [
        f"# The committed demo model and the {args.name} weights",
        "",
        "Written by `python -m bench.quality.reproduce` (its docstring has the training commands of the committed",
        f"weights, one straight run from the seeds). The {args.name} weights: `{args.unet.name}`, "
        f"`{args.decoder.name}`.",
        "Everything else (the designed encoder, the seeded text encoder) is the same.",
        f"Machine: {platform.machine()}, {platform.python_version()}, torch {torch.__version__}; "
        f"run time {seconds / 60:.0f} min.",
        "",
        f"| | committed | {args.name} |",
        "|---|---|---|",
        f"| training steps (UNet, decoder) | {steps['committed'][0]}, {steps['committed'][1]} | "
        f"{steps['other'][0]}, {steps['other'][1]} |",
    ]
    for key, label in (("error", "VAE round trip: mean absolute error"), ("iou", "VAE round trip: silhouette IoU"),
                       ("shape", "VAE round trip: shape read right"), ("colour", "VAE round trip: colour read right"),
                       ("pattern", "VAE round trip: pattern read right")):
        lines.append(f"| {label} ({ROUND_TRIP_IMAGES} world images) | {committed['vae'][key]:.4f} | "
                     f"{other['vae'][key]:.4f} |")
    for key, label in (("both", "shape and pattern right (target >= 0.85)"), ("all_three", "all three attributes"),
                       ("clean_background", "clean background")):
        lines.append(f"| txt2img, {committed['t2i'].samples} samples: {label} | {getattr(committed['t2i'], key):.3f} | "
                     f"{getattr(other['t2i'], key):.3f} |")
    lines += ["", f"The rows the CI claims compare ({args.pairs} pairs, seed 0; 95 % intervals):", ""]
    for name, result in (("committed", committed), (args.name, other)):
        lines.append(report.table(f"{name} weights", result["cells"]))
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
