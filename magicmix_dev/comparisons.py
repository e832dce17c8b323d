"""How the tests compare a result with its reference: the largest difference relative to the reference's
largest value (a latent's scale differs per model family; a relative bound reads the same on each)."""
from __future__ import annotations


def relative_error(got, expected) -> float:
    scale = expected.abs().max().item()
    assert scale > 0, "the reference is all zeros: nothing to compare against"
    return (got - expected).abs().max().item() / scale


def assert_close_relative(got, expected, tolerance: float) -> None:
    assert got.shape == expected.shape, f"shape {tuple(got.shape)} against {tuple(expected.shape)}"
    error = relative_error(got, expected)
    assert error <= tolerance, f"relative error {error:.3g} > {tolerance:.1g}"
