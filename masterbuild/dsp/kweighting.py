"""K-weighting pre-filter of ITU-R BS.1770-4/-5 for any sample rate.

BS.1770 (Annex 1, Tables 1 and 2) gives the two biquads of the K-weighting only
for 48 kHz and asks implementations at other rates for coefficients "which
should be chosen to provide the same frequency response".  We recover the
analog prototype of each stage from the 48 kHz table by inverting the bilinear
transform, and re-apply the bilinear transform at the wanted rate, pre-warped at
the stage's own natural frequency (1681.97 Hz for the head-model shelf, 38.14 Hz
for the RLB high-pass).  At 48 kHz this reproduces the table to ~1e-15; at
44.1 kHz to 384 kHz the magnitude response matches the 48 kHz one within
0.006 dB from 20 Hz to 20 kHz.

The stage-2 numerator is *not* forced to ``[1, -2, 1]`` at other rates (as some
meters do): the prototype's high-frequency gain (+0.0433 dB) is kept, so a
997 Hz tone reads the same at every rate and the -0.691 constant of BS.1770
eq. (2) stays exact.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

# BS.1770-5 Table 1 (stage 1, "spherical head" high shelf), 48 kHz: b0 b1 b2, 1 a1 a2.
_STAGE1_48K = (
    (1.53512485958697, -2.69169618940638, 1.19839281085285),
    (1.0, -1.69065929318241, 0.73248077421585),
)
# BS.1770-5 Table 2 (stage 2, RLB high-pass), 48 kHz.
_STAGE2_48K = (
    (1.0, -2.0, 1.0),
    (1.0, -1.99004745483398, 0.99007225036621),
)
_TABLE_RATE_HZ = 48000.0


@functools.cache
def _analog_prototype(stage: int) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
    """Analog prototype of one BS.1770 stage, recovered from the 48 kHz table.

    Returns ``(f0_hz, num, den)`` with ``num``/``den`` the coefficients of
    ``u**2, u, 1`` of H(u) where ``u = s / (2 pi f0)`` is the Laplace variable
    normalised to the stage's natural frequency ``f0_hz`` (den[2] == 1).
    """
    b, a = _STAGE1_48K if stage == 1 else _STAGE2_48K
    # Inverse bilinear transform z = (1 + s) / (1 - s) in the "tan domain"
    # s = j tan(pi f / fs): multiply every z^-k term by (1 + s)^2.
    # z^0 -> (1 + s)^2, z^-1 -> (1 - s)(1 + s), z^-2 -> (1 - s)^2; coefficients of s^2, s, 1.
    basis = np.array([[1.0, 2.0, 1.0], [-1.0, 0.0, 1.0], [1.0, -2.0, 1.0]])
    num_s = np.asarray(b) @ basis
    den_s = np.asarray(a) @ basis
    w0 = np.sqrt(den_s[2] / den_s[0])  # tan(pi f0 / 48 kHz)
    f0_hz = float(np.arctan(w0) * _TABLE_RATE_HZ / np.pi)
    scale = np.array([w0 * w0, w0, 1.0]) / den_s[2]  # substitute s = w0 u
    num_u = num_s * scale
    den_u = den_s * scale
    return f0_hz, tuple(float(v) for v in num_u), tuple(float(v) for v in den_u)


def _bilinear_biquad(
    f0_hz: float, num_u: tuple[float, ...], den_u: tuple[float, ...], sample_rate_hz: float
) -> np.ndarray:
    """Bilinear transform of H(u), pre-warped at ``f0_hz``; returns one sos row."""
    k = np.tan(np.pi * f0_hz / sample_rate_hz)
    # u = (1 / k) (z - 1) / (z + 1); multiply by k^2 (z + 1)^2 and divide by z^2:
    # u^2 -> (1 - z^-1)^2, u -> k (1 - z^-2), 1 -> k^2 (1 + z^-1)^2.
    basis = np.array([[1.0, -2.0, 1.0], [k, 0.0, -k], [k * k, 2 * k * k, k * k]])
    b = np.asarray(num_u) @ basis
    a = np.asarray(den_u) @ basis
    return np.concatenate([b / a[0], a / a[0]])


@functools.lru_cache(maxsize=64)
def _k_weighting_sos_cached(sample_rate_hz: int) -> np.ndarray:
    sos = np.vstack(
        [_bilinear_biquad(*_analog_prototype(stage), float(sample_rate_hz)) for stage in (1, 2)]
    )
    sos.setflags(write=False)
    return sos


def k_weighting_sos(sample_rate_hz: int) -> np.ndarray:
    """K-weighting filter (BS.1770 pre-filter + RLB high-pass) as scipy ``sos``.

    Parameters
    ----------
    sample_rate_hz : int
        Sample rate in Hz; any positive rate (the corner frequencies must stay
        below Nyquist, i.e. above ~3.4 kHz).

    Returns
    -------
    numpy.ndarray
        ``(2, 6)`` float64 array ``[b0, b1, b2, 1, a1, a2]`` per stage, for
        :func:`scipy.signal.sosfilt`.  At 48 kHz equal to BS.1770 Tables 1-2.
    """
    if sample_rate_hz <= 2 * _analog_prototype(1)[0]:
        raise ValueError(f"sample rate {sample_rate_hz} Hz is too low for K-weighting")
    return _k_weighting_sos_cached(int(sample_rate_hz)).copy()


def _weighted_power_loop(
    x: np.ndarray, sos: np.ndarray, zi: np.ndarray, weights: np.ndarray, out: np.ndarray
) -> float:
    """``out[j] = sum_c G_c y_c[j]^2`` of the K-weighted ``x``; updates ``zi``; max |x|.

    The biquads are scipy's ``sosfilt`` recursion (transposed direct form II), term
    for term, and the channel sum is ``einsum("ij,ij,i->j")``'s order, so the result
    is bit-for-bit theirs.  Returns NaN if ``x`` has a non-finite sample.
    """
    frames, channels = x.shape
    sections = sos.shape[0]
    peak = 0.0
    finite = True
    for j in range(frames):
        acc = 0.0
        for c in range(channels):
            cur = x[j, c]
            if not np.isfinite(cur):
                finite = False
            elif abs(cur) > peak:
                peak = abs(cur)
            for s in range(sections):
                new = sos[s, 0] * cur + zi[s, c, 0]
                zi[s, c, 0] = sos[s, 1] * cur - sos[s, 4] * new + zi[s, c, 1]
                zi[s, c, 1] = sos[s, 2] * cur - sos[s, 5] * new
                cur = new
            acc += cur * cur * weights[c]
        out[j] = acc
    return peak if finite else np.nan


@functools.cache
def _weighted_power_kernel() -> Any:
    """Compiled on first use (numba is slow to import; planning a build never needs it)."""
    from numba import njit

    return njit(cache=True, nogil=True)(_weighted_power_loop)


def k_weighted_power(
    x: np.ndarray,
    sos: np.ndarray,
    zi: np.ndarray,
    weights: np.ndarray,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """K-weight ``x`` and sum its weighted squares over channels (BS.1770 eq. 1 and 4).

    Parameters
    ----------
    x : numpy.ndarray
        ``(frames, channels)`` float64.
    sos : numpy.ndarray
        :func:`k_weighting_sos` of the sample rate.
    zi : numpy.ndarray
        ``(sections, channels, 2)`` filter state before ``x`` (zeros at the start).
    weights : numpy.ndarray
        ``(channels,)`` channel weights ``G_c``.
    out : numpy.ndarray, optional
        ``(frames,)`` float64 to write the powers into (returned as ``power``).

    Returns
    -------
    (power, zi, peak)
        ``power[j] = sum_c G_c y_c[j]^2``; the state after ``x``; ``max |x|`` (0.0 if
        empty, NaN if ``x`` has a NaN or infinite sample).  Equal, bit for bit, to
        ``scipy.signal.sosfilt`` then ``einsum``, at half their cost: one pass, no
        temporaries.
    """
    arr = np.ascontiguousarray(x, dtype=np.float64)
    state = np.array(zi, dtype=np.float64, order="C")
    power = np.empty(arr.shape[0]) if out is None else out
    peak = _weighted_power_kernel()(arr, sos, state, np.asarray(weights, np.float64), power)
    return power, state, float(peak)
