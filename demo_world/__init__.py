"""The demo world: a procedurally generated world and a small diffusion model trained on it.

Not part of the ComfyUI pack (the pack never imports it; the registry archive leaves it out). It
exists so that MagicMix can be seen and measured: in this world *layout* (silhouette, position,
size, colour) and *content* (the pattern inside the shape) are known exactly for every image, so
"layout kept" and "content adopted" are scored by exact rules instead of judged by eye.

- ``world``: the images, their attributes and prompts (numpy, seeded).
- ``latent``: the latent space (8x8 cell means, designed) and the TAESD-format VAE that encodes into it.
- ``unet``: the narrow UNet that is trained, and its exact export into SD1.5's 320-wide layout.
- ``text_encoder``: the untrained CLIP-L, generated from a seed with numpy and checked by hash.
- ``checkpoint``: assembles the loadable SD1.5 ``.safetensors`` (cached outside the repo).
- ``conditioning``: the world's prompts encoded by ComfyUI's own CLIP path (what the UNet learns from).
- ``train_unet`` / ``train_decoder``: the seeded, resumable trainers.
- ``scorers``: silhouette IoU, shape / colour / pattern classifiers with a "none" answer.

docs/demo_world.md describes the world, the model, how it was trained and what it reached.
"""
