"""EBU Tech 3341 / Tech 3342 minimum-requirements cases, synthesised in code.

Case definitions and tolerances are from the specifications' own tables:

* EBU Tech 3341 (v4, November 2023; identical test table to v3, January 2016),
  "Table 1: Minimum requirements test signals", cases 1-23.  Signal levels are
  per-channel *peak* levels of a 1 kHz sine (dBFS), so a stereo sine at -23 dBFS
  reads -23 LUFS (the -0.691 of BS.1770 eq. 2 cancels the K-weighting gain at
  1 kHz).  Cases 7/8 are recorded programme and 11/14 are for live meters, 20-23
  need the EBU's band-limited burst files: those are not synthesised here.
* EBU Tech 3342 (2023), "Table 1: Minimum requirements test signals", cases 1-4
  (5/6 are the programme files of 3341 cases 7/8).

Both tables were read from the PDFs kept in the public repository
melchiorrecaruso/audiometer (references/tech3341.pdf, references/tech3342.pdf).
The ITU-R BS.1770-5 filter table is from references/R-REC-BS.1770-5-202311.pdf
of the same repository.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from masterbuild.dsp import truepeak
from masterbuild.dsp.kweighting import k_weighted_power
from masterbuild.dsp.loudness import (
    channel_weights,
    integrated_lufs_from_powers,
    k_weighting_sos,
    loudness_range_lu,
    measure,
    momentary_lufs,
    short_term_lufs,
    true_peak_dbtp,
)

FS_HZ = 48000
LOUDNESS_TOL_LU = 0.1  # Tech 3341 Table 1: M, S, I within +-0.1 LU
LRA_TOL_LU = 1.0  # Tech 3342 Table 1: LRA within +-1 LU


def tone(level_dbfs: float, duration_s: float, channels: int = 2, fs: int = FS_HZ) -> np.ndarray:
    """1 kHz sine at ``level_dbfs`` peak in every channel, ``(frames, channels)``."""
    t = np.arange(round(duration_s * fs)) / fs
    mono = 10.0 ** (level_dbfs / 20.0) * np.sin(2 * np.pi * 1000.0 * t)
    return np.repeat(mono[:, None], channels, axis=1)


def silence(duration_s: float, channels: int = 2, fs: int = FS_HZ) -> np.ndarray:
    return np.zeros((round(duration_s * fs), channels))


def sequence(*segments: tuple[float, float]) -> np.ndarray:
    """Concatenate (level_dbfs, duration_s) tone segments."""
    return np.concatenate([tone(level, dur) for level, dur in segments])


# --- Tech 3341 cases 1-6: integrated (and M/S maxima for 1-2) -----------------------


@pytest.mark.parametrize("level_dbfs", [-23.0, -33.0])
def test_3341_cases_1_2_steady_tone(level_dbfs: float) -> None:
    # Case 1: stereo 1 kHz at -23 dBFS, 20 s -> M, S, I = -23.0; case 2: the same at -33.
    result = measure(tone(level_dbfs, 20.0), FS_HZ)
    assert result.integrated_lufs == pytest.approx(level_dbfs, abs=LOUDNESS_TOL_LU)
    assert result.max_momentary_lufs == pytest.approx(level_dbfs, abs=LOUDNESS_TOL_LU)
    assert result.max_short_term_lufs == pytest.approx(level_dbfs, abs=LOUDNESS_TOL_LU)


@pytest.mark.parametrize(
    "segments",
    [
        # Case 3: 10 s at -36, 60 s at -23, 10 s at -36 -> I = -23.0 (relative gate).
        [(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)],
        # Case 4: 10 s -72, 10 s -36, 60 s -23, 10 s -36, 10 s -72 -> I = -23.0 (both gates).
        [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)],
        # Case 5: 20 s -26, 20.1 s -20, 20 s -26 -> I = -23.0 (the -26 parts pass the gate).
        [(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)],
    ],
    ids=["case3", "case4", "case5"],
)
def test_3341_cases_3_4_5_gating(segments: list[tuple[float, float]]) -> None:
    result = measure(sequence(*segments), FS_HZ)
    assert result.integrated_lufs == pytest.approx(-23.0, abs=LOUDNESS_TOL_LU)


def test_3341_case_6_five_channels() -> None:
    # Case 6: 5.0 sine 1 kHz 20 s: L, R at -28, C at -24, Ls, Rs at -30 dBFS -> I = -23.0
    # (needs the +1.5 dB surround weights of BS.1770 Table 3).
    levels = np.array([-28.0, -28.0, -24.0, -30.0, -30.0])
    x = tone(0.0, 20.0, channels=5) * 10.0 ** (levels / 20.0)
    assert measure(x, FS_HZ).integrated_lufs == pytest.approx(-23.0, abs=LOUDNESS_TOL_LU)
    # The same with an added silent LFE (6 channels, L R C LFE Ls Rs).
    x6 = np.insert(x, 3, 0.0, axis=1)
    assert measure(x6, FS_HZ).integrated_lufs == pytest.approx(-23.0, abs=LOUDNESS_TOL_LU)


def test_3341_case_6_fails_without_surround_weights() -> None:
    # Guard that the case above can fail: with unit weights it reads about -23.4 LUFS.
    levels = np.array([-28.0, -28.0, -24.0, -30.0, -30.0])
    x = tone(0.0, 20.0, channels=5) * 10.0 ** (levels / 20.0)
    as_if_unweighted = x * np.sqrt(1.0 / channel_weights(5))
    assert measure(as_if_unweighted, FS_HZ).integrated_lufs < -23.0 - LOUDNESS_TOL_LU


# --- Tech 3341 cases 9, 10, 12, 13: short-term and momentary ------------------------


def test_3341_case_9_short_term_constant() -> None:
    # Case 9: (1.34 s at -20, 1.66 s at -30) x 5 -> S = -23.0 +-0.1, constant after 3 s.
    x = sequence(*[(-20.0, 1.34), (-30.0, 1.66)] * 5)
    series = short_term_lufs(x, FS_HZ)  # windows ending at 3.0 s, 3.1 s, ..., 15.0 s
    assert series.size == 121
    np.testing.assert_allclose(series, -23.0, atol=LOUDNESS_TOL_LU)
    assert measure(x, FS_HZ).max_short_term_lufs == pytest.approx(-23.0, abs=LOUDNESS_TOL_LU)


@pytest.mark.parametrize("i", range(20))
def test_3341_case_10_max_short_term(i: int) -> None:
    # Case 10 (file-based meters): i * 0.15 s silence, 3 s at -23, 1 s silence, i = 0..19:
    # Max S = -23.0 +-0.1 for each file.
    x = np.concatenate([silence(i * 0.15), tone(-23.0, 3.0), silence(1.0)])
    assert measure(x, FS_HZ).max_short_term_lufs == pytest.approx(-23.0, abs=LOUDNESS_TOL_LU)


def test_3341_case_12_momentary_constant() -> None:
    # Case 12: (0.18 s at -20, 0.22 s at -30) x 25 -> M = -23.0 +-0.1, constant after 1 s.
    x = sequence(*[(-20.0, 0.18), (-30.0, 0.22)] * 25)
    series = momentary_lufs(x, FS_HZ)  # windows ending at 0.4 s, 0.5 s, ..., 10.0 s
    after_1s = series[6:]  # windows ending at >= 1.0 s
    assert after_1s.size == 91
    np.testing.assert_allclose(after_1s, -23.0, atol=LOUDNESS_TOL_LU)
    assert measure(x, FS_HZ).max_momentary_lufs == pytest.approx(-23.0, abs=LOUDNESS_TOL_LU)


@pytest.mark.parametrize("i", range(20))
def test_3341_case_13_max_momentary(i: int) -> None:
    # Case 13 (file-based meters): i * 20 ms silence, 400 ms at -23, 1 s silence:
    # Max M = -23.0 +-0.1 for each file.  A 100 ms momentary hop would read up to
    # 1 LU low here (a 400 ms burst starting at 20 ms); the meter uses a 10 ms hop.
    x = np.concatenate([silence(i * 0.02), tone(-23.0, 0.4), silence(1.0)])
    assert measure(x, FS_HZ).max_momentary_lufs == pytest.approx(-23.0, abs=LOUDNESS_TOL_LU)


# --- Tech 3341 cases 15-19: true peak ------------------------------------------------


def tapered_sine(freq_ratio: float, amplitude: float, phase_deg: float, fs: int) -> np.ndarray:
    """Stereo sine at ``fs * freq_ratio``, 1 s, with 10 ms raised-cosine fades (Table 1)."""
    n = fs
    t = np.arange(n)
    x = amplitude * np.sin(2 * np.pi * freq_ratio * t + np.deg2rad(phase_deg))
    n_fade = round(0.010 * fs)
    fade = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_fade) / n_fade)
    x[:n_fade] *= fade
    x[n - n_fade :] *= fade[::-1]
    return np.repeat(x[:, None], 2, axis=1)


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize(
    ("case", "freq_ratio", "amplitude", "phase_deg", "expected_dbtp"),
    [
        (15, 1 / 4, 0.50, 0.0, -6.0),  # fs/4, 0.5 FFS, 0 deg: peaks on samples
        (16, 1 / 4, 0.50, 45.0, -6.0),  # fs/4, 45 deg: samples at -9 dBFS, peak between
        (17, 1 / 6, 0.50, 60.0, -6.0),  # fs/6, 60 deg
        (18, 1 / 8, 0.50, 67.5, -6.0),  # fs/8, 67.5 deg
        (19, 1 / 4, 1.41, 45.0, 3.0),  # fs/4, 1.41 FFS, 45 deg: +3 dBTP from 0 dBFS samples
    ],
)
def test_3341_cases_15_to_19_true_peak(
    fs: int, case: int, freq_ratio: float, amplitude: float, phase_deg: float, expected_dbtp: float
) -> None:
    # Tolerance +0.2 / -0.4 dB (Tech 3341 Table 1).  The sample rate is not fixed by
    # the table ("fs/4 denotes 12 kHz for a sample-rate of 48 kHz, etc.").
    x = tapered_sine(freq_ratio, amplitude, phase_deg, fs)
    measured = measure(x, fs).true_peak_dbtp
    assert expected_dbtp - 0.4 <= measured <= expected_dbtp + 0.2, (case, measured)
    assert true_peak_dbtp(x, fs) == measured


def test_3341_case_16_sample_peak_under_reads() -> None:
    # The case is a real true-peak test: the sample peak is 3 dB low there.
    x = tapered_sine(1 / 4, 0.5, 45.0, FS_HZ)
    assert measure(x, FS_HZ).sample_peak_dbfs == pytest.approx(-9.03, abs=0.05)


@pytest.mark.parametrize("factor", [8, 4, 2])
def test_true_peak_interpolator_response(factor: int) -> None:
    # The figures documented in masterbuild.dsp.truepeak (BS.1770 Annex 2 leaves the
    # filter open): magnitude of the over-sampling filter, frequencies in units of
    # the input rate fs, measured on the float32 taps the meter runs.
    taps = truepeak.interpolator(factor).taps.astype(np.float64)  # (T, L), oldest first
    # Impulse response at the over-sampled rate: phase k of window position i.
    h = taps[::-1].ravel()  # index i_from_newest * L + k
    f, response = scipy.signal.freqz(h / factor, worN=1 << 16, fs=factor)
    mag_db = 20 * np.log10(np.abs(response))

    def at(freq: float) -> float:
        return float(np.interp(freq, f, mag_db))

    assert np.abs(mag_db[f <= 0.40]).max() < 0.001
    assert np.abs(mag_db[f <= 0.42]).max() < 0.02
    assert at(0.45) == pytest.approx(-0.38, abs=0.02)
    assert at(0.50) == pytest.approx(-6.02, abs=0.02)
    assert mag_db[f >= 0.55].max() < -27.0  # images of content up to 0.45 fs
    assert mag_db[f >= 0.60].max() < -90.0
    # Every phase has unit DC gain; the phase on the input samples is the identity.
    np.testing.assert_allclose(taps.sum(axis=0), 1.0, atol=1e-6)
    identity = np.zeros(truepeak.TAPS_PER_PHASE)
    identity[truepeak.TAPS_PER_PHASE // 2] = 1.0
    np.testing.assert_array_equal(taps[:, -1], identity)
    # Transition symmetric about fs/2: a tone and its image add up to the tone.
    _, image = scipy.signal.freqz(h / factor, worN=1.0 - f[f <= 0.5], fs=factor)
    np.testing.assert_allclose(np.abs(response[f <= 0.5]) + np.abs(image), 1.0, atol=1e-4)


@pytest.mark.parametrize("freq_ratio", [0.35, 0.40, 0.425, 0.45, 0.475])
@pytest.mark.parametrize("phase_deg", [0.0, 33.0])
def test_steady_top_octave_sines_read_their_peak(freq_ratio: float, phase_deg: float) -> None:
    # Beyond Tech 3341 (which stops at fs/4): sines up to 0.475 fs (20.9 kHz at 44.1 kHz)
    # read within 0.1 dB of their amplitude (passband droop + image, 8x grid).
    fs = 44100
    x = tapered_sine(freq_ratio, 0.5, phase_deg, fs)
    expected = 20 * np.log10(0.5)
    assert expected - 0.1 <= measure(x, fs).true_peak_dbtp <= expected + 0.01


# --- Tech 3342 cases 1-4: loudness range ----------------------------------------------


@pytest.mark.parametrize(
    ("levels_dbfs", "expected_lra_lu"),
    [
        ([-20.0, -30.0], 10.0),  # case 1
        ([-20.0, -15.0], 5.0),  # case 2
        ([-40.0, -20.0], 20.0),  # case 3
        ([-50.0, -35.0, -20.0, -35.0, -50.0], 15.0),  # case 4 (-50 is below the -20 LU gate)
    ],
    ids=["case1", "case2", "case3", "case4"],
)
def test_3342_cases_1_to_4(levels_dbfs: list[float], expected_lra_lu: float) -> None:
    # Stereo 1 kHz tones, 20 s per level, back to back.
    x = sequence(*[(level, 20.0) for level in levels_dbfs])
    assert measure(x, FS_HZ).lra_lu == pytest.approx(expected_lra_lu, abs=LRA_TOL_LU)


# --- Gating and LRA on synthetic block powers ------------------------------------------


def powers_at(lufs: float, count: int) -> np.ndarray:
    """``count`` block powers whose loudness (BS.1770 eq. 4) is ``lufs``."""
    return np.full(count, 10 ** ((lufs + 0.691) / 10))


def test_absolute_gate_keeps_near_silence_out_of_the_relative_threshold() -> None:
    # 2 s at -20, 20 s at -45, 600 s at -75 LUFS (below -70).  With the absolute gate
    # the relative threshold is about -40 LUFS and drops the -45 part: I = -20.  Without
    # it, the -75 blocks would pull the threshold to about -55 and I to about -30.
    powers = [powers_at(-20.0, 20), powers_at(-45.0, 200), powers_at(-75.0, 6000)]
    assert integrated_lufs_from_powers(powers) == pytest.approx(-20.0, abs=1e-9)


def test_relative_gate_is_10_lu_below_the_absolute_gated_loudness() -> None:
    # Equal numbers of blocks at -20 and at -29 LUFS: the absolute-gated loudness is
    # -22.5, the gate -32.5, both kept.  At -20 and -35: gate -32.9, the -35 dropped.
    kept = integrated_lufs_from_powers([powers_at(-20.0, 50), powers_at(-29.0, 50)])
    assert kept == pytest.approx(10 * np.log10((10**-2 + 10**-2.9) / 2), abs=1e-9)
    dropped = integrated_lufs_from_powers([powers_at(-20.0, 50), powers_at(-35.0, 50)])
    assert dropped == pytest.approx(-20.0, abs=1e-9)


def lra_matlab_reference(short_term_lufs_values: np.ndarray) -> float:
    """Tech 3342 section 5 MATLAB function, transcribed line by line."""
    stl = np.asarray(short_term_lufs_values, dtype=float)
    stl_absgated = stl[stl >= -70]
    stl_integrated = 10 * np.log10(np.sum(10 ** (stl_absgated / 10)) / stl_absgated.size)
    stl_relgated = np.sort(stl_absgated[stl_absgated >= stl_integrated - 20])
    n = stl_relgated.size

    def matlab_round(v: float) -> int:
        return int(np.floor(v + 0.5))

    low = stl_relgated[matlab_round((n - 1) * 10 / 100 + 1) - 1]
    high = stl_relgated[matlab_round((n - 1) * 95 / 100 + 1) - 1]
    return float(high - low)


@pytest.mark.parametrize("seed", range(5))
def test_lra_matches_tech_3342_reference_implementation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = np.concatenate([rng.normal(-23, 4, 400), rng.normal(-45, 3, 60), np.full(30, -90.0)])
    powers = 10 ** ((levels + 0.691) / 10)
    assert loudness_range_lu(powers) == pytest.approx(lra_matlab_reference(levels), abs=1e-9)


# --- Edge cases ---------------------------------------------------------------------


def test_silence_reads_minus_infinity() -> None:
    result = measure(silence(5.0), FS_HZ)
    assert result.integrated_lufs == -np.inf
    assert result.true_peak_dbtp == -np.inf
    assert result.sample_peak_dbfs == -np.inf
    assert result.max_momentary_lufs == -np.inf
    assert result.max_short_term_lufs == -np.inf
    assert result.lra_lu == 0.0
    assert result.duration_s == pytest.approx(5.0)
    assert result.block_powers.shape == (47,)
    assert not result.block_powers.any()


def test_100_ms_signal_does_not_crash() -> None:
    result = measure(tone(-20.0, 0.1), FS_HZ)
    assert result.integrated_lufs == -np.inf  # no complete 400 ms gating block
    assert result.max_momentary_lufs == -np.inf
    assert result.max_short_term_lufs == -np.inf
    assert result.lra_lu == 0.0
    assert result.block_powers.size == 0
    assert result.sample_peak_dbfs == pytest.approx(-20.0, abs=0.01)
    assert result.true_peak_dbtp == pytest.approx(-20.0, abs=0.1)
    assert result.duration_s == pytest.approx(0.1)


@pytest.mark.parametrize("shape", [(0, 2), (0, 1), (0,), (1, 2), (17, 6)])
def test_tiny_inputs_do_not_crash(shape: tuple[int, ...]) -> None:
    result = measure(np.full(shape, 0.25), FS_HZ)
    assert result.integrated_lufs == -np.inf
    assert result.block_powers.size == 0
    assert result.duration_s == pytest.approx(shape[0] / FS_HZ)


def test_nan_input_is_rejected() -> None:
    x = tone(-20.0, 1.0)
    x[1000, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        measure(x, FS_HZ)


def test_997_hz_sine_at_44k1_matches_analytic_value() -> None:
    # Stereo 997 Hz sine at -20 dBFS peak.  Mean square per channel = A^2 / 2; BS.1770
    # eq. (2) sums the channels: L = -0.691 + 10 log10(2 * |H(997)|^2 * A^2 / 2), with
    # |H| the K-weighting gain at 997 Hz (about +0.69 dB, which the -0.691 cancels), so
    # L = -20.0 LUFS.  (Reading the -20 dBFS as an RMS level would give -17.0 instead.)
    fs = 44100
    amplitude = 0.1
    _, h = scipy.signal.sosfreqz(k_weighting_sos(fs), worN=[997.0], fs=fs)
    analytic = -0.691 + 10 * np.log10(2 * abs(h[0]) ** 2 * amplitude**2 / 2)
    t = np.arange(10 * fs) / fs
    x = np.repeat((amplitude * np.sin(2 * np.pi * 997.0 * t))[:, None], 2, axis=1)
    result = measure(x, fs)
    assert result.integrated_lufs == pytest.approx(analytic, abs=0.005)
    assert result.integrated_lufs == pytest.approx(-20.0, abs=0.01)
    assert result.max_momentary_lufs == pytest.approx(analytic, abs=0.01)


# --- K-weighting filter ---------------------------------------------------------------


def test_k_weighting_at_48k_equals_bs1770_tables() -> None:
    # ITU-R BS.1770-5 Annex 1, Table 1 (pre-filter) and Table 2 (RLB high-pass).
    expected = np.array(
        [
            [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0,
             -1.69065929318241, 0.73248077421585],
            [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
        ]
    )  # fmt: skip
    np.testing.assert_allclose(k_weighting_sos(48000), expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("fs", [44100, 96000, 192000])
def test_k_weighting_response_matches_48k_at_other_rates(fs: int) -> None:
    freqs = np.array([100.0, 1000.0, 10000.0])
    _, h48 = scipy.signal.sosfreqz(k_weighting_sos(48000), worN=freqs, fs=48000)
    _, h = scipy.signal.sosfreqz(k_weighting_sos(fs), worN=freqs, fs=fs)
    np.testing.assert_allclose(20 * np.log10(abs(h)), 20 * np.log10(abs(h48)), atol=0.01)
    # Not vacuous: the 48 kHz coefficients used at 192 kHz are far off at 100 Hz.
    _, wrong = scipy.signal.sosfreqz(k_weighting_sos(48000), worN=freqs, fs=192000)
    assert abs(20 * np.log10(abs(wrong[0]) / abs(h48[0]))) > 1.0


def test_channel_weights() -> None:
    np.testing.assert_array_equal(channel_weights(1), [1.0])
    np.testing.assert_array_equal(channel_weights(2), [1.0, 1.0])
    np.testing.assert_array_equal(channel_weights(5), [1.0, 1.0, 1.0, 1.41, 1.41])
    np.testing.assert_array_equal(channel_weights(6), [1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    np.testing.assert_array_equal(channel_weights(4), [1.0] * 4)


@pytest.mark.parametrize(("fs", "channels"), [(44100, 2), (96000, 1), (48000, 5)])
def test_k_weighted_power_is_sosfilt_and_einsum_bit_for_bit(fs: int, channels: int) -> None:
    # The meter's one-pass kernel replaces scipy's sosfilt + einsum; the readings must
    # not move by one bit, and the filter state must carry across calls the same way.
    rng = np.random.default_rng(fs + channels)
    x = rng.standard_normal((3000, channels)) * 0.3
    sos, weights = k_weighting_sos(fs), channel_weights(channels)
    zi = np.zeros((sos.shape[0], channels, 2))
    y, zi_ref = scipy.signal.sosfilt(sos, x.T, axis=-1, zi=zi)
    expected = np.einsum("ij,ij,i->j", y, y, weights)
    first, state, peak = k_weighted_power(x[:1234], sos, zi, weights)
    rest, state, peak_rest = k_weighted_power(x[1234:], sos, state, weights)
    np.testing.assert_array_equal(np.concatenate([first, rest]), expected)
    np.testing.assert_array_equal(state, zi_ref)
    assert max(peak, peak_rest) == np.abs(x).max()
    assert np.array_equal(zi, np.zeros_like(zi))  # the caller's state is not modified


def test_k_weighted_power_flags_non_finite_input_and_reads_empty_as_zero() -> None:
    sos, weights = k_weighting_sos(48000), channel_weights(2)
    zi = np.zeros((sos.shape[0], 2, 2))
    x = np.full((10, 2), 0.5)
    x[7, 0] = np.inf
    assert np.isnan(k_weighted_power(x, sos, zi, weights)[2])
    power, _, peak = k_weighted_power(np.zeros((0, 2)), sos, zi, weights)
    assert power.size == 0 and peak == 0.0
