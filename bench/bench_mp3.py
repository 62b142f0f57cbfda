"""MP3 encoding speed, printed, not asserted: libsndfile's writer against masterbuild.mp3.

    python bench/bench_mp3.py [--seconds 60] [--repeats 3]

Both encode the same 44.1 kHz stereo signal (tones + noise, -6 dBFS) to 320k CBR and V2
in the encoder's 65536-frame blocks; each figure is ms of wall time per minute of audio,
the best of ``--repeats`` runs with the median beside it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import timings  # noqa: E402  (bench/ is on sys.path when run)

from masterbuild.audio import BLOCK_FRAMES  # noqa: E402
from masterbuild.dsp.dither import dither_rng  # noqa: E402
from masterbuild.encode import encoding_for, open_writer  # noqa: E402
from masterbuild.mp3 import write_mp3  # noqa: E402

FS_HZ = 44100
FORMATS = {
    "320k CBR": {"codec": "mp3", "bitrate_kbps": 320},
    "V2": {"codec": "mp3", "quality": "V2"},
}


def _signal(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * FS_HZ)) / FS_HZ
    tones = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)
    noise = 0.1 * np.random.default_rng(0).standard_normal((len(t), 2))
    return tones[:, None] + noise


def _blocks(x: np.ndarray) -> list[np.ndarray]:
    return [x[i : i + BLOCK_FRAMES] for i in range(0, len(x), BLOCK_FRAMES)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    x = _signal(args.seconds)
    per_minute = 60.0 / args.seconds * 1000.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.mp3"
        write_mp3(path, _blocks(x[:FS_HZ]), FS_HZ, 2, dither_rng("warm-up"))  # numba's CRC
        for name, fmt in FORMATS.items():

            def libsndfile(fmt=fmt) -> None:
                with open_writer(path, encoding_for(fmt, 2), FS_HZ, 2) as f:
                    for block in _blocks(x):
                        f.write(np.clip(block, -1.0, 1.0))

            def ours(fmt=fmt) -> None:
                vbr = int(fmt["quality"][1:]) if "quality" in fmt else None
                write_mp3(
                    path,
                    _blocks(x),
                    FS_HZ,
                    2,
                    dither_rng("bench"),
                    bitrate_kbps=fmt.get("bitrate_kbps"),
                    vbr_quality=vbr,
                )

            for who, run in (("libsndfile", libsndfile), ("lameenc", ours)):
                best, median = timings(run, args.repeats)
                print(
                    f"{name:9s} {who:10s} {best * per_minute:7.0f} ms per minute of audio"
                    f" (median {median * per_minute:.0f})"
                )


if __name__ == "__main__":
    main()
