"""Release tags: one declarative table, written with mutagen.

Every logical field maps to one key per tag family, the way beetbox/mediafile and
MusicBrainz Picard store it, so that players read it:

* ``id3``: an ID3v2.4 frame, UTF-8 (mp3; the ``id3 `` chunk of WAV; the ``ID3 `` chunk
  of AIFF).  ``"TRCK/0"`` and ``"TRCK/1"`` are the halves of a slash-packed ``n/N``.
* ``vorbis``: Vorbis comment names (flac, ogg, opus), the value written under each.
  The cover is a native PICTURE block on FLAC, a base64 ``METADATA_BLOCK_PICTURE`` on Ogg.

A WAV carries its tags in the ``id3 `` chunk only, with no RIFF ``LIST/INFO`` chunk
(which Picard adds): every field must read back in ffmpeg and MediaInfo, and

* ffmpeg's WAV demuxer discards the text of the ID3 chunk whenever an INFO chunk is
  present ("Discarding ID3 tags because more suitable tags were found"), which would
  leave it the few fields INFO can hold (no album artist, disc, ISRC, label, catalog,
  barcode or ReplayGain);
* MediaInfo (23.04) decodes INFO as Latin-1, so a UTF-8 title shows as mojibake, and
  takes Title from INFO over ID3.

Writing a WAV also removes any INFO chunk already there (from another tool).

Writing is a full replacement: every tag the file held before is dropped, so a re-tag
after a title fix leaves no trace of the old values and gives the same bytes as tagging
the untouched file.  Nothing time-dependent is written (no TDTG, TDEN, TENC, TSSE) and
padding is constant, so one :class:`TagSet` on two copies of a file gives equal bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import os
import re
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import mutagen.aiff
import mutagen.apev2
import mutagen.flac
import mutagen.id3
import mutagen.oggopus
import mutagen.oggvorbis
import mutagen.wave
from mutagen import PaddingInfo
from mutagen.ogg import OggPage

__all__ = [
    "CONTAINERS",
    "FIELDS",
    "Cover",
    "Key",
    "TagSet",
    "normalize_ogg_serial",
    "read_tags",
    "write_tags",
]

CONTAINERS = ("wav", "flac", "aiff", "mp3", "ogg", "opus")
"""Codec names as in the manifest's ``formats.*.codec``."""

COVER_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
"""Accepted cover types and the bytes their data must start with."""

PADDING_BYTES = 1024
"""Tag padding: room for a later in-place edit.  Constant, unlike mutagen's default
(which depends on file size and the padding already there), so that the output does
not depend on the file's history."""

REPLAYGAIN_REFERENCE_LUFS = -18.0  # ReplayGain 2.0
R128_REFERENCE_LUFS = -23.0  # EBU R128, as RFC 7845 section 5.2.1 requires for Opus


@dataclass(frozen=True)
class Cover:
    """Front cover image, embedded as-is.

    Parameters
    ----------
    data : the encoded image file.
    mime : ``"image/png"`` or ``"image/jpeg"``; anything else raises ValueError.
    """

    data: bytes
    mime: str

    def __post_init__(self) -> None:
        if self.mime not in COVER_MAGIC:
            raise ValueError(f"cover mime {self.mime!r} is not one of {sorted(COVER_MAGIC)}")


@dataclass(frozen=True)
class TagSet:
    """Everything written into one delivered file.

    Loudness is measured on this delivered file and on the album in this format
    (BS.1770 integrated LUFS, linear true peak).  The writer derives ReplayGain 2 or,
    for Opus, R128 gains from it; a non-finite figure (silence) is left unwritten.
    """

    title: str
    artist: str
    album: str
    album_artist: str
    track_number: int
    track_total: int
    disc_number: int = 1
    disc_total: int = 1
    date: str | None = None  # "YYYY" or "YYYY-MM-DD"
    genre: str | None = None
    composer: str | None = None
    isrc: str | None = None  # normalised, no hyphens: "USABC2600001"
    label: str | None = None
    catalog: str | None = None
    barcode: str | None = None  # UPC-A 12 or EAN-13 digits
    copyright: str | None = None
    cover: Cover | None = None
    track_lufs: float | None = None
    track_peak: float | None = None
    album_lufs: float | None = None
    album_peak: float | None = None


