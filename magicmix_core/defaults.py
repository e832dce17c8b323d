"""The paper's settings (arXiv 2210.16056, section 4), read by the nodes, the workflows, the bench and diffusers."""
from __future__ import annotations

STEPS = 50
K_MIN = 0.3
K_MAX = 0.6
NU = 0.75  # the paper's nu range is 0.5 to 0.9; the nodes start at 0.75
CFG = 7.5
SAMPLER = "euler"
SCHEDULER = "normal"
NU_SCHEDULE = "constant"
