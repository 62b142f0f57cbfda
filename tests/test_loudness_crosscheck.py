"""Cross-checks of the meter against libebur128 (pyebur128) and ffmpeg's ebur128 filter,
streaming vs one-shot equality, and album (multi-track) gating.

Material is generated in code (deterministic seeds): pink-ish noise with level
steps, a music-like mix of enveloped tones, mono, stereo, 5.1, at 44.1, 48 and
96 kHz, and a programme with long quiet parts that the gates must drop.  For true
peak alone, material with much of its energy in the top octave, where the
interpolation filter decides the reading: Gaussian noise clipped at full scale,
binary +-1 noise, 5 and 9 kHz square waves, and music driven 10 dB into a clip.

Known, expected differences that the tolerances absorb:

* libebur128 samples the short-term loudness for LRA once per second (Tech 3342
  asks for >= 10 Hz, as here) and forces the RLB numerator to [1, -2, 1] at
  every rate (about -0.02 LU at 96 kHz); it over-samples 4x (2x at 96 kHz) for
  true peak where this meter uses 8x (4x), with a 12-tap-per-phase filter that
  reads 0.2-1.9 dB low on top-octave material: there it is a lower bound only.
* ffmpeg's filter resamples everything to 48 kHz, over-samples to 192 kHz for
  true peak (a Kaiser-windowed sinc of 32 taps per phase, the design of our
  interpolator), and prints one decimal (so +-0.05 of rounding).  It reflects the
  signal about its first sample and never flushes its resampler, so the
  true-peak-only material is padded with 100 ms of silence at both ends.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyebur128
import pytest
import scipy.signal
import soundfile as sf

from masterbuild.dsp.loudness import (
    Loudness,
    integrated_lufs_from_powers,
    measure,
    measure_blocks,
    true_peak_dbtp,
)

INTEGRATED_TOL_LU = 0.1
TRUE_PEAK_TOL_DB = 0.2
LRA_TOL_LU = 1.0


# --- Material -------------------------------------------------------------------------


def pink(n: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Pink-ish noise (Kellet-style 1/f IIR on white noise), unit-ish RMS."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    y = scipy.signal.lfilter(b, a, rng.standard_normal((n + 4096, channels)), axis=0)[4096:]
    return y / np.sqrt(np.mean(y**2))


def steps_db(levels_db: list[float], segment_s: float, fs: int, ramp_s: float = 0.5) -> np.ndarray:
    """Gain curve (linear) holding each level for ``segment_s``, with linear dB ramps."""
    n = round(len(levels_db) * segment_s * fs)
    edges = np.arange(1, len(levels_db)) * segment_s
    times = np.concatenate(
        [[0.0], np.repeat(edges, 2) + np.tile([-ramp_s, ramp_s], edges.size) / 2]
    )
    times = np.concatenate([times, [len(levels_db) * segment_s]])
    values = np.repeat(np.asarray(levels_db, dtype=float), 2)
    return 10 ** (np.interp(np.arange(n) / fs, times, values) / 20)


def noise_with_level_steps(fs: int, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(11)
    gain = steps_db([-18, -10, -24, -14, -8, -20], 10.0, fs)
    return 0.2 * pink(gain.size, channels, rng) * gain[:, None]


def music_like(fs: int, channels: int = 2, duration_s: float = 20.0) -> np.ndarray:
    """A mix of harmonic tones with note envelopes, a little noise, slow dynamics."""
    rng = np.random.default_rng(12)
    n = round(duration_s * fs)
    t = np.arange(n) / fs
    out = np.zeros((n, channels))
    note_s = 0.5
    for voice, base_hz in enumerate([110.0, 220.0, 330.0, 660.0]):
        notes = base_hz * 2 ** (rng.integers(0, 12, size=int(duration_s / note_s) + 1) / 12)
        freq = np.repeat(notes, round(note_s * fs))[:n]
        phase = 2 * np.pi * np.cumsum(freq) / fs
        envelope = np.exp(-((t % note_s) / (0.15 + 0.1 * voice)))
        tone = sum(np.sin(k * phase) / k for k in range(1, 6)) * envelope
        pan = np.linspace(0.2, 0.8, channels) if channels > 1 else np.ones(1)
        out += 0.12 * tone[:, None] * (pan if voice % 2 else pan[::-1])
    swell = 10 ** ((8 * np.sin(2 * np.pi * t / duration_s)) / 20)
    out = out * swell[:, None] + 0.01 * pink(n, channels, rng)
    return out / np.abs(out).max() * 0.89


def with_quiet_parts(fs: int) -> np.ndarray:
    """Loud, very quiet (-45 dB, about -70 LUFS), digital silence, loud: both gates.

    The loud parts are long so that the 3 s windows straddling the edges stay a
    small share of the LRA distribution (they are sampled at 1 Hz by libebur128).
    """
    rng = np.random.default_rng(13)
    gain = np.concatenate(
        [
            steps_db([-12], 45.0, fs),
            steps_db([-57], 20.0, fs),
            np.zeros(5 * fs),
            steps_db([-14], 45.0, fs),
        ]
    )
    return 0.25 * pink(gain.size, 2, rng) * gain[:, None]


def surround_51(fs: int) -> np.ndarray:
    """L R C LFE Ls Rs with different material per channel (LFE is loud: weight 0)."""
    rng = np.random.default_rng(14)
    n = 20 * fs
    x = 0.1 * pink(n, 6, rng)
    x[:, 2] *= 2.0  # dialogue-heavy centre
    x[:, 3] = 0.5 * np.sin(2 * np.pi * 50 * np.arange(n) / fs)  # LFE rumble
    x[:, 4:] *= 0.6
    return x


def clipped_gaussian_noise(fs: int, duration_s: float = 2.0) -> np.ndarray:
    """Gaussian noise at 3x full-scale RMS hard-clipped at +-1 (flat tops everywhere)."""
    rng = np.random.default_rng(31)
    return np.clip(3.0 * rng.standard_normal((round(duration_s * fs), 2)), -1.0, 1.0)


def binary_noise(fs: int, duration_s: float = 2.0) -> np.ndarray:
    """Independent +-1 samples: white, every sample at full scale."""
    rng = np.random.default_rng(32)
    return rng.choice([-1.0, 1.0], size=(round(duration_s * fs), 2))


def square_wave(freq_hz: float) -> Callable[[int], np.ndarray]:
    """Full-scale square wave (not band-limited: aliased harmonics up to fs/2)."""

    def make(fs: int, duration_s: float = 2.0) -> np.ndarray:
        t = np.arange(round(duration_s * fs)) / fs
        s = np.sign(np.sin(2 * np.pi * freq_hz * t + 0.01))
        return np.stack([s, np.roll(s, 3)], axis=1)

    return make


def clipped_music(fs: int, duration_s: float = 2.0) -> np.ndarray:
    """Tones (bass to 3.5 kHz) and noisy kick-like drums every 250 ms, 10 dB into a clip."""
    rng = np.random.default_rng(33)
    n = round(duration_s * fs)
    t = np.arange(n) / fs
    partials = ((55.0, 0.0), (220.0, 1.0), (277.2, 2.0), (1760.0, 0.5), (3520.0, 2.5))
    tones = sum(np.sin(2 * np.pi * f * t + phase) for f, phase in partials) / 5
    drums = np.zeros(n)
    for start in range(0, n, round(0.25 * fs)):
        m = min(round(0.15 * fs), n - start)
        decay = np.exp(-np.arange(m) / (0.03 * fs))
        body = np.sin(2 * np.pi * 60.0 * np.arange(m) / fs)
        drums[start : start + m] += (0.6 * rng.standard_normal(m) + body) * decay
    mix = tones + drums
    mix *= 10 ** (10 / 20) / np.abs(mix).max()  # peak +10 dBFS before the clip
    return np.stack([np.clip(mix, -1, 1), np.clip(0.9 * np.roll(mix, 7), -1, 1)], axis=1)


TOP_OCTAVE: dict[str, Callable[[int], np.ndarray]] = {
    "clipped-noise": clipped_gaussian_noise,
    "binary-noise": binary_noise,
    "square-5k": square_wave(5000.0),
    "square-9k": square_wave(9000.0),
    "clipped-music": clipped_music,
}


CASES: dict[str, tuple[Callable[[int], np.ndarray], int]] = {
    "noise-steps-48k": (noise_with_level_steps, 48000),
    "music-44k1": (music_like, 44100),
    "music-96k": (music_like, 96000),
    "mono-noise-48k": (lambda fs: noise_with_level_steps(fs, channels=1), 48000),
    "surround-5.1-48k": (surround_51, 48000),
    "quiet-parts-44k1": (with_quiet_parts, 44100),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def material(request: pytest.FixtureRequest) -> tuple[str, np.ndarray, int, Loudness]:
    make, fs = CASES[request.param]
    x = make(fs)
    return request.param, x, fs, measure(x, fs)


# --- libebur128 -----------------------------------------------------------------------


def libebur128(x: np.ndarray, fs: int) -> tuple[float, float, float]:
    mode = pyebur128.MeasurementMode
    state = pyebur128.R128State(x.shape[1], fs, mode.MODE_I | mode.MODE_LRA | mode.MODE_TRUE_PEAK)
    state.add_frames(np.ascontiguousarray(x, dtype=np.float64).ravel(), x.shape[0])
    peak = max(pyebur128.get_true_peak(state, c) for c in range(x.shape[1]))
    return (
        pyebur128.get_loudness_global(state),
        pyebur128.get_loudness_range(state),
        20 * np.log10(peak),
    )


def test_against_libebur128(material: tuple[str, np.ndarray, int, Loudness]) -> None:
    name, x, fs, ours = material
    integrated, lra, peak = libebur128(x, fs)
    assert ours.integrated_lufs == pytest.approx(integrated, abs=INTEGRATED_TOL_LU), name
    assert ours.lra_lu == pytest.approx(lra, abs=LRA_TOL_LU), name
    assert ours.true_peak_dbtp == pytest.approx(peak, abs=TRUE_PEAK_TOL_DB), name


# --- ffmpeg -----------------------------------------------------------------------------

FFMPEG = shutil.which("ffmpeg")


def ffmpeg_ebur128(path: Path) -> dict[str, float]:
    """Run ``ffmpeg -af ebur128=peak=true`` and parse the Summary's I, LRA and Peak."""
    run = subprocess.run(
        [FFMPEG, "-nostats", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    summary = run.stderr[run.stderr.rindex("Summary:") :]
    values = {}
    for key in ("I", "LRA", "Peak"):
        match = re.search(rf"^\s*{key}:\s+(-?[\d.]+|-inf)", summary, re.MULTILINE)
        assert match, f"no {key} in ffmpeg summary:\n{summary}"
        values[key] = float(match.group(1))
    return values


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
def test_against_ffmpeg(material: tuple[str, np.ndarray, int, Loudness], tmp_path: Path) -> None:
    name, x, fs, ours = material
    path = tmp_path / f"{name}.wav"
    sf.write(path, x, fs, subtype="FLOAT")
    decoded, _ = sf.read(path, dtype="float64", always_2d=True)
    ours = measure(decoded, fs)  # the float32 file, as ffmpeg sees it
    theirs = ffmpeg_ebur128(path)
    # ffmpeg prints one decimal; the tolerances hold with its rounding included.
    assert ours.integrated_lufs == pytest.approx(theirs["I"], abs=INTEGRATED_TOL_LU), name
    assert ours.true_peak_dbtp == pytest.approx(theirs["Peak"], abs=TRUE_PEAK_TOL_DB), name
    assert ours.lra_lu == pytest.approx(theirs["LRA"], abs=LRA_TOL_LU), name


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("fs", [44100, 48000])
@pytest.mark.parametrize("name", list(TOP_OCTAVE))
def test_true_peak_of_top_octave_material(name: str, fs: int, tmp_path: Path) -> None:
    # Silence at both ends: ffmpeg reflects the signal about its first sample (where
    # we assume silence before it) and leaves the last samples in its resampler.
    x = TOP_OCTAVE[name](fs)
    pad = np.zeros((fs // 10, x.shape[1]))
    path = tmp_path / f"{name}.wav"
    sf.write(path, np.concatenate([pad, x, pad]), fs, subtype="FLOAT")
    decoded, _ = sf.read(path, dtype="float64", always_2d=True)
    ours = true_peak_dbtp(decoded, fs)
    theirs = ffmpeg_ebur128(path)["Peak"]
    assert ours == pytest.approx(theirs, abs=TRUE_PEAK_TOL_DB), (name, fs, ours, theirs)
    # libebur128's short interpolator under-reads this material (module docstring):
    # a lower bound only.
    assert ours >= libebur128(decoded, fs)[2], name


# --- Streaming == one-shot ------------------------------------------------------------


def blocks_of(x: np.ndarray, sizes: list[int]) -> Iterator[np.ndarray]:
    """Cut ``x`` into blocks cycling through ``sizes``."""
    start, i = 0, 0
    while start < x.shape[0]:
        size = sizes[i % len(sizes)]
        yield x[start : start + size]
        start += size
        i += 1


def assert_same(a: Loudness, b: Loudness) -> None:
    for field in (
        "integrated_lufs",
        "lra_lu",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "max_momentary_lufs",
        "max_short_term_lufs",
        "duration_s",
    ):
        va, vb = getattr(a, field), getattr(b, field)
        assert va == pytest.approx(vb, abs=1e-9) or va == vb, field
    np.testing.assert_allclose(a.block_powers, b.block_powers, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "sizes",
    [[777], [4800], [65536], [1, 777, 4800, 65536, 3], [100000]],
    ids=["777", "4800", "65536", "mixed", "100000"],
)
def test_streaming_equals_one_shot(sizes: list[int]) -> None:
    fs = 44100
    x = music_like(fs, duration_s=8.0)[: 8 * fs - 1234]
    assert_same(measure_blocks(blocks_of(x, sizes), fs, 2), measure(x, fs))


def test_streaming_one_frame_blocks() -> None:
    fs = 48000
    x = noise_with_level_steps(fs)[: int(1.5 * fs)]
    assert_same(measure_blocks(blocks_of(x, [1]), fs, 2), measure(x, fs))


def test_streaming_accepts_1d_mono_blocks_and_empty_blocks() -> None:
    fs = 48000
    x = noise_with_level_steps(fs, channels=1)[: 3 * fs]
    blocks = [x[:1000, 0], np.zeros((0, 1)), x[1000:, 0]]
    assert_same(measure_blocks(blocks, fs, 1), measure(x, fs))


def test_streaming_rejects_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match=r"shape \(frames, 2\)"):
        measure_blocks([np.zeros((100, 3))], 48000, 2)


def test_true_peak_convenience_matches_measure() -> None:
    fs = 44100
    x = music_like(fs, duration_s=5.0)
    assert true_peak_dbtp(x, fs) == measure(x, fs).true_peak_dbtp


# --- Album loudness ---------------------------------------------------------------------


def test_album_loudness_is_gating_over_the_union_of_blocks() -> None:
    fs = 48000
    rng = np.random.default_rng(21)
    loud = 0.3 * pink(20 * fs, 2, rng)  # 20.0 s: a whole number of 100 ms steps
    quiet = 0.3 * pink(30 * fs, 2, rng) * 10 ** (-15 / 20)  # 15 dB down
    m_loud, m_quiet = measure(loud, fs), measure(quiet, fs)
    album = integrated_lufs_from_powers([m_loud.block_powers, m_quiet.block_powers])
    # The union gated once is the concatenation's loudness (up to the 3 blocks that
    # straddle the join, which only the concatenation has).
    joined = measure(np.concatenate([loud, quiet]), fs).integrated_lufs
    assert album == pytest.approx(joined, abs=0.05)
    # It is not the mean of the track loudnesses, nor the power mean of all blocks:
    # the quiet track is 15 LU down, below the album's -10 LU relative gate.
    assert album == pytest.approx(m_loud.integrated_lufs, abs=0.05)
    assert abs(album - (m_loud.integrated_lufs + m_quiet.integrated_lufs) / 2) > 5
    all_blocks = np.concatenate([m_loud.block_powers, m_quiet.block_powers])
    ungated = -0.691 + 10 * np.log10(all_blocks.mean())
    assert album - ungated > 1.0


def test_album_of_one_track_is_its_integrated_loudness() -> None:
    fs = 44100
    x = with_quiet_parts(fs)
    result = measure(x, fs)
    assert integrated_lufs_from_powers([result.block_powers]) == result.integrated_lufs
    assert integrated_lufs_from_powers([]) == -np.inf
    assert integrated_lufs_from_powers([np.zeros(10)]) == -np.inf
