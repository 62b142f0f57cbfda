"""Cue sheet for a single-file CD image, and a reader for what it writes.

The sheet describes one WAVE image (16-bit, 44.1 kHz, stereo) that starts at track 1's
INDEX 00, so every time in it is the layout's frame number written as ``mm:ss:ff``
(75 frames a second; `CdLayout` already counts from track 1's INDEX 00).

Format decisions, checked against cdrdao 1.2.4 (``trackdb/Cue2Toc.cc``) and cuetools
1.4 (``lib/cue_scan.l``), the two independent readers the tests run:

- Line endings: CRLF. The cue sheet is a CDRWIN (DOS) format and Windows plant and
  burning tools expect CRLF; cdrdao and cuetools treat ``\\r`` as whitespace, so CRLF
  costs nothing on Linux.
- Encoding: ISO-8859-1 (Latin-1); see `CUE_ENCODING` and `cue_sheet_bytes`. Neither
  reader decodes anything: the bytes of TITLE/PERFORMER/SONGWRITER go verbatim into
  the CD-Text packs, whose default character code (0x00) is ISO-8859-1. UTF-8 bytes
  would show on players as mojibake ("Ã©" for "é"), so text outside Latin-1 is refused
  after the usual typographic substitutions (curly quotes, dashes, ellipsis, no-break
  space) have been made.
- Quotes: there is no escape a reader agrees on. cdrdao ends a string at the next
  ``"``; cuetools keeps a ``\\"`` verbatim (backslash included). So ``"`` in text is
  written as ``'``. A backslash is written as ``/``: cdrdao copies cue text into a
  TOC file, whose lexer reads ``\\`` as the start of an escape and rejects the file.
  Tabs and line breaks become spaces.
- Length: a cue string holds at most 80 characters (CDRWIN; cdrdao's ``CDTEXTLEN``
  fails the sheet with "String too long"), so a longer field is an error.
- Programme length: a cue sheet does not say where the last track ends (the reader
  takes it from the image's size), so a ``REM PROGRAMME_LENGTH mm:ss:ff`` comment
  carries it for `parse_cue`; every reader skips REM lines.

Known cdrdao defect: its cue importer writes an ``INDEX 02..`` time unchanged into the
TOC it builds, where INDEX is an offset from the track's INDEX 01, so cdrdao places
sub-indexes late by the track's start time (and rejects the sheet when that falls past
the track's end). Track starts, pauses and ends are read correctly. Sub-indexes are
rare on pop masters; when one is needed, check the disc in the plant's software or burn
from a TOC file rather than from this sheet with cdrdao.
"""

from __future__ import annotations

import re
from dataclasses import replace

from masterbuild.cd.layout import FRAMES_PER_SECOND, CdLayout, CdTrack, frames_to_msf

CUE_ENCODING = "iso-8859-1"
"""Byte encoding of the sheet: CD-Text's default character set (see module docstring)."""

NEWLINE = "\r\n"
MAX_TEXT_CHARS = 80  # CDRWIN cue strings; cdrdao's CDTEXTLEN

# Typographic characters outside Latin-1 that titles often carry, and what CD-Text gets.
_SUBSTITUTES = {
    "\u2018": "'",  # left single quotation mark
    "\u2019": "'",  # right single quotation mark / apostrophe
    "\u201a": "'",
    "\u201c": "'",  # double quotes cannot be written at all (no escape; see above)
    "\u201d": "'",
    "\u201e": "'",
    '"': "'",
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2026": "...",
    "\u00a0": " ",  # no-break space
    "\\": "/",
    "\t": " ",
    "\r": " ",
    "\n": " ",
}
_TRANSLATION = str.maketrans(_SUBSTITUTES)

_LINE = re.compile(r"^\s*([A-Z0-9_]+)(?:\s+(.*?))?\s*$")
_MSF = re.compile(r"^(\d{1,3}):(\d{2}):(\d{2})$")
_PROGRAMME_LENGTH_REM = "PROGRAMME_LENGTH"


