"""Level conversions."""

from __future__ import annotations

import numpy as np


def db_to_linear(gain_db: float) -> float:
    """Amplitude ratio of a gain in dB (20 log10 convention)."""
    return float(10.0 ** (gain_db / 20.0))


def scale_frames(frames: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``frames * gains[:, None]``: one gain per frame on every channel, in a new array.

    A channel at a time: numpy broadcasts ``[:, None]`` with a two-element inner loop,
    3x slower on stereo.  The products are the same.
    """
    out = np.empty(frames.shape, dtype=np.result_type(frames, gains))
    for ch in range(frames.shape[1]):
        np.multiply(frames[:, ch], gains, out=out[:, ch])
    return out
