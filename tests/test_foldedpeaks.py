"""The folded polyphase evaluation against a direct float64 evaluation of every phase."""

from __future__ import annotations

import numpy as np
import pytest

from masterbuild.dsp import foldedpeaks, limiter, truepeak

BATCH = 64


def _direct(padded: np.ndarray, phases: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """max over channels and phases of |h_k . window| (float64), and sum |h_k| |window|."""
    windows = np.lib.stride_tricks.sliding_window_view(padded.astype(np.float64), 32, axis=1)
    windows = windows[:, :n]  # (channels, n, 32)
    y = np.abs(windows @ phases.T)  # (channels, n, F)
    magnitude = np.abs(windows) @ np.abs(phases.T)
    return y.max(axis=(0, 2)), magnitude.max(axis=(0, 2))


@pytest.mark.parametrize("factor", [8, 4, 2])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_folded_peaks_equal_every_phase_evaluated(factor: int, channels: int) -> None:
    rng = np.random.default_rng(factor * 10 + channels)
    n_batches, n = 5, 5 * BATCH - 17  # the last batch partial
    padded = np.zeros((channels, n_batches * BATCH + 31), dtype=np.float32)
    padded[:, : n + 31] = rng.uniform(-1.0, 1.0, (channels, n + 31))
    padded[:, 40:48] = 1.0  # a full-scale run: inter-sample overs
    phases = truepeak.kaiser_sinc_taps(factor).T  # (F, 32), row k - 1 = phase k
    folded = foldedpeaks.fold(phases)
    assert folded.even_t.shape == (factor // 2, 16)
    assert folded.odd_t.shape == (factor // 2 - 1, 16)
    out = np.full(n, -1.0)
    listed = np.array([0, 2, 4])  # batches 1 and 3 left alone
    foldedpeaks.batch_peaks(padded, listed, folded, BATCH, 1.0, out)
    expected, magnitude = _direct(padded, phases, n)
    for b in range(n_batches):
        got = out[b * BATCH : (b + 1) * BATCH]
        if b in listed:
            want = expected[b * BATCH : (b + 1) * BATCH]
            bound = magnitude[b * BATCH : (b + 1) * BATCH]
            # float32 folding and products: a few units of 2**-24 of sum |h x|
            assert np.all(np.abs(got - want) <= 24 * 2.0**-24 * bound)
        else:
            assert np.all(got == -1.0)
    # The overs are found: the full-scale run reads above full scale between samples.
    assert out[:BATCH].max() > 1.0


def test_scale_applies_in_float64_and_is_independent_of_the_other_batches() -> None:
    rng = np.random.default_rng(7)
    padded = rng.uniform(-1, 1, (2, 8 * BATCH + 31)).astype(np.float32)
    folded = foldedpeaks.fold(truepeak.kaiser_sinc_taps(8).T)
    alone, together = np.zeros(8 * BATCH), np.zeros(8 * BATCH)
    foldedpeaks.batch_peaks(padded, np.array([5]), folded, BATCH, 1.25, alone)
    foldedpeaks.batch_peaks(padded, np.arange(8), folded, BATCH, 1.25, together)
    np.testing.assert_array_equal(alone[5 * BATCH : 6 * BATCH], together[5 * BATCH : 6 * BATCH])
    unscaled = np.zeros(8 * BATCH)
    foldedpeaks.batch_peaks(padded, np.array([5]), folded, BATCH, 1.0, unscaled)
    np.testing.assert_array_equal(alone, unscaled * 1.25)


def test_fold_refuses_an_asymmetric_or_odd_interpolator() -> None:
    phases = truepeak.kaiser_sinc_taps(8).T.copy()
    phases[2, 3] += 1e-3  # no longer the mirror of phase 5
    with pytest.raises(ValueError, match="symmetric"):
        foldedpeaks.fold(phases)
    with pytest.raises(ValueError, match="symmetric"):
        foldedpeaks.fold(truepeak.kaiser_sinc_taps(3).T)
    no_identity = truepeak.kaiser_sinc_taps(8).T.copy()
    no_identity[-1] *= 0.5
    with pytest.raises(ValueError, match="symmetric"):
        foldedpeaks.fold(no_identity)


@pytest.mark.parametrize("sample_rate_hz", [44100, 96000, 192000])
def test_limiter_reads_at_least_the_meter(sample_rate_hz: int) -> None:
    # The limiter's interval peaks (scaled for the wide-band reading) are never below
    # what the meter reads from the same samples: the ceiling it holds is the meter's.
    rng = np.random.default_rng(sample_rate_hz)
    x = np.clip(rng.normal(0, 0.5, (20000, 2)), -1, 1).astype(np.float32)
    over = limiter.oversampler(sample_rate_hz)
    ext = np.concatenate([np.zeros((2, 31), np.float32), x.T], axis=1)
    q = limiter._interval_peaks(ext, over, 0.0)
    interp = truepeak.interpolator(truepeak.oversampling_factor(sample_rate_hz))
    meter_ext = np.concatenate([np.zeros((2, 31), np.float32), x.T], axis=1)
    meter = truepeak.peak_of_extended(meter_ext, interp, 0.0)
    assert q.max() >= meter
    assert q.max() <= meter * (1 + 2e-5)
