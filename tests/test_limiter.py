"""The lookahead true-peak limiter: no over, measured by two meters; streaming; behaviour.

Every worst case is driven 6 and 12 dB into the limiter (its true peak, read by our
meter, set to ceiling + drive) at 44.1 and 48 kHz with ceilings -1.0 and -0.3 dBTP.
The output's true peak is read by our BS.1770 meter (``true_peak_dbtp`` and
``measure``; tolerance +0.0 dB) and by FFmpeg's ebur128 filter on a float32 WAV
(tolerance +0.1 dB: FFmpeg resamples to 192 kHz with its own filter and prints one
decimal), as written and followed by 100 ms of silence (FFmpeg leaves the last samples
of a file unread).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from masterbuild.demo import synthesize
from masterbuild.dsp import limiter
from masterbuild.dsp.chain import run_chain
from masterbuild.dsp.limiter import (
    CHUNK_FRAMES,
    MARGIN_DB,
    compile_limiter,
    limit,
    limiter_config,
    limiter_gain_db,
)
from masterbuild.dsp.loudness import measure, true_peak_dbtp

FFMPEG = shutil.which("ffmpeg")
OURS_TOL_DB = 0.0  # our meter: never above the ceiling
FFMPEG_TOL_DB = 0.1  # ffmpeg: its own 192 kHz interpolator, one printed decimal
DURATION_S = 0.25
CEILINGS = (-1.0, -0.3)
RATES = (44100, 48000)
DRIVES_DB = (6.0, 12.0)


# --- worst cases ---------------------------------------------------------------------


def _t(fs: int, seconds: float = DURATION_S) -> np.ndarray:
    return np.arange(round(seconds * fs)) / fs


def _stereo(left: np.ndarray, right: np.ndarray | None = None) -> np.ndarray:
    return np.stack([left, left if right is None else right], axis=1)


def square(freq_hz: float) -> Callable[[int], np.ndarray]:
    def make(fs: int) -> np.ndarray:
        s = np.sign(np.sin(2 * np.pi * freq_hz * _t(fs) + 0.01))
        return _stereo(s, np.roll(s, 3))

    return make


def clipped_noise(fs: int) -> np.ndarray:
    """Gaussian noise hard-clipped at full scale (a crushed master: flat tops everywhere)."""
    rng = np.random.default_rng(11)
    return np.clip(rng.standard_normal((len(_t(fs)), 2)) * 0.7, -1.0, 1.0)


def clipped_music(fs: int) -> np.ndarray:
    """Tones and noisy drum hits pushed 12 dB into a hard clip."""
    rng = np.random.default_rng(12)
    t = _t(fs)
    tones = sum(np.sin(2 * np.pi * f * t + p) for f, p in ((110, 0), (277, 1), (3520, 2)))
    hits = np.zeros_like(t)
    for start in (0.0, 0.06, 0.12, 0.18):
        i = round(start * fs)
        n = round(0.04 * fs)
        hits[i : i + n] += rng.standard_normal(len(hits[i : i + n])) * np.exp(
            -np.arange(n) / (0.01 * fs)
        )
    mix = tones / 3 + hits
    mix *= 4.0 / np.abs(mix).max()
    return _stereo(np.clip(mix, -1, 1), np.clip(np.roll(mix, 5), -1, 1))


def quarter_rate_sine(fs: int) -> np.ndarray:
    """fs/4 at 45 degrees: every sample at 0.707 of the true peak (a +3 dB inter-sample over)."""
    s = np.sin(2 * np.pi * (fs / 4) * _t(fs) + np.pi / 4)
    return _stereo(s)


def sine_11025(fs: int) -> np.ndarray:
    """11025 Hz (fs/4 at 44.1 kHz, with a phase off the samples)."""
    return _stereo(np.sin(2 * np.pi * 11025 * _t(fs) + 0.3))


def click_first(fs: int) -> np.ndarray:
    x = np.zeros((len(_t(fs)), 2))
    x[0] = (1.0, -0.8)
    return x


def click_last(fs: int) -> np.ndarray:
    x = np.zeros((len(_t(fs)), 2))
    x[-1] = (-1.0, 0.7)
    return x


def noise_bursts(fs: int) -> np.ndarray:
    """Three 20 ms noise bursts at different levels over a quiet bed."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((len(_t(fs)), 2)) * 0.003
    for start, level in ((0.02, 1.0), (0.09, 0.5), (0.16, 0.8)):
        i, n = round(start * fs), round(0.02 * fs)
        x[i : i + n] += rng.standard_normal((n, 2)) * level
    return x