def cue_text(value: str, location: str) -> str:
    """Make a CD-Text field safe for a cue sheet (quotes, backslashes, Latin-1, length).

    Parameters
    ----------
    value : the text as the manifest gives it.
    location : where it comes from (``"tracks[2].title"``), for the error message.

    Returns
    -------
    The text as it will be written between the double quotes.

    Raises
    ------
    ValueError
        The text has characters outside ISO-8859-1 or is over 80 characters.
    """
    text = value.translate(_TRANSLATION)
    bad = sorted({ch for ch in text if ord(ch) > 0xFF or ord(ch) < 0x20 or ch == "\x7f"})
    if bad:
        shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in bad)
        raise ValueError(
            f"{location} {value!r} has {shown}, outside ISO-8859-1 (Latin-1), the character "
            "set CD-Text uses: spell it with Latin-1 characters"
        )
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(
            f"{location} is {len(text)} characters; a cue sheet string holds at most "
            f"{MAX_TEXT_CHARS} (cdrdao rejects longer ones): shorten it"
        )
    return text


def cue_sheet(layout: CdLayout, image_name: str) -> str:
    """The cue sheet of a single-file image of `layout`.

    Parameters
    ----------
    layout : the disc; its frame numbers are positions in the image (frame 0 is track
        1's INDEX 00, the first byte of the image's audio).
    image_name : the image's file name as the sheet refers to it (``FILE "..." WAVE``),
        normally a bare name beside the sheet.

    Returns
    -------
    The sheet with CRLF line endings; write it with `cue_sheet_bytes` (ISO-8859-1).

    Raises
    ------
    ValueError
        A text field cannot be carried (see `cue_text`), or `image_name` has a ``"``
        or a line break.
    """
    if any(ch in image_name for ch in '"\r\n') or not image_name:
        raise ValueError(
            f"image name {image_name!r} cannot go in a cue sheet: use a name without "
            "double quotes or line breaks"
        )
    lines: list[str] = [f"REM {_PROGRAMME_LENGTH_REM} {frames_to_msf(layout.total_frames)}"]
    if layout.catalog:
        lines.append(f"CATALOG {layout.catalog}")
    lines += _text_lines(layout.title, layout.performer, layout.songwriter, "", "layout")
    lines.append(f'FILE "{image_name}" WAVE')
    for i, track in enumerate(layout.tracks):
        where = f"tracks[{i}]"
        lines.append(f"  TRACK {track.number:02d} AUDIO")
        lines += _text_lines(track.title, track.performer, track.songwriter, "    ", where)
        flags = [
            flag
            for flag, wanted in (("DCP", track.copy_permitted), ("PRE", track.pre_emphasis))
            if wanted
        ]
        if flags:
            lines.append("    FLAGS " + " ".join(flags))
        if track.isrc:
            lines.append(f"    ISRC {track.isrc}")
        if track.pregap_start_frame < track.start_frame:
            lines.append(f"    INDEX 00 {frames_to_msf(track.pregap_start_frame)}")
        lines.append(f"    INDEX 01 {frames_to_msf(track.start_frame)}")
        for n, frame in enumerate(track.index_frames, start=2):
            lines.append(f"    INDEX {n:02d} {frames_to_msf(frame)}")
    return NEWLINE.join(lines) + NEWLINE


def cue_sheet_bytes(layout: CdLayout, image_name: str) -> bytes:
    """`cue_sheet` encoded as the file should hold it (ISO-8859-1, CRLF)."""
    return cue_sheet(layout, image_name).encode(CUE_ENCODING)


def _text_lines(
    title: str, performer: str, songwriter: str | None, indent: str, where: str
) -> list[str]:
    out = []
    for keyword, value in (("TITLE", title), ("PERFORMER", performer), ("SONGWRITER", songwriter)):
        if value:
            text = cue_text(value, f"{where}.{keyword.lower()}")
            out.append(f'{indent}{keyword} "{text}"')
    return out


