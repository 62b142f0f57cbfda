"""Level conversions and static gain."""

from __future__ import annotations

import numpy as np


def db_to_linear(gain_db: float) -> float:
    """Amplitude ratio of a gain in dB (20 log10 convention)."""
    return float(10.0 ** (gain_db / 20.0))


def linear_to_db(ratio: float) -> float:
    """Gain in dB of an amplitude ratio; -inf for 0."""
    return float(20.0 * np.log10(ratio)) if ratio > 0 else float("-inf")


def apply_gain(x: np.ndarray, gain_db: float) -> np.ndarray:
    """Return `x` scaled by `gain_db` (a new array)."""
    return x * db_to_linear(gain_db)
