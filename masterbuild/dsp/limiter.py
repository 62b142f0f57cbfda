"""Lookahead true-peak limiter: no true peak above the ceiling, by construction.

Used as the last stage of every master (after loudness gain and sample-rate
conversion, before dither) and as the chain stage
``{ kind = "limiter", ceiling_dbtp = -1.0, lookahead_ms = 2.0, release_ms = 80 }``.

Signal flow (a block is a fixed handful of numpy calls and one compiled loop, never a
per-sample Python loop).  ``L`` is the lookahead in samples, ``x[j]`` the input:

1. **True-peak estimate** (ITU-R BS.1770-4/-5 Annex 2).  ``q[j]`` = the largest
   ``|value|`` over all channels (stereo-linked gain) of ``x[j]`` and of the
   over-sampled points in ``(j - 1, j]`` read through two interpolators at the
   meter's ratio (8x below 88.2 kHz, 4x to 176.4 kHz, 2x above):

   * the meter's own filter (:func:`masterbuild.dsp.truepeak.interpolator`, a
     Kaiser-windowed sinc of 32 taps per phase, float32, each phase normalised to
     unit DC gain): the limiter sees exactly what our meter will read;
   * a full-band Kaiser-windowed sinc, 32 taps per phase, built as FFmpeg's
     swresample builds it (:func:`wideband_taps`): FFmpeg's ``ebur128=peak=true``
     resamples to 192 kHz with it.  The meter's filter has the same design, so the
     two readings agree to within their normalisation and float32 rounding; this
     one is kept because at the start of a signal it is also evaluated on the
     signal reflected about its first sample, as swresample extends it
     (:func:`_mirrored_start_peaks`), which our meter does not do.
2. **Neighbourhood** ``p[n] = max q[n-15 .. n+16]``: every over-sampled point in
   ``(n - 16, n + 16]``, so the gain is fully down over the meter interpolator's whole
   support (32 inputs) around an over (the over-sampled output is then the
   over-sampled input times one gain, to within the margin), and the first and last
   samples also cover the interpolator's ringing before the start and after the end.
3. **Required reduction** ``r_req[n] = max(0, 20 log10 p[n] - (ceiling - margin))``,
   dB.  :data:`MARGIN_DB` covers the gain's own modulation of the over-sampled
   output and the points of FFmpeg's 192 kHz grid that fall between ours (measured
   by the tests: our meter and FFmpeg read at most the threshold itself, FFmpeg to
   its one printed decimal).
4. **Lookahead** ``r_la[n] = max r_req[n .. n+L-1]`` (sliding maximum).  Stages 4-6
   run as a few passes over the block (:func:`_detect`): sliding maxima and minima by
   van Herk / Gil-Werman, exact like every other step, and one compiled recursion.
5. **Program-dependent release** ``r1 = max(fast, slow)``, two peak detectors with
   exponential release in the log (dB) domain (Giannoulis, Massberg & Reiss,
   "Digital Dynamic Range Compressor Design -- A Tutorial and Analysis", JAES
   60(6), 2012, the peak detectors of section 3):

   * ``fast[n] = max(r_la[n], a_f fast[n-1])``, time constant ``release_ms``;
   * ``slow[n] = max(min(r_la[n], sus[n]), a_s slow[n-1])``, time constant
     :data:`SLOW_RELEASE_FACTOR` x ``release_ms``, fed only with the *sustained*
     reduction ``sus[n]`` = min over the last :data:`SUSTAIN_WINDOW_MS` of (max
     over the last :data:`SUSTAIN_PERIOD_MS` of ``r_la``): the level limiting has
     reached at least once every 25 ms for 100 ms (a morphological closing).

   An isolated click or a short burst never raises ``sus`` and recovers at
   ``release_ms``.  On sustained limiting (a held bass note, a dense mix driven into
   the limiter) the slow detector holds the sustained level between waveform peaks
   (no ripple at the signal's period, no pumping) and lets go slowly when the
   passage ends; a transient on top recovers fast down to the sustained level.
   This is our scheme, in the spirit of the dual-time-constant ("auto") release of
   broadcast limiters.  ``r[n] = max(u[n], a r[n-1])`` is a recursion numpy cannot
   express cheaply (:func:`release` runs it alone for the loudness model).
6. **Attack smoothing**: two cascaded moving averages of ``L1 + L2 - 1 = L`` samples
   (triangular-like weights ``w >= 0``, ``sum w = 1``, support ``[n-L+1, n]``): a
   C1-continuous S-shaped attack that lies entirely inside the lookahead.
7. **Gain** ``10 ** (-s / 20)`` applied to the input delayed by ``D = L + 46``
   samples (31 for the interpolators, 16 for the neighbourhood, ``L - 1`` for the
   lookahead).

Why the ceiling holds (P. Hämäläinen, "Smoothing of the Control Signal without
Clipped Output in Digital Peak Limiters", DAFx-02, 2002; G. Luff, "Designing a
straightforward limiter", Signalsmith Audio, 2022): for every ``m`` in
``[n-L+1, n]`` the lookahead window ``[m, m+L-1]`` contains ``n``, so
``r1[m] >= r_la[m] >= r_req[n]``.  The smoothed reduction ``s[n]`` is a weighted
mean of exactly those ``r1[m]`` with non-negative weights summing to one, hence
``s[n] >= r_req[n]``, and the gain at ``n`` is at most ``(ceiling - margin) / p[n]``:
the attack is complete before the peak arrives.  The moving averages run on
integers (reductions rounded *up* to a 2**-32 dB grid, partial means rounded *up*),
so the inequality survives rounding exactly.  Where nothing goes over, every
reduction is exactly 0 and the output is the delayed input, bit for bit.

Streaming: the state (:class:`LimiterState`) is an immutable value.  The release
detectors carry their last value, every other stage is a sliding max, min or exact
integer sum, and the
over-sampling runs in matrix products of one fixed shape, so the output is the same
bit for bit however the signal is cut into blocks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from masterbuild.dsp import foldedpeaks, truepeak
from masterbuild.dsp.chain import CompiledStage
from masterbuild.dsp.gain import scale_frames

__all__ = [
    "CHUNK_FRAMES",
    "MARGIN_DB",
    "LimiterConfig",
    "LimiterState",
    "Oversampler",
    "compile_limiter",
    "initial_state",
    "limit",
    "limiter_config",
    "limiter_gain_db",
    "neighbourhood_peak_blocks",
    "oversampler",
    "wideband_taps",
]

MARGIN_DB = 0.1  # threshold below the ceiling; what it must cover is measured in the tests
SLOW_RELEASE_FACTOR = 8.0  # slow detector's time constant, in units of release_ms
SUSTAIN_PERIOD_MS = 25.0  # limiting recurring at least this often counts as one passage
SUSTAIN_WINDOW_MS = 100.0  # ... and lasting this long is "sustained"
REDUCTION_FLOOR_DB = 1e-9  # a release tail below this is exactly 0 (gain exactly 1)
GRID_DB = 2.0**-32  # integer grid of the attack smoothing (exact sums)
MAX_INPUT = 1e12  # |sample| limit (+240 dBFS) keeping the integer sums far from overflow
CHUNK_FRAMES = 65536  # internal block (bounded temporaries); cut at its multiples
HALF_SUPPORT = truepeak.TAPS_PER_PHASE // 2  # 16: half the meter interpolator's support
WIDE_TAPS = 32  # taps per phase of the wide-band interpolator (as FFmpeg's swresample)
WIDE_KAISER_BETA = 9.0  # its Kaiser window (swresample's default)
# The interval (j-1, j] is evaluated once x[j + 31] is in (not x[j + 15]): 16 frames of extra
# latency that let the first intervals also be read the way FFmpeg reads them (see
# _mirrored_start_peaks).  Windows for a block therefore reach back 47 frames.
_INTERP_DELAY = WIDE_TAPS - 1
_WINDOW_HISTORY = _INTERP_DELAY + WIDE_TAPS // 2  # 47
_BATCH = 512  # windows per matrix product (fixed shape: identical rounding everywhere)


class LimiterConfig(NamedTuple):
    """Constants of one limiter at one sample rate (from :func:`limiter_config`)."""

    sample_rate_hz: int
    ceiling_dbtp: float
    threshold_db: float  # ceiling - margin, dBTP
    threshold_lin: float
    lookahead: int  # L, samples
    box1: int  # L1, samples
    box2: int  # L2 = L - L1 + 1, samples
    sustain_period: int  # samples
    sustain_window: int  # samples
    log_a_fast: float  # log of the per-sample release coefficient (< 0)
    log_a_slow: float
    over: Oversampler
    delay: int  # D = L + 46, samples
    history: int  # input frames kept from block to block: max(D, 48)


class LimiterState(NamedTuple):
    """Everything carried from block to block (immutable; replaced by every step)."""

    frames_in: int  # input frames consumed so far
    x_tail: np.ndarray  # (history, channels) last input frames (zeros before the start)
    q_tail: np.ndarray  # (31,) last interval peaks, linear
    req_tail: np.ndarray  # (L - 1,) last required reductions, dB
    la_tail: np.ndarray  # (sustain_period - 1,) last lookahead reductions, dB
    held_tail: np.ndarray  # (sustain_window - 1,) last sustain-period maxima, dB
    fast_db: float  # last reduction of the fast release detector, dB
    slow_db: float  # the same for the slow detector
    r_tail: np.ndarray  # (L1 - 1,) int64 last reductions on the grid
    c1_tail: np.ndarray  # (L2 - 1,) int64 last first-stage means on the grid


def limiter_config(
    sample_rate_hz: float,
    ceiling_dbtp: float = -1.0,
    lookahead_ms: float = 2.0,
    release_ms: float = 80.0,
) -> LimiterConfig:
    """Derive the per-sample constants of a limiter.

    Parameters
    ----------
    sample_rate_hz : float
        Sample rate in Hz (a positive integer value).
    ceiling_dbtp : float
        Largest allowed true-peak level of the output, dBTP.
    lookahead_ms : float
        Lookahead = attack time, milliseconds (at least 2 samples).
    release_ms : float
        Release time constant for isolated peaks, milliseconds.

    Returns
    -------
    LimiterConfig
    """
    if int(sample_rate_hz) != sample_rate_hz or sample_rate_hz <= 0:
        raise ValueError(f"sample rate must be a positive integer in Hz, got {sample_rate_hz!r}")
    if not (math.isfinite(ceiling_dbtp) and lookahead_ms > 0 and release_ms > 0):
        raise ValueError("ceiling_dbtp must be finite; lookahead_ms and release_ms positive")
    fs = int(sample_rate_hz)
    lookahead = max(2, round(lookahead_ms * fs / 1000.0))
    box1 = (lookahead + 1) // 2
    threshold_db = float(ceiling_dbtp) - MARGIN_DB
    release = release_ms * fs / 1000.0
    return LimiterConfig(
        sample_rate_hz=fs,
        ceiling_dbtp=float(ceiling_dbtp),
        threshold_db=threshold_db,
        threshold_lin=10.0 ** (threshold_db / 20.0),
        lookahead=lookahead,
        box1=box1,
        box2=lookahead - box1 + 1,
        sustain_period=max(1, round(SUSTAIN_PERIOD_MS * fs / 1000.0)),
        sustain_window=max(1, round(SUSTAIN_WINDOW_MS * fs / 1000.0)),
        log_a_fast=-1.0 / release,
        log_a_slow=-1.0 / (SLOW_RELEASE_FACTOR * release),
        over=oversampler(fs),
        delay=lookahead - 1 + _INTERP_DELAY + HALF_SUPPORT,
        history=max(lookahead - 1 + _INTERP_DELAY + HALF_SUPPORT, _WINDOW_HISTORY + 1),
    )


def initial_state(cfg: LimiterConfig, channels: int) -> LimiterState:
    """State before the first sample: silence before the start, no reduction."""
    if channels < 1:
        raise ValueError(f"need at least one channel, got {channels}")
    return LimiterState(
        frames_in=0,
        x_tail=np.zeros((cfg.history, channels)),
        q_tail=np.zeros(2 * HALF_SUPPORT - 1),
        req_tail=np.zeros(cfg.lookahead - 1),
        la_tail=np.zeros(cfg.sustain_period - 1),
        held_tail=np.zeros(cfg.sustain_window - 1),
        fast_db=0.0,
        slow_db=0.0,
        r_tail=np.zeros(cfg.box1 - 1, dtype=np.int64),
        c1_tail=np.zeros(cfg.box2 - 1, dtype=np.int64),
    )


# --- sliding windows ------------------------------------------------------------------


def _trailing(
    tail: np.ndarray, new: np.ndarray, width: int, reduce: str
) -> tuple[np.ndarray, np.ndarray]:
    """Max / min of every ``width`` window of ``tail ++ new`` that ends inside ``new``.

    ``tail`` holds the ``width - 1`` values before ``new``.  Returns the
    ``len(new)`` results and the new tail.  Exact (no arithmetic; a minimum is the
    negated maximum of the negated values).
    """
    if width == 1 or new.size == 0:
        return new.copy(), tail
    joined = np.concatenate([tail, new]).astype(np.float64, copy=False)
    if reduce == "max":
        out = _sliding_max_kernel()(joined, width)
    else:
        out = -_sliding_max_kernel()(-joined, width)
    return out, joined[new.size :]


def _sliding_max_loop(joined: np.ndarray, width: int) -> np.ndarray:
    """``max(joined[i : i + width])`` for every whole window (van Herk / Gil-Werman).

    Per cell of ``width`` values, a running maximum forward (``ahead``) and one
    backward (``behind``); a window starting at ``i`` covers the end of one cell and
    the start of the next, so its maximum is ``max(behind[i], ahead[i + width - 1])``:
    three branch-free passes, where a monotonic deque mispredicts its branches on
    music (about 11 ns a value, like scipy's filter, against 2 here).
    """
    size = joined.size
    ahead = np.empty(size)
    behind = np.empty(size)
    for start in range(0, size, width):
        stop = min(start + width, size)
        m = joined[start]
        for k in range(start, stop):
            v = joined[k]
            m = v if v > m else m
            ahead[k] = m
        m = joined[stop - 1]
        for k in range(stop - 1, start - 1, -1):
            v = joined[k]
            m = v if v > m else m
            behind[k] = m
    out = np.empty(max(size - width + 1, 0))
    for i in range(out.size):
        a, b = behind[i], ahead[i + width - 1]
        out[i] = a if a > b else b
    return out


@functools.cache
def _sliding_max_kernel() -> Any:
    """:func:`_sliding_max_loop` compiled by numba (on first use, like the others)."""
    from numba import njit

    return njit(cache=True, nogil=True)(_sliding_max_loop)


# --- stage 1: interval true peaks ------------------------------------------------------


class Oversampler(NamedTuple):
    """Polyphase taps giving the over-sampled points in ``(j - 1, j]`` from 32 inputs.

    ``folded`` is the meter's interpolator (:func:`masterbuild.dsp.truepeak.interpolator`,
    its taps centred in the 32 inputs ``x[j - 16 : j + 16]``, oldest first) at the phases
    ``j - 1 + k / factor``, ``k = 1 .. factor``, folded
    (:mod:`masterbuild.dsp.foldedpeaks`); ``wide_t`` the wide-band one
    (:func:`wideband_taps`).  Each wide-band phase is the meter's phase times a constant
    (the two differ only in their normalisation), so the wide-band reading is the
    meter's times at most ``wide_scale``: the interval peaks read the meter's taps
    alone and scale by it.
    """

    folded: foldedpeaks.Folded
    wide_t: np.ndarray  # (factor, WIDE_TAPS) float32
    wide_scale: float  # >= 1: bound on wide-band / meter reading
    l1_bound: float  # max over rows of sum |taps| x wide_scale, with float32 margin


def wideband_taps(factor: int) -> np.ndarray:
    """Kaiser-windowed sinc interpolator as FFmpeg's swresample builds it for up-sampling.

    Parameters
    ----------
    factor : int
        Number of phases per input sample.

    Returns
    -------
    numpy.ndarray
        ``(factor, WIDE_TAPS)`` float64; row ``k - 1`` interpolates time
        ``j - 1 + k / factor`` from inputs ``j - 16 .. j + 15``.

    Notes
    -----
    ``build_filter`` in libswresample/resample.c: when up-sampling the sinc is
    full-band (the 0.97 cutoff is clipped to 1), ``filter_size`` 32 taps, Kaiser
    window ``I0(beta sqrt(1 - (2 d / 32)^2))`` with beta 9 over the distance ``d``
    (samples) between input and output, normalised by the sum of phase 0 (so phase 0
    is the identity).  FFmpeg's ebur128 filter reads true peak through it at
    192 kHz.  The meter's interpolator has the same design (normalised per phase as
    swresample does); limiting against the larger of the two readings satisfies
    both meters, including FFmpeg's mirrored start (:func:`_mirrored_start_peaks`).
    """
    half = WIDE_TAPS // 2
    m = np.arange(WIDE_TAPS)
    rows = []
    for k in range(1, factor + 1):
        d = (half - 1 + k / factor) - m  # output time minus input time, samples
        window = np.i0(WIDE_KAISER_BETA * np.sqrt(np.clip(1.0 - (d / half) ** 2, 0.0, None)))
        rows.append(np.sinc(d) * window / np.i0(WIDE_KAISER_BETA))
    return np.array(rows)


@functools.cache
def oversampler(sample_rate_hz: int) -> Oversampler:
    """The folded meter interpolator and the wide-band one for a sample rate (cached)."""
    factor = truepeak.oversampling_factor(sample_rate_hz)
    meter = truepeak.interpolator(factor).taps.astype(np.float64).T  # (factor, T)
    pad = (WIDE_TAPS - truepeak.TAPS_PER_PHASE) // 2
    meter32 = np.zeros((factor, WIDE_TAPS))
    meter32[:, pad : pad + truepeak.TAPS_PER_PHASE] = meter
    wide = wideband_taps(factor)
    wide_t = np.ascontiguousarray(wide, dtype=np.float32)
    support = meter32 != 0
    ratios = np.abs(wide[support]) / np.abs(meter32[support])
    per_row = [np.ptp(np.abs(wide[k][support[k]] / meter32[k][support[k]])) for k in range(factor)]
    outside = np.abs(wide[~support]).max(initial=0.0)
    if max(per_row) > 1e-5 or outside > 1e-6:  # pragma: no cover - a different design
        raise ValueError("the wide-band interpolator is not proportional to the meter's")
    # 1e-5 covers the float32 rounding of both readings (|relative error| < 32 x 2**-24).
    scale = max(1.0, float(ratios.max())) * (1.0 + 1e-5)
    l1 = float(np.abs(meter32).sum(axis=1).max()) * scale * (1.0 + 1e-4)
    return Oversampler(foldedpeaks.fold(meter32), wide_t, scale, l1)


def _interval_peaks(ext: np.ndarray, over: Oversampler, floor: float) -> np.ndarray:
    """Largest |over-sampled value| in ``(j - 1, j]`` over channels, for each input ``j``.

    Parameters
    ----------
    ext : numpy.ndarray
        ``(channels, 31 + n)`` float32: 31 history frames then ``n`` frames.
        Window ``i`` (``ext[:, i : i + 32]``) gives the over-sampled points in
        ``(j - 1, j]`` where ``x[j] = ext[:, i + 16]``.
    over : Oversampler
    floor : float
        Only values above it matter: a batch of windows whose bound
        (``max|input| x L1 norm of the taps``) stays at or below ``floor`` is
        returned as zeros (exact for everything downstream, which only asks
        whether the value exceeds ``floor``).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64, linear (1.0 = 0 dBTP), including ``|x[j]|`` itself.
    """
    n = ext.shape[1] - (WIDE_TAPS - 1)
    out = np.zeros(max(n, 0))
    if n <= 0:
        return out
    # Batches start on a grid of the input: every batch is the same product wherever
    # the caller's block boundaries fall.
    padded, magnitude = foldedpeaks.padded_batches(ext, _BATCH)
    bounds = magnitude * over.l1_bound
    listed = np.flatnonzero(bounds > floor)
    foldedpeaks.batch_peaks(padded, listed, over.folded, _BATCH, over.wide_scale, out)
    return out


_MIRRORED = WIDE_TAPS // 2  # intervals 1 .. 16 read pre-start samples through the wide filter


def _mirrored_start_peaks(head: np.ndarray, over: Oversampler) -> np.ndarray:
    """Wide-band peaks of intervals ``(j - 1, j]``, ``j = 1 .. 16``, with a mirrored start.

    FFmpeg's swresample starts a stream by reflecting it about its first sample,
    ``x[-m] = x[m]`` (``invert_initial_buffer`` in libswresample/resample.c), where
    our meter assumes silence before the start.  A signal that starts abruptly (a
    full-scale chord on sample 0) reads up to ~0.5 dB higher that way; this computes
    those readings so that the limiter covers them too.

    Parameters
    ----------
    head : numpy.ndarray
        ``(32, channels)`` float64, frames ``x[0 .. 31]`` (zeros past the end).

    Returns
    -------
    numpy.ndarray
        ``(16,)`` float64, linear; element ``j - 1`` for interval ``j``.
    """
    padded = np.concatenate([head[1:_MIRRORED][::-1], head])  # x[-15 .. 31]
    win = np.lib.stride_tricks.sliding_window_view(padded, WIDE_TAPS, axis=0)  # (16, ch, 32)
    y = np.matmul(over.wide_t, win.astype(np.float32).transpose(1, 2, 0))
    return np.abs(y).max(axis=(0, 1)).astype(np.float64)


def _neighbourhood_peaks(
    cfg: LimiterConfig, state: LimiterState, joined: np.ndarray, n: int, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Stages 1-2 for the ``n`` new frames at the end of ``joined`` (history first).

    Returns ``p`` (linear; element ``i`` is the neighbourhood of input frame
    ``frames_in + i - 47``) and the new tail of interval peaks.  Values at or
    below ``floor`` may read as 0 (see :func:`_interval_peaks`).
    """
    h = cfg.history
    ext = joined[h - _WINDOW_HISTORY : h + n - (_WINDOW_HISTORY - _INTERP_DELAY)]
    q = _interval_peaks(np.ascontiguousarray(ext.T, dtype=np.float32), cfg.over, floor)
    first_j = state.frames_in - _INTERP_DELAY  # interval index of q[0]
    if first_j <= _MIRRORED and first_j + n > 1:
        x0 = state.frames_in - h  # global index of joined[0] (<= 0 here)
        start = _mirrored_start_peaks(joined[-x0 : -x0 + WIDE_TAPS], cfg.over)  # j = 1 .. 16
        lo, hi = max(1, first_j), min(_MIRRORED, first_j + n - 1)
        q[lo - first_j : hi - first_j + 1] = np.maximum(
            q[lo - first_j : hi - first_j + 1], start[lo - 1 : hi]
        )
    return _trailing(state.q_tail, q, 2 * HALF_SUPPORT, "max")


