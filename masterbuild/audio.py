"""Reading audio in blocks, with damaged or non-finite input turned into user errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from masterbuild.errors import MasterbuildError

BLOCK_FRAMES = 65536
# Encodings whose samples libsndfile converts to float32 exactly (24 bits of mantissa),
# and the lossy codecs, whose decoders (mpg123, libvorbis, libopus) give float32: read
# as float32 and widened, they equal the float64 read bit for bit, and the PCM ones
# cost a third of libsndfile's own conversion to double.
_EXACT_IN_FLOAT32 = frozenset(
    {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "FLOAT", "MPEG_LAYER_III", "VORBIS", "OPUS"}
)


def read_blocks(
    path: Path,
    start_frame: int = 0,
    stop_frame: int | None = None,
    block_frames: int = BLOCK_FRAMES,
) -> Iterator[np.ndarray]:
    """Yield (frames, channels) float64 blocks of `path[start_frame:stop_frame]`.

    Raises MasterbuildError for unreadable, damaged or non-finite audio, naming the
    time of the first bad sample.
    """
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise MasterbuildError(path, "audio", f"cannot read: {exc}") from None
    with f:
        stop = f.frames if stop_frame is None else min(stop_frame, f.frames)
        dtype = "float32" if f.subtype in _EXACT_IN_FLOAT32 else "float64"
        pos = start_frame
        try:
            f.seek(start_frame)
            while pos < stop:
                n = min(block_frames, stop - pos)
                block = f.read(n, dtype=dtype, always_2d=True)
                if block.shape[0] == 0:
                    raise MasterbuildError(
                        path,
                        "audio",
                        f"ends early at {pos / f.samplerate:.3f} s: file is truncated",
                    )
                if not np.isfinite(block).all():
                    bad = int(np.argmax(~np.isfinite(block).all(axis=1)))
                    raise MasterbuildError(
                        path,
                        "audio",
                        f"holds NaN or infinite samples at {(pos + bad) / f.samplerate:.3f} s: "
                        "re-export the mix",
                    )
                yield block.astype(np.float64, copy=False)
                pos += block.shape[0]
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise MasterbuildError(
                path, "audio", f"damaged at {pos / f.samplerate:.3f} s ({exc}): re-export the mix"
            ) from None
