"""Level conversions."""

from __future__ import annotations


def db_to_linear(gain_db: float) -> float:
    """Amplitude ratio of a gain in dB (20 log10 convention)."""
    return float(10.0 ** (gain_db / 20.0))
