"""MagicMix on ComfyUI's objects: the engine the nodes (and the GPU check) call over ``magicmix_core``.

One module per concern: ``validation`` (bad input, named), ``fingerprint`` (which model a layout was
made for), ``layout_building`` (``build_layout``: the layout of a run), ``stepping`` (ComfyUI's samplers
one noise level at a time), ``phases`` (the layout and content phases) and ``ksampler`` (MagicMix as a
SAMPLER for SamplerCustomAdvanced). Sampling goes through ComfyUI's own machinery (``comfy.sample``,
``KSAMPLER``, the model's ``model_sampling``, ``latent_preview``), so every sampler, scheduler and
model family ComfyUI supports works here.
"""
