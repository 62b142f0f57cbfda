"""QC analyzer (masterbuild.dsp.qc): analytic oracles and block-split invariance.

Oracles:

* every scalar and array is compared against a direct numpy computation on
  the whole signal (means, run lengths, frame indices, bin min / max);
* the pcm16 / pcm24 MD5 against the MD5 ``flac`` stores in STREAMINFO
  (``metaflac --show-md5sum``), for files written by soundfile;
* the long-term spectrum against closed forms: a sine of peak amplitude ``A``
  on a bin reads ``20 log10(A)`` there; between bins at most the Hann
  scalloping loss (1.42 dB) less; white noise of variance ``s^2`` reads
  ``10 log10(4 s^2 sum(w^2) / (sum w)^2)``; exact cancellation gives -inf.

Streaming results must be identical (``==``, not approximately) to the one-shot
result for any block sizes, including blocks of one frame and blocks that put
events across the internal ``CHUNK_FRAMES`` boundary.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from masterbuild.dsp.qc import (
    CHUNK_FRAMES,
    QcStats,
    analyze,
    analyze_blocks,
    full_scale_threshold,
    pack_samples,
    side_to_mid_db,
)

FS_HZ = 48000
PCM16_FS = 32767 / 32768  # most positive pcm16 code
BLOCK_SIZES = [1, 7, 4095, 65536, None]  # None: one block (one-shot through analyze_blocks)
SPECTRUM_TOL_DB = 0.5
HANN_SCALLOP_DB = 1.43  # Hann worst-case scalloping loss, half a bin off: 1.42 dB


def blocks_of(x: np.ndarray, size: int | None) -> Iterator[np.ndarray]:
    if size is None:
        yield x
        return
    for start in range(0, x.shape[0], size):
        yield x[start : start + size]


def assert_identical(a: QcStats, b: QcStats) -> None:
    """Every field equal: scalars with ``==``, arrays element-wise with equal dtype and shape."""
    for f in fields(QcStats):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and va.shape == vb.shape, f.name
            assert np.array_equal(va, vb), f.name
        else:
            assert va == vb, f.name


def pcm16(x: np.ndarray) -> np.ndarray:
    """Quantise to pcm16 values (as decoded from a 16-bit file)."""
    return np.clip(np.round(x * 32768), -32768, 32767) / 32768


def direct_envelope(x: np.ndarray, hop: int) -> np.ndarray:
    bins = -(-x.shape[0] // hop)
    lo = np.full(bins * hop, np.inf)
    hi = np.full(bins * hop, -np.inf)
    lo[: x.shape[0]] = x.min(axis=1)
    hi[: x.shape[0]] = x.max(axis=1)
    return np.stack(
        [lo.reshape(bins, hop).min(axis=1), hi.reshape(bins, hop).max(axis=1)], axis=1
    ).astype(np.float32)


def clip_signal() -> tuple[np.ndarray, list[tuple[int, int, int, float]]]:
    """Stereo pcm16 noise with full-scale runs: (signal, [(channel, start, length, value)])."""
    n = 2 * CHUNK_FRAMES + 1000
    rng = np.random.default_rng(7)
    x = pcm16(rng.uniform(-0.9, 0.9, (n, 2)))
    runs = [
        (0, 100, 2, PCM16_FS),  # too short to count
        (0, 300, 3, -1.0),
        (1, 500, 5, PCM16_FS),
        (1, 900, 4, PCM16_FS),  # +FS then straight to -FS: two runs
        (1, 904, 3, -1.0),
        (0, CHUNK_FRAMES - 2, 6, -1.0),  # across the internal chunk boundary
        (1, 2 * CHUNK_FRAMES - 1, 2, PCM16_FS),  # across the second boundary, too short
        (0, n - 3, 3, PCM16_FS),  # still open at the end of the stream
    ]
    for ch, start, length, value in runs:
        x[start : start + length, ch] = value
    x[700:710, 0] = 32766 / 32768  # one code below full scale: not clipped
    return x, runs


# --------------------------------------------------------------------------- block splits


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("encoding", ["pcm16", "float32"])
def test_any_block_split_gives_the_one_shot_result(block_size, encoding):
    x, _ = clip_signal()
    x[:4000] *= 1e-4  # head silence, ends inside the first chunk
    x[CHUNK_FRAMES + 10 :, :] *= 1e-4  # tail silence from just after the boundary
    x[CHUNK_FRAMES + 9, 1] = 0.5
    x += np.array([0.01, -0.02])  # DC offset
    expected = analyze(x, FS_HZ, encoding=encoding)
    got = analyze_blocks(blocks_of(x, block_size), FS_HZ, 2, encoding=encoding)
    assert_identical(got, expected)


def test_irregular_block_sizes_give_the_one_shot_result():
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 0.3, (CHUNK_FRAMES + 50_000, 2))
    cuts = np.cumsum(rng.integers(0, 9000, 40))
    cuts = cuts[cuts < x.shape[0]]
    got = analyze_blocks(np.split(x, cuts), FS_HZ, 2, encoding="float32", nfft=1024)
    assert_identical(got, analyze(x, FS_HZ, encoding="float32", nfft=1024))


def test_mono_blocks_may_be_one_dimensional():
    x = np.random.default_rng(4).uniform(-1, 1, 10_000)
    got = analyze_blocks(np.split(x, [3, 4000]), FS_HZ, 1, encoding="float32")
    assert_identical(got, analyze(x[:, None], FS_HZ, encoding="float32"))


# --------------------------------------------------------------------------- DC offset


def test_dc_offset_of_a_known_constant_on_noise():
    n = 200_000
    offsets = np.array([0.01, -0.003])
    noise = np.random.default_rng(1).normal(0.0, 0.1, (n, 2))
    x = noise + offsets
    stats = analyze_blocks(blocks_of(x, 4095), FS_HZ, 2, encoding="float32")
    np.testing.assert_allclose(stats.dc_offset, x.mean(axis=0), rtol=0, atol=1e-15)
    # The constant itself, within 5 standard errors of the noise mean.
    np.testing.assert_allclose(stats.dc_offset, offsets, rtol=0, atol=5 * 0.1 / np.sqrt(n))
    assert stats.dc_offset_dbfs == pytest.approx(20 * np.log10(np.abs(x.mean(axis=0)).max()))
    five_se = 5 * 0.1 / np.sqrt(n)
    assert 20 * np.log10(0.01 - five_se) <= stats.dc_offset_dbfs <= 20 * np.log10(0.01 + five_se)


def test_no_dc_offset_reads_minus_infinity():
    x = np.zeros((1000, 2))
    x[::2] = 0.5
    x[1::2] = -0.5
    stats = analyze(x, FS_HZ, encoding="pcm16")
    assert stats.dc_offset == (0.0, 0.0)
    assert stats.dc_offset_dbfs == -np.inf


# --------------------------------------------------------------------------- clipping


@pytest.mark.parametrize("block_size", [1, 4095, None])
def test_clip_runs_per_channel_and_sign(block_size):
    x, runs = clip_signal()
    stats = analyze_blocks(blocks_of(x, block_size), FS_HZ, 2, encoding="pcm16")
    assert stats.full_scale_samples == sum(length for _, _, length, _ in runs)
    assert stats.full_scale_samples == int((np.abs(x) >= PCM16_FS).sum())
    counted = [length for _, _, length, _ in runs if length >= 3]
    assert stats.clipped_runs == len(counted) == 6
    assert stats.longest_clip_run == max(counted) == 6
    # Envelope bins holding full-scale samples, against the frame indices.
    hop = round(0.05 * FS_HZ)
    fs_frames = np.flatnonzero((np.abs(x) >= PCM16_FS).any(axis=1))
    np.testing.assert_array_equal(stats.clip_bins, np.unique(fs_frames // hop))
    assert stats.clip_bins.dtype == np.int64


def test_min_clip_run_sets_what_counts():
    x, runs = clip_signal()
    two = analyze(x, FS_HZ, encoding="pcm16", min_clip_run=2)
    assert two.clipped_runs == len(runs)
    six = analyze(x, FS_HZ, encoding="pcm16", min_clip_run=6)
    assert (six.clipped_runs, six.longest_clip_run) == (1, 6)
    seven = analyze(x, FS_HZ, encoding="pcm16", min_clip_run=7)
    assert (seven.clipped_runs, seven.longest_clip_run) == (0, 0)


def test_full_scale_depends_on_the_encoding():
    assert full_scale_threshold("pcm16") == 32767 / 32768
    assert full_scale_threshold("pcm24") == 8388607 / 8388608
    assert full_scale_threshold("float32") == 1.0
    x = np.zeros((20, 1))
    x[0:3] = 32767 / 32768  # pcm16 full scale, not pcm24 nor float32
    x[5:8] = 8388607 / 8388608  # pcm16 and pcm24 full scale, not float32
    x[10:13] = -1.0  # full scale everywhere
    x[15:18] = 1.25  # over full scale (float32 data can be)
    counts = {
        enc: (s.full_scale_samples, s.clipped_runs)
        for enc in ("pcm16", "pcm24", "float32")
        for s in [analyze(x, FS_HZ, encoding=enc)]
    }
    assert counts == {"pcm16": (12, 4), "pcm24": (9, 3), "float32": (6, 2)}


def test_no_full_scale_samples():
    x = np.full((100, 2), 0.5)
    stats = analyze(x, FS_HZ, encoding="pcm16")
    assert (stats.full_scale_samples, stats.clipped_runs, stats.longest_clip_run) == (0, 0, 0)
    assert stats.clip_bins.shape == (0,)


# --------------------------------------------------------------------------- silence


THRESHOLD = 10 ** (-60 / 20)
EDGE_FRAMES = [0, 1, CHUNK_FRAMES - 1, CHUNK_FRAMES, CHUNK_FRAMES + 1]


@pytest.mark.parametrize("first", EDGE_FRAMES)
@pytest.mark.parametrize("block_size", [4095, None])
def test_head_and_tail_silence_to_the_frame(first, block_size):
    n = 3 * CHUNK_FRAMES
    x = np.full((n, 2), 0.9 * THRESHOLD)
    x[::3, 0] = -THRESHOLD  # at the threshold is silent: audible means above it
    last = n - 1 - first
    x[first, 1] = -2 * THRESHOLD
    x[last, 0] = 2 * THRESHOLD
    stats = analyze_blocks(blocks_of(x, block_size), FS_HZ, 2, encoding="float32")
    assert stats.head_silence_s == first / FS_HZ
    assert stats.tail_silence_s == (n - 1 - last) / FS_HZ == first / FS_HZ


def test_all_silent_reads_the_whole_duration_both_ends():
    x = np.full((12345, 1), THRESHOLD)
    stats = analyze(x, FS_HZ, encoding="float32")
    assert stats.head_silence_s == stats.tail_silence_s == 12345 / FS_HZ


def test_silence_threshold_is_a_parameter():
    x = np.zeros((1000, 1))
    x[100] = 0.01  # -40 dBFS
    x[800] = 0.1  # -20 dBFS
    stats = analyze(x, 1000, encoding="float32", silence_dbfs=-30.0)
    assert (stats.head_silence_s, stats.tail_silence_s) == (0.8, 0.199)


# --------------------------------------------------------------------------- envelope


@pytest.mark.parametrize(
    ("fs", "hop_s", "n"),
    [
        (44100, 0.05, 3 * CHUNK_FRAMES + 777),
        (48000, 0.01, 100_000),
        (8000, 0.05, 399),
        (8000, 0.05, 400),
    ],
)
def test_envelope_min_max_per_bin_exact(fs, hop_s, n):
    x = np.random.default_rng(n).normal(0.0, 0.3, (n, 2))
    stats = analyze_blocks(blocks_of(x, 4095), fs, 2, encoding="float32", envelope_hop_s=hop_s)
    hop = round(hop_s * fs)
    assert stats.envelope_hop_s == hop / fs
    assert stats.envelope.dtype == np.float32
    assert stats.envelope.shape == (-(-n // hop), 2)
    np.testing.assert_array_equal(stats.envelope, direct_envelope(x, hop))


def test_envelope_of_signed_zeros_is_the_same_for_any_split():
    # Bins of nothing but zeros, -0.0 and +0.0 mixed per frame and channel, one of
    # them open across the chunk boundary: equal values, and the same bits (the
    # sign of a zero) whatever the block sizes.
    n = CHUNK_FRAMES + 3000
    hop = 1000
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 0.3, (n, 2))
    zero_signs = rng.integers(0, 2, (n, 2)).cumsum(axis=0) % 3 == 0
    for lo, hi in [(2000, 5000), (CHUNK_FRAMES - 1500, CHUNK_FRAMES + 2000)]:
        x[lo:hi] = np.where(zero_signs[lo:hi], -0.0, 0.0)
    x[7000:7010, 0] = -0.0  # beside non-zero samples
    one_shot = analyze(x, FS_HZ, encoding="float32", envelope_hop_s=hop / FS_HZ)
    np.testing.assert_array_equal(one_shot.envelope, direct_envelope(x, hop))
    for size in [1, 999, 4095, CHUNK_FRAMES]:
        got = analyze_blocks(
            blocks_of(x, size), FS_HZ, 2, encoding="float32", envelope_hop_s=hop / FS_HZ
        )
        assert got.envelope.tobytes() == one_shot.envelope.tobytes()


@pytest.mark.parametrize("layout", ["fortran", "strided", "float32"])
def test_blocks_in_any_memory_layout_give_the_same_result(layout):
    x, _ = clip_signal()
    arranged = {
        "fortran": np.asfortranarray(x),
        "strided": np.repeat(x, 2, axis=0)[::2],
        "float32": x.astype(np.float32),  # pcm16 values are exact in float32
    }[layout]
    got = analyze_blocks([arranged], FS_HZ, 2, encoding="pcm16")
    assert_identical(got, analyze(x, FS_HZ, encoding="pcm16"))


# --------------------------------------------------------------------------- MD5


def numpy_pack(x: np.ndarray, encoding: str) -> bytes:
    """Reference packing in numpy: rint (half to even), clip, int32, low bytes."""
    if encoding == "float32":
        return x.astype("<f4").tobytes()
    scale, width = {"pcm16": (32768, 2), "pcm24": (8388608, 3)}[encoding]
    codes = np.clip(np.rint(x * scale), -scale, scale - 1).astype("<i4")
    return codes.reshape(-1, 1).view(np.uint8)[:, :width].tobytes()


@pytest.mark.parametrize("encoding", ["pcm16", "pcm24", "float32"])
@pytest.mark.parametrize("block_size", [4093, CHUNK_FRAMES, None])
def test_md5_of_the_packed_stream_across_chunk_boundaries(encoding, block_size):
    rng = np.random.default_rng(12)
    n = 2 * CHUNK_FRAMES + 333
    x = rng.uniform(-1.2, 1.2, (n, 3))  # beyond full scale too: saturated codes
    scale = 32768 if encoding == "pcm16" else 8388608
    ties = (rng.integers(-1000, 1000, 5000) + 0.5) / scale  # rint's half-to-even cases
    x[CHUNK_FRAMES - 2500 : CHUNK_FRAMES + 2500, 1] = ties
    stats = analyze_blocks(blocks_of(x, block_size), FS_HZ, 3, encoding=encoding)
    expected = numpy_pack(x, encoding)
    assert stats.md5 == hashlib.md5(expected).hexdigest()
    assert pack_samples(x, encoding) == expected


def test_packing_matches_numpy_for_each_encoding():
    rng = np.random.default_rng(5)
    codes16 = rng.integers(-32768, 32768, (999, 2))
    codes24 = rng.integers(-(2**23), 2**23, (999, 2))
    codes24[:2] = [[-(2**23), 2**23 - 1], [-1, 0]]
    assert pack_samples(codes16 / 32768, "pcm16") == codes16.astype("<i2").tobytes()
    u24 = codes24.ravel() & 0xFFFFFF  # two's complement in 24 bits, bytes low to high
    le24 = np.stack([u24 & 0xFF, (u24 >> 8) & 0xFF, u24 >> 16], axis=1).astype(np.uint8)
    assert pack_samples(codes24 / 2**23, "pcm24") == le24.tobytes()
    x = rng.normal(0, 0.3, (999, 2))
    assert pack_samples(x, "float32") == x.astype("<f4").tobytes()
    # Out-of-range values take the nearest code.
    assert (
        pack_samples(np.array([[1.0, -1.5]]), "pcm16") == np.array([32767, -32768], "<i2").tobytes()
    )
    stats = analyze_blocks(blocks_of(x, 7), FS_HZ, 2, encoding="float32")
    assert stats.md5 == hashlib.md5(x.astype("<f4").tobytes()).hexdigest()


def test_empty_input():
    stats = analyze_blocks([], FS_HZ, 2, encoding="pcm16", nfft=64)
    assert stats.frames == 0
    assert stats.md5 == hashlib.md5(b"").hexdigest()
    assert stats.envelope.shape == (0, 2) and stats.clip_bins.shape == (0,)
    assert stats.dc_offset == (0.0, 0.0) and stats.dc_offset_dbfs == -np.inf
    assert stats.head_silence_s == stats.tail_silence_s == 0.0
    assert np.all(stats.spectrum_mid_db == -np.inf) and np.all(stats.spectrum_side_db == -np.inf)
    assert stats.spectrum_freqs_hz.shape == (33,)


@pytest.mark.skipif(shutil.which("metaflac") is None, reason="metaflac not installed")
@pytest.mark.parametrize(
    ("subtype", "encoding", "bits", "channels"),
    [("PCM_16", "pcm16", 16, 2), ("PCM_16", "pcm16", 16, 1), ("PCM_24", "pcm24", 24, 2)],
)
def test_md5_equals_the_flac_streaminfo_md5(tmp_path: Path, subtype, encoding, bits, channels):
    rng = np.random.default_rng(bits + channels)
    n = CHUNK_FRAMES + 12_345
    top = 2 ** (bits - 1)
    codes = rng.integers(-top, top, (n, channels))
    codes[:3] = [-top] * channels  # both extreme codes, and digital silence
    codes[3:6] = [top - 1] * channels
    codes[6:100] = 0
    path = tmp_path / f"t{bits}.flac"
    # Integer input writes the codes exactly (libsndfile takes the top bits of int32).
    sf.write(path, (codes << (32 - bits)).astype(np.int32), FS_HZ, subtype=subtype)
    expected = subprocess.run(
        ["metaflac", "--show-md5sum", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    with sf.SoundFile(path) as f:
        blocks = f.blocks(blocksize=4095, dtype="float64", always_2d=True)
        stats = analyze_blocks(blocks, f.samplerate, f.channels, encoding=encoding)
    assert stats.md5 == expected
    assert stats.frames == n
    assert stats.full_scale_samples == 6 * channels + int((np.abs(codes[6:]) >= top - 1).sum())


# --------------------------------------------------------------------------- spectrum


def sine(freq_hz: float, amp: float, n: int, fs: int = FS_HZ) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq_hz * np.arange(n) / fs + 0.3)


@pytest.mark.parametrize("amp", [1.0, 0.25])
@pytest.mark.parametrize("bin_offset", [0.0, 0.3, 0.5])
def test_sine_peak_frequency_and_level(amp, bin_offset):
    nfft = 8192
    width_hz = FS_HZ / nfft
    freq = (171 + bin_offset) * width_hz  # about 1 kHz
    x = sine(freq, amp, 5 * FS_HZ)
    stats = analyze(np.stack([x, x], axis=1), FS_HZ, encoding="float32", nfft=nfft)
    peak = int(np.argmax(stats.spectrum_mid_db))
    assert abs(stats.spectrum_freqs_hz[peak] - freq) <= width_hz
    level = stats.spectrum_mid_db[peak]
    # On a bin: 20 log10(amp) exactly in theory; off bin: minus the Hann scalloping.
    loss = HANN_SCALLOP_DB if bin_offset else 0.0
    assert 20 * np.log10(amp) - loss - SPECTRUM_TOL_DB <= level
    assert level <= 20 * np.log10(amp) + SPECTRUM_TOL_DB
    if bin_offset == 0.0:
        assert level == pytest.approx(20 * np.log10(amp), abs=0.01)
    assert np.all(stats.spectrum_side_db == -np.inf)  # L = R


def test_white_noise_is_flat_at_its_rms():
    sigma, nfft = 0.1, 4096
    x = np.random.default_rng(11).normal(0.0, sigma, (20 * FS_HZ, 1))
    stats = analyze_blocks(blocks_of(x, 65536), FS_HZ, 1, encoding="float32", nfft=nfft)
    w = scipy.signal.get_window("hann", nfft)
    expected_db = 10 * np.log10(4 * sigma**2 * np.sum(w**2) / np.sum(w) ** 2)
    assert expected_db == pytest.approx(10 * np.log10(6 * sigma**2 / nfft))
    inner = stats.spectrum_mid_db[1:-1]
    # ~470 averaged segments: one bin scatters by ~0.2 dB, a 60-bin band by ~0.03 dB.
    bands = 10 * np.log10(np.mean(10 ** (inner[:2040].reshape(-1, 60) / 10), axis=1))
    np.testing.assert_allclose(bands, expected_db, rtol=0, atol=0.2)
    assert np.median(inner) == pytest.approx(expected_db, abs=0.1)
    assert np.all(np.abs(inner - expected_db) < 1.5)
    assert np.all(stats.spectrum_side_db == -np.inf)  # mono


def test_opposite_channels_have_no_mid():
    x = sine(440.0, 0.5, 3 * FS_HZ) + np.random.default_rng(2).normal(0, 0.01, 3 * FS_HZ)
    stats = analyze(np.stack([x, -x], axis=1), FS_HZ, encoding="float32")
    assert np.all(stats.spectrum_mid_db == -np.inf)
    assert stats.spectrum_side_db.max() > -7.0
    assert side_to_mid_db(stats, 1000.0) == np.inf


def test_track_shorter_than_nfft_is_one_zero_padded_segment():
    nfft, n = 8192, 3000
    width_hz = FS_HZ / nfft
    x = sine(2000.0, 0.5, n)
    stats = analyze(x[:, None], FS_HZ, encoding="float32", nfft=nfft)
    peak = int(np.argmax(stats.spectrum_mid_db))
    assert abs(stats.spectrum_freqs_hz[peak] - 2000.0) <= width_hz
    assert stats.spectrum_mid_db[peak] == pytest.approx(20 * np.log10(0.5), abs=SPECTRUM_TOL_DB)
    assert stats.spectrum_freqs_hz.shape == stats.spectrum_mid_db.shape == (nfft // 2 + 1,)


# --------------------------------------------------------------------------- side / mid


def test_side_to_mid_same_frequency():
    n = 4 * FS_HZ
    mid, side = sine(50.0, 0.5, n), sine(50.0, 0.05, n)
    stats = analyze(np.stack([mid + side, mid - side], axis=1), FS_HZ, encoding="float32")
    assert side_to_mid_db(stats, 150.0) == pytest.approx(-20.0, abs=0.5)


def test_side_to_mid_counts_only_the_low_band():
    n = 4 * FS_HZ
    mid = sine(60.0, 0.5, n) + sine(3000.0, 0.01, n)
    side = sine(40.0, 0.05, n) + sine(5000.0, 0.5, n)  # loud side above the band: ignored
    stats = analyze(np.stack([mid + side, mid - side], axis=1), FS_HZ, encoding="float32")
    assert side_to_mid_db(stats, 150.0) == pytest.approx(-20.0, abs=0.5)
    assert side_to_mid_db(stats, 10_000.0) == pytest.approx(0.0, abs=0.5)


def test_side_to_mid_edge_cases():
    x = sine(80.0, 0.5, FS_HZ)
    mono = analyze(x, FS_HZ, encoding="float32")
    assert side_to_mid_db(mono, 200.0) == -np.inf
    same = analyze(np.stack([x, x], axis=1), FS_HZ, encoding="float32")
    assert side_to_mid_db(same, 200.0) == -np.inf
    silent = analyze(np.zeros((FS_HZ, 2)), FS_HZ, encoding="float32")
    assert side_to_mid_db(silent, 200.0) == -np.inf
    with pytest.raises(ValueError, match="no spectrum bin below"):
        side_to_mid_db(same, 5.0)  # first bin: 48000 / 8192 = 5.86 Hz


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises(bad):
    x = np.zeros((CHUNK_FRAMES + 100, 2))
    x[CHUNK_FRAMES + 5, 1] = bad
    with pytest.raises(ValueError, match=rf"NaN or infinite .*frame {CHUNK_FRAMES + 5}\)"):
        analyze_blocks(blocks_of(x, 4095), FS_HZ, 2, encoding="pcm16")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"encoding": "pcm8"}, "unknown encoding"),
        ({"encoding": "pcm16", "nfft": 1001}, "nfft"),
        ({"encoding": "pcm16", "min_clip_run": 0}, "min_clip_run"),
        ({"encoding": "pcm16", "envelope_hop_s": 0.0}, "envelope_hop_s"),
    ],
)
def test_bad_parameters_raise(kw, message):
    with pytest.raises(ValueError, match=message):
        analyze(np.zeros((10, 2)), FS_HZ, **kw)


def test_wrong_block_shape_raises():
    with pytest.raises(ValueError, match=r"shape \(frames, 2\)"):
        analyze_blocks([np.zeros((10, 2)), np.zeros((10, 3))], FS_HZ, 2, encoding="pcm16")


# --- one pass for the meter and the analyser (masterbuild.analysis) ---------------------


def test_one_pass_equals_two():
    from masterbuild.analysis import measure_and_analyze
    from masterbuild.dsp.loudness import measure_blocks

    rng = np.random.default_rng(3)
    x = 0.2 * rng.standard_normal((48000 * 5, 2))
    blocks = [x[i : i + 20000] for i in range(0, x.shape[0], 20000)]
    loud, stats = measure_and_analyze(iter(blocks), 48000, 2, "pcm24")
    assert loud == measure_blocks(iter(blocks), 48000, 2)
    assert stats == analyze_blocks(iter(blocks), 48000, 2, encoding="pcm24")
    np.testing.assert_array_equal(stats.envelope, analyze(x, 48000, encoding="pcm24").envelope)


def test_one_pass_raises_instead_of_hanging():
    from masterbuild.analysis import measure_and_analyze

    def broken():
        yield np.zeros((1000, 2))
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        measure_and_analyze(broken(), 48000, 2, "pcm24")
    with pytest.raises(ValueError):  # the analyser refuses the block, the meter would not
        measure_and_analyze(iter([np.zeros((10, 2))]), 48000, 2, "pcm99")
    with pytest.raises(ValueError):  # the meter refuses before reading anything
        measure_and_analyze(iter([np.zeros((10, 3))]), 48000, 2, "pcm24")
