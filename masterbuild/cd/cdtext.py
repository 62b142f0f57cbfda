"""CD-Text: the R-W subcode packs of the lead-in, encoded from a `CdLayout` and decoded.

CD-Text lives in the R-W subchannels of the lead-in as a run of 18-byte *packs*::

    byte 0      pack type (0x80 TITLE, 0x81 PERFORMER, 0x82 SONGWRITER, ...,
                0x8E UPC/EAN and ISRC, 0x8F size information)
    byte 1      track number of the first character in the pack (0 = the album);
                for 0x8F the part number 0, 1, 2 of the 36-byte size record
    byte 2      sequence number, counted from 0 over the whole block
    byte 3      bit 7 double-byte characters (always 0 here), bits 6-4 block number
                (0 here: one language block), bits 3-0 character position: how many
                characters of the pack's first text were in earlier packs (max 15)
    bytes 4-15  12 bytes of payload: NUL-terminated texts, those of consecutive tracks
                back to back, the last pack of a type padded with NULs
    bytes 16-17 CRC-16, polynomial x^16 + x^12 + x^5 + 1 (0x1021), initial value 0,
                over bytes 0-15, the remainder inverted and stored big-endian

One block (language) holds at most 256 packs: the sequence number is a byte (MMC-3
Annex J; Schmitt: "grouped in up to 8 blocks of at most 256 packs"). Three of them are
the 0x8F size information, which leaves 253 packs = 3036 bytes for the text itself
(Schmitt: "at most 253 records with 12 bytes of payload"). libburn refuses a pack whose
sequence number would reach 255 (`burn_create_new_pack`), one pack stricter than this;
`MAX_PACKS` follows the format (256) and the limit check counts the 0x8F packs in it.

The three 0x8F packs carry a 36-byte record: character code (0x00 ISO 8859-1), first
and last track, copyright flag (0 = text may be copied), 16 pack counts for types
0x80..0x8F, the last sequence number of blocks 0..7 and the language code of blocks
0..7 (0x09 English, EBU Tech 3264 appendix 3).

The shortcut a TAB text offers ("same as the previous track") is not written: readers
such as libcdio do not expand it, and a player would show a TAB. `decode_cdtext`
expands it when it reads other tools' packs.

Sources
-------
- MMC-3 draft revision 10g (T10/1363-D), Annex J "CD-Text", as summarised in
  Thomas Schmitt, "Description of CD-TEXT", libburn ``doc/cdtext.txt`` (also GNU
  libcdio ``doc/cd-text-format.texi``): pack layout, character position rule, CRC
  (divisor 0x11021, remainder xor 0xFFFF, big-endian), 0x8F record, language codes,
  and the published Sony example packs used as test vectors in ``tests/test_cdtext.py``.
- GNU libcdio ``lib/driver/cdtext.c`` (`cdtext_data_init`, `cdtext_read_pack`): how
  a reader splits the payload into texts and reads the 0x8F record; the tests decode
  our packs with the installed libcdio as an independent reader.
- libburn ``libburn/cdtext.c`` (`burn_create_new_pack`): sequence and character
  position handling of a writer, and its per-block limit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from masterbuild.cd.layout import MAX_TRACKS, CdLayout

PACK_BYTES = 18
PAYLOAD_BYTES = 12
MAX_PACKS = 256  # per block: 8-bit sequence numbers 0..255, the 3 size packs included
SIZE_INFO_PACKS = 3
MAX_TEXT_PACKS = MAX_PACKS - SIZE_INFO_PACKS  # 253 packs of text, 3036 bytes

PACK_TITLE = 0x80
PACK_PERFORMER = 0x81
PACK_SONGWRITER = 0x82
PACK_UPC_ISRC = 0x8E
PACK_SIZE_INFO = 0x8F

CHARCODE_ISO_8859_1 = 0x00
CHARCODE_ASCII = 0x01
LANGUAGE_ENGLISH = 0x09
MAX_CHAR_POSITION = 15  # 4-bit field: 15 = "started 15 or more characters earlier"

_FIELD_NAMES = {
    PACK_TITLE: "title",
    PACK_PERFORMER: "performer",
    PACK_SONGWRITER: "songwriter",
    PACK_UPC_ISRC: "upc/isrc",
}
_ISRC_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")
_EAN_RE = re.compile(r"[0-9]{13}")


class CdTextError(ValueError):
    """The disc's text cannot be written as CD-Text, or packs read back are broken."""


