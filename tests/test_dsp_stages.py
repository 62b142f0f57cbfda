"""DSP stages against analytic oracles: fades, biquads, Butterworth, width, dither, SRC."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from masterbuild.dsp.chain import from_mid_side, run_chain, to_mid_side
from masterbuild.dsp.dither import dither_rng, quantize
from masterbuild.dsp.fades import fade_curve, fade_gains
from masterbuild.dsp.filters import butterworth_sos, rbj_biquad, sos_response_db
from masterbuild.dsp.resample import resample_blocks

RATES = (44100, 48000, 88200, 96000, 176400, 192000)


# --- fades --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,t,expected",
    [
        ("linear", 0.25, 0.25),
        ("log", 0.5, np.log10(5.5)),
        ("cosine", 0.5, np.sqrt(0.5)),  # equal power at the midpoint
        ("scurve", 0.25, 0.5 - 0.5 * np.cos(np.pi / 4)),
        ("scurve", 0.5, 0.5),
    ],
)
def test_fade_curve_exact_values(shape, t, expected):
    assert fade_curve(np.array([t]), shape)[0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("shape", ["linear", "log", "cosine", "scurve"])
def test_fade_endpoints_and_monotonic(shape):
    t = np.linspace(0, 1, 1001)
    g = fade_curve(t, shape)
    assert g[0] == pytest.approx(0, abs=1e-12) and g[-1] == pytest.approx(1, abs=1e-12)
    assert np.all(np.diff(g) >= 0)


def test_fade_gains_in_blocks_equal_one_shot():
    total, fin, fout = 10_000, 3000, 2500
    one = fade_gains(0, total, total, fin, fout, "cosine")
    parts = []
    for start in range(0, total, 777):
        n = min(777, total - start)
        g = fade_gains(start, n, total, fin, fout, "cosine")
        parts.append(np.ones(n) if g is None else g)
    assert np.array_equal(np.concatenate(parts), one)
    assert one[fin] == 1.0 and one[total - fout - 1] == 1.0
    assert one[-1] == pytest.approx(fade_curve(np.array([1 / fout]), "cosine")[0])


# --- biquads (RBJ cookbook) ---------------------------------------------------------


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("gain_db", [-12.0, -3.0, 4.5, 12.0])
def test_bell_peaks_at_its_gain_at_f0(sr, gain_db):
    sos = rbj_biquad("bell", 1000.0, 1.0, gain_db, sr)[None, :]
    assert sos_response_db(sos, [1000.0], sr)[0] == pytest.approx(gain_db, abs=1e-6)
    # far from f0 a bell is flat
    assert abs(sos_response_db(sos, [20.0], sr)[0]) < 0.05


@pytest.mark.parametrize("sr", RATES)
def test_shelves_reach_their_gain(sr):
    low = rbj_biquad("lowshelf", 200.0, 0.7071, 6.0, sr)[None, :]
    high = rbj_biquad("highshelf", 5000.0, 0.7071, -4.0, sr)[None, :]
    assert sos_response_db(low, [1.0], sr)[0] == pytest.approx(6.0, abs=1e-3)
    assert sos_response_db(low, [sr / 2 * 0.999], sr)[0] == pytest.approx(0.0, abs=0.01)
    # RBJ shelves are at half their gain (in dB) at f0
    assert sos_response_db(low, [200.0], sr)[0] == pytest.approx(3.0, abs=1e-6)
    assert sos_response_db(high, [5000.0], sr)[0] == pytest.approx(-2.0, abs=1e-6)
    assert sos_response_db(high, [1.0], sr)[0] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("sr", RATES)
def test_biquad_pass_and_notch(sr):
    q = 1 / np.sqrt(2)
    for kind in ("lowpass", "highpass"):
        sos = rbj_biquad(kind, 2000.0, q, 0.0, sr)[None, :]
        # a Q = 1/sqrt(2) RBJ low/highpass is -3.01 dB at f0
        assert sos_response_db(sos, [2000.0], sr)[0] == pytest.approx(-3.0103, abs=1e-3)
    notch = rbj_biquad("notch", 1000.0, 4.0, 0.0, sr)[None, :]
    assert sos_response_db(notch, [1000.0], sr)[0] < -100


@pytest.mark.parametrize("sr", RATES)
def test_biquads_stable_at_every_rate(sr):
    for kind in ("bell", "lowshelf", "highshelf", "lowpass", "highpass", "notch"):
        for f in (20.0, 100.0, 1000.0, 10000.0, 20000.0):
            for q in (0.1, 0.7071, 10.0):
                row = rbj_biquad(kind, f, q, 12.0, sr)
                poles = np.roots([1.0, row[4], row[5]])
                assert np.all(np.abs(poles) < 1.0), (kind, f, q, sr)


def test_biquad_rejects_frequency_above_nyquist():
    with pytest.raises(ValueError, match="Nyquist"):
        rbj_biquad("bell", 30000.0, 1.0, 3.0, 44100)


@pytest.mark.parametrize("slope,order", [(12, 2), (24, 4), (48, 8)])
def test_butterworth_cutoff_and_slope(slope, order):
    sr = 48000
    sos = butterworth_sos("highpass", 100.0, slope, sr)
    assert sos_response_db(sos, [100.0], sr)[0] == pytest.approx(-3.0103, abs=0.01)
    # |H| = 1 / sqrt(1 + (fc/f)^(2n)) for the analog prototype; bilinear warping is
    # negligible this far below Nyquist.
    f = 25.0
    analog = -10 * np.log10(1 + (100.0 / f) ** (2 * order))
    assert sos_response_db(sos, [f], sr)[0] == pytest.approx(analog, abs=0.05)


# --- chain, width ---------------------------------------------------------------------


def test_mid_side_round_trip_and_width():
    x = np.random.default_rng(0).standard_normal((1000, 2))
    assert np.allclose(from_mid_side(to_mid_side(x)), x, atol=1e-15)
    mono = np.concatenate(list(run_chain([x], [{"kind": "width", "width": 0.0}], 48000, 2)))
    assert np.allclose(mono[:, 0], mono[:, 1]) and np.allclose(mono[:, 0], x.mean(axis=1))
    same = np.concatenate(list(run_chain([x], [{"kind": "width", "width": 1.0}], 48000, 2)))
    assert np.allclose(same, x)


@pytest.mark.parametrize("block", [1, 100, 4096, 65536])
def test_chain_in_blocks_equals_one_shot(block):
    x = np.random.default_rng(1).standard_normal((20000, 2))
    stages = [
        {"kind": "dc"},
        {"kind": "highpass", "freq_hz": 30, "slope_db_oct": 24},
        {"kind": "eq", "bands": [{"type": "bell", "freq_hz": 2000, "gain_db": 3, "q": 2}]},
        {
            "kind": "eq",
            "mode": "ms",
            "bands": [{"type": "lowshelf", "freq_hz": 100, "gain_db": 2, "q": 0.7}],
            "side_bands": [{"type": "highpass", "freq_hz": 120, "q": 0.7}],
        },
        {"kind": "gain", "gain_db": -3},
        {"kind": "width", "width": 1.2},
    ]
    one = np.concatenate(list(run_chain([x], stages, 44100, 2)))
    parts = np.concatenate(
        list(run_chain((x[i : i + block] for i in range(0, len(x), block)), stages, 44100, 2))
    )
    assert np.allclose(one, parts, atol=1e-12)


def test_gain_stage_is_exact():
    x = np.ones((10, 2))
    y = np.concatenate(list(run_chain([x], [{"kind": "gain", "gain_db": -6.0}], 44100, 2)))
    assert np.allclose(y, 10 ** (-6 / 20))


# --- dither ---------------------------------------------------------------------------


def test_tpdf_error_is_signal_independent_with_quarter_lsb_power():
    n = 400_000
    x = 0.3 * np.sin(np.linspace(0, 2000 * np.pi, n))[:, None]
    codes, clipped = quantize(x, 16, "tpdf", dither_rng("a", "b"))
    err = codes[:, 0] / 2**15 * 2**15 - x[:, 0] * 2**15  # in LSB
    assert clipped == 0
    # TPDF (+-1 LSB) + rounding: total error power 1/12 + 2/12 = 1/4 LSB^2, mean 0
    assert err.var() == pytest.approx(0.25, rel=0.02)
    assert abs(err.mean()) < 0.01
    assert abs(np.corrcoef(err, x[:, 0])[0, 1]) < 0.01


def test_dither_is_reproducible_and_seed_dependent():
    x = np.zeros((1000, 2))
    a, _ = quantize(x, 16, "tpdf", dither_rng("cd", "dawn"))
    b, _ = quantize(x, 16, "tpdf", dither_rng("cd", "dawn"))
    c, _ = quantize(x, 16, "tpdf", dither_rng("cd", "tide"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(a)) <= {-1, 0, 1}


def test_no_dither_rounds_and_counts_clips():
    x = np.array([[0.5 / 2**15], [1.5], [-1.5], [-1.0]])
    codes, clipped = quantize(x, 16, "none", None)
    assert codes[:, 0].tolist() == [1, 32767, -32768, -32768]
    assert clipped == 2


# --- resampling -----------------------------------------------------------------------


@pytest.mark.parametrize("rates", [(44100, 48000), (48000, 44100), (96000, 44100), (44100, 96000)])
def test_streaming_src_equals_one_shot_and_keeps_level(rates):
    sr_in, sr_out = rates
    t = np.arange(sr_in) / sr_in
    x = np.stack([np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 5000 * t)], axis=1) * 0.5
    one = soxr.resample(x, sr_in, sr_out, quality="VHQ")
    parts = np.concatenate(
        list(resample_blocks((x[i : i + 1234] for i in range(0, len(x), 1234)), sr_in, sr_out, 2))
    )
    assert parts.shape == one.shape == (sr_out, 2)
    assert np.allclose(parts, one, atol=1e-12)
    mid = parts[sr_out // 4 : 3 * sr_out // 4]
    rms = np.sqrt((mid**2).mean(axis=0))
    assert np.allclose(rms, 0.5 / np.sqrt(2), rtol=1e-3)  # level kept within 0.01 dB


def test_dc_stage_removes_an_offset():
    sr = 48000
    t = np.arange(4 * sr) / sr
    x = np.stack([0.2 + 0.3 * np.sin(2 * np.pi * 100 * t)] * 2, axis=1)
    y = np.concatenate(list(run_chain([x], [{"kind": "dc", "freq_hz": 5.0}], sr, 2)))
    tail = y[2 * sr :]
    assert abs(tail.mean()) < 1e-4  # the offset is gone once the filter has settled
    # and the music passes: 100 Hz is 4+ octaves above the 5 Hz corner (-0.0 dB)
    assert np.sqrt((tail[:, 0] ** 2).mean()) == pytest.approx(0.3 / np.sqrt(2), rel=1e-3)
