"""Incremental builds: each edit re-runs exactly the tasks it must (issue 2, item 6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from masterbuild.manifest.load import load_album
from masterbuild.status import pending
from tests.albums import (
    kinds,
    make_album,
    manifest,
    run,
    snapshot,
    tone_mix,
    write_manifest,
    write_mix,
)


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Path, dict]:
    m = manifest(3)
    album = make_album(tmp_path, m)
    first = run(album)
    assert first.ran, "the first build must run tasks"
    return album, m


def test_nothing_changed_runs_nothing(built):
    album, _ = built
    assert run(album).ran == []
    assert pending(load_album(album)) == []


def test_new_mix_in_place_rerenders_that_track_only(built):
    album, _ = built
    before = snapshot(album / "masters")
    # a revised mix: same song and level, different details (the noise floor)
    write_mix(album / "mixes/t2.wav", tone_mix(2.5, 440, -8, seed=99))
    status = dict(pending(load_album(album)))
    assert "source mix (content)" in " ".join(status["render:album:t2"])
    ran = run(album).ran
    assert {n for n in ran if n.startswith(("render", "master"))} == {
        "render:album:t2",
        "master:album:cd:t2",
        "master:album:hires:t2",
        "master:album:mp3:t2",
    }
    # album artifacts, plus t2's tags; the other tracks' masters are untouched
    assert kinds(ran) <= {
        "render",
        "gain",
        "master",
        "loudness",
        "qc",
        "tag",
        "playlist",
        "report",
        "notes",
    }
    after = snapshot(album / "masters")
    for fmt in ("hires", "mp3"):  # track-mode formats: other tracks' audio is not rewritten
        for n in (1, 3):
            name = next(k for k in after if k.startswith(f"{fmt}/0{n} "))
            if fmt == "hires":
                assert after[name] == before[name]
            else:
                # Their ID3 tag may be: the album ReplayGain peak is the largest over the
                # album, t2's new master included (it moved 0.2500 -> 0.2495 here).
                assert _mp3_audio(after[name][1]) == _mp3_audio(before[name][1])


def _mp3_audio(data: bytes) -> bytes:
    """An MP3 file without its leading ID3v2 tag."""
    if data[:3] != b"ID3":
        return data
    size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | data[9] & 0x7F
    return data[10 + size + (10 if data[5] & 0x10 else 0) :]


def test_louder_revision_moves_album_gain_in_album_mode_formats_only(built):
    album, _ = built
    write_mix(album / "mixes/t2.wav", tone_mix(2.5, 440, -2, seed=1))
    ran = run(album).ran
    masters = {n for n in ran if n.startswith("master")}
    # cd is album mode: one gain for all, so every cd master follows the new album gain;
    # the track-mode formats re-master t2 only.
    assert masters == {f"master:album:cd:t{i}" for i in (1, 2, 3)} | {
        "master:album:hires:t2",
        "master:album:mp3:t2",
    }


def test_source_pointed_at_new_file(built):
    album, m = built
    # mix v2: the same mix, 0.05 dB quieter
    import soundfile as sf

    x, sr = sf.read(album / "mixes/t1.wav")
    write_mix(album / "mixes/t1_v2.wav", x * 10 ** (-0.05 / 20), sr)
    m["tracks"][0]["source"] = "mixes/t1_v2.wav"
    write_manifest(album, m)
    ran = run(album).ran
    assert {n for n in ran if n.startswith(("render", "master"))} == {
        "render:album:t1",
        "master:album:cd:t1",
        "master:album:hires:t1",
        "master:album:mp3:t1",
    }


def test_same_content_under_new_name_runs_no_render(built):
    album, m = built
    (album / "mixes/t1_copy.wav").write_bytes((album / "mixes/t1.wav").read_bytes())
    m["tracks"][0]["source"] = "mixes/t1_copy.wav"
    write_manifest(album, m)
    assert run(album).ran == ["notes:album"]  # the manifest edit is noted, nothing rebuilt


def test_chain_edit_rerenders_that_track_only(built):
    album, m = built
    m["tracks"][2]["chain"] = [{"kind": "highpass", "freq_hz": 40}]
    write_manifest(album, m)
    ran = run(album).ran
    assert {n for n in ran if n.startswith("render")} == {"render:album:t3"}
    assert {n for n in ran if n.startswith("master")} <= {
        f"master:album:{f}:t3" for f in ("cd", "hires", "mp3")
    }


def test_format_edit_rebuilds_that_format_only(built):
    album, m = built
    m["formats"]["mp3"]["bitrate_kbps"] = 256
    write_manifest(album, m)
    ran = run(album).ran
    assert not any(n.startswith("render") for n in ran)
    per_format = [n for n in ran if n.split(":")[0] in ("master", "tag", "playlist", "loudness")]
    assert per_format and all(n.split(":")[2] == "mp3" for n in per_format)


def test_title_fix_retags_without_encoding(built):
    album, m = built
    m["tracks"][1]["title"] = "Track Two"
    write_manifest(album, m)
    ran = run(album).ran
    assert kinds(ran) <= {"tag", "playlist", "report", "prune", "notes"}
    assert {n for n in ran if n.startswith("tag")} == {
        f"tag:album:{f}:t2" for f in ("cd", "hires", "mp3")
    }
    names = sorted(p.name for p in (album / "masters/cd").iterdir())
    assert "02 Track Two.wav" in names and "02 Track 2.wav" not in names


def test_album_metadata_fix_retags_every_track_only(built):
    album, m = built
    m["album"]["genre"] = "Ambient"
    write_manifest(album, m)
    ran = run(album).ran
    assert kinds(ran) <= {"tag", "report", "notes"}
    assert len([n for n in ran if n.startswith("tag")]) == 9


def test_reorder_renames_and_retags_only(built):
    album, m = built
    m["tracks"] = [m["tracks"][2], m["tracks"][0], m["tracks"][1]]
    write_manifest(album, m)
    ran = run(album).ran
    # qc: the pictures follow the running order
    assert kinds(ran) <= {"tag", "playlist", "qc", "report", "prune", "notes"}
    names = sorted(p.name for p in (album / "masters/cd").glob("*.wav"))
    assert names == ["01 Track 3.wav", "02 Track 1.wav", "03 Track 2.wav"]
    playlist = (album / "masters/cd/playlist.m3u8").read_text().splitlines()
    assert [line for line in playlist if not line.startswith("#")] == names


def test_removed_track_disappears(built):
    album, m = built
    other_before = snapshot(album / "masters/hires")
    m["tracks"] = m["tracks"][:2]
    write_manifest(album, m)
    ran = run(album).ran
    assert not any(n.startswith("render") for n in ran)
    # Only the album-mode format may re-master (the album's loudness changed).
    assert all(n.split(":")[2] == "cd" for n in ran if n.startswith("master"))
    for fmt, ext in (("cd", "wav"), ("hires", "flac"), ("mp3", "mp3")):
        assert sorted(p.name for p in (album / "masters" / fmt).glob(f"*.{ext}")) == [
            f"01 Track 1.{ext}",
            f"02 Track 2.{ext}",
        ]
    # Only the track total in the tags changed: the audio of the rest is untouched.
    import soundfile as sf

    for name in ("01 Track 1.flac", "02 Track 2.flac"):
        a, _ = sf.read(album / "masters/hires" / name)
        old = album / "old.flac"
        old.write_bytes(other_before[name][1])
        b, _ = sf.read(old)
        assert (a == b).all()
    assert not list((album / ".masterbuild/cache/render").glob("t3*"))
    assert run(album).ran == []


def test_removed_format_disappears_rest_untouched(built):
    album, m = built
    before = snapshot(album / "masters")
    del m["formats"]["hires"]
    write_manifest(album, m)
    ran = run(album).ran
    assert kinds(ran) <= {"report", "prune", "notes"}
    assert not (album / "masters/hires").exists()
    after = snapshot(album / "masters")
    for key in after:
        if key.startswith(("cd/", "mp3/")):
            assert after[key] == before[key]
    assert run(album).ran == []


def test_deleted_deliverable_is_remade(built):
    album, _ = built
    target = next((album / "masters/cd").glob("01 *.wav"))
    data = target.read_bytes()
    os.unlink(target)
    ran = run(album).ran
    assert ran == ["tag:album:cd:t1"] or set(ran) <= {"tag:album:cd:t1", "report:album"}
    assert target.read_bytes() == data


def test_status_explains_a_chain_change(built):
    album, m = built
    m["master"]["chain"] = [{"kind": "highpass", "freq_hz": 35}]
    write_manifest(album, m)
    todo = dict(pending(load_album(album)))
    assert any("freq_hz: 30.0 -> 35.0" in r for r in todo["render:album:t1"])
    assert todo["master:album:cd:t1"][0].startswith("after render:album:t1")
