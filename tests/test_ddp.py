"""DDP 2.00 fileset: write -> read round trips, record layouts at fixed offsets, checksums.

The oracle for the records is the field table in `masterbuild/cd/ddp.py`'s docstring
(ddpLib, the ddp-reverse-eng spec of cue2ddp/Sonoris/HOFA output, public readers); the
offsets are spelled out here as literals so a change to the tables fails these tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from masterbuild.cd.cdtext import encode_cdtext
from masterbuild.cd.ddp import DdpError, pq_sheet, read_ddp, write_ddp
from masterbuild.cd.layout import BYTES_PER_FRAME, SAMPLES_PER_FRAME, CdLayout, CdTrack

EAN = "0036000241457"


def make_layout(specs: list[tuple[int, int, str | None, tuple[int, ...]]], **kw) -> CdLayout:
    """Tracks from (pause frames, length frames, ISRC, INDEX 02.. offsets from INDEX 01)."""
    tracks, frame = [], 0
    for n, (pause, length, isrc, extra) in enumerate(specs, start=1):
        start = frame + pause
        tracks.append(
            CdTrack(
                number=n,
                title=f"Track {n}",
                performer="Demo Ensemble",
                pregap_start_frame=frame,
                start_frame=start,
                end_frame=start + length,
                isrc=isrc,
                index_frames=tuple(start + e for e in extra),
                pre_emphasis=kw.pop(f"pre{n}", False),
                copy_permitted=kw.pop(f"dcp{n}", False),
            )
        )
        frame = start + length
    return CdLayout(
        title="First Light",
        performer="Demo Ensemble",
        tracks=tuple(tracks),
        total_frames=frame,
        catalog=kw.pop("catalog", EAN),
    )


def three_tracks() -> CdLayout:
    """2 s pregap; a 0-pause segue; a 1 s pause and an INDEX 02; track 2 pre-emphasised."""
    return make_layout(
        [
            (150, 400, "USABC2600001", ()),
            (0, 330, "USABC2600002", ()),
            (75, 420, None, (100,)),
        ],
        pre2=True,
    )


def programme(layout: CdLayout, seed: int = 1) -> np.ndarray:
    """Deterministic full-scale noise, (frames x 588, 2) int16, with both extremes in it."""
    rng = np.random.default_rng(seed)
    n = layout.total_frames * SAMPLES_PER_FRAME
    audio = rng.integers(-32768, 32768, size=(n, 2), dtype=np.int16)
    audio[0] = (-32768, 32767)
    audio[-1] = (0x0102, -0x0102)  # asymmetric bytes: a byte swap cannot go unnoticed
    return audio


def write_wav(path: Path, audio: np.ndarray) -> Path:
    sf.write(str(path), audio, 44100, subtype="PCM_16")
    return path


@pytest.fixture
def disc(tmp_path: Path):
    layout = three_tracks()
    audio = programme(layout)
    wav = write_wav(tmp_path / "programme.wav", audio)
    folder = tmp_path / "ddp"
    paths = write_ddp(folder, layout, wav, None)
    return layout, audio, folder, paths


def text(record: bytes, offset: int, width: int) -> str:
    return record[offset : offset + width].decode("ascii")


def packets(data: bytes, size: int) -> list[bytes]:
    assert len(data) % size == 0
    return [data[i : i + size] for i in range(0, len(data), size)]


def rewrite_checksums(folder: Path) -> None:
    """Recompute CHECKSUM.MD5 after a deliberate edit, so the reader's other checks run."""
    names = [line.split("  ", 1)[1] for line in (folder / "CHECKSUM.MD5").read_text().splitlines()]
    lines = [f"{hashlib.md5((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names]
    (folder / "CHECKSUM.MD5").write_text("".join(lines))


def without_text(layout: CdLayout) -> CdLayout:
    """The layout as PQ carries it: no titles (they live in CD-Text)."""
    tracks = tuple(dataclasses.replace(t, title="", performer="") for t in layout.tracks)
    return dataclasses.replace(layout, title="", performer="", tracks=tracks)


# --------------------------------------------------------------------------- round trip


def test_round_trip_rebuilds_the_layout_and_the_audio(disc) -> None:
    layout, audio, folder, paths = disc
    names = [p.name for p in paths]
    assert names == ["DDPID", "DDPMS", "PQDESCR", "IMAGE.DAT", "PQ_SHEET.TXT", "CHECKSUM.MD5"]
    assert all(p.is_file() for p in paths)
    assert not list(folder.glob(".*partial"))

    info = read_ddp(folder)
    assert info.layout == without_text(layout)
    assert [t.isrc for t in info.layout.tracks] == ["USABC2600001", "USABC2600002", None]
    assert info.layout.catalog == EAN
    assert info.layout.tracks[1].pre_emphasis and not info.layout.tracks[0].pre_emphasis
    assert info.ddpid.level == "DDP 2.00" and info.ddpid.upc == EAN
    assert info.ddpid.master_id == "First Light"
    assert (folder / "IMAGE.DAT").stat().st_size == layout.total_frames * BYTES_PER_FRAME
    for t in layout.tracks:
        got = info.track_audio(t.number)
        want = audio[t.start_frame * SAMPLES_PER_FRAME : t.end_frame * SAMPLES_PER_FRAME]
        assert got.dtype == np.int16 and got.shape == (t.length_frames * SAMPLES_PER_FRAME, 2)
        np.testing.assert_array_equal(got, want)  # null test: bit for bit
    with pytest.raises(DdpError, match="no track 4"):
        info.track_audio(4)


def test_round_trip_with_cd_text_rebuilds_the_titles_too(tmp_path: Path, disc) -> None:
    layout, _audio, _folder, _ = disc
    songs = dataclasses.replace(
        layout,
        songwriter="A. Writer",
        tracks=(dataclasses.replace(layout.tracks[0], songwriter="B. Writer"), *layout.tracks[1:]),
    )
    out = tmp_path / "text"
    write_ddp(out, songs, tmp_path / "programme.wav", encode_cdtext(songs))
    info = read_ddp(out)
    assert info.layout == songs
    assert info.cdtext == (out / "CDTEXT.BIN").read_bytes()
    assert info.cdtext_fields is not None and info.cdtext_fields["title"][3] == "Track 3"


def test_cd_text_must_decode_and_agree_with_pq(tmp_path: Path, disc) -> None:
    layout, _audio, _folder, _ = disc
    wav = tmp_path / "programme.wav"
    out = tmp_path / "garbage"
    write_ddp(out, layout, wav, bytes(range(18)) * 5)  # opaque to the writer
    with pytest.raises(DdpError, match=r"CDTEXT\.BIN: .*CRC"):
        read_ddp(out)
    other = dataclasses.replace(
        layout,
        tracks=(dataclasses.replace(layout.tracks[0], isrc="USABC2699999"), *layout.tracks[1:]),
    )
    out = tmp_path / "other-isrc"
    write_ddp(out, layout, wav, encode_cdtext(other))
    with pytest.raises(DdpError, match=r"CDTEXT\.BIN: track 01 ISRC USABC2699999 differs"):
        read_ddp(out)
    with pytest.raises(DdpError, match="18-byte packs"):
        write_ddp(tmp_path / "x", layout, wav, b"\x80" * 17)


def test_image_is_little_endian_interleaved_pcm(disc) -> None:
    _layout, audio, folder, _ = disc
    image = (folder / "IMAGE.DAT").read_bytes()
    assert image[:4] == b"\x00\x80\xff\x7f"  # -32768 then 32767, little-endian, L then R
    assert image[-4:] == b"\x02\x01\xfe\xfe"  # 0x0102, -0x0102
    assert image == audio.astype("<i2").tobytes()


@pytest.mark.parametrize("order", ["little", "big"])
def test_raw_source_gives_the_same_image(tmp_path: Path, disc, order: str) -> None:
    layout, audio, folder, _ = disc
    raw = tmp_path / "programme.raw"
    raw.write_bytes(audio.astype("<i2" if order == "little" else ">i2").tobytes())
    out = tmp_path / f"raw-{order}"
    write_ddp(out, layout, raw, None, raw_byte_order=order)
    assert (out / "IMAGE.DAT").read_bytes() == (folder / "IMAGE.DAT").read_bytes()


def test_ninety_nine_tracks(tmp_path: Path) -> None:
    rng = np.random.default_rng(99)
    specs = [(150, 300, "GBAAA2600001", ())]
    for n in range(2, 100):
        pause = int(rng.choice([0, 0, 37, 150]))
        extra = (1, 2) if n == 99 else ()
        specs.append((pause, 300 + n, f"GBAAA26{n:05d}", extra))
    layout = make_layout(specs)
    audio = programme(layout, seed=7)
    wav = write_wav(tmp_path / "p.wav", audio)
    write_ddp(tmp_path / "ddp", layout, wav, None)

    info = read_ddp(tmp_path / "ddp")
    assert info.layout == without_text(layout)
    assert len(info.layout.tracks) == 99
    pq = (tmp_path / "ddp" / "PQDESCR").read_bytes()
    assert text(packets(pq, 64)[-3], 4, 4) == "9903"  # INDEX 03 of track 99
    t99 = layout.tracks[-1]
    np.testing.assert_array_equal(
        info.track_audio(99), audio[t99.start_frame * SAMPLES_PER_FRAME :]
    )
    with pytest.raises(DdpError, match="1 to 99"):
        write_ddp(tmp_path / "x", make_layout([*specs, (0, 300, None, ())]), wav, None)


# --------------------------------------------------------------------------- checksums


def test_md5sum_accepts_the_checksum_file(disc) -> None:
    _layout, _audio, folder, paths = disc
    listing = (folder / "CHECKSUM.MD5").read_text()
    assert [line.split("  ")[1] for line in listing.splitlines()] == [
        p.name for p in paths if p.name != "CHECKSUM.MD5"
    ]
    md5sum = shutil.which("md5sum")
    assert md5sum, "coreutils md5sum is needed for this test"
    run = subprocess.run([md5sum, "-c", "CHECKSUM.MD5"], cwd=folder, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": OK") == len(paths) - 1


def test_one_corrupt_byte_in_the_image_is_caught(disc) -> None:
    _layout, _audio, folder, _ = disc
    image = folder / "IMAGE.DAT"
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x01
    image.write_bytes(bytes(data))
    with pytest.raises(DdpError, match=r"IMAGE\.DAT: MD5 does not match") as err:
        read_ddp(folder)
    assert "\n" not in str(err.value)
    run = subprocess.run(["md5sum", "-c", "CHECKSUM.MD5"], cwd=folder, capture_output=True)
    assert run.returncode != 0  # the real tool agrees


@pytest.mark.parametrize(
    "name", ["DDPID", "DDPMS", "PQDESCR", "IMAGE.DAT", "CHECKSUM.MD5", "PQ_SHEET.TXT"]
)
def test_a_missing_file_is_named(disc, name: str) -> None:
    _layout, _audio, folder, _ = disc
    (folder / name).unlink()
    with pytest.raises(DdpError, match=name.replace(".", r"\.") + ": missing"):
        read_ddp(folder)


def test_stream_length_must_match_its_file(disc) -> None:
    _layout, _audio, folder, _ = disc
    image = folder / "IMAGE.DAT"
    image.write_bytes(image.read_bytes()[:-BYTES_PER_FRAME])  # one sector short
    rewrite_checksums(folder)
    with pytest.raises(DdpError, match=r"IMAGE\.DAT: .* DDPMS says 1375 sectors"):
        read_ddp(folder)


def test_lead_out_must_sit_at_the_end_of_the_image(disc) -> None:
    _layout, _audio, folder, _ = disc
    pq = folder / "PQDESCR"
    data = bytearray(pq.read_bytes())
    data[-64 + 10 : -64 + 16] = b"001000"  # last lead-out packet moved to 00:10:00
    pq.write_bytes(bytes(data))
    rewrite_checksums(folder)
    with pytest.raises(DdpError, match=r"PQDESCR: lead-out"):
        read_ddp(folder)


def test_reader_accepts_cue2ddp_style_padding_and_one_lead_out(disc) -> None:
    """Space-padded numbers, blank DSS, SCR "1" and a single lead-out ([spec] N6, N9)."""
    layout, _audio, folder, _ = disc
    ms = bytearray((folder / "DDPMS").read_bytes())
    for p in range(0, len(ms), 128):
        dsl = int(ms[p + 14 : p + 22]) - (64 if ms[p + 30 : p + 38] == b"PQ DESCR" else 0)
        ms[p + 14 : p + 22] = f"{dsl:>8d}".encode()
        ms[p + 22 : p + 30] = b" " * 8
        ms[p + 71 : p + 74] = b" 17"
        if ms[p + 4 : p + 6] == b"D0":
            ms[p + 41 : p + 42] = b"1"
            ms[p + 46 : p + 50] = b" 150"
    (folder / "DDPMS").write_bytes(bytes(ms))
    pq = folder / "PQDESCR"
    pq.write_bytes(pq.read_bytes()[:-64])
    rewrite_checksums(folder)
    assert read_ddp(folder).layout == without_text(layout)


# --------------------------------------------------------------------------- records


def test_ddpid_record(disc) -> None:
    _layout, _audio, folder, _ = disc
    rec = (folder / "DDPID").read_bytes()
    assert len(rec) == 128
    assert text(rec, 0, 8) == "DDP 2.00"
    assert text(rec, 8, 13) == EAN  # UPC/EAN
    assert text(rec, 21, 17) == " " * 17  # MSS, MSL, MED
    assert text(rec, 38, 48) == "First Light".ljust(48)  # master ID
    assert text(rec, 86, 1) == " "  # BK
    assert text(rec, 87, 2) == "CD"  # TYPE
    assert text(rec, 89, 39) == " " * 39  # DVD fields, no user text


def test_ddpms_packets(tmp_path: Path, disc) -> None:
    layout, _audio, _folder, _ = disc
    cdtext = encode_cdtext(layout)
    out = tmp_path / "with-text"
    paths = write_ddp(out, layout, tmp_path / "programme.wav", cdtext)
    assert "CDTEXT.BIN" in [p.name for p in paths]
    assert (out / "CDTEXT.BIN").read_bytes() == cdtext
    ms = (out / "DDPMS").read_bytes()
    assert len(ms) == 3 * 128
    text_p, pq_p, image_p = packets(ms, 128)
    for p in (text_p, pq_p, image_p):
        assert text(p, 0, 4) == "VVVM"
        assert text(p, 71, 3) == "017"  # SIZ: width of DSI
        assert text(p, 91, 37) == " " * 37  # NEW .. pad
    assert (text(text_p, 4, 2), text(text_p, 30, 8), text(text_p, 55, 2)) == (
        "S0",
        "CDTEXT  ",
        "00",
    )
    assert text(text_p, 14, 8) == f"{len(cdtext):08d}"  # bytes
    assert text(text_p, 74, 17) == "CDTEXT.BIN".ljust(17)
    assert (text(pq_p, 4, 2), text(pq_p, 30, 8)) == ("S0", "PQ DESCR")
    assert int(text(pq_p, 14, 8)) == (out / "PQDESCR").stat().st_size == 9 * 64
    assert text(pq_p, 38, 4) == " " * 4  # no CDM/SSM/SCR on subcode streams
    assert text(pq_p, 74, 17) == "PQDESCR".ljust(17)
    assert text(image_p, 4, 2) == "D0"
    assert text(image_p, 14, 8) == f"{layout.total_frames:08d}"  # 2352-byte sectors
    assert text(image_p, 22, 8) == "00000000"  # DSS
    assert text(image_p, 30, 8) == " " * 8  # no SUB
    assert text(image_p, 38, 4) == "DA70"  # CDM DA, SSM 7, SCR 0
    assert text(image_p, 46, 4) == "0150"  # PRE2: track 1's pause
    assert text(image_p, 74, 17) == "IMAGE.DAT".ljust(17)
    info = read_ddp(out)
    assert info.cdtext == cdtext
    # rewritten without CD-Text: the stale CDTEXT.BIN goes, DDPMS has two packets
    write_ddp(out, layout, tmp_path / "programme.wav", None)
    assert not (out / "CDTEXT.BIN").exists()
    assert len((out / "DDPMS").read_bytes()) == 256
    assert read_ddp(out).cdtext is None


def test_pq_descriptor_packets(disc) -> None:
    layout, _audio, folder, _ = disc
    pq = packets((folder / "PQDESCR").read_bytes(), 64)
    assert all(len(p) == 64 and text(p, 0, 4) == "VVVS" for p in pq)
    assert [(text(p, 4, 2), text(p, 6, 2)) for p in pq] == [
        ("00", "00"),  # lead-in
        ("01", "00"),
        ("01", "01"),
        ("02", "01"),  # segue: no INDEX 00
        ("03", "00"),
        ("03", "01"),
        ("03", "02"),
        ("AA", "01"),
        ("AA", "01"),  # lead-out twice
    ]
    t1, t2, t3 = layout.tracks
    frames = [0, 0, t1.start_frame, t2.start_frame, t3.pregap_start_frame, t3.start_frame]
    frames += [t3.index_frames[0], layout.total_frames, layout.total_frames]

    def msf(f: int) -> str:
        return f"{f // 4500:02d}{f // 75 % 60:02d}{f % 75:02d}"

    # A-time = layout frame: 00:00:00 is IMAGE.DAT's first sector (track 1 INDEX 00)
    assert [text(p, 8, 8) for p in pq] == ["  " + msf(f) for f in frames]
    assert text(pq[2], 10, 6) == "000200"  # track 1 INDEX 01 at 2 s
    assert text(pq[-1], 10, 6) == "001825" == msf(1375)  # lead-out = DSL of IMAGE.DAT
    assert [text(p, 16, 2) for p in pq] == ["01", "01", "01", "11", "01", "01", "01", "01", "01"]
    assert [text(p, 18, 2) for p in pq] == ["  "] * 9  # C2
    isrcs = [text(p, 20, 12).strip() for p in pq]
    assert isrcs == ["", "USABC2600001", "", "USABC2600002", "", "", "", "", ""]
    assert [text(p, 32, 13).strip() for p in pq] == [EAN] + [""] * 8
    assert all(text(p, 45, 19) == " " * 19 for p in pq)


def test_pq_sheet_lists_every_track(disc) -> None:
    layout, _audio, folder, _ = disc
    sheet = pq_sheet(layout)
    assert (folder / "PQ_SHEET.TXT").read_text() == sheet
    assert f"UPC/EAN:   {EAN}" in sheet
    rows = {line[:6].strip() + "/" + line[6:12].strip(): line for line in sheet.splitlines()}
    # track, index, absolute, relative to track 1 INDEX 01, length, pause, ISRC
    assert rows["01/01"].split() == [
        "01",
        "01",
        "00:02:00",
        "00:00:00",
        "00:05:25",
        "00:02:00",
        "USABC2600001",
        "-",
    ]
    assert rows["02/01"].split() == [
        "02",
        "01",
        "00:07:25",
        "00:05:25",
        "00:04:30",
        "00:00:00",
        "USABC2600002",
        "PRE",
    ]
    assert rows["03/01"].split() == [
        "03",
        "01",
        "00:12:55",
        "00:10:55",
        "00:05:45",
        "00:01:00",
        "-",
        "-",
    ]
    assert rows["03/02"].split() == ["03", "02", "00:14:05", "00:12:05"]
    assert rows["AA/01"].split()[:4] == ["AA", "01", "00:18:25", "00:16:25"]
    assert "Total programme: 00:18:25" in sheet


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda L: make_layout([(149, 400, None, ())]), "shorter than 2 s"),
        (lambda L: make_layout([(150, 400, "US-ABC-26-00001", ())]), "ISRC"),
        (lambda L: dataclasses.replace(L, catalog="12345"), "13 digits"),
        (lambda L: dataclasses.replace(L, total_frames=L.total_frames + 1), "total_frames"),
        (
            lambda L: dataclasses.replace(
                L, tracks=(L.tracks[0], dataclasses.replace(L.tracks[1], pregap_start_frame=551))
            ),
            "track 2: starts at frame 551",
        ),
    ],
)
def test_layouts_ddp_cannot_describe_are_refused(tmp_path: Path, disc, change, message) -> None:
    layout = change(disc[0])
    with pytest.raises(DdpError, match=message):
        write_ddp(tmp_path / "bad", layout, tmp_path / "programme.wav", None)
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_programme_of_the_wrong_length_leaves_nothing(tmp_path: Path, disc) -> None:
    layout, audio, _folder, _ = disc
    short = write_wav(tmp_path / "short.wav", audio[:-SAMPLES_PER_FRAME])
    out = tmp_path / "out"
    with pytest.raises(DdpError, match="samples, the layout needs 1375 frames"):
        write_ddp(out, layout, short, None)
    assert list(out.iterdir()) == []  # the temp IMAGE.DAT was removed
    mono = tmp_path / "mono.wav"
    sf.write(str(mono), audio[:, 0], 44100, subtype="PCM_16")
    with pytest.raises(DdpError, match="stereo PCM_16"):
        write_ddp(out, layout, mono, None)


def test_a_failed_rewrite_keeps_the_previous_fileset(tmp_path: Path, disc) -> None:
    layout, audio, folder, _ = disc
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    short = write_wav(tmp_path / "short.wav", audio[: -SAMPLES_PER_FRAME * 10])
    with pytest.raises(DdpError):
        write_ddp(folder, layout, short, None)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert read_ddp(folder).layout == without_text(layout)