# --- stage 5: release ------------------------------------------------------------------


def _release_loop(u: np.ndarray, last: float, a: float, floor: float, out: np.ndarray) -> float:
    """``out[n] = max(u[n], a out[n-1])`` from ``out[-1] = last``; below ``floor`` is 0."""
    r = last
    for n in range(u.size):
        r = a * r
        if u[n] > r:
            r = u[n]
        if r < floor:  # a finished release is exactly 0 (and never decays into denormals)
            r = 0.0
        out[n] = r
    return r


@functools.cache
def _release_kernel() -> Any:
    """The release recursion compiled by numba: the one loop numpy cannot express.

    (A running maximum in the log domain expresses it, at ten times the cost.)
    Compiled on first use, so planning a build never imports numba.
    """
    from numba import njit

    return njit(cache=True, nogil=True)(_release_loop)


def release(u: np.ndarray, last_db: float, log_a: float) -> tuple[np.ndarray, float]:
    """Peak detector ``r[n] = max(u[n], a r[n-1])`` on dB reductions (step 5).

    Parameters
    ----------
    u : numpy.ndarray
        Reductions wanted, dB (>= 0).
    last_db : float
        The detector's value before ``u[0]``.
    log_a : float
        Log of the per-sample release coefficient (< 0).

    Returns
    -------
    tuple
        The detector's values (dB; below :data:`REDUCTION_FLOOR_DB` exactly 0) and
        its last value, to carry into the next block: the result does not depend on
        how the signal is cut into blocks.
    """
    out = np.empty(u.size)
    last = _release_kernel()(
        np.ascontiguousarray(u, dtype=np.float64),
        float(last_db),
        math.exp(log_a),
        REDUCTION_FLOOR_DB,
        out,
    )
    return out, float(last)


