"""Manifest validation: every problem is one `path: location: message` line, exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from masterbuild.cli import main
from masterbuild.manifest.identifiers import gtin_check_digit, normalize_barcode, normalize_isrc
from tests.albums import make_album, manifest, write_manifest, write_mix


def validate(album: Path, capsys) -> tuple[int, list[str]]:
    code = main(["validate", str(album)])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line]


def broken(tmp_path: Path, edit) -> Path:
    m = manifest(3)
    album = make_album(tmp_path, m)
    edit(m, album)
    write_manifest(album, m)
    return album


CASES = {
    "unknown_key": (lambda m, a: m["album"].update(titel="x"), "album.titel", "unknown key"),
    "unknown_track_key": (
        lambda m, a: m["tracks"][1].update(gain=1.0),
        "tracks[1].gain",
        "unknown key",
    ),
    "bad_type": (lambda m, a: m["tracks"][0].update(gain_db="loud"), "tracks[0].gain_db", "number"),
    "duplicate_id": (lambda m, a: m["tracks"][2].update(id="t1"), "tracks[2].id", "already used"),
    "bad_id": (
        lambda m, a: m["tracks"][0].update(id="Night Drive"),
        "tracks[0].id",
        "not a track id",
    ),
    "missing_source": (
        lambda m, a: m["tracks"][1].update(source="mixes/nope.wav"),
        "tracks[1].source",
        "does not exist",
    ),
    "escaping_path": (
        lambda m, a: m["tracks"][0].update(source="../outside.wav"),
        "tracks[0].source",
        "leaves the album folder",
    ),
    "absolute_path": (
        lambda m, a: m["tracks"][0].update(source="/etc/passwd"),
        "tracks[0].source",
        "leaves the album folder",
    ),
    "bad_isrc": (
        lambda m, a: m["tracks"][2].update(isrc="US-ABC-26"),
        "tracks[2].isrc",
        "not an ISRC",
    ),
    "duplicate_isrc": (
        lambda m, a: m["tracks"][2].update(isrc="USABC2600001"),
        "tracks[2].isrc",
        "already used",
    ),
    "bad_upc": (lambda m, a: m["album"].update(upc="036000241458"), "album.upc", "check digit"),
    "no_tracks": (lambda m, a: m.update(tracks=[]), "tracks", "at least 1 item"),
    "mp3_24bit": (
        lambda m, a: m["formats"]["mp3"].update(bit_depth=24),
        "formats.mp3",
        "24-bit MP3",
    ),
    "opus_44k": (
        lambda m, a: m["formats"].update(op={"codec": "opus", "sample_rate": 44100}),
        "formats.op",
        "Opus cannot run at 44100",
    ),
    "flac_32": (
        lambda m, a: m["formats"]["hires"].update(bit_depth=32),
        "formats.hires",
        "cannot carry 32-bit",
    ),
    "dither_float": (
        lambda m, a: m["formats"]["cd"].update(bit_depth=32, dither="tpdf"),
        "formats.cd",
        "float needs no dither",
    ),
    "unknown_codec": (
        lambda m, a: m["formats"]["cd"].update(codec="wma"),
        "formats.cd.codec",
        "wav",
    ),
    "unknown_stage": (
        lambda m, a: m["master"].update(chain=[{"kind": "reverb"}]),
        "master.chain[0]",
        "unknown stage kind 'reverb'",
    ),
    "stage_typo": (
        lambda m, a: m["master"].update(chain=[{"kind": "highpass", "freq": 30}]),
        "master.chain[0].freq",
        "unknown key",
    ),
    "loudness_without_target": (
        lambda m, a: m["formats"]["cd"].update(loudness={"mode": "track"}),
        "formats.cd.loudness",
        "needs target_lufs",
    ),
    "bad_date": (lambda m, a: m["album"].update(date="20/11/2026"), "album.date", "YYYY"),
    "trim_too_long": (
        lambda m, a: m["tracks"][0].update(trim={"start_s": 2.0, "end_s": 1.0}),
        "tracks[0].trim",
        "nothing would be left",
    ),
    "bad_template": (
        lambda m, a: m["formats"]["cd"].update(name="{n} {titel}"),
        "formats.cd.name",
        "unknown field {titel}",
    ),
    "name_collision": (
        lambda m, a: m["formats"]["cd"].update(name="{album}"),
        "formats.cd.name",
        "would both be written",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_problem_is_one_clear_line(tmp_path, capsys, case):
    edit, location, words = CASES[case]
    album = broken(tmp_path, edit)
    code, lines = validate(album, capsys)
    assert code == 1
    manifest_shown = str(album / "album.toml")
    hits = [
        ln
        for ln in lines
        if ln.startswith(f"{manifest_shown}: {location}:")
        or ln.startswith(f"{os.path.relpath(album / 'album.toml')}: {location}:")
    ]
    assert hits, lines
    assert words in hits[0], hits[0]
    assert "Traceback" not in "\n".join(lines)


def test_all_problems_listed_at_once(tmp_path, capsys):
    def edit(m, a):
        m["album"]["upc"] = "123"
        m["tracks"][0]["isrc"] = "nope"
        m["formats"]["mp3"]["bit_depth"] = 16

    code, lines = validate(broken(tmp_path, edit), capsys)
    assert code == 1 and len(lines) == 3


def _source_problem(tmp_path, capsys, make_source) -> str:
    m = manifest(2)
    album = make_album(tmp_path, m)
    make_source(album / "mixes" / "t2.wav")
    code, lines = validate(album, capsys)
    assert code == 1, lines
    assert len(lines) == 1 and ": tracks[1].source: " in lines[0], lines
    return lines[0]


def test_source_not_audio(tmp_path, capsys):
    line = _source_problem(tmp_path, capsys, lambda p: p.write_text("not audio"))
    assert "not audio that libsndfile can read" in line


def test_source_truncated_wav(tmp_path, capsys):
    def make(p):
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])

    assert "truncated" in _source_problem(tmp_path, capsys, make)


def test_source_truncated_flac(tmp_path, capsys):
    def make(p):
        x, sr = sf.read(p)
        flac = p.with_suffix(".flac")
        sf.write(flac, x, sr, subtype="PCM_24")
        data = flac.read_bytes()
        p.write_bytes(data[: len(data) * 2 // 3])  # a .wav name holding half a FLAC

    assert "truncated" in _source_problem(tmp_path, capsys, make)


def test_source_zero_length(tmp_path, capsys):
    assert "0 frames" in _source_problem(
        tmp_path, capsys, lambda p: sf.write(p, np.zeros((0, 2)), 44100)
    )


def test_source_six_channels(tmp_path, capsys):
    line = _source_problem(tmp_path, capsys, lambda p: write_mix(p, np.zeros((44100, 6))))
    assert "6 channels" in line and "channel plan" in line


def test_nan_in_source_fails_build_with_time(tmp_path, capsys):
    m = manifest(1)
    album = make_album(tmp_path, m)
    x = np.full((44100 * 2, 2), 0.1)
    x[66150, 0] = np.nan
    sf.write(album / "mixes/t1.wav", x, 44100, subtype="FLOAT")
    code = main(["build", str(album)])
    out = capsys.readouterr()
    assert code == 1
    assert "NaN or infinite samples at 1.500 s" in out.out + out.err
    assert "Traceback" not in out.out + out.err


def test_not_toml_and_not_utf8(tmp_path, capsys):
    album = tmp_path / "a"
    album.mkdir()
    (album / "album.toml").write_text("schema = 1\n[album\n")
    code, lines = validate(album, capsys)
    assert code == 1 and "not valid TOML" in lines[0]
    (album / "album.toml").write_bytes(b"schema = 1\ntitle = '\xff\xfe'\n")
    code, lines = validate(album, capsys)
    assert code == 1 and "not UTF-8" in lines[0]


def test_wrong_schema_version(tmp_path, capsys):
    m = manifest(1)
    m["schema"] = 2
    album = make_album(tmp_path, m)
    code, lines = validate(album, capsys)
    assert code == 1 and ": schema: schema 2 is not known" in lines[0]


def test_symlink_escaping_album_is_refused(tmp_path, capsys):
    m = manifest(1)
    album = make_album(tmp_path, m)
    outside = tmp_path / "outside.wav"
    os.replace(album / "mixes/t1.wav", outside)
    os.symlink(outside, album / "mixes/t1.wav")
    code, lines = validate(album, capsys)
    assert code == 1 and "leaves the album folder" in lines[0]


def test_cover_checks(tmp_path, capsys):
    m = manifest(1)
    m["album"]["cover"] = "art/cover.png"
    album = make_album(tmp_path, m)
    (album / "art").mkdir()
    (album / "art/cover.png").write_text("not an image")
    code, lines = validate(album, capsys)
    assert code == 1 and "album.cover: " in lines[0] and "not a PNG or JPEG" in lines[0]


def test_valid_manifest_passes(tmp_path, capsys):
    album = make_album(tmp_path, manifest(2))
    assert main(["validate", str(album)]) == 0


def test_demo_manifest_is_valid_schema():
    import tomllib

    from masterbuild.manifest.models import Manifest

    data = tomllib.loads(Path("albums/demo/album.toml").read_text())
    Manifest.model_validate(data)


def test_schema_command_prints_json_schema():
    out = subprocess.run(
        [sys.executable, "-m", "masterbuild", "schema"], capture_output=True, text=True, check=True
    ).stdout
    schema = json.loads(out)
    assert schema["additionalProperties"] is False
    assert {"schema", "album", "tracks", "formats"} <= set(schema["properties"])
    from masterbuild.manifest.models import STAGE_KINDS

    for kind in STAGE_KINDS:  # every stage kind is described for editors
        assert f'"const": "{kind}"' in out


def test_usage_error_exits_2():
    r = subprocess.run(
        [sys.executable, "-m", "masterbuild", "build", "-j", "x"], capture_output=True
    )
    assert r.returncode == 2


@pytest.mark.parametrize(
    "isrc,ok",
    [
        ("USABC2600001", True),
        ("us-abc-26-00001", True),
        ("USABC260001", False),
        ("U1ABC2600001", False),
    ],
)
def test_isrc(isrc, ok):
    if ok:
        assert normalize_isrc(isrc) == "USABC2600001"
    else:
        with pytest.raises(ValueError):
            normalize_isrc(isrc)


def test_barcodes():
    assert normalize_barcode("036000241457") == "036000241457"  # UPC-A
    assert normalize_barcode("4006381333931") == "4006381333931"  # EAN-13
    assert gtin_check_digit("400638133393") == 1
    with pytest.raises(ValueError, match="check digit"):
        normalize_barcode("4006381333932")
    with pytest.raises(ValueError):
        normalize_barcode("12345")


def test_shaped_dither_needs_a_published_filter_rate(tmp_path, capsys):
    album = broken(
        tmp_path, lambda m, a: m["formats"]["hires"].update(sample_rate=96000, dither="shaped")
    )
    code, lines = validate(album, capsys)
    assert code == 1 and "formats.hires: " in lines[0] and "44100 and 48000 Hz only" in lines[0]


def test_shaped_dither_rates_match_the_published_filters():
    from masterbuild.dsp.noiseshape import SHAPING_FILTERS
    from masterbuild.manifest.models import SHAPED_DITHER_RATES_HZ

    assert set(SHAPED_DITHER_RATES_HZ) == set(SHAPING_FILTERS)