def msf_to_frames(msf: str) -> int:
    """``"mm:ss:ff"`` -> frames (the inverse of `frames_to_msf`)."""
    match = _MSF.match(msf)
    if not match:
        raise ValueError(f"{msf!r} is not a cue sheet time: expected mm:ss:ff")
    minutes, seconds, frames = (int(g) for g in match.groups())
    if seconds >= 60 or frames >= FRAMES_PER_SECOND:
        raise ValueError(f"{msf!r} is not a cue sheet time: seconds < 60, frames < 75")
    return (minutes * 60 + seconds) * FRAMES_PER_SECOND + frames


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_cue(text: str, total_frames: int | None = None) -> CdLayout:
    """Read back a single-file audio cue sheet such as `cue_sheet` writes.

    Parameters
    ----------
    text : the sheet, decoded (``data.decode(CUE_ENCODING)``); LF or CRLF.
    total_frames : the programme length (the image's length in frames); taken from the
        ``REM PROGRAMME_LENGTH`` comment when not given.

    Returns
    -------
    The layout: album and track text, catalog, ISRC, flags and all index points. The
    sheet cannot carry what `cue_text` substituted, so text comes back substituted.

    Raises
    ------
    ValueError
        A line this reader does not handle (several FILEs, PREGAP/POSTGAP silence, data
        tracks), missing INDEX 01, or no programme length.
    """
    album: dict[str, str | None] = {"title": "", "performer": "", "songwriter": None}
    catalog: str | None = None
    files = 0
    tracks: list[dict] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        match = _LINE.match(raw)
        if not match:
            raise ValueError(f"cue line {lineno}: cannot read {raw!r}")
        keyword, arg = match.group(1), match.group(2) or ""
        current = tracks[-1] if tracks else None
        if keyword == "REM":
            parts = arg.split()
            if len(parts) == 2 and parts[0] == _PROGRAMME_LENGTH_REM and total_frames is None:
                total_frames = msf_to_frames(parts[1])
        elif keyword == "CATALOG":
            catalog = arg
        elif keyword in ("TITLE", "PERFORMER", "SONGWRITER"):
            target = album if current is None else current
            target[keyword.lower()] = _unquote(arg)
        elif keyword == "FILE":
            files += 1
            if files > 1 or not arg.upper().endswith("WAVE"):
                raise ValueError(f"cue line {lineno}: only one WAVE file is supported")
        elif keyword == "TRACK":
            number, _, mode = arg.partition(" ")
            if mode.strip().upper() != "AUDIO":
                raise ValueError(f"cue line {lineno}: only AUDIO tracks are supported")
            tracks.append({"number": int(number), "title": "", "performer": "", "indexes": {}})
        elif current is None:
            raise ValueError(f"cue line {lineno}: {keyword} before the first TRACK")
        elif keyword == "FLAGS":
            flags = set(arg.split())
            current["pre_emphasis"] = "PRE" in flags
            current["copy_permitted"] = "DCP" in flags
        elif keyword == "ISRC":
            current["isrc"] = _unquote(arg)
        elif keyword == "INDEX":
            number, _, msf = arg.partition(" ")
            current["indexes"][int(number)] = msf_to_frames(msf.strip())
        else:
            raise ValueError(f"cue line {lineno}: {keyword} is not supported")
    if total_frames is None:
        raise ValueError(
            "the cue sheet does not give the programme length (REM PROGRAMME_LENGTH): "
            "pass total_frames, the image's length in frames"
        )
    built: list[CdTrack] = []
    for spec in tracks:
        indexes: dict[int, int] = spec["indexes"]
        if 1 not in indexes:
            raise ValueError(f"track {spec['number']} has no INDEX 01")
        start = indexes[1]
        built.append(
            CdTrack(
                number=spec["number"],
                title=spec["title"],
                performer=spec["performer"],
                pregap_start_frame=indexes.get(0, start),
                start_frame=start,
                end_frame=total_frames,  # set from the next track below
                songwriter=spec.get("songwriter"),
                isrc=spec.get("isrc"),
                index_frames=tuple(indexes[n] for n in sorted(indexes) if n >= 2),
                pre_emphasis=spec.get("pre_emphasis", False),
                copy_permitted=spec.get("copy_permitted", False),
            )
        )
    for i in range(len(built) - 1):
        built[i] = replace(built[i], end_frame=built[i + 1].pregap_start_frame)
    return CdLayout(
        title=album["title"] or "",
        performer=album["performer"] or "",
        tracks=tuple(built),
        total_frames=total_frames,
        songwriter=album["songwriter"],
        catalog=catalog,
    )
