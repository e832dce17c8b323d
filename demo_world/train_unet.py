"""Train the demo model's narrow UNet on the world, in the space ComfyUI samples SD1.5 in.

    python -m demo_world.train_unet --steps 20000 [--threads 1] [--batch 32]

Each step: a batch of world scenes (seeded by the step), their designed latents (``latent``), their
captions' ComfyUI encodings (each attribute left out with probability 1/2, ``world.caption``; 10 %
replaced by the empty prompt, for classifier-free guidance), a
timestep uniform over ComfyUI's 1000 discrete SD1.5 sigmas, and the EPS loss weighted by
min(1 + sigma^2, 50) (plain EPS-MSE left the highest sigmas under-predicted). The UNet input is
ComfyUI's: ``x / sqrt(sigma^2 + 1)`` at the integer timestep. AdamW, EMA 0.999, gradient clip 1.
Resumes from its state in the cache, else from the committed weights (see ``training``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from . import _host, training, world

DROP_PROMPT = 0.1
MAX_LOSS_WEIGHT = 50.0
SEED = 1


def sd15_sampling():
    """ComfyUI's SD1.5 model sampling (discrete EPS, 1000 sigmas), as the loaded checkpoint uses it."""
    _host.import_comfy()
    import comfy.model_sampling

    class Sampling(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.EPS):
        pass
    return Sampling()


def make_batch(step: int, batch: int, seed: int = SEED):
    """(clean latents, prompt rows into conditioning.prompt_table, timesteps, noise) of a step."""
    from . import latent
    rng = np.random.default_rng(training.step_seed(seed, step))
    scenes = [world.random_scene(rng) for _ in range(batch)]
    images = torch.from_numpy(np.stack([world.render(s) for s in scenes])).permute(0, 3, 1, 2)
    row_of = {prompt: 1 + i for i, prompt in enumerate(world.all_prompts())}
    rows = np.array([row_of[world.caption(s, rng)] for s in scenes])
    rows[rng.random(batch) < DROP_PROMPT] = 0
    timesteps = rng.integers(0, 1000, batch)
    noise = torch.from_numpy(rng.standard_normal((batch, 4, 8, 8)).astype(np.float32))
    return latent.analytic_latent(images), torch.from_numpy(rows), torch.from_numpy(timesteps), noise


def loss_function(table: torch.Tensor, sampling, batch: int, seed: int = SEED):
    def loss(model, step):
        x0, rows, timesteps, noise = make_batch(step, batch, seed)
        sigma = sampling.sigmas[timesteps].view(-1, 1, 1, 1)
        x = x0 + sigma * noise
        predicted = model(sampling.calculate_input(sigma, x), timesteps.float(), context=table[rows])
        weight = torch.clamp(1.0 + sigma ** 2, max=MAX_LOSS_WEIGHT)
        return (weight * (predicted - noise) ** 2).mean()
    return loss


def main(argv: list[str] | None = None) -> int:
    from . import checkpoint
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, required=True, help="train until this total step count")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 when other work shares the cores)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--weights", type=Path, default=checkpoint.UNET_WEIGHTS, help="EMA weights written here (fp16)")
    parser.add_argument("--state", type=Path, help="resumable state (default: in the cache, beside the checkpoints)")
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from . import conditioning, unet
    table = conditioning.prompt_conditioning()
    _host.use_pytorch_attention()
    state = args.state or _host.cache_dir() / "train" / "unet-state.pt"
    run = training.Run(unet.new_narrow_unet(args.seed), lambda p: torch.optim.AdamW(p, lr=args.lr, weight_decay=0.0),
                       args.weights, state)
    training.train(run, loss_function(table, sd15_sampling(), args.batch, args.seed), args.steps,
                   args.save_every, args.log_every, "unet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
