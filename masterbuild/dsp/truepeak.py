"""True-peak estimation per ITU-R BS.1770-4/-5 Annex 2, with explicit streaming state.

The signal is over-sampled by a polyphase FIR interpolator and the largest
absolute value of the over-sampled signal is the true-peak level (Annex 2,
sections 1-3; in floating point the 12.04 dB headroom attenuation is not
needed).  Over-sampling ratio, following Annex 2 and its Attachment 1:

* 8x below 88.2 kHz (the grid alone under-reads a 0.45 fs tone by at most
  0.14 dB, Attachment 1 table),
* 4x from 88.2 kHz, 2x from 176.4 kHz (content there is far below 0.45 fs).

Interpolator (:func:`interpolator`): a Kaiser-windowed sinc (J. F. Kaiser, "Nonrecursive
digital filter design using the I0-sinh window function", Proc. IEEE ISCAS 1974),
32 taps per phase, window ``I0(9 sqrt(1 - (d / 16)^2))`` over the distance ``d``
(input samples) between output and input, cut-off at the input's Nyquist
frequency, each phase scaled to unit DC gain.  These are the parameters of
FFmpeg's libswresample defaults (``filter_size`` 32, ``kaiser_beta`` 9,
``build_filter`` in libswresample/resample.c), which FFmpeg's ``ebur128=peak=true``
uses to over-sample to 192 kHz, because the product requirement is a true peak
within 0.2 dB of that meter.  Annex 2 fixes the ratio but not the filter (its
48-tap 4x filter is an example), and on material with energy near fs/2 the filter
decides the reading.  Measured response (``freqz``, the same at 2x, 4x and 8x),
with fs the input rate:

==========================  =================================================
0 - 0.40 fs                 within +-0.001 dB
to 0.425 / 0.436 fs         within +-0.02 dB / +-0.1 dB
0.45 fs (19.8 kHz @ 44.1k)  -0.38 dB
0.50 fs                     -6.02 dB (transition centred on Nyquist)
0.55 fs                     -27.5 dB (image of 0.45 fs)
0.60 fs and above           -91 dB or lower
==========================  =================================================

The phase on the input samples is the identity (those points are the samples).
The transition is symmetric about fs/2, so a tone at f and its image at fs - f add
up to the tone's amplitude (``|H(f)| + |H(fs - f)| = 1`` within 1e-4 for all f):
measured, steady sines from 0.30 to 0.48 fs read within -0.09 / +0.00 dB of their
peak at 44.1 kHz, grid included; Tech 3341 cases 15-19 read exactly (to 0.001 dB).

Why not a filter flat to 0.45 fs with a 0.45-0.55 fs transition (least squares,
Parks-McClellan or Kaiser, 32-48 taps per phase): such filters read what an
ideal reconstruction reads, and on full-scale noise that is well above FFmpeg --
measured, 3 s stereo, at 44.1 / 48 kHz: binary +-1 noise +0.5 / +0.4 dB
(+0.7 / +0.6 dB on 20 s), Gaussian noise clipped at full scale +0.45 dB, a
5 kHz square at 48 kHz +0.24 dB with ``firls`` 0.45/0.55 fs, 32 taps per phase;
a near-ideal 128-tap-per-phase design reads about 1.2 dB above FFmpeg on the
noises.  (The peak of band-limited binary noise grows with the interpolator's
length: there is no filter-independent value.)  The design here reads within
-0.05 / +0.12 dB of FFmpeg's printed value (one decimal) on 34 cases at 44.1 and
48 kHz: binary and clipped Gaussian noise, clipped pink noise, clipped music,
square waves of 3-15 kHz, sines of 14-21 kHz; the previous 16-tap least-squares
filter (flat to 0.40 fs, -1.3 dB at 0.45 fs) read up to 1.0 dB low.

The phases are evaluated folded about the window's middle (phase ``k`` and phase
``L - k`` are mirror images: :mod:`masterbuild.dsp.foldedpeaks`), fewer than half the
products of a direct evaluation, to the same value within float32 rounding.
Speed-up that does not change the answer: for each batch of output samples an
upper bound (largest |input| the taps see x the largest L1 norm of a phase) is
compared with the running maximum; batches that cannot exceed it are skipped.
The result is exactly the maximum over all outputs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from masterbuild.dsp import foldedpeaks

TAPS_PER_PHASE = 32
KAISER_BETA = 9.0  # Kaiser window shape (libswresample's default kaiser_beta)
# Outputs per matrix product (and per pruning decision): (4 x 16) @ (16 x 2048) stays well
# below OpenBLAS's threading threshold; products large enough to go multi-threaded ran
# 10-50x slower on a busy 2-core machine.  Must be >= TAPS_PER_PHASE - 1.
_BATCH = 2048


def oversampling_factor(sample_rate_hz: int) -> int:
    """Over-sampling ratio used for true peak at ``sample_rate_hz`` (8, 4 or 2)."""
    if sample_rate_hz < 88200:
        return 8
    if sample_rate_hz < 176400:
        return 4
    return 2


class Interpolator(NamedTuple):
    """Polyphase interpolator: ``taps[:, k]`` gives the sample at phase ``(k + 1) / L``."""

    taps: np.ndarray  # (TAPS_PER_PHASE, L) float32, oldest input first
    l1_bound: float  # max over phases of sum |taps|, with margin for float32 rounding
    folded: foldedpeaks.Folded  # the same taps folded about their middle (what is evaluated)


def kaiser_sinc_taps(factor: int) -> np.ndarray:
    """Phases of the Kaiser-windowed sinc interpolator, float64 (see the module docstring).

    Parameters
    ----------
    factor : int
        Over-sampling ratio L.

    Returns
    -------
    numpy.ndarray
        ``(TAPS_PER_PHASE, factor)``: column ``k`` applied to the window
        ``x[n - T + 1 .. n]`` (oldest first, ``T = TAPS_PER_PHASE``) interpolates
        time ``n - T/2 + (k + 1) / factor``.  Every column sums to 1; the last one
        is the identity on ``x[n - T/2 + 1]``.
    """
    half = TAPS_PER_PHASE // 2
    # d[i, k]: output time minus the time of input i, in input samples, in (-16, 16].
    d = (half - 1 - np.arange(TAPS_PER_PHASE))[:, None] + (np.arange(factor) + 1.0) / factor
    on_sample = d == np.round(d)  # sinc is exactly 1 at d = 0 and 0 at other integers
    sinc = np.where(on_sample, (d == 0).astype(float), np.sinc(d))
    window = np.i0(KAISER_BETA * np.sqrt(np.clip(1.0 - (d / half) ** 2, 0.0, None)))
    taps = sinc * window
    return taps / taps.sum(axis=0)  # unit DC gain per phase, as libswresample normalises


@functools.cache
def interpolator(factor: int) -> Interpolator:
    """Build the ``factor``-times polyphase interpolator (cached).

    Parameters
    ----------
    factor : int
        Over-sampling ratio L.

    Returns
    -------
    Interpolator
        Taps arranged as ``(TAPS_PER_PHASE, factor)`` float32 so that
        ``window @ taps`` with ``window = x[n - T + 1 : n + 1]`` gives the L
        interpolated values in ``(n - T/2, n - T/2 + 1]``.
    """
    taps = kaiser_sinc_taps(factor)
    margin = 1.0 + 1e-4  # covers float32 rounding of inputs, taps and products
    l1 = float(np.abs(taps).sum(axis=0).max()) * margin
    return Interpolator(np.ascontiguousarray(taps, dtype=np.float32), l1, foldedpeaks.fold(taps.T))


def initial_history(channels: int) -> np.ndarray:
    """Interpolator input history before the first sample: ``T - 1`` zero frames."""
    return np.zeros((channels, TAPS_PER_PHASE - 1), dtype=np.float32)


def peak_of_extended(ext: np.ndarray, interp: Interpolator, floor: float) -> float:
    """Largest |over-sampled value| of a chunk given with its input history.

    Parameters
    ----------
    ext : numpy.ndarray
        ``(channels, T - 1 + frames)`` float32: the last ``T - 1`` input frames
        of the previous chunk (zeros at the start), then the chunk (full scale 1.0).
    interp : Interpolator
        From :func:`interpolator`.
    floor : float
        A level the caller already knows the true peak reaches (linear); batches
        of outputs that provably stay at or below it are skipped.

    Returns
    -------
    float
        ``max(floor, largest |interpolated value|)`` (linear, 1.0 = 0 dBTP).

    Notes
    -----
    Output ``i`` (``L`` phases) reads ``ext[:, i : i + T]``, through the folded
    interpolator (:mod:`masterbuild.dsp.foldedpeaks`), a batch of ``_BATCH``
    outputs at a time.  The most promising batch (largest bound) is evaluated
    first, so that quiet passages are skipped.
    """
    n_taps = TAPS_PER_PHASE
    n_out = ext.shape[1] - (n_taps - 1)
    peak = floor
    if n_out <= 0:
        return peak
    padded, magnitude = foldedpeaks.padded_batches(ext, _BATCH)
    bounds = magnitude * interp.l1_bound
    first = int(np.argmax(bounds))
    if bounds[first] <= peak:
        return peak
    values = np.zeros(n_out)
    folded = interp.folded
    foldedpeaks.batch_peaks(padded, np.array([first]), folded, _BATCH, 1.0, values)
    peak = max(peak, float(values.max()))
    bounds[first] = 0.0  # evaluated; the others are pruned against what it read
    rest = np.flatnonzero(bounds > peak)
    foldedpeaks.batch_peaks(padded, rest, folded, _BATCH, 1.0, values)
    return max(peak, float(values.max()))


def flush_peak(history: np.ndarray, interp: Interpolator, floor: float) -> float:
    """Peak of the interpolator's tail after the last input (input followed by zeros).

    ``history`` is the ``(channels, T - 1)`` float32 last input frames.
    """
    ext = np.concatenate([history, np.zeros_like(history)], axis=1)
    return peak_of_extended(ext, interp, floor)
