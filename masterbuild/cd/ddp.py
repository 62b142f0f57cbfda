"""DDP 2.00 filesets for an audio CD: write one from a CdLayout, read and verify one back.

A DDP (Disc Description Protocol, Doug Carson & Associates) fileset is what a CD
replication plant takes as a master. DCA's specification is licensed, not public; the
layouts below follow public implementations that read and write filesets plants accept,
cross-checked against each other:

[ddpLib]  suntriprecords/ddpLib (Java), a reader written to extract the label's plant
          masters: ``v20/DdpIdLoader``, ``common/AbstractDdpIdLoader`` (DDPID),
          ``common/AbstractMapPacketLoader``, ``v20/MapPacketLoader`` (DDPMS),
          ``common/AbstractPqDescriptorLoader`` (PQ), ``util/DdpTrackDumper`` (image).
[spec]    ddp-reverse-eng/ddp-reverse-eng ``spec/ddp2.md``: the fileset as ddptools'
          cue2ddp, Sonoris DDP Creator and HOFA CD-Burn.DDP.Master write it, field by
          field, with the points where those writers disagree (its notes N4, N6, N9).
[readers] two further public readers agree on every offset used here: a TypeScript
          ``DDPId``/``DDPMsEntry``/``DDPPqEntry`` type table and a JavaScript DDP player
          (``parseDDPID``/``parseMapStream``/``parsePQStream``).

All three records are fixed-width ASCII with no terminators. Text fields are
left-aligned and space-padded; number fields are decimal, right-aligned. An unset field is
all spaces.

DDPID (one 128-byte record) [ddpLib, spec, readers]::

    off  width  field      written here
      0    8    level      "DDP 2.00"
      8   13    UPC/EAN    the catalogue number (13-digit EAN), blank when none
     21    8    MSS        map stream start: blank
     29    8    MSL        blank (reserved; its meaning is disputed, [spec] N11)
     37    1    MED        media number: blank
     38   48    MID        master identifier (free ASCII, never reaches the disc)
     86    1    BK         book: blank for audio CD (Sonoris writes "O")
     87    2    TYPE       "CD"
     89    4    NSIDE, SIDE, NLAYER, LAYER (1 each): DVD only, blank
     93    2    SIZ        user text length: blank (no user text)
     95   33    TXT        user text: blank

  The user text offset is disputed (ddpLib/ddpinfo read SIZ at 93, Sonoris and HOFA
  write it at 94, [spec] N4), so no user text is written; the reader ignores it.

DDPMS (one 128-byte Map Stream Descriptor packet per stream) [ddpLib, spec, readers]::

    off  width  field      PQ stream    CD-Text stream   audio stream
      0    4    MPV        "VVVM"       "VVVM"           "VVVM"
      4    2    DST        "S0"         "S0"             "D0" (main data)
      6    8    DSP        blank        blank            blank
     14    8    DSL        bytes        bytes            sectors of 2352 bytes
     22    8    DSS        blank        blank            "00000000" (starts at sector 0)
     30    8    SUB        "PQ DESCR"   "CDTEXT"         blank
     38    2    CDM        blank        blank            "DA" (CD-DA)
     40    1    SSM        blank        blank            "7" (complete 2352-byte sectors)
     41    1    SCR        blank        blank            "0" (not scrambled)
     42    4    PRE1       blank        blank            blank
     46    4    PRE2       blank        blank            track 1's pause in sectors ("0150")
     50    4    PST        blank        blank            blank
     54    1    MED        blank        blank            blank
     55    2    TRK        blank        "00"             blank
     57    2    IDX        blank        blank            blank
     59   12    ISRC       blank        blank            blank
     71    3    SIZ        "017"        "017"            "017" (width of DSI)
     74   17    DSI        "PQDESCR"    "CDTEXT.BIN"     "IMAGE.DAT" (the stream's file)
     91    1    NEW        blank (DDP 2.00 additions, unused by audio masters)
     92    4    PRE1NXT    blank
     96    8    PAUSEADD   blank
    104    9    OFS        blank
    113   15    (pad)      blank

  Packets come in the order CD-Text, PQ, audio (cue2ddp and HOFA). DSL counts 2352-byte
  sectors for the CD-DA main stream and bytes for the subcode streams ([ddpLib]
  ``AbstractMapPacket``, [spec] section 4): 2048-byte blocks are CD-ROM mode 1 user data
  and do not apply to CD-DA. Numbers are zero-padded as Sonoris and HOFA write them
  (cue2ddp pads with spaces; the reader accepts both). SCR: Sonoris and HOFA write "0",
  cue2ddp "1"; "0" is taken (two writers of three, and CD-DA is never scrambled).

PQDESCR (one 64-byte PQ descriptor packet per entry) [ddpLib, spec, readers]::

    off  width  field      content
      0    4    SPV        "VVVS"
      4    2    Tk         "00" lead-in, "01".."99", "AA" lead-out
      6    2    I          index "00".."99" ("01" for the lead-out)
      8    2    hours      reserved: blank
     10    6    MMSSFF     absolute time, minutes (to 99), seconds, frames (1/75 s)
     16    2    C1         Q control nibble in hex (bit 0 pre-emphasis, bit 1 digital copy
                           permitted) then ADR "1" (mode 1); "01" on lead-in and lead-out
     18    2    C2         reserved: blank
     20   12    ISRC       on each track's first packet only
     32   13    UPC/EAN    on the lead-in packet only (cue2ddp; HOFA repeats it)
     45   19    TXT        user comment: blank

  Sequence: the lead-in ("00", index 00, time 00:00:00, carrying the UPC/EAN); for each
  track its INDEX 00 packet when it has a pause (always for track 1), INDEX 01, then
  INDEX 02...; the lead-out ("AA", index 01, at the end of the image) written twice, as
  cue2ddp, Sonoris and HOFA all do ([spec] N9, [ddpLib] ``PqStream``). The reader
  accepts one or two lead-out packets.

Time base. PQ time 00:00:00 is the first sector of IMAGE.DAT, which is the start of
track 1's pause (INDEX 00): [ddpLib] ``DdpTrackDumper`` seeks to ``time * 2352`` bytes,
[spec] section 6 "sector n is at time n", and track 1's INDEX 01 sits at 00:02:00 in
every source. That is Red Book absolute time: the programme area starts at 00:00:00 and
the "+150" of MMC addressing (MSF = LBA + 150) exists because LBA 0 is track 1's INDEX
01, not its INDEX 00. CdLayout frames already count from track 1's INDEX 00, so
**PQ time = layout frame**, with no offset added; adding 150 would put track 1's
INDEX 01 at 00:04:00 and the lead-out 2 s past the end of IMAGE.DAT.

Byte order of IMAGE.DAT. Signed 16-bit **little-endian** PCM, left sample then right,
588 stereo samples per 2352-byte sector, no header ([spec] section 6: cue2ddp makes the
same image from a WAVE, a raw little-endian BINARY and a MOTOROLA (big-endian) file;
[ddpLib] writes IMAGE.DAT bytes straight into a WAV data chunk; the public JavaScript
player plays it as WAV data). The CD-DA main channel is little-endian as delivered in
2352-byte sectors (cdrdao's big-endian default is its own convention, cdrdao issue 42).
A source WAV (or anything libsndfile reads as 16-bit PCM) is converted to that order; a
headerless raw source is taken as little-endian unless told otherwise.

CD-Text (CDTEXT.BIN) is the lead-in packs as they are written to the disc (18-byte
packs, no header, as ``masterbuild.cd.cdtext.encode_cdtext`` makes them); the writer
stores it as given, the reader decodes it with ``decode_cdtext``, refuses broken packs
and texts whose ISRC/UPC disagree with the PQ descriptor, and puts the titles,
performers and songwriters into the layout it rebuilds. CHECKSUM.MD5 holds ``<md5>  <name>`` lines
(``md5sum -c`` format) for every other file; PQ_SHEET.TXT is a human-readable PQ sheet.
Neither is named in DDPMS.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import soundfile as sf

from masterbuild.atomic import atomic_output, write_bytes_atomic
from masterbuild.cd.cdtext import CdTextError, decode_cdtext
from masterbuild.cd.layout import (
    BYTES_PER_FRAME,
    FRAMES_PER_SECOND,
    MAX_TRACKS,
    MIN_FIRST_PAUSE_FRAMES,
    SAMPLE_RATE_HZ,
    SAMPLES_PER_FRAME,
    CdLayout,
    CdTrack,
    frames_to_msf,
)

DDPID_NAME = "DDPID"
DDPMS_NAME = "DDPMS"
PQ_NAME = "PQDESCR"
IMAGE_NAME = "IMAGE.DAT"
CDTEXT_NAME = "CDTEXT.BIN"
CHECKSUM_NAME = "CHECKSUM.MD5"
SHEET_NAME = "PQ_SHEET.TXT"
# Checksum files other writers produce ([spec] N6), tried when CHECKSUM.MD5 is absent.
OTHER_CHECKSUM_NAMES = ("MD5-Checksum.md5", "MD5_CHECKSUM.MD5")

DDPID_BYTES = 128
MS_PACKET_BYTES = 128
PQ_PACKET_BYTES = 64
CDTEXT_PACK_BYTES = 18
LEVEL = "DDP 2.00"
LEAD_IN = "00"
LEAD_OUT = "AA"
MAX_MSF_FRAMES = (99 * 60 + 59) * FRAMES_PER_SECOND + 74  # 99:59:74
CHUNK_FRAMES = 75 * 20  # sectors per read/write chunk: 20 s, 3.5 MB

# (offset, width) of every field; the tables in the module docstring, as data.
DDPID_FIELDS: dict[str, tuple[int, int]] = {
    "level": (0, 8),
    "upc": (8, 13),
    "mss": (21, 8),
    "msl": (29, 8),
    "med": (37, 1),
    "master_id": (38, 48),
    "book": (86, 1),
    "disc_type": (87, 2),
    "sides": (89, 1),
    "side": (90, 1),
    "layers": (91, 1),
    "layer": (92, 1),
    "text_length": (93, 2),
    "user_text": (95, 33),
}
MS_FIELDS: dict[str, tuple[int, int]] = {
    "mpv": (0, 4),
    "dst": (4, 2),
    "dsp": (6, 8),
    "dsl": (14, 8),
    "dss": (22, 8),
    "sub": (30, 8),
    "cdm": (38, 2),
    "ssm": (40, 1),
    "scr": (41, 1),
    "pre1": (42, 4),
    "pre2": (46, 4),
    "pst": (50, 4),
    "med": (54, 1),
    "trk": (55, 2),
    "idx": (57, 2),
    "isrc": (59, 12),
    "siz": (71, 3),
    "dsi": (74, 17),
    "new": (91, 1),
    "pre1nxt": (92, 4),
    "pauseadd": (96, 8),
    "ofs": (104, 9),
    "pad": (113, 15),
}
PQ_FIELDS: dict[str, tuple[int, int]] = {
    "spv": (0, 4),
    "track": (4, 2),
    "index": (6, 2),
    "hours": (8, 2),
    "msf": (10, 6),
    "c1": (16, 2),
    "c2": (18, 2),
    "isrc": (20, 12),
    "upc": (32, 13),
    "text": (45, 19),
}

RAW_SUFFIXES = (".raw", ".pcm", ".bin", ".dat", ".cdda")
_ISRC = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")
_EAN = re.compile(r"[0-9]{13}")


class DdpError(ValueError):
    """An inconsistent layout or fileset; the message is one line naming the file."""


@dataclass(frozen=True)
class DdpId:
    """The DDPID record's fields that an audio master uses."""

    level: str
    upc: str | None
    master_id: str
    disc_type: str