# --- stages 4-6 ---------------------------------------------------------------------------


def _release_pair_loop(
    la: np.ndarray,
    sus: np.ndarray,
    fast: float,
    slow: float,
    a_fast: float,
    a_slow: float,
    floor: float,
    inv_grid: float,
    r_out: np.ndarray,
) -> tuple[float, float]:
    """Stage 5's two release detectors; ``r_out`` = their larger value on the grid, rounded up.

    Returns the detectors' last values.  (The recursion of :func:`_release_loop`, twice.)
    """
    for i in range(la.size):
        v = la[i]
        fast = a_fast * fast
        if v > fast:
            fast = v
        if fast < floor:
            fast = 0.0
        u = min(v, sus[i])
        slow = a_slow * slow
        if u > slow:
            slow = u
        if slow < floor:
            slow = 0.0
        # Both detectors are 0 or >= floor, so the grid value is 0 below it.
        r_out[i] = math.ceil(max(fast, slow) * inv_grid)
    return fast, slow


def _box_means_loop(joined: np.ndarray, box: int, out: np.ndarray) -> None:
    """``out[i] = ceil(sum(joined[i : i + box]) / box)``, exactly (non-negative integers).

    The running sum is exact in int64; the quotient is estimated in float64 and
    corrected by one step either way, which makes it exact while the sums stay below
    2**53.  Here they stay below it: a reduction is at most ~300 dB (``MAX_INPUT``),
    under 2**41 grid steps, and a box at most 20 ms at 384 kHz, under 2**12 values.
    """
    total = 0
    for k in range(box - 1):
        total += joined[k]
    for i in range(out.size):
        total += joined[box - 1 + i]
        out[i] = total
        total -= joined[i]
    for i in range(out.size):
        t = out[i]
        q = np.int64(math.ceil(t / box))
        if q * box < t:
            q += 1
        elif (q - 1) * box >= t:
            q -= 1
        out[i] = q


