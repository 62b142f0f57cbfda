"""Session notes: every build that changed something appends one entry to NOTES.md."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from masterbuild.manifest.load import load_album
from masterbuild.notebook import describe_tasks, diff_manifest, flatten_manifest
from masterbuild.state import file_digest, read_stamp
from masterbuild.status import pending
from masterbuild.tasks import build
from tests.albums import make_album, manifest, run, tone_mix, write_manifest, write_mix

SECONDS = 4.5  # a CD track lasts at least 4 s (Red Book)
EPOCH = "1795000000"  # 2026-11-18 11:06:40 UTC
HEADING = "## 2026-11-18 11:06 — build"
FORMATS = {
    # A CD programme (per-track results inside programme:album:cd) in album mode...
    "cd": {
        "codec": "wav",
        "sample_rate": 44100,
        "bit_depth": 16,
        "loudness": {"mode": "album", "target_lufs": -16.0},
        "true_peak_ceiling_db": -0.3,
        "cue": True,
    },
    # ...and a file format in track mode.
    "hires": {
        "codec": "flac",
        "sample_rate": 48000,
        "bit_depth": 24,
        "loudness": {"mode": "track", "target_lufs": -16.0},
        "true_peak_ceiling_db": -1.0,
    },
}


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def _manifest() -> dict:
    m = manifest(2, formats={k: dict(v) for k, v in FORMATS.items()})
    # t2 drops its silent head and tail: a mix that never gets loud enough fails to render.
    m["tracks"][1]["trim"] = {"auto_threshold_db": -60.0}
    return m


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Path, dict]:
    m = _manifest()
    album = make_album(tmp_path, m, seconds=SECONDS)
    assert run(album).ran[-1] == "notes:album"
    return album, m


def notes(album: Path) -> str:
    return (album / "NOTES.md").read_text(encoding="utf-8")


def last_entry(album: Path) -> str:
    return "## " + notes(album).rsplit("\n## ", 1)[1]


def figures(album: Path, task: str, track: str | None = None) -> str:
    result = read_stamp(album / ".masterbuild/state", task)["result"]
    if track:
        result = result["tracks"][track]
    return f"{result['integrated_lufs']:.1f} LUFS / {result['true_peak_dbtp']:.1f} dBTP"


# --- pure parts -------------------------------------------------------------------------


def test_flatten_keys_tracks_by_id_and_keeps_the_running_order():
    flat = flatten_manifest(
        {
            "schema": 1,
            "album": {"title": "T"},
            "master": {"chain": [{"kind": "highpass", "freq_hz": 30}]},
            "tracks": [{"id": "dawn", "title": "Dawn", "trim": {"start_s": 1.0}}],
            "formats": {"cd": {"loudness": {"mode": "album", "target_lufs": -10.0}}},
        }
    )
    assert flat == {
        "schema": 1,
        "album.title": "T",
        "master.chain[0].kind": "highpass",
        "master.chain[0].freq_hz": 30,
        "tracks": ["dawn"],
        "tracks[dawn].title": "Dawn",
        "tracks[dawn].trim.start_s": 1.0,
        "formats.cd.loudness.mode": "album",
        "formats.cd.loudness.target_lufs": -10.0,
    }


def test_manifest_diff_lines():
    old = {
        "tracks": ["a", "b"],
        "tracks[a].title": "A",
        "tracks[b].title": "B",
        "formats.cd.codec": "wav",
        "album.genre": "Rock",
    }
    new = {
        "tracks": ["b", "a", "c"],
        "tracks[a].title": "A2",
        "tracks[b].title": "B",
        "tracks[c].title": "C",
        "tracks[c].isrc": "X",
        "formats.mp3.codec": "mp3",
    }
    assert diff_manifest(old, new) == [
        "running order: a, b -> b, a, c",
        '`tracks[a].title`: "A" -> "A2"',
        "`tracks[c]`: added",
        "`formats.mp3`: added",
        "`formats.cd`: removed",
        '`album.genre`: "Rock" -> (unset)',
    ]
    assert diff_manifest(new, new) == []


def test_task_groups_are_summarised():
    tags = [f"tag:a:{f}:{t}" for f in ("cd", "hi", "mp3", "ogg") for t in ("t1", "t2", "t3", "t4")]
    assert describe_tasks("tag", tags) == "tag (4 formats × 4 tracks)"
    assert describe_tasks("tag", ["tag:a:cd:t2", "tag:a:hi:t2"]) == "tag (cd, hi × t2)"
    assert describe_tasks("master", ["master:a:cd:t1", "master:a:hi:t2"]) == (
        "master (cd/t1, hi/t2)"
    )
    assert describe_tasks("render", ["render:a:t1"]) == "render (t1)"
    assert describe_tasks("report", ["report:a"]) == "report"


# --- real builds ------------------------------------------------------------------------


def test_first_build_notes_every_master(built):
    album, _ = built
    text = notes(album)
    assert text.startswith("# Session notes — Test Album\n\n" + HEADING + "\n")
    assert "- First build: 2 track(s) (t1, t2), 2 format(s) (cd, hires)" in text
    for track in ("t1", "t2"):
        assert f"  - cd/{track}: {figures(album, 'programme:album:cd', track)}\n" in text
        assert f"  - hires/{track}: {figures(album, f'master:album:hires:{track}')}\n" in text
    assert (album / ".masterbuild/state/notes.json").is_file()


def test_no_op_build_runs_nothing_and_notes_nothing(built):
    album, _ = built
    before = notes(album)
    assert run(album).ran == []
    assert notes(album) == before
    assert pending(load_album(album)) == []


def test_title_fix_notes_the_key_and_the_tag_tasks(built):
    album, m = built
    m["tracks"][1]["title"] = "Track Two"
    write_manifest(album, m)
    assert run(album).ran[-1] == "notes:album"
    entry = last_entry(album)
    assert entry.startswith(HEADING + "\n")
    assert '  - `tracks[t2].title`: "Track 2" -> "Track Two"\n' in entry
    assert "  - tag (cd, hires × t2): " in entry
    assert 'tags.title: "Track 2" -> "Track Two"' in entry
    assert "master (" not in entry and "render (" not in entry
    assert "- Masters: no figures changed\n" in entry
    assert str(album) not in entry  # paths inside the album are shown relative to it
    assert run(album).ran == []


def test_source_revision_notes_the_hash_the_tasks_and_the_loudness(built):
    album, _ = built
    src = album / "mixes/t2.wav"
    old_hash = file_digest(src)
    before = {
        "cd": figures(album, "programme:album:cd", "t2"),
        "hires": figures(album, "master:album:hires:t2"),
    }
    write_mix(src, tone_mix(SECONDS, 440, -3, seed=99))  # a louder revision
    run(album)
    entry = last_entry(album)
    assert f"  - t2: {old_hash[:12]} -> {file_digest(src)[:12]}\n" in entry
    assert "  - render (t2): source mix (content)\n" in entry
    assert "  - master (" in entry and "hires/t2" in entry
    after = {
        "cd": figures(album, "programme:album:cd", "t2"),
        "hires": figures(album, "master:album:hires:t2"),
    }
    assert before["cd"] != after["cd"]
    for fmt in ("cd", "hires"):
        assert f"  - {fmt}/t2: {before[fmt]} -> {after[fmt]}\n" in entry
    assert "hires/t1" not in entry  # track mode: the other track's master did not change
    assert "`tracks[" not in entry  # the manifest did not change


def test_message_lands_in_the_entry_even_when_nothing_changed(built):
    album, m = built
    m["album"]["genre"] = "Ambient"
    write_manifest(album, m)
    run(album, message="client asked for a genre fix\nsecond thought")
    entry = last_entry(album)
    assert "\n> client asked for a genre fix\n> second thought\n" in entry
    assert '`album.genre`: "Test" -> "Ambient"' in entry
    assert run(album, message="listened on the car stereo").ran == ["notes:album"]
    entry = last_entry(album)
    assert "> listened on the car stereo\n" in entry and "- No changes\n" in entry
    assert run(album).ran == []


def test_failed_build_notes_nothing_and_the_next_entry_covers_it(built):
    album, m = built
    before = notes(album)
    old_hash = file_digest(album / "mixes/t2.wav")
    m["tracks"][0]["title"] = "Renamed"
    m["tracks"][0]["chain"] = [{"kind": "highpass", "freq_hz": 40}]
    write_manifest(album, m)
    write_mix(album / "mixes/t2.wav", tone_mix(SECONDS, 440, -70, seed=5))  # below -60 dBFS
    failed = build([album], out=io.StringIO())
    assert failed.status == 1 and "notes:album" not in failed.ran
    assert "render:album:t1" in failed.ran  # t1's re-render went through
    assert notes(album) == before

    write_mix(album / "mixes/t2.wav", tone_mix(SECONDS, 440, -9, seed=5))
    ran = run(album).ran
    assert "render:album:t1" not in ran
    entry = last_entry(album)
    assert notes(album).count("\n## ") == 2
    assert '`tracks[t1].title`: "Track 1" -> "Renamed"' in entry
    assert f"  - t2: {old_hash[:12]} -> {file_digest(album / 'mixes/t2.wav')[:12]}\n" in entry
    assert "  - render (t1): chain[0].freq_hz: " in entry  # ran in the failed build
    assert "  - render (t2): source mix (content)\n" in entry
    assert "  - hires/t1: " in entry and "  - hires/t2: " in entry


def test_partial_build_leaves_the_other_formats_to_their_build(built):
    album, m = built
    m["tracks"][0]["title"] = "Renamed"
    m["formats"]["cd"]["loudness"]["target_lufs"] = -14.0
    write_manifest(album, m)
    run(album, formats=["hires"])
    entry = last_entry(album)
    assert entry.startswith(HEADING + " --format hires\n")
    assert '`tracks[t1].title`: "Track 1" -> "Renamed"' in entry
    assert "target_lufs" not in entry and "cd/" not in entry
    run(album)
    entry = last_entry(album)
    assert "`formats.cd.loudness.target_lufs`: -16.0 -> -14.0" in entry
    assert "`tracks[t1].title`" not in entry
    assert "  - cd/t1: " in entry and "  - hires/" not in entry  # no hires master changed
    assert str(album) not in entry
    assert run(album).ran == []
    assert run(album, formats=["hires"]).ran == []


def test_deleted_notes_start_afresh(built):
    album, m = built
    (album / "NOTES.md").unlink()
    assert run(album).ran == []  # deleting the notes is not a change to the album
    m["album"]["genre"] = "Ambient"
    write_manifest(album, m)
    run(album)
    text = notes(album)
    assert text.startswith("# Session notes — Test Album\n\n" + HEADING + "\n")
    assert text.count("\n## ") == 1 and "First build" not in text


def test_cli_build_message_and_notes(tmp_path):
    album = make_album(tmp_path, _manifest(), seconds=SECONDS)
    mb = [sys.executable, "-m", "masterbuild"]
    r = subprocess.run([*mb, "notes", str(album)], capture_output=True, text=True)
    assert r.returncode == 0 and "no session notes yet" in r.stdout
    r = subprocess.run(
        [*mb, "build", str(album), "--format", "hires", "--message", "first pass"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*mb, "notes", str(album)], capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout == notes(album)
    assert "> first pass\n" in r.stdout and "- First build:" in r.stdout


def test_manifest_edit_that_rebuilds_nothing_is_still_noted(built):
    album, m = built
    (album / "mixes/t1_copy.wav").write_bytes((album / "mixes/t1.wav").read_bytes())
    m["tracks"][0]["source"] = "mixes/t1_copy.wav"
    write_manifest(album, m)
    assert pending(load_album(album)) == [
        ("notes:album", ["changes since the last session-notes entry"])
    ]
    assert run(album).ran == ["notes:album"]
    entry = last_entry(album)
    assert '`tracks[t1].source`: "mixes/t1.wav" -> "mixes/t1_copy.wav"' in entry
    assert "- Ran" not in entry and "- Sources" not in entry and "- Masters" not in entry
