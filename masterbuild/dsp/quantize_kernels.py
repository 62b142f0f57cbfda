"""The compiled loops of the final quantisation, with numpy's PCG64 inlined.

Imported on first use by :mod:`masterbuild.dsp.dither` and
:mod:`masterbuild.dsp.noiseshape`, so planning a build never imports numba.

Why PCG64 is re-implemented here: ``rng.random`` costs about 2.2 ns a double on the build
machines (numpy steps one 128-bit LCG serially, through a function pointer per draw),
more than everything else the quantiser does.  These kernels produce the very same
doubles -- numpy's ``pcg64_next_double``: LCG step, XSL-RR output, top 53 bits times
2**-53 -- from several interleaved lanes of the stream at once: lane j of L yields the
stream's draws j, j + L, j + 2L, ..., its state moved on by the LCG's affine jump of L
steps (as cheap as one step).  The lanes are independent: for TPDF an inner loop over 16
of them that LLVM vectorises (about 0.7 ns a double); for noise shaping four scalar
lanes per channel pair, whose integer work fills the idle cycles of the latency-bound
recursion.  No uniform array is written to memory.  Uniforms and codes are bit-identical
to numpy's (tests check both); the generator's state is moved on afterwards exactly as
``rng.random`` would have moved it (``pcg64_skip``).  Other bit generators than PCG64
fall back to ``rng.random`` arrays fed to the same kernels.

Plain IEEE arithmetic (no fastmath, no FMA contraction) and integer arithmetic for the
generator, so codes do not depend on the CPU or on what LLVM vectorises.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MASK64 = (1 << 64) - 1
_MASK128 = (1 << 128) - 1
_MUL = (2549297995355413924 << 64) | 4865540595714422341  # numpy's PCG_DEFAULT_MULTIPLIER
_MUL_HI = np.uint64(_MUL >> 64)
_MUL_LO = np.uint64(_MUL & _MASK64)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53, as numpy's next_double
_M32 = np.uint64(0xFFFFFFFF)
_U11, _U32 = np.uint64(11), np.uint64(32)
_U58, _U63, _U64 = np.uint64(58), np.uint64(63), np.uint64(64)


@njit(cache=True, nogil=True, inline="always")
def _umulh(a, b):
    """High 64 bits of the 128-bit product, from 32-bit halves: numba has no int128, and
    this form vectorises (measured no slower in scalar code than one 128-bit multiply)."""
    al, ah = a & _M32, a >> _U32
    bl, bh = b & _M32, b >> _U32
    p0, p1, p2, p3 = al * bl, al * bh, ah * bl, ah * bh
    mid = (p0 >> _U32) + (p1 & _M32) + (p2 & _M32)
    return p3 + (p1 >> _U32) + (p2 >> _U32) + (mid >> _U32)


@njit(cache=True, nogil=True, inline="always")
def _affine(s_hi, s_lo, a_hi, a_lo, c_hi, c_lo):
    """s * a + c (mod 2**128) on (high, low) halves: an LCG step or jump."""
    lo = s_lo * a_lo
    hi = _umulh(s_lo, a_lo) + s_lo * a_hi + s_hi * a_lo
    new_lo = lo + c_lo
    return hi + c_hi + np.uint64(new_lo < lo), new_lo


def _jump(delta: int, inc: int) -> tuple[int, int]:
    """(A, C) with state after `delta` steps = A * state + C (mod 2**128)."""
    acc_mul, acc_add, cur_mul, cur_add = 1, 0, _MUL, inc
    while delta:  # Brown's algorithm, as pcg_advance_lcg_128
        if delta & 1:
            acc_mul = acc_mul * cur_mul & _MASK128
            acc_add = (acc_add * cur_mul + cur_add) & _MASK128
        cur_add = (cur_mul + 1) * cur_add & _MASK128
        cur_mul = cur_mul * cur_mul & _MASK128
        delta >>= 1
    return acc_mul, acc_add


def pcg64_lanes(rng: np.random.Generator, starts: list[int], stride: int) -> np.ndarray | None:
    """Interleaved lane states for the kernels, or None if `rng` does not run on numpy's
    PCG64 (the callers then fall back to its ``random`` method).

    Lane j first yields draw ``starts[j]`` (counted from `rng`'s position), then every
    `stride`-th draw after it.  Returns uint64 (hi, lo) rows: the jump A and C of
    `stride` steps, then the lanes' states.  `rng` itself is not moved: see
    :func:`pcg64_skip`.
    """
    bg = getattr(rng, "bit_generator", None)
    if type(bg) is not np.random.PCG64:
        return None
    st = bg.state["state"]
    state, inc = st["state"], st["inc"]
    words = list(_jump(stride, inc))
    for start in starts:  # the state a draw is output from has been stepped start + 1 times
        a, c = _jump(start + 1, inc)
        words.append((a * state + c) & _MASK128)
    return np.array([[w >> 64, w & _MASK64] for w in words], dtype=np.uint64)


def pcg64_skip(rng: np.random.Generator, draws: int) -> None:
    """Move `rng` on as ``draws`` calls of ``rng.random()`` would (uint32 cache untouched)."""
    bg = rng.bit_generator
    st = bg.state
    a, c = _jump(draws, st["state"]["inc"])
    st["state"]["state"] = (a * st["state"]["state"] + c) & _MASK128
    bg.state = st


@njit(cache=True, nogil=True, inline="always")
def _draw(s_hi: np.ndarray, s_lo: np.ndarray, j: int, a_hi, a_lo, c_hi, c_lo) -> int:
    """Lane j's next uniform times 2**53 (numpy's next_double is this * 2**-53), then
    its jump."""
    h, lo = s_hi[j], s_lo[j]
    x = h ^ lo
    rot = h >> _U58
    out = ((x >> rot) | (x << ((_U64 - rot) & _U63))) >> _U11  # XSL-RR, top 53 bits
    s_hi[j], s_lo[j] = _affine(h, lo, a_hi, a_lo, c_hi, c_lo)
    return np.int64(out)


TPDF_LANES = 8
"""Samples per step of :func:`round_loop`: 8 lanes of first and 8 of second uniforms."""
_CHUNK = 512  # samples of dither made at a time: 4 KB, stays in L1


def tpdf_lanes(rng: np.random.Generator, n: int) -> np.ndarray | None:
    """:func:`pcg64_lanes` for :func:`round_loop` on n samples (None: not PCG64).

    numpy draws the first uniforms of all n samples, then the second ones: lanes 0-7
    yield the first uniform of samples j, j + 8, ..., lanes 8-15 their second, n on.
    """
    first = list(range(TPDF_LANES))
    return pcg64_lanes(rng, first + [n + j for j in first], TPDF_LANES)


@njit(cache=True, nogil=True)
def round_loop(
    x: np.ndarray,
    scale: float,
    lo: float,
    hi: float,
    codes: np.ndarray,
    mode: int,
    lanes: np.ndarray,
    u: np.ndarray,
) -> tuple[int, bool]:
    """``dither.quantize`` in one pass: scale, TPDF, floor(+1/2), clip and count, int32.

    x, codes : flat, n samples.  TPDF as numpy's ``rng.random(n) - rng.random(n)``.
    mode 0: no dither; 1: from ``lanes`` (:func:`tpdf_lanes`); 2: from ``u`` (the 2n
    uniforms).  Returns (clipped count, whether x holds NaN: the codes are then invalid).
    """
    n = x.size
    clipped = 0
    nan = False
    d = np.zeros(_CHUNK)
    # The lane count as a run-time value: with a constant, LLVM unrolls the lane loop
    # and then fails to vectorise it (measured: 3x slower).
    w = (lanes.shape[0] - 2) // 2 if mode == 1 else TPDF_LANES
    if mode == 1:
        a_hi, a_lo, c_hi, c_lo = lanes[0, 0], lanes[0, 1], lanes[1, 0], lanes[1, 1]
        s1_hi, s1_lo = lanes[2 : 2 + w, 0].copy(), lanes[2 : 2 + w, 1].copy()
        s2_hi, s2_lo = lanes[2 + w :, 0].copy(), lanes[2 + w :, 1].copy()
    d2 = d.reshape((_CHUNK // w, w))
    # Indices from range() only, on slices and 2-D views: numba's wraparound of computed
    # indices would make LLVM gather and scatter instead of loading vectors.
    for c0 in range(0, n, _CHUNK):
        m = min(_CHUNK, n - c0)
        if mode == 1:
            for r in range(-(-m // w)):
                for j in range(w):  # vectorised: 16 independent generators
                    u1 = _draw(s1_hi, s1_lo, j, a_hi, a_lo, c_hi, c_lo)
                    u2 = _draw(s2_hi, s2_lo, j, a_hi, a_lo, c_hi, c_lo)
                    d2[r, j] = np.float64(u1 - u2) * _TWO_M53  # = the float u1 - u2
        elif mode == 2:
            u1s, u2s = u[c0 : c0 + m], u[n + c0 : n + c0 + m]
            for i in range(m):
                d[i] = u1s[i] - u2s[i]
        xs, cs = x[c0 : c0 + m], codes[c0 : c0 + m]
        for i in range(m):  # branch-free, so it vectorises too
            q = np.floor(xs[i] * scale + d[i] + 0.5)
            nan |= q != q
            clipped += (q < lo) | (q > hi)
            cs[i] = np.int32(min(max(q, lo), hi))
    return clipped, nan


@njit(cache=True, nogil=True, inline="always")
def _next(s_hi, s_lo, a_hi, a_lo, c_hi, c_lo):
    """(uniform * 2**53, new hi, new lo): as :func:`_draw`, on scalars."""
    x = s_hi ^ s_lo
    rot = s_hi >> _U58
    out = ((x >> rot) | (x << ((_U64 - rot) & _U63))) >> _U11  # XSL-RR, top 53 bits
    h, lo = _affine(s_hi, s_lo, a_hi, a_lo, c_hi, c_lo)
    return np.int64(out), h, lo


@njit(cache=True, nogil=True)
def _recursion(
    x: np.ndarray,
    a: int,
    b: int,
    h: np.ndarray,
    err: np.ndarray,
    scale: float,
    lo: float,
    hi: float,
    codes: np.ndarray,
    mode: int,
    lanes: np.ndarray,
    u: np.ndarray,
) -> tuple[int, int]:
    """The error-feedback recursion of channels a and b side by side (b may be a).

    x, codes : (frames, channels); err : (channels, K + frames).  The dither of channel c
    comes from lanes 2c and 2c + 1 (mode 1) or from ``u`` (mode 2).  Returns the two
    channels' clip counts.

    Speed: the loop is bound by the chain e[n-1] -> v[n] -> q[n] -> e[n] (7 dependent
    floating-point operations) and by instruction throughput.  Summing the oldest error
    first lets the other K-1 products be ready before e[n-1] is; two channels side by
    side give the CPU independent chains to overlap, and the four generators' integer
    work runs in the cycles the chain leaves idle (measured: 1.3x the loop with the
    dither read from memory, against 1.35x for a separate vectorised draw pass).
    """
    frames, n_ch = x.shape
    taps = h.size
    h0 = h[0]
    ea, eb = err[a], err[b]
    pa, pb = ea[taps - 1], eb[taps - 1]
    a_hi, a_lo, c_hi, c_lo = lanes[0, 0], lanes[0, 1], lanes[1, 0], lanes[1, 1]
    # Channel c's two uniforms come from lanes 2c and 2c + 1 (rows 2 + 2c, 3 + 2c).
    a1h, a1l = lanes[2 + 2 * a, 0], lanes[2 + 2 * a, 1]
    a2h, a2l = lanes[3 + 2 * a, 0], lanes[3 + 2 * a, 1]
    b1h, b1l = lanes[2 + 2 * b, 0], lanes[2 + 2 * b, 1]
    b2h, b2l = lanes[3 + 2 * b, 0], lanes[3 + 2 * b, 1]
    clip_a = 0
    clip_b = 0
    for i in range(frames):
        if mode == 1:
            u1, a1h, a1l = _next(a1h, a1l, a_hi, a_lo, c_hi, c_lo)
            u2, a2h, a2l = _next(a2h, a2l, a_hi, a_lo, c_hi, c_lo)
            d_a = np.float64(u1 - u2) * _TWO_M53
            u1, b1h, b1l = _next(b1h, b1l, a_hi, a_lo, c_hi, c_lo)
            u2, b2h, b2l = _next(b2h, b2l, a_hi, a_lo, c_hi, c_lo)
            d_b = np.float64(u1 - u2) * _TWO_M53
        else:
            d_a = u[2 * (i * n_ch + a)] - u[2 * (i * n_ch + a) + 1]
            d_b = u[2 * (i * n_ch + b)] - u[2 * (i * n_ch + b) + 1]
        # e[n-1-k] is wa[taps - 1 - k]: indices straight from range(), so numba's
        # negative-index wraparound (3 instructions a load) folds away.
        wa, wb = ea[i : i + taps], eb[i : i + taps]
        acc_a = 0.0
        acc_b = 0.0
        for k in range(taps - 1, 0, -1):
            acc_a += h[k] * wa[taps - 1 - k]
            acc_b += h[k] * wb[taps - 1 - k]
        # The +-2 FS clamp (np.clip) changes no code and keeps q - v exact in float64.
        v_a = min(max(x[i, a], -2.0), 2.0) * scale - (acc_a + h0 * pa)
        v_b = min(max(x[i, b], -2.0), 2.0) * scale - (acc_b + h0 * pb)
        q_a = np.floor(v_a + d_a + 0.5)
        q_b = np.floor(v_b + d_b + 0.5)
        pa = q_a - v_a  # unclipped: |e| <= 1.5 LSB, the loop stays FIR-bounded
        pb = q_b - v_b
        ea[taps + i] = pa  # e[n]
        eb[taps + i] = pb
        if q_a < lo or q_a > hi:
            clip_a += 1
        if q_b < lo or q_b > hi:
            clip_b += 1
        codes[i, a] = np.int32(min(max(q_a, lo), hi))
        codes[i, b] = np.int32(min(max(q_b, lo), hi))
    return clip_a, clip_b


def shaped_lanes(rng: np.random.Generator, channels: int) -> np.ndarray | None:
    """:func:`pcg64_lanes` for :func:`shape_loop` (None: not PCG64).

    numpy draws two uniforms per sample, frame by frame, channel by channel: lanes 2c and
    2c + 1 yield channel c's, one step of 2 * channels draws per frame.
    """
    return pcg64_lanes(rng, list(range(2 * channels)), 2 * channels)


@njit(cache=True, nogil=True)
def shape_loop(
    x: np.ndarray,
    scale: float,
    h: np.ndarray,
    err: np.ndarray,
    lo: float,
    hi: float,
    codes: np.ndarray,
    mode: int,
    lanes: np.ndarray,
    u: np.ndarray,
) -> tuple[int, bool]:
    """The error-feedback quantiser of ``noiseshape.quantize_shaped``, in one pass.

    x, codes : (frames, channels), C order; err : (channels, K + frames), the history in
    its first K columns, filled with e[n] here.  Dither: mode 1 from ``lanes``
    (:func:`shaped_lanes`), mode 2 from ``u`` (2 uniforms per sample in (frame, channel)
    order).  Returns (clipped count, whether x holds NaN: nothing is computed then).
    The channels are independent but for the order of the draws, which the lanes keep.
    """
    xf = x.reshape(-1)
    nan = False
    for k in range(xf.size):
        nan |= xf[k] != xf[k]
    if nan:
        return 0, True
    n_ch = x.shape[1]
    clipped = 0
    for a in range(0, n_ch, 2):
        b = min(a + 1, n_ch - 1)  # an odd last channel runs beside itself, its clips once
        clip_a, clip_b = _recursion(x, a, b, h, err, scale, lo, hi, codes, mode, lanes, u)
        clipped += clip_a + (clip_b if b != a else 0)
    return clipped, False