@functools.cache
def _detector_kernels() -> tuple[Any, Any]:
    """:func:`_release_pair_loop` and :func:`_box_means_loop` compiled by numba (on first use)."""
    from numba import njit

    jit = njit(cache=True, nogil=True)
    return jit(_release_pair_loop), jit(_box_means_loop)


def _box_means(tail: np.ndarray, new: np.ndarray, box: int) -> tuple[np.ndarray, np.ndarray]:
    """Rounded-up means of every ``box`` window of ``tail ++ new`` ending in ``new``; new tail."""
    joined = np.concatenate([tail, new])
    out = np.empty(new.size, dtype=np.int64)
    _detector_kernels()[1](joined, box, out)
    return out, joined[new.size :].copy()


def _detect(
    cfg: LimiterConfig, state: LimiterState, req: np.ndarray
) -> tuple[np.ndarray, LimiterState]:
    """Stages 4-6 for one block: ``req`` (dB) -> smoothed reduction (dB), and the new state.

    The sliding maxima and minima are van Herk / Gil-Werman passes (:func:`_trailing`),
    the release detectors one compiled recursion, the two moving averages exact integer
    sums: a handful of branch-light passes instead of one loop of data-dependent
    branches.  Everything is exact or a fixed sequence of roundings, so the result does
    not depend on the block sizes.
    """
    la, req_tail = _trailing(state.req_tail, req, cfg.lookahead, "max")
    held, la_tail = _trailing(state.la_tail, la, cfg.sustain_period, "max")
    sus, held_tail = _trailing(state.held_tail, held, cfg.sustain_window, "min")
    r_int = np.empty(req.size, dtype=np.int64)
    fast_db, slow_db = _detector_kernels()[0](
        la,
        sus,
        float(state.fast_db),
        float(state.slow_db),
        math.exp(cfg.log_a_fast),
        math.exp(cfg.log_a_slow),
        REDUCTION_FLOOR_DB,
        1.0 / GRID_DB,  # a power of two: multiplying by it is dividing by the grid
        r_int,
    )
    c1, r_tail = _box_means(state.r_tail, r_int, cfg.box1)
    smoothed, c1_tail = _box_means(state.c1_tail, c1, cfg.box2)
    return smoothed * GRID_DB, state._replace(
        req_tail=req_tail.copy(),
        la_tail=la_tail.copy(),
        held_tail=held_tail.copy(),
        fast_db=float(fast_db),
        slow_db=float(slow_db),
        r_tail=r_tail,
        c1_tail=c1_tail,
    )


