"""Noise-shaped dither against analytic oracles.

The oracle for every spectral test is the theory of dithered error feedback: with TPDF
dither inside the loop the total error e[n] is white, of power 1/4 LSB^2, whatever the
signal, so the delivered error codes - x * 2**(bits-1) has the one-sided power spectral
density 2 * (1/4) / fs * |1 - H(e^jw)|^2 LSB^2/Hz (Lipshitz, Vanderkooy & Wannamaker,
"Minimally audible noise shaping", JAES 1991; Wannamaker et al., "A theory of
nonsubtractive dither", IEEE Trans. SP 2000).
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
import scipy.signal

from masterbuild.dsp import noiseshape
from masterbuild.dsp.dither import dither_rng, quantize
from masterbuild.dsp.noiseshape import (
    SHAPING_FILTERS,
    TOTAL_ERROR_POWER_LSB2,
    noise_transfer_db,
    quantize_shaped,
    shaped_initial_state,
    shaping_supported,
)

RATES = (44100, 48000)
N_LONG = 1 << 20  # ~24 s at 44.1 kHz: ~500 Welch segments, band averages within ~0.2 dB
NPERSEG = 4096
BANDS_HZ = (20, 200, 500, 1000, 2000, 3000, 4000, 5000, 7000, 10000, 13000, 16000, 18000, 20000)


def shaped(x, bits, sr, seed="take-1", block=None):
    """Quantise `x` in blocks of `block` frames (one block if None); codes, clips, state."""
    rng = dither_rng("album", seed)
    state = shaped_initial_state(x.shape[1], sr)
    if block is None:
        return quantize_shaped(x, bits, rng, state, sr)
    out, clipped = [], 0
    for start in range(0, len(x), block):
        codes, n, state = quantize_shaped(x[start : start + block], bits, rng, state, sr)
        out.append(codes)
        clipped += n
    return np.concatenate(out), clipped, state


def error_lsb(codes, x, bits):
    return codes.astype(np.float64) - x * 2.0 ** (bits - 1)


def welch_lsb2_per_hz(e, sr):
    return scipy.signal.welch(e, fs=sr, window="hann", nperseg=NPERSEG, axis=0)


def theory_lsb2_per_hz(f, sr):
    return 2.0 * TOTAL_ERROR_POWER_LSB2 / sr * 10.0 ** (noise_transfer_db(f, sr) / 10.0)


def band_db(f, psd, lo, hi):
    m = (f >= lo) & (f < hi)
    return 10.0 * np.log10(np.mean(psd[m]))


def quiet_sine_then_silence(sr, n=N_LONG):
    """-60 dBFS 1 kHz sine for the first half, digital silence after (mono)."""
    t = np.arange(n) / sr
    x = 10 ** (-60 / 20) * np.sin(2 * np.pi * 1000.0 * t)
    x[n // 2 :] = 0.0
    return x[:, None]


class ZeroDither:
    """A stand-in generator whose two uniforms are equal: no dither (for oracle teeth)."""

    def random(self, shape):
        return np.full(shape, 0.5)


# --- the published filters ----------------------------------------------------------


@pytest.mark.parametrize("sr", RATES)
def test_filters_are_minimum_phase_and_shape_noise_as_published(sr):
    h = SHAPING_FILTERS[sr]
    assert not h.flags.writeable
    # 1 - H(z) is minimum phase (all zeros inside the unit circle) ...
    assert np.max(np.abs(np.roots(np.r_[1.0, -h]))) < 1.0
    # ... so by the Gerzon-Craven theorem its log power gain averages to exactly 0 dB:
    # a typo in a coefficient that broke minimum phase would show here.
    f = (np.arange(1 << 16) + 0.5) / (1 << 16) * sr / 2
    assert np.mean(noise_transfer_db(f, sr)) == pytest.approx(0.0, abs=1e-3)
    # Noise out of the ear's most sensitive region into the top octave.
    assert noise_transfer_db(np.array([3000.0, 4000.0]), sr).max() < -20.0
    assert noise_transfer_db(np.array([18000.0, 20000.0]), sr).min() > 13.0


# --- the error spectrum follows |1 - H|^2 ---------------------------------------------


@pytest.mark.parametrize("sr", RATES)
def test_error_spectrum_follows_the_filter(sr):
    bits = 16
    x = quiet_sine_then_silence(sr)
    codes, clipped, _ = shaped(x, bits, sr)
    assert clipped == 0
    f, psd = welch_lsb2_per_hz(error_lsb(codes, x, bits)[:, 0], sr)
    want = theory_lsb2_per_hz(f, sr)
    for lo, hi in itertools.pairwise(BANDS_HZ):
        got_db, want_db = band_db(f, psd, lo, hi), band_db(f, want, lo, hi)
        assert got_db == pytest.approx(want_db, abs=1.5), f"{lo}-{hi} Hz"
    # Total error power: 1/4 LSB^2 times the filter's power gain (+18.4 / +21.3 dB).
    total = np.mean(error_lsb(codes, x, bits) ** 2)
    gain = np.sum(np.r_[1.0, -SHAPING_FILTERS[sr]] ** 2)
    assert total == pytest.approx(TOTAL_ERROR_POWER_LSB2 * gain, rel=0.03)


@pytest.mark.parametrize("sr", RATES)
def test_noise_at_3khz_far_below_flat_tpdf(sr):
    bits = 16
    x = quiet_sine_then_silence(sr)
    codes, _, _ = shaped(x, bits, sr)
    flat, _ = quantize(x, bits, "tpdf", dither_rng("album", "flat"))
    f, psd_shaped = welch_lsb2_per_hz(error_lsb(codes, x, bits)[:, 0], sr)
    _, psd_flat = welch_lsb2_per_hz(error_lsb(flat, x, bits)[:, 0], sr)
    # Flat TPDF: 1/4 LSB^2 spread evenly, as dither.py states.
    assert band_db(f, psd_flat, 20, 20000) == pytest.approx(
        10 * np.log10(2 * TOTAL_ERROR_POWER_LSB2 / sr), abs=0.2
    )
    reduction = band_db(f, psd_flat, 2500, 3500) - band_db(f, psd_shaped, 2500, 3500)
    want = -band_db(f, 10 ** (noise_transfer_db(f, sr) / 10), 2500, 3500)
    assert reduction == pytest.approx(want, abs=1.0)
    assert reduction > 20.0  # measured: F-weighted 24.2 dB, Shibata 48k 22.4 dB


# --- the error carries nothing of the signal ----------------------------------------


def sine_error_spectrum(sr, rng_factory, level_dbfs, bits=16, f0=1000.0):
    n = N_LONG // 2
    x = (10 ** (level_dbfs / 20) * np.sin(2 * np.pi * f0 * np.arange(n) / sr))[:, None]
    codes, _, _ = quantize_shaped(x, bits, rng_factory(), shaped_initial_state(1, sr), sr)
    e = error_lsb(codes, x, bits)[:, 0]
    f, psd = welch_lsb2_per_hz(e, sr)
    ratio = psd / theory_lsb2_per_hz(f, sr)
    harmonics = [k * f0 for k in range(1, 11)]
    near = np.zeros_like(f, dtype=bool)
    for fk in harmonics:
        near |= np.abs(f - fk) <= 2.5 * sr / NPERSEG
    return x[:, 0], e, ratio[near].max()


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("level_dbfs", [-40.0, -96.0])
def test_error_is_signal_independent(sr, level_dbfs):
    x, e, worst = sine_error_spectrum(sr, lambda: dither_rng("album", "indep"), level_dbfs)
    assert abs(np.mean(e)) < 5e-3  # LSB; a biased quantiser (floor) would give ~0.1
    for k in (1, 2, 3):  # no linear, quadratic or cubic dependence on the signal
        assert abs(np.corrcoef(e, x**k)[0, 1]) < 5e-3
    # No distortion products: the error at the sine and its harmonics is the shaped floor
    # (the max of ~100 Welch bins of ~500 averages each stays within ~+20 %).
    assert worst < 1.5
    if level_dbfs == -96.0:
        # Teeth: the same loop without dither (a 0.5 LSB sine) puts harmonics 9-19x
        # above that floor; the shaper's own chaos does not linearise it.
        _, _, worst_undithered = sine_error_spectrum(sr, ZeroDither, level_dbfs)
        assert worst_undithered > 5.0


@pytest.mark.parametrize("sr", RATES)
def test_no_idle_tones_on_silence(sr):
    x = np.zeros((N_LONG, 2))
    codes, clipped, _ = shaped(x, 16, sr)
    assert clipped == 0 and np.all(np.abs(codes) < 64)
    f, psd = welch_lsb2_per_hz(codes.astype(np.float64), sr)
    band = (f > 20) & (f < sr / 2 - 100)
    flat = psd[band] / theory_lsb2_per_hz(f[band], sr)[:, None]
    # Whitened by the filter's shape the spectrum is flat: no bin stands out.
    assert np.all(flat.max(axis=0) / np.median(flat, axis=0) < 1.6)
    assert np.all(np.abs(np.median(flat, axis=0) - 1.0) < 0.05)
    # Channels are independent (each has its own dither and its own loop).
    assert abs(np.corrcoef(codes.T)[0, 1]) < 5e-3


# --- blocks, seeds -------------------------------------------------------------------


def program(sr, n, seed=3):
    """Stereo: -20 dBFS noise with a stretch pushed past full scale (clips included)."""
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal((n, 2))
    x[n // 3 : n // 3 + 500] *= 12.0
    return x


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("block", [1, 100, 4096, "random"])
def test_blocks_give_identical_codes(sr, bits, block):
    n = 3000 if block == 1 else 30000
    x = program(sr, n)
    one_codes, one_clipped, one_state = shaped(x, bits, sr)
    assert one_clipped > 0  # the test covers the clipping path too
    if block == "random":
        cuts = np.sort(np.random.default_rng(11).integers(0, n, 40))  # zero-length included
        rng = dither_rng("album", "take-1")
        state = shaped_initial_state(2, sr)
        parts, clipped = [], 0
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
            c, k, state = quantize_shaped(x[a:b], bits, rng, state, sr)
            parts.append(c)
            clipped += k
        codes = np.concatenate(parts)
    else:
        codes, clipped, state = shaped(x, bits, sr, block=block)
    assert codes.dtype == np.int32
    assert np.array_equal(codes, one_codes)
    assert clipped == one_clipped
    assert np.array_equal(state, one_state)


def test_reproducible_with_seed_and_different_with_another():
    x = program(44100, 20000)
    a, _, _ = shaped(x, 16, 44100, seed="take-1")
    b, _, _ = shaped(x, 16, 44100, seed="take-1")
    c, _, _ = shaped(x, 16, 44100, seed="take-2")
    assert np.array_equal(a, b)
    assert np.mean(a != c) > 0.5


def test_state_is_not_modified_in_place():
    state = shaped_initial_state(2, 44100)
    quantize_shaped(program(44100, 1000), 16, dither_rng("s"), state, 44100)
    assert not state.any()


# --- stability at and past full scale -------------------------------------------------


def error_bound_lsb(sr):
    """|q - x| <= 1.5 LSB * (1 + sum|h|) for every unclipped sample (|e| <= 1.5 LSB)."""
    return 1.5 * (1.0 + np.abs(SHAPING_FILTERS[sr]).sum())


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("bits", [16, 24])
def test_full_scale_sine_clips_are_counted_and_the_loop_stays_bounded(sr, bits):
    n = 2 * sr
    x = np.sin(2 * np.pi * 997.0 * np.arange(n) / sr)[:, None] * np.ones((1, 2))
    codes, clipped, state = shaped(x, bits, sr, block=8192)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    at_rail = (codes == lo) | (codes == hi)
    assert 0 < clipped <= np.count_nonzero(at_rail)
    assert codes.min() >= lo and codes.max() <= hi
    assert np.all(np.isfinite(state)) and np.abs(state).max() <= 1.5
    e = error_lsb(codes, x, bits)
    assert np.abs(e[~at_rail]).max() <= error_bound_lsb(sr)


@pytest.mark.parametrize("sr", RATES)
def test_clipped_square_wave_does_not_upset_the_loop(sr):
    bits, n_sq, n_tail = 16, sr, sr
    k = np.arange(n_sq)
    square = np.where((k // 220) % 2 == 0, 1.5, -1.5)  # 3.5 dB over full scale
    x = np.r_[square, np.zeros(n_tail)][:, None] * np.ones((1, 2))
    codes, clipped, state = shaped(x, bits, sr, block=4096)
    # A loop that fed back the clipped value would ring here (at 48 kHz at full scale
    # through the whole tail, measured); this one feeds back only the rounding error.
    assert clipped == 2 * n_sq  # every over is counted, nothing else clips
    assert np.all(np.abs(codes[:n_sq]) >= 2**15 - 1)
    assert np.abs(state).max() <= 1.5
    # The silence after the overs carries only the ordinary shaped noise at once.
    tail = error_lsb(codes, x, bits)[n_sq + SHAPING_FILTERS[sr].size :]
    assert np.abs(tail).max() <= error_bound_lsb(sr)
    power = np.mean(tail**2)
    gain = np.sum(np.r_[1.0, -SHAPING_FILTERS[sr]] ** 2)
    assert power == pytest.approx(TOTAL_ERROR_POWER_LSB2 * gain, rel=0.05)


def test_absurd_input_clips_without_overflow():
    x = np.array([[1e300, -np.inf], [np.inf, -1e300], [0.0, 0.0]])
    codes, clipped, state = quantize_shaped(
        x, 16, dither_rng("x"), shaped_initial_state(2, 48000), 48000
    )
    assert codes[:2].tolist() == [[32767, -32768], [32767, -32768]]
    assert clipped == 4 and np.abs(state).max() <= 1.5


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [8000, 32000, 44000, 88200, 96000, 192000])
def test_unsupported_rate_is_refused(sr):
    assert not shaping_supported(sr)
    with pytest.raises(ValueError, match="44100 and 48000 Hz only"):
        quantize_shaped(np.zeros((10, 2)), 16, dither_rng("x"), np.zeros((9, 2)), sr)
    with pytest.raises(ValueError, match="44100 and 48000 Hz only"):
        shaped_initial_state(2, sr)


def test_supported_rates():
    assert shaping_supported(44100) and shaping_supported(48000)


@pytest.mark.parametrize(
    "x,bits,state,match",
    [
        (np.zeros(10), 16, np.zeros((9, 2)), "frames, channels"),
        (np.zeros((10, 2)), 16, np.zeros((9, 1)), "state has shape"),
        (np.zeros((10, 2)), 1, np.zeros((9, 2)), "bits"),
        (np.full((10, 2), np.nan), 16, np.zeros((9, 2)), "NaN"),
    ],
)
def test_bad_arguments_are_refused(x, bits, state, match):
    with pytest.raises(ValueError, match=match):
        quantize_shaped(x, bits, dither_rng("x"), state, 44100)


def test_missing_numba_is_a_clear_error_not_a_slow_fallback(monkeypatch):
    import masterbuild.dsp

    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` fails
    monkeypatch.delitem(sys.modules, "masterbuild.dsp.quantize_kernels", raising=False)
    monkeypatch.delattr(masterbuild.dsp, "quantize_kernels", raising=False)
    noiseshape._kernels.cache_clear()
    with pytest.raises(ModuleNotFoundError, match="numba"):
        quantize_shaped(np.zeros((10, 2)), 16, dither_rng("x"), np.zeros((9, 2)), 44100)