# ----------------------------------------------------------------------------- values


def _text(value: str | int | Cover | None) -> str | Cover | None:
    """Store a TagSet value as it is (numbers as decimal text)."""
    return value if value is None or isinstance(value, str | Cover) else str(value)


def _replaygain(lufs: float | None) -> str | None:
    """ReplayGain 2 gain: ``-18 - lufs`` dB as ``"%+.2f dB"``."""
    if lufs is None or not math.isfinite(lufs):
        return None
    return f"{REPLAYGAIN_REFERENCE_LUFS - lufs:+.2f} dB"


def _peak(peak: float | None) -> str | None:
    """ReplayGain peak: linear amplitude, 1.0 = full scale, ``"%.6f"``."""
    if peak is None or not math.isfinite(peak):
        return None
    return f"{peak:.6f}"


def _r128(lufs: float | None) -> str | None:
    """Opus R128 gain: ``-23 - lufs`` dB in Q7.8 fixed point, as opus-tools writes it."""
    if lufs is None or not math.isfinite(lufs):
        return None
    q78 = math.floor((R128_REFERENCE_LUFS - lufs) * 256 + 0.5)
    return str(max(-32768, min(32767, q78)))  # a signed 16-bit field (RFC 7845 5.2.1)


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Key:
    """Where one logical field is stored in each tag family, and what is stored.

    Parameters
    ----------
    id3 : ID3v2.4 frame id, ``"TXXX:DESC"`` for a user text frame, ``"FRAME/i"`` for
        position ``i`` of a slash-packed ``n/N`` frame, or None.
    vorbis : Vorbis comment names; the first is the one readers look for, the others
        are aliases some software reads instead.
    codecs : the containers the field is written to.
    source : the TagSet attribute it comes from; None: the field's own name.
    encode : TagSet value -> stored value; None means "do not write".
    """

    id3: str | None
    vorbis: tuple[str, ...]
    codecs: tuple[str, ...] = CONTAINERS
    source: str | None = None
    encode: Callable[[Any], str | Cover | None] = _text


_OPUS = ("opus",)
_NOT_OPUS = tuple(c for c in CONTAINERS if c not in _OPUS)


def _gain_key(kind: str, source: str, encode: Callable[[Any], str | None]) -> Key:
    """A ReplayGain 2 field: TXXX:REPLAYGAIN_<KIND> / REPLAYGAIN_<KIND>, never in Opus."""
    name = f"REPLAYGAIN_{kind}"
    return Key(f"TXXX:{name}", (name,), codecs=_NOT_OPUS, source=source, encode=encode)