# --- one chunk through the whole chain --------------------------------------------------


def _advance(
    cfg: LimiterConfig, state: LimiterState, x: np.ndarray
) -> tuple[LimiterState, np.ndarray, np.ndarray]:
    """Process ``x`` (frames inside one grid cell of CHUNK_FRAMES).

    Returns the new state, the input delayed by ``D`` and the smoothed gain
    reduction (dB) for those same delayed frames (global indices
    ``frames_in - D ..``; negative ones are before the start and are dropped by the
    caller).
    """
    n = x.shape[0]
    joined = np.concatenate([state.x_tail, x])
    h = cfg.history
    p, q_tail = _neighbourhood_peaks(cfg, state, joined, n, cfg.threshold_lin)
    over = p > cfg.threshold_lin
    req = np.zeros(n)
    # Stage 3 stays in numpy: numba's log10 may differ from numpy's in the last bit.
    req[over] = np.maximum(20.0 * np.log10(p[over]) - cfg.threshold_db, 0.0)
    smoothed_db, detected = _detect(cfg, state, req)
    new_state = detected._replace(
        frames_in=state.frames_in + n, x_tail=joined[n:].copy(), q_tail=q_tail.copy()
    )
    return new_state, joined[h - cfg.delay : h - cfg.delay + n], smoothed_db


