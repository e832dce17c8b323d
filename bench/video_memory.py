"""What a MagicMix layout keeps per mode for a video latent: writes bench/VIDEO_MEMORY.md.

    python -m bench.video_memory [--out bench/VIDEO_MEMORY.md]

(from the repo root). Pure arithmetic, no model: the counts follow what the layout holds
(magicmix_core/layout.py, magicmix_comfy/layout_building.py): image layout the fixed noise and the clean
latent; text layout the layout prompt's latents of levels K_max .. K_min (K_max - K_min + 1 of them) and
the noise, and with a mask also the clean latent its branch ends on. The pack stores them in float32;
the bf16 column is the same count at 2 bytes, for comparison.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from magicmix_core import defaults  # noqa: E402
from magicmix_core.levels import LevelRange  # noqa: E402

OUT = REPO / "bench" / "VIDEO_MEMORY.md"
MIB = 2 ** 20


@dataclass
class VideoLatent:
    family: str
    width: int
    height: int
    frames: int
    channels: int
    spatial: int  # pixels per latent cell
    temporal: int  # frames per latent frame after the first
    steps: int  # the family's template steps

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return (1, self.channels, (self.frames - 1) // self.temporal + 1, self.height // self.spatial,
                self.width // self.spatial)

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


LATENTS = [
    VideoLatent("WAN 2.1 (T2V 1.3B / 14B)", 832, 480, 33, 16, 8, 4, 30),
    VideoLatent("WAN 2.1 (T2V 1.3B / 14B)", 832, 480, 81, 16, 8, 4, 30),
    VideoLatent("WAN 2.2 TI2V 5B", 1280, 704, 121, 48, 16, 4, 20),
]


def latent_counts(steps: int) -> dict[str, tuple[int, str]]:
    """Mode -> (latents kept, what they are) at the default k_min / k_max."""
    levels = LevelRange.from_fractions(defaults.K_MIN, defaults.K_MAX, steps)
    kept = levels.k_max_level - levels.k_min_level + 1
    return {
        "image layout": (2, "noise + clean latent"),
        "image layout, masked": (2, "noise + clean latent (the mask itself is 1 channel)"),
        "text layout": (kept + 1, f"{kept} trajectory latents (levels {levels.k_max_level}..{levels.k_min_level}) "
                                  f"+ noise"),
        "text layout, masked": (kept + 2, f"{kept} trajectory latents + noise + clean latent"),
    }


def report() -> str:
    lines = [
        "# What a MagicMix layout keeps for a video latent",
        "",
        "Written by `python -m bench.video_memory` (arithmetic, no model). One latent = channels x latent "
        "frames x H/8 (or /16) x W/8 (or /16) values at batch 1; the layout keeps them in float32 (4 bytes), "
        f"bf16 (2 bytes) is shown for comparison. Defaults k_max {defaults.K_MAX}, k_min {defaults.K_MIN} at "
        "the family template's steps. Multiply by the batch size for a batch.",
        "",
        "| latent | shape | steps | mode | latents kept | what | float32 MiB | bf16 MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for latent in LATENTS:
        for mode, (count, what) in latent_counts(latent.steps).items():
            size = latent.elements * count
            lines.append(f"| {latent.family} {latent.width} x {latent.height} x {latent.frames} frames | "
                         f"{' x '.join(map(str, latent.shape))} | {latent.steps} | {mode} | {count} | {what} | "
                         f"{size * 4 / MIB:.1f} | {size * 2 / MIB:.1f} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = report()
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