# The table.  Sources: Picard's tag mapping (picard/formats/{id3,vorbis}.py),
# mediafile's MediaFile fields, RFC 7845 5.2.1.  Dict order is the write order of Vorbis
# comments; mutagen orders ID3 frames itself, deterministically.
FIELDS: dict[str, Key] = {
    "title": Key("TIT2", ("TITLE",)),
    "artist": Key("TPE1", ("ARTIST",)),
    "album": Key("TALB", ("ALBUM",)),
    "album_artist": Key("TPE2", ("ALBUMARTIST",)),
    "track_number": Key("TRCK/0", ("TRACKNUMBER",)),
    "track_total": Key("TRCK/1", ("TRACKTOTAL",)),
    "disc_number": Key("TPOS/0", ("DISCNUMBER",)),
    "disc_total": Key("TPOS/1", ("DISCTOTAL",)),
    "date": Key("TDRC", ("DATE",)),
    "genre": Key("TCON", ("GENRE",)),
    "composer": Key("TCOM", ("COMPOSER",)),
    "isrc": Key("TSRC", ("ISRC",)),
    # PUBLISHER as well as LABEL: mediafile writes both (Traktor reads PUBLISHER).  Not
    # Xiph's ORGANIZATION: neither Picard nor mediafile writes it, MediaInfo calls it Producer.
    "label": Key("TPUB", ("LABEL", "PUBLISHER")),
    "catalog": Key("TXXX:CATALOGNUMBER", ("CATALOGNUMBER",)),
    "barcode": Key("TXXX:BARCODE", ("BARCODE",)),
    "copyright": Key("TCOP", ("COPYRIGHT",)),
    "cover": Key("APIC", ("METADATA_BLOCK_PICTURE",)),  # picture type 3, front cover
    "replaygain_track_gain": _gain_key("TRACK_GAIN", "track_lufs", _replaygain),
    "replaygain_track_peak": _gain_key("TRACK_PEAK", "track_peak", _peak),
    "replaygain_album_gain": _gain_key("ALBUM_GAIN", "album_lufs", _replaygain),
    "replaygain_album_peak": _gain_key("ALBUM_PEAK", "album_peak", _peak),
    # RFC 7845: Opus carries R128 gains and must not carry REPLAYGAIN_* (nor peaks).
    "r128_track_gain": Key(
        None, ("R128_TRACK_GAIN",), codecs=_OPUS, source="track_lufs", encode=_r128
    ),
    "r128_album_gain": Key(
        None, ("R128_ALBUM_GAIN",), codecs=_OPUS, source="album_lufs", encode=_r128
    ),
}

_ISRC = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")
_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}-[0-9]{2})?")
_BARCODE = re.compile(r"[0-9]{12,13}")

Values = dict[str, str | Cover]


def _check(tags: TagSet) -> None:
    """Reject values that no reader could make sense of (the manifest checks first)."""
    problems = []
    if not 1 <= tags.track_number <= tags.track_total:
        problems.append(f"track {tags.track_number}/{tags.track_total}")
    if not 1 <= tags.disc_number <= tags.disc_total:
        problems.append(f"disc {tags.disc_number}/{tags.disc_total}")
    if tags.date is not None and not _DATE.fullmatch(tags.date):
        problems.append(f"date {tags.date!r} is not YYYY or YYYY-MM-DD")
    if tags.isrc is not None and not _ISRC.fullmatch(tags.isrc):
        problems.append(f"isrc {tags.isrc!r} is not 12 characters CCXXXYYNNNNN")
    if tags.barcode is not None and not _BARCODE.fullmatch(tags.barcode):
        problems.append(f"barcode {tags.barcode!r} is not 12 or 13 digits")
    cover = tags.cover
    if cover is not None and not cover.data.startswith(COVER_MAGIC.get(cover.mime, b"?")):
        problems.append(f"cover data is not a {cover.mime} file")
    if problems:
        raise ValueError("bad tags: " + "; ".join(problems))


def _values(tags: TagSet, codec: str) -> Values:
    """Logical field -> value to store in a `codec` file, in table order; unset left out."""
    values: Values = {}
    for name, key in FIELDS.items():
        value = key.encode(getattr(tags, key.source or name))
        if value not in (None, "") and codec in key.codecs:
            values[name] = value
    return values


def _cover_text(data: bytes, mime: str) -> str:
    """How `read_tags` reports a picture: its type and content hash."""
    return f"{mime} sha256:{hashlib.sha256(data).hexdigest()}"


def _padding(_info: PaddingInfo) -> int:
    return PADDING_BYTES


# ----------------------------------------------------------------------------- ID3


