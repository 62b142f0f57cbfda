"""Interval true peaks through a folded polyphase interpolator: fewer than half the products.

The true-peak interpolators (the meter's, :mod:`masterbuild.dsp.truepeak`, and the
limiter's reading of it) are windowed sincs over 32 inputs ``x[0 .. 31]`` (oldest
first); phase ``k`` of ``F`` gives the point at ``15 + k / F``.  A sinc is even about
its output time, and phases ``k`` and ``F - k`` sit at mirror times about 15.5, so phase
``F - k`` is phase ``k`` read backwards.  Fold the window about its middle,
``e[m] = x[m] + x[31 - m]`` and ``o[m] = x[m] - x[31 - m]`` (``m < 16``); with
``a_k[m] = (h_k[m] + h_k[31 - m]) / 2`` and ``b_k[m] = (h_k[m] - h_k[31 - m]) / 2``::

    y_k = a_k . e + b_k . o        y_(F-k) = a_k . e - b_k . o

so ``max(|y_k|, |y_(F-k)|) = |a_k . e| + |b_k . o|``: 32 products for the pair instead of
64.  Phase ``F / 2`` is its own mirror (``b = 0``); phase ``F`` is the input ``x[16]``
itself, read directly.  At 8x that is 112 products per channel and input sample instead
of 256.  (Symmetric-filter folding, as in any FIR textbook; here across phase pairs.)

Outputs are computed in batches of ``B`` consecutive windows: the listed batches are
folded (numba), multiplied by the folded taps in stacked BLAS calls in which every batch
is the same ``(rows, 16) @ (16, B)`` product (so a batch's rounding does not depend on
which other batches are listed), and combined (numba).  The rounding differs from a
direct 32-tap product by a few float32 units (relative 1e-6 of ``sum |h x|``).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

TAPS = 32
HALF = TAPS // 2
_GROUP = 8  # batches per stacked product: bounded work buffers


class Folded(NamedTuple):
    """Folded taps of a symmetric ``F``-phase interpolator (from :func:`fold`)."""

    even_t: np.ndarray  # (F // 2, 16) float32: a_k, k = 1 .. F/2
    odd_t: np.ndarray  # (F // 2 - 1, 16) float32: b_k, k = 1 .. F/2 - 1


def fold(phases: np.ndarray) -> Folded:
    """Fold the phases of an interpolator (``(F, 32)``, row ``k - 1`` = phase ``k``).

    Raises ValueError unless the phases pair up as the module docstring says (row
    ``F - 1`` the identity on input 16, row ``F - 1 - k`` row ``k - 1`` reversed) and
    ``F`` is even.
    """
    rows = np.asarray(phases, dtype=np.float64)
    factor = rows.shape[0]
    identity = np.zeros(TAPS)
    identity[HALF] = 1.0
    mirrored = all(
        np.allclose(rows[k - 1, ::-1], rows[factor - k - 1], rtol=0.0, atol=1e-12)
        for k in range(1, factor)
    )
    if (
        rows.shape[1] != TAPS
        or factor % 2
        or not mirrored
        or not np.array_equal(rows[-1], identity)
    ):
        raise ValueError("not a symmetric 32-tap interpolator with an even number of phases")
    half = factor // 2
    lo, hi = rows[:, :HALF], rows[:, TAPS - 1 : HALF - 1 : -1]
    return Folded(
        np.ascontiguousarray((lo[:half] + hi[:half]) / 2, dtype=np.float32),
        np.ascontiguousarray((lo[: half - 1] - hi[: half - 1]) / 2, dtype=np.float32),
    )


def padded_batches(ext: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``ext`` in whole batches, and the largest |input| each batch reads.

    ``ext`` is ``(channels, 31 + n)`` float32 (window ``j`` = ``ext[:, j : j + 32]``).
    Returns a zero-padded copy ``(channels, (n_batches + 1) x B)`` for
    :func:`batch_peaks` and, per batch, ``max |input|`` over the inputs its windows
    read (input blocks ``b`` and ``b + 1``; ``B >= 31``).  Times the interpolator's
    largest L1 norm, that bounds every value the batch can give.
    """
    channels = ext.shape[0]
    n_batches = -(-max(ext.shape[1] - (TAPS - 1), 0) // batch_size)
    padded = np.zeros((channels, (n_batches + 1) * batch_size), dtype=np.float32)
    padded[:, : ext.shape[1]] = ext
    block_max = np.abs(padded).reshape(channels, n_batches + 1, batch_size).max(axis=(0, 2))
    return padded, np.maximum(block_max[:-1], block_max[1:]).astype(np.float64)


def _fold_loop(padded: np.ndarray, batches: np.ndarray, even: np.ndarray, odd: np.ndarray) -> None:
    """``even[s, c, m]`` / ``odd[s, c, m]``: the folded windows of listed batch ``s``."""
    size = even.shape[3]
    for s in range(batches.size):
        start = batches[s] * size
        for c in range(padded.shape[0]):
            for m in range(HALF):
                lo = padded[c, start + m : start + m + size]
                hi = padded[c, start + TAPS - 1 - m : start + TAPS - 1 - m + size]
                e = even[s, c, m]
                o = odd[s, c, m]
                for i in range(size):
                    e[i] = lo[i] + hi[i]
                    o[i] = lo[i] - hi[i]


def _combine_loop(
    padded: np.ndarray,
    batches: np.ndarray,
    y_even: np.ndarray,
    y_odd: np.ndarray,
    scale: float,
    out: np.ndarray,
) -> None:
    """``out[window] = scale x`` the largest phase value (or centre sample) of the window."""
    size = y_even.shape[3]
    n_odd = y_odd.shape[2]
    peak = np.empty(size, dtype=np.float32)
    for s in range(batches.size):
        start = batches[s] * size
        peak[:] = 0.0
        for c in range(padded.shape[0]):
            centre = padded[c, start + HALF : start + HALF + size]
            for i in range(size):
                v = abs(centre[i])
                peak[i] = v if v > peak[i] else peak[i]
            for r in range(y_even.shape[2]):
                e = y_even[s, c, r]
                if r < n_odd:
                    o = y_odd[s, c, r]
                    for i in range(size):
                        v = abs(e[i]) + abs(o[i])
                        peak[i] = v if v > peak[i] else peak[i]
                else:
                    for i in range(size):
                        v = abs(e[i])
                        peak[i] = v if v > peak[i] else peak[i]
        for i in range(min(size, out.size - start)):
            out[start + i] = np.float64(peak[i]) * scale


@functools.cache
def _kernels() -> tuple[Any, Any]:
    """The two loops compiled by numba (on first use, like the limiter's kernels)."""
    from numba import njit

    jit = njit(cache=True, nogil=True)
    return jit(_fold_loop), jit(_combine_loop)


def batch_peaks(
    padded: np.ndarray,
    batches: np.ndarray,
    folded: Folded,
    batch_size: int,
    scale: float,
    out: np.ndarray,
) -> None:
    """Largest |interpolated value| per window, for every window of the listed batches.

    Parameters
    ----------
    padded : numpy.ndarray
        ``(channels, width)`` float32, C-contiguous; window ``j`` is
        ``padded[:, j : j + 32]``.  Every listed batch must lie inside:
        ``width >= (b + 1) * batch_size + 31``.
    batches : numpy.ndarray
        Batch indices (int64); batch ``b`` is windows ``b * B .. b * B + B - 1``.
    folded : Folded
    batch_size : int
        ``B``.
    scale : float
        Factor applied to every result (in float64).
    out : numpy.ndarray
        ``(n,)`` float64; element ``j`` (for ``j < n`` in a listed batch) is set to
        ``scale x`` max over channels of the window's centre sample and its ``F - 1``
        interpolated points.  Other elements are left as they are.
    """
    if batches.size == 0:
        return
    fold_kernel, combine_kernel = _kernels()
    channels = padded.shape[0]
    n_even, n_odd = folded.even_t.shape[0], folded.odd_t.shape[0]
    group = min(_GROUP, batches.size)
    even = np.empty((group, channels, HALF, batch_size), dtype=np.float32)
    odd = np.empty_like(even)
    y_even = np.empty((group, channels, n_even, batch_size), dtype=np.float32)
    y_odd = np.empty((group, channels, n_odd, batch_size), dtype=np.float32)
    for g in range(0, batches.size, group):
        listed = np.ascontiguousarray(batches[g : g + group], dtype=np.int64)
        k = listed.size
        fold_kernel(padded, listed, even, odd)
        np.matmul(folded.even_t, even[:k], out=y_even[:k])
        np.matmul(folded.odd_t, odd[:k], out=y_odd[:k])
        combine_kernel(padded, listed, y_even, y_odd, float(scale), out)


__all__ = ["HALF", "TAPS", "Folded", "batch_peaks", "fold", "padded_batches"]
