"""Never lose the user's work: sources read-only, outputs atomic, failures leave the old masters."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import soundfile as sf

from masterbuild.cli import main
from masterbuild.tasks import build
from tests.albums import make_album, manifest, run, snapshot, write_manifest


def test_sources_are_never_written(tmp_path):
    album = make_album(tmp_path, manifest(2))
    mixes = album / "mixes"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in mixes.iterdir()}
    for p in mixes.iterdir():
        p.chmod(stat.S_IRUSR | stat.S_IRGRP)
    mixes.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        run(album)
    finally:
        mixes.chmod(0o755)
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in mixes.iterdir()}
    assert after == before


def test_failed_build_keeps_previous_masters(tmp_path, capsys):
    m = manifest(2)
    album = make_album(tmp_path, m)
    run(album)
    before = snapshot(album / "masters")
    # a new mix of t2 that is damaged: its render fails, nothing of t2 may change
    x = np.full((44100 * 2, 2), 0.1)
    x[1000, 1] = np.inf
    sf.write(album / "mixes/t2.wav", x, 44100, subtype="FLOAT")
    assert main(["build", str(album)]) == 1
    out = capsys.readouterr()
    assert "NaN or infinite samples" in out.out + out.err
    assert snapshot(album / "masters") == before
    assert not [p for p in album.rglob("*.partial")]


def test_unwritable_output_folder_is_one_line(tmp_path):
    album = make_album(tmp_path, manifest(1))
    (album / "masters").write_text("a file where the masters folder should be")
    outcome = build([album], out=io.StringIO())
    assert outcome.status == 1
    messages = [m for _, m in outcome.failures]
    assert any("cannot create the output folder" in m for m in messages), messages
    assert all("Traceback" not in m for m in messages)
    if os.geteuid() != 0:  # permissions do not stop root
        (album / "masters").unlink()
        (album / "masters").mkdir(mode=0o555)
        assert build([album], out=io.StringIO()).status == 1


def test_killed_build_never_leaves_a_trusted_half_file(tmp_path):
    """Kill a rebuild at several moments; each deliverable is always a whole file,
    and the next build finishes with the same masters as an uninterrupted one."""
    m = manifest(3)
    album = make_album(tmp_path, m, seconds=6.0)
    run(album)
    m["master"]["chain"] = [{"kind": "highpass", "freq_hz": 45}]
    write_manifest(album, m)
    reference = tmp_path / "reference"
    import shutil

    shutil.copytree(album, reference, ignore=shutil.ignore_patterns("masters", ".masterbuild"))
    run(reference)
    for delay_s in (0.6, 1.5, 2.5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "masterbuild", "build", str(album)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for f in (album / "masters").rglob("*"):
            if (
                f.is_file()
                and not f.name.endswith(".partial")
                and f.suffix in (".wav", ".flac", ".mp3")
            ):
                assert sf.info(str(f)).frames > 0  # whole, decodable
    # a temp file of a dead writer, as a kill during tagging leaves it
    (album / "masters/cd/.01 Track 1.wav.999999.partial").write_bytes(b"half")
    run(album)
    assert not list(album.rglob("*.partial"))
    ours = {k: v[1] for k, v in snapshot(album / "masters").items()}
    theirs = {k: v[1] for k, v in snapshot(reference / "masters").items()}
    assert ours.keys() == theirs.keys()
    for key in ours:
        if not key.startswith("report"):
            assert ours[key] == theirs[key], key
