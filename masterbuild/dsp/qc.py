"""Streaming QC analysis of delivered (decoded) audio, for the QC report.

Pure functions on ``(frames, channels)`` float64 blocks, full scale = 1.0, with
the sample rate explicit.  :func:`analyze` and :func:`analyze_blocks` run the
same computation: the input is re-cut into fixed chunks of :data:`CHUNK_FRAMES`
frames (views of the caller's blocks where they allow, else copied into one
scratch buffer) and folded through :func:`_step`, whose state (running sums, the
open clip run of each channel, the partial envelope bin, the unconsumed spectrum
samples) is an immutable value threaded through the loop.  Every floating-point
reduction therefore sees the same operands in the same order whatever the
caller's block sizes, and the result is bit-for-bit the one-shot result.

Per chunk, one numba pass (:func:`_chunk_loop`) does every per-sample
measurement and a second (:func:`_pack_loop`) packs the bytes for the MD5; the
Welch FFT stays in scipy.  Their sums keep numpy's operand order, so the results
are the same to the bit as the earlier all-numpy code (``bench/bench_qc.py``
checks that against a git revision).

Memory does not grow with the track length except for the per-second series
kept for the report: the envelope (2 float32 per ``envelope_hop_s``, 20 bins/s
by default) and the indices of envelope bins that contain full-scale samples.

Measurements
------------
* DC offset: per-channel mean.
* Full scale: the most positive or most negative code of the stored encoding
  (``|x| >= 32767/32768`` for pcm16, ``>= 8388607/8388608`` for pcm24,
  ``>= 1.0`` for float32).  A clip run is a run of consecutive full-scale
  samples on one channel with the same sign.
* Silence: a frame is audible when any channel's ``|x|`` exceeds
  ``10 ** (silence_dbfs / 20)``.
* MD5: of the interleaved little-endian samples at the stored width, as in FLAC
  STREAMINFO (see :func:`pack_samples`).
* Long-term average spectrum: Welch, periodic Hann window of ``nfft`` samples,
  hop ``nfft // 2`` (50 % overlap) over the whole stream, of mid ``(L + R) / 2``
  and side ``(L - R) / 2`` (see :func:`analyze_blocks` for the scaling).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.fft
import scipy.signal
from numpy.lib.stride_tricks import sliding_window_view

from masterbuild.dsp.loudness import rechunk_into

__all__ = [
    "CHUNK_FRAMES",
    "ENCODINGS",
    "QcStats",
    "analyze",
    "analyze_blocks",
    "full_scale_threshold",
    "pack_samples",
    "side_to_mid_db",
]

CHUNK_FRAMES = 65536  # internal processing chunk; independent of the caller's block sizes

# encoding -> (integer scale, bytes per sample); float32 has no integer scale.
_PCM_FORMATS: dict[str, tuple[int, int]] = {"pcm16": (32768, 2), "pcm24": (8388608, 3)}
ENCODINGS = ("pcm16", "pcm24", "float32")


@dataclass(frozen=True)
class QcStats:
    """Result of :func:`analyze_blocks`.

    Attributes
    ----------
    frames : int
        Length of the input, frames.
    sample_rate_hz : int
        Sample rate, Hz.
    channels : int
        Number of channels.
    dc_offset : tuple of float
        Per-channel mean, linear (full scale = 1.0); zeros for an empty input.
    dc_offset_dbfs : float
        ``20 log10(max |mean|)`` over the channels, dBFS; -inf when exactly 0.
    full_scale_samples : int
        Samples (counted over all channels) at full scale, see
        :func:`full_scale_threshold`.
    clipped_runs : int
        Runs of at least ``min_clip_run`` consecutive full-scale samples on the
        same channel with the same sign (a +FS to -FS step starts a new run).
    longest_clip_run : int
        Length in frames of the longest such run; 0 when ``clipped_runs`` is 0
        (shorter runs of full-scale samples do not count).
    head_silence_s : float
        Time before the first audible frame, seconds (``first / fs``); the whole
        duration when no frame is audible.
    tail_silence_s : float
        Time after the last audible frame, seconds (``(frames - 1 - last) / fs``);
        the whole duration when no frame is audible.
    md5 : str
        Hex MD5 of the interleaved samples in their stored encoding
        (:func:`pack_samples`); for pcm16/pcm24 the MD5 FLAC keeps in STREAMINFO.
    envelope_hop_s : float
        Length of one envelope bin, seconds: ``hop / fs`` with
        ``hop = max(1, round(requested_hop_s * fs))`` frames.
    envelope : numpy.ndarray
        ``(bins, 2)`` float32: minimum and maximum sample over all channels in
        each bin of ``hop`` frames, ``bins = ceil(frames / hop)`` (the last bin
        may be partial).  Left out of ``==`` like the other arrays.
    clip_bins : numpy.ndarray
        1-D int64, sorted indices of the envelope bins that contain at least one
        full-scale sample.
    spectrum_freqs_hz : numpy.ndarray
        ``(nfft // 2 + 1,)`` float64 frequency of each spectrum bin, Hz.
    spectrum_mid_db : numpy.ndarray
        Long-term average spectrum of mid ``(L + R) / 2`` (mono: the channel),
        dB relative to full-scale peak amplitude, see :func:`analyze_blocks`.
    spectrum_side_db : numpy.ndarray
        Same for side ``(L - R) / 2``; -inf everywhere for mono.
    """

    frames: int
    sample_rate_hz: int
    channels: int
    dc_offset: tuple[float, ...]
    dc_offset_dbfs: float
    full_scale_samples: int
    clipped_runs: int
    longest_clip_run: int
    head_silence_s: float
    tail_silence_s: float
    md5: str
    envelope_hop_s: float
    envelope: np.ndarray = field(repr=False, compare=False)
    clip_bins: np.ndarray = field(repr=False, compare=False)
    spectrum_freqs_hz: np.ndarray = field(repr=False, compare=False)
    spectrum_mid_db: np.ndarray = field(repr=False, compare=False)
    spectrum_side_db: np.ndarray = field(repr=False, compare=False)


def full_scale_threshold(encoding: str) -> float:
    """Smallest ``|x|`` that counts as full scale (clipped) in ``encoding``.

    Parameters
    ----------
    encoding : {"pcm16", "pcm24", "float32"}
        Stored encoding of the audio.

    Returns
    -------
    float
        ``(2**(b-1) - 1) / 2**(b-1)`` for b-bit PCM (the most positive code; the
        most negative code, -1.0, is above it in magnitude); 1.0 for float32.
    """
    if encoding == "float32":
        return 1.0
    scale, _ = _pcm_format(encoding)
    return (scale - 1) / scale


def _pcm_format(encoding: str) -> tuple[int, int]:
    try:
        return _PCM_FORMATS[encoding]
    except KeyError:
        raise ValueError(
            f"unknown encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}"
        ) from None


def pack_samples(x: np.ndarray, encoding: str) -> bytes:
    """Interleaved little-endian bytes of ``x`` in its stored encoding.

    Parameters
    ----------
    x : numpy.ndarray
        ``(frames, channels)`` float, full scale = 1.0.
    encoding : {"pcm16", "pcm24", "float32"}
        pcm16: int16, ``round(x * 32768)``; pcm24: 3-byte signed,
        ``round(x * 8388608)``; float32: IEEE single.  PCM codes are rounded
        half to even and clipped to the code range, so a decoded PCM file packs
        back to its exact codes.

    Returns
    -------
    bytes
        Frame after frame, channel after channel: the byte stream FLAC hashes
        for its STREAMINFO MD5 (at 2 or 3 bytes per sample).
    """
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if encoding == "float32":
        return arr.astype("<f4").tobytes()
    scale, width = _pcm_format(encoding)
    out = np.empty(arr.size * width, dtype=np.uint8)
    _pack_kernel()(arr.reshape(-1), float(scale), width, out)
    return out.tobytes()


def _pack_loop(x: np.ndarray, scale: float, width: int, out: np.ndarray) -> None:
    """Little-endian ``width``-byte codes of the flat samples ``x`` into ``out`` (numba).

    ``rint`` rounds half to even like ``numpy.rint``; the clip keeps a decoded file's
    codes and saturates anything beyond them, as the numpy version did.  One loop per
    width, with the byte stores written out: a loop over the bytes is ten times slower.
    """
    top = scale - 1.0
    if width == 2:
        for i in range(x.size):
            code = np.int64(min(max(np.rint(x[i] * scale), -scale), top))
            out[2 * i] = code & 0xFF  # two's complement: the low bytes carry the sign
            out[2 * i + 1] = (code >> 8) & 0xFF
    else:
        for i in range(x.size):
            code = np.int64(min(max(np.rint(x[i] * scale), -scale), top))
            out[3 * i] = code & 0xFF
            out[3 * i + 1] = (code >> 8) & 0xFF
            out[3 * i + 2] = (code >> 16) & 0xFF


@functools.cache
def _pack_kernel() -> Any:
    """:func:`_pack_loop` compiled by numba on first use (planning never imports numba).

    One pass in place of numpy's rint, min / max, clip, astype and byte slicing.
    """
    from numba import njit

    return njit(cache=True, nogil=True)(_pack_loop)


class _Constants(NamedTuple):
    sample_rate_hz: int
    channels: int
    encoding: str
    full_scale: float
    silence: float  # linear |x| above which a frame is audible
    min_clip_run: int
    hop_frames: int  # envelope bin
    nfft: int
    window: np.ndarray  # periodic Hann, nfft
    signals: int  # spectrum signals: 1 (mono: the channel) or 2 (mid, side)


class _State(NamedTuple):
    """Everything carried from one chunk to the next (immutable; replaced per chunk)."""

    frames: int
    channel_sums: np.ndarray  # (channels,) running sum, for the DC offset
    full_scale_samples: int
    run_sign: np.ndarray  # (channels,) int8 sign of the open full-scale run (0: none)
    run_length: np.ndarray  # (channels,) int64 length of the open run (if non-zero), frames
    clipped_runs: int
    longest_clip_run: int
    first_audible: int  # frame index, -1 until one is found
    last_audible: int
    env_min: np.ndarray  # per-frame min over channels of the open envelope bin (< hop)
    env_max: np.ndarray
    spectrum_pending: np.ndarray  # (signals, < nfft) mid (and side) samples not yet consumed
    power_sums: np.ndarray  # (signals, nfft // 2 + 1) sum of |X|^2 over Welch segments
    segments: int


def _constants(
    sample_rate_hz: int,
    channels: int,
    encoding: str,
    silence_dbfs: float,
    min_clip_run: int,
    envelope_hop_s: float,
    nfft: int,
) -> _Constants:
    if int(sample_rate_hz) != sample_rate_hz or sample_rate_hz <= 0:
        raise ValueError(f"sample rate must be a positive integer in Hz, got {sample_rate_hz!r}")
    if int(channels) != channels or channels < 1:
        raise ValueError(f"need at least one channel, got {channels!r}")
    if int(min_clip_run) != min_clip_run or min_clip_run < 1:
        raise ValueError(f"min_clip_run must be a positive integer, got {min_clip_run!r}")
    if not envelope_hop_s > 0.0:
        raise ValueError(f"envelope_hop_s must be positive, got {envelope_hop_s!r}")
    if int(nfft) != nfft or nfft < 2 or nfft % 2:
        raise ValueError(f"nfft must be an even integer >= 2, got {nfft!r}")
    if np.isnan(silence_dbfs):
        raise ValueError("silence_dbfs must be a number, got nan")
    fs = int(sample_rate_hz)
    return _Constants(
        sample_rate_hz=fs,
        channels=int(channels),
        encoding=encoding,
        full_scale=full_scale_threshold(encoding),
        silence=10.0 ** (silence_dbfs / 20.0),
        min_clip_run=int(min_clip_run),
        hop_frames=max(1, round(envelope_hop_s * fs)),
        nfft=int(nfft),
        window=scipy.signal.get_window("hann", int(nfft), fftbins=True).astype(np.float32),
        signals=min(int(channels), 2),
    )


def _initial_state(k: _Constants) -> _State:
    empty = np.zeros(0)
    return _State(
        frames=0,
        channel_sums=np.zeros(k.channels),
        full_scale_samples=0,
        run_sign=np.zeros(k.channels, dtype=np.int8),
        run_length=np.zeros(k.channels, dtype=np.int64),
        clipped_runs=0,
        longest_clip_run=0,
        first_audible=-1,
        last_audible=-1,
        env_min=empty,
        env_max=empty,
        spectrum_pending=np.zeros((k.signals, 0), dtype=np.float32),
        power_sums=np.zeros((k.signals, k.nfft // 2 + 1)),
        segments=0,
    )


def _chunk_loop(
    x: np.ndarray,
    start: int,
    full_scale: float,
    silence: float,
    min_clip_run: int,
    run_sign: np.ndarray,
    run_length: np.ndarray,
    hop: int,
    bin_fill: int,
    bin_min: float,
    bin_max: float,
    tail_frames: int,
    pending: np.ndarray,
    offset: int,
) -> tuple:
    """One pass over the chunk ``x`` for every per-sample measurement (numba).

    Writes the float32 spectrum signals (mid and side, or the mono channel) to
    ``pending[:, offset : offset + n]``, updates ``run_sign`` / ``run_length`` in
    place (only a non-zero run's length is kept) and returns ``(bad, sums, bins,
    tail_min, tail_max, clip_bins, full_scale_samples, clipped_runs, longest, first,
    last, negative_zero)``: the first non-finite frame (-1: none; the rest is then
    partial), the per-channel sums (sequential from 0.0, the order of numpy's einsum
    for two or more channels), the envelope bins completed here (the open bin
    continues ``bin_fill`` frames with ``bin_min`` / ``bin_max``), the per-frame
    min / max of the last ``tail_frames`` frames, the clip bins, the run counts, the
    first / last audible frame (chunk index, -1: none), and whether a -0.0 occurs in
    a frame whose min or max is zero.
    """
    n, channels = x.shape
    sums = np.zeros(channels)
    bins = np.empty(((bin_fill + n) // hop, 2))
    tail_min = np.empty(tail_frames)
    tail_max = np.empty(tail_frames)
    clip_bins = np.empty(n // hop + 2, dtype=np.int64)
    half = np.float32(0.5)
    tail_start = n - tail_frames
    bad = -1
    n_bins = n_clip = full_scale_samples = clipped_runs = longest = 0
    first = last = -1
    negative_zero = False
    for i in range(n):
        peak = 0.0
        lo = np.inf
        hi = -np.inf
        for c in range(channels):
            v = x[i, c]
            if not np.isfinite(v):
                bad = i
                break
            sums[c] += v
            a = abs(v)
            # Plain comparisons: measured faster here than numba's min / max builtins.
            if a > peak:
                peak = a
            if v < lo:
                lo = v
            if v > hi:
                hi = v
            sign = 0
            if a >= full_scale:
                full_scale_samples += 1
                sign = 1 if v > 0.0 else -1
            if sign != run_sign[c]:
                if run_sign[c] != 0 and run_length[c] >= min_clip_run:
                    clipped_runs += 1
                    longest = max(longest, run_length[c])
                run_sign[c] = sign
                run_length[c] = 1
            elif sign != 0:
                run_length[c] += 1
        if bad >= 0:
            break
        # A -0.0 can only reach the envelope as a frame's min or max.
        if (lo == 0.0 or hi == 0.0) and not negative_zero:
            for c in range(channels):
                if x[i, c] == 0.0 and math.copysign(1.0, x[i, c]) < 0.0:
                    negative_zero = True
        if peak > silence:
            if first < 0:
                first = i
            last = i
        if peak >= full_scale:
            b = (start + i) // hop
            if n_clip == 0 or clip_bins[n_clip - 1] != b:
                clip_bins[n_clip] = b
                n_clip += 1
        if lo < bin_min:
            bin_min = lo
        if hi > bin_max:
            bin_max = hi
        bin_fill += 1
        if bin_fill == hop:
            bins[n_bins, 0] = bin_min
            bins[n_bins, 1] = bin_max
            n_bins += 1
            bin_fill = 0
            bin_min = np.inf
            bin_max = -np.inf
        if i >= tail_start:
            tail_min[i - tail_start] = lo
            tail_max[i - tail_start] = hi
        if channels == 1:
            pending[0, offset + i] = np.float32(x[i, 0])
        else:  # as numpy: the float64 sum rounded to float32, then halved in float32
            pending[0, offset + i] = np.float32(x[i, 0] + x[i, 1]) * half
            pending[1, offset + i] = np.float32(x[i, 0] - x[i, 1]) * half
    return (
        bad,
        sums,
        bins,
        tail_min,
        tail_max,
        clip_bins[:n_clip],
        full_scale_samples,
        clipped_runs,
        longest,
        first,
        last,
        negative_zero,
    )


@functools.cache
def _chunk_kernel() -> Any:
    """:func:`_chunk_loop` compiled by numba on first use, like :func:`_pack_kernel`.

    One pass over the chunk in place of about twenty numpy passes and their temporaries.
    """
    from numba import njit

    return njit(cache=True, nogil=True)(_chunk_loop)


def _power_loop(spectra: np.ndarray) -> np.ndarray:
    """``(|X|^2 in float32).sum(axis=1, dtype=float64)`` of ``(signals, segments, bins)``.

    numpy adds the segments one after the other from the first, as here, so the sums
    are the same to the bit; this is one pass instead of four and no temporaries.
    """
    signals, segments, bins = spectra.shape
    out = np.zeros((signals, bins))
    for s in range(signals):
        for j in range(segments):
            for b in range(bins):
                re = spectra[s, j, b].real
                im = spectra[s, j, b].imag
                out[s, b] += np.float64(re * re + im * im)
    return out


@functools.cache
def _power_kernel() -> Any:
    """:func:`_power_loop` compiled by numba on first use, like :func:`_pack_kernel`."""
    from numba import njit

    return njit(cache=True, nogil=True)(_power_loop)


def _across_channels(ufunc: np.ufunc, x: np.ndarray) -> np.ndarray:
    """``ufunc.reduce(x, axis=1)`` as a loop over the few channels.

    numpy reduces the short inner axis of a long (frames, channels) array
    several times slower than this.
    """
    out = x[:, 0].copy()
    for ch in range(1, x.shape[1]):
        ufunc(out, x[:, ch], out=out)
    return out


def _has_negative_zero(a: np.ndarray) -> bool:
    return bool(np.any((a == 0.0) & np.signbit(a)))


def _envelope_numpy(
    carry_min: np.ndarray, carry_max: np.ndarray, x: np.ndarray, hop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The envelope step as numpy computed it: (bins, open bin's frame min, frame max).

    Only for chunks (or an open bin) where a frame's min or max may be -0.0: which of
    two equal zeros numpy's SIMD min / max keep depends on the lane, so the kernel's
    answer could differ in the sign bit.
    """
    frame_min = np.concatenate([carry_min, _across_channels(np.minimum, x)])
    frame_max = np.concatenate([carry_max, _across_channels(np.maximum, x)])
    n_bins = frame_min.size // hop
    done = n_bins * hop
    bins = np.stack(
        [
            frame_min[:done].reshape(n_bins, hop).min(axis=1, initial=np.inf),
            frame_max[:done].reshape(n_bins, hop).max(axis=1, initial=-np.inf),
        ],
        axis=1,
    )
    return bins, frame_min[done:].copy(), frame_max[done:].copy()


class _Scratch(NamedTuple):
    """Work buffers reused from chunk to chunk (contents never outlive a step).

    Fresh chunk-sized temporaries each step would cost more in page faults than
    the arithmetic: glibc hands large blocks back to the kernel when freed.
    """

    chunk: np.ndarray  # (CHUNK_FRAMES, channels) float64: blocks re-cut to chunks
    packed: np.ndarray  # uint8, CHUNK_FRAMES * channels * 4: the bytes for the MD5
    pending: np.ndarray  # (signals, nfft + CHUNK_FRAMES) float32: unconsumed + new samples
    windowed: np.ndarray  # float32, flat: (signals, segments, nfft) windowed segments


def _scratch(k: _Constants) -> _Scratch:
    # A chunk completes at most this many segments: < nfft samples were pending.
    segments = (CHUNK_FRAMES - 1) // (k.nfft // 2) + 1
    return _Scratch(
        chunk=np.empty((CHUNK_FRAMES, k.channels)),
        packed=np.empty(CHUNK_FRAMES * k.channels * 4, dtype=np.uint8),
        pending=np.empty((k.signals, k.nfft + CHUNK_FRAMES), dtype=np.float32),
        windowed=np.empty(k.signals * segments * k.nfft, dtype=np.float32),
    )


def _step(
    state: _State, x: np.ndarray, k: _Constants, hasher: hashlib._Hash, scratch: _Scratch
) -> tuple[_State, np.ndarray, np.ndarray]:
    """Fold one chunk ``x`` ((frames <= CHUNK_FRAMES, channels), C-contiguous) into the state.

    Returns the new state, the envelope bins completed by this chunk (``(n, 2)``
    float64 min / max) and the sorted indices of the envelope bins (complete or
    not) where it has full-scale samples.  Also feeds ``hasher`` (hashlib MD5).
    """
    n = x.shape[0]
    start = state.frames
    hop = k.hop_frames
    fill = state.env_min.size
    held = state.spectrum_pending.shape[1]
    scratch.pending[:, :held] = state.spectrum_pending
    run_sign, run_length = state.run_sign.copy(), state.run_length.copy()
    (
        bad,
        sums,
        bins,
        tail_min,
        tail_max,
        clip_bins,
        full_scale_samples,
        clipped_runs,
        longest,
        first,
        last,
        negative_zero,
    ) = _chunk_kernel()(
        x,
        start,
        k.full_scale,
        k.silence,
        k.min_clip_run,
        run_sign,
        run_length,
        hop,
        fill,
        float(state.env_min.min(initial=np.inf)),
        float(state.env_max.max(initial=-np.inf)),
        min(n, (fill + n) % hop),
        scratch.pending,
        held,
    )
    if bad >= 0:
        raise ValueError(f"input contains NaN or infinite samples (first at frame {start + bad})")

    if k.encoding == "float32":
        packed = scratch.packed[: x.size * 4]
        np.copyto(packed.view("<f4").reshape(x.shape), x, casting="same_kind")
    else:
        scale, width = _pcm_format(k.encoding)
        packed = scratch.packed[: x.size * width]
        _pack_kernel()(x.reshape(-1), float(scale), width, packed)
    hasher.update(packed)

    first_audible, last_audible = state.first_audible, state.last_audible
    if first >= 0:
        if first_audible < 0:
            first_audible = start + first
        last_audible = start + last

    if negative_zero or _has_negative_zero(state.env_min) or _has_negative_zero(state.env_max):
        bins, env_min, env_max = _envelope_numpy(state.env_min, state.env_max, x, hop)
    elif bins.shape[0]:
        env_min, env_max = tail_min, tail_max
    else:  # the open bin goes on through the whole chunk
        env_min = np.concatenate([state.env_min, tail_min])
        env_max = np.concatenate([state.env_max, tail_max])

    # Welch: mid and side appended to the unconsumed samples; every complete
    # nfft segment at a hop of nfft // 2 (counted from frame 0) is consumed.
    # In float32, like the FFT: a picture and a -dB ratio need no more, at 5x the speed.
    pending = scratch.pending[:, : held + n]
    seg_hop = k.nfft // 2
    n_seg = (pending.shape[1] - k.nfft) // seg_hop + 1 if pending.shape[1] >= k.nfft else 0
    power_sums, segments = state.power_sums, state.segments
    if n_seg:
        segs = sliding_window_view(pending, k.nfft, axis=1)[
            :, : (n_seg - 1) * seg_hop + 1 : seg_hop
        ]
        # The same contiguous (signals, segments, nfft) array as `segs * window`.
        windowed = scratch.windowed[: segs.size].reshape(segs.shape)
        np.multiply(segs, k.window, out=windowed)
        spectra = scipy.fft.rfft(windowed, axis=-1)
        power_sums = power_sums + _power_kernel()(spectra)
        segments += n_seg

    # numpy's einsum sums one channel in SIMD partial sums, not in the kernel's order.
    chunk_sums = np.einsum("ij->j", x) if k.channels == 1 else sums
    new_state = _State(
        frames=start + n,
        channel_sums=state.channel_sums + chunk_sums,
        full_scale_samples=state.full_scale_samples + full_scale_samples,
        run_sign=run_sign,
        run_length=run_length,
        clipped_runs=state.clipped_runs + clipped_runs,
        longest_clip_run=max(state.longest_clip_run, longest),
        first_audible=first_audible,
        last_audible=last_audible,
        env_min=env_min,
        env_max=env_max,
        spectrum_pending=pending[:, n_seg * seg_hop :].copy(),
        power_sums=power_sums,
        segments=segments,
    )
    return new_state, bins, clip_bins


def _db_power(power: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(power)


def _spectrum_db(state: _State, k: _Constants) -> np.ndarray:
    """Welch average of the accumulated segments as (signals, bins) dB (mid, side)."""
    power_sums, window, segments = state.power_sums, k.window, state.segments
    if segments == 0 and state.frames:
        # Shorter than one segment: one zero-padded segment, windowed by a Hann
        # window of the track's own length so that the amplitude scale holds.
        n = state.frames
        window = np.zeros(k.nfft, dtype=np.float32)
        window[:n] = scipy.signal.get_window("hann", n, fftbins=True) if n > 1 else 1.0
        padded = np.zeros((k.signals, k.nfft))
        padded[:, :n] = state.spectrum_pending
        spectrum = np.fft.rfft(padded * window, axis=-1)
        power_sums, segments = spectrum.real**2 + spectrum.imag**2, 1
    # One-sided peak-amplitude scaling: |X_k| of a sine of peak A on bin k is
    # A * sum(w) / 2, so (2 |X_k| / sum(w))^2 = A^2; DC and Nyquist are not doubled.
    gain = np.full(k.nfft // 2 + 1, 4.0)
    gain[0] = gain[-1] = 1.0
    power = power_sums * gain / (float(window.sum(dtype=np.float64)) ** 2 * max(segments, 1))
    return _db_power(power)


def analyze_blocks(
    blocks: Iterable[np.ndarray],
    sample_rate_hz: int,
    channels: int,
    *,
    encoding: str,
    silence_dbfs: float = -60.0,
    min_clip_run: int = 3,
    envelope_hop_s: float = 0.05,
    nfft: int = 8192,
) -> QcStats:
    """Analyse a stream of decoded audio blocks for the QC report.

    Parameters
    ----------
    blocks : iterable of numpy.ndarray
        ``(n_i, channels)`` float blocks of any sizes (1-D allowed for mono),
        full scale = 1.0.  Consumed once; memory does not grow with the total
        length beyond the envelope (2 float32 per ``envelope_hop_s``) and the
        clip-bin indices.
    sample_rate_hz : int
        Sample rate, Hz.
    channels : int
        Number of channels.  Mid/side use channels 0 and 1 as L and R (further
        channels count for every other measurement); one channel is its own mid.
    encoding : {"pcm16", "pcm24", "float32"}
        Stored encoding: sets the MD5 byte layout and the full-scale threshold.
    silence_dbfs : float
        A frame is audible when any channel's ``|x|`` exceeds this sample level.
    min_clip_run : int
        Shortest run of full-scale samples counted as a clip, samples.
    envelope_hop_s : float
        Requested envelope bin length, seconds (rounded to whole frames).
    nfft : int
        Even FFT length of the long-term spectrum, samples.

    Returns
    -------
    QcStats
        Exactly equal (arrays included) to :func:`analyze` on the concatenated
        blocks.

    Raises
    ------
    ValueError
        On a block of the wrong shape, NaN / infinite samples, an unknown
        encoding or out-of-range parameters.

    Notes
    -----
    Long-term spectrum: Welch's average of ``|X_k|^2`` over segments of
    ``nfft`` samples starting at multiples of ``nfft // 2`` (samples after the
    last complete segment are not used), each multiplied by a periodic Hann
    window ``w``.  The level is ``10 log10(c_k * mean |X_k|^2 / (sum w)^2)``
    with ``c_k = 4`` (1 at DC and Nyquist): dB relative to a full-scale peak
    amplitude, so a sine of peak amplitude ``A`` centred on a bin reads
    ``20 log10(A)`` there (a full-scale sine 0 dB; up to 1.42 dB less between
    bins, the Hann scalloping loss), and white noise of variance ``s^2`` reads
    ``10 log10(4 s^2 sum(w^2) / (sum w)^2)`` = ``10 log10(6 s^2 / nfft)`` in
    every bin but DC and Nyquist.  Inputs shorter than ``nfft`` (but not
    empty) give one segment: the whole track under a Hann window of its own
    length, zero-padded to ``nfft`` and scaled by that window's sum.  An empty
    input reads -inf everywhere.
    """
    k = _constants(
        sample_rate_hz, channels, encoding, silence_dbfs, min_clip_run, envelope_hop_s, nfft
    )
    state = _initial_state(k)
    hasher = hashlib.md5()
    scratch = _scratch(k)
    envelope_parts: list[np.ndarray] = []
    clip_parts: list[np.ndarray] = []  # one index per envelope bin: a per-second series
    for chunk in rechunk_into(blocks, k.channels, scratch.chunk):
        state, bins, clipped = _step(state, chunk, k, hasher, scratch)
        envelope_parts.append(bins.astype(np.float32))
        if clipped.size:
            clip_parts.append(clipped)
    if state.env_min.size:  # the last, partial envelope bin
        envelope_parts.append(
            np.array([[state.env_min.min(), state.env_max.max()]], dtype=np.float32)
        )
    envelope = np.concatenate(envelope_parts) if envelope_parts else np.zeros((0, 2), np.float32)
    clip_bins = np.unique(np.concatenate(clip_parts)) if clip_parts else np.zeros(0, np.int64)

    fs, frames = k.sample_rate_hz, state.frames
    dc = state.channel_sums / frames if frames else np.zeros(k.channels)
    dc_peak = float(np.abs(dc).max())
    if state.first_audible < 0:
        head_s = tail_s = frames / fs
    else:
        head_s = state.first_audible / fs
        tail_s = (frames - 1 - state.last_audible) / fs
    # Runs still open at the end of the stream are complete.
    open_runs = (state.run_sign != 0) & (state.run_length >= k.min_clip_run)
    clipped_runs = state.clipped_runs + int(open_runs.sum())
    longest = max(state.longest_clip_run, int(state.run_length[open_runs].max(initial=0)))
    spectrum = _spectrum_db(state, k)
    return QcStats(
        frames=frames,
        sample_rate_hz=fs,
        channels=k.channels,
        dc_offset=tuple(float(v) for v in dc),
        dc_offset_dbfs=20.0 * float(np.log10(dc_peak)) if dc_peak > 0.0 else -np.inf,
        full_scale_samples=state.full_scale_samples,
        clipped_runs=clipped_runs,
        longest_clip_run=longest,
        head_silence_s=head_s,
        tail_silence_s=tail_s,
        md5=hasher.hexdigest(),
        envelope_hop_s=k.hop_frames / fs,
        envelope=envelope,
        clip_bins=clip_bins.astype(np.int64),
        spectrum_freqs_hz=np.fft.rfftfreq(k.nfft, 1.0 / fs),
        spectrum_mid_db=spectrum[0],
        spectrum_side_db=spectrum[1] if k.signals == 2 else np.full(k.nfft // 2 + 1, -np.inf),
    )


def analyze(x: np.ndarray, sample_rate_hz: int, **kw) -> QcStats:
    """Analyse a whole signal; same as :func:`analyze_blocks` on ``[x]``.

    Parameters
    ----------
    x : numpy.ndarray
        ``(frames, channels)`` float, full scale = 1.0 (1-D is taken as mono).
    sample_rate_hz : int
        Sample rate, Hz.
    **kw
        Keyword arguments of :func:`analyze_blocks` (``encoding`` is required).

    Returns
    -------
    QcStats
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"expected an array of shape (frames, channels), got {arr.shape}")
    return analyze_blocks([arr], sample_rate_hz, arr.shape[1], **kw)


def side_to_mid_db(stats: QcStats, below_hz: float) -> float:
    """Energy of side relative to mid below ``below_hz``: the vinyl "bass in mono" check.

    Parameters
    ----------
    stats : QcStats
        Result of :func:`analyze_blocks`.
    below_hz : float
        Upper frequency limit, Hz (exclusive).  The DC bin is left out (the DC
        offset is reported on its own); bins ``0 < f < below_hz`` are summed.

    Returns
    -------
    float
        ``10 log10(sum side power / sum mid power)``, dB.  -inf when side is
        silent in that band (always for mono and for L = R), whatever mid is;
        +inf when mid is silent there but side is not (L = -R).

    Raises
    ------
    ValueError
        When no spectrum bin lies in ``0 < f < below_hz``.
    """
    freqs = stats.spectrum_freqs_hz
    band = (freqs > 0.0) & (freqs < below_hz)
    if not band.any():
        raise ValueError(f"no spectrum bin below {below_hz} Hz: the first is at {freqs[1]:.3g} Hz")
    side = float(np.sum(10.0 ** (stats.spectrum_side_db[band] / 10.0)))
    mid = float(np.sum(10.0 ** (stats.spectrum_mid_db[band] / 10.0)))
    if side == 0.0:
        return -np.inf
    if mid == 0.0:
        return np.inf
    return 10.0 * float(np.log10(side / mid))