def cdtext_crc(pack16: bytes) -> int:
    """CRC of a CD-Text pack as stored in its bytes 16-17.

    Parameters
    ----------
    pack16 : the first 16 bytes of a pack (header and payload); a whole 18-byte pack
        is accepted and its stored CRC ignored.

    Returns
    -------
    int
        CRC-16 with polynomial 0x1021 (CCITT), initial value 0, no reflection, the
        result inverted (xor 0xFFFF); bytes 16-17 of the pack hold it big-endian.
    """
    crc = 0
    for byte in bytes(pack16[:16]):
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc ^ 0xFFFF


def _pack(pack_type: int, track: int, seq: int, char_pos: int, payload: bytes) -> bytes:
    head = bytes((pack_type, track, seq, min(char_pos, MAX_CHAR_POSITION))) + payload
    return head + cdtext_crc(head).to_bytes(2, "big")


def _encode_text(field: str, where: str, text: str) -> bytes:
    """Latin-1 bytes of one text, or a CdTextError that says what to change."""
    for char in text:
        code = ord(char)
        if code > 0xFF:
            raise CdTextError(
                f"CD-Text {field} of {where}: character {char!r} (U+{code:04X}) is not "
                f"in ISO 8859-1 (Latin-1), the character set of CD-Text; use a Latin-1 "
                f"spelling in the {field}"
            )
        if code < 0x20 or 0x7F <= code < 0xA0:
            raise CdTextError(
                f"CD-Text {field} of {where}: control character U+{code:04X} cannot be "
                f"written; remove it from the {field}"
            )
    return text.encode("latin-1")


def _text_packs(pack_type: int, texts: Sequence[bytes], first_track: int) -> list[tuple]:
    """Packs of one type as (type, track, char_pos, payload), texts back to back.

    ``texts[0]`` belongs to track 0 (the album), ``texts[i]`` to track
    ``first_track + i - 1``. Each pack names the track of its first byte and how many
    bytes of that track's text (its terminating NUL included) came before it.
    """
    stream = bytearray()
    owner: list[int] = []
    offset: list[int] = []
    for i, text in enumerate(texts):
        track = 0 if i == 0 else first_track + i - 1
        terminated = text + b"\0"
        stream += terminated
        owner += [track] * len(terminated)
        offset += range(len(terminated))
    packs = []
    for start in range(0, len(stream), PAYLOAD_BYTES):
        payload = bytes(stream[start : start + PAYLOAD_BYTES]).ljust(PAYLOAD_BYTES, b"\0")
        packs.append((pack_type, owner[start], offset[start], payload))
    return packs


def _layout_texts(layout: CdLayout) -> dict[int, list[bytes]]:
    """The texts per pack type, album first, validated and encoded."""
    tracks = layout.tracks
    if not tracks:
        raise CdTextError("CD-Text needs at least one track")
    first = tracks[0].number
    for i, track in enumerate(tracks):
        if track.number != first + i or not 1 <= track.number <= MAX_TRACKS:
            raise CdTextError(
                f"CD-Text: track numbers must run 1..{MAX_TRACKS} without gaps; "
                f"track {i + 1} in running order is numbered {track.number}"
            )

    def where(number: int) -> str:
        return "the album" if number == 0 else f"track {number}"

    title = [_encode_text("title", where(0), layout.title)]
    performer = [_encode_text("performer", where(0), layout.performer)]
    for t in tracks:
        title.append(_encode_text("title", where(t.number), t.title))
        performer.append(_encode_text("performer", where(t.number), t.performer))
    texts = {PACK_TITLE: title, PACK_PERFORMER: performer}

    if layout.songwriter or any(t.songwriter for t in tracks):
        songwriter = [_encode_text("songwriter", where(0), layout.songwriter or "")]
        for t in tracks:
            songwriter.append(_encode_text("songwriter", where(t.number), t.songwriter or ""))
        texts[PACK_SONGWRITER] = songwriter

    if layout.catalog or any(t.isrc for t in tracks):
        if layout.catalog and not _EAN_RE.fullmatch(layout.catalog):
            raise CdTextError(
                f"CD-Text UPC/EAN {layout.catalog!r} must be 13 digits (EAN-13; a "
                f"12-digit UPC-A takes a leading 0)"
            )
        codes = [(layout.catalog or "").encode("ascii")]
        for t in tracks:
            if t.isrc and not _ISRC_RE.fullmatch(t.isrc):
                raise CdTextError(
                    f"CD-Text ISRC of track {t.number}: {t.isrc!r} must be 12 characters "
                    f"CCXXXYYNNNNN (upper case, no hyphens)"
                )
            codes.append((t.isrc or "").encode("ascii"))
        texts[PACK_UPC_ISRC] = codes
    return texts


