"""Train the TAESD decoder to turn the designed latent back into world images.

    python -m demo_world.train_decoder --steps 3000 [--world v1] [--device auto] [--threads 1] [--batch 8]

Each step: world images (seeded by the step), their designed latents plus a little Gaussian noise
(the UNet's latents are not exact), L1 + MSE to the image. Adam, EMA 0.999. Resumable like the UNet's.

``--world v1`` draws 64 px scenes with numpy on the CPU, as its committed decoder was made. ``--world v2``
draws 128 px scenes with torch on the training device and trains on a 64 px crop of each, on the cell
grid (the decoder is convolutional: a crop costs a quarter of a whole image and holds the same kinds of
cells, edges and borders); its tones differ from V1's (world.V2.dark), so it has a decoder of its own.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from . import _host, training, world

LATENT_NOISE = 0.03
SEED = 2


def make_batch(step: int, batch: int, seed: int = SEED):
    from . import latent
    rng = np.random.default_rng(training.step_seed(seed, step))
    rendered = np.stack([world.render(world.random_scene(rng)) for _ in range(batch)])
    images = torch.from_numpy(rendered).permute(0, 3, 1, 2)
    noise = torch.from_numpy(rng.standard_normal((batch, 4, 8, 8)).astype(np.float32)) * LATENT_NOISE
    return latent.analytic_latent(images) + noise, images


CROP = 64  # px of the V2 crops


def make_batch_on_device(spec: world.WorldSpec, step: int, batch: int, device: torch.device, seed: int = SEED):
    """(latents, images) of a step for any world: scenes drawn by torch on ``device``, each cut to a CROP px
    square at a random cell of its image."""
    from . import latent
    generator = torch.Generator(device).manual_seed(training.step_seed(seed, step))
    images, _ = world.render_scenes(world.sample_scenes(spec, batch, generator), spec)
    cells = (spec.image_size - CROP) // world.CELL + 1
    corners = torch.randint(0, cells, (batch, 2), generator=generator, device=device) * world.CELL
    crops = torch.stack([im[:, y:y + CROP, x:x + CROP] for im, (x, y) in zip(images, corners.tolist())])
    noise = torch.randn((batch, 4, CROP // world.CELL, CROP // world.CELL), generator=generator, device=device)
    return latent.analytic_latent(crops) + noise * LATENT_NOISE, crops


def loss_function(batch_of_step):
    def loss(decoder, step):
        latents, images = batch_of_step(step)
        out = decoder(latents)
        return (out - images).abs().mean() + ((out - images) ** 2).mean()
    return loss


def main(argv: list[str] | None = None) -> int:
    from . import checkpoint
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, required=True, help="train until this total step count")
    parser.add_argument("--world", choices=sorted(checkpoint.MODELS), default="v1")
    parser.add_argument("--device", default="auto", help="auto (CUDA where there is one), cpu, cuda, cuda:1...")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--weights", type=Path, help="EMA weights (fp16) out; default: the world's committed file")
    parser.add_argument("--state", type=Path)
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--minutes", type=float, help="stop (and save) after this much wall time")
    args = parser.parse_args(argv)
    files = checkpoint.MODELS[args.world]
    device = training.pick_device(args.device)
    if args.world == "v1" and device.type != "cpu":
        parser.error("--world v1 trains on the CPU (its data is drawn with numpy, as its weights were made)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    _host.use_pytorch_attention()
    from . import latent
    decoder = latent.new_taesd().taesd_decoder
    state = args.state or training.default_state("decoder", args.world)
    run = training.Run(decoder, lambda p: torch.optim.Adam(p, lr=args.lr), args.weights or files.decoder, state,
                       device)
    batch_of_step = training.batches_of_steps(files.world, make_batch, make_batch_on_device, args.batch, device,
                                              args.seed)
    training.train(run, loss_function(batch_of_step), args.steps, args.save_every, args.log_every,
                   f"decoder {args.world}" if args.world != "v1" else "decoder", minutes=args.minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
