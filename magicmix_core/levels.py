"""Noise levels, schedule indices and the nu schedule: pure arithmetic, no ComfyUI imports.

A ComfyUI schedule is a descending tensor of T + 1 sigmas, ``sigmas[0]`` the noisiest and
``sigmas[T] == 0`` clean. MagicMix counts *noise levels* the other way: level 0 is clean, level T
is pure noise, so level ``k`` sits at schedule index ``T - k`` and has sigma ``sigmas[T - k]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

NU_CURVES = ("constant", "linear", "cosine")


def level_from_fraction(fraction: float, total_steps: int) -> int:
    """Noise level for a fraction of the schedule: round half up of ``fraction * T``.

    Rounding (not truncation) keeps ``0.29 * 100 = 28.999...`` at level 29. ``fraction = 0`` is
    level 0 (clean, sigma 0) and ``fraction = 1`` is level T (``sigmas[0]``, the noisiest), so
    k_min = 0 can never select the noisiest level.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"noise fraction must be within [0, 1], got {fraction}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    return min(total_steps, math.floor(fraction * total_steps + 0.5 + 1e-9))


def schedule_index(level: int, total_steps: int) -> int:
    """Index into the T + 1 sigmas of noise level ``level`` (level T -> index 0, level 0 -> index T)."""
    if not 0 <= level <= total_steps:
        raise ValueError(f"noise level must be within [0, {total_steps}], got {level}")
    return total_steps - level


def level_at_index(index: int, total_steps: int) -> int:
    """Noise level of schedule index ``index`` (index 0 -> level T, index T -> level 0): schedule_index's inverse."""
    if not 0 <= index <= total_steps:
        raise ValueError(f"schedule index must be within [0, {total_steps}], got {index}")
    return total_steps - index


@dataclass(frozen=True)
class LevelRange:
    """The layout phase runs from noise level ``k_max_level`` down to ``k_min_level``.

    ``mix_count = K_max - K_min`` mixes happen, the last one landing on level K_min; the content
    phase then runs ``K_min`` plain steps from level K_min to level 0.
    """

    total_steps: int
    k_min_level: int
    k_max_level: int

    @classmethod
    def from_fractions(cls, k_min: float, k_max: float, total_steps: int) -> LevelRange:
        if k_min > k_max:
            raise ValueError(f"k_min ({k_min}) must not exceed k_max ({k_max})")
        return cls(total_steps, level_from_fraction(k_min, total_steps), level_from_fraction(k_max, total_steps))

    @property
    def mix_count(self) -> int:
        return self.k_max_level - self.k_min_level

    @property
    def layout_start_index(self) -> int:
        """Schedule index of level K_max, where the layout phase starts."""
        return schedule_index(self.k_max_level, self.total_steps)

    @property
    def content_start_index(self) -> int:
        """Schedule index of level K_min, where the layout phase ends and the content phase starts."""
        return schedule_index(self.k_min_level, self.total_steps)

    def sigma_at_level(self, sigmas, level: int):
        """The sigma of noise level ``level`` in the T + 1 ``sigmas``."""
        return sigmas[schedule_index(level, self.total_steps)]

    def layout_phase_sigmas(self, sigmas):
        """The K_max - K_min + 1 sigmas from level K_max down to level K_min (both included)."""
        return sigmas[self.layout_start_index:self.content_start_index + 1]

    def content_phase_sigmas(self, sigmas):
        """The K_min + 1 sigmas from level K_min down to level 0 (sigma 0)."""
        return sigmas[self.content_start_index:]

    def run_sigmas(self, sigmas):
        """The K_max + 1 sigmas of the whole run, from level K_max down to level 0 (sigma 0)."""
        return sigmas[self.layout_start_index:]


def split_at_switch(start: int, end: int, switch_index: int | None) -> list[tuple[int, int, int]]:
    """The steps from schedule index ``start`` to ``end`` as runs of one expert: (expert, first index, last index).

    Expert 0 runs the steps that start below ``switch_index``, expert 1 the rest, as two
    KSamplerAdvanced split a run at end_at_step / start_at_step ``switch_index``. ``switch_index``
    None: one expert. A run of no steps is left out.
    """
    if switch_index is None or start >= end:
        return [(0, start, end)]
    runs = []
    if start < min(end, switch_index):
        runs.append((0, start, min(end, switch_index)))
    if max(start, switch_index) < end:
        runs.append((1, max(start, switch_index), end))
    return runs


def nu_values(nu_start: float, nu_end: float | None, mix_count: int, curve: str = "constant") -> list[float]:
    """The nu used by each of the layout phase's ``mix_count`` mixes, first (noisiest) to last.

    ``constant`` uses ``nu_start`` for every mix. ``linear`` and ``cosine`` go from ``nu_start`` at
    the first mix (level K_max - 1) to ``nu_end`` at the last (level K_min); cosine eases in and out.
    ``nu_end`` None (not given) is ``nu_start``.
    """
    nu_end = nu_start if nu_end is None else nu_end
    for name, value in (("nu_start", nu_start), ("nu_end", nu_end)):
        if not (0.0 <= value <= 1.0):  # also refuses NaN
            raise ValueError(f"{name} must be within [0, 1], got {value}")
    if curve not in NU_CURVES:
        raise ValueError(f"nu curve must be one of {NU_CURVES}, got {curve!r}")
    if curve == "constant" or mix_count <= 1:
        return [float(nu_start)] * mix_count
    values = []
    for i in range(mix_count):
        t = i / (mix_count - 1)
        if curve == "cosine":
            t = (1.0 - math.cos(math.pi * t)) / 2.0
        values.append(float(nu_start + (nu_end - nu_start) * t))
    return values
