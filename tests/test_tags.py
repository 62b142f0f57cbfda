"""masterbuild.tags: the tag table as players' tools read it back.

Every container libsndfile writes for us is tagged with a full TagSet and read back
with ffprobe and MediaInfo (the tools CI installs) and with mutagen; what a tool cannot
show for a container is said where it is skipped, and checked with mutagen instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.ogg import OggPage

from masterbuild.tags import (
    CONTAINERS,
    Cover,
    TagSet,
    normalize_ogg_serial,
    read_tags,
    write_tags,
)

# CI installs ffmpeg and mediainfo, so these skips only spare a bare local machine.
needs_ffmpeg = pytest.mark.skipif(
    not (shutil.which("ffprobe") and shutil.which("ffmpeg")), reason="ffmpeg not installed"
)
needs_mediainfo = pytest.mark.skipif(
    not shutil.which("mediainfo"), reason="mediainfo not installed"
)


def make_png(width: int = 2, height: int = 2) -> bytes:
    """A minimal valid PNG: 8-bit RGB, one unfiltered scanline per row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([200, 120, 40]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = make_png()
TITLE = "Dawn — Ünïcödé 夜明け"

FULL = TagSet(
    title=TITLE,
    artist="Demo Ensemble",
    album="First Light",
    album_artist="Demo Album Artist",  # differs from artist, so a mix-up would show
    track_number=3,
    track_total=10,
    disc_number=1,
    disc_total=2,
    date="2026-11-20",
    genre="Electronic",
    composer="A. Writer",
    isrc="USABC2600001",
    label="Example Records",
    catalog="EXR-001",
    barcode="036000241457",
    copyright="2026 Example Records",
    cover=Cover(PNG, "image/png"),
    track_lufs=-10.0,
    track_peak=0.891251,
    album_lufs=-11.5,
    album_peak=0.95,
)

# Oracles worked by hand: ReplayGain 2 = -18 - LUFS; R128 = (-23 - LUFS) * 256.
RG_TRACK_GAIN, RG_ALBUM_GAIN = "-8.00 dB", "-6.50 dB"  # -18 - (-10), -18 - (-11.5)
RG_TRACK_PEAK, RG_ALBUM_PEAK = "0.891251", "0.950000"
R128_TRACK, R128_ALBUM = "-3328", "-2944"  # -13 * 256, -11.5 * 256

# The title fix of a re-tag; it also drops fields, so leftovers would show.  It keeps
# FULL's track loudness, so the track gain oracles above hold for both.
RETAG = dataclasses.replace(
    FULL, title="Dusk", composer=None, isrc=None, cover=None, album_lufs=None, album_peak=None
)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    codec: str
    ext: str
    samplerate: int
    sf_kwargs: dict

    @property
    def family(self) -> str:
        return "id3" if self.codec in ("wav", "aiff", "mp3") else "vorbis"


CASES = [
    Case("wav-PCM_16", "wav", "wav", 44100, {"subtype": "PCM_16"}),
    Case("wav-PCM_24", "wav", "wav", 44100, {"subtype": "PCM_24"}),
    Case("wav-FLOAT", "wav", "wav", 44100, {"subtype": "FLOAT"}),
    Case("flac-PCM_16", "flac", "flac", 44100, {"subtype": "PCM_16"}),
    Case("flac-PCM_24", "flac", "flac", 44100, {"subtype": "PCM_24"}),
    Case("aiff-PCM_16", "aiff", "aiff", 44100, {"subtype": "PCM_16"}),
    Case("mp3", "mp3", "mp3", 44100, {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
    Case("ogg", "ogg", "ogg", 44100, {"format": "OGG", "subtype": "VORBIS"}),
    Case("opus", "opus", "opus", 48000, {"format": "OGG", "subtype": "OPUS"}),
]
OGG_CASES = [c for c in CASES if c.codec in ("ogg", "opus")]
WAV_CASES = [c for c in CASES if c.codec == "wav"]


def tone(samplerate: int) -> np.ndarray:
    """1 s of a stereo tone, (frames, channels), well below full scale."""
    t = np.arange(samplerate) / samplerate
    return np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)], 1)


def write_audio(case: Case, path: Path) -> Path:
    sf.write(path, tone(case.samplerate), case.samplerate, **case.sf_kwargs)
    return path


def copy_of(path: Path, name: str) -> Path:
    target = path.with_name(name + path.suffix)
    shutil.copyfile(path, target)
    return target


