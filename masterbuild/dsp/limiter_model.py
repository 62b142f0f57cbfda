"""What the true-peak limiter will cost in loudness, predicted without running it.

The gain solves (album gain, track-mode loudness) ask one question many times: after
a gain of ``g`` dB and the limiter at a ceiling, what is the loudness?  Running the
limiter and the meter answers it at about 85x real time per try.  This model answers
it at a few thousand times real time from a *profile* made once per intermediate:

* ``peak``: the limiter's stages 1-2 at unity gain
  (:func:`masterbuild.dsp.limiter.neighbourhood_peak_blocks`), the largest per
  group of ``group_frames`` frames (about 1/3 ms).  Those stages are linear in the
  level, so after a gain ``g`` they read ``g * peak``;
* ``power``: the meter's K-weighted, channel-weighted squares
  (:mod:`masterbuild.dsp.loudness`, BS.1770), summed per group.

Per try, the limiter's stages 3-6 (required reduction, lookahead, sustain,
two release detectors, attack smoothing; :mod:`masterbuild.dsp.limiter`) run on
the groups with the same time constants, and each group's power is scaled by its
gain squared, then summed into the meter's 100 ms sub-blocks and 400 ms gating
blocks.  Two approximations: one reduction per group (its largest need), and the
K-weighting of a gain-modulated signal taken as the gain times the K-weighted
signal (the gain moves slowly against the filter's response).  The tests bound the
loudness error against the real limiter and meter; the masters are measured after
encoding anyway, so the model only steers the solve.

Memory stays flat with track length: the profile is a ``.npy`` file written and
read in chunks with plain file I/O (a memory map's touched pages would count in the
process's resident size, growing with the track); the state carried between chunks
is a few tails and the 100 ms sub-block sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
from numpy.lib import format as npy_format

from masterbuild.dsp import limiter
from masterbuild.dsp.kweighting import k_weighted_power, k_weighting_sos
from masterbuild.dsp.loudness import (
    TICKS_PER_SUBBLOCK,
    channel_weights,
    gating_block_powers,
    tick_frames,
)

__all__ = [
    "ProfileFile",
    "group_frames_for",
    "limited_block_powers",
    "open_profile",
    "profile_rows",
    "write_profile",
]

GROUP_MS = 1.0 / 3.0  # target group length; the exact one divides the meter's 10 ms tick
_CHUNK_GROUPS = 1 << 16


def group_frames_for(sample_rate_hz: int) -> int:
    """Frames per group: the largest divisor of the meter's tick within ~1/3 ms."""
    tick = tick_frames(sample_rate_hz)
    limit = max(1, int(sample_rate_hz * GROUP_MS / 1000.0))
    return max(d for d in range(1, limit + 1) if tick % d == 0)


def profile_rows(frames: int, sample_rate_hz: int, group_frames: int | None = None) -> int:
    """Rows of the profile of ``frames`` frames: whole groups only, as the meter's ticks."""
    return frames // (group_frames or group_frames_for(sample_rate_hz))


def write_profile(
    path: Path,
    blocks: Iterable[np.ndarray],
    sample_rate_hz: int,
    channels: int,
    frames: int,
    group_frames: int | None = None,
) -> None:
    """Profile ``frames`` frames of ``blocks`` into ``path`` (an ``.npy`` of float32).

    Row ``k`` is ``[peak, power]`` of frames ``[k D, (k + 1) D)``; a last group that
    is not whole is left out, as the meter leaves out a tick that is not whole.
    The caller writes to a temp path and renames it (see :mod:`masterbuild.atomic`).
    """
    d = group_frames or group_frames_for(sample_rate_hz)
    n_groups = profile_rows(frames, sample_rate_hz, d)
    with open(path, "wb") as out:
        header = {"descr": "<f4", "fortran_order": False, "shape": (n_groups, 2)}
        npy_format.write_array_header_1_0(out, header)
        _write_rows(out, blocks, sample_rate_hz, channels, n_groups, d)


