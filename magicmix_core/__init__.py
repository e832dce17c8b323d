"""The MagicMix method (arXiv 2210.16056) as small functions over tensors: no ComfyUI imports.

``levels`` (noise levels, schedule indices, the nu schedule), ``mixing`` (the step order as sampler
functions), ``layout`` (what a run's two phases share) and ``defaults`` (the paper's settings). The
ComfyUI engine over it is ``magicmix_comfy``; diffusers' is ``magicmix_diffusers``.
"""
