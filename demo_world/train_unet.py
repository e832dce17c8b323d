"""Train the demo model's narrow UNet on the world, in the space ComfyUI samples SD1.5 in.

    python -m demo_world.train_unet --steps 20000 [--world v1] [--device auto] [--threads 1] [--batch 32]

Each step: a batch of world scenes (seeded by the step), their designed latents (``latent``), their
captions' ComfyUI encodings (each attribute left out with probability 1/2, ``world.caption``; 10 %
replaced by the empty prompt, for classifier-free guidance), a
timestep uniform over ComfyUI's 1000 discrete SD1.5 sigmas, and the EPS loss weighted by
min(1 + sigma^2, 50) (plain EPS-MSE left the highest sigmas under-predicted). The UNet input is
ComfyUI's: ``x / sqrt(sigma^2 + 1)`` at the integer timestep. AdamW, EMA 0.999, gradient clip 1.
Resumes from its state in the cache, else from the committed weights (see ``training``).

``--world v1`` (the 64 px world) draws its scenes with numpy on the CPU, as its committed weights were
made. ``--world v2`` (128 px) draws and renders them with torch on the training device, so the data keeps
up with a GPU; ``--device auto`` takes CUDA where there is one. Each step's data still comes from the seed
and the step alone, but CUDA's and the CPU's random streams differ: a run on the other device is another
run of the same recipe (the same quality, not the same bits).
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


def make_batch_on_device(spec: world.WorldSpec, step: int, batch: int, device: torch.device, seed: int = SEED):
    """The same four tensors as ``make_batch``, for any world, drawn by torch on ``device``."""
    from . import latent
    generator = torch.Generator(device).manual_seed(training.step_seed(seed, step))
    scenes = world.sample_scenes(spec, batch, generator)
    images, _ = world.render_scenes(scenes, spec)
    rows = 1 + world.caption_rows(scenes, spec, generator)
    rows[torch.rand(batch, generator=generator, device=device) < DROP_PROMPT] = 0
    timesteps = torch.randint(0, 1000, (batch,), generator=generator, device=device)
    noise = torch.randn((batch, 4, spec.cells, spec.cells), generator=generator, device=device)
    return latent.analytic_latent(images), rows, timesteps, noise


def loss_function(table: torch.Tensor, sampling, batch_of_step):
    """The loss of step ``step``'s batch, ``batch_of_step(step)`` giving (clean latents, prompt rows,
    timesteps, noise) on the model's device."""
    def loss(model, step):
        x0, rows, timesteps, noise = batch_of_step(step)
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
    parser.add_argument("--world", choices=sorted(checkpoint.MODELS), default="v1")
    parser.add_argument("--device", default="auto", help="auto (CUDA where there is one), cpu, cuda, cuda:1...")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 when other work shares the cores)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--weights", type=Path, help="EMA weights (fp16) out; default: the world's committed file")
    parser.add_argument("--state", type=Path, help="resumable state (default: in the cache, beside the checkpoints)")
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--minutes", type=float, help="stop (and save) after this much wall time")
    args = parser.parse_args(argv)
    files = checkpoint.MODELS[args.world]
    device = training.pick_device(args.device)
    if args.world == "v1" and device.type != "cpu":
        parser.error("--world v1 trains on the CPU (its data is drawn with numpy, as its weights were made)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from . import conditioning, unet
    table = conditioning.prompt_conditioning(files.world).to(device)
    _host.use_pytorch_attention()
    state = args.state or training.default_state("unet", args.world)
    run = training.Run(unet.new_narrow_unet(args.seed, files.levels),
                       lambda p: torch.optim.AdamW(p, lr=args.lr, weight_decay=0.0), args.weights or files.unet, state,
                       device)
    sampling = sd15_sampling().to(device)
    batch_of_step = training.batches_of_steps(files.world, make_batch, make_batch_on_device, args.batch, device,
                                              args.seed)
    training.train(run, loss_function(table, sampling, batch_of_step), args.steps, args.save_every, args.log_every,
                   f"unet {args.world}", minutes=args.minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
