"""Bad-input corpus: every broken manifest or source gets its one error line, never a
traceback, never a lost or half-written master; valid-but-unusual input builds correctly.

The manifests are files in tests/corpus/manifests/ (README.md there says what each one
breaks); audio and covers are made here, at test time. CASES below is the one table:
case name -> how to make the album, the command, its exit status and the error line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mutagen.flac
import numpy as np
import pytest
import soundfile as sf

from masterbuild.cli import main
from masterbuild.manifest.load import MAX_COVER_BYTES
from tests.albums import snapshot, tone_mix, write_mix

CORPUS = Path(__file__).parent / "corpus" / "manifests"
LINE = re.compile(r"^[^:\n]+: [^:\n]+: .+$")  # path: location: message
SR = 44100
SOURCE_S = 0.5


# --- how albums are made and broken ------------------------------------------------------


def mix(seconds: float = SOURCE_S, sr: int = SR, channels: int = 2, seed: int = 0) -> np.ndarray:
    x = tone_mix(seconds, 330 + 110 * seed, -8, seed, sr=sr)
    return x if channels == 2 else np.tile(x[:, :1], (1, channels))


def make_album(root: Path, manifest: str) -> Path:
    """An album folder with the corpus manifest `manifest` and two good 0.5 s sources."""
    album = root / "album"
    write_mix(album / "mixes" / "a.wav", mix(seed=0), subtype="PCM_16")
    write_mix(album / "mixes" / "b.wav", mix(seed=1), subtype="PCM_16")
    shutil.copyfile(CORPUS / f"{manifest}.toml", album / "album.toml")
    return album


def retarget(album: Path, old: str, new: str) -> None:
    """Point a source (or cover) of the album's manifest at another file."""
    toml = album / "album.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def source(name: str = "a.wav") -> Callable[[Path], Path]:
    return lambda album: album / "mixes" / name