def _write_rows(
    out: BinaryIO,
    blocks: Iterable[np.ndarray],
    sample_rate_hz: int,
    channels: int,
    n_groups: int,
    d: int,
) -> None:
    """The ``n_groups`` rows of :func:`write_profile`, appended to ``out`` as they come."""
    sos = k_weighting_sos(sample_rate_hz)
    weights = channel_weights(channels)
    zi = np.zeros((sos.shape[0], channels, 2))
    pending_x: list[np.ndarray] = []
    pending_p: list[np.ndarray] = []
    x_frames = p_frames = 0
    pos = 0  # groups written
    peaks = limiter.neighbourhood_peak_blocks(_tee(blocks, pending_x), sample_rate_hz, channels)
    for p in peaks:
        pending_p.append(p)
        p_frames += p.size
        x_frames = sum(b.shape[0] for b in pending_x)
        ready = (min(x_frames, p_frames) // d) * d
        ready = min(ready, (n_groups - pos) * d)
        if ready == 0:
            continue
        x, pending_x[:] = _take(pending_x, ready)
        pk, pending_p[:] = _take(pending_p, ready)
        power, zi, _ = k_weighted_power(x, sos, zi, weights)
        rows = ready // d
        table = np.empty((rows, 2), dtype="<f4")
        table[:, 0] = pk.reshape(rows, d).max(axis=1)
        table[:, 1] = power.reshape(rows, d).sum(axis=1)
        out.write(table.tobytes())
        pos += rows
        p_frames -= ready
    if pos != n_groups:
        raise ValueError(f"profile: expected {n_groups * d} frames, got {pos * d}+")


@dataclass(frozen=True)
class ProfileFile:
    """A profile on disk, read a chunk at a time (see :func:`open_profile`)."""

    path: Path
    data_offset: int  # bytes of .npy header before the rows
    rows: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, 2)

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.rows)
        count = max(0, stop - start) * 2
        with open(self.path, "rb") as f:
            f.seek(self.data_offset + start * 8)
            table = np.fromfile(f, dtype="<f4", count=count)
        if table.size != count:
            raise ValueError(f"{self.path}: the profile is shorter than its header says")
        return table.reshape(-1, 2)


