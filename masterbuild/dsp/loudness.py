"""Loudness meter: ITU-R BS.1770-4/-5, EBU Tech 3341 ("EBU Mode") and Tech 3342 (LRA).

Pure functions on ``(frames, channels)`` float arrays (full scale = 1.0) with the
sample rate explicit.  :func:`measure` and :func:`measure_blocks` run the same
computation: the input is re-cut into fixed chunks of :data:`CHUNK_FRAMES`
frames and folded through :func:`_step`, whose state (filter ``zi``, leftover
samples, running maxima) is an immutable value threaded through the loop, so
the streaming result is bit-for-bit the one-shot result whatever the block sizes.

Time grid (all sums of the K-weighted, channel-weighted squared signal):

* tick: 10 ms (``round(fs / 100)`` samples); 100 ms sub-block = 10 ticks;
* gating block (BS.1770 eq. 3): 400 ms = 4 sub-blocks, hop 100 ms (75 % overlap);
* momentary (Tech 3341 2.2): 400 ms window; its maximum is taken over every 10 ms
  hop so that bursts that do not start on a 100 ms boundary read in full
  (Tech 3341 case 13 needs that: a 100 ms hop under-reads by up to 1 LU);
* short-term: 3 s window; maximum over every 10 ms hop, and the 10 Hz series
  (every 100 ms, Tech 3342 3.1) for the loudness range.

At rates that are not a multiple of 100 Hz a tick is the nearest whole number of
samples (e.g. 220 at 22.05 kHz), as BS.1770 takes blocks "to the nearest sample".

True peak (BS.1770 Annex 2) is :mod:`masterbuild.dsp.truepeak`: 8x over-sampling
below 88.2 kHz, 4x to 176.4 kHz, 2x above; it runs on one worker thread, local
to the call, while the K-weighting runs on the caller's thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from masterbuild.dsp import truepeak
from masterbuild.dsp.kweighting import k_weighted_power, k_weighting_sos
from masterbuild.threads import spare_core

__all__ = [
    "CHUNK_FRAMES",
    "Loudness",
    "channel_weights",
    "integrated_lufs_from_powers",
    "k_weighting_sos",
    "loudness_range_lu",
    "measure",
    "measure_blocks",
    "momentary_lufs",
    "short_term_lufs",
    "true_peak_dbtp",
]

CHUNK_FRAMES = 65536  # internal processing chunk; independent of the caller's block sizes
LOUDNESS_OFFSET_DB = -0.691  # BS.1770 eq. (2): cancels the K-weighting gain at 997 Hz
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770 eq. (6), Tech 3342 3.1
RELATIVE_GATE_LU = -10.0  # BS.1770 eq. (6)-(7)
LRA_RELATIVE_GATE_LU = -20.0  # Tech 3342 3.1
LRA_PERCENTILES = (10.0, 95.0)  # Tech 3342 3.1
TICKS_PER_SUBBLOCK = 10  # 10 ms ticks in a 100 ms sub-block
_TICKS_PER_SUBBLOCK = TICKS_PER_SUBBLOCK
_SUBBLOCKS_PER_BLOCK = 4  # 400 ms gating block / momentary window
_SUBBLOCKS_PER_SHORT_TERM = 30  # 3 s short-term window
_TICKS_MOMENTARY = _TICKS_PER_SUBBLOCK * _SUBBLOCKS_PER_BLOCK
_TICKS_SHORT_TERM = _TICKS_PER_SUBBLOCK * _SUBBLOCKS_PER_SHORT_TERM


@dataclass(frozen=True)
class Loudness:
    """Result of a BS.1770 / EBU Mode measurement.

    Attributes
    ----------
    integrated_lufs : float
        Gated integrated loudness (BS.1770 eq. 7), LUFS; -inf for silence or when
        no gating block is above the gates.
    lra_lu : float
        Loudness range (EBU Tech 3342), LU; 0.0 when fewer than two short-term
        values pass its gates.
    true_peak_dbtp : float
        Maximum true-peak level over all channels (BS.1770 Annex 2), dBTP; -inf
        for silence.
    sample_peak_dbfs : float
        Maximum |sample| over all channels, dBFS; -inf for silence.
    max_momentary_lufs : float
        Maximum momentary loudness (400 ms window), LUFS; -inf if shorter than
        400 ms or silent.
    max_short_term_lufs : float
        Maximum short-term loudness (3 s window), LUFS; -inf if shorter than 3 s
        or silent.
    block_powers : numpy.ndarray
        1-D float64, the channel-weighted mean square ``sum_i G_i z_ij`` of every
        400 ms gating block (75 % overlap), in time order: the quantity inside
        BS.1770 eq. (5) before ``-0.691 + 10 log10``.  Pass several tracks' arrays
        to :func:`integrated_lufs_from_powers` for the album loudness.  Left out
        of ``repr`` and of ``==`` (which compares the scalar fields).
    duration_s : float
        Length of the input, seconds.
    short_term_powers : numpy.ndarray
        1-D float64, the same quantity for every 3 s short-term window (100 ms hop):
        the short-term loudness over time, as the QC report plots it.
    """

    integrated_lufs: float
    lra_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    max_momentary_lufs: float
    max_short_term_lufs: float
    block_powers: np.ndarray = field(repr=False, compare=False)
    duration_s: float
    short_term_powers: np.ndarray = field(
        default_factory=lambda: np.zeros(0), repr=False, compare=False
    )


def channel_weights(channels: int) -> np.ndarray:
    """Channel weighting coefficients G_i of BS.1770 Table 3.

    Parameters
    ----------
    channels : int
        Number of channels.

    Returns
    -------
    numpy.ndarray
        ``(channels,)`` float64: ones for mono/stereo; ``1, 1, 1, 1.41, 1.41`` for
        5 channels (L R C Ls Rs); ``1, 1, 1, 0, 1.41, 1.41`` for 6 channels
        (L R C LFE Ls Rs, the LFE is not measured); ones for any other count.
    """
    if channels == 5:
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41])
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    return np.ones(max(int(channels), 0))


def _power_to_lufs(power: float) -> float:
    """BS.1770 eq. (2)/(4): ``-0.691 + 10 log10(power)``; -inf for zero power."""
    return LOUDNESS_OFFSET_DB + 10.0 * float(np.log10(power)) if power > 0.0 else -np.inf


def _lufs_to_power(lufs: float) -> float:
    return 10.0 ** ((lufs - LOUDNESS_OFFSET_DB) / 10.0)


def integrated_lufs_from_powers(block_powers: Sequence[np.ndarray]) -> float:
    """Gated integrated loudness over the union of several tracks' gating blocks.

    Parameters
    ----------
    block_powers : sequence of numpy.ndarray
        :attr:`Loudness.block_powers` of each track (channel-weighted mean
        squares of 400 ms blocks).  One array gives that track's loudness; all
        tracks of an album give the album's integrated loudness.

    Returns
    -------
    float
        LUFS; -inf when no block passes the gates.

    Notes
    -----
    BS.1770 eq. (5)-(7): blocks above the absolute gate (-70 LUFS) give the
    relative gate (their mean power's loudness - 10 LU); the result is the
    loudness of the mean power of blocks above both gates.  Compared in the
    power domain, the gates are ``z > P(-70 LUFS)`` and ``z > mean / 10``.
    """
    arrays = [np.asarray(p, dtype=np.float64).ravel() for p in block_powers]
    powers = np.concatenate(arrays) if arrays else np.zeros(0)
    above_abs = powers[powers > _lufs_to_power(ABSOLUTE_GATE_LUFS)]
    if above_abs.size == 0:
        return -np.inf
    relative_gate = above_abs.mean() * 10.0 ** (RELATIVE_GATE_LU / 10.0)
    gated = above_abs[above_abs > relative_gate]
    return _power_to_lufs(float(gated.mean())) if gated.size else -np.inf


def loudness_range_lu(short_term_powers: np.ndarray) -> float:
    """Loudness range of a series of short-term powers (EBU Tech 3342 section 5).

    Parameters
    ----------
    short_term_powers : numpy.ndarray
        Channel-weighted mean squares of 3 s windows at >= 10 Hz.

    Returns
    -------
    float
        LRA in LU: 95th minus 10th percentile of the short-term loudness values
        at or above both the absolute gate (-70 LUFS) and the relative gate
        (-20 LU below the loudness of their mean power); 0.0 when fewer than
        two values pass.  Percentiles are the Tech 3342 MATLAB reference's
        nearest rank, ``sorted[round((n - 1) p / 100)]``.
    """
    powers = np.asarray(short_term_powers, dtype=np.float64)
    above_abs = powers[powers >= _lufs_to_power(ABSOLUTE_GATE_LUFS)]
    if above_abs.size < 2:
        return 0.0
    relative_gate = above_abs.mean() * 10.0 ** (LRA_RELATIVE_GATE_LU / 10.0)
    gated = np.sort(above_abs[above_abs >= relative_gate])
    n = gated.size
    if n < 2:
        return 0.0
    # MATLAB round() rounds half away from zero; the argument is never negative.
    lo, hi = (int(np.floor((n - 1) * p / 100.0 + 0.5)) for p in LRA_PERCENTILES)
    return 10.0 * float(np.log10(gated[hi] / gated[lo]))


class _MeterState(NamedTuple):
    """Everything carried from one chunk to the next (immutable; replaced per chunk)."""

    zi: np.ndarray  # (2 sections, channels, 2) sosfilt state of the K-weighting
    power_tail: np.ndarray  # weighted squared samples not yet in a complete 10 ms tick
    ticks_pending: np.ndarray  # complete ticks not yet in a complete 100 ms sub-block
    tick_history: np.ndarray  # the last (short-term window - 1) ticks, for sliding maxima
    max_momentary_sum: float  # largest 400 ms sum of ticks so far
    max_short_term_sum: float  # largest 3 s sum of ticks so far
    sample_peak: float  # largest |sample| so far (linear)
    tp_history: np.ndarray  # (channels, T - 1) float32 interpolator history
    true_peak: float  # largest |interpolated sample| so far (linear)
    frames: int


class _Constants(NamedTuple):
    sample_rate_hz: int
    channels: int
    sos: np.ndarray
    weights: np.ndarray
    tick_frames: int
    interp: truepeak.Interpolator


def _constants(sample_rate_hz: int, channels: int) -> _Constants:
    if int(sample_rate_hz) != sample_rate_hz or sample_rate_hz <= 0:
        raise ValueError(f"sample rate must be a positive integer in Hz, got {sample_rate_hz!r}")
    if channels < 1:
        raise ValueError(f"need at least one channel, got {channels}")
    fs = int(sample_rate_hz)
    return _Constants(
        sample_rate_hz=fs,
        channels=int(channels),
        sos=k_weighting_sos(fs),
        weights=channel_weights(channels),
        tick_frames=tick_frames(fs),
        interp=truepeak.interpolator(truepeak.oversampling_factor(fs)),
    )


def _initial_state(k: _Constants) -> _MeterState:
    empty = np.zeros(0)
    return _MeterState(
        zi=np.zeros((k.sos.shape[0], k.channels, 2)),
        power_tail=empty,
        ticks_pending=empty,
        tick_history=empty,
        max_momentary_sum=0.0,
        max_short_term_sum=0.0,
        sample_peak=0.0,
        tp_history=truepeak.initial_history(k.channels),
        true_peak=0.0,
        frames=0,
    )


def _window_sums(history: np.ndarray, new: np.ndarray, width: int) -> np.ndarray:
    """Sums of every ``width``-long window of ``history ++ new`` that ends inside ``new``."""
    joined = np.concatenate([history[len(history) - min(len(history), width - 1) :], new])
    if joined.size < width:
        return np.zeros(0)
    return sliding_window_view(joined, width).sum(axis=1)


class _Scratch(NamedTuple):
    """Work buffers reused from chunk to chunk within one call (never carry state).

    Reusing them keeps large temporaries out of the allocator: fresh multi-MB
    arrays per chunk made glibc map and unmap pages every time and doubled the
    run time.
    """

    power: np.ndarray  # (tick + CHUNK_FRAMES,) float64: leftover + new weighted squares
    extended: np.ndarray  # (channels, T - 1 + CHUNK_FRAMES) float32: true-peak input


def _make_scratch(k: _Constants) -> _Scratch:
    n_keep = truepeak.TAPS_PER_PHASE - 1
    return _Scratch(
        power=np.empty(k.tick_frames + CHUNK_FRAMES),
        extended=np.empty((k.channels, n_keep + CHUNK_FRAMES), dtype=np.float32),
    )


def _step(
    state: _MeterState,
    x: np.ndarray,
    k: _Constants,
    scratch: _Scratch,
    pool: Executor | None = None,
) -> tuple[_MeterState, np.ndarray]:
    """Fold one chunk ``x`` (frames <= CHUNK_FRAMES, channels) into the state.

    Returns the new state and the 100 ms sub-block sums completed by this chunk.
    With ``pool``, the true peak of the chunk is computed on a worker thread
    while this thread runs the K-weighting (both release the GIL); the result
    is the same either way.
    """
    n = x.shape[0]

    # True peak (BS.1770 Annex 2) of the raw input, started first so that it runs
    # alongside the K-weighting.  (A non-finite chunk is refused below; its reading
    # is then never used.)
    n_keep = state.tp_history.shape[1]
    extended = scratch.extended[:, : n_keep + n]
    extended[:, :n_keep] = state.tp_history
    extended[:, n_keep:] = x.T
    tp_history = extended[:, n:].copy()
    tp_args = (extended, k.interp, state.true_peak)
    tp_future = pool.submit(truepeak.peak_of_extended, *tp_args) if pool is not None else None

    # K-weighting (BS.1770 Annex 1, Figs 1-4), then eq. (1)/(4): sum_i G_i y_i^2 per
    # sample, appended to the weighted squares left over from the previous chunk;
    # the sample peak in the same pass.
    n_tail = state.power_tail.size
    power = scratch.power[: n_tail + n]
    power[:n_tail] = state.power_tail
    _, zi, peak = k_weighted_power(x, k.sos, state.zi, k.weights, out=power[n_tail:])
    if not np.isfinite(peak):
        if tp_future is not None:
            tp_future.result()  # the scratch buffers are not free until it is done
        raise ValueError("input contains NaN or infinite samples")

    # 10 ms ticks (sums of weighted squares); incomplete tick carried over.
    n_ticks = power.size // k.tick_frames
    ticks = power[: n_ticks * k.tick_frames].reshape(n_ticks, k.tick_frames).sum(axis=1)
    power_tail = power[n_ticks * k.tick_frames :].copy()

    # 100 ms sub-blocks = 10 ticks; incomplete sub-block carried over as ticks.
    pending = np.concatenate([state.ticks_pending, ticks])
    n_sub = pending.size // _TICKS_PER_SUBBLOCK
    subblocks = (
        pending[: n_sub * _TICKS_PER_SUBBLOCK].reshape(n_sub, _TICKS_PER_SUBBLOCK).sum(axis=1)
    )
    ticks_pending = pending[n_sub * _TICKS_PER_SUBBLOCK :].copy()

    # Running maxima of the momentary (400 ms) and short-term (3 s) sums at a 10 ms hop.
    momentary = _window_sums(state.tick_history, ticks, _TICKS_MOMENTARY)
    short_term = _window_sums(state.tick_history, ticks, _TICKS_SHORT_TERM)
    history = np.concatenate([state.tick_history, ticks])[-(_TICKS_SHORT_TERM - 1) :]

    true_peak = tp_future.result() if tp_future is not None else truepeak.peak_of_extended(*tp_args)
    true_peak = max(true_peak, peak)  # the sample peak is a floor for it

    new_state = _MeterState(
        zi=zi,
        power_tail=power_tail,
        ticks_pending=ticks_pending,
        tick_history=history.copy(),
        max_momentary_sum=max(state.max_momentary_sum, float(momentary.max(initial=0.0))),
        max_short_term_sum=max(state.max_short_term_sum, float(short_term.max(initial=0.0))),
        sample_peak=max(state.sample_peak, peak),
        tp_history=tp_history,
        true_peak=true_peak,
        frames=state.frames + n,
    )
    return new_state, subblocks


def as_frames(block: np.ndarray, channels: int) -> np.ndarray:
    """Validate one input block and return it as (frames, channels) float64."""
    arr = np.asarray(block, dtype=np.float64)
    if arr.ndim == 1 and channels == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != channels:
        raise ValueError(f"expected blocks of shape (frames, {channels}), got {arr.shape}")
    return arr


def rechunk_into(
    blocks: Iterable[np.ndarray], channels: int, scratch: np.ndarray
) -> Iterator[np.ndarray]:
    """Re-cut blocks of any sizes into C-contiguous chunks of ``len(scratch)`` frames.

    The last chunk may be shorter.  A whole chunk inside a C-contiguous block is
    yielded as a view; the others are copied into ``scratch`` (float64, (frames,
    channels)), so the consumer must be done with a chunk before resuming the
    iterator.  No chunk-sized array is allocated: fresh ones cost page faults.
    """
    chunk_frames = scratch.shape[0]
    filled = 0
    for block in blocks:
        arr = as_frames(block, channels)
        while arr.shape[0]:
            if filled == 0 and arr.shape[0] >= chunk_frames and arr.flags.c_contiguous:
                yield arr[:chunk_frames]  # a row slice of a C-contiguous array is one too
                arr = arr[chunk_frames:]
                continue
            take = min(chunk_frames - filled, arr.shape[0])
            scratch[filled : filled + take] = arr[:take]
            filled += take
            arr = arr[take:]
            if filled == chunk_frames:
                yield scratch
                filled = 0
    if filled:
        yield scratch[:filled]


def _run(blocks: Iterable[np.ndarray], k: _Constants) -> tuple[_MeterState, np.ndarray]:
    """Fold all blocks through :func:`_step`; return the final state and all sub-block sums.

    One worker thread (local to this call, joined before returning) overlaps the
    true-peak computation with the K-weighting when a core is spare
    (:func:`masterbuild.threads.spare_core`); chunks are still folded strictly in
    order, so the result does not depend on timing or on the thread.
    """
    state = _initial_state(k)
    scratch = _make_scratch(k)
    subblocks: list[np.ndarray] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="truepeak") as pool:
        helper = pool if spare_core() else None  # same result either way
        chunks = np.empty((CHUNK_FRAMES, k.channels))
        for chunk in rechunk_into(blocks, k.channels, chunks):
            state, new = _step(state, chunk, k, scratch, helper)
            if new.size:
                subblocks.append(new)
    all_subblocks = np.concatenate(subblocks) if subblocks else np.zeros(0)
    return state, all_subblocks


def tick_frames(sample_rate_hz: int) -> int:
    """Frames in the meter's 10 ms tick (the unit its sub-blocks and blocks are made of)."""
    return max(1, round(sample_rate_hz / 100))


def gating_block_powers(subblock_sums: np.ndarray, subblock_frames: int) -> np.ndarray:
    """Mean squares of the 400 ms gating blocks (hop 100 ms) from 100 ms sub-block sums."""
    return _windowed_mean(subblock_sums, _SUBBLOCKS_PER_BLOCK, subblock_frames)


def _windowed_mean(subblocks: np.ndarray, width: int, subblock_frames: int) -> np.ndarray:
    """Mean square of every ``width`` consecutive sub-blocks (hop: one sub-block)."""
    if subblocks.size < width:
        return np.zeros(0)
    return sliding_window_view(subblocks, width).sum(axis=1) / (width * subblock_frames)


def _db(linear: float) -> float:
    return 20.0 * float(np.log10(linear)) if linear > 0.0 else -np.inf


def measure_blocks(blocks: Iterable[np.ndarray], sample_rate_hz: int, channels: int) -> Loudness:
    """Measure a stream of audio blocks (BS.1770-4/-5, EBU Tech 3341/3342).

    Parameters
    ----------
    blocks : iterable of numpy.ndarray
        ``(n_i, channels)`` float blocks of any sizes (1-D allowed for mono),
        full scale = 1.0.  Consumed once; memory use does not grow with the
        total length beyond 10 float64 values per second for the block powers.
    sample_rate_hz : int
        Sample rate in Hz.
    channels : int
        Number of channels (weights per :func:`channel_weights`).

    Returns
    -------
    Loudness
        Exactly equal to :func:`measure` on the concatenated blocks.

    Raises
    ------
    ValueError
        On a block of the wrong shape or containing NaN / infinite samples.
    """
    k = _constants(sample_rate_hz, channels)
    state, subblocks = _run(blocks, k)
    subblock_frames = _TICKS_PER_SUBBLOCK * k.tick_frames
    block_powers = gating_block_powers(subblocks, subblock_frames)
    short_term = _windowed_mean(subblocks, _SUBBLOCKS_PER_SHORT_TERM, subblock_frames)
    true_peak = truepeak.flush_peak(state.tp_history, k.interp, state.true_peak)
    return Loudness(
        integrated_lufs=integrated_lufs_from_powers([block_powers]),
        lra_lu=loudness_range_lu(short_term),
        true_peak_dbtp=_db(max(true_peak, state.sample_peak)),
        sample_peak_dbfs=_db(state.sample_peak),
        max_momentary_lufs=_power_to_lufs(
            state.max_momentary_sum / (_TICKS_MOMENTARY * k.tick_frames)
        ),
        max_short_term_lufs=_power_to_lufs(
            state.max_short_term_sum / (_TICKS_SHORT_TERM * k.tick_frames)
        ),
        block_powers=block_powers,
        duration_s=state.frames / k.sample_rate_hz,
        short_term_powers=short_term,
    )


def _frames_2d(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"expected an array of shape (frames, channels), got {arr.shape}")
    return arr


def _chunks_of(x: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, x.shape[0], CHUNK_FRAMES):
        yield x[start : start + CHUNK_FRAMES]


def measure(x: np.ndarray, sample_rate_hz: int) -> Loudness:
    """Measure a whole signal (BS.1770-4/-5, EBU Tech 3341/3342).

    Parameters
    ----------
    x : numpy.ndarray
        ``(frames, channels)`` float, full scale = 1.0 (1-D is taken as mono).
        Any length, including 0 frames and less than one 400 ms block.
    sample_rate_hz : int
        Sample rate in Hz.

    Returns
    -------
    Loudness
    """
    arr = _frames_2d(x)
    return measure_blocks(_chunks_of(arr), sample_rate_hz, arr.shape[1])


def momentary_lufs(x: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Momentary loudness (400 ms window, ungated) every 100 ms, LUFS.

    Element ``j`` is the window ending at ``(j + 4) * 100 ms`` (the BS.1770
    gating blocks); -inf where the window is silent.
    """
    powers = measure(x, sample_rate_hz).block_powers
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET_DB + 10.0 * np.log10(powers)


def short_term_lufs(x: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Short-term loudness (3 s window, ungated) every 100 ms, LUFS.

    Element ``j`` is the window ending at ``(j + 30) * 100 ms``: the 10 Hz
    series the loudness range is computed from (Tech 3342 3.1).
    """
    arr = _frames_2d(x)
    k = _constants(sample_rate_hz, arr.shape[1])
    _, subblocks = _run(_chunks_of(arr), k)
    powers = _windowed_mean(
        subblocks, _SUBBLOCKS_PER_SHORT_TERM, _TICKS_PER_SUBBLOCK * k.tick_frames
    )
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET_DB + 10.0 * np.log10(powers)


def true_peak_dbtp(x: np.ndarray, sample_rate_hz: int) -> float:
    """Maximum true-peak level of ``x`` over all channels, dBTP (BS.1770 Annex 2).

    Parameters
    ----------
    x : numpy.ndarray
        ``(frames, channels)`` float, full scale = 1.0 (1-D is taken as mono).
    sample_rate_hz : int
        Sample rate in Hz (selects the over-sampling ratio).

    Returns
    -------
    float
        dBTP; -inf for silence.  Same value as ``measure(x, fs).true_peak_dbtp``
        (the same chunks, floors and arithmetic).
    """
    arr = _frames_2d(x)
    interp = truepeak.interpolator(truepeak.oversampling_factor(int(sample_rate_hz)))
    n_keep = truepeak.TAPS_PER_PHASE - 1
    history = truepeak.initial_history(arr.shape[1])
    sample_peak = 0.0
    peak = 0.0
    for chunk in _chunks_of(arr):
        chunk_peak = max(float(chunk.max()), -float(chunk.min()))
        if not np.isfinite(chunk_peak):
            raise ValueError("input contains NaN or infinite samples")
        sample_peak = max(sample_peak, chunk_peak)
        extended = np.concatenate([history, chunk.T.astype(np.float32)], axis=1)
        history = extended[:, extended.shape[1] - n_keep :].copy()
        peak = truepeak.peak_of_extended(extended, interp, max(peak, chunk_peak))
    peak = truepeak.flush_peak(history, interp, peak)
    return _db(max(peak, sample_peak))