def encode_cdtext(layout: CdLayout) -> bytes:
    """The CD-Text packs of a disc: one English block, ISO 8859-1.

    Packs 0x80 TITLE and 0x81 PERFORMER always; 0x82 SONGWRITER only if the album or
    a track has a songwriter (the others get empty texts); 0x8E UPC/EAN (track 0) and
    ISRC (tracks) only if the disc has a catalogue number or a track an ISRC; then
    the three 0x8F size information packs. Text of consecutive tracks is packed back
    to back with NUL terminators, 12 bytes per pack (MMC-3 Annex J).

    Parameters
    ----------
    layout : the disc; `title`, `performer`, `songwriter` and `catalog` are track 0.

    Returns
    -------
    bytes
        The packs concatenated, 18 bytes each, sequence numbers 0, 1, 2, ... with no
        4-byte READ TOC header in front.

    Raises
    ------
    CdTextError
        A character outside ISO 8859-1 or a control character (naming the field and
        track), a malformed ISRC or EAN, track numbers that do not run without gaps,
        or more text than one block of `MAX_PACKS` packs holds.
    """
    texts = _layout_texts(layout)
    first_track = layout.tracks[0].number
    last_track = layout.tracks[-1].number

    raw: list[tuple] = []
    for pack_type in sorted(texts):
        raw += _text_packs(pack_type, texts[pack_type], first_track)
    if len(raw) > MAX_TEXT_PACKS:
        over_bytes = (len(raw) - MAX_TEXT_PACKS) * PAYLOAD_BYTES
        per_type = ", ".join(
            f"{_FIELD_NAMES[t]} {sum(len(x) + 1 for x in texts[t])} bytes" for t in sorted(texts)
        )
        raise CdTextError(
            f"CD-Text too long for the lead-in: {len(raw)} text packs + "
            f"{SIZE_INFO_PACKS} size packs, but one block holds {MAX_PACKS} "
            f"({MAX_TEXT_PACKS} x {PAYLOAD_BYTES} bytes of text); {per_type}. "
            f"Shorten titles, performers or songwriters by at least {over_bytes} characters"
        )

    counts = [0] * 16
    for pack_type, *_ in raw:
        counts[pack_type - 0x80] += 1
    counts[PACK_SIZE_INFO - 0x80] = SIZE_INFO_PACKS
    last_seq = len(raw) + SIZE_INFO_PACKS - 1
    record = (
        bytes((CHARCODE_ISO_8859_1, first_track, last_track, 0x00))
        + bytes(counts)
        + bytes((last_seq, 0, 0, 0, 0, 0, 0, 0))
        + bytes((LANGUAGE_ENGLISH, 0, 0, 0, 0, 0, 0, 0))
    )
    for part in range(SIZE_INFO_PACKS):
        chunk = record[part * PAYLOAD_BYTES : (part + 1) * PAYLOAD_BYTES]
        raw.append((PACK_SIZE_INFO, part, 0, chunk))

    return b"".join(
        _pack(t, track, seq, pos, data) for seq, (t, track, pos, data) in enumerate(raw)
    )


def _split_packs(data: bytes) -> list[bytes]:
    if len(data) % PACK_BYTES:
        raise CdTextError(
            f"CD-Text is {len(data)} bytes, not a whole number of {PACK_BYTES}-byte packs"
        )
    packs = [data[i : i + PACK_BYTES] for i in range(0, len(data), PACK_BYTES)]
    for i, pack in enumerate(packs):
        stored = int.from_bytes(pack[16:18], "big")
        if cdtext_crc(pack) != stored:
            raise CdTextError(
                f"CD-Text pack {i} (type 0x{pack[0]:02X}) has CRC 0x{stored:04X}, "
                f"expected 0x{cdtext_crc(pack):04X}: the data is damaged"
            )
    return packs


