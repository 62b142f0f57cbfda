"""Word-length reduction with TPDF dither.

TPDF dither (the difference of two independent uniform variables, +-1 LSB peak)
makes the quantisation error independent of the signal and its power constant:
(1/12 + 2/12) LSB^2 = 1/4 LSB^2. The generator is seeded by the caller so a build is
reproducible; dither is applied once, at the final word length, never twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np


def dither_rng(*key: str) -> np.random.Generator:
    """A PCG64 generator seeded from strings (e.g. album, track id, format name)."""
    seed = int.from_bytes(hashlib.sha256("\x1f".join(key).encode()).digest()[:8], "little")
    return np.random.Generator(np.random.PCG64(seed))


def quantize(
    x: np.ndarray, bits: int, dither: str, rng: np.random.Generator | None
) -> tuple[np.ndarray, int]:
    """Quantise float samples (full scale +-1.0) to `bits`-bit integers.

    Returns the int32 codes (range [-2**(bits-1), 2**(bits-1) - 1]) and the number of
    samples that had to be clipped to that range.
    """
    scale = float(2 ** (bits - 1))
    y = x * scale
    if dither == "tpdf":
        if rng is None:
            raise ValueError("TPDF dither needs a seeded generator")
        y = y + (rng.random(x.shape) - rng.random(x.shape))
    elif dither != "none":
        raise ValueError(f"unknown dither {dither!r}")
    q = np.floor(y + 0.5)
    lo, hi = -scale, scale - 1.0
    clipped = int(np.count_nonzero((q < lo) | (q > hi)))
    return np.clip(q, lo, hi).astype(np.int32), clipped


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
