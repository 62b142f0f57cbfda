"""The compiled quantisers against the straightforward numpy formulas they replace.

The kernels step numpy's PCG64 themselves (masterbuild.dsp.quantize_kernels); the oracle
here draws with ``rng.random`` as the code before them did.  Equal codes, equal clip
counts, and the generator left in an equal state: masters do not change.
"""

from __future__ import annotations

import numpy as np
import pytest

from masterbuild.dsp.dither import dither_rng, make_quantizer, quantize
from masterbuild.dsp.noiseshape import SHAPING_FILTERS, quantize_shaped, shaped_initial_state


def reference_quantize(x, bits, dither, rng):
    """The numpy formula quantize() had: two uniform arrays, one after the other."""
    scale = float(2 ** (bits - 1))
    y = x * scale
    if dither == "tpdf":
        y = y + (rng.random(x.shape) - rng.random(x.shape))
    q = np.floor(y + 0.5)
    lo, hi = -scale, scale - 1.0
    clipped = int(np.count_nonzero((q < lo) | (q > hi)))
    return np.clip(q, lo, hi).astype(np.int32), clipped


def reference_shaped(x, bits, rng, state, sr):
    """quantize_shaped as a plain loop: uniforms from rng.random((frames, channels, 2))."""
    h = SHAPING_FILTERS[sr]
    scale = float(2 ** (bits - 1))
    frames, channels = x.shape
    v_in = np.clip(x, -2.0, 2.0) * scale
    u = rng.random((frames, channels, 2))
    d = u[..., 0] - u[..., 1]
    hist = [list(state[:, c]) for c in range(channels)]  # oldest first
    codes = np.empty((frames, channels), dtype=np.int32)
    clipped = 0
    for i in range(frames):
        for c in range(channels):
            e = hist[c]
            acc = 0.0
            for k in range(h.size - 1, -1, -1):  # oldest first, as the kernel sums
                acc += h[k] * e[len(e) - 1 - k]
            v = v_in[i, c] - acc
            q = np.floor(v + d[i, c] + 0.5)
            e.append(q - v)
            if q < -scale or q > scale - 1.0:
                clipped += 1
            codes[i, c] = np.clip(q, -scale, scale - 1.0)
    new_state = np.array([e[-h.size :] for e in hist]).T
    return codes, clipped, new_state


def signal(n, channels=2, seed=5):
    """Noise with overs, an infinity and a huge value: every branch of the quantiser."""
    x = np.clip(0.3 * np.random.default_rng(seed).standard_normal((n, channels)), -1.3, 1.3)
    if n > 10:
        x[3, 0], x[4, -1], x[5, 0] = np.inf, -np.inf, 1e300
    return x


def same_generator_state(a, b):
    assert a.bit_generator.state == b.bit_generator.state
    assert a.random() == b.random()


@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 255, 256, 257, 4099, 2 * 65536 + 3])
def test_tpdf_equals_the_numpy_formula(bits, n):
    x = signal(n, 1)[:, 0]
    rng, ref = dither_rng("k", str(n)), dither_rng("k", str(n))
    codes, clipped = quantize(x, bits, "tpdf", rng)
    want, want_clipped = reference_quantize(x, bits, "tpdf", ref)
    assert codes.dtype == np.int32 and codes.shape == x.shape
    assert np.array_equal(codes, want) and clipped == want_clipped
    same_generator_state(rng, ref)


@pytest.mark.parametrize("layout", ["C", "F", "float32", "3d"])
def test_tpdf_equals_the_numpy_formula_for_any_array(layout):
    x = signal(3001, 2)
    if layout == "F":
        x = np.asfortranarray(x)
    elif layout == "float32":
        with np.errstate(over="ignore"):  # 1e300 becomes inf
            x = x.astype(np.float32)
    elif layout == "3d":
        x = x[:3000].reshape(100, 30, 2)
    rng, ref = dither_rng("layout"), dither_rng("layout")
    codes, clipped = quantize(x, 16, "tpdf", rng)
    want, want_clipped = reference_quantize(x, 16, "tpdf", ref)
    assert codes.shape == x.shape
    assert np.array_equal(codes, want) and clipped == want_clipped > 0
    same_generator_state(rng, ref)


