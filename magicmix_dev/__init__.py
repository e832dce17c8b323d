"""What the tests, benches, tools and demo world share (never shipped: not in the pip packages, left out of the
registry archive): the ComfyUI host loader and server launcher, the generated test checkpoints and tiny models,
workflow and prompt helpers, the diffusers fixtures and converter, the community pipeline's order and the
security scan. Importable from the repository root (pytest's ``pythonpath = .``; ``python -m ...``).
"""
