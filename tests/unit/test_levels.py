"""Noise level <-> schedule index mapping and the nu schedule, at the edges the spec names."""
import math

import pytest
import torch

from magicmix_core.levels import LevelRange, level_at_index, level_from_fraction, nu_values, schedule_index


def descending_sigmas(total_steps):
    return torch.linspace(10.0, 0.0, total_steps + 1)


@pytest.mark.parametrize("fraction, steps, level", [
    (0.0, 50, 0), (1.0, 50, 50), (0.3, 50, 15), (0.6, 50, 30),
    (0.29, 100, 29),  # 0.29 * 100 = 28.999999999999996 in floating point: rounding keeps 29
    (0.25, 10, 3),    # exactly half a level rounds up
    (0.24, 10, 2), (0.05, 4, 0), (0.13, 4, 1),
])
def test_level_from_fraction_rounds_half_up(fraction, steps, level):
    assert level_from_fraction(fraction, steps) == level


@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan])
def test_level_from_fraction_refuses_outside_unit_interval(bad):
    with pytest.raises(ValueError, match="within"):
        level_from_fraction(bad, 10)


def test_level_k_sits_at_schedule_index_T_minus_k():
    assert schedule_index(0, 20) == 20
    assert schedule_index(20, 20) == 0
    assert schedule_index(7, 20) == 13
    with pytest.raises(ValueError):
        schedule_index(21, 20)


def test_layout_phase_runs_from_level_k_max_to_k_min_inclusive():
    sigmas = descending_sigmas(50)
    levels = LevelRange.from_fractions(0.3, 0.6, 50)
    assert (levels.k_min_level, levels.k_max_level, levels.mix_count) == (15, 30, 15)
    phase = levels.layout_phase_sigmas(sigmas)
    assert len(phase) == levels.mix_count + 1
    assert phase[0] == sigmas[50 - 30] and phase[-1] == sigmas[50 - 15]
    content = levels.content_phase_sigmas(sigmas)
    assert content[0] == phase[-1] and content[-1] == 0.0 and len(content) == 15 + 1


def test_k_min_zero_is_the_clean_level_not_the_noisiest():
    sigmas = descending_sigmas(10)
    levels = LevelRange.from_fractions(0.0, 0.5, 10)
    assert levels.k_min_level == 0
    assert levels.layout_phase_sigmas(sigmas)[-1] == 0.0  # the last mix lands on the clean level
    assert len(levels.content_phase_sigmas(sigmas)) == 1   # nothing left for the content phase


def test_k_max_one_starts_at_the_noisiest_sigma():
    sigmas = descending_sigmas(10)
    levels = LevelRange.from_fractions(0.3, 1.0, 10)
    assert levels.layout_phase_sigmas(sigmas)[0] == sigmas[0]


def test_equal_levels_give_no_mix():
    levels = LevelRange.from_fractions(0.31, 0.34, 10)  # both round to level 3
    assert levels.mix_count == 0
    assert len(levels.layout_phase_sigmas(descending_sigmas(10))) == 1


def test_k_min_above_k_max_is_refused():
    with pytest.raises(ValueError, match="k_min"):
        LevelRange.from_fractions(0.7, 0.6, 50)


def test_nu_constant_linear_cosine():
    assert nu_values(0.7, 0.1, 4, "constant") == [0.7] * 4
    linear = nu_values(0.9, 0.5, 5, "linear")
    assert linear[0] == pytest.approx(0.9) and linear[-1] == pytest.approx(0.5)
    assert linear[2] == pytest.approx(0.7)
    cosine = nu_values(0.9, 0.5, 5, "cosine")
    assert cosine[0] == pytest.approx(0.9) and cosine[-1] == pytest.approx(0.5)
    assert cosine[1] > linear[1]  # eases out of the start value more slowly
    assert nu_values(0.2, 0.8, 1, "linear") == [0.2]
    assert nu_values(0.5, 0.5, 0) == []


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_nu_outside_unit_interval_is_refused(bad):
    with pytest.raises(ValueError, match="nu_start"):
        nu_values(bad, 0.5, 3)
    with pytest.raises(ValueError, match="nu_end"):
        nu_values(0.5, bad, 3, "linear")


def test_unknown_nu_curve_is_refused():
    with pytest.raises(ValueError, match="curve"):
        nu_values(0.5, 0.5, 3, "zigzag")


def test_level_at_index_is_the_inverse_of_schedule_index():
    assert [level_at_index(schedule_index(level, 20), 20) for level in range(21)] == list(range(21))
    with pytest.raises(ValueError):
        level_at_index(21, 20)


def test_nu_end_not_given_is_nu():
    assert nu_values(0.6, None, 3, "linear") == nu_values(0.6, 0.6, 3, "linear") == [0.6] * 3
