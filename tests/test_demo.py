"""The demo album's synthesized source mixes: deterministic, valid, and music-like."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from masterbuild import demo
from masterbuild.demo import (
    DEMO_SAMPLE_RATE_HZ,
    DEMO_TRACKS,
    DEMO_VERSION,
    parse_melody,
    synthesize,
    write_demo_mixes,
)

SR = DEMO_SAMPLE_RATE_HZ
TRACK_IDS = [t.id for t in DEMO_TRACKS]
REPO_ROOT = Path(__file__).resolve().parents[1]
LSB = 2.0**-23  # one 24-bit step, full scale 1.0


@functools.cache
def mix(track_id: str) -> np.ndarray:
    """Each track rendered once per test session (about 0.6 s each)."""
    audio = synthesize(track_id)
    audio.flags.writeable = False
    return audio


def db(power: float) -> float:
    return 10 * np.log10(max(power, 1e-30))


def window_rms_db(x: np.ndarray, window_s: float) -> np.ndarray:
    """RMS level (dBFS, both channels) of consecutive windows, the last partial one dropped."""
    frames = round(window_s * SR)
    n = x.shape[0] // frames
    power = np.mean(x[: n * frames].reshape(n, frames, 2) ** 2, axis=(1, 2))
    return 10 * np.log10(np.maximum(power, 1e-30))


# ----------------------------------------------------------------------------- the catalogue


def test_catalogue_matches_the_album():
    assert [(t.id, t.title) for t in DEMO_TRACKS] == [
        ("dawn", "Dawn"),
        ("tide", "Tide"),
        ("ember", "Ember"),
        ("night-drive", "Night Drive"),
    ]
    assert all(30.0 <= t.duration_s <= 60.0 for t in DEMO_TRACKS)
    assert sum(t.duration_s for t in DEMO_TRACKS) < 180.0
    assert isinstance(DEMO_VERSION, int) and DEMO_VERSION >= 1


@pytest.mark.parametrize("track", DEMO_TRACKS, ids=TRACK_IDS)
def test_score_is_well_formed(track):
    # The song ends on a held chord with room to ring out before the file ends.
    assert track.sections[-1].hold
    last_downbeat_s = track.arrangement_s - track.sections[-1].bars * track.bar_s
    assert track.duration_s - last_downbeat_s >= 3.5
    for pattern in (
        track.kick_pattern,
        track.snare_pattern,
        track.hat_pattern,
        track.bass_pattern,
        track.arp_pattern,
    ):
        assert len(pattern) == demo.STEPS_PER_BAR, pattern
    if track.melody:
        tokens = track.melody.replace("|", " ").split()
        assert sum(int(tok.partition("/")[2]) for tok in tokens) == 16 * track.melody_bars
        assert parse_melody(track.melody)
    for chord in track.chords:
        assert len(chord.split()) >= 3


def test_note_names():
    assert demo.note_to_midi("A4") == 69
    assert demo.note_to_midi("C4") == 60
    assert demo.note_to_midi("C#5") == demo.note_to_midi("Db5") == 73
    assert demo.note_to_midi("B0") == 23
    with pytest.raises(ValueError):
        demo.note_to_midi("H2")
    assert parse_melody("C4/4 ./4 E4/8") == [(0, 4, 60), (8, 8, 64)]


def test_unknown_track_and_bad_rate_are_refused():
    with pytest.raises(ValueError, match="unknown demo track"):
        synthesize("sunset")
    with pytest.raises(ValueError, match="sample_rate_hz"):
        synthesize("dawn", 8000)


# ----------------------------------------------------------------------------- determinism


def test_same_array_twice():
    again = synthesize("tide")
    assert again.dtype == np.float64
    assert np.array_equal(again, mix("tide"))
    assert again.tobytes() == mix("tide").tobytes()


def test_same_bytes_in_another_process():
    code = (
        "import hashlib; from masterbuild.demo import synthesize; "
        "print(hashlib.sha256(synthesize('dawn').tobytes()).hexdigest())"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    )
    env["PYTHONHASHSEED"] = "12345"  # a different str hash than this process: no hash() seeding
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == hashlib.sha256(mix("dawn").tobytes()).hexdigest()


def test_output_is_on_the_24_bit_grid():
    for track_id in TRACK_IDS:
        codes = mix(track_id) / LSB
        assert np.array_equal(codes, np.round(codes)), track_id


# ----------------------------------------------------------------------------- format


@pytest.mark.parametrize("track", DEMO_TRACKS, ids=TRACK_IDS)
def test_shape_peak_and_finite(track):
    x = mix(track.id)
    assert x.ndim == 2 and x.shape[1] == 2
    assert abs(x.shape[0] - track.duration_s * SR) <= 1
    assert np.all(np.isfinite(x))
    assert 20 * np.log10(np.max(np.abs(x))) <= -1.0


@pytest.mark.parametrize("track", DEMO_TRACKS, ids=TRACK_IDS)
def test_stereo_channels_differ(track):
    x = mix(track.id)
    mid, side = (x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2
    assert np.sum(side**2) > 0.01 * np.sum(mid**2)


def test_other_sample_rate():
    x = synthesize("ember", 44100)
    assert x.shape == (round(DEMO_TRACKS[2].duration_s * 44100), 2)
    assert np.all(np.isfinite(x)) and np.max(np.abs(x)) <= 10 ** (-1 / 20)


# ------------------------------------------------------------------- music, not test tones


@pytest.mark.parametrize("track", DEMO_TRACKS, ids=TRACK_IDS)
def test_not_silent_and_has_dynamics(track):
    # 1 s windows over the arrangement (the decaying tail excluded): a quiet
    # intro and breakdown against the loud sections, robust to a single outlier.
    levels = window_rms_db(mix(track.id)[: round(track.arrangement_s * SR)], 1.0)
    assert levels.max() > -30.0
    quiet, loud = np.percentile(levels, [5, 95])
    assert loud - quiet >= 6.0, (quiet, loud)


@pytest.mark.parametrize("track", DEMO_TRACKS, ids=TRACK_IDS)
def test_spectrum_spans_bass_to_treble(track):
    x = mix(track.id).mean(axis=1)
    freqs_hz, psd = scipy.signal.welch(x, SR, nperseg=8192)
    total = np.sum(psd)
    assert db(np.sum(psd[freqs_hz < 150.0]) / total) > -15.0  # kick and bass
    assert db(np.sum(psd[freqs_hz > 5000.0]) / total) > -32.0  # hats, air, transients
    # Not a tone: no single 5.9 Hz bin holds a third of the energy.
    assert np.max(psd) < total / 3


def test_tide_carries_subsonic_rumble():
    # The one track with rumble under 25 Hz, for the chain's high-pass to remove.
    freqs_hz, psd = scipy.signal.welch(mix("tide").mean(axis=1), SR, nperseg=2**16)
    assert db(np.sum(psd[freqs_hz < 20.0]) / np.sum(psd)) > -30.0


@pytest.mark.parametrize("track", DEMO_TRACKS, ids=TRACK_IDS)
def test_ends_in_a_natural_decay(track):
    # From the middle of the last bar the level only falls (the last chord
    # rings out), and it has died away before the file ends.
    start_s = track.arrangement_s - track.bar_s / 2
    levels = window_rms_db(mix(track.id)[round(start_s * SR) :], 0.25)
    assert np.all(np.diff(levels) < 2.0), np.round(levels)
    assert levels[0] > -50.0 and levels[-1] < -60.0


@pytest.mark.parametrize("track", DEMO_TRACKS, ids=TRACK_IDS)
def test_unmastered_loudness_and_headroom(track):
    pyln = pytest.importorskip("pyloudnorm")
    x = mix(track.id)
    lufs = pyln.Meter(SR).integrated_loudness(x)
    assert -21.0 <= lufs <= -15.5
    # A mix, not a master: peaks stand well clear of the loudness (PLR >= 12 dB).
    assert 20 * np.log10(np.max(np.abs(x))) - lufs >= 12.0


# ----------------------------------------------------------------------------- files


def test_write_demo_mixes(tmp_path):
    mixes_dir = tmp_path / "mixes"
    paths = write_demo_mixes(mixes_dir)
    assert paths == [mixes_dir / f"{track_id}.wav" for track_id in TRACK_IDS]
    assert sorted(os.listdir(mixes_dir)) == sorted(f"{t}.wav" for t in TRACK_IDS)  # no temp files
    for path, track_id in zip(paths, TRACK_IDS, strict=True):
        info = sf.info(path)
        assert (info.format, info.subtype) == ("WAV", "PCM_24")
        assert (info.samplerate, info.channels) == (48000, 2)
        expected = mix(track_id)
        decoded, _ = sf.read(path, dtype="float64", always_2d=True)
        assert decoded.shape == expected.shape
        assert np.max(np.abs(decoded - expected)) <= LSB
        # In fact bit-exact: the 24-bit codes are exactly the synthesized values.
        codes, _ = sf.read(path, dtype="int32", always_2d=True)
        assert np.array_equal(codes >> 8, np.round(expected / LSB).astype(np.int32))


def test_write_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    (tmp_path / "dawn.wav").write_bytes(b"previous")
    monkeypatch.setattr(demo, "synthesize", lambda track_id, sr=SR: np.zeros((SR, 2)))

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(sf, "write", disk_full)  # demo imports soundfile lazily
    with pytest.raises(OSError, match="disk full"):
        write_demo_mixes(tmp_path)
    assert os.listdir(tmp_path) == ["dawn.wav"]  # the temp file is gone
    assert (tmp_path / "dawn.wav").read_bytes() == b"previous"