def _id3_frames(values: Values) -> Iterator[mutagen.id3.Frame]:
    """The table's ``id3`` column as frames, UTF-8 text."""
    utf8 = mutagen.id3.Encoding.UTF8
    packed: dict[str, list[str]] = {}
    for name, value in values.items():
        key = FIELDS[name].id3
        if key is None:
            continue
        if isinstance(value, Cover):
            cover_type = mutagen.id3.PictureType.COVER_FRONT
            yield mutagen.id3.APIC(utf8, value.mime, cover_type, "", value.data)
        elif key.startswith("TXXX:"):
            yield mutagen.id3.TXXX(encoding=utf8, desc=key[5:], text=[value])
        elif "/" in key:
            frame_id, position = key.split("/")
            packed.setdefault(frame_id, ["", ""])[int(position)] = value
        else:
            yield mutagen.id3.Frames[key](encoding=utf8, text=[value])
    for frame_id, (number, total) in packed.items():
        text = f"{number}/{total}" if total else number
        yield mutagen.id3.Frames[frame_id](encoding=utf8, text=[text])


def _fill_id3(tags: mutagen.id3.ID3, values: Values) -> None:
    tags.clear()
    for frame in _id3_frames(values):
        tags.add(frame)


def _read_id3(tags: mutagen.id3.ID3 | None) -> dict[str, str]:
    """Invert the ``id3`` column; frames outside it come back as ``"id3:<HashKey>"``."""
    out: dict[str, str] = {}
    by_key = {key.id3: name for name, key in FIELDS.items() if key.id3}
    for hash_key, frame in sorted((tags or {}).items()):
        if isinstance(frame, mutagen.id3.APIC) and frame.type == 3:
            out["cover"] = _cover_text(frame.data, frame.mime)
            continue
        text = "/".join(str(t) for t in getattr(frame, "text", [repr(frame)]))
        if f"{frame.FrameID}/0" in by_key:
            number, _, total = text.partition("/")
            out[by_key[f"{frame.FrameID}/0"]] = number
            if total:
                out[by_key[f"{frame.FrameID}/1"]] = total
        elif hash_key in by_key:
            out[by_key[hash_key]] = text
        else:
            out[f"id3:{hash_key}"] = text
    return out


# ----------------------------------------------------------------------------- Vorbis


def _picture_block(cover: Cover) -> mutagen.flac.Picture:
    """A FLAC picture block.  Width, height and depth stay 0 (unknown), as mediafile
    writes them; libopus wants those all zero or all set (Picard, PICARD-2909)."""
    picture = mutagen.flac.Picture()
    picture.type = mutagen.id3.PictureType.COVER_FRONT
    picture.mime = cover.mime
    picture.desc = ""
    picture.data = cover.data
    return picture


def _vorbis_comments(values: Values) -> list[tuple[str, str]]:
    """(name, value) pairs in table order; a cover becomes METADATA_BLOCK_PICTURE."""
    pairs = []
    for name, value in values.items():
        if isinstance(value, Cover):
            value = base64.b64encode(_picture_block(value).write()).decode("ascii")
        pairs.extend((key, value) for key in FIELDS[name].vorbis)
    return pairs


def _read_vorbis(
    comments: Iterable[tuple[str, str]], pictures: Iterable[mutagen.flac.Picture]
) -> dict[str, str]:
    """Invert the ``vorbis`` column.

    An alias holding its field's value is implied; one holding anything else, and any
    comment outside the table, comes back as ``"vorbis:<NAME>"``.
    """
    by_key = {key.vorbis[0]: name for name, key in FIELDS.items()}
    alias_of = {alias: name for name, key in FIELDS.items() for alias in key.vorbis[1:]}
    out: dict[str, str] = {}
    aliases: list[tuple[str, str]] = []
    decoded = []
    for key, value in comments:
        key = key.upper()
        if key == "METADATA_BLOCK_PICTURE":
            decoded.append(mutagen.flac.Picture(base64.b64decode(value)))
        elif key in by_key:
            out[by_key[key]] = value
        elif key in alias_of:
            aliases.append((key, value))
        else:
            out[f"vorbis:{key}"] = value
    for picture in [*pictures, *decoded]:
        if picture.type == 3:
            out["cover"] = _cover_text(picture.data, picture.mime)
    for key, value in aliases:
        if out.get(alias_of[key]) != value:
            out[f"vorbis:{key}"] = value
    return out