def write(name: str, x: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Callable:
    def prepare(album: Path) -> None:
        write_mix(album / "mixes" / name, x, sr=sr, subtype=subtype)

    return prepare


def truncated_wav(album: Path) -> None:
    p = album / "mixes/a.wav"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def corrupt_wav(album: Path) -> None:
    """A RIFF/WAVE header, then garbage where the fmt and data chunks should be."""
    garbage = np.random.default_rng(1).bytes(20000)
    (album / "mixes/a.wav").write_bytes(b"RIFF" + (20004).to_bytes(4, "little") + b"WAVE" + garbage)


def truncated_flac(album: Path) -> None:
    p = album / "mixes/a.flac"
    sf.write(p, mix(2.0), SR, subtype="PCM_24")
    p.write_bytes(p.read_bytes()[: p.stat().st_size * 2 // 3])
    retarget(album, "mixes/a.wav", "mixes/a.flac")


def corrupt_mp3(album: Path) -> None:
    (album / "mixes/a.mp3").write_bytes(np.random.default_rng(2).bytes(30000))
    retarget(album, "mixes/a.wav", "mixes/a.mp3")


def not_audio(album: Path) -> None:
    (album / "mixes/a.wav").write_text("not audio, a text file with a .wav name")


def non_finite(value: float, at_s: float = 0.25) -> Callable[[Path], None]:
    """A float WAV holding NaN or inf at `at_s` (the mix is clean elsewhere)."""
    x = mix()
    x[round(at_s * SR), 1] = value
    return write("b.wav", x, subtype="FLOAT")


def symlink_out(rel: str) -> Callable[[Path], None]:
    """Replace `rel` by a symlink to a file outside the album folder."""

    def prepare(album: Path) -> None:
        outside = album.parent / ("outside" + Path(rel).suffix)
        target = album / rel
        if target.exists():
            os.replace(target, outside)
        else:
            outside.write_bytes(PNG)
        target.parent.mkdir(exist_ok=True)
        os.symlink(outside, target)

    return prepare


def symlink_loop(album: Path) -> None:
    (album / "mixes/a.wav").unlink()
    os.symlink("a.wav", album / "mixes/a.wav")


PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)  # magic is all the loader reads


def cover(data: bytes, size: int | None = None) -> Callable[[Path], None]:
    def prepare(album: Path) -> None:
        p = album / "art/cover.png"
        p.parent.mkdir(exist_ok=True)
        with p.open("wb") as f:
            f.write(data)
            if size is not None:
                f.truncate(size)  # sparse: 50 MB without writing them

    return prepare


def manifest_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda album: (album / "album.toml").write_bytes(data)


def manifest_is_folder(album: Path) -> None:
    (album / "album.toml").unlink()
    (album / "album.toml").mkdir()


def no_manifest(album: Path) -> None:
    (album / "album.toml").unlink()


def both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def prepare(album: Path) -> None:
        for step in steps:
            step(album)

    return prepare


# --- what a good build must show -----------------------------------------------------


def masters(album: Path) -> list[Path]:
    return sorted((album / "masters" / "hires").glob("*.flac"))


def report(album: Path) -> dict:
    return json.loads((album / "masters/report.json").read_text(encoding="utf-8"))


def check_delivered(album: Path) -> None:
    """Both tracks delivered as stereo 48 kHz 24-bit FLAC, measured in the report."""
    files = masters(album)
    assert [f.name for f in files] == ["01 Alpha.flac", "02 Beta.flac"]
    for f in files:
        info = sf.info(str(f))
        assert (info.samplerate, info.channels, info.subtype) == (48000, 2, "PCM_24")
        assert info.frames > 0
    rows = report(album)["formats"]["hires"]["tracks"]
    assert [r["sample_rate"] for r in rows] == [48000, 48000]


def check_lengths(*seconds: float) -> Callable[[Path], None]:
    """Delivered, and each master as long as its source (to a few output frames)."""

    def check(album: Path) -> None:
        check_delivered(album)
        for f, s in zip(masters(album), seconds, strict=True):
            assert abs(sf.info(str(f)).frames - s * 48000) <= 4, (f.name, sf.info(str(f)).frames)

    return check


def check_dual_mono(album: Path) -> None:
    check_lengths(SOURCE_S, SOURCE_S)(album)
    x, _ = sf.read(masters(album)[0])
    # a mono mix is delivered as dual mono: equal channels but for each one's own
    # TPDF dither (+-1 LSB at 24 bits, +-2 LSB apart)
    assert np.abs(x[:, 0] - x[:, 1]).max() <= 2 / 2**23
    assert np.abs(x).max() > 0.1
    y, _ = sf.read(masters(album)[1])
    assert np.abs(y[:, 0] - y[:, 1]).max() > 0.01  # the stereo mix stays stereo


def check_one_frame(album: Path) -> None:
    """A 1-frame mix is a valid hi-res track: 1 frame at 44.1 kHz -> about 1 at 48 kHz."""
    files = masters(album)
    assert [f.name for f in files] == ["01 Alpha.flac", "02 Beta.flac"]
    assert 1 <= sf.info(str(files[0])).frames <= 3
    assert report(album)["formats"]["hires"]["tracks"][0]["id"] == "a"


def check_unicode(album: Path) -> None:
    title = "Łódź: 夜明け 🌅 / ä?"
    files = masters(album)
    # ':' '/' '?' cannot be in a file name everywhere; everything else is kept as written
    assert files[0].name == "01 Łódź_ 夜明け 🌅 _ ä_.flac", files[0].name
    tags = mutagen.flac.FLAC(files[0])
    assert tags["title"] == [title]
    assert tags["album"] == ["Ciało — 夜明け"]
    playlist = (album / "masters/hires/playlist.m3u8").read_text(encoding="utf-8")
    assert files[0].name in playlist


# --- the table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One corpus entry.

    manifest: file in tests/corpus/manifests (without .toml); prepare: makes or breaks
    files after the album is written; command: "validate", "build" (build once), or
    "rebuild" (build the valid album, then break it and build again: the old masters
    must survive); where: "<file in the album>: <location>" the error line starts with
    ("" for the album folder itself); expect: text in that line; check: what a good
    build must have delivered; xfail: the bug (in code outside the loader) that
    makes the case fail today.
    """

    manifest: str = "valid"
    prepare: Callable[[Path], None] | None = None
    command: str = "validate"
    status: int = 1
    where: str = "album.toml: -"
    expect: str = ""
    check: Callable[[Path], None] | None = None
    xfail: str | None = None  # a known bug outside the manifest loader: why it fails


def V(manifest: str, location: str, expect: str) -> Case:
    """A manifest that `validate` rejects with one line at `location`."""
    return Case(manifest=manifest, where=f"album.toml: {location}", expect=expect)


def S(prepare: Callable[[Path], None], track: int, expect: str, manifest: str = "valid") -> Case:
    """A source that `validate` rejects, reported at tracks[track].source."""
    return Case(manifest, prepare, where=f"album.toml: tracks[{track}].source", expect=expect)


def OK(prepare: Callable[[Path], None] | None, check: Callable, manifest: str = "valid") -> Case:
    """Valid but unusual input: the build succeeds and delivers what `check` asserts."""
    return Case(manifest, prepare, command="build", status=0, check=check)


UNKNOWN = "unknown key: check its spelling"
FINITE = "must be a finite number, not inf or nan"
LATIN1 = (CORPUS / "valid.toml").read_text(encoding="utf-8").replace("Alpha", "Café")

CASES: dict[str, Case] = {
    # the manifest file itself
    "empty": V("empty", "schema", "missing: add `schema = 1`"),
    "not_toml": V("not_toml", "-", "not valid TOML: Expected ']'"),
    "not_utf8": Case(prepare=manifest_bytes(LATIN1.encode("latin-1")), expect="not UTF-8 text"),
    "bom": V("bom", "-", "byte-order mark: save the manifest as UTF-8 without BOM"),
    "manifest_is_folder": Case(
        prepare=manifest_is_folder, where=": -", expect="no album.toml here"
    ),
    "no_manifest": Case(prepare=no_manifest, where=": -", expect="no album.toml here"),
    "schema_missing": V("schema_missing", "schema", "missing: add `schema = 1`"),
    "schema_2": V("schema_2", "schema", "schema 2 is not known"),
    "schema_bool": V("schema_bool", "schema", "schema True is not known"),
    # structure: unknown keys at every level, wrong types, missing keys
    "album_missing": V("album_missing", "album", "required key is missing"),
    "unknown_top_key": V("unknown_top_key", "version", UNKNOWN),
    "unknown_album_key": V("unknown_album_key", "album.genere", UNKNOWN),
    "unknown_master_key": V("unknown_master_key", "master.gap", UNKNOWN),
    "unknown_track_key": V("unknown_track_key", "tracks[1].gain", UNKNOWN),
    "unknown_format_key": V("unknown_format_key", "formats.hires.bitdepth", UNKNOWN),
    "unknown_trim_key": V("unknown_trim_key", "tracks[0].trim.begin_s", UNKNOWN),
    "unknown_loudness_key": V("unknown_loudness_key", "formats.hires.loudness.target", UNKNOWN),
    "title_wrong_type": V("title_wrong_type", "tracks[0].title", "valid string"),
    "tracks_not_array": V("tracks_not_array", "tracks", "valid list"),
    "sample_rate_fraction": V("sample_rate_fraction", "formats.hires.sample_rate", "fractional"),
    "sample_rate_too_high": V("sample_rate_too_high", "formats.hires.sample_rate", "384000"),
    "title_missing": V("title_missing", "tracks[1].title", "required key is missing"),
    "source_missing_key": V("source_missing_key", "tracks[1].source", "required key is missing"),
    "no_tracks": V("no_tracks", "tracks", "at least 1 item"),
    "no_formats": V("no_formats", "formats", "at least 1 item"),
    "fade_nan": V("fade_nan", "tracks[0].fade.out_s", FINITE),
    "index_inf": V("index_inf", "tracks[1].index_s[0]", FINITE),
    # processing stages
    "stage_typo": V("stage_typo", "master.chain[0].slope", UNKNOWN),
    "stage_unknown_kind": V("stage_unknown_kind", "master.chain[0]", "unknown stage kind 'reverb'"),
    "stage_no_kind": V("stage_no_kind", "master.chain[0]", "a stage needs `kind`"),
    "stage_out_of_range": V("stage_out_of_range", "master.chain[0].ratio", "greater than or equal"),
    "stage_bad_slope": V("stage_bad_slope", "master.chain[0].slope_db_oct", "6, 12, 18"),
    "eq_bad_band_type": V("eq_bad_band_type", "master.chain[0].bands[0].type", "'bell'"),
    "eq_side_bands_stereo": V("eq_side_bands_stereo", "master.chain[0]", 'only with mode = "ms"'),
    # album metadata and identifiers
    "bad_date": V("bad_date", "album.date", "write YYYY or YYYY-MM-DD"),
    "upc_check_digit": V("upc_check_digit", "album.upc", "check digit 8 but its digits give 7"),
    "upc_length": V("upc_length", "album.upc", "not a UPC-A (12 digits) or EAN-13"),
    "bad_isrc": V("bad_isrc", "tracks[1].isrc", "not an ISRC"),
    "duplicate_isrc": V("duplicate_isrc", "tracks[1].isrc", "USABC2600001 is already used"),
    "duplicate_id": V("duplicate_id", "tracks[1].id", "'a' is already used by tracks[0]"),
    "bad_track_id": V("bad_track_id", "tracks[1].id", "not a track id"),
    # formats: codec, bit depth, dither, rate, loudness, names, CD, presets, vinyl
    "bad_format_name": V("bad_format_name", "formats", "format name 'hi res'"),
    "unknown_codec": V("unknown_codec", "formats.hires.codec", "'wav', 'flac'"),
    "flac_32bit": V("flac_32bit", "formats.hires", "flac cannot carry 32-bit"),
    "mp3_bit_depth": V("mp3_bit_depth", "formats.mp3", "24-bit MP3 does not exist"),
    "float_dither": V("float_dither", "formats.float", "32-bit float needs no dither"),
    "shaped_dither_96k": V("shaped_dither_96k", "formats.hires", "not 96000 Hz"),
    "mp3_96k": V("mp3_96k", "formats.mp3", "MP3 at 96000 Hz is not a release format"),
    "mp3_bad_bitrate": V("mp3_bad_bitrate", "formats.mp3", "100 kbps is not an MP3 CBR rate"),
    "mp3_bitrate_and_quality": V("mp3_bitrate_and_quality", "formats.mp3", "give either"),
    "opus_44k": V("opus_44k", "formats.opus", "Opus cannot run at 44100 Hz"),
    "ogg_bitrate": V("ogg_bitrate", "formats.ogg", "not bitrate_kbps"),
    "flac_bitrate": V("flac_bitrate", "formats.hires", "flac is lossless"),
    "loudness_no_target": V("loudness_no_target", "formats.hires.loudness", "needs target_lufs"),
    "ceiling_positive": V("ceiling_positive", "formats.hires.true_peak_ceiling_db", "less than"),
    "name_unknown_field": V("name_unknown_field", "formats.hires.name", "unknown field {titel}"),
    "name_malformed": V("name_malformed", "formats.hires.name", "bad template '{n'"),
    "name_collision": V("name_collision", "formats.hires.name", "would both be written"),
    "name_empty": V("name_empty", "formats.hires.name", "gives an empty file name"),
    "cue_on_hires": V("cue_on_hires", "formats.hires", "must be Red Book audio"),
    "ddp_on_24bit": V("ddp_on_24bit", "formats.cd", "must be Red Book audio"),
    "cd_too_short": V("cd_too_short", "tracks[0]", "Red Book tracks are at least 4.00 s"),
    "unknown_preset": V("unknown_preset", "formats.x", "unknown preset 'cassette'"),
    "unknown_profile": V("unknown_profile", "formats.hires.profiles", "unknown profile 'tidal'"),
    "vinyl_unknown_track": V("vinyl_unknown_track", "formats.lp.sides[1][0]", "no track with id"),
    "vinyl_track_twice": V("vinyl_track_twice", "formats.lp.sides[1][0]", "already on side A"),
    "vinyl_empty_side": V("vinyl_empty_side", "formats.lp", "side B (sides[1]) has no tracks"),
    "vinyl_no_disc": V("vinyl_no_disc", "formats.hires", "need the record size"),
    "vinyl_mp3": V("vinyl_mp3", "formats.lp", "vinyl sides are cut from PCM"),
    # CD timing and per-track edits
    "crossfade_first": V("crossfade_first", "tracks[0].crossfade_s", "nothing to crossfade"),
    "hidden_not_first": V("hidden_not_first", "tracks[1].hidden", "only the first"),
    "boundary_outside": V("boundary_outside", "tracks[1]", "boundary_s must lie inside"),
    "index_descending": V("index_descending", "tracks[1]", "index_s must be ascending"),
    "trim_too_long": V("trim_too_long", "tracks[0].trim", "nothing would be left"),
    "fade_too_long": V("fade_too_long", "tracks[0].fade", "longer than the 0.500 s left"),
    # paths
    "source_dotdot": V("source_dotdot", "tracks[0].source", "leaves the album folder"),
    "source_absolute": V("source_absolute", "tracks[0].source", "leaves the album folder"),
    "source_symlink_out": S(symlink_out("mixes/a.wav"), 0, "leaves the album folder"),
    "source_symlink_loop": S(symlink_loop, 0, "does not exist"),
    "source_nul": V("source_nul", "tracks[0].source", "holds a control character"),
    "source_long_name": V("source_long_name", "tracks[0].source", "File name too long"),
    "source_not_there": V("source_not_there", "tracks[1].source", "does not exist"),
    "source_is_folder": V("source_is_folder", "tracks[1].source", "is a folder, not a file"),
    "cover_missing": V("cover", "album.cover", "'art/cover.png' does not exist"),
    "cover_dotdot": V("cover_dotdot", "album.cover", "leaves the album folder"),
    "cover_symlink_out": Case(
        "cover", symlink_out("art/cover.png"), where="album.toml: album.cover", expect="leaves"
    ),
    "cover_not_image": Case(
        "cover", cover(b"GIF89a not a png"), where="album.toml: album.cover", expect="not a PNG"
    ),
    "cover_50mb": Case(
        "cover",
        cover(PNG, size=50 * 2**20),
        where="album.toml: album.cover",
        expect=f"is 50.0 MiB, over the {MAX_COVER_BYTES // 2**20} MiB limit",
    ),
    # sources: damaged, empty, unusable
    "not_audio": S(not_audio, 0, "not audio that libsndfile can read"),
    "truncated_wav": S(truncated_wav, 0, "truncated: the header promises more audio"),
    "corrupt_wav": S(corrupt_wav, 0, "not audio that libsndfile can read"),
    "truncated_flac": S(truncated_flac, 0, "damaged or truncated audio"),
    "corrupt_mp3": S(corrupt_mp3, 0, "not audio that libsndfile can read"),
    "zero_frames": S(write("a.wav", np.zeros((0, 2))), 0, "holds no audio (0 frames)"),
    "six_channels": S(write("b.wav", mix(channels=6)), 1, "has 6 channels"),
    "one_frame_cd": Case(
        "cd_too_short",
        write("a.wav", np.full((1, 2), 0.1)),
        where="album.toml: tracks[0]",
        expect="(1 frames) long: Red Book tracks are at least 4.00 s",
    ),
    # found only when the audio is read: the build fails, the old masters stay
    "nan_samples": Case(
        prepare=non_finite(np.nan),
        command="rebuild",
        where="mixes/b.wav: audio",
        expect="holds NaN or infinite samples at 0.250 s: re-export the mix",
    ),
    "inf_samples": Case(
        prepare=non_finite(-np.inf, at_s=0.4),
        command="rebuild",
        where="mixes/b.wav: audio",
        expect="holds NaN or infinite samples at 0.400 s",
    ),
    "long_title": V("long_title", "formats.hires.name", "the title is too long for a file name"),
    # valid but unusual: a correct build
    "one_frame_hires": OK(write("a.wav", np.full((1, 2), 0.1)), check_one_frame),
    "mono": OK(write("a.wav", mix(channels=1)), check_dual_mono),
    "source_8k": OK(
        both(write("a.wav", mix(sr=8000), 8000), write("b.wav", mix(sr=8000, seed=1), 8000)),
        check_lengths(SOURCE_S, SOURCE_S),
    ),
    "source_384k": OK(
        both(
            write("a.wav", mix(sr=384000), 384000, "PCM_24"),
            write("b.wav", mix(sr=384000, seed=1), 384000, "PCM_24"),
        ),
        check_lengths(SOURCE_S, SOURCE_S),
    ),
    "mixed_rates": OK(
        both(
            write("a.flac", mix(1.0, sr=22050), 22050, "PCM_24"),
            lambda a: retarget(a, "mixes/a.wav", "mixes/a.flac"),
            write("b.wav", mix(sr=96000, seed=1), 96000, "FLOAT"),
        ),
        check_lengths(1.0, SOURCE_S),
    ),
    "unicode": OK(None, check_unicode, manifest="unicode"),
}


def shown(album: Path, where: str) -> tuple[str, str]:
    """The line prefix `where` names, as an absolute path and relative to the cwd."""
    rel, _, location = where.partition(": ")
    path = album / rel if rel else album
    prefixes = [f"{path}: {location}", f"{os.path.relpath(path)}: {location}"]
    if not location:  # a path prefix: the rest of the file name follows
        prefixes = [str(path), os.path.relpath(path)]
    return prefixes[0], prefixes[1]


def assert_one_clear_line(album: Path, case: Case, text: str) -> None:
    """The error lines are `path: location: message`, one of them the expected one."""
    assert "Traceback" not in text and "Error\n" not in text, text
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("  ")]
    errors = [ln for ln in lines if not ln.startswith("masterbuild:")]
    assert errors, text
    for ln in errors:
        assert LINE.match(ln), ln
    hits = [ln for ln in errors if ln.startswith(shown(album, case.where)) and case.expect in ln]
    assert hits, (shown(album, case.where), case.expect, errors)


def untouched(album: Path) -> dict[str, bytes]:
    return {k: v[1] for k, v in snapshot(album / "masters").items()}


def leftovers(album: Path) -> list[Path]:
    return [p for p in album.rglob("*") if ".partial" in p.name or p.name.endswith(".tmp")]


def test_corpus_has_forty_cases_and_every_manifest_is_used():
    assert len(CASES) >= 40
    used = {c.manifest for c in CASES.values()}
    assert used == {p.stem for p in CORPUS.glob("*.toml")}
    readme = (CORPUS.parent / "README.md").read_text(encoding="utf-8")
    for p in CORPUS.glob("*.toml"):
        assert f"`{p.name}`" in readme, p.name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=c.xfail)) if c.xfail else n
        for n, c in CASES.items()
    ],
)
def test_corpus(name, tmp_path, capsys):
    case = CASES[name]
    album = make_album(tmp_path, "valid" if case.command == "rebuild" else case.manifest)
    if case.command == "rebuild":
        assert main(["build", str(album)]) == 0
        capsys.readouterr()
        before = untouched(album)
        assert len(masters(album)) == 2
        shutil.copyfile(CORPUS / f"{case.manifest}.toml", album / "album.toml")
    if case.prepare is not None:
        case.prepare(album)
    command = "build" if case.command == "rebuild" else case.command
    status = main([command, str(album)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert status == case.status, text
    if case.status == 0:
        assert "Traceback" not in text
        case.check(album)
        assert not leftovers(album)
        return
    assert_one_clear_line(album, case, out.err if command == "validate" else text)
    if command == "validate":
        assert len(out.err.splitlines()) <= 2, out.err  # one problem (cd_too_short: 2 tracks)
    if case.command == "rebuild":
        assert untouched(album) == before  # not one byte of a master lost or changed
        assert not leftovers(album)


def test_long_title_is_a_validation_error(tmp_path, capsys):
    album = make_album(tmp_path, "long_title")
    assert main(["validate", str(album)]) == 1
    err = capsys.readouterr().err
    assert f"{album / 'album.toml'}: formats.hires.name: " in err and "too long" in err


# --- a real process: nothing but the one line reaches the terminal ------------------------


@pytest.mark.parametrize("name", ["not_toml", "six_channels", "cover_50mb", "nan_samples"])
def test_no_traceback_from_a_real_process(name, tmp_path):
    case = CASES[name]
    album = make_album(tmp_path, case.manifest)
    case.prepare and case.prepare(album)
    command = "build" if case.command == "rebuild" else case.command
    r = subprocess.run(
        [sys.executable, "-m", "masterbuild", command, str(album)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert_one_clear_line(album, case, r.stderr if command == "validate" else r.stdout + r.stderr)
    if command == "validate":
        assert r.stderr and all(LINE.match(ln) for ln in r.stderr.splitlines()), r.stderr
