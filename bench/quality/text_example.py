"""docs/images/demo_text_layout.png: text layout on the demo model, the README's example.

Per pair (the bench's first four, seed 0): the layout prompt's own image, then MagicMix with the
content prompt at the defaults (nu 0.75, k 0.3/0.6) and at k 0.1/0.4.

    python -m bench.quality.text_example
"""
from __future__ import annotations

import sys

import torch

from . import PACK_DIR, mixing as M, report

OUT = PACK_DIR / "docs" / "images" / "demo_text_layout.png"


def main() -> int:
    demo, pairs, batch = M.example_batch(M.TEXT)
    columns = [M.Method("magicmix"), M.Method("magicmix", k_min=0.1, k_max=0.4)]
    with torch.no_grad():
        results = [demo.decode(batch.run(m)) for m in columns]
    rows = [[batch.layout_images[i]] + [r[i] for r in results] for i in range(len(pairs))]
    labels = ["layout prompt's\nown image", "MagicMix nu 0.75\nk 0.3/0.6", "MagicMix nu 0.75\nk 0.1/0.4"]
    report.write_example(rows, labels,
                         pairs, OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
