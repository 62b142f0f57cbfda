"""Fade curves with exact, closed-form gains.

With t the fraction of the fade elapsed (0 at silence, 1 at full level):
- linear:  g = t
- log:     g = log10(1 + 9 t)        fast rise, like a logarithmic fader
- cosine:  g = sin(pi t / 2)         quarter sine; equal-power pairs for crossfades
- scurve:  g = (1 - cos(pi t)) / 2   raised cosine, gentle at both ends
A fade-out uses the same curve with t running from 1 to 0.
"""

from __future__ import annotations

import numpy as np

FADE_SHAPES = ("linear", "log", "cosine", "scurve")


def fade_curve(t: np.ndarray, shape: str) -> np.ndarray:
    """Gain (0..1) at elapsed fraction `t` (0..1) of a fade-in of the given shape."""
    t = np.clip(t, 0.0, 1.0)
    if shape == "linear":
        return t
    if shape == "log":
        return np.log10(1.0 + 9.0 * t)
    if shape == "cosine":
        return np.sin(0.5 * np.pi * t)
    if shape == "scurve":
        return 0.5 - 0.5 * np.cos(np.pi * t)
    raise ValueError(f"unknown fade shape {shape!r}")


def fade_gains(
    start_frame: int,
    n_frames: int,
    total_frames: int,
    in_frames: int,
    out_frames: int,
    shape: str,
) -> np.ndarray | None:
    """Gain for frames [start_frame, start_frame + n_frames) of a `total_frames` track.

    The fade-in reaches full level at frame `in_frames`; the fade-out starts at
    `total_frames - out_frames` and reaches 0 after the last frame. Returns None when
    the block lies outside both fades (no work to do).
    """
    pos = np.arange(start_frame, start_frame + n_frames, dtype=np.float64)
    gains = None
    if in_frames > 0 and start_frame < in_frames:
        gains = fade_curve(pos / in_frames, shape)
    out_start = total_frames - out_frames
    if out_frames > 0 and start_frame + n_frames > out_start:
        g_out = fade_curve((total_frames - pos) / out_frames, shape)
        gains = g_out if gains is None else gains * g_out
    return gains
