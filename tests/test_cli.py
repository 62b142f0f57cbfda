"""The command line as users and scripts run it (DESIGN.md 1.3)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.albums import make_album, manifest, write_manifest

ROOT = Path(__file__).resolve().parent.parent


def mb(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "masterbuild", *args], capture_output=True, text=True, cwd=cwd
    )


def test_doit_and_masterbuild_share_build_state(tmp_path):
    """After either one, the other finds nothing to do."""
    shutil.copy(ROOT / "dodo.py", tmp_path / "dodo.py")
    m = manifest(2, formats={"cd": {"codec": "wav", "sample_rate": 44100, "bit_depth": 16}})
    album = make_album(tmp_path / "albums", m)
    album = album.rename(tmp_path / "albums" / "small")
    first = subprocess.run(["doit"], cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert ".  master:small:cd:t1" in first.stdout
    again = mb("build", "albums/small", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout

    m["tracks"][0]["title"] = "Renamed"
    write_manifest(album, m)
    built = mb("build", "albums/small", cwd=tmp_path)
    assert built.returncode == 0 and "tag:small:cd:t1" in built.stdout
    second = subprocess.run(["doit"], cwd=tmp_path, capture_output=True, text=True)
    assert second.returncode == 0
    ran = [ln for ln in second.stdout.splitlines() if ln.startswith(".  ") and ":small:" in ln]
    assert ran == [], second.stdout


def test_build_default_finds_albums_and_status_reports(tmp_path):
    make_album(
        tmp_path / "albums", manifest(1, formats={"cd": {"codec": "flac", "sample_rate": 44100}})
    )
    r = mb("status", "albums/album", cwd=tmp_path)
    assert r.returncode == 0 and "render:album:t1: never built" in r.stdout
    r = mb("build", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "albums/album/masters/cd/01 Track 1.flac").is_file()
    r = mb("status", "albums/album", cwd=tmp_path)
    assert "up to date" in r.stdout


def test_build_with_no_albums_is_an_error(tmp_path):
    r = mb("build", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("albums: -: no albums/*/album.toml here")


def test_build_one_format_only(tmp_path):
    album = make_album(tmp_path, manifest(1))
    r = mb("build", str(album), "--format", "mp3")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (album / "masters").iterdir()) == ["mp3"]
    r = mb("build", str(album), "--format", "vinyl")
    assert r.returncode == 1 and "no format named 'vinyl'" in r.stderr


def test_missing_album_folder_is_one_line(tmp_path):
    r = mb("build", str(tmp_path / "nope"))
    assert r.returncode == 1
    assert r.stderr.strip().endswith("no album.toml here: give an album folder or its album.toml")
    assert "Traceback" not in r.stderr


def test_measure_json_contract(tmp_path):
    album = make_album(tmp_path, manifest(1))
    r = mb("measure", str(album / "mixes/t1.wav"), "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert set(rows[0]) == {
        "file",
        "integrated_lufs",
        "lra_lu",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "max_momentary_lufs",
        "max_short_term_lufs",
    }
    r = mb("measure", str(album / "album.toml"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and ": audio: " in r.stderr


def test_doit_reports_an_invalid_album_and_builds_the_others(tmp_path):
    shutil.copy(ROOT / "dodo.py", tmp_path / "dodo.py")
    good = make_album(
        tmp_path / "albums", manifest(1, formats={"cd": {"codec": "flac", "sample_rate": 44100}})
    )
    good.rename(tmp_path / "albums" / "good")
    bad_manifest = manifest(1)
    bad_manifest["album"]["upc"] = "036000241458"
    bad = make_album(tmp_path / "other", bad_manifest)
    bad.rename(tmp_path / "albums" / "bad")
    r = subprocess.run(["doit"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0
    assert "albums/bad/album.toml: album.upc: " in r.stdout + r.stderr
    assert (tmp_path / "albums/good/masters/cd/01 Track 1.flac").is_file()
