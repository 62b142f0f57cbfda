"""MP3 through LAME 3.100 (the lameenc wheel), with the LAME tag frame written by us.

LAME takes 16-bit PCM here, so the float blocks are quantised with our seeded TPDF
dither first (as from a CD rip: the dither at -96 dBFS is far under the codec's own
noise). lameenc turns LAME's Xing/LAME tag off (``lame_set_bWriteVbrTag(0)``) and has no
``lame_get_lametag_frame``, yet players need that frame: the encoder delay and padding
for gapless playback, and a VBR file's length and seek table. So the file starts with a
placeholder the size of the tag frame, the audio frames stream after it, and the frame
is filled in at the end, field by field as LAME's VbrTag.c (3.100) writes it.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import lameenc
import numpy as np

from masterbuild.dsp.dither import make_quantizer

LAME_VERSION = b"LAME3.100"  # the version lameenc 1.9 bundles, as LAME's tag spells it
QUALITY = 3  # LAME's own default algorithm quality (-q 3); LAME's VBR mode uses 0 for 0..4
ENCODER_DELAY = 576  # LAME's ENCDELAY: input samples before the first one coded
FRAME_SAMPLES = 1152  # MPEG-1 Layer III
CHUNK_FRAMES = 56 * FRAME_SAMPLES  # about 1.5 s at 44.1 kHz: memory stays flat
VBR_MTRH = 4  # lameenc's set_vbr code for LAME's default VBR mode (vbr_mtrh, "-V n")

_SAMPLE_RATE_INDEX = {44100: 0, 48000: 1, 32000: 2}
_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_TAG_KBPS_VBR = 128  # LAME's XING_BITRATE1: the tag frame of an MPEG-1 VBR stream
_XING_SIZE = 120  # "Xing"/"Info", flags, frames, bytes, 100-byte TOC, quality
_LAME_SIZE = 36  # the LAME extension, its CRC-16 last
# LAME's default lowpass (lame.c): by bitrate for CBR, by -V level for vbr_mtrh.
_CBR_LOWPASS_HZ = {96: 15100, 112: 15600, 128: 17000, 160: 17500, 192: 18600, 224: 19400}
_CBR_LOWPASS_HZ |= {256: 19700, 320: 20500}
_VBR_LOWPASS_HZ = (24000, 19500, 18500, 18000, 17500, 17000, 16500, 15600, 15200, 7230)


def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint16)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table[n] = c
    return table


_CRC_TABLE = _crc_table()


def _crc_loop(data: np.ndarray, crc: int, table: np.ndarray) -> int:
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


@functools.cache
def _crc_kernel() -> Callable[[np.ndarray, int, np.ndarray], int]:
    # The music CRC runs over every byte (pure Python: about 1 s per 10 MB), so numba
    # compiles the loop; imported on first use, as numba takes a while to import.
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba is a dependency
        return _crc_loop
    return njit(cache=True, nogil=True)(_crc_loop)


def crc16(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-16/ARC (poly 0xA001 reflected, init 0), the LAME tag's CRC; `crc` chains calls."""
    return int(_crc_kernel()(np.frombuffer(data, dtype=np.uint8), crc, _CRC_TABLE))


def frame_size(header: bytes) -> int:
    """Bytes in an MPEG-1 Layer III frame, from its 4-byte header."""
    if header[0] != 0xFF or header[1] & 0xFE != 0xFA:
        raise ValueError(f"not an MPEG-1 Layer III frame header: {bytes(header[:4]).hex()}")
    kbps = _KBPS[header[2] >> 4]
    rate = (44100, 48000, 32000)[(header[2] >> 2) & 3]
    return 144000 * kbps // rate + ((header[2] >> 1) & 1)


class _FrameSink:
    """Writes LAME's output to the file while noting frame sizes and the music CRC."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._pending = b""
        self.sizes: list[int] = []
        self.crc = 0
        self.last_header = b""

    def add(self, data: bytes | bytearray) -> None:
        if not data:
            return
        self._f.write(data)
        self.crc = crc16(data, self.crc)
        buf = self._pending + bytes(data)
        pos = 0
        while len(buf) - pos >= 4:
            size = frame_size(buf[pos : pos + 4])
            if len(buf) - pos < size:
                break  # a frame split across two calls: finish it next time
            self.sizes.append(size)
            self.last_header = buf[pos : pos + 4]
            pos += size
        self._pending = buf[pos:]

    def check_complete(self) -> None:
        if self._pending:
            raise RuntimeError(f"LAME's output ends in a partial frame ({len(self._pending)} B)")


def _lowpass_hz(sample_rate_hz: int, channels: int, kbps: int | None, vbr: int | None) -> float:
    """LAME's cfg->lowpassfreq for these settings (lame.c lame_init_params)."""
    if vbr is not None:
        return min(_VBR_LOWPASS_HZ[vbr], 24000, sample_rate_hz / 2)
    mono = 1.5 if channels == 1 else 1.0  # CBR mono: the bits go further
    return min(_CBR_LOWPASS_HZ[kbps] * mono, 20500, sample_rate_hz / 2)


