"""The lameenc MP3 writer and the LAME tag frame it writes (masterbuild.mp3).

Oracles: libsndfile (mpg123) and ffmpeg decode the files gapless from the LAME tag, so
they must return exactly the input's frame count, aligned; mutagen and ffprobe read the
tag; and LAME's own tag (the system libmp3lame through ctypes, configured as lameenc
configures it, where installed) is compared field by field with ours.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
from pathlib import Path

import mutagen.mp3
import numpy as np
import pytest
import soundfile as sf

from masterbuild.dsp.dither import dither_rng, make_quantizer
from masterbuild.mp3 import frame_size, lame_tag_frame, write_mp3

MODES = {"cbr320": {"bitrate_kbps": 320}, "v2": {"vbr_quality": 2}}
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="no ffmpeg"
)


def _signal(sr: int, seconds: float = 3.7) -> np.ndarray:
    """1 kHz + 5 kHz at -6 dBFS peak, an odd number of frames, the channels different."""
    n = int(seconds * sr) | 1
    t = np.arange(n) / sr
    left = 0.25 * np.sin(2 * np.pi * 1000 * t) + 0.25 * np.sin(2 * np.pi * 5000 * t)
    right = 0.25 * np.sin(2 * np.pi * 1000 * t + 1.0) + 0.25 * np.sin(2 * np.pi * 5000 * t)
    return np.stack([left, right], axis=1)


def _encode(path: Path, x: np.ndarray, sr: int, mode: str, seed: str = "s", block=65536):
    blocks = (x[i : i + block] for i in range(0, len(x), block))
    write_mp3(path, blocks, sr, x.shape[1], dither_rng(seed), **MODES[mode])
    return path


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every frame, the tag frame first."""
    out, pos = [], 0
    while pos + 4 <= len(data):
        size = frame_size(data[pos : pos + 4])
        out.append((pos, size))
        pos += size
    assert pos == len(data), "the file is not whole frames"
    return out


