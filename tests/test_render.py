"""End-to-end oracles for the format-independent processing: trim, gain, fades."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from masterbuild.dsp.fades import fade_curve
from tests.albums import make_album, manifest, run, tone_mix, write_mix

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shape", ["linear", "log", "cosine", "scurve"])
def test_trim_gain_fades_exact_in_a_float_master(tmp_path, shape):
    """A float master at the source rate with no chain and no loudness step is
    source[trim] * gain * fade curves, to float32 precision."""
    sr = 48000
    m = manifest(
        1,
        formats={
            "f": {"codec": "wav", "sample_rate": sr, "bit_depth": 32, "true_peak_ceiling_db": 0.0}
        },
    )
    m["master"]["chain"] = []
    m["tracks"][0].update(
        gain_db=-3.0,
        trim={"start_s": 0.25, "end_s": 0.5},
        fade={"in_s": 0.5, "out_s": 1.0, "shape": shape},
    )
    album = tmp_path / "album"
    x = tone_mix(3.0, 330, -6, seed=3, sr=sr)
    write_mix(album / "mixes/t1.wav", x, sr, subtype="FLOAT")
    make_album(tmp_path, m)
    run(album)
    y, sr_out = sf.read(album / "masters/f/01 Track 1.wav")
    src = sf.read(album / "mixes/t1.wav")[0][int(0.25 * sr) : int(2.5 * sr)]
    assert sr_out == sr and y.shape == src.shape == (int(2.25 * sr), 2)
    n = len(src)
    pos = np.arange(n)
    fin, fout = int(0.5 * sr), int(1.0 * sr)
    gain = np.ones(n)
    gain[:fin] = fade_curve(pos[:fin] / fin, shape)
    gain[n - fout :] *= fade_curve((n - pos[n - fout :]) / fout, shape)
    expected = src * 10 ** (-3 / 20) * gain[:, None]
    assert np.max(np.abs(y - expected)) < 2e-7  # float32 storage of the intermediate


def test_mono_source_becomes_dual_mono(tmp_path):
    m = manifest(1, formats={"f": {"codec": "flac", "sample_rate": 44100, "bit_depth": 24}})
    album = tmp_path / "album"
    write_mix(album / "mixes/t1.wav", tone_mix(2.0, 440, -6, seed=1)[:, :1])
    make_album(tmp_path, m)
    run(album)
    y, _ = sf.read(album / "masters/f/01 Track 1.flac")
    # identical but for the per-channel TPDF dither (at most 2 LSB at 24 bits)
    assert y.shape[1] == 2 and np.max(np.abs(y[:, 0] - y[:, 1])) <= 2 / 2**23


@pytest.mark.skipif(shutil.which("doit") is None, reason="doit is installed by setup.sh")
def test_doit_builds_the_demo_album_from_a_fresh_copy(tmp_path):
    """The README's first command, minus the install: `doit` on a fresh tree."""
    shutil.copy(ROOT / "dodo.py", tmp_path / "dodo.py")
    (tmp_path / "albums/demo").mkdir(parents=True)
    shutil.copy(ROOT / "albums/demo/album.toml", tmp_path / "albums/demo/album.toml")
    first = subprocess.run(["doit"], cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    masters = tmp_path / "albums/demo/masters"
    for fmt, ext in (("cd", "wav"), ("hires", "flac"), ("streaming", "flac"), ("mp3", "mp3")):
        files = sorted(p.name for p in (masters / fmt).glob(f"0*.{ext}"))
        assert files == [
            f"01 Dawn.{ext}",
            f"02 Tide.{ext}",
            f"03 Ember.{ext}",
            f"04 Night Drive.{ext}",
        ]
    assert (masters / "report.json").is_file() and (masters / "report.html").is_file()
    assert (masters / "cd/First Light.cue").is_file() and (masters / "cd/DDP/IMAGE.DAT").is_file()
    again = subprocess.run(["doit"], cwd=tmp_path, capture_output=True, text=True)
    assert [ln for ln in again.stdout.splitlines() if ln.startswith(".  ")] == []


def test_auto_trim_removes_head_and_tail_silence(tmp_path):
    sr = 44100
    x = np.zeros((3 * sr, 2))
    x[int(0.5 * sr) : int(2.2 * sr)] = tone_mix(1.7, 440, -12, seed=2, sr=sr)
    x[int(0.3 * sr)] = 10 ** (-70 / 20)  # a click below the threshold stays "silence"
    m = manifest(
        1,
        formats={
            "f": {"codec": "wav", "sample_rate": sr, "bit_depth": 32, "true_peak_ceiling_db": 0.0}
        },
    )
    m["master"]["chain"] = []
    m["tracks"][0]["trim"] = {"auto_threshold_db": -60.0, "auto_pad_s": 0.1, "end_s": 0.2}
    album = tmp_path / "album"
    write_mix(album / "mixes/t1.wav", x, sr, subtype="FLOAT")
    make_album(tmp_path, m)
    run(album)
    y, _ = sf.read(album / "masters/f/01 Track 1.wav")
    first = np.flatnonzero(np.abs(x).max(axis=1) >= 10 ** (-60 / 20))[0]
    last = np.flatnonzero(np.abs(x).max(axis=1) >= 10 ** (-60 / 20))[-1]
    start, stop = first - int(0.1 * sr), last + 1 + int(0.1 * sr) - int(0.2 * sr)
    assert y.shape[0] == stop - start
    assert np.max(np.abs(y - x[start:stop])) < 1e-7


def test_auto_trim_of_a_silent_mix_is_a_clear_error(tmp_path, capsys):
    from masterbuild.cli import main

    m = manifest(1)
    m["tracks"][0]["trim"] = {"auto_threshold_db": -50.0}
    album = tmp_path / "album"
    write_mix(album / "mixes/t1.wav", np.full((44100, 2), 1e-4))
    make_album(tmp_path, m)
    assert main(["build", str(album)]) == 1
    out = capsys.readouterr()
    assert "trim: nothing reaches auto_threshold_db = -50.0 dBFS" in out.out + out.err
