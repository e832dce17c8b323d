"""Train the TAESD decoder to turn the designed latent back into world images.

    python -m demo_world.train_decoder --steps 3000 [--threads 1] [--batch 8]

Each step: world images (seeded by the step), their designed latents plus a little Gaussian noise
(the UNet's latents are not exact), L1 + MSE to the image. Adam, EMA 0.999. Resumable like the UNet's.
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


def loss_function(batch: int, seed: int = SEED):
    def loss(decoder, step):
        latents, images = make_batch(step, batch, seed)
        out = decoder(latents)
        return (out - images).abs().mean() + ((out - images) ** 2).mean()
    return loss


def main(argv: list[str] | None = None) -> int:
    from . import checkpoint
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, required=True, help="train until this total step count")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--weights", type=Path, default=checkpoint.DECODER_WEIGHTS)
    parser.add_argument("--state", type=Path)
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=25)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    _host.use_pytorch_attention()
    from . import latent
    decoder = latent.new_taesd().taesd_decoder
    state = args.state or _host.cache_dir() / "train" / "decoder-state.pt"
    run = training.Run(decoder, lambda p: torch.optim.Adam(p, lr=args.lr), args.weights, state)
    training.train(run, loss_function(args.batch, args.seed), args.steps, args.save_every, args.log_every, "decoder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