def _as_block(x: np.ndarray, channels: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != channels:
        raise ValueError(f"expected a block of shape (frames, {channels}), got {arr.shape}")
    if arr.size:
        peak = max(float(arr.max()), -float(arr.min()))
        if not np.isfinite(peak):
            raise ValueError("input contains NaN or infinite samples")
        if peak > MAX_INPUT:
            raise ValueError(f"input sample {peak:g} is beyond +240 dBFS; not audio")
    return arr


def _process(
    cfg: LimiterConfig, state: LimiterState, x: np.ndarray, apply: bool = True
) -> tuple[np.ndarray, np.ndarray, LimiterState]:
    """Run a block of any size through the limiter.

    Returns ``(y, reduction_db, state)`` for the frames this block releases, aligned
    with the input (frames before the start of the signal are dropped): ``y`` is the
    limited signal (or the delayed input if not ``apply``), ``reduction_db`` the gain
    reduction per frame.
    """
    arr = _as_block(x, state.x_tail.shape[1])
    outputs: list[np.ndarray] = []
    reductions: list[np.ndarray] = []
    start = 0
    while start < arr.shape[0]:
        take = min(arr.shape[0] - start, CHUNK_FRAMES - state.frames_in % CHUNK_FRAMES)
        drop = min(take, max(0, cfg.delay - state.frames_in))  # frames before the start
        state, delayed, reduction = _advance(cfg, state, arr[start : start + take])
        delayed, reduction = delayed[drop:], reduction[drop:]
        outputs.append(_apply(delayed, reduction) if apply else delayed)
        reductions.append(reduction)
        start += take
    if not outputs:
        return np.zeros((0, arr.shape[1])), np.zeros(0), state
    return np.concatenate(outputs), np.concatenate(reductions), state


_NEG_DB_TO_LOG = -math.log(10.0) / 20.0


def _apply(delayed: np.ndarray, reduction_db: np.ndarray) -> np.ndarray:
    """``delayed * 10 ** (-reduction_db / 20)``, exactly ``delayed`` where no reduction."""
    return scale_frames(delayed, np.exp(reduction_db * _NEG_DB_TO_LOG))


def compile_limiter(stage: Mapping[str, Any], sample_rate_hz: float) -> CompiledStage:
    """Compile a ``kind = "limiter"`` stage for a sample rate.

    Parameters
    ----------
    stage : Mapping
        ``ceiling_dbtp`` (dBTP, default -1.0), ``lookahead_ms`` (ms, default 2.0),
        ``release_ms`` (ms, default 80.0); other keys are ignored here (the
        manifest model validates them).
    sample_rate_hz : float
        Sample rate in Hz.

    Returns
    -------
    CompiledStage
        ``step(x, state)`` takes ``(frames, channels)`` blocks of any size and
        returns the limited signal delayed by the lookahead, minus the frames
        before the start: the first ``D`` frames are withheld (``D = L + 46``
        samples, ``L`` = lookahead), and ``flush(state)`` returns them at the end,
        so all step outputs followed by the flush are the limited signal with the
        input's length and alignment.  The result does not depend on the block
        sizes.
    """
    cfg = limiter_config(
        sample_rate_hz,
        stage.get("ceiling_dbtp", -1.0),
        stage.get("lookahead_ms", 2.0),
        stage.get("release_ms", 80.0),
    )

    def step(x: np.ndarray, state: LimiterState) -> tuple[np.ndarray, LimiterState]:
        y, _, state = _process(cfg, state, x)
        return y, state

    def flush(state: LimiterState) -> np.ndarray:
        # D frames of silence push the withheld frames out.  They add no reduction to
        # the real frames: their neighbourhoods hold only the real signal's tail
        # (already covered by the last real frame's neighbourhood) and zeros.
        y, _ = step(np.zeros((cfg.delay, state.x_tail.shape[1])), state)
        return y

    return CompiledStage(step=step, initial_state=lambda ch: initial_state(cfg, ch), flush=flush)


def limiter_gain_db(
    x: np.ndarray,
    sample_rate_hz: float,
    ceiling_dbtp: float,
    lookahead_ms: float = 2.0,
    release_ms: float = 80.0,
) -> np.ndarray:
    """Gain reduction the limiter applies to each frame of ``x``, dB (>= 0).

    Parameters
    ----------
    x : numpy.ndarray
        ``(frames, channels)`` or ``(frames,)`` float, full scale = 1.0.
    sample_rate_hz, ceiling_dbtp, lookahead_ms, release_ms
        As :func:`limit`.

    Returns
    -------
    numpy.ndarray
        ``(frames,)`` float64: ``limit(x, ...) == x * 10 ** (-reduction / 20)``
        frame by frame (one gain for all channels).
    """
    arr = np.asarray(x, dtype=np.float64)
    arr2 = arr[:, None] if arr.ndim == 1 else arr
    cfg = limiter_config(sample_rate_hz, ceiling_dbtp, lookahead_ms, release_ms)
    state = initial_state(cfg, arr2.shape[1])
    _, head, state = _process(cfg, state, arr2, apply=False)
    _, tail, _ = _process(cfg, state, np.zeros((cfg.delay, arr2.shape[1])), apply=False)
    return np.concatenate([head, tail])


def limit(
    x: np.ndarray,
    sample_rate_hz: float,
    ceiling_dbtp: float,
    lookahead_ms: float = 2.0,
    release_ms: float = 80.0,
) -> np.ndarray:
    """Limit a whole signal so that its true peak stays at or below ``ceiling_dbtp``.

    Parameters
    ----------
    x : numpy.ndarray
        ``(frames, channels)`` or ``(frames,)`` float, full scale = 1.0.
    sample_rate_hz : float
        Sample rate in Hz.
    ceiling_dbtp : float
        Ceiling, dBTP (BS.1770 true peak as read by :mod:`masterbuild.dsp.loudness`).
    lookahead_ms : float
        Lookahead (= attack) time, milliseconds.
    release_ms : float
        Release time constant for isolated peaks, milliseconds.

    Returns
    -------
    numpy.ndarray
        float64, same shape and alignment as ``x``; bit-identical to ``x`` where no
        reduction is needed (nothing ever went over, or a release has fully ended).
    """
    arr = np.asarray(x, dtype=np.float64)
    arr2 = arr[:, None] if arr.ndim == 1 else arr
    stage = compile_limiter(
        {"ceiling_dbtp": ceiling_dbtp, "lookahead_ms": lookahead_ms, "release_ms": release_ms},
        sample_rate_hz,
    )
    head, state = stage.step(arr2, stage.initial_state(arr2.shape[1]))
    y = np.concatenate([head, stage.flush(state)])
    return y[:, 0] if arr.ndim == 1 else y


PEAK_LATENCY = _INTERP_DELAY + HALF_SUPPORT  # 47: stages 1-2 see frame m at stream index m+47


def neighbourhood_peak_blocks(
    blocks: Iterable[np.ndarray], sample_rate_hz: int, channels: int
) -> Iterator[np.ndarray]:
    """Stages 1-2 alone, at unity gain: ``p`` for every input frame, in input order.

    Element ``m`` is the largest true-peak value (linear) the limiter sees around
    frame ``m`` -- the value it compares with its threshold.  Stages 1-2 are linear
    in the input's level, so ``g * p`` is what the limiter sees after a gain ``g``:
    :mod:`masterbuild.dsp.limiter_model` predicts the limiter's reduction from it.
    Yields one array per input block (lengths sum to the input's frames).
    """
    cfg = limiter_config(sample_rate_hz)
    state = initial_state(cfg, channels)
    skip = PEAK_LATENCY

    def feed(x: np.ndarray) -> np.ndarray:
        nonlocal state, skip
        n = x.shape[0]
        joined = np.concatenate([state.x_tail, x])
        p, q_tail = _neighbourhood_peaks(cfg, state, joined, n, 0.0)
        state = state._replace(
            frames_in=state.frames_in + n, x_tail=joined[n:].copy(), q_tail=q_tail.copy()
        )
        drop = min(skip, p.size)
        skip -= drop
        return p[drop:]

    for block in blocks:
        yield feed(_as_block(block, channels))
    yield feed(np.zeros((PEAK_LATENCY, channels)))
