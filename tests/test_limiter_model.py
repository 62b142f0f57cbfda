"""The limiter model against the real limiter and meter (its oracle).

The gain solves trust the model's loudness after the limiter; here it is checked
against `limit` + `measure` on music-like signals, from no limiting to heavy.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from masterbuild.demo import synthesize
from masterbuild.dsp import limiter_model
from masterbuild.dsp.limiter import limit, neighbourhood_peak_blocks
from masterbuild.dsp.limiter_model import (
    group_frames_for,
    limited_block_powers,
    open_profile,
    write_profile,
)
from masterbuild.dsp.loudness import integrated_lufs_from_powers, measure
from masterbuild.dsp.resample import resample_blocks

MODEL_TOLERANCE_LU = 0.02  # measured: at most ~0.005 LU on these signals


def _music(fs: int, seconds: float = 12.0) -> np.ndarray:
    """A demo mix with a quiet intro and a loud section: limiting comes and goes."""
    x = synthesize("night-drive", 48000)[: int(seconds * 48000)]
    x = x.copy()
    x[: x.shape[0] // 3] *= 0.3  # an intro 10 dB down
    if fs != 48000:
        x = np.concatenate(list(resample_blocks([x], 48000, fs, 2)))
    return x


def _profile(tmp_path, x: np.ndarray, fs: int, blocks: int = 1, d: int | None = None):
    path = tmp_path / f"p{fs}-{blocks}-{d}.npy"
    write_profile(path, np.array_split(x, blocks), fs, 2, x.shape[0], d)
    return np.load(path, mmap_mode="r"), path


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
def test_group_frames_divide_the_meters_tick(fs):
    d = group_frames_for(fs)
    assert round(fs / 100) % d == 0
    assert 1 <= d <= fs / 3000


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
def test_predicted_loudness_matches_limiting_and_metering(tmp_path, fs):
    x = _music(fs)
    profile, _ = _profile(tmp_path, x, fs)
    lufs = measure(x, fs).integrated_lufs
    errors = []
    for gain_db in (0.0, -14.0 - lufs, -10.0 - lufs, -7.0 - lufs):
        predicted = integrated_lufs_from_powers([limited_block_powers(profile, fs, gain_db, -1.0)])
        y = limit(x * 10 ** (gain_db / 20), fs, -1.0)
        real = measure(y, fs).integrated_lufs
        errors.append(predicted - real)
    assert max(abs(e) for e in errors) <= MODEL_TOLERANCE_LU, errors
    # The loud gains do limit (else this test would prove nothing about the model).
    heavy = measure(x * 10 ** ((-7.0 - lufs) / 20), fs).integrated_lufs - real
    assert heavy > 1.0


def test_without_limiting_the_model_is_the_meter(tmp_path):
    fs = 48000
    x = _music(fs) * 0.1  # 20 dB under: the limiter does nothing
    profile, _ = _profile(tmp_path, x, fs)
    want = measure(x, fs).block_powers
    got = limited_block_powers(profile, fs, 0.0, -1.0)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_profile_does_not_depend_on_block_sizes(tmp_path):
    fs = 48000
    x = _music(fs, 6.0)
    _, one = _profile(tmp_path, x, fs, blocks=1)
    _, many = _profile(tmp_path, x, fs, blocks=37)
    assert one.read_bytes() == many.read_bytes()


def test_prediction_does_not_depend_on_chunking(tmp_path, monkeypatch):
    fs = 48000
    x = _music(fs, 6.0)
    profile, _ = _profile(tmp_path, x, fs)
    lufs = measure(x, fs).integrated_lufs
    whole = limited_block_powers(profile, fs, -8.0 - lufs, -1.0)
    monkeypatch.setattr(limiter_model, "_CHUNK_GROUPS", 1000)
    chunked = limited_block_powers(profile, fs, -8.0 - lufs, -1.0)
    np.testing.assert_allclose(chunked, whole, rtol=1e-9)


def test_peaks_are_linear_in_level_and_aligned_with_the_input():
    """Stages 1-2 at unity gain scale with the level; a lone click is read at its frame."""
    fs = 48000
    x = np.zeros((fs, 2))
    x[20000] = 0.5
    p = np.concatenate(list(neighbourhood_peak_blocks(np.array_split(x, 5), fs, 2)))
    assert p.size == x.shape[0]
    assert p[20000] == pytest.approx(0.5, rel=2e-5)  # the wide-band bound scales by 1e-5
    support = np.flatnonzero(p > 0)  # the interpolator's reach on either side
    assert support[0] >= 20000 - 33 and support[-1] <= 20000 + 33
    p2 = np.concatenate(list(neighbourhood_peak_blocks([x * 0.25], fs, 2)))
    np.testing.assert_allclose(p2, p * 0.25, rtol=1e-6)


def test_a_profile_file_reads_as_the_array(tmp_path):
    fs = 48000
    x = _music(fs, 6.0)
    array, path = _profile(tmp_path, x, fs)
    lufs = measure(x, fs).integrated_lufs
    on_disk = open_profile(path)
    assert on_disk.shape == array.shape
    np.testing.assert_array_equal(on_disk[100:2000], array[100:2000])
    for gain_db in (0.0, -8.0 - lufs):
        np.testing.assert_array_equal(
            limited_block_powers(on_disk, fs, gain_db, -1.0),
            limited_block_powers(array, fs, gain_db, -1.0),
        )


def test_a_cut_profile_is_refused(tmp_path):
    fs = 48000
    _, path = _profile(tmp_path, _music(fs, 2.0), fs)
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ValueError, match="does not match its header"):
        open_profile(path)


def _synthetic_profile(path, minutes: float, fs: int) -> None:
    rows = int(minutes * 60 * fs) // group_frames_for(fs)
    rng = np.random.default_rng(3)
    table = np.empty((rows, 2), dtype=np.float32)
    table[:, 0] = rng.uniform(0.1, 1.0, rows)  # peaks: the limiter works now and then
    table[:, 1] = rng.uniform(0.0, 0.01, rows)
    np.save(path, table)


def test_the_solve_does_not_grow_with_track_length(tmp_path):
    """A gain try allocates about the same for 5 minutes as for 60 (at 96 kHz)."""
    fs = 96000
    peaks = {}
    for minutes in (1, 5, 60):  # the first try also pays for compiling the kernels
        path = tmp_path / f"{minutes}.npy"
        _synthetic_profile(path, minutes, fs)
        profile = open_profile(path)
        tracemalloc.start()
        limited_block_powers(profile, fs, 3.0, -1.0)
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # The 60-minute profile alone is 83 MB; the sub-block sums grow by 8 bytes per 100 ms.
    assert peaks[60] - peaks[5] < 2 * 2**20, peaks
