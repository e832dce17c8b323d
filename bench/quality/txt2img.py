"""The model on its own: txt2img from pure noise, scored for shape, colour and pattern.

Settings are the bench's defaults (50 steps, cfg 7.5, euler, normal schedule), through ComfyUI's
KSampler node, one batch of several seeds' worth of noise per prompt group. On its own, for the
committed UNet or other weights of it (e.g. a retrain's, while it trains):

    python -m bench.quality.txt2img [--unet PATH] [--samples 96]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

STEPS, CFG, SAMPLER, SCHEDULER = 50, 7.5, "euler", "normal"


@dataclass
class Txt2ImgResult:
    samples: int
    shape: float
    colour: float
    pattern: float
    both: float  # shape and pattern right (the layout attribute and the content attribute)
    all_three: float
    clean_background: float  # background pixels within 0.1 of the world's grey, fraction of images
    images: np.ndarray
    prompts: list


def background_is_clean(image: np.ndarray) -> bool:
    from demo_world import scorers, world
    outside = ~scorers.foreground(image)
    if outside.sum() == 0:
        return False
    return float(np.abs(image[outside] - world.BACKGROUND).max(axis=-1).mean()) < 0.05


def run(demo, samples: int = 96, seed: int = 0, steps: int = STEPS, batch: int = 48, spec=None) -> Txt2ImgResult:
    """``samples`` prompts (the world's 48 full ones in turn, asking for one object where the world's
    captions count), one batch seed per group. ``spec``: the world (None: V1)."""
    from demo_world import scorers, world
    spec = spec or world.V1
    full = [p + world.lone_clause(spec) for p in world.full_prompts()]
    prompts = [full[i % len(full)] for i in range(samples)]
    negative = demo.encode("")
    ksampler = demo.nodes["KSampler"]()
    images = []
    for start in range(0, samples, batch):
        group = prompts[start:start + batch]
        # one prompt per batch item: conditioning batches are concatenated along the batch axis
        positive = [[torch.cat([demo.encode(p)[0][0] for p in group]), {}]]
        empty = {"samples": torch.zeros(len(group), 4, spec.cells, spec.cells)}
        (latent,) = ksampler.sample(demo.model, seed + start, steps, CFG, SAMPLER, SCHEDULER, positive, negative, empty)
        images.append(demo.decode(latent))
    images = np.concatenate(images)
    readings = scorers.read_batch(images)
    wanted = [p.split()[1:4] for p in prompts]  # pattern, colour, shape
    shape = np.array([r.shape == w[2] for r, w in zip(readings, wanted)])
    colour = np.array([r.colour == w[1] for r, w in zip(readings, wanted)])
    pattern = np.array([r.pattern == w[0] for r, w in zip(readings, wanted)])
    clean = np.array([background_is_clean(im) for im in images])
    return Txt2ImgResult(samples, shape.mean(), colour.mean(), pattern.mean(), (shape & pattern).mean(),
                         (shape & colour & pattern).mean(), clean.mean(), images, prompts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unet", type=Path, help="UNet EMA weights (default: the committed ones)")
    parser.add_argument("--samples", type=int, default=96)
    args = parser.parse_args(argv)
    from demo_world import checkpoint, training
    from . import model
    with torch.no_grad():
        result = run(model.load(unet_weights=args.unet), samples=args.samples)
    steps = training.trained_steps(args.unet or checkpoint.UNET_WEIGHTS)
    print(f"UNet after {steps} steps, {result.samples} samples: shape and pattern right {result.both:.3f}, all three "
          f"{result.all_three:.3f} (shape {result.shape:.3f}, colour {result.colour:.3f}, "
          f"pattern {result.pattern:.3f}), "
          f"clean background {result.clean_background:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
