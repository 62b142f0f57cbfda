"""A CD format end to end: programme image + cue + DDP + per-track files, all agreeing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from masterbuild.cd.ddp import read_ddp
from masterbuild.cd.layout import SAMPLES_PER_FRAME
from masterbuild.cli import main
from tests.albums import kinds, make_album, manifest, run, tone_mix, write_manifest, write_mix

pytestmark = pytest.mark.skipif(
    shutil.which("cdrdao") is None, reason="cdrdao is installed by setup.sh"
)

CD = {
    "codec": "wav",
    "sample_rate": 44100,
    "bit_depth": 16,
    "cue": True,
    "ddp": True,
    "loudness": {"mode": "album", "target_lufs": -14.0},
    "true_peak_ceiling_db": -0.3,
}


def cd_manifest(index_s: list[float] | None = None) -> dict:
    m = manifest(3, formats={"cd": dict(CD)})
    m["tracks"][1]["crossfade_s"] = 1.0
    m["tracks"][2]["gap_s"] = 1.0
    if index_s:
        m["tracks"][0]["index_s"] = index_s
    return m


@pytest.fixture()
def built(tmp_path) -> tuple[Path, dict]:
    m = cd_manifest(index_s=[2.0])
    album = make_album(tmp_path, m, seconds=6.0)
    run(album)
    return album, m


def _cdrdao_starts(cue: Path) -> list[int]:
    out = subprocess.run(
        ["cdrdao", "show-toc", cue.name], cwd=cue.parent, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return [int(x) for x in re.findall(r"START\s+\d+:\d+:\d+\(\s*(\d+)\)", out.stdout)]


def test_disc_image_cue_ddp_and_files_agree_sample_for_sample(built):
    album, _ = built
    out = album / "masters/cd"
    image, _ = sf.read(out / "Test Album.wav", dtype="int16")
    info = read_ddp(out / "DDP")  # verifies the MD5s and stream lengths
    assert (out / "DDP/IMAGE.DAT").stat().st_size == image.shape[0] * 4
    layout = info.layout
    assert [t.isrc for t in layout.tracks] == ["USABC2600001", "USABC2600002", "USABC2600003"]
    assert layout.tracks[0].pregap_frames == 150 and layout.tracks[1].pregap_frames == 0
    assert layout.tracks[0].index_frames == (150 + 150,)
    for n, track in enumerate(layout.tracks, start=1):
        per_track, _ = sf.read(out / f"0{n} Track {n}.wav", dtype="int16")
        from_image = image[
            track.start_frame * SAMPLES_PER_FRAME : track.end_frame * SAMPLES_PER_FRAME
        ]
        assert np.array_equal(per_track, from_image)
        assert np.array_equal(info.track_audio(n)[: len(per_track)], per_track)
    # cuebreakpoints (cuetools) reads the same track starts as the DDP's PQ
    bp = subprocess.run(
        ["cuebreakpoints", "Test Album.cue"], cwd=out, capture_output=True, text=True, check=True
    )
    starts = []
    for line in bp.stdout.split():
        mm, rest = line.split(":")
        ss, ff = rest.split(".")
        starts.append((int(mm) * 60 + int(ss)) * 75 + int(ff))
    assert starts == [t.start_frame for t in layout.tracks[1:]]
    assert (
        subprocess.run(
            ["md5sum", "-c", "CHECKSUM.MD5"], cwd=out / "DDP", capture_output=True
        ).returncode
        == 0
    )


def test_cdrdao_reads_the_cue_sheet_frame_for_frame(tmp_path):
    album = make_album(tmp_path, cd_manifest(), seconds=6.0)
    run(album)
    info = read_ddp(album / "masters/cd/DDP")
    assert _cdrdao_starts(album / "masters/cd/Test Album.cue") == [
        t.start_frame for t in info.layout.tracks
    ]


def test_gap_change_touches_only_the_cd_artifacts(built):
    album, m = built
    m["tracks"][2]["gap_s"] = 2.5
    write_manifest(album, m)
    ran = run(album).ran
    assert "programme:album:cd" in ran
    assert kinds(ran) <= {"programme", "loudness", "qc", "tag", "playlist", "report", "notes"}
    assert read_ddp(album / "masters/cd/DDP").layout.tracks[2].pregap_frames == round(2.5 * 75)


def test_revised_track_rerenders_it_and_the_programme_only(built):
    album, _ = built
    x, sr = sf.read(album / "mixes/t3.wav")
    write_mix(album / "mixes/t3.wav", x * 10 ** (-0.05 / 20), sr)
    ran = run(album).ran
    assert {n for n in ran if n.startswith(("render", "master"))} == {
        "render:album:t3",
        "master:album:cd:t3",
    }
    assert "programme:album:cd" in ran


def test_cd_text_outside_latin1_is_found_before_rendering(tmp_path, capsys):
    m = manifest(1, formats={"cd": dict(CD)})
    m["tracks"][0]["title"] = "夜明け"
    album = make_album(tmp_path, m, seconds=5.0)
    assert main(["validate", str(album)]) == 1
    err = capsys.readouterr().err
    assert "formats.cd: CD-Text: " in err and "ISO 8859-1" in err


def test_a_cd_format_must_be_red_book_audio(tmp_path, capsys):
    m = manifest(1, formats={"cd": {**CD, "sample_rate": 48000}})
    album = make_album(tmp_path, m)
    assert main(["validate", str(album)]) == 1
    assert "must be Red Book audio" in capsys.readouterr().err


def test_a_track_under_four_seconds_is_a_one_line_error(tmp_path, capsys):
    m = manifest(2, formats={"cd": dict(CD)})
    album = tmp_path / "album"
    write_mix(album / "mixes/t1.wav", tone_mix(3.0, 220, -6, seed=1))
    write_mix(album / "mixes/t2.wav", tone_mix(5.0, 330, -6, seed=2))
    make_album(tmp_path, m)
    assert main(["build", str(album)]) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "album.toml: tracks[0]: is 3.00 s" in text and "at least 4.00 s" in text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) == 1  # one line, and no task ran
    assert not (album / ".masterbuild/cache/render").exists()  # found before rendering
    assert main(["validate", str(album)]) == 1  # validate finds it too


def test_ddp_info_verifies_prints_and_extracts(built, tmp_path, capsys):
    album, _ = built
    ddp = album / "masters/cd/DDP"
    assert main(["ddp-info", str(ddp), "--extract", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert "USABC2600002" in out and "checksums: OK" in out
    for n in (1, 2, 3):
        a, _ = sf.read(tmp_path / f"x/0{n}.wav", dtype="int16")
        b, _ = sf.read(album / f"masters/cd/0{n} Track {n}.wav", dtype="int16")
        assert np.array_equal(a, b)
    damaged = tmp_path / "damaged"
    shutil.copytree(ddp, damaged)
    data = bytearray((damaged / "IMAGE.DAT").read_bytes())
    data[1000] ^= 0xFF
    (damaged / "IMAGE.DAT").write_bytes(bytes(data))
    assert main(["ddp-info", str(damaged)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "IMAGE.DAT" in err[0]


def test_report_pq_sheet_matches_the_ddp(built):
    import json

    from masterbuild.cd.layout import frames_to_msf

    album, _ = built
    pq = json.loads((album / "masters/report.json").read_text())["formats"]["cd"]["pq"]
    layout = read_ddp(album / "masters/cd/DDP").layout
    assert [(r["start"], r["length"], r["pause"], r["isrc"]) for r in pq] == [
        (
            frames_to_msf(t.start_frame),
            frames_to_msf(t.length_frames),
            frames_to_msf(t.pregap_frames),
            t.isrc,
        )
        for t in layout.tracks
    ]
    assert "PQ sheet" in (album / "masters/report.html").read_text()


def test_hidden_track_lives_in_the_pregap_on_cd_and_is_a_track_elsewhere(tmp_path):
    m = manifest(3, formats={"cd": dict(CD), "flac": {"codec": "flac", "sample_rate": 44100}})
    m["tracks"][0]["hidden"] = True
    album = make_album(tmp_path, m, seconds=5.0)
    run(album)
    cd = sorted(p.name for p in (album / "masters/cd").glob("0*.wav"))
    assert cd == ["01 Track 2.wav", "02 Track 3.wav"]  # no file, no number for the hidden track
    flac = sorted(p.name for p in (album / "masters/flac").glob("*.flac"))
    assert flac == ["01 Track 1.flac", "02 Track 2.flac", "03 Track 3.flac"]
    layout = read_ddp(album / "masters/cd/DDP").layout
    assert len(layout.tracks) == 2 and layout.tracks[0].pregap_start_frame == 0
    image, _ = sf.read(album / "masters/cd/Test Album.wav", dtype="int16")
    pregap = image[: layout.tracks[0].start_frame * SAMPLES_PER_FRAME]
    assert np.abs(pregap[: 4 * 44100].astype(float)).mean() > 100  # the hidden audio is there
    from masterbuild.tags import read_tags

    tags = read_tags(album / "masters/cd/01 Track 2.wav", "wav")
    assert (tags["track_number"], tags["track_total"]) == ("1", "2")
    cue = (album / "masters/cd/Test Album.cue").read_text(encoding="latin-1")
    assert "INDEX 00 00:00:00" in cue and "TRACK 03" not in cue


def test_only_the_first_track_can_hide(tmp_path, capsys):
    m = manifest(2, formats={"cd": dict(CD)})
    m["tracks"][1]["hidden"] = True
    album = make_album(tmp_path, m, seconds=5.0)
    assert main(["validate", str(album)]) == 1
    assert "tracks[1].hidden: only the first" in capsys.readouterr().err