def open_profile(path: Path) -> ProfileFile:
    """A profile written by :func:`write_profile`, without reading its rows."""
    path = Path(path)
    with open(path, "rb") as f:
        read_header = {(1, 0): npy_format.read_array_header_1_0}.get(
            npy_format.read_magic(f), npy_format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(f)
        if shape[1:] != (2,) or fortran or dtype != np.dtype("<f4"):
            raise ValueError(f"{path}: not a limiter profile ({shape}, {dtype})")
        profile = ProfileFile(path, f.tell(), shape[0])
    if path.stat().st_size != profile.data_offset + 8 * profile.rows:
        raise ValueError(f"{path}: the profile's size does not match its header")
    return profile


def _tee(blocks: Iterable[np.ndarray], sink: list[np.ndarray]) -> Iterable[np.ndarray]:
    for b in blocks:
        sink.append(np.asarray(b, dtype=np.float64))
        yield b


def _take(parts: list[np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The first ``n`` frames of the concatenated parts, and the rest as parts."""
    joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
    rest = [joined[n:]] if joined.shape[0] > n else []
    return joined[:n], rest


class _Tails(NamedTuple):
    req: np.ndarray
    la: np.ndarray
    held: np.ndarray
    fast_db: float  # last value of the fast release detector, dB
    slow_db: float
    r: np.ndarray
    c1: np.ndarray
    power: np.ndarray  # group powers waiting for their (delayed) reduction


def _trailing_mean(tail: np.ndarray, new: np.ndarray, width: int):
    if width <= 1:
        return new, tail
    joined = np.concatenate([tail, new])
    csum = np.concatenate([[0.0], np.cumsum(joined)])
    return (csum[width:] - csum[:-width]) / width, joined[new.size :]


def limited_block_powers(
    profile: np.ndarray,
    sample_rate_hz: int,
    gain_db: float,
    ceiling_dbtp: float,
    group_frames: int | None = None,
) -> np.ndarray:
    """The meter's gating-block powers after ``gain_db`` and the limiter, predicted.

    Parameters
    ----------
    profile : numpy.ndarray or ProfileFile
        ``(groups, 2)`` from :func:`write_profile`; read in chunks, so a
        :class:`ProfileFile` keeps the memory flat with track length.
    sample_rate_hz : int
    gain_db : float
        Gain before the limiter, dB.
    ceiling_dbtp : float
        The limiter's ceiling (its default lookahead and release).
    group_frames : int, optional
        As written (default: :func:`group_frames_for`).

    Returns
    -------
    numpy.ndarray
        Mean squares of the 400 ms blocks at a 100 ms hop, like
        :attr:`masterbuild.dsp.loudness.Loudness.block_powers`.
    """
    d = group_frames or group_frames_for(sample_rate_hz)
    cfg = limiter.limiter_config(sample_rate_hz, ceiling_dbtp)
    la_width = 1 + -(-(cfg.lookahead - 1) // d)  # groups holding frames m .. m + L - 1
    period = max(1, round(cfg.sustain_period / d))
    window = max(1, round(cfg.sustain_window / d))
    box1 = max(1, round(cfg.box1 / d))
    box2 = max(1, round(cfg.box2 / d))
    log_a_fast, log_a_slow = cfg.log_a_fast * d, cfg.log_a_slow * d
    gain_lin2 = 10.0 ** (gain_db / 10.0)
    delay = la_width - 1  # the lookahead read causally: reductions lag the powers
    t = _Tails(
        req=np.zeros(la_width - 1),
        la=np.zeros(period - 1),
        held=np.zeros(window - 1),
        fast_db=0.0,
        slow_db=0.0,
        r=np.zeros(box1 - 1),
        c1=np.zeros(box2 - 1),
        power=np.zeros(0),
    )
    per_sub = tick_frames(sample_rate_hz) // d * TICKS_PER_SUBBLOCK
    subblocks: list[np.ndarray] = []
    unsummed = np.zeros(0)  # limited group powers short of a whole sub-block
    n = profile.shape[0]
    for start in range(0, n + delay, _CHUNK_GROUPS):
        chunk = np.asarray(profile[start : start + _CHUNK_GROUPS], dtype=np.float64)
        peak, power = chunk[:, 0], chunk[:, 1]
        if start + _CHUNK_GROUPS >= n:  # the last chunk: push the delayed groups out
            peak = np.concatenate([peak, np.zeros(delay)])
        with np.errstate(divide="ignore"):
            req = np.maximum(20.0 * np.log10(peak) + gain_db - cfg.threshold_db, 0.0)
        la, req_tail = limiter._trailing(t.req, req, la_width, "max")
        held, la_tail = limiter._trailing(t.la, la, period, "max")
        sustained, held_tail = limiter._trailing(t.held, held, window, "min")
        fast, fast_db = limiter.release(la, t.fast_db, log_a_fast)
        slow, slow_db = limiter.release(np.minimum(la, sustained), t.slow_db, log_a_slow)
        r1 = np.maximum(fast, slow)
        c1, r_tail = _trailing_mean(t.r, r1, box1)
        smoothed, c1_tail = _trailing_mean(t.c1, c1, box2)
        waiting = np.concatenate([t.power, power])
        # smoothed[i] is the reduction of group start + i - delay (none before 0).
        first = max(0, delay - start)
        m = min(smoothed.size - first, waiting.size)
        limited = waiting[:m] * 10.0 ** (-smoothed[first : first + m] / 10.0) * gain_lin2
        groups = np.concatenate([unsummed, limited])
        n_sub = groups.size // per_sub
        subblocks.append(groups[: n_sub * per_sub].reshape(n_sub, per_sub).sum(axis=1))
        unsummed = groups[n_sub * per_sub :]
        t = _Tails(req_tail, la_tail, held_tail, fast_db, slow_db, r_tail, c1_tail, waiting[m:])
        if start + _CHUNK_GROUPS >= n:
            break
    return gating_block_powers(np.concatenate(subblocks or [np.zeros(0)]), per_sub * d)