@dataclass(frozen=True)
class MapStream:
    """One DDPMS packet (Map Stream Descriptor).

    Attributes
    ----------
    stream_type : DST, "D0" main data or "S0" subcode.
    length : DSL, 2352-byte sectors for D0, bytes for S0.
    name : DSI, the stream's file name.
    subcode : SUB, "PQ DESCR" or "CDTEXT" for S0 streams, "" for D0.
    cd_mode : CDM, "DA" for CD-DA main data.
    storage_mode : SSM, "7" for complete 2352-byte sectors.
    scrambled : SCR, "0" or "1" ("" for S0).
    start : DSS, start sector, None when blank.
    pregap2 : PRE2, sectors of track 1's pause at the start of a D0 stream.
    track : TRK ("00" on the CD-Text stream).
    """

    stream_type: str
    length: int
    name: str
    subcode: str = ""
    cd_mode: str = ""
    storage_mode: str = ""
    scrambled: str = ""
    start: int | None = None
    pregap2: int | None = None
    track: str = ""


@dataclass(frozen=True)
class PqEntry:
    """One PQ descriptor packet.

    Attributes
    ----------
    track : "00" lead-in, "01".."99", "AA" lead-out.
    index : 0..99.
    frame : absolute time in frames, 0 = the first sector of IMAGE.DAT.
    control : Q control nibble (bit 0 pre-emphasis, bit 1 copy permitted).
    adr : second C1 character, "1" (ADR mode 1) or "S" (SCMS).
    isrc, upc : the ISRC (first packet of a track) and UPC/EAN (lead-in), or None.
    """

    track: str
    index: int
    frame: int
    control: int = 0
    adr: str = "1"
    isrc: str | None = None
    upc: str | None = None

    @property
    def msf(self) -> str:
        """The absolute time as "mm:ss:ff"."""
        return frames_to_msf(self.frame)


