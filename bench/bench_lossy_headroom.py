"""How far lossy codecs overshoot the limiter's ceiling on decode, printed, not asserted.

    python bench/bench_lossy_headroom.py [--codecs mp3,ogg,opus] [--targets -14,-10]

A lossy master's limiter runs ``LOSSY_HEADROOM_DB`` under the format's true-peak ceiling,
so that the first encode usually passes the post-encode check (a master that overshoots
is limited and encoded again: a second full encode). This measures the overshoot that
headroom has to cover. Cases: each demo mix (synthesized); the same with a quiet intro;
the same through the album benchmark's chain (highpass, +1.5 dB bell at 3 kHz, +1 dB
shelf at 10 kHz, 2:1 compressor: a brighter, denser master). Each at each loudness
target, limited at -1.0 dBTP as the master step does (SRC, true-peak limiter, 16-bit
TPDF for MP3), encoded at the codec's default rate, decoded and metered. Printed: the
decoded true peak over the limiter's ceiling per case, and per codec the mean, the
largest and how many cases ``LOSSY_HEADROOM_DB`` would send round again.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from masterbuild.audio import read_blocks  # noqa: E402
from masterbuild.demo import DEMO_SAMPLE_RATE_HZ, DEMO_TRACKS, synthesize  # noqa: E402
from masterbuild.dsp.chain import run_chain  # noqa: E402
from masterbuild.dsp.dither import dither_rng  # noqa: E402
from masterbuild.dsp.loudness import measure, measure_blocks  # noqa: E402
from masterbuild.dsp.resample import resample_blocks  # noqa: E402
from masterbuild.encode import write_stream  # noqa: E402
from masterbuild.plan import LOSSY_HEADROOM_DB  # noqa: E402
from masterbuild.render import _peak_limited_blocks  # noqa: E402

CEILING_DBTP = -1.0
CODECS = {
    "mp3": ({"codec": "mp3", "bitrate_kbps": 320}, 44100, "mp3"),
    "ogg": ({"codec": "ogg", "quality": 6}, 48000, "ogg"),
    "opus": ({"codec": "opus", "bitrate_kbps": 160}, 48000, "opus"),
}


def cases() -> dict[str, np.ndarray]:
    """The demo mixes; each with its first third 12 dB down; each through CHAIN."""
    from bench_album import CHAIN  # bench/ is on sys.path when run

    out = {}
    for track in DEMO_TRACKS:
        x = synthesize(track.id, DEMO_SAMPLE_RATE_HZ)
        out[track.id] = x
        y = x.copy()
        y[: y.shape[0] // 3] *= 10 ** (-12 / 20)
        out[f"{track.id} (quiet intro)"] = y
        chained = run_chain(iter([x]), CHAIN, DEMO_SAMPLE_RATE_HZ, 2)
        out[f"{track.id} (bench chain)"] = np.concatenate(list(chained))
    return out


def overshoot_db(x: np.ndarray, target_lufs: float, codec: str, folder: Path) -> float:
    fmt, rate, ext = CODECS[codec]
    gain = 10 ** ((target_lufs - measure(x, DEMO_SAMPLE_RATE_HZ).integrated_lufs) / 20)
    limiter_ceiling = CEILING_DBTP - LOSSY_HEADROOM_DB[codec]
    blocks = resample_blocks(iter([x * gain]), DEMO_SAMPLE_RATE_HZ, rate, 2)
    blocks = _peak_limited_blocks(blocks, limiter_ceiling, rate)
    path = folder / f"case.{ext}"
    write_stream(path, blocks, fmt, rate, 2, dither_rng("bench"))
    decoded = measure_blocks(read_blocks(path), rate, 2)
    return decoded.true_peak_dbtp - limiter_ceiling


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codecs", default="mp3,ogg,opus")
    ap.add_argument("--targets", default="-14,-10", help="LUFS, comma-separated")
    args = ap.parse_args()
    codecs = args.codecs.split(",")
    targets = [float(t) for t in args.targets.split(",")]
    signals = cases()
    results: dict[str, list[float]] = {c: [] for c in codecs}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'case':32} {'LUFS':>5}  " + "  ".join(f"{c:>7}" for c in codecs))
        for name, x in signals.items():
            for target in targets:
                row = []
                for codec in codecs:
                    over = overshoot_db(x, target, codec, Path(tmp))
                    results[codec].append(over)
                    row.append(f"{over:+7.3f}")
                print(f"{name:32} {target:5.0f}  " + "  ".join(row), flush=True)
    print("\ndecoded true peak over the limiter's ceiling, dB:")
    for codec, values in results.items():
        v = np.array(values)
        head = LOSSY_HEADROOM_DB[codec]
        print(
            f"  {codec:5} mean {v.mean():+.3f}  max {v.max():+.3f}  headroom {head} dB: "
            f"{int(np.count_nonzero(v > head))} of {v.size} cases encoded twice"
        )


if __name__ == "__main__":
    main()
