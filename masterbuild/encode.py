"""Codecs: how each manifest codec is written, through libsndfile (soundfile) or LAME.

PCM is quantised by us (masterbuild.dsp.dither) and handed to libsndfile as integers,
so the word length and the dither are exactly ours; Vorbis and Opus take float. MP3
goes to LAME through lameenc (masterbuild.mp3): 3x faster than libsndfile's writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from soundfile import _ffi, _snd

from masterbuild.dsp.dither import make_quantizer
from masterbuild.mp3 import write_mp3

_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile sndfile.h
_SF_FALSE = 0


@dataclass(frozen=True)
class Encoding:
    """libsndfile major format, subtype and compression settings of a codec."""

    container: str
    subtype: str
    compression_level: float | None = None
    bitrate_mode: str | None = None


def encoding_for(fmt: dict[str, Any], channels: int) -> Encoding:
    """Map a format's settings (plan's format config) to libsndfile parameters."""
    codec = fmt["codec"]
    depth = fmt.get("bit_depth")
    if codec in ("wav", "aiff", "flac"):
        subtype = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}[depth]
        return Encoding({"wav": "WAV", "aiff": "AIFF", "flac": "FLAC"}[codec], subtype)
    if codec == "mp3":
        if fmt.get("quality"):
            # libsndfile: VBR quality = int(level * 9); nudge up so V2 is not read as V1.
            level = int(fmt["quality"][1:]) / 9.0 + 1e-9
            return Encoding("MP3", "MPEG_LAYER_III", min(level, 1.0), "VARIABLE")
        kbps = fmt.get("bitrate_kbps") or 320
        # libsndfile (MPEG-1): bitrate = int(320 - level * 288); nudge down against truncation.
        return Encoding("MP3", "MPEG_LAYER_III", max(0.0, (320 - kbps) / 288 - 1e-9), "CONSTANT")
    if codec == "ogg":
        q = float(fmt.get("quality") or 6)  # Vorbis -q 6, about 192 kbps stereo
        return Encoding("OGG", "VORBIS", min(max(1.0 - q / 10.0, 0.0), 0.999))
    if codec == "opus":
        kbps = fmt.get("bitrate_kbps") or 160
        # libsndfile: bitrate = ((1 - level) * 250000 + 6000) * channels
        per_channel = kbps * 1000.0 / channels
        level = 1.0 - (per_channel - 6000.0) / 250000.0
        return Encoding("OGG", "OPUS", min(max(level, 0.0), 1.0))
    raise ValueError(f"unknown codec {codec!r}")


def open_writer(path: Path, enc: Encoding, sample_rate_hz: int, channels: int) -> sf.SoundFile:
    f = sf.SoundFile(
        str(path),
        "w",
        samplerate=sample_rate_hz,
        channels=channels,
        format=enc.container,
        subtype=enc.subtype,
        compression_level=enc.compression_level,
        bitrate_mode=enc.bitrate_mode,
    )
    if enc.subtype == "FLOAT":
        # The PEAK chunk carries a timestamp: leave it out so builds are reproducible.
        _snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, _ffi.NULL, _SF_FALSE)
    return f


def write_stream(
    path: Path,
    blocks: Iterable[np.ndarray],
    fmt: dict[str, Any],
    sample_rate_hz: int,
    channels: int,
    rng: np.random.Generator | None,
) -> int:
    """Encode float blocks (full scale +-1) to `path`; returns the count of clipped samples."""
    if fmt["codec"] == "mp3":
        vbr = int(fmt["quality"][1:]) if fmt.get("quality") else None
        return write_mp3(
            path,
            blocks,
            sample_rate_hz,
            channels,
            rng,
            bitrate_kbps=fmt.get("bitrate_kbps"),
            vbr_quality=vbr,
        )
    if fmt["codec"] in LOSSLESS_CODECS:
        stream = StoredStream(path, blocks, fmt, sample_rate_hz, channels, rng)
        for _ in stream:
            pass
        return stream.clipped
    clipped = 0  # Vorbis and Opus: float in, clipped to full scale
    with open_writer(path, encoding_for(fmt, channels), sample_rate_hz, channels) as f:
        for block in blocks:
            clipped += int(np.count_nonzero(np.abs(block) > 1.0))
            f.write(np.clip(block, -1.0, 1.0))
    return clipped


LOSSLESS_CODECS = ("wav", "aiff", "flac")


class StoredStream:
    """Encodes a lossless format while yielding, block by block, what the file stores.

    Iterating it writes `path` (closed when the iteration ends) and yields the stored
    samples as float64 (PCM codes / full scale, or the float32 values), so a caller
    can measure the delivered audio in the same pass instead of decoding the file
    afterwards: lossless means the file decodes to exactly these. ``clipped`` counts
    the samples clipped on the way.
    """

    def __init__(
        self,
        path: Path,
        blocks: Iterable[np.ndarray],
        fmt: dict[str, Any],
        sample_rate_hz: int,
        channels: int,
        rng: np.random.Generator | None,
    ) -> None:
        if fmt["codec"] not in LOSSLESS_CODECS:
            raise ValueError(f"{fmt['codec']} is not a lossless codec")
        self._args = (path, blocks, fmt, sample_rate_hz, channels, rng)
        self.clipped = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        path, blocks, fmt, sample_rate_hz, channels, rng = self._args
        enc = encoding_for(fmt, channels)
        depth = fmt.get("bit_depth")
        if depth in (16, 24):
            dither = fmt.get("dither", "none")
            quantizer = make_quantizer(depth, dither, rng, sample_rate_hz, channels)
            scale = 1.0 / (1 << (depth - 1))
        with open_writer(path, enc, sample_rate_hz, channels) as f:
            for block in blocks:
                if depth in (16, 24):
                    codes, n = quantizer(block)
                    self.clipped += n
                    f.write(codes.astype(np.int16) if depth == 16 else codes << 8)
                    yield codes * scale
                else:
                    over = np.abs(block) > 1.0
                    self.clipped += int(np.count_nonzero(over))
                    stored = block.astype(np.float32)
                    f.write(stored)
                    yield stored.astype(np.float64)