def decode_cdtext(data: bytes) -> dict:
    """Read CD-Text packs back: block 0's title, performer, songwriter, UPC and ISRCs.

    Parameters
    ----------
    data : concatenated 18-byte packs, as `encode_cdtext` writes them (no 4-byte header).

    Returns
    -------
    dict
        ``{"title": [album, t1, t2, ...], "performer": [...], "songwriter": [...],
        "upc": str | None, "isrc": [None, t1, ...], "first_track": int}``. Titles and
        performers are strings (empty where absent); songwriter entries and ISRCs are
        None where empty, the songwriter list all None when the disc has no 0x82 packs.

    Raises
    ------
    CdTextError
        A bad CRC (names the pack), sequence numbers not consecutive from 0, missing
        or inconsistent 0x8F size information, double-byte text, or a pack whose track
        number or character position does not match its content.
    """
    packs = _split_packs(data)
    block0 = [p for p in packs if (p[3] >> 4) & 0x07 == 0]
    for i, pack in enumerate(block0):
        if pack[2] != i:
            raise CdTextError(f"CD-Text pack {i} of block 0 has sequence number {pack[2]}")
        if pack[3] & 0x80:
            raise CdTextError("CD-Text uses double-byte characters, which are not supported")
    size = {p[1]: p[4:16] for p in block0 if p[0] == PACK_SIZE_INFO}
    if sorted(size) != [0, 1, 2]:
        raise CdTextError("CD-Text block 0 lacks its three 0x8F size information packs")
    record = size[0] + size[1] + size[2]
    charcode, first_track, last_track = record[0], record[1], record[2]
    if charcode not in (CHARCODE_ISO_8859_1, CHARCODE_ASCII):
        raise CdTextError(f"CD-Text character code 0x{charcode:02X} is not supported")
    counts = list(record[4:20])
    for t in range(0x80, 0x90):
        have = sum(1 for p in block0 if p[0] == t)
        if have != counts[t - 0x80]:
            raise CdTextError(
                f"CD-Text size information counts {counts[t - 0x80]} packs of type "
                f"0x{t:02X}, the block has {have}"
            )
    if record[20] != len(block0) - 1:
        raise CdTextError(
            f"CD-Text size information gives last sequence number {record[20]}, "
            f"the block ends at {len(block0) - 1}"
        )
    if not 1 <= first_track <= last_track <= MAX_TRACKS:
        raise CdTextError(f"CD-Text track range {first_track}..{last_track} is invalid")
    n_texts = last_track - first_track + 2

    def texts(pack_type: int, charset: str = "latin-1") -> list[str] | None:
        of_type = [p for p in block0 if p[0] == pack_type]
        if not of_type:
            return None
        if of_type[0][1] != 0:
            raise CdTextError(f"CD-Text pack type 0x{pack_type:02X} does not start at track 0")
        return _decode_texts_from(of_type, n_texts, first_track, charset)

    title = texts(PACK_TITLE) or [""] * n_texts
    performer = texts(PACK_PERFORMER) or [""] * n_texts
    songwriter = texts(PACK_SONGWRITER) or [""] * n_texts
    codes = texts(PACK_UPC_ISRC, "ascii") or [""] * n_texts
    return {
        "title": title,
        "performer": performer,
        "songwriter": [s or None for s in songwriter],
        "upc": codes[0] or None,
        "isrc": [None] + [c or None for c in codes[1:]],
        "first_track": first_track,
    }


def _decode_texts_from(
    packs: list[bytes], n_texts: int, first_track: int, charset: str
) -> list[str]:
    """Texts of one pack type; text i > 0 belongs to track ``first_track + i - 1``."""
    stream = b"".join(p[4:16] for p in packs)
    pieces = stream.split(b"\0")
    if len(pieces) - 1 < n_texts:
        raise CdTextError(
            f"CD-Text pack type 0x{packs[0][0]:02X} holds {len(pieces) - 1} texts, "
            f"expected {n_texts} (album and tracks)"
        )
    starts = []
    end = 0
    for piece in pieces[:n_texts]:
        starts.append(end)
        end += len(piece) + 1
    i = 0
    for k, pack in enumerate(packs):
        at = k * PAYLOAD_BYTES
        if at >= end:  # padding after the last text
            continue
        while i + 1 < n_texts and starts[i + 1] <= at:
            i += 1
        track = 0 if i == 0 else first_track + i - 1
        char_pos = min(at - starts[i], MAX_CHAR_POSITION)
        if pack[1] != track or pack[3] & 0x0F != char_pos:
            raise CdTextError(
                f"CD-Text pack seq {pack[2]} (type 0x{pack[0]:02X}) gives track {pack[1]} "
                f"position {pack[3] & 0x0F}; its first byte is track {track} position "
                f"{char_pos}"
            )
    out: list[str] = []
    for piece in pieces[:n_texts]:
        text = piece.decode(charset)
        if text == "\t" and out:  # TAB: "same as the previous track"
            text = out[-1]
        out.append(text)
    return out
