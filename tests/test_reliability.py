"""Reliability: one build of an album at a time, progress on a terminal, and builds
killed (SIGKILL, SIGINT) at random moments that a rebuild always completes to the
very same masters."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from masterbuild.errors import MasterbuildError
from masterbuild.tasks import build, progress_line
from tests.albums import make_album, manifest, run

ROOT = Path(__file__).resolve().parent.parent
FORMATS = {
    "cd": {"preset": "cd", "loudness": {"mode": "album", "target_lufs": -14.0}},
    "hires": {"codec": "flac", "sample_rate": 48000, "bit_depth": 24},
    "mp3": {"preset": "mp3-320", "loudness": {"mode": "track", "target_lufs": -14.0}},
}


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- progress --------------------------------------------------------------------------


def test_progress_line():
    assert progress_line(3, 54, 75.2, ["master:a:cd:t1"]) == "[ 3/54] 1:15  master:a:cd:t1"
    line = progress_line(12, 54, 5, ["master:a:cd:t1", "master:a:cd:t2"])
    assert line == "[12/54] 0:05  master:a:cd:t1 (+1 more)"
    assert progress_line(54, 54, 0, []) == "[54/54] 0:00  "


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_status_line_and_a_pipe_plain_lines(tmp_path):
    album = make_album(tmp_path, manifest(2, formats={"hires": FORMATS["hires"]}), seconds=1.0)
    tty = _Terminal()
    outcome = build([album], out=tty)
    assert outcome.status == 0
    text = tty.getvalue()
    total = len(outcome.ran)
    assert f"[{total}/{total}]" in text and "\r\x1b[K" in text
    assert "\n  render:" not in text  # no plain lines on a terminal
    (album / "album.toml").write_text((album / "album.toml").read_text().replace("Track 1", "T1"))
    pipe = io.StringIO()
    outcome = build([album], out=pipe)
    assert "\x1b" not in pipe.getvalue()
    assert "  tag:album:hires:t1\n" in pipe.getvalue()


# --- one build at a time ----------------------------------------------------------------

_HOLD = """
import sys, time
from pathlib import Path
from masterbuild import lock
lock.acquire(Path(sys.argv[1]), "holder")
print("held", flush=True)
time.sleep(60)
"""


def _holder(state_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(state_dir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_build_of_the_same_album_is_refused_in_one_line(tmp_path):
    shutil.copy(ROOT / "dodo.py", tmp_path / "dodo.py")
    m = manifest(1, formats={"hires": FORMATS["hires"]})
    album = make_album(tmp_path / "albums", m, seconds=1.0).rename(tmp_path / "albums/one")
    run(album)
    before = _contents(album / "masters")
    state = album / ".masterbuild/state/tasks"
    stamps = _contents(state)
    holder = _holder(album / ".masterbuild")
    try:
        with pytest.raises(MasterbuildError, match=r"another build of this album is running"):
            build([album], out=io.StringIO())
        r = subprocess.run(
            [sys.executable, "-m", "masterbuild", "build", str(album)],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 1 and "Traceback" not in r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith(f"{album}: -: another build of this album is running (pid ")
        assert f"(pid {holder.pid})" in line
        d = subprocess.run(["doit"], cwd=tmp_path, capture_output=True, text=True)
        assert d.returncode != 0 and "another build of this album is running" in d.stdout + d.stderr
        assert _contents(album / "masters") == before and _contents(state) == stamps
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the killed holder's lock: the album builds again.
    assert build([album], out=io.StringIO()).status == 0


def test_two_builds_at_once_one_wins_and_state_stays_whole(tmp_path):
    m = manifest(2, formats={"hires": FORMATS["hires"]})
    album = make_album(tmp_path, m, seconds=2.0)
    cmd = [sys.executable, "-m", "masterbuild", "build", str(album)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    time.sleep(0.3)
    procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(p.wait(), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 1])  # the second either came after the first, or was refused
    for code, _, err in results:
        if code == 1:
            assert "another build of this album is running" in err
    assert run(album).ran == []  # the state is whole: nothing left to do


# --- killed builds ------------------------------------------------------------------------


def _no_temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".partial")]


@pytest.fixture(scope="module")
def kill_album(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    album = make_album(root, manifest(2, formats=FORMATS), seconds=4.5)
    reference = root / "reference"
    shutil.copytree(album, reference)
    start = time.monotonic()
    run(reference)
    return album, _contents(reference / "masters"), time.monotonic() - start


@pytest.mark.parametrize("moment", range(20))
def test_a_build_killed_at_a_random_moment_rebuilds_to_the_same_masters(kill_album, moment):
    album, reference, full_s = kill_album
    rng = random.Random(moment)
    sig = signal.SIGKILL if moment % 2 == 0 else signal.SIGINT
    shutil.rmtree(album / ".masterbuild", ignore_errors=True)
    shutil.rmtree(album / "masters", ignore_errors=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "masterbuild", "build", str(album), "-j", str(1 + moment % 3 // 2)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal's Ctrl-C reaches the whole group
    )
    time.sleep(rng.uniform(0.3, max(0.5, 1.5 * full_s)))
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    masters = album / "masters"
    if masters.is_dir():
        # Whatever is under a final name is whole: the reference's very bytes.
        for name, data in _contents(masters).items():
            if not name.split("/")[-1].startswith("."):
                assert data == reference[name], name
        if sig == signal.SIGINT:
            assert _no_temp_files(masters) == []  # an interrupted build cleans up after itself
    run(album)
    assert _no_temp_files(album) == []
    assert _contents(masters) == reference


# --- reproducible -----------------------------------------------------------------------


def test_clean_builds_in_other_places_are_byte_identical(kill_album, tmp_path):
    """Other folder, other temp dir, other -j: the same masters, cue, DDP and report."""
    album, reference, _ = kill_album
    for n, jobs in enumerate(("1", "2")):
        copy = tmp_path / f"copy{n}" / "deep" / "album"
        shutil.copytree(album, copy, ignore=shutil.ignore_patterns("masters", ".masterbuild"))
        temp = tmp_path / f"tmp{n}"
        temp.mkdir()
        r = subprocess.run(
            [sys.executable, "-m", "masterbuild", "build", str(copy), "-j", jobs],
            capture_output=True,
            text=True,
            env={**os.environ, "TMPDIR": str(temp)},
        )
        assert r.returncode == 0, r.stderr
        got = _contents(copy / "masters")
        assert got.keys() == reference.keys()
        assert {k for k in got if got[k] != reference[k]} == set()
    assert {"cd/Test Album.cue", "cd/DDP/IMAGE.DAT", "report.json", "report.html"} <= got.keys()


def test_album_solves_run_side_by_side(tmp_path):
    """Album-gain solves share nothing but the renders' limiter profiles (the limiter
    model needs no simulation cache), so a parallel build runs them side by side."""
    from masterbuild.manifest.load import load_album
    from masterbuild.plan import plan_album

    album_mode = {"mode": "album", "target_lufs": -14.0}
    formats = {
        "a": {"codec": "flac", "sample_rate": 48000, "loudness": album_mode},
        "b": {"codec": "wav", "sample_rate": 44100, "loudness": album_mode},
        "c": {"codec": "flac", "loudness": album_mode, "true_peak_ceiling_db": -2.0},
    }
    album = make_album(tmp_path, manifest(1, formats=formats), seconds=1.0)
    specs = plan_album(load_album(album))
    deps = {s.name: s.task_dep for s in specs if s.kind == "gain"}
    assert len(deps) == 3
    renders = {s.name for s in specs if s.kind == "render"}
    assert all(set(d) == renders for d in deps.values())


def test_allocator_tuning_takes_on_glibc_and_is_skipped_elsewhere() -> None:
    # An optimisation only, but on glibc every mallopt() must be accepted (returns 1).
    import platform

    from masterbuild.allocator import keep_freed_blocks

    assert keep_freed_blocks() is (platform.libc_ver()[0] == "glibc")