def expected_fields(case: Case, tags: TagSet) -> dict[str, str]:
    """What read_tags must return: exactly the set fields, no other key."""
    out = {
        "title": tags.title,
        "artist": tags.artist,
        "album": tags.album,
        "album_artist": tags.album_artist,
        "track_number": str(tags.track_number),
        "track_total": str(tags.track_total),
        "disc_number": str(tags.disc_number),
        "disc_total": str(tags.disc_total),
        "date": tags.date,
        "genre": tags.genre,
        "composer": tags.composer,
        "isrc": tags.isrc,
        "label": tags.label,
        "catalog": tags.catalog,
        "barcode": tags.barcode,
        "copyright": tags.copyright,
    }
    if tags.cover is not None:
        out["cover"] = f"image/png sha256:{hashlib.sha256(tags.cover.data).hexdigest()}"
    if case.codec == "opus":
        out["r128_track_gain"] = R128_TRACK
        if tags.album_lufs is not None:
            out["r128_album_gain"] = R128_ALBUM
    else:
        out["replaygain_track_gain"] = RG_TRACK_GAIN
        out["replaygain_track_peak"] = RG_TRACK_PEAK
        if tags.album_lufs is not None:
            out["replaygain_album_gain"] = RG_ALBUM_GAIN
            out["replaygain_album_peak"] = RG_ALBUM_PEAK
    return {k: v for k, v in out.items() if v is not None}


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture
def untagged(case: Case, tmp_path: Path) -> Path:
    return write_audio(case, tmp_path / f"untagged.{case.ext}")


@pytest.fixture
def tagged(case: Case, untagged: Path) -> Path:
    path = copy_of(untagged, "tagged")
    write_tags(path, case.codec, FULL)
    return path