@dataclass
class DdpInfo:
    """A fileset read back by `read_ddp`, verified.

    Attributes
    ----------
    folder : the fileset's folder.
    ddpid : the DDPID fields.
    streams : the DDPMS packets, in file order.
    pq : the PQ descriptor packets, in file order (lead-out as often as written).
    layout : the disc rebuilt from the PQ descriptor (frames, ISRCs, flags, catalogue)
        and, when there is CD-Text, its album and track titles, performers and
        songwriters; without CD-Text those are "" (songwriters None).
    image_path : the CD-DA main stream's file.
    cdtext : the CD-Text stream's bytes, or None.
    cdtext_fields : ``masterbuild.cd.cdtext.decode_cdtext(cdtext)``, or None.
    """

    folder: Path
    ddpid: DdpId
    streams: list[MapStream]
    pq: list[PqEntry]
    layout: CdLayout
    image_path: Path
    cdtext: bytes | None = None
    cdtext_fields: dict[str, Any] | None = field(default=None, repr=False)

    def track_audio(self, n: int) -> np.ndarray:
        """Track `n`'s audio, from its INDEX 01 to its end.

        Parameters
        ----------
        n : track number, 1-based.

        Returns
        -------
        np.ndarray
            (frames, 2) int16 samples (left, right), native byte order.
        """
        tracks = {t.number: t for t in self.layout.tracks}
        if n not in tracks:
            raise DdpError(f"{self.folder}: no track {n} (the disc has {len(tracks)})")
        track = tracks[n]
        with self.image_path.open("rb") as f:
            f.seek(track.start_frame * BYTES_PER_FRAME)
            data = f.read(track.length_frames * BYTES_PER_FRAME)
        if len(data) != track.length_frames * BYTES_PER_FRAME:
            raise DdpError(f"{self.image_path}: ends inside track {n}")
        return np.frombuffer(data, dtype="<i2").reshape(-1, 2).astype(np.int16)


# --------------------------------------------------------------------------- records


def _record(fields: dict[str, tuple[int, int]], size: int, values: dict[str, str]) -> bytes:
    """A fixed-width ASCII record: each value left-aligned in its field, spaces elsewhere."""
    out = bytearray(b" " * size)
    for name, value in values.items():
        offset, width = fields[name]
        raw = value.encode("ascii")
        if len(raw) > width:
            raise DdpError(f"{name} {value!r} does not fit in {width} characters")
        out[offset : offset + len(raw)] = raw
    return bytes(out)


def _number(value: int, width: int) -> str:
    """A number zero-padded to `width` digits (Sonoris/HOFA style)."""
    text = f"{value:0{width}d}"
    if len(text) > width or value < 0:
        raise DdpError(f"{value} does not fit in {width} digits")
    return text


def _get(record: bytes, fields: dict[str, tuple[int, int]], name: str) -> str:
    offset, width = fields[name]
    return record[offset : offset + width].decode("ascii", errors="replace").strip()


def _get_number(
    record: bytes, fields: dict[str, tuple[int, int]], name: str, where: str
) -> int | None:
    """A decimal field, space- or zero-padded; None when blank."""
    text = _get(record, fields, name)
    if not text:
        return None
    if not text.isdigit():
        raise DdpError(f"{where}: {name.upper()} {text!r} is not a number")
    return int(text)