# ----------------------------------------------------------------------------- RIFF chunks


def _riff_chunks(f: BinaryIO) -> list[tuple[bytes, int, int]]:
    """Top-level chunks of a RIFF/WAVE file: (id, offset, size with header and pad)."""
    f.seek(0)
    header = f.read(12)
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file (RF64 and RIFX are not supported)")
    end = f.seek(0, os.SEEK_END)
    chunks = []
    offset = 12
    while offset + 8 <= end:
        f.seek(offset)
        chunk_id, size = struct.unpack("<4sI", f.read(8))
        total = 8 + size + (size & 1)
        chunks.append((chunk_id, offset, min(total, end - offset)))
        offset += total
    return chunks


def _is_tag_chunk(f: BinaryIO, chunk_id: bytes, offset: int) -> bool:
    """An ID3 chunk (any case) or a LIST chunk of type INFO."""
    if chunk_id.lower() == b"id3 ":
        return True
    f.seek(offset + 8)
    return chunk_id == b"LIST" and f.read(4) == b"INFO"


def _cut(f: BinaryIO, offset: int, size: int) -> None:
    """Delete `size` bytes at `offset`, moving the rest of the file down."""
    end = f.seek(0, os.SEEK_END)
    position = offset + size
    while position < end:
        f.seek(position)
        block = f.read(1 << 20)
        f.seek(position - size)
        f.write(block)
        position += len(block)
    f.truncate(end - size)


def _drop_riff_tags(path: Path) -> None:
    """Drop every ID3 and LIST/INFO chunk, and leave the file ending on an even offset
    (a truncated odd chunk lacks its pad byte), so that a chunk can be appended."""
    with open(path, "r+b") as f:
        for chunk_id, offset, size in reversed(_riff_chunks(f)):
            if _is_tag_chunk(f, chunk_id, offset):
                _cut(f, offset, size)
        end = f.seek(0, os.SEEK_END)
        f.write(b"\x00" * (end & 1))
        end = f.tell()
        f.seek(4)
        f.write(struct.pack("<I", end - 8))


# ----------------------------------------------------------------------------- writers


def _write_mp3(path: Path, values: Values) -> None:
    mutagen.apev2.delete(path)  # no-op unless some tool added an APEv2 tag
    tags = mutagen.id3.ID3()  # a fresh tag replaces the one in the file as a whole
    _fill_id3(tags, values)
    tags.save(path, v1=mutagen.id3.ID3v1SaveOptions.REMOVE, v2_version=4, padding=_padding)


def _write_wav(path: Path, values: Values) -> None:
    _drop_riff_tags(path)  # ID3 only, no INFO: see the module docstring
    audio = mutagen.wave.WAVE(path)
    audio.add_tags()  # _drop_riff_tags left no ID3 chunk
    _fill_id3(audio.tags, values)
    audio.save(v2_version=4, padding=_padding)


def _write_aiff(path: Path, values: Values) -> None:
    audio = mutagen.aiff.AIFF(path)
    audio.delete()  # drop the old chunk (and empty audio.tags): the new one goes last
    if audio.tags is None:
        audio.add_tags()
    _fill_id3(audio.tags, values)
    audio.save(v2_version=4, padding=_padding)


def _write_flac(path: Path, values: Values) -> None:
    audio = mutagen.flac.FLAC(path)
    audio.clear_pictures()
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()  # keeps the encoder's vendor string, which is not a tag
    for name, value in values.items():
        if isinstance(value, Cover):
            audio.add_picture(_picture_block(value))
        else:
            audio.tags.extend((key, value) for key in FIELDS[name].vorbis)
    audio.save(padding=_padding, deleteid3=True)


