"""Biquad and Butterworth filters as second-order sections.

Coefficients follow R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter
coefficients" (the RBJ Audio EQ Cookbook); sections are normalised so a0 = 1 and run
with scipy's `sosfilt` (transposed direct form II, float64), stable at every sample
rate up to 192 kHz for centre frequencies below Nyquist.
"""

from __future__ import annotations

import numpy as np
from scipy import signal


def rbj_biquad(
    kind: str, freq_hz: float, q: float, gain_db: float, sample_rate_hz: float
) -> np.ndarray:
    """One RBJ biquad as a (6,) sos row [b0, b1, b2, 1, a1, a2]."""
    if not 0 < freq_hz < sample_rate_hz / 2:
        raise ValueError(f"{freq_hz} Hz is not below Nyquist ({sample_rate_hz / 2:g} Hz)")
    a_gain = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sample_rate_hz
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2.0 * q)
    sa = 2.0 * np.sqrt(a_gain) * alpha
    if kind == "bell":
        b = [1 + alpha * a_gain, -2 * cw, 1 - alpha * a_gain]
        a = [1 + alpha / a_gain, -2 * cw, 1 - alpha / a_gain]
    elif kind == "lowshelf":
        ap, am = a_gain + 1, a_gain - 1
        b = [
            a_gain * (ap - am * cw + sa),
            2 * a_gain * (am - ap * cw),
            a_gain * (ap - am * cw - sa),
        ]
        a = [ap + am * cw + sa, -2 * (am + ap * cw), ap + am * cw - sa]
    elif kind == "highshelf":
        ap, am = a_gain + 1, a_gain - 1
        b = [
            a_gain * (ap + am * cw + sa),
            -2 * a_gain * (am + ap * cw),
            a_gain * (ap + am * cw - sa),
        ]
        a = [ap - am * cw + sa, 2 * (am - ap * cw), ap - am * cw - sa]
    elif kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "notch":
        b = [1.0, -2 * cw, 1.0]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:
        raise ValueError(f"unknown biquad type {kind!r}")
    a0 = a[0]
    return np.array([b[0] / a0, b[1] / a0, b[2] / a0, 1.0, a[1] / a0, a[2] / a0])


def butterworth_sos(
    btype: str, freq_hz: float, slope_db_oct: int, sample_rate_hz: float
) -> np.ndarray:
    """Butterworth high/lowpass of order slope/6 as sos, by the bilinear transform."""
    if not 0 < freq_hz < sample_rate_hz / 2:
        raise ValueError(f"{freq_hz} Hz is not below Nyquist ({sample_rate_hz / 2:g} Hz)")
    order = slope_db_oct // 6
    return signal.butter(order, freq_hz, btype=btype, fs=sample_rate_hz, output="sos")


def sos_response_db(sos: np.ndarray, freqs_hz: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """Magnitude response in dB of `sos` at the given frequencies."""
    _, h = signal.sosfreqz(sos, worN=np.asarray(freqs_hz, dtype=float), fs=sample_rate_hz)
    return 20.0 * np.log10(np.abs(h))


def sos_initial_state(sos: np.ndarray, channels: int) -> np.ndarray:
    """Zero state for `sosfilt` along axis 0 of (frames, channels) blocks."""
    return np.zeros((sos.shape[0], 2, channels))


def sos_step(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filter one (frames, channels) block, carrying state `zi` to the next block."""
    return signal.sosfilt(sos, x, axis=0, zi=zi)
