"""Word-length reduction with TPDF dither.

TPDF dither (the difference of two independent uniform variables, +-1 LSB peak)
makes the quantisation error independent of the signal and its power constant:
(1/12 + 2/12) LSB^2 = 1/4 LSB^2. The generator is seeded by the caller so a build is
reproducible; dither is applied once, at the final word length, never twice.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from types import ModuleType

import numpy as np


def dither_rng(*key: str) -> np.random.Generator:
    """A PCG64 generator seeded from strings (e.g. album, track id, format name)."""
    seed = int.from_bytes(hashlib.sha256("\x1f".join(key).encode()).digest()[:8], "little")
    return np.random.Generator(np.random.PCG64(seed))


@functools.cache
def quantize_kernels() -> ModuleType:
    """The quantisers' compiled loops (numba), imported on first use: planning a build
    never imports numba.  Shared by TPDF here and by :mod:`masterbuild.dsp.noiseshape`."""
    try:
        from masterbuild.dsp import quantize_kernels as kernels
    except ImportError as exc:
        raise ModuleNotFoundError(
            "dither needs numba (the quantisers' loops are compiled): pip install numba"
        ) from exc
    return kernels


_NO_LANES = np.zeros((0, 2), dtype=np.uint64)
_NO_UNIFORMS = np.zeros(0)


def quantize(
    x: np.ndarray, bits: int, dither: str, rng: np.random.Generator | None
) -> tuple[np.ndarray, int]:
    """Quantise float samples (full scale +-1.0) to `bits`-bit integers.

    Returns the int32 codes (range [-2**(bits-1), 2**(bits-1) - 1]) and the number of
    samples that had to be clipped to that range.  NaN is refused (ValueError).

    The codes are exactly ``floor(x * 2**(bits-1) + (rng.random(x.shape) -
    rng.random(x.shape)) + 1/2)`` clipped to the range (the two uniform arrays drawn one
    after the other) and `rng` ends where those draws leave it; computed in one compiled
    pass that steps numpy's PCG64 itself (:mod:`masterbuild.dsp.quantize_kernels`), for
    a fifth to a third of the numpy expression's CPU (bench/bench_quantize.py).
    """
    if dither not in ("tpdf", "none"):
        raise ValueError(f"unknown dither {dither!r}")
    k = quantize_kernels()
    flat = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
    n = flat.size
    mode, lanes, u = 0, _NO_LANES, _NO_UNIFORMS
    if dither == "tpdf":
        if rng is None:
            raise ValueError("TPDF dither needs a seeded generator")
        pcg = k.tpdf_lanes(rng, n)
        if pcg is not None:
            mode, lanes = 1, pcg
        else:  # not PCG64: its own draws, asked for exactly as before
            first, second = rng.random(np.shape(x)), rng.random(np.shape(x))
            mode, u = 2, np.concatenate([first, second], axis=None)
    codes = np.empty(n, dtype=np.int32)
    scale = float(2 ** (bits - 1))
    clipped, nan = k.round_loop(flat, scale, -scale, scale - 1.0, codes, mode, lanes, u)
    if nan:
        raise ValueError("cannot quantise NaN samples")
    if rng is not None and mode == 1:
        k.pcg64_skip(rng, 2 * n)  # as the 2n draws of rng.random would have
    return codes.reshape(np.shape(x)), int(clipped)


def make_quantizer(
    bits: int, dither: str, rng: np.random.Generator | None, sample_rate_hz: int, channels: int
) -> Callable[[np.ndarray], tuple[np.ndarray, int]]:
    """A block-by-block quantiser: TPDF/none, or noise-shaped with its error history carried.

    Returns `q(block) -> (int32 codes, clipped count)`; call it on consecutive blocks.
    """
    if dither != "shaped":
        return lambda block: quantize(block, bits, dither, rng)
    from masterbuild.dsp.noiseshape import quantize_shaped, shaped_initial_state

    state = [shaped_initial_state(channels, sample_rate_hz)]

    def shaped(block: np.ndarray) -> tuple[np.ndarray, int]:
        codes, clipped, state[0] = quantize_shaped(block, bits, rng, state[0], sample_rate_hz)
        return codes, clipped

    return shaped