def _ogg_writer(kind: type[mutagen.FileType]) -> Callable[[Path, Values], None]:
    def write(path: Path, values: Values) -> None:
        audio = kind(path)
        audio.tags.clear()  # keeps the vendor string, as for FLAC
        audio.tags.extend(_vorbis_comments(values))
        audio.save(padding=_padding)

    return write


_WRITERS: dict[str, Callable[[Path, Values], None]] = {
    "wav": _write_wav,
    "flac": _write_flac,
    "aiff": _write_aiff,
    "mp3": _write_mp3,
    "ogg": _ogg_writer(mutagen.oggvorbis.OggVorbis),
    "opus": _ogg_writer(mutagen.oggopus.OggOpus),
}


def _known(codec: str) -> str:
    if codec not in CONTAINERS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {', '.join(CONTAINERS)}")
    return codec


def write_tags(path: str | Path, codec: str, tags: TagSet) -> None:
    """Replace all tags of the file at `path` with exactly `tags`.

    Parameters
    ----------
    path : an untagged or previously tagged file written by libsndfile; changed in
        place (write a temporary copy and rename it, as every build output is).
    codec : one of :data:`CONTAINERS`.
    tags : the complete tag set; fields left None are not written.

    Raises
    ------
    ValueError
        Unknown `codec`, or a value no reader could use (bad track/disc numbers,
        date, ISRC, barcode, or cover data that is not of its mime type).

    Notes
    -----
    Only tag chunks, metadata blocks and comment packets change, never the audio.
    """
    _check(tags)
    _WRITERS[_known(codec)](Path(path), _values(tags, codec))


def read_tags(path: str | Path, codec: str) -> dict[str, str]:
    """Tags of the file at `path`: logical field -> value as stored.

    Track and disc ``n/N`` come back split (``track_number``, ``track_total``...);
    the cover as ``"<mime> sha256:<hex>"``; loudness as the stored strings under
    ``replaygain_*`` / ``r128_*``.  Whatever the table does not explain comes back
    as ``"id3:<frame>"`` or ``"vorbis:<NAME>"``, so that a caller can check that
    nothing else is in the file.
    """
    path = Path(path)
    codec = _known(codec)
    if codec == "mp3":
        try:
            return _read_id3(mutagen.id3.ID3(path))
        except mutagen.id3.ID3NoHeaderError:
            return {}
    if codec in ("wav", "aiff"):
        kind = mutagen.wave.WAVE if codec == "wav" else mutagen.aiff.AIFF
        return _read_id3(kind(path).tags)
    if codec == "flac":
        flac = mutagen.flac.FLAC(path)
        return _read_vorbis(flac.tags or [], flac.pictures)
    kind = mutagen.oggvorbis.OggVorbis if codec == "ogg" else mutagen.oggopus.OggOpus
    return _read_vorbis(kind(path).tags or [], [])


# ----------------------------------------------------------------------------- Ogg serial


def normalize_ogg_serial(path: str | Path, serial: int) -> None:
    """Give every page of a single-stream Ogg file the bitstream serial `serial`.

    libsndfile picks a random serial per file, so two builds of one master differ.
    The serial is covered by each page's CRC, which ``OggPage.write`` recomputes;
    nothing else in a page changes.

    Raises
    ------
    ValueError
        `serial` is not a 32-bit unsigned integer, or the file multiplexes several
        logical streams (whose serials must stay distinct).
    """
    if not 0 <= serial < 1 << 32:
        raise ValueError(f"Ogg serial {serial} is not a 32-bit unsigned integer")
    path = Path(path)
    raw = path.read_bytes()
    data = io.BytesIO(raw)
    pages = []
    while data.tell() < len(raw):
        pages.append(OggPage(data))
    serials = {page.serial for page in pages}
    if len(serials) > 1:
        raise ValueError(f"{path}: {len(serials)} logical Ogg streams; expected one")
    for page in pages:
        page.serial = serial
    path.write_bytes(b"".join(page.write() for page in pages))