def lame_tag_frame(
    *,
    sample_rate_hz: int,
    channels: int,
    kbps: int | None,
    vbr: int | None,
    frame_sizes: list[int],
    last_header: bytes,
    music_crc: int,
    input_frames: int,
) -> bytes:
    """The Xing/Info + LAME tag frame LAME 3.100 would put first (VbrTag.c).

    `kbps` for CBR or `vbr` (the -V level) for VBR; `frame_sizes` of the audio frames
    in order (the tag frame not among them); `last_header` the last audio frame's
    header (LAME copies its mode byte); `music_crc` over the audio frames.
    """
    n = len(frame_sizes)
    tag_kbps = kbps if vbr is None else _TAG_KBPS_VBR
    size = 144000 * tag_kbps // sample_rate_hz
    side_info = 32 if channels == 2 else 17
    frame = bytearray(size)
    frame[0:4] = (
        0xFF,
        0xFB,  # MPEG-1, Layer III, no CRC
        _KBPS.index(tag_kbps) << 4 | _SAMPLE_RATE_INDEX[sample_rate_hz] << 2,  # no padding
        last_header[3],  # channel mode, mode extension, copyright, original, emphasis
    )
    audio_bytes = sum(frame_sizes)
    stream_bytes = audio_bytes + size  # LAME counts its own frame in the byte count
    # TOC: entry i is the byte offset of the frame at i % of the duration, in 256ths of
    # the audio bytes (LAME approximates it from bitrate sums; we know the real sizes).
    toc = bytearray(100)
    offsets = np.concatenate(([0], np.cumsum(frame_sizes, dtype=np.int64)))
    if n:
        at = offsets[(np.arange(100) * n) // 100]
        toc[:] = np.minimum(256 * at // audio_bytes, 255).astype(np.uint8).tobytes()
    # nQuality = 100 - 10 * VBR_q - quality; CBR leaves VBR_q at lame_init's 4, and
    # vbr_mtrh runs every -q below 5 as 0.
    quality = 100 - 10 * 4 - QUALITY if vbr is None else 100 - 10 * vbr
    x = side_info + 4
    frame[x : x + _XING_SIZE] = (
        (b"Info" if vbr is None else b"Xing")
        + struct.pack(">III", 0x0F, n, stream_bytes)  # flags: frames, bytes, TOC, quality
        + bytes(toc)
        + struct.pack(">I", max(quality, 0))
    )
    padding = n * FRAME_SAMPLES - input_frames - ENCODER_DELAY
    if not 0 <= padding < 4096:
        raise ValueError(f"encoder padding {padding} does not fit the LAME tag")
    lowpass = min(int(_lowpass_hz(sample_rate_hz, channels, kbps, vbr) / 100 + 0.5), 255)
    # The stream's channel mode (lameenc picks plain stereo above 128 kbps CBR, LAME's
    # joint stereo otherwise) in the tag's numbering: stereo 1, joint 3, dual 2, mono 0.
    mode = last_header[3] >> 6
    stereo_mode = (1, 3, 2, 0)[mode]
    # Flags: ATH type (CBR 4; VBR presets set 5), nspsytune always, and safe joint
    # stereo where the preset asks for it (CBR 160 kbps and up; V0..V7) and the stream
    # is joint stereo at all.
    ath = 4 if vbr is None else 5
    safe_joint = mode == 1 and ((kbps or 0) >= 160 if vbr is None else vbr <= 7)
    flags = ath | 1 << 4 | int(safe_joint) << 5
    abr_byte = min(kbps, 255) if vbr is None else 32  # CBR: -b; VBR: the minimum bitrate
    noise_shaping = 2 if vbr is None and kbps <= 160 else 1  # LAME 3.100's CBR presets
    source_rate = {32000: 0, 44100: 1, 48000: 2}[sample_rate_hz]
    non_optimal = sample_rate_hz <= 32000  # LAME flags input at 32 kHz and below so
    misc = noise_shaping | stereo_mode << 2 | int(non_optimal) << 5 | source_rate << 6
    preset = kbps if vbr is None else 500 - 10 * vbr
    lame = (
        LAME_VERSION
        + bytes((1 if vbr is None else 4, lowpass))  # revision 0 + method: CBR 1, vbr-mtrh 4
        + bytes(8)  # peak amplitude, radio and audiophile ReplayGain: not computed
        + bytes((flags, abr_byte))
        + (ENCODER_DELAY << 12 | padding).to_bytes(3, "big")
        + bytes((misc, 0))  # misc; MP3 gain 0
        + struct.pack(">HIH", preset, stream_bytes, music_crc)  # preset; music length, CRC
    )
    y = x + _XING_SIZE
    frame[y : y + len(lame)] = lame
    tag_end = y + len(lame)
    frame[tag_end : tag_end + 2] = crc16(frame[:tag_end]).to_bytes(2, "big")
    return bytes(frame)


def _rechunked(blocks: Iterable[np.ndarray], frames: int) -> Iterable[np.ndarray]:
    """The same samples in blocks of `frames` (the last shorter): the dither draws depend
    on block boundaries, and so the file would on how the caller happened to split it."""
    held: list[np.ndarray] = []
    count = 0
    for block in blocks:
        held.append(block)
        count += len(block)
        if count >= frames:
            joined = np.concatenate(held)
            cut = len(joined) - len(joined) % frames
            yield from np.split(joined[:cut], cut // frames)
            held, count = [joined[cut:]], len(joined) - cut
    if count:
        yield np.concatenate(held)


def write_mp3(
    path: Path,
    blocks: Iterable[np.ndarray],
    sample_rate_hz: int,
    channels: int,
    rng: np.random.Generator | None,
    *,
    bitrate_kbps: int | None = None,
    vbr_quality: int | None = None,
) -> int:
    """Encode float blocks (full scale +-1, (frames, channels)) to an MP3 file at `path`.

    CBR at `bitrate_kbps` (default 320) or, with `vbr_quality` 0..9, LAME's -V n. The
    dither is TPDF from `rng`, so equal inputs and seeds give equal files, however the
    input is split into blocks. Returns the count of samples clipped to 16 bits.
    """
    if sample_rate_hz not in _SAMPLE_RATE_INDEX:
        raise ValueError(f"MP3 at {sample_rate_hz} Hz: use 32000, 44100 or 48000")
    if channels not in (1, 2):
        raise ValueError(f"MP3 has 1 or 2 channels, not {channels}")
    kbps = None if vbr_quality is not None else bitrate_kbps or 320
    if kbps is not None and kbps not in _CBR_LOWPASS_HZ:
        raise ValueError(f"{kbps} kbps is not a CBR rate here: {sorted(_CBR_LOWPASS_HZ)}")
    if vbr_quality is not None and vbr_quality not in range(10):
        raise ValueError(f"VBR quality must be 0..9, not {vbr_quality}")
    enc = lameenc.Encoder()
    enc.silence()
    enc.set_channels(channels)
    enc.set_in_sample_rate(sample_rate_hz)
    enc.set_out_sample_rate(sample_rate_hz)  # else LAME may resample low bitrates to 32 kHz
    enc.set_quality(QUALITY)
    if kbps is not None:
        enc.set_bit_rate(kbps)
    else:
        enc.set_vbr(VBR_MTRH)
        enc.set_vbr_quality(vbr_quality)
    tag_kbps = kbps or _TAG_KBPS_VBR
    quantizer = make_quantizer(16, "tpdf", rng, sample_rate_hz, channels)
    clipped = 0
    frames_in = 0
    with open(path, "wb") as f:
        f.write(bytes(144000 * tag_kbps // sample_rate_hz))  # the tag frame, filled in last
        sink = _FrameSink(f)
        sink.add(enc.encode(b""))  # starts LAME: flush() refuses a stream never begun
        for block in _rechunked(blocks, CHUNK_FRAMES):
            codes, n = quantizer(block)
            clipped += n
            frames_in += len(codes)
            sink.add(enc.encode(codes.astype("<i2").tobytes()))
        sink.add(enc.flush())
        sink.check_complete()
        f.seek(0)
        f.write(
            lame_tag_frame(
                sample_rate_hz=sample_rate_hz,
                channels=channels,
                kbps=kbps,
                vbr=vbr_quality,
                frame_sizes=sink.sizes,
                last_header=sink.last_header,
                music_crc=sink.crc,
                input_frames=frames_in,
            )
        )
    return clipped