def ffprobe(path: Path) -> dict:
    """``ffprobe -show_format -show_streams`` as JSON; any warning fails the test, such as
    the WAV demuxer's "Discarding ID3 tags because more suitable tags were found"."""
    out = subprocess.run(
        ["ffprobe", "-v", "warning", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    )
    assert out.stderr == b"", out.stderr.decode(errors="replace")
    return json.loads(out.stdout)


def mediainfo(path: Path) -> tuple[dict, dict]:
    """The General and the first Audio track of ``mediainfo --Output=JSON``."""
    out = subprocess.run(["mediainfo", "--Output=JSON", str(path)], capture_output=True, check=True)
    tracks = json.loads(out.stdout)["media"]["track"]
    general = next(t for t in tracks if t["@type"] == "General")
    audio = next(t for t in tracks if t["@type"] == "Audio")
    return general, audio


def ffmpeg_errors(path: Path) -> str:
    """Whatever ffmpeg complains about while decoding every audio packet."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a", "-f", "null", "-"]
    return subprocess.run(cmd, capture_output=True, text=True).stderr


# ----------------------------------------------------------------------------- mutagen


def test_read_tags_gives_exactly_the_tag_set(case: Case, tagged: Path) -> None:
    # Exact equality: read_tags reports unknown frames/comments as id3:/vorbis: keys,
    # so libsndfile's own ENCODER comment or a timestamp frame (TDTG, TDEN) would fail.
    assert read_tags(tagged, case.codec) == expected_fields(case, FULL)


def test_unset_fields_are_not_written(case: Case, untagged: Path) -> None:
    minimal = TagSet("T", "A", "B", "C", track_number=1, track_total=1)
    write_tags(untagged, case.codec, minimal)
    assert read_tags(untagged, case.codec) == {
        "title": "T",
        "artist": "A",
        "album": "B",
        "album_artist": "C",
        "track_number": "1",
        "track_total": "1",
        "disc_number": "1",
        "disc_total": "1",
    }


def riff_chunk_ids(path: Path) -> list[str]:
    """Top-level chunk ids of a RIFF/WAVE file, a LIST chunk as ``"LIST/<type>"``.

    Parsed here rather than with masterbuild.tags, so that a bug there cannot hide.
    Fails on a chunk at an odd offset (readers would not find it) or past the end.
    """
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    ids = []
    offset = 12
    while offset < len(data):
        assert offset % 2 == 0 and offset + 8 <= len(data), f"chunk at {offset}"
        chunk_id, size = struct.unpack("<4sI", data[offset : offset + 8])
        kind = "/" + data[offset + 8 : offset + 12].decode("latin-1") if chunk_id == b"LIST" else ""
        ids.append(chunk_id.decode("latin-1") + kind)
        offset += 8 + size + (size & 1)
    assert offset == len(data)
    return ids


def info_chunk(fields: dict[bytes, str]) -> bytes:
    """A LIST/INFO chunk as other tools write it: NUL-terminated values, even-padded."""
    body = b""
    for sub_id, text in fields.items():
        value = text.encode("utf-8") + b"\x00"
        body += sub_id + struct.pack("<I", len(value)) + value + b"\x00" * (len(value) & 1)
    return b"LIST" + struct.pack("<I", 4 + len(body)) + b"INFO" + body


@pytest.mark.parametrize("case", WAV_CASES, ids=[c.name for c in WAV_CASES])
def test_wav_gets_one_id3_chunk_and_no_info_chunk(untagged: Path, tagged: Path) -> None:
    # No LIST/INFO: with one, ffmpeg discards the ID3 text and MediaInfo takes a Latin-1
    # Title from it (see masterbuild.tags).  libsndfile's own chunks stay as they were.
    assert riff_chunk_ids(tagged) == [*riff_chunk_ids(untagged), "id3 "]


@pytest.mark.parametrize("case", WAV_CASES, ids=[c.name for c in WAV_CASES])
@pytest.mark.parametrize("where", ["before-data", "at-end"])
def test_wav_info_chunk_of_another_tool_is_removed(case: Case, untagged: Path, where: str) -> None:
    samples, _ = sf.read(untagged)
    raw = untagged.read_bytes()
    info = info_chunk({b"INAM": "Old title", b"IART": "Old artist", b"ISFT": "Other tool 1.0"})
    at = raw.index(b"data") if where == "before-data" else len(raw)
    raw = raw[:at] + info + raw[at:]
    path = untagged.with_name("other-tool.wav")
    path.write_bytes(raw[:4] + struct.pack("<I", len(raw) - 8) + raw[8:])
    assert "LIST/INFO" in riff_chunk_ids(path)
    if shutil.which("ffprobe"):  # the hand-made chunk is one that readers take as INFO
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(path)],
            capture_output=True,
            check=True,
        )
        assert json.loads(out.stdout)["format"]["tags"]["title"] == "Old title"

    write_tags(path, "wav", FULL)
    assert riff_chunk_ids(path) == [*riff_chunk_ids(untagged), "id3 "]
    assert read_tags(path, "wav") == expected_fields(case, FULL)
    np.testing.assert_array_equal(sf.read(path)[0], samples)
    fresh = copy_of(untagged, "fresh")
    write_tags(fresh, "wav", FULL)
    assert path.read_bytes() == fresh.read_bytes()  # nothing of the old chunk is left


def test_wav_whose_odd_data_chunk_lacks_its_pad_byte(tmp_path: Path) -> None:
    # Some writers end the file right after an odd-sized data chunk; the ID3 chunk must
    # still start on an even offset, or no reader finds it (riff_chunk_ids checks).
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros(1001), 8000, subtype="PCM_U8")  # data chunk of 1001 bytes
    unpadded = path.read_bytes()[:-1]
    path.write_bytes(unpadded[:4] + struct.pack("<I", len(unpadded) - 8) + unpadded[8:])
    minimal = TagSet("T", "A", "B", "C", track_number=1, track_total=1)
    write_tags(path, "wav", minimal)
    assert riff_chunk_ids(path) == ["fmt ", "data", "id3 "]
    assert read_tags(path, "wav")["album_artist"] == "C"
    np.testing.assert_array_equal(sf.read(path)[0], np.zeros(1001))


# ----------------------------------------------------------------------------- ffprobe

_FFPROBE_ID3 = {
    "title": TITLE,
    "artist": "Demo Ensemble",
    "album": "First Light",
    "album_artist": "Demo Album Artist",
    "track": "3/10",
    "disc": "1/2",
    "date": "2026-11-20",
    "genre": "Electronic",
    "composer": "A. Writer",
    "tsrc": "USABC2600001",
    "publisher": "Example Records",
    "copyright": "2026 Example Records",
    "catalognumber": "EXR-001",
    "barcode": "036000241457",
    "replaygain_track_gain": RG_TRACK_GAIN,
    "replaygain_track_peak": RG_TRACK_PEAK,
    "replaygain_album_gain": RG_ALBUM_GAIN,
    "replaygain_album_peak": RG_ALBUM_PEAK,
}
_FFPROBE_VORBIS = {
    "title": TITLE,
    "artist": "Demo Ensemble",
    "album": "First Light",
    "album_artist": "Demo Album Artist",
    "track": "3",
    "tracktotal": "10",
    "disc": "1",
    "disctotal": "2",
    "date": "2026-11-20",
    "genre": "Electronic",
    "composer": "A. Writer",
    "isrc": "USABC2600001",
    "label": "Example Records",
    "publisher": "Example Records",
    "copyright": "2026 Example Records",
    "catalognumber": "EXR-001",
    "barcode": "036000241457",
}
_FFPROBE_RG = {k: v for k, v in _FFPROBE_ID3.items() if k.startswith("replaygain_")}
_FFPROBE_R128 = {"r128_track_gain": R128_TRACK, "r128_album_gain": R128_ALBUM}


def _ffprobe_expected(case: Case) -> dict[str, str]:
    if case.family == "vorbis":
        gains = _FFPROBE_R128 if case.codec == "opus" else _FFPROBE_RG
        return _FFPROBE_VORBIS | gains
    return _FFPROBE_ID3


@needs_ffmpeg
def test_ffprobe_reads_the_tags(case: Case, tagged: Path) -> None:
    probe = ffprobe(tagged)
    audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
    # FLAC/ID3 tags are container-level; Ogg comments belong to the audio stream.
    shown = {
        key.lower(): value
        for key, value in (probe["format"].get("tags", {}) | audio.get("tags", {})).items()
    }
    expected = _ffprobe_expected(case)
    assert {k: shown.get(k) for k in expected} == expected


@needs_ffmpeg
def test_ffprobe_shows_the_cover_and_ffmpeg_extracts_it_intact(case: Case, tagged: Path) -> None:
    pictures = [s for s in ffprobe(tagged)["streams"] if s["disposition"]["attached_pic"]]
    assert [(p["codec_name"], p["width"], p["height"]) for p in pictures] == [("png", 2, 2)]
    assert pictures[0]["tags"]["comment"] == "Cover (front)"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(tagged), "-map", "0:v:0"]
    out = subprocess.run([*cmd, "-c", "copy", "-f", "image2pipe", "-"], capture_output=True)
    assert out.stdout == PNG


@needs_ffmpeg
def test_ffmpeg_decodes_tagged_file_without_errors(tagged: Path) -> None:
    assert ffmpeg_errors(tagged) == ""


# ----------------------------------------------------------------------------- MediaInfo


@needs_mediainfo
def test_mediainfo_reads_the_tags(case: Case, tagged: Path) -> None:
    general, _ = mediainfo(tagged)
    extra = general.get("extra", {})
    shown = {
        "Track": general.get("Track"),
        "Performer": general.get("Performer"),
        "Album": general.get("Album"),
        "Album_Performer": general.get("Album_Performer"),
        "Track_Position": general.get("Track_Position"),
        "Track_Position_Total": general.get("Track_Position_Total"),
        # MediaInfo 23.04 names a Vorbis DISCNUMBER "Part", an ID3 TPOS "Part_Position".
        "Part_Position": general.get("Part_Position", general.get("Part")),
        "Part_Position_Total": general.get("Part_Position_Total"),
        "Recorded_Date": general.get("Recorded_Date"),
        "Genre": general.get("Genre"),
        "Composer": general.get("Composer"),
        "ISRC": general.get("ISRC"),
        "Publisher": general.get("Publisher"),
        "Copyright": general.get("Copyright"),
        "CATALOGNUMBER": extra.get("CATALOGNUMBER"),
        "BARCODE": extra.get("BARCODE"),
        "Cover": general.get("Cover"),
    }
    assert shown == {
        "Track": TITLE,
        "Performer": "Demo Ensemble",
        "Album": "First Light",
        "Album_Performer": "Demo Album Artist",
        "Track_Position": "3",
        "Track_Position_Total": "10",
        "Part_Position": "1",
        "Part_Position_Total": "2",
        "Recorded_Date": "2026-11-20",
        "Genre": "Electronic",
        "Composer": "A. Writer",
        "ISRC": "USABC2600001",
        "Publisher": "Example Records",
        "Copyright": "2026 Example Records",
        "CATALOGNUMBER": "EXR-001",
        "BARCODE": "036000241457",
        "Cover": "Yes",
    }
    assert general["Title"] == TITLE  # on WAV too: from ID3 TIT2, there being no INFO
    if case.family == "vorbis":
        assert general.get("Label") == "Example Records"
    # MediaInfo shows picture type and mime for APIC and FLAC PICTURE blocks, not for
    # Ogg's METADATA_BLOCK_PICTURE (there, ffprobe's attached picture test covers it).
    if case.codec not in ("ogg", "opus"):
        assert (general.get("Cover_Type"), general.get("Cover_Mime")) == (
            "Cover (front)",
            "image/png",
        )


@needs_mediainfo
def test_mediainfo_reads_the_loudness(case: Case, tagged: Path) -> None:
    general, audio = mediainfo(tagged)
    extra = general.get("extra", {})
    if case.codec == "opus":
        # No R128 field in MediaInfo: the comments come through verbatim.
        shown = {k: extra.get(k) for k in ("R128_TRACK_GAIN", "R128_ALBUM_GAIN")}
        assert shown == {"R128_TRACK_GAIN": R128_TRACK, "R128_ALBUM_GAIN": R128_ALBUM}
    elif case.family == "vorbis":
        # Parsed: gain in dB without the unit, track values on the audio track.
        shown = {
            "track_gain": audio.get("ReplayGain_Gain"),
            "track_peak": audio.get("ReplayGain_Peak"),
            "album_gain": general.get("Album_ReplayGain_Gain"),
            "album_peak": general.get("Album_ReplayGain_Peak"),
        }
        assert shown == {
            "track_gain": RG_TRACK_GAIN.removesuffix(" dB"),
            "track_peak": RG_TRACK_PEAK,
            "album_gain": RG_ALBUM_GAIN.removesuffix(" dB"),
            "album_peak": RG_ALBUM_PEAK,
        }
    else:
        # ID3 TXXX ReplayGain is not parsed by MediaInfo, only listed verbatim.
        names = [f"REPLAYGAIN_{kind}" for kind in ("TRACK_GAIN", "TRACK_PEAK", "ALBUM_GAIN")]
        names.append("REPLAYGAIN_ALBUM_PEAK")
        assert [extra.get(n) for n in names] == [
            RG_TRACK_GAIN,
            RG_TRACK_PEAK,
            RG_ALBUM_GAIN,
            RG_ALBUM_PEAK,
        ]


# ----------------------------------------------------------------------------- reproducibility


def test_same_tags_on_two_copies_give_identical_bytes(case: Case, untagged: Path) -> None:
    first, second = copy_of(untagged, "first"), copy_of(untagged, "second")
    write_tags(first, case.codec, FULL)
    write_tags(second, case.codec, FULL)
    assert first.read_bytes() == second.read_bytes()
    write_tags(second, case.codec, FULL)  # and writing again changes nothing
    assert first.read_bytes() == second.read_bytes()


def test_retag_leaves_no_trace_and_keeps_the_audio(case: Case, untagged: Path) -> None:
    samples, _ = sf.read(untagged)
    retagged = copy_of(untagged, "retagged")
    write_tags(retagged, case.codec, FULL)
    write_tags(retagged, case.codec, RETAG)

    # The same bytes as tagging the untouched file: nothing of FULL can be left.
    fresh = copy_of(untagged, "fresh")
    write_tags(fresh, case.codec, RETAG)
    data = retagged.read_bytes()
    assert data == fresh.read_bytes()
    for old in (TITLE.encode("utf-8"), b"USABC2600001", b"IHDR", b"A. Writer"):
        assert old not in data
    assert read_tags(retagged, case.codec) == expected_fields(case, RETAG)

    after, _ = sf.read(retagged)
    np.testing.assert_array_equal(after, samples)


# ----------------------------------------------------------------------------- loudness


@pytest.mark.parametrize(
    ("lufs", "replaygain", "r128"),
    [
        (-18.0, "+0.00 dB", "-1280"),  # at the ReplayGain reference; -5 dB * 256
        (-23.0, "+5.00 dB", "0"),  # at the R128 reference
        (-14.0, "-4.00 dB", "-2304"),  # -9 dB * 256
        (-30.002, "+12.00 dB", "1793"),  # 7.002 * 256 = 1792.51, rounded to nearest
        (-14.2, "-3.80 dB", "-2253"),  # -8.8 * 256 = -2252.8, rounded to nearest
        (float("-inf"), None, None),  # silence: no gain at all
    ],
)
def test_gains_derived_from_loudness(
    tmp_path: Path, lufs: float, replaygain: str | None, r128: str | None
) -> None:
    tags = dataclasses.replace(FULL, track_lufs=lufs, album_lufs=None, album_peak=None)
    flac = write_audio(CASES[3], tmp_path / "a.flac")
    opus = write_audio(CASES[-1], tmp_path / "a.opus")
    write_tags(flac, "flac", tags)
    write_tags(opus, "opus", tags)
    assert read_tags(flac, "flac").get("replaygain_track_gain") == replaygain
    assert read_tags(opus, "opus").get("r128_track_gain") == r128
    assert "replaygain_track_gain" not in read_tags(opus, "opus")  # RFC 7845: R128 only


# ----------------------------------------------------------------------------- Ogg serial


def _serials(path: Path) -> set[int]:
    serials = set()
    with open(path, "rb") as f:
        while True:
            try:
                serials.add(OggPage(f).serial)
            except EOFError:
                return serials


@pytest.mark.parametrize("case", OGG_CASES, ids=[c.name for c in OGG_CASES])
def test_normalize_ogg_serial_makes_builds_identical(case: Case, tmp_path: Path) -> None:
    one = write_audio(case, tmp_path / f"one.{case.ext}")
    two = write_audio(case, tmp_path / f"two.{case.ext}")
    assert one.read_bytes() != two.read_bytes()  # libsndfile's random serial

    for path in (one, two):
        normalize_ogg_serial(path, 0x6D62)
    assert one.read_bytes() == two.read_bytes()
    assert _serials(one) == {0x6D62}

    np.testing.assert_array_equal(sf.read(one)[0], sf.read(two)[0])
    if shutil.which("ffmpeg"):
        assert ffmpeg_errors(one) == ""  # page CRCs are right, or ffmpeg would complain


@pytest.mark.parametrize("case", OGG_CASES, ids=[c.name for c in OGG_CASES])
def test_normalize_ogg_serial_changes_nothing_else(case: Case, tmp_path: Path) -> None:
    path = write_audio(case, tmp_path / f"a.{case.ext}")
    write_tags(path, case.codec, FULL)  # multi-page comment header, as in a build
    original = path.read_bytes()
    (serial,) = _serials(path)
    normalize_ogg_serial(path, serial)
    assert path.read_bytes() == original
    normalize_ogg_serial(path, 7)
    assert read_tags(path, case.codec) == expected_fields(case, FULL)


@pytest.mark.parametrize("serial", [-1, 1 << 32])
def test_normalize_ogg_serial_rejects_out_of_range(tmp_path: Path, serial: int) -> None:
    path = write_audio(OGG_CASES[0], tmp_path / "a.ogg")
    with pytest.raises(ValueError, match="32-bit"):
        normalize_ogg_serial(path, serial)


# ----------------------------------------------------------------------------- bad input


def test_unknown_codec_is_rejected(tmp_path: Path) -> None:
    path = write_audio(CASES[0], tmp_path / "a.wav")
    with pytest.raises(ValueError, match="unknown codec 'm4a'"):
        write_tags(path, "m4a", FULL)
    with pytest.raises(ValueError, match="unknown codec"):
        read_tags(path, "WAV")
    assert "m4a" not in CONTAINERS


@pytest.mark.parametrize("mime", ["image/gif", "image/jpg", "png", ""])
def test_cover_with_bad_mime_is_rejected(mime: str) -> None:
    with pytest.raises(ValueError, match="cover mime"):
        Cover(PNG, mime)


@pytest.mark.parametrize(
    "change",
    [
        {"cover": Cover(PNG, "image/jpeg")},  # data is not what the mime says
        {"isrc": "US-ABC-26-00001"},  # not normalised
        {"barcode": "03600024145"},  # 11 digits
        {"date": "20/11/2026"},
        {"track_number": 0},
        {"track_number": 11},  # beyond track_total
        {"disc_number": 3},  # beyond disc_total
    ],
)
def test_bad_values_are_rejected_before_the_file_is_touched(tmp_path: Path, change: dict) -> None:
    path = write_audio(CASES[3], tmp_path / "a.flac")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="bad tags"):
        write_tags(path, "flac", dataclasses.replace(FULL, **change))
    assert path.read_bytes() == before