@pytest.mark.parametrize("block", [1, 1000, 65536])
def test_tpdf_blocks_equal_the_numpy_formula_block_by_block(block):
    """A stream cut into blocks draws per block, as before: the same codes per block size."""
    x = signal(150_000)
    q = make_quantizer(24, "tpdf", dither_rng("blocks"), 96000, 2)
    ref = dither_rng("blocks")
    for start in range(0, 20_000 if block == 1 else len(x), block):
        codes, clipped = q(x[start : start + block])
        want, want_clipped = reference_quantize(x[start : start + block], 24, "tpdf", ref)
        assert np.array_equal(codes, want) and clipped == want_clipped


def test_tpdf_keeps_a_pending_uint32_of_the_generator():
    rng, ref = dither_rng("u32"), dither_rng("u32")
    for g in (rng, ref):
        g.integers(0, 2**32, dtype=np.uint32)  # leaves half a 64-bit draw cached
    assert rng.bit_generator.state["has_uint32"] == 1
    quantize(signal(1000), 16, "tpdf", rng)
    reference_quantize(signal(1000), 16, "tpdf", ref)
    same_generator_state(rng, ref)
    assert rng.integers(0, 2**32, dtype=np.uint32) == ref.integers(0, 2**32, dtype=np.uint32)


def test_tpdf_with_another_bit_generator_uses_its_draws():
    x = signal(5000)
    rng = np.random.Generator(np.random.MT19937(3))
    ref = np.random.Generator(np.random.MT19937(3))
    codes, clipped = quantize(x, 16, "tpdf", rng)
    want, want_clipped = reference_quantize(x, 16, "tpdf", ref)
    assert np.array_equal(codes, want) and clipped == want_clipped
    assert rng.random() == ref.random()


def test_no_dither_equals_the_numpy_formula():
    x = signal(10_000)
    codes, clipped = quantize(x, 16, "none", None)
    want, want_clipped = reference_quantize(x, 16, "none", None)
    assert np.array_equal(codes, want) and clipped == want_clipped


def test_nan_is_refused():
    x = np.zeros((100, 2))
    x[50, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        quantize(x, 16, "tpdf", dither_rng("nan"))
    with pytest.raises(ValueError, match="NaN"):
        quantize(x, 16, "none", None)


@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_shaped_equals_the_plain_loop(sr, bits, channels):
    x = signal(1500, channels)
    x[700:900] *= 4.0  # a stretch of overs
    state = np.random.default_rng(1).uniform(-1.5, 1.5, (SHAPING_FILTERS[sr].size, channels))
    rng, ref = dither_rng("shaped", str(channels)), dither_rng("shaped", str(channels))
    parts, clipped = [], 0
    s = state
    for start in (0, 1, 600, 1499):  # uneven blocks, one of a single frame
        stop = {0: 1, 1: 600, 600: 1499, 1499: 1500}[start]
        c, k, s = quantize_shaped(x[start:stop], bits, rng, s, sr)
        parts.append(c)
        clipped += k
    want, want_clipped, want_state = reference_shaped(x, bits, ref, state, sr)
    assert np.array_equal(np.concatenate(parts), want)
    assert clipped == want_clipped > 0
    assert np.array_equal(s, want_state)
    same_generator_state(rng, ref)


def test_shaped_with_another_bit_generator_uses_its_draws():
    x = signal(1000)
    state = shaped_initial_state(2, 44100)
    rng = np.random.Generator(np.random.MT19937(4))
    ref = np.random.Generator(np.random.MT19937(4))
    codes, clipped, _ = quantize_shaped(x, 16, rng, state, 44100)
    want, want_clipped, _ = reference_shaped(x, 16, ref, state, 44100)
    assert np.array_equal(codes, want) and clipped == want_clipped
    assert rng.random() == ref.random()
