"""Vinyl pre-masters: one file per side, its sheet, side lists and their checks."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from masterbuild.cli import main
from masterbuild.vinyl import split_in_two
from tests.albums import kinds, make_album, manifest, run, write_manifest

LSB_24 = 1 / 2**23


@pytest.mark.parametrize(
    ("lengths", "gaps", "expected"),
    [
        ([100.0], [0.0], [[0]]),
        ([100.0, 100.0], [0.0, 2.0], [[0], [1]]),
        ([300.0, 100.0, 100.0, 100.0], [0.0] * 4, [[0], [1, 2, 3]]),
        ([100.0, 100.0, 100.0, 300.0], [0.0] * 4, [[0, 1, 2], [3]]),
        ([100.0] * 5, [0.0] * 5, [[0, 1], [2, 3, 4]]),  # a tie: the earlier turn
        # gaps count inside a side: 3 x 100 s + 2 gaps of 50 s vs 2 x 100 s + 1 gap
        ([100.0] * 5, [0.0, 50.0, 50.0, 50.0, 50.0], [[0, 1], [2, 3, 4]]),
    ],
)
def test_split_in_two_makes_the_longer_side_shortest(lengths, gaps, expected):
    assert split_in_two(lengths, gaps) == expected


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("vinyl")
    m = manifest(
        3,
        formats={
            "lp": {"preset": "vinyl"},
            "single": {"preset": "vinyl", "disc_in": 7, "rpm": 45, "sides": [["t3"], ["t1"]]},
        },
    )
    m["master"]["gap_s"] = 1.5
    album = make_album(root, m, seconds=3.0)
    outcome = run(album)
    return album, outcome


def test_each_side_is_its_tracks_with_gaps_between(built):
    album, _ = built
    masters = album / ".masterbuild/cache/master/lp"
    # 3 x 3 s with 1.5 s gaps: A = t1 (3 s), B = t2 + gap + t3 (7.5 s); the other
    # turn is as long (7.5 / 3) and the earlier one wins the tie.
    b, sr = sf.read(str(album / "masters/lp/Side B.wav"))
    assert sr == 96000 and sf.info(str(album / "masters/lp/Side B.wav")).subtype == "PCM_24"
    t2, _ = sf.read(str(masters / "t2.f32.wav"))
    t3, _ = sf.read(str(masters / "t3.f32.wav"))
    gap = round(1.5 * sr)
    assert b.shape[0] == t2.shape[0] + gap + t3.shape[0]
    # TPDF-dithered to 24 bits: within 2 LSB of the float masters, gap near silence.
    assert np.abs(b[: t2.shape[0]] - t2).max() <= 2 * LSB_24
    assert np.abs(b[t2.shape[0] : t2.shape[0] + gap]).max() <= 2 * LSB_24
    assert np.abs(b[t2.shape[0] + gap :] - t3).max() <= 2 * LSB_24
    a, _ = sf.read(str(album / "masters/lp/Side A.wav"))
    t1, _ = sf.read(str(masters / "t1.f32.wav"))
    assert a.shape[0] == t1.shape[0]  # no lead-in silence: that is the cutter's


def test_the_sheet_lists_starts_and_lengths(built):
    album, _ = built
    sheet = (album / "masters/lp/Side B.txt").read_text()
    assert "Side B" in sheet and '12" at 33 1/3 rpm; 96000 Hz 24-bit WAV' in sheet
    lines = [line.split() for line in sheet.splitlines() if re.match(r"\s*\d+\s+\d\d:", line)]
    assert [row[1] for row in lines] == ["00:00.000", "00:04.500"]
    assert [row[2] for row in lines] == ["00:03.000", "00:03.000"]
    assert "side length 00:07.500" in sheet


def test_side_lists_choose_and_order_the_tracks(built):
    album, outcome = built
    assert sorted(p.name for p in (album / "masters/single").iterdir()) == [
        "Side A.txt", "Side A.wav", "Side B.txt", "Side B.wav",
    ]  # fmt: skip
    assert "master:album:single:t2" not in outcome.ran  # not on this record
    assert "Track 3" in (album / "masters/single/Side A.txt").read_text()


def test_the_report_checks_sides_against_the_record(built):
    album, _ = built
    report = json.loads((album / "masters/report.json").read_text())
    lp = report["formats"]["lp"]
    assert [t["id"] for t in lp["tracks"]] == ["side-a", "side-b"]
    assert [s["side"] for s in lp["sides"]] == ["A", "B"]
    lengths = [c for c in lp["compliance"]["checks"] if c["check"].startswith("side length")]
    assert [c["limit"] for c in lengths] == ["<= 22", "<= 22"]
    assert all(c["pass"] for c in lengths)
    single = report["formats"]["single"]
    (limiter,) = [c for c in single["compliance"]["checks"] if c["check"] == "limiter"]
    assert limiter["pass"] is True
    lengths = [c for c in single["compliance"]["checks"] if c["check"].startswith("side length")]
    assert [c["limit"] for c in lengths] == ["<= 5", "<= 5"]
    for t in lp["tracks"]:
        assert t["file_bytes"] == (album / "masters" / t["file"]).stat().st_size


def test_nothing_to_do_twice(built):
    album, _ = built
    assert run(album).ran == []


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ({"preset": "vinyl", "sides": [["t1"], ["nope"]]}, "sides[1][0]: no track with id 'nope'"),
        ({"preset": "vinyl", "sides": [["t1"], ["t1"]]}, "sides[1][0]: 't1' is already on side A"),
        ({"preset": "vinyl", "sides": [["t1"], []]}, "side B (sides[1]) has no tracks"),
        ({"codec": "mp3", "bitrate_kbps": 320, "disc_in": 12}, "cut from PCM"),
        ({"codec": "wav", "sides": [["t1"]]}, "need the record size: disc_in"),
        ({"preset": "vinyl", "disc_in": 11}, "disc_in"),
        ({"preset": "vinyl", "rpm": 78}, "rpm"),
        ({"preset": "vinyl", "cue": True}, "either a CD"),
    ],
)
def test_bad_side_lists_are_clear_errors(tmp_path, capsys, fmt, message):
    album = make_album(tmp_path, manifest(2, formats={"lp": fmt}))
    assert main(["validate", str(album)]) == 1
    err = capsys.readouterr().err
    assert "album.toml: formats.lp" in err and message in err


def test_a_title_fix_rewrites_the_sheet_and_never_remakes_a_side(tmp_path):
    m = manifest(2, formats={"lp": {"preset": "vinyl"}})
    album = make_album(tmp_path, m, seconds=2.0)
    run(album)
    side_a = (album / "masters/lp/Side A.wav").read_bytes()
    m["tracks"][0]["title"] = "Track One (Edit)"
    write_manifest(album, m)
    ran = run(album).ran
    assert kinds(ran) >= {"sheet"} and not kinds(ran) & {"side", "master", "render"}, ran
    assert (album / "masters/lp/Side A.wav").read_bytes() == side_a
    assert "Track One (Edit)" in (album / "masters/lp/Side A.txt").read_text()
    assert run(album).ran == []
