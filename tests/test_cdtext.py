"""CD-Text packs: round trips, published CRC vectors, pack structure, limits, libcdio.

Independence: the expected CRCs and the 0x8F size-information packs below are copied
from published dumps, not computed by the code under test:

- Sony's example packs quoted in Thomas Schmitt, "Description of CD-TEXT" (libburn
  ``doc/cdtext.txt``, also GNU libcdio ``doc/cd-text-format.texi``): three 0x8F packs,
  three 0x88 and four 0x89 packs with their CRC bytes.
- The cdrtfe author's example of the three 0x8F packs of a 2-track disc with 5 TITLE
  and 3 PERFORMER packs (delphipraxis.net/1225201-post3.html), which our encoder must
  reproduce byte for byte, CRCs included.

The installed GNU libcdio (Debian ``libcdio19``) is a second, independent reader: its
``cdtext_data_init`` parses our packs through ctypes. The test skips where the library
is absent. libcdio 2.1 drops empty texts and files a text under the track byte of the
pack where it *ends*, so two texts ending in one pack collide; the albums given to it
therefore have every text at least 12 characters long (one terminator per pack at most).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import pytest

from masterbuild.cd.cdtext import (
    MAX_PACKS,
    PACK_BYTES,
    CdTextError,
    cdtext_crc,
    decode_cdtext,
    encode_cdtext,
)
from masterbuild.cd.layout import CdLayout, CdTrack

# --- published packs --------------------------------------------------------------

# Schmitt, doc/cdtext.txt: Sony example, 0x8F size information and TOC packs.
SONY_PACKS = [
    "8f 00 2a 00 01 01 03 00 06 05 04 05 07 06 01 02 48 65",
    "8f 01 2b 00 00 00 00 00 00 00 06 03 2c 00 00 00 c0 20",
    "8f 02 2c 00 00 00 00 00 09 00 00 00 00 00 00 00 11 45",
    "88 00 23 00 01 0e 00 3f 02 12 00 00 00 00 00 00 12 00",
    "88 01 24 00 00 02 00 04 0b 19 08 02 32 0b 2f 3e 67 2d",
    "88 0d 27 00 35 18 19 39 03 19 00 00 00 00 00 00 ea af",
    "89 01 28 00 01 04 00 00 00 00 02 29 30 02 34 3a f3 0c",
    "89 06 29 00 02 04 00 00 00 00 17 0e 19 17 1d 3c 73 92",
    "89 07 2a 00 03 04 00 00 00 00 1c 1e 27 1c 2a 1e 72 20",
    "89 0d 2b 00 04 04 00 00 00 00 37 0d 1a 37 1f 32 0b 62",
]
# cdrtfe example: 2 tracks, 5 TITLE packs (seq 0-4), 3 PERFORMER packs (seq 5-7).
CDRTFE_SIZE_PACKS = [
    "8f 00 08 00 00 01 02 00 05 03 00 00 00 00 00 00 f3 00",
    "8f 01 09 00 00 00 00 00 00 00 00 03 0a 00 00 00 36 1b",
    "8f 02 0a 00 00 00 00 00 09 00 00 00 00 00 00 00 87 ed",
]


# --- albums -----------------------------------------------------------------------

TITLES = {
    "short": lambda n: f"T{n}",
    "twelve": lambda n: f"Twelve ch {n % 100:02d}",  # exactly 12 characters
    "long": lambda n: f"{n:02d} " + "Long title of a track that goes on and on " * 2,
    "latin1": lambda n: f"Café Müller {n} à la Señor ßøå ÿ ©",
}


def make_layout(
    n_tracks: int,
    title: str = "short",
    songwriter: bool = False,
    isrc: bool = False,
    upc: bool = False,
    performer: str = "Demo Ensemble",
) -> CdLayout:
    """An album whose CD-Text fields follow the given pattern; frames are nominal."""
    make_title = TITLES[title]
    tracks = tuple(
        CdTrack(
            number=n,
            title=make_title(n),
            performer=performer,
            pregap_start_frame=(n - 1) * 300,
            start_frame=(n - 1) * 300,
            end_frame=n * 300,
            songwriter=f"Writer {n}" if songwriter and n % 2 else None,
            isrc=f"USABC26{n:05d}" if isrc and n != 2 else None,
        )
        for n in range(1, n_tracks + 1)
    )
    return CdLayout(
        title=make_title(0),
        performer=performer,
        tracks=tracks,
        total_frames=n_tracks * 300,
        songwriter="Album Writer" if songwriter else None,
        catalog="0036000241457" if upc else None,
    )


def packs_of(data: bytes) -> list[bytes]:
    assert len(data) % PACK_BYTES == 0
    return [data[i : i + PACK_BYTES] for i in range(0, len(data), PACK_BYTES)]


def expected_text_packs(layout: CdLayout) -> int:
    """Text packs needed, computed from the field lengths alone (the limit oracle)."""
    tracks = layout.tracks
    fields = [
        [layout.title, *(t.title for t in tracks)],
        [layout.performer, *(t.performer for t in tracks)],
    ]
    if layout.songwriter or any(t.songwriter for t in tracks):
        fields.append([layout.songwriter or "", *(t.songwriter or "" for t in tracks)])
    if layout.catalog or any(t.isrc for t in tracks):
        fields.append([layout.catalog or "", *(t.isrc or "" for t in tracks)])
    return sum(math.ceil(sum(len(s) + 1 for s in texts) / 12) for texts in fields)


# --- round trips ------------------------------------------------------------------

EXTRAS = [
    (False, False, False),
    (True, True, True),
    (True, False, True),
    (False, True, False),
]


@pytest.mark.parametrize("extras", EXTRAS, ids=["bare", "all", "sw+upc", "isrc"])
@pytest.mark.parametrize("title", list(TITLES))
@pytest.mark.parametrize("n_tracks", [1, 3, 12, 99])
def test_round_trip(n_tracks: int, title: str, extras: tuple[bool, bool, bool]) -> None:
    songwriter, isrc, upc = extras
    layout = make_layout(
        n_tracks, title, songwriter, isrc, upc, performer="DE" if n_tracks == 99 else "Demo"
    )
    if expected_text_packs(layout) + 3 > MAX_PACKS:
        with pytest.raises(CdTextError, match="too long for the lead-in"):
            encode_cdtext(layout)
        return
    data = encode_cdtext(layout)
    assert len(data) == (expected_text_packs(layout) + 3) * PACK_BYTES
    got = decode_cdtext(data)
    assert got["title"] == [layout.title, *(t.title for t in layout.tracks)]
    assert got["performer"] == [layout.performer, *(t.performer for t in layout.tracks)]
    assert got["songwriter"] == [layout.songwriter, *(t.songwriter for t in layout.tracks)]
    assert got["upc"] == layout.catalog
    assert got["isrc"] == [None, *(t.isrc for t in layout.tracks)]
    assert got["first_track"] == 1
    types = {p[0] for p in packs_of(data)}
    assert (0x82 in types) == songwriter
    assert (0x8E in types) == (isrc or upc)


def test_round_trip_matrix_covers_99_tracks() -> None:
    """The 99-track cases are not all 'too long': the short ones really round-trip."""
    for extras in EXTRAS:
        layout = make_layout(99, "short", *extras, performer="DE")
        assert expected_text_packs(layout) + 3 <= MAX_PACKS
        assert len(decode_cdtext(encode_cdtext(layout))["title"]) == 100


# --- CRC --------------------------------------------------------------------------


@pytest.mark.parametrize("hex_pack", SONY_PACKS + CDRTFE_SIZE_PACKS)
def test_crc_matches_published_packs(hex_pack: str) -> None:
    pack = bytes.fromhex(hex_pack)
    assert cdtext_crc(pack[:16]) == int.from_bytes(pack[16:], "big")
    assert cdtext_crc(pack) == cdtext_crc(pack[:16])  # stored CRC bytes are ignored


def test_size_information_matches_published_cdrtfe_packs() -> None:
    """2 tracks, 5 TITLE and 3 PERFORMER packs: the 0x8F packs equal the published ones."""
    layout = CdLayout(
        title="An album title here",  # 20 bytes
        performer="Performer A",  # 12 bytes
        tracks=(
            CdTrack(1, "The first track title", "Perf B", 0, 150, 600),  # 22
            CdTrack(2, "The second one", "Perf C", 600, 600, 900),  # 15 -> 57 = 5 packs
        ),  # performers 12 + 7 + 7 = 26 bytes = 3 packs
        total_frames=900,
    )
    packs = packs_of(encode_cdtext(layout))
    assert [p.hex(" ") for p in packs[-3:]] == CDRTFE_SIZE_PACKS


def test_flipped_bit_is_detected() -> None:
    data = encode_cdtext(make_layout(3, "long", True, True, True))
    decode_cdtext(data)
    for bit in range(PACK_BYTES * 8):  # every bit of one pack
        bad = bytearray(data)
        bad[PACK_BYTES + bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(CdTextError, match="CRC"):
            decode_cdtext(bytes(bad))
    for k in range(len(data) // PACK_BYTES):  # one bit in every pack
        bad = bytearray(data)
        bad[k * PACK_BYTES + 7] ^= 0x10
        with pytest.raises(CdTextError, match=f"pack {k} "):
            decode_cdtext(bytes(bad))


# --- structure --------------------------------------------------------------------


@pytest.mark.parametrize("n_tracks", [1, 12, 40])
def test_sequence_and_size_information(n_tracks: int) -> None:
    layout = make_layout(n_tracks, "twelve", songwriter=True, isrc=True, upc=True)
    data = encode_cdtext(layout)
    packs = packs_of(data)
    assert all(len(p) == PACK_BYTES for p in packs)
    assert [p[2] for p in packs] == list(range(len(packs)))
    assert all(p[3] & 0xF0 == 0 for p in packs)  # block 0, single-byte characters
    types = [p[0] for p in packs]
    assert types == sorted(types)
    assert [p[1] for p in packs[-3:]] == [0, 1, 2] and set(types[-3:]) == {0x8F}
    record = b"".join(p[4:16] for p in packs[-3:])
    assert record[0] == 0x00  # ISO 8859-1
    assert (record[1], record[2]) == (1, n_tracks)
    assert record[3] == 0x00
    for t in range(0x80, 0x90):
        assert record[4 + t - 0x80] == types.count(t), hex(t)
    assert record[20] == len(packs) - 1
    assert record[21:28] == bytes(7)
    assert record[28] == 0x09  # English
    assert record[29:36] == bytes(7)


def test_char_position_across_track_boundaries() -> None:
    """Hand-worked TITLE packs: track byte and character position of each pack."""
    layout = CdLayout(
        title="First Light",  # 11 + NUL: fills pack 0 exactly
        performer="P1",
        tracks=(
            CdTrack(1, "Twelve chars", "P1", 0, 150, 600),  # NUL spills into pack 2
            CdTrack(2, "x" * 40, "P1", 600, 600, 900),
            CdTrack(3, "Dawn", "P1", 900, 900, 1200),
        ),
        total_frames=1200,
    )
    titles = [p for p in packs_of(encode_cdtext(layout)) if p[0] == 0x80]
    # stream: album 0-11 | t1 12-24 | t2 25-65 | t3 66-70
    assert [(p[1], p[3]) for p in titles] == [
        (0, 0),  # 0: album from its start
        (1, 0),  # 12: track 1 from its start
        (1, 12),  # 24: track 1's NUL, 12 characters already in pack 1
        (2, 11),  # 36: track 2, 11 characters in pack 2
        (2, 15),  # 48: track 2, 23 characters earlier: clamped to 15
        (2, 15),  # 60: track 2, 35 earlier
    ]
    assert titles[1][4:16] == b"Twelve chars"
    assert titles[2][4:6] == b"\0x"
    assert titles[-1][4:16] == b"xxxxx\0Dawn\0\0"


def test_decode_rejects_inconsistent_size_information() -> None:
    packs = [bytearray(p) for p in packs_of(encode_cdtext(make_layout(3)))]
    packs[-3][4 + 4] += 1  # record byte 4: one TITLE pack too many in the count
    packs[-3][16:18] = cdtext_crc(bytes(packs[-3])).to_bytes(2, "big")
    with pytest.raises(CdTextError, match="0x80"):
        decode_cdtext(b"".join(packs))


# --- limits and characters --------------------------------------------------------


def test_too_long_for_the_lead_in() -> None:
    layout = make_layout(99, "long")
    with pytest.raises(CdTextError) as info:
        encode_cdtext(layout)
    message = str(info.value)
    assert "too long for the lead-in" in message
    assert "256" in message and "Shorten" in message
    assert "\n" not in message


def test_block_limit_is_exactly_256_packs() -> None:
    """Grow one title a character at a time: the last fit uses all 256 sequence numbers."""
    base = make_layout(28, "long")  # 240 packs with 84-character titles
    last_ok = None
    for extra in range(0, 300):
        tracks = (*base.tracks[:-1], _retitle(base.tracks[-1], "y" * (80 + extra)))
        layout = CdLayout(base.title, base.performer, tracks, base.total_frames)
        try:
            last_ok = encode_cdtext(layout)
        except CdTextError:
            break
    else:
        pytest.fail("never reached the limit")
    assert last_ok is not None
    packs = packs_of(last_ok)
    assert len(packs) == MAX_PACKS == 256
    assert packs[-1][2] == 255
    assert decode_cdtext(last_ok)["title"][-1].startswith("yyy")


def _retitle(track: CdTrack, title: str) -> CdTrack:
    return CdTrack(
        track.number, title, track.performer, track.pregap_start_frame, track.start_frame,
        track.end_frame,
    )  # fmt: skip


def test_non_latin1_title_names_field_and_character() -> None:
    layout = make_layout(3)
    tracks = (layout.tracks[0], _retitle(layout.tracks[1], "Ωmega"), layout.tracks[2])
    bad = CdLayout(layout.title, layout.performer, tracks, layout.total_frames)
    with pytest.raises(
        CdTextError, match=r"title of track 2.*U\+03A9.*Latin-1 spelling in the title"
    ):
        encode_cdtext(bad)


def test_non_latin1_album_performer_and_songwriter() -> None:
    layout = make_layout(2)
    with pytest.raises(CdTextError, match=r"performer of the album.*'東'"):
        encode_cdtext(CdLayout("Tokyo", "東京", layout.tracks, layout.total_frames))
    with pytest.raises(CdTextError, match="songwriter of the album"):
        encode_cdtext(CdLayout("Tokyo", "Demo", layout.tracks, layout.total_frames, songwriter="Ŝ"))


def test_control_characters_and_codes_are_rejected() -> None:
    layout = make_layout(2)
    with pytest.raises(CdTextError, match="control character"):
        encode_cdtext(CdLayout("A\tB", "Demo", layout.tracks, layout.total_frames))
    with pytest.raises(CdTextError, match="13 digits"):
        encode_cdtext(CdLayout("A", "Demo", layout.tracks, layout.total_frames, catalog="123"))
    track = CdTrack(1, "T", "P", 0, 0, 300, isrc="us-abc-26-00001")
    with pytest.raises(CdTextError, match="ISRC of track 1"):
        encode_cdtext(CdLayout("A", "Demo", (track,), 300))


# --- independent reader: GNU libcdio ----------------------------------------------

CDTEXT_FIELDS = {"title": 0, "performer": 1, "songwriter": 2, "isrc": 6, "upc": 7}


def _libcdio() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("cdio")
    for candidate in filter(None, (name, "libcdio.so.19")):
        try:
            lib = ctypes.CDLL(candidate)
        except OSError:
            continue
        lib.cdtext_init.restype = ctypes.c_void_p
        lib.cdtext_data_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.cdtext_data_init.restype = ctypes.c_int
        lib.cdtext_get_const.restype = ctypes.c_char_p
        lib.cdtext_get_const.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint8]
        lib.cdtext_destroy.argtypes = [ctypes.c_void_p]
        return lib
    return None


LIBCDIO = _libcdio()


@pytest.mark.skipif(LIBCDIO is None, reason="GNU libcdio (Debian libcdio19) not installed")
@pytest.mark.parametrize("n_tracks", [1, 3, 12])
def test_libcdio_reads_our_packs(n_tracks: int) -> None:
    assert LIBCDIO is not None
    tracks = tuple(
        CdTrack(
            number=n,
            title=f"Träck {n:02d} - naïve façade",
            performer=f"Ensemble Nº {n:02d}",
            pregap_start_frame=(n - 1) * 300,
            start_frame=(n - 1) * 300,
            end_frame=n * 300,
            songwriter=f"Søngwriter {n:02d}",
            isrc=f"USABC26{n:05d}",
        )
        for n in range(1, n_tracks + 1)
    )
    layout = CdLayout(
        title="Album: Überschrift ©",
        performer="Demo Ensemble Ltd",
        tracks=tracks,
        total_frames=n_tracks * 300,
        songwriter="Album Søngwriter",
        catalog="0036000241457",
    )
    data = encode_cdtext(layout)
    handle = LIBCDIO.cdtext_init()
    try:
        assert LIBCDIO.cdtext_data_init(handle, ctypes.create_string_buffer(data), len(data)) == 0

        def get(field: str, track: int) -> str | None:
            value = LIBCDIO.cdtext_get_const(handle, CDTEXT_FIELDS[field], track)
            return None if value is None else value.decode("utf-8")

        assert get("title", 0) == layout.title
        assert get("performer", 0) == layout.performer
        assert get("songwriter", 0) == layout.songwriter
        assert get("upc", 0) == layout.catalog
        for t in tracks:
            assert get("title", t.number) == t.title
            assert get("performer", t.number) == t.performer
            assert get("songwriter", t.number) == t.songwriter
            assert get("isrc", t.number) == t.isrc
    finally:
        LIBCDIO.cdtext_destroy(handle)