def _crc16_bitwise(data: bytes) -> int:
    """CRC-16/ARC the slow way, independent of the table-driven one under test."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _tag(data: bytes) -> dict:
    frame = data[: _frames(data)[0][1]]
    x = 36 if frame[3] >> 6 != 3 else 21  # after the side info (stereo 32, mono 17 bytes)
    lame = frame[x + 120 : x + 156]
    delay_padding = int.from_bytes(lame[21:24], "big")
    return {
        "frame": frame,
        "magic": frame[x : x + 4],
        "flags": int.from_bytes(frame[x + 4 : x + 8], "big"),
        "frames": int.from_bytes(frame[x + 8 : x + 12], "big"),
        "bytes": int.from_bytes(frame[x + 12 : x + 16], "big"),
        "toc": frame[x + 16 : x + 116],
        "xing_end": x + 116,
        "version": lame[:9],
        "delay": delay_padding >> 12,
        "padding": delay_padding & 0xFFF,
        "music_length": int.from_bytes(lame[28:32], "big"),
        "music_crc": int.from_bytes(lame[32:34], "big"),
        "tag_crc": int.from_bytes(lame[34:36], "big"),
        "tag_end": x + 156,
    }


def _snr_db(ref: np.ndarray, got: np.ndarray, lag: int) -> float:
    """SNR of `got` against `ref` shifted by `lag` frames, over the middle (edges cut)."""
    n, edge = min(len(ref), len(got)), 4096
    a = ref[edge : n - edge]
    b = got[edge + lag : n - edge + lag]
    return 10 * np.log10(np.sum(a**2) / np.sum((b - a) ** 2))


def _ffmpeg_decode(path: Path) -> np.ndarray:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, "<i2").reshape(-1, 2) / 32768.0


@needs_ffmpeg
@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_decoders_return_exactly_the_input_aligned(tmp_path, sr, mode):
    x = _signal(sr)
    path = _encode(tmp_path / "t.mp3", x, sr, mode)
    assert sf.info(str(path)).frames == len(x)  # libsndfile: mpg123 reads the LAME tag
    by_ffmpeg = _ffmpeg_decode(path)
    assert len(by_ffmpeg) == len(x)
    for decoded in (sf.read(str(path))[0], by_ffmpeg):
        snr = {lag: _snr_db(x, decoded, lag) for lag in range(-2, 3)}
        assert snr[0] > 30, snr
        assert max(snr, key=snr.get) == 0, snr  # one frame off drops it far under 30 dB


@pytest.mark.parametrize("mode", sorted(MODES))
def test_mutagen_reads_length_mode_and_encoder(tmp_path, mode):
    sr = 44100
    x = _signal(sr)
    x = x + 0.05 * np.random.default_rng(1).standard_normal(x.shape)  # content to spend bits on
    info = mutagen.mp3.MP3(_encode(tmp_path / "t.mp3", x, sr, mode)).info
    assert abs(info.length - len(x) / sr) < 0.001
    assert "LAME" in info.encoder_info
    assert info.sample_rate == sr and info.channels == 2
    if mode == "cbr320":
        assert info.bitrate_mode == mutagen.mp3.BitrateMode.CBR
        assert abs(info.bitrate - 320_000) < 100  # 319999 from LAME's own tag too
        assert info.encoder_settings == "-b 320"
    else:
        assert info.bitrate_mode == mutagen.mp3.BitrateMode.VBR
        assert 150_000 < info.bitrate < 300_000  # V2 on noisy content: ~190 kbps music
        assert info.encoder_settings == "-V 2"


@needs_ffmpeg
@pytest.mark.parametrize("mode", sorted(MODES))
def test_tag_crcs_and_ffprobe(tmp_path, mode):
    path = _encode(tmp_path / "t.mp3", _signal(44100, 1.5), 44100, mode)
    data = path.read_bytes()
    tag = _tag(data)
    frames = _frames(data)
    assert tag["tag_crc"] == _crc16_bitwise(tag["frame"][:190])
    assert tag["music_crc"] == _crc16_bitwise(data[frames[1][0] :])
    assert tag["frames"] == len(frames) - 1  # LAME counts the audio frames only
    assert tag["bytes"] == tag["music_length"] == len(data)  # ... but its own bytes too
    assert tag["delay"] == 576
    assert tag["magic"] == (b"Info" if mode == "cbr320" else b"Xing")
    assert tag["flags"] == 0x0F
    # the seek table: entry i is the offset of the frame i% of the way in, in 256ths
    # of the audio bytes, counted from the first audio frame
    audio = [(offset - frames[1][0], size) for offset, size in frames[1:]]
    total = sum(size for _, size in audio)
    want = [min(255, 256 * audio[i * len(audio) // 100][0] // total) for i in range(100)]
    assert list(tag["toc"]) == want

    def probe(p: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                *("ffprobe", "-v", "warning", "-show_entries", "stream_tags=encoder"),
                *("-of", "default=nw=1:nk=1", str(p)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )

    good = probe(path)
    assert good.stderr == ""
    # ffmpeg only takes the encoder name from a LAME tag whose CRC is right
    assert good.stdout.strip() == "LAME3.100"
    broken = bytearray(data)
    broken[tag["tag_end"] - 26] ^= 0x01  # the lowpass byte, under the tag CRC
    (tmp_path / "bad.mp3").write_bytes(broken)
    assert probe(tmp_path / "bad.mp3").stdout.strip() == ""


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    x = _signal(48000, 1.0)
    a = _encode(tmp_path / "a.mp3", x, 48000, "v2", seed="one").read_bytes()
    b = _encode(tmp_path / "b.mp3", x, 48000, "v2", seed="one").read_bytes()
    c = _encode(tmp_path / "c.mp3", x, 48000, "v2", seed="two").read_bytes()
    assert a == b
    assert a != c  # the dither is drawn from the seed (and LAME hears it)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_block_size_does_not_change_the_bytes(tmp_path, mode):
    x = _signal(44100, 2.0)
    files = [
        _encode(tmp_path / f"{b}.mp3", x, 44100, mode, block=b).read_bytes()
        for b in (len(x), 65536, 4097, 1000)
    ]
    assert all(f == files[0] for f in files[1:])


def test_empty_and_clipping_input(tmp_path):
    assert write_mp3(tmp_path / "e.mp3", [], 44100, 2, dither_rng("e")) == 0
    assert sf.info(str(tmp_path / "e.mp3")).frames == 0
    loud = np.full((1000, 2), 1.5)
    assert write_mp3(tmp_path / "c.mp3", [loud], 44100, 2, dither_rng("c")) == 2000


# --- LAME's own tag, from the system's libmp3lame (ffmpeg depends on it) --------------

_LAME_PATH = ctypes.util.find_library("mp3lame")


def _lame_file(codes: np.ndarray, sr: int, kbps: int | None, vbr: int | None) -> bytes:
    """LAME 3.100 set up as lameenc sets it up, but writing its own tag frame."""
    lib = ctypes.CDLL(_LAME_PATH)
    lib.lame_init.restype = ctypes.c_void_p
    lib.lame_set_VBR_quality.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.lame_encode_buffer_interleaved.argtypes = [
        *(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int),
        *(ctypes.c_void_p, ctypes.c_int),
    ]
    lib.lame_get_lametag_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.lame_get_lametag_frame.restype = ctypes.c_size_t
    g = ctypes.c_void_p(lib.lame_init())
    channels = codes.shape[1]
    for setter, value in [
        ("num_channels", channels),
        ("in_samplerate", sr),
        ("out_samplerate", sr),
        ("brate", kbps or 128),
        ("quality", 3),
        ("bWriteVbrTag", 1),
    ]:
        getattr(lib, f"lame_set_{setter}")(g, value)
    if vbr is not None:
        lib.lame_set_VBR(g, 4)
        lib.lame_set_VBR_quality(g, float(vbr))
    if channels == 1:
        lib.lame_set_mode(g, 3)  # lameenc: MONO for one channel,
    elif (kbps or 128) > 128:
        lib.lame_set_mode(g, 0)  # STEREO above 128 kbps, else LAME's joint stereo
    assert lib.lame_init_params(g) >= 0
    pcm = np.ascontiguousarray(codes, dtype="<i2")
    out = ctypes.create_string_buffer(len(pcm) * 2 + 7200 + 65536)
    n = lib.lame_encode_buffer_interleaved(g, pcm.ctypes.data, len(pcm), out, len(out))
    n += lib.lame_encode_flush(g, ctypes.byref(out, n), len(out) - n)
    tag = ctypes.create_string_buffer(4096)
    size = lib.lame_get_lametag_frame(g, tag, len(tag))
    lib.lame_close(g)
    return tag.raw[:size] + out.raw[size:n]  # its first frame was a placeholder too


@pytest.mark.skipif(_LAME_PATH is None, reason="no system libmp3lame")
@pytest.mark.parametrize("sr", [32000, 44100, 48000])
@pytest.mark.parametrize("channels", [2, 1])
@pytest.mark.parametrize(
    "kbps, vbr",
    [(96, None), (128, None), (160, None), (320, None), (None, 0), (None, 2), (None, 9)],
)
def test_tag_frame_is_lames_own(tmp_path, sr, channels, kbps, vbr):
    x = _signal(sr, 0.8)[:, :channels]
    codes = make_quantizer(16, "tpdf", dither_rng("l"), sr, channels)(x)[0]
    lame = _lame_file(codes, sr, kbps, vbr)
    theirs = _tag(lame)
    frames = _frames(lame)
    # Our tag frame for LAME's own audio frames: every byte as LAME writes it, but the
    # seek table (LAME's is approximate; ours is from the frame offsets) and so the CRC.
    ours = lame_tag_frame(
        sample_rate_hz=sr,
        channels=channels,
        kbps=kbps,
        vbr=vbr,
        frame_sizes=[size for _, size in frames[1:]],
        last_header=lame[frames[-1][0] : frames[-1][0] + 4],
        music_crc=_crc16_bitwise(lame[frames[1][0] :]),
        input_frames=len(x),
    )
    toc_at, toc_end, crc_at = theirs["xing_end"] - 100, theirs["xing_end"], theirs["tag_end"] - 2
    assert len(ours) == len(theirs["frame"])
    assert ours[:toc_at] == theirs["frame"][:toc_at]
    assert ours[toc_end:crc_at] == theirs["frame"][toc_end:crc_at]
    assert ours[crc_at + 2 :] == theirs["frame"][crc_at + 2 :]
    # LAME's entry i is where frame i% ends, ours where it starts: one frame apart.
    sizes = [size for _, size in frames[1:]]
    one_frame = 256 * max(sizes) / sum(sizes)
    toc_ours = np.frombuffer(ours[toc_at:toc_end], np.uint8).astype(int)
    assert np.abs(toc_ours - np.frombuffer(theirs["toc"], np.uint8)).max() <= one_frame + 1
    # and our writer, through lameenc, sets the tag the same way for the same settings
    path = tmp_path / "ours.mp3"
    write_mp3(path, [x], sr, channels, dither_rng("l"), bitrate_kbps=kbps, vbr_quality=vbr)
    mine = _tag(path.read_bytes())
    settings = slice(toc_end, crc_at - 6)  # quality .. preset: all but lengths and CRCs
    assert mine["frame"][settings] == theirs["frame"][settings]
    assert mine["frames"] == theirs["frames"]
