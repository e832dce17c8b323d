"""The MagicMix method (arXiv 2210.16056) as small functions over tensors, sigmas and ComfyUI objects.

``levels``, ``mixing`` and ``layout`` are pure torch; ``sampling`` works on ComfyUI's MODEL, LATENT,
CONDITIONING and SAMPLER objects and needs ComfyUI importable.
"""