def impulses(fs: int) -> np.ndarray:
    """Single-sample impulses, same-sign and opposite-sign pairs (inter-sample overs)."""
    x = np.zeros((len(_t(fs)), 2))
    pairs = [(1, 0), (1, 1), (1, -1), (-1, -1)]
    for k, i in enumerate(range(500, len(x) - 10, 1500)):
        first, second = pairs[k % len(pairs)]
        x[i, 0], x[i + 1, 0] = first, second
        x[i + 3, 1] = first
    return x


def dc_steps(fs: int) -> np.ndarray:
    """Abrupt DC steps (band-limited, they overshoot by the Gibbs ~9 %)."""
    levels = np.repeat([0.0, 1.0, -1.0, 0.5, -0.2, 1.0, 0.0], len(_t(fs)) // 7 + 1)[: len(_t(fs))]
    return _stereo(levels, np.roll(levels, 7))


WORST_CASES: dict[str, Callable[[int], np.ndarray]] = {
    "square100": square(100),
    "square1k": square(1000),
    "square5k": square(5000),
    "clipped_noise": clipped_noise,
    "clipped_music": clipped_music,
    "fs/4_45deg": quarter_rate_sine,
    "sine11025": sine_11025,
    "click_first": click_first,
    "click_last": click_last,
    "noise_bursts": noise_bursts,
    "impulses": impulses,
    "dc_steps": dc_steps,
}


def drive(x: np.ndarray, fs: int, true_peak_dbtp_target: float) -> np.ndarray:
    """Scale ``x`` so that our meter reads ``true_peak_dbtp_target``."""
    return x * 10 ** ((true_peak_dbtp_target - true_peak_dbtp(x, fs)) / 20)


# --- meters ---------------------------------------------------------------------------


def ffmpeg_true_peak(y: np.ndarray, fs: int, path: Path) -> float:
    """True peak (dBTP) of ``y`` written as float32 WAV, read by ffmpeg's ebur128."""
    sf.write(path, y, fs, subtype="FLOAT")
    run = subprocess.run(
        [FFMPEG, "-nostats", "-hide_banner", "-nostdin", "-i", str(path),
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    summary = run.stderr[run.stderr.rindex("Summary:") :]
    match = re.search(r"True peak:\s*\n\s*Peak:\s+(-?[\d.]+|-inf)", summary)
    assert match, f"no true peak in ffmpeg summary:\n{summary}"
    return float(match.group(1))


def assert_no_over(y: np.ndarray, fs: int, ceiling: float, path: Path) -> None:
    ours = true_peak_dbtp(y, fs)
    assert ours <= ceiling + OURS_TOL_DB, f"our meter: {ours:.4f} dBTP > {ceiling}"
    assert measure(y, fs).true_peak_dbtp <= ceiling + OURS_TOL_DB
    if FFMPEG is not None:
        theirs = ffmpeg_true_peak(y, fs, path)
        assert theirs <= ceiling + FFMPEG_TOL_DB, f"ffmpeg: {theirs} dBTP > {ceiling}"
        # FFmpeg 5's ebur128 never flushes its resampler: the last ~16 samples go unread
        # (a click on the last sample reads -86 dBTP).  With 100 ms of silence after
        # the signal, as a player would follow it, the end is read too.
        padded = np.concatenate([y, np.zeros((fs // 10, y.shape[1]))])
        theirs = ffmpeg_true_peak(padded, fs, path)
        assert theirs <= ceiling + FFMPEG_TOL_DB, f"ffmpeg, padded: {theirs} dBTP > {ceiling}"


# --- never an over ---------------------------------------------------------------------


@pytest.mark.parametrize("ceiling", CEILINGS)
@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("case", list(WORST_CASES))
def test_worst_cases_never_exceed_the_ceiling(case: str, fs: int, ceiling: float, tmp_path):
    raw = WORST_CASES[case](fs)
    for drive_db in DRIVES_DB:
        x = drive(raw, fs, ceiling + drive_db)
        y = limit(x, fs, ceiling)
        assert y.shape == x.shape
        assert_no_over(y, fs, ceiling, tmp_path / f"{drive_db}.wav")
        # ... and it limits, it does not mute: the peaks end up just under the ceiling.
        assert true_peak_dbtp(y, fs) >= ceiling - MARGIN_DB - 0.6


@pytest.mark.parametrize("ceiling", CEILINGS)
@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("freq_hz", [100, 1000, 5000])
@pytest.mark.parametrize("amplitude", [1.0, 2.0], ids=["0dBFS", "+6dBFS"])
def test_square_waves_at_full_scale_and_plus_6(freq_hz, amplitude, fs, ceiling, tmp_path):
    x = square(freq_hz)(fs) * amplitude
    assert_no_over(limit(x, fs, ceiling), fs, ceiling, tmp_path / "sq.wav")


@pytest.fixture(scope="module")
def ember_48k() -> np.ndarray:
    return synthesize("ember", 48000) * 10 ** (8 / 20)


@pytest.mark.parametrize("ceiling", CEILINGS)
def test_long_musical_signal_8db_up(ember_48k: np.ndarray, ceiling: float, tmp_path):
    fs = 48000
    assert true_peak_dbtp(ember_48k, fs) > ceiling + 6.0
    y = limit(ember_48k, fs, ceiling)
    assert_no_over(y, fs, ceiling, tmp_path / "ember.wav")
    # Limiting costs peaks, not loudness: the integrated level drops by a few dB at most.
    loss = measure(ember_48k, fs).integrated_lufs - measure(y, fs).integrated_lufs
    assert 0.0 < loss < 4.0


@pytest.mark.parametrize("fs", [88200, 96000, 192000])
def test_high_rates_never_exceed_the_ceiling(fs: int, tmp_path):
    x = drive(clipped_music(fs), fs, -1.0 + 9.0)
    assert_no_over(limit(x, fs, -1.0), fs, -1.0, tmp_path / "hi.wav")


# --- transparency and alignment ---------------------------------------------------------


def quiet_program(fs: int, seconds: float = 1.0, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(3)
    x = scipy.signal.lfilter(
        [1.0], [1.0, -0.9], rng.standard_normal((round(seconds * fs), channels)), axis=0
    )
    return x / np.abs(x).max() * 0.5  # true peak well under -1.1 dBTP


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("fs", [44100, 96000])
def test_transparent_below_the_threshold(fs: int, channels: int):
    x = quiet_program(fs, channels=channels)
    assert true_peak_dbtp(x, fs) < -1.0 - MARGIN_DB - 0.5
    y = limit(x, fs, -1.0)
    assert y.shape == x.shape
    assert np.array_equal(y, x)  # delayed inside, re-aligned: bit for bit
    assert not limiter_gain_db(x, fs, -1.0).any()


def test_just_under_the_threshold_is_untouched():
    fs = 48000
    x = drive(quiet_program(fs), fs, -1.0 - MARGIN_DB - 0.01)
    assert np.array_equal(limit(x, fs, -1.0), x)


def blocks_of(x: np.ndarray, sizes: list[int]) -> Iterator[np.ndarray]:
    start, k = 0, 0
    while start < len(x):
        n = sizes[k % len(sizes)]
        yield x[start : start + n]
        start += n
        k += 1


def stream(
    x: np.ndarray, fs: int, sizes: list[int], **stage
) -> tuple[list[np.ndarray], np.ndarray]:
    """Step outputs of each block and the flushed tail."""
    compiled = compile_limiter({"kind": "limiter", **stage}, fs)
    state = compiled.initial_state(x.shape[1])
    outs = []
    for block in blocks_of(x, sizes):
        y, state = compiled.step(block, state)
        outs.append(y)
    return outs, compiled.flush(state)


def test_output_is_aligned_with_input_and_has_its_length():
    fs = 48000
    x = quiet_program(fs, 0.5)
    outs, tail = stream(x, fs, [4096], ceiling_dbtp=-1.0)
    cfg = limiter_config(fs, -1.0)
    # The first step withholds the lookahead (D frames); the flush hands them back.
    assert outs[0].shape == (4096 - cfg.delay, 2)
    assert tail.shape == (cfg.delay, 2)
    assert np.array_equal(np.concatenate([*outs, tail]), x)
    # A loud click stays where it was.
    loud = x.copy()
    loud[12345] = 4.0
    y = limit(loud, fs, -1.0)
    assert y.shape == loud.shape
    assert int(np.argmax(np.abs(y[:, 0]))) == 12345


def test_gain_reduction_is_the_gain_applied():
    fs = 44100
    x = drive(clipped_music(fs), fs, 8.0)
    s = limiter_gain_db(x, fs, -1.0)
    assert s.shape == (len(x),) and s.min() >= 0.0 and s.max() > 8.0
    np.testing.assert_allclose(limit(x, fs, -1.0), x * 10 ** (-s / 20)[:, None], rtol=1e-13, atol=0)


def test_signal_shorter_than_the_lookahead():
    fs = 44100
    x = np.zeros((5, 2))
    x[2] = 3.0
    outs, tail = stream(x, fs, [1], ceiling_dbtp=-1.0)
    assert all(len(o) == 0 for o in outs)
    assert tail.shape == x.shape
    assert true_peak_dbtp(tail, fs) <= -1.0
    assert np.array_equal(tail, limit(x, fs, -1.0))


def test_mono_1d_input_gives_1d_output():
    x = np.sin(np.arange(4800) * 0.3) * 3.0
    y = limit(x, 48000, -1.0)
    assert y.shape == x.shape and true_peak_dbtp(y, 48000) <= -1.0


# --- streaming: any block sizes, same result ---------------------------------------------


@pytest.fixture(scope="module")
def long_program() -> np.ndarray:
    """3 s at 44.1 kHz (crosses two CHUNK_FRAMES boundaries), loud and quiet parts."""
    fs = 44100
    x = clipped_music(fs)
    x = np.concatenate([x * 3.0, quiet_program(fs, 0.5), np.tile(x, (12, 1)) * 2.0])[: 3 * fs]
    assert len(x) > 2 * CHUNK_FRAMES
    return x


@pytest.mark.parametrize(
    "sizes",
    [
        [65536],
        [7] * 50 + [20000],
        [0, 1, 0, 7, 65536],
        [CHUNK_FRAMES - 1, 1, 1, 3, CHUNK_FRAMES + 5],
        [12345, 100_000],
        [1_000_000],
    ],
    ids=str,
)
def test_blocks_of_any_size_give_the_one_shot_result(long_program: np.ndarray, sizes: list[int]):
    fs = 44100
    one_shot = limit(long_program, fs, -1.0)
    outs, tail = stream(long_program, fs, sizes, ceiling_dbtp=-1.0)
    y = np.concatenate([*outs, tail])
    assert y.shape == long_program.shape
    np.testing.assert_allclose(y, one_shot, rtol=0, atol=1e-12)


def test_one_frame_blocks_across_an_internal_chunk_boundary(long_program: np.ndarray):
    fs = 44100
    x = long_program[: CHUNK_FRAMES + 400]
    sizes = [CHUNK_FRAMES - 300] + [1] * 700
    outs, tail = stream(x, fs, sizes, ceiling_dbtp=-0.3, release_ms=20.0)
    y = np.concatenate([*outs, tail])
    np.testing.assert_allclose(y, limit(x, fs, -0.3, release_ms=20.0), rtol=0, atol=1e-12)


def test_run_chain_stage_equals_limit(long_program: np.ndarray):
    fs = 44100
    stage = {"kind": "limiter", "ceiling_dbtp": -1.0, "lookahead_ms": 2.0, "release_ms": 80}
    y = np.concatenate(list(run_chain(blocks_of(long_program, [4096]), [stage], fs, 2)))
    np.testing.assert_allclose(y, limit(long_program, fs, -1.0), rtol=0, atol=1e-12)
    # Defaults of the manifest model: ceiling -1.0 dBTP, 2 ms, 80 ms.
    y2 = np.concatenate(
        list(run_chain(blocks_of(long_program, [4096]), [{"kind": "limiter"}], fs, 2))
    )
    np.testing.assert_array_equal(y2, y)


def test_rejects_non_finite_input():
    compiled = compile_limiter({"kind": "limiter"}, 48000)
    with pytest.raises(ValueError, match="NaN"):
        compiled.step(np.array([[0.0, np.nan]]), compiled.initial_state(2))
    with pytest.raises(ValueError, match="shape"):
        compiled.step(np.zeros((4, 3)), compiled.initial_state(2))


# --- behaviour: pumping, recovery, smoothness -------------------------------------------


@pytest.mark.parametrize("freq_hz", [100, 1000])
def test_no_pumping_on_a_steady_sine_6db_over(freq_hz: int):
    fs = 48000
    t = _t(fs, 2.0)
    x = _stereo(np.sin(2 * np.pi * freq_hz * t)) * 10 ** ((-1.0 + 6.0) / 20)
    s = limiter_gain_db(x, fs, -1.0)
    steady = slice(round(0.3 * fs), round(1.9 * fs))  # after the attack, before the end
    assert s[steady].std() < 0.05
    assert s[steady].mean() == pytest.approx(6.0 + MARGIN_DB, abs=0.1)
    # The output level is steady: 50 ms RMS varies by less than 0.05 dB.
    y = limit(x, fs, -1.0)[steady, 0]
    w = round(0.05 * fs)
    rms_db = 10 * np.log10((y[: len(y) // w * w].reshape(-1, w) ** 2).mean(axis=1))
    assert rms_db.max() - rms_db.min() < 0.05


def test_fast_recovery_after_an_isolated_click():
    fs, release_ms = 48000, 80.0
    x = quiet_program(fs, 2.5) * 0.1
    i = fs // 4
    x[i] = 10 ** ((-1.0 + 12.0) / 20)
    s = limiter_gain_db(x, fs, -1.0, release_ms=release_ms)
    assert s[i] == pytest.approx(12.0 + MARGIN_DB, abs=0.05)
    later = i + round(3 * release_ms * fs / 1000)
    assert s[later] < 1.0  # back within 1 dB of unity after 3 release times
    # The release ends: the gain returns to exactly 1 and the output to the input, bit for bit.
    end = i + round(2.1 * fs)
    assert not s[end:].any()
    assert np.array_equal(limit(x, fs, -1.0, release_ms=release_ms)[end:], x[end:])


def test_sustained_limiting_releases_slowly_transient_on_top_quickly():
    fs = 48000
    t = _t(fs, 1.5)
    bed = np.sin(2 * np.pi * 80 * t) * 10 ** ((-1.0 + 4.0) / 20)  # 4 dB over, sustained
    bed[round(1.0 * fs) :] *= 0.1  # ... until 1.0 s
    x = _stereo(bed)
    x[round(0.6 * fs)] = 10 ** ((-1.0 + 12.0) / 20)  # a click on top
    s = limiter_gain_db(x, fs, -1.0)
    after_click = s[round(0.6 * fs) + round(0.24 * fs)]
    assert after_click == pytest.approx(4.0 + MARGIN_DB, abs=0.5)  # back to the sustained level
    # After the sustained passage the release is the slow one (no jump back up).
    assert s[round(1.0 * fs) + round(0.24 * fs)] > 2.0


@pytest.mark.parametrize("case", ["click_first", "impulses", "noise_bursts", "clipped_music"])
def test_gain_never_steps(case: str):
    fs = 48000
    x = drive(WORST_CASES[case](fs), fs, -1.0 + 12.0)
    s = limiter_gain_db(x, fs, -1.0)
    cfg = limiter_config(fs, -1.0)
    # Attack = two moving averages over the lookahead: at most max(s) / L1 per sample.
    assert np.abs(np.diff(s)).max() <= s.max() / cfg.box1 + 1e-6
    assert np.abs(np.diff(s, 2)).max() <= 2 * s.max() / (cfg.box1 * cfg.box2) + 1e-6


@pytest.mark.parametrize("box", [1, 2, 48, 3840])
def test_box_means_are_exact_rounded_up_integer_means(box: int) -> None:
    # The attack smoothing's moving averages: float64 estimate, integer correction.
    # Values up to 2**41 (300 dB on the 2**-32 dB grid), so sums approach 2**53.
    rng = np.random.default_rng(box)
    values = rng.integers(0, 2**41, size=3 * box + 100, dtype=np.int64)
    values[rng.random(values.size) < 0.3] = 0
    values[50:60] = 2**41  # exact multiples of the box too
    tail, new = values[: box - 1], values[box - 1 :]
    means, new_tail = limiter._box_means(tail, new, box)
    expected = [-(-int(values[i : i + box].sum()) // box) for i in range(new.size)]
    assert means.tolist() == expected
    np.testing.assert_array_equal(new_tail, values[values.size - (box - 1) :])