def _msf6(frame: int) -> str:
    return frames_to_msf(frame).replace(":", "")


def _ascii(text: str) -> str:
    """Printable ASCII only (master ID is free text but the record is ASCII)."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def ddpid_record(layout: CdLayout, master_id: str | None = None) -> bytes:
    """The 128-byte DDPID record."""
    mid = _ascii(layout.title if master_id is None else master_id)[:48]
    return _record(
        DDPID_FIELDS,
        DDPID_BYTES,
        {"level": LEVEL, "upc": layout.catalog or "", "master_id": mid, "disc_type": "CD"},
    )


def ms_packet(stream: MapStream) -> bytes:
    """One 128-byte DDPMS packet."""
    values = {
        "mpv": "VVVM",
        "dst": stream.stream_type,
        "dsl": _number(stream.length, 8),
        "sub": stream.subcode,
        "cdm": stream.cd_mode,
        "ssm": stream.storage_mode,
        "scr": stream.scrambled,
        "trk": stream.track,
        "siz": _number(MS_FIELDS["dsi"][1], 3),
        "dsi": stream.name,
    }
    if stream.start is not None:
        values["dss"] = _number(stream.start, 8)
    if stream.pregap2 is not None:
        values["pre2"] = _number(stream.pregap2, 4)
    return _record(MS_FIELDS, MS_PACKET_BYTES, values)


def pq_packet(entry: PqEntry) -> bytes:
    """One 64-byte PQ descriptor packet."""
    if entry.frame > MAX_MSF_FRAMES:
        raise DdpError(f"PQ time of track {entry.track} is past 99:59:74")
    return _record(
        PQ_FIELDS,
        PQ_PACKET_BYTES,
        {
            "spv": "VVVS",
            "track": entry.track,
            "index": f"{entry.index:02d}",
            "msf": _msf6(entry.frame),
            "c1": f"{entry.control:X}{entry.adr}",
            "isrc": entry.isrc or "",
            "upc": entry.upc or "",
        },
    )


def _control(track: CdTrack) -> int:
    return (1 if track.pre_emphasis else 0) | (2 if track.copy_permitted else 0)


def pq_entries(layout: CdLayout) -> list[PqEntry]:
    """The PQ descriptor of `layout`: lead-in, every index of every track, lead-out twice."""
    entries = [PqEntry(LEAD_IN, 0, 0, upc=layout.catalog)]
    for t in layout.tracks:
        number = f"{t.number:02d}"
        points = [(0, t.pregap_start_frame)] if t.pregap_frames > 0 else []
        points.append((1, t.start_frame))
        points += [(i, frame) for i, frame in enumerate(t.index_frames, start=2)]
        for k, (index, frame) in enumerate(points):
            isrc = t.isrc if k == 0 else None
            entries.append(PqEntry(number, index, frame, _control(t), isrc=isrc))
    lead_out = PqEntry(LEAD_OUT, 1, layout.total_frames)
    return [*entries, lead_out, lead_out]


def check_layout(layout: CdLayout) -> None:
    """Raise DdpError unless `layout` is a disc DDP can describe.

    Checks what the PQ descriptor needs: tracks 1..n (at most 99) tiling the programme
    from frame 0 to `total_frames`, track 1's pause of at least 2 s, index points inside
    their track and ascending (at most INDEX 99), ISRCs of 12 characters and a 13-digit
    catalogue number, and a lead-out within 99:59:74.
    """
    tracks = layout.tracks
    if not 1 <= len(tracks) <= MAX_TRACKS:
        raise DdpError(f"layout: {len(tracks)} tracks; a CD has 1 to {MAX_TRACKS}")
    if layout.total_frames > MAX_MSF_FRAMES:
        raise DdpError("layout: the programme runs past 99:59:74")
    if layout.catalog is not None and not _EAN.fullmatch(layout.catalog):
        raise DdpError(f"layout: catalog {layout.catalog!r} is not 13 digits")
    expected_start = 0
    for i, t in enumerate(tracks, start=1):
        where = f"layout: track {t.number}"
        if t.number != i:
            raise DdpError(f"{where}: numbered out of order (expected {i})")
        if t.pregap_start_frame != expected_start:
            raise DdpError(
                f"{where}: starts at frame {t.pregap_start_frame}, expected {expected_start}"
            )
        if not t.pregap_start_frame <= t.start_frame < t.end_frame:
            raise DdpError(f"{where}: INDEX 00/01 and end are not in order")
        points = (t.start_frame, *t.index_frames, t.end_frame)
        if any(a >= b for a, b in itertools.pairwise(points)):
            raise DdpError(f"{where}: index points are not ascending inside the track")
        if len(t.index_frames) > 98:
            raise DdpError(f"{where}: more than 99 index points")
        if t.isrc is not None and not _ISRC.fullmatch(t.isrc):
            raise DdpError(f"{where}: ISRC {t.isrc!r} is not 12 characters CCXXXYYNNNNN")
        expected_start = t.end_frame
    if tracks[0].pregap_frames < MIN_FIRST_PAUSE_FRAMES:
        raise DdpError("layout: track 1's pause is shorter than 2 s (150 frames)")
    if expected_start != layout.total_frames:
        raise DdpError(
            f"layout: tracks end at frame {expected_start}, total_frames is {layout.total_frames}"
        )


# --------------------------------------------------------------------------- writing


def _programme_chunks(
    image_path: Path, total_frames: int, raw_byte_order: Literal["little", "big"]
) -> Iterator[bytes]:
    """The programme as little-endian 16-bit stereo bytes, in chunks of whole sectors."""
    expected_samples = total_frames * SAMPLES_PER_FRAME
    block = CHUNK_FRAMES * SAMPLES_PER_FRAME
    if image_path.suffix.lower() in RAW_SUFFIXES:
        size = image_path.stat().st_size
        if size != total_frames * BYTES_PER_FRAME:
            raise DdpError(
                f"{image_path}: {size} bytes, the layout needs {total_frames} x "
                f"{BYTES_PER_FRAME} = {total_frames * BYTES_PER_FRAME}"
            )
        with image_path.open("rb") as f:
            while chunk := f.read(block * 4):
                if raw_byte_order == "big":
                    chunk = np.frombuffer(chunk, dtype=">i2").astype("<i2").tobytes()
                yield chunk
        return
    try:
        info = sf.info(str(image_path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise DdpError(f"{image_path}: cannot read the programme ({exc})") from None
    if (info.samplerate, info.channels, info.subtype) != (SAMPLE_RATE_HZ, 2, "PCM_16"):
        raise DdpError(
            f"{image_path}: {info.samplerate} Hz, {info.channels} channels, {info.subtype}; "
            "a CD programme is 44100 Hz stereo PCM_16"
        )
    if info.frames != expected_samples:
        raise DdpError(
            f"{image_path}: {info.frames} samples, the layout needs {total_frames} frames "
            f"x {SAMPLES_PER_FRAME} = {expected_samples}"
        )
    for data in sf.blocks(str(image_path), blocksize=block, dtype="int16", always_2d=True):
        yield np.ascontiguousarray(data, dtype="<i2").tobytes()


def _write_image(
    final: Path, image_path: Path, total_frames: int, raw_byte_order: Literal["little", "big"]
) -> str:
    """Write IMAGE.DAT atomically; return its MD5."""
    md5 = hashlib.md5()
    written = 0
    with atomic_output(final) as tmp, tmp.open("wb") as out:
        for chunk in _programme_chunks(image_path, total_frames, raw_byte_order):
            md5.update(chunk)
            out.write(chunk)
            written += len(chunk)
        if written != total_frames * BYTES_PER_FRAME:  # a source shorter than it claimed
            raise DdpError(f"{image_path}: ended after {written} bytes")
    return md5.hexdigest()


def write_ddp(
    folder: Path,
    layout: CdLayout,
    image_path: Path,
    cdtext: bytes | None,
    *,
    master_id: str | None = None,
    raw_byte_order: Literal["little", "big"] = "little",
) -> list[Path]:
    """Write the DDP 2.00 fileset of an audio CD into `folder`.

    Parameters
    ----------
    folder : output folder (created). Files of an earlier fileset are replaced; a
        CDTEXT.BIN left by one is removed when `cdtext` is None.
    layout : the disc; PQ times are its frames (see the module docstring).
    image_path : the programme, ``layout.total_frames`` x 588 stereo samples at 44.1 kHz:
        a file libsndfile reads as 16-bit PCM (WAV, AIFF...), or headerless 16-bit stereo
        PCM when its suffix is .raw/.pcm/.bin/.dat/.cdda.
    cdtext : CD-Text lead-in packs (18 bytes each, e.g. ``encode_cdtext(layout)``) for
        CDTEXT.BIN, or None. Stored as given; `read_ddp` checks it.
    master_id : DDPID master identifier (48 ASCII characters); default the album title.
    raw_byte_order : byte order of a headerless source. IMAGE.DAT is always little-endian.

    Returns
    -------
    list[Path]
        The files written: DDPID, DDPMS, [CDTEXT.BIN], PQDESCR, IMAGE.DAT, PQ_SHEET.TXT,
        CHECKSUM.MD5. Each is written to a temp file and renamed into place; the
        checksum file comes last, so a fileset without one is unfinished.
    """
    check_layout(layout)
    if cdtext is not None and (not cdtext or len(cdtext) % CDTEXT_PACK_BYTES):
        raise DdpError(f"CD-Text: {len(cdtext)} bytes is not a whole number of 18-byte packs")
    folder = Path(folder)
    files: dict[str, bytes] = {}
    sums: dict[str, str] = {}

    sums[IMAGE_NAME] = _write_image(
        folder / IMAGE_NAME, Path(image_path), layout.total_frames, raw_byte_order
    )
    # From here until the new checksum file is in place the fileset is unfinished: an
    # older CHECKSUM.MD5 would not describe it, so it goes.
    (folder / CHECKSUM_NAME).unlink(missing_ok=True)
    pq = b"".join(pq_packet(e) for e in pq_entries(layout))
    streams = []
    if cdtext is not None:
        files[CDTEXT_NAME] = cdtext
        streams.append(MapStream("S0", len(cdtext), CDTEXT_NAME, subcode="CDTEXT", track="00"))
    streams.append(MapStream("S0", len(pq), PQ_NAME, subcode="PQ DESCR"))
    streams.append(
        MapStream(
            "D0",
            layout.total_frames,
            IMAGE_NAME,
            cd_mode="DA",
            storage_mode="7",
            scrambled="0",
            start=0,
            pregap2=layout.tracks[0].pregap_frames,
        )
    )
    files[PQ_NAME] = pq
    files[DDPMS_NAME] = b"".join(ms_packet(s) for s in streams)
    files[DDPID_NAME] = ddpid_record(layout, master_id)
    files[SHEET_NAME] = pq_sheet(layout).encode("utf-8")

    order = [DDPID_NAME, DDPMS_NAME, CDTEXT_NAME, PQ_NAME, IMAGE_NAME, SHEET_NAME]
    written = []
    for name in order:
        if name in files:
            write_bytes_atomic(folder / name, files[name])
            sums[name] = hashlib.md5(files[name]).hexdigest()
        if name in sums:
            written.append(folder / name)
    if cdtext is None:
        (folder / CDTEXT_NAME).unlink(missing_ok=True)
    listing = "".join(f"{sums[p.name]}  {p.name}\n" for p in written)
    write_bytes_atomic(folder / CHECKSUM_NAME, listing.encode("ascii"))
    return [*written, folder / CHECKSUM_NAME]


# --------------------------------------------------------------------------- PQ sheet


def pq_sheet(layout: CdLayout) -> str:
    """A human-readable PQ sheet of `layout`.

    One row per track: its number, start (INDEX 01) in absolute disc time and relative
    to track 1's INDEX 01, length (INDEX 01 to the end), the pause before it (INDEX 00
    to INDEX 01), ISRC and flags; further index points on their own rows; then the
    lead-out and the UPC/EAN.
    """
    first = layout.tracks[0].start_frame
    rel = lambda frame: frames_to_msf(frame - first)  # noqa: E731
    lines = [
        "PQ SHEET",
        f"Title:     {layout.title}",
        f"Performer: {layout.performer}",
        f"UPC/EAN:   {layout.catalog or '-'}",
        f"Tracks:    {len(layout.tracks)}",
        "Times are mm:ss:ff (75 frames per second). Absolute: disc time, 00:00:00 at track",
        "1's INDEX 00 (the first sector of IMAGE.DAT). Relative: from track 1's INDEX 01.",
        "",
        f"{'Track':<6}{'Index':<6}{'Absolute':<10}{'Relative':<10}{'Length':<10}"
        f"{'Pause':<10}{'ISRC':<14}Flags",
    ]
    for t in layout.tracks:
        flags = " ".join(
            name for on, name in ((t.pre_emphasis, "PRE"), (t.copy_permitted, "DCP")) if on
        )
        lines.append(
            f"{t.number:02d}    01    {frames_to_msf(t.start_frame):<10}"
            f"{rel(t.start_frame):<10}{frames_to_msf(t.length_frames):<10}"
            f"{frames_to_msf(t.pregap_frames):<10}{t.isrc or '-':<14}{flags or '-'}"
        )
        for i, frame in enumerate(t.index_frames, start=2):
            lines.append(f"{t.number:02d}    {i:02d}    {frames_to_msf(frame):<10}{rel(frame)}")
    lines.append(
        f"{'AA':<6}{'01':<6}{frames_to_msf(layout.total_frames):<10}"
        f"{rel(layout.total_frames):<10}(lead-out)"
    )
    lines.append(f"Total programme: {frames_to_msf(layout.total_frames)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- reading


def _read(folder: Path, name: str, what: str) -> bytes:
    path = folder / name
    if not path.is_file():
        raise DdpError(f"{path}: missing ({what})")
    return path.read_bytes()


def _file_md5(path: Path) -> str:
    md5 = hashlib.md5()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            md5.update(chunk)
    return md5.hexdigest()


def _verify_checksums(folder: Path, required: list[str]) -> None:
    """Check every file CHECKSUM.MD5 lists; every file in `required` must be listed."""
    for name in (CHECKSUM_NAME, *OTHER_CHECKSUM_NAMES):
        if (folder / name).is_file():
            break
    else:
        raise DdpError(f"{folder / CHECKSUM_NAME}: missing (no checksum file)")
    sum_path = folder / name
    listed: dict[str, str] = {}
    for n, line in enumerate(sum_path.read_text("ascii", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        m = re.fullmatch(r"([0-9a-fA-F]{32}) [ *](.+)", line.rstrip("\r"))
        if not m:
            raise DdpError(f"{sum_path}: line {n} is not '<md5>  <name>'")
        listed[m.group(2).strip()] = m.group(1).lower()
    for name in required:
        if name not in listed:
            raise DdpError(f"{sum_path}: {name} is not listed")
    for name, digest in listed.items():
        path = folder / name
        if not path.is_file():
            raise DdpError(f"{path}: missing (listed in {sum_path.name})")
        if _file_md5(path) != digest:
            raise DdpError(f"{path}: MD5 does not match {sum_path.name} (the file is damaged)")


def _parse_ddpid(folder: Path) -> DdpId:
    data = _read(folder, DDPID_NAME, "the DDP identifier")
    where = folder / DDPID_NAME
    if len(data) != DDPID_BYTES:
        raise DdpError(f"{where}: {len(data)} bytes, expected {DDPID_BYTES}")
    level = _get(data, DDPID_FIELDS, "level")
    if level != LEVEL:
        raise DdpError(f"{where}: level {level!r}, expected {LEVEL!r}")
    disc_type = _get(data, DDPID_FIELDS, "disc_type")
    if disc_type not in ("CD", ""):
        raise DdpError(f"{where}: disc type {disc_type!r}, expected 'CD'")
    return DdpId(
        level=level,
        upc=_get(data, DDPID_FIELDS, "upc") or None,
        master_id=_get(data, DDPID_FIELDS, "master_id"),
        disc_type=disc_type,
    )


def _parse_streams(folder: Path) -> list[MapStream]:
    data = _read(folder, DDPMS_NAME, "the map stream")
    where = folder / DDPMS_NAME
    if not data or len(data) % MS_PACKET_BYTES:
        raise DdpError(f"{where}: {len(data)} bytes is not a whole number of 128-byte packets")
    streams = []
    for i in range(0, len(data), MS_PACKET_BYTES):
        p = data[i : i + MS_PACKET_BYTES]
        at = f"{where}: packet {i // MS_PACKET_BYTES}"
        if p[:4] != b"VVVM":
            raise DdpError(f"{at}: does not start with 'VVVM'")
        length = _get_number(p, MS_FIELDS, "dsl", at)
        siz = _get_number(p, MS_FIELDS, "siz", at) or MS_FIELDS["dsi"][1]
        name = p[74 : 74 + min(siz, 17)].decode("ascii", errors="replace").strip()
        if length is None or not name:
            raise DdpError(f"{at}: no stream length (DSL) or file name (DSI)")
        streams.append(
            MapStream(
                stream_type=_get(p, MS_FIELDS, "dst"),
                length=length,
                name=name,
                subcode=_get(p, MS_FIELDS, "sub"),
                cd_mode=_get(p, MS_FIELDS, "cdm"),
                storage_mode=_get(p, MS_FIELDS, "ssm"),
                scrambled=_get(p, MS_FIELDS, "scr"),
                start=_get_number(p, MS_FIELDS, "dss", at),
                pregap2=_get_number(p, MS_FIELDS, "pre2", at),
                track=_get(p, MS_FIELDS, "trk"),
            )
        )
    return streams


def _one(
    streams: list[MapStream], what: str, where: Path, optional: bool = False
) -> MapStream | None:
    if len(streams) > 1 or (not streams and not optional):
        raise DdpError(f"{where}: {len(streams)} {what} streams, expected one")
    return streams[0] if streams else None


def _parse_pq(data: bytes, where: Path) -> list[PqEntry]:
    if not data or len(data) % PQ_PACKET_BYTES:
        raise DdpError(f"{where}: {len(data)} bytes is not a whole number of 64-byte packets")
    entries = []
    for i in range(0, len(data), PQ_PACKET_BYTES):
        p = data[i : i + PQ_PACKET_BYTES]
        at = f"{where}: packet {i // PQ_PACKET_BYTES}"
        if p[:4] != b"VVVS":
            raise DdpError(f"{at}: does not start with 'VVVS'")
        track = _get(p, PQ_FIELDS, "track")
        index = _get_number(p, PQ_FIELDS, "index", at)
        time = (p[8:16].decode("ascii", errors="replace").strip()).rjust(8, "0")
        if not time.isdigit() or index is None:
            raise DdpError(f"{at}: time {p[8:16]!r} or index is not a number")
        hours, minutes, seconds, ff = (int(time[k : k + 2]) for k in range(0, 8, 2))
        if seconds > 59 or ff >= FRAMES_PER_SECOND:
            raise DdpError(f"{at}: time {time[2:]} is not MMSSFF")
        c1 = _get(p, PQ_FIELDS, "c1") or "01"
        if len(c1) != 2 or c1[0] not in "0123456789ABCDEF" or c1[1] not in "1S":
            raise DdpError(f"{at}: control/ADR {c1!r} is not valid")
        entries.append(
            PqEntry(
                track=track,
                index=index,
                frame=((hours * 60 + minutes) * 60 + seconds) * FRAMES_PER_SECOND + ff,
                control=int(c1[0], 16),
                adr=c1[1],
                isrc=_get(p, PQ_FIELDS, "isrc") or None,
                upc=_get(p, PQ_FIELDS, "upc") or None,
            )
        )
    return entries


def _layout_from_pq(
    entries: list[PqEntry], total_frames: int, ddpid: DdpId, where: Path
) -> CdLayout:
    """Rebuild the disc from the PQ packets, checking their order and the lead-out."""
    if entries[0].track != LEAD_IN:
        raise DdpError(f"{where}: the first packet is not the lead-in (track 00)")
    lead_outs = [e for e in entries if e.track == LEAD_OUT]
    body = entries[1 : len(entries) - len(lead_outs)]
    if not lead_outs or entries[len(entries) - len(lead_outs) :] != lead_outs:
        raise DdpError(f"{where}: the lead-out (track AA) is missing or not last")
    if len(lead_outs) > 2 or any(e.frame != total_frames for e in lead_outs):
        raise DdpError(
            f"{where}: lead-out at {lead_outs[0].msf}, but IMAGE.DAT ends at "
            f"{frames_to_msf(total_frames)}"
        )
    catalog = entries[0].upc or ddpid.upc
    if entries[0].upc and ddpid.upc and entries[0].upc != ddpid.upc:
        raise DdpError(f"{where}: UPC/EAN {entries[0].upc} differs from DDPID's {ddpid.upc}")
    points: dict[int, list[PqEntry]] = {}
    previous = -1
    for e in body:
        if not e.track.isdigit() or not 1 <= int(e.track) <= MAX_TRACKS:
            raise DdpError(f"{where}: track {e.track!r} of a PQ packet is not 01..99")
        number = int(e.track)
        if number != (len(points) if number in points else len(points) + 1):
            raise DdpError(f"{where}: track {number:02d} comes out of order")
        if e.frame <= previous:
            raise DdpError(
                f"{where}: track {number:02d} INDEX {e.index:02d} is not after the previous entry"
            )
        previous = e.frame
        points.setdefault(number, []).append(e)
    if not points:
        raise DdpError(f"{where}: no tracks")
    if previous >= total_frames:
        raise DdpError(f"{where}: an index point lies at or past the lead-out")
    starts: list[tuple[int, int]] = []
    for number, track_points in points.items():
        indexes = [e.index for e in track_points]
        first = indexes[0]
        if first not in (0, 1) or indexes != list(range(first, first + len(indexes))):
            raise DdpError(f"{where}: track {number:02d} indexes {indexes} are not 0/1, 2, ...")
        if 1 not in indexes:
            raise DdpError(f"{where}: track {number:02d} has no INDEX 01")
        starts.append((track_points[0].frame, track_points[1 - first].frame))
    if points[1][0].index != 0 or points[1][0].frame != 0:
        raise DdpError(f"{where}: track 01 does not start with INDEX 00 at 00:00:00")
    tracks = []
    for number, track_points in points.items():
        pregap_start, start = starts[number - 1]
        end = starts[number][0] if number < len(points) else total_frames
        head = track_points[0]
        tracks.append(
            CdTrack(
                number=number,
                title="",
                performer="",
                pregap_start_frame=pregap_start,
                start_frame=start,
                end_frame=end,
                isrc=next((e.isrc for e in track_points if e.isrc), None),
                index_frames=tuple(e.frame for e in track_points if e.index >= 2),
                pre_emphasis=bool(head.control & 1),
                copy_permitted=bool(head.control & 2),
            )
        )
    return CdLayout(
        title="", performer="", tracks=tuple(tracks), total_frames=total_frames, catalog=catalog
    )


def _with_cdtext(layout: CdLayout, fields: dict[str, Any], where: Path) -> CdLayout:
    """`layout` with the texts of decoded CD-Text, which must agree with the PQ data."""
    n = len(layout.tracks)
    titles, performers = fields["title"], fields["performer"]
    songwriters = fields["songwriter"]
    if fields["first_track"] != 1 or not len(titles) == len(performers) == n + 1:
        raise DdpError(
            f"{where}: CD-Text covers tracks {fields['first_track']}.."
            f"{fields['first_track'] + len(titles) - 2}, the PQ descriptor 1..{n}"
        )
    if fields.get("upc") and layout.catalog and fields["upc"] != layout.catalog:
        raise DdpError(f"{where}: UPC/EAN {fields['upc']} differs from {layout.catalog} in PQ")
    tracks = []
    for t, isrc in zip(layout.tracks, fields["isrc"][1:], strict=False):
        if isrc and t.isrc and isrc != t.isrc:
            raise DdpError(f"{where}: track {t.number:02d} ISRC {isrc} differs from {t.isrc} in PQ")
        i = t.number
        tracks.append(
            dataclasses.replace(
                t, title=titles[i], performer=performers[i], songwriter=songwriters[i]
            )
        )
    return dataclasses.replace(
        layout,
        title=titles[0],
        performer=performers[0],
        songwriter=songwriters[0],
        tracks=tuple(tracks),
    )


def read_ddp(folder: Path) -> DdpInfo:
    """Read, parse and verify the DDP 2.00 fileset of an audio CD in `folder`.

    Parameters
    ----------
    folder : the fileset's folder.

    Returns
    -------
    DdpInfo
        The records, the rebuilt layout and access to the audio.

    Raises
    ------
    DdpError
        One line naming the file, on any missing file, malformed record, checksum
        mismatch (CHECKSUM.MD5, or MD5-Checksum.md5 / MD5_CHECKSUM.MD5 as Sonoris and
        HOFA name it), stream length that disagrees with its file, PQ descriptor that
        disagrees with itself or with the image, or CD-Text that does not decode or
        disagrees with the PQ descriptor.
    """
    folder = Path(folder)
    ddpid = _parse_ddpid(folder)
    streams = _parse_streams(folder)
    where = folder / DDPMS_NAME
    image = _one([s for s in streams if s.stream_type == "D0"], "D0 (main data)", where)
    if image.cd_mode != "DA" or image.storage_mode not in ("7", "0"):
        raise DdpError(
            f"{where}: main stream {image.name} is CDM {image.cd_mode!r} SSM "
            f"{image.storage_mode!r}; an audio CD is CDM 'DA', SSM '7'"
        )
    pq_stream = _one([s for s in streams if s.subcode == "PQ DESCR"], "PQ DESCR", where)
    cdtext_stream = _one(
        [s for s in streams if s.subcode == "CDTEXT"], "CDTEXT", where, optional=True
    )
    for s in streams:
        path = folder / s.name
        if not path.is_file():
            raise DdpError(f"{path}: missing (named by {DDPMS_NAME})")
    _verify_checksums(folder, [DDPID_NAME, DDPMS_NAME, *(s.name for s in streams)])
    for s in streams:
        path = folder / s.name
        size = path.stat().st_size
        expected = s.length * (BYTES_PER_FRAME if s.stream_type == "D0" else 1)
        if size != expected:
            unit = f"sectors ({expected} bytes)" if s.stream_type == "D0" else "bytes"
            raise DdpError(f"{path}: {size} bytes, but {DDPMS_NAME} says {s.length} {unit}")
    pq_path = folder / pq_stream.name
    pq = _parse_pq(pq_path.read_bytes(), pq_path)
    layout = _layout_from_pq(pq, image.length, ddpid, pq_path)
    if image.pregap2 is not None and image.pregap2 != layout.tracks[0].pregap_frames:
        raise DdpError(
            f"{where}: PRE2 {image.pregap2} differs from track 01's pause "
            f"{layout.tracks[0].pregap_frames} in {pq_stream.name}"
        )
    cdtext = fields = None
    if cdtext_stream is not None:
        text_path = folder / cdtext_stream.name
        cdtext = text_path.read_bytes()
        try:
            fields = decode_cdtext(cdtext)
        except CdTextError as exc:
            raise DdpError(f"{text_path}: {exc}") from None
        layout = _with_cdtext(layout, fields, text_path)
    return DdpInfo(
        folder=folder,
        ddpid=ddpid,
        streams=streams,
        pq=pq,
        layout=layout,
        image_path=folder / image.name,
        cdtext=cdtext,
        cdtext_fields=fields,
    )
