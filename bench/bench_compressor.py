"""Compressor throughput, printed as multiples of real time, not asserted.

    python bench/bench_compressor.py [--seconds 60] [--block 65536] [--repeats 5]

Stereo 48 kHz Gaussian noise (RMS -10 dBFS, so most frames sit above threshold and
the whole gain path is busy), streamed through `compile_compressor` in blocks, on one
core. Bar: more than 100x real time. Settings:

1. defaults: threshold -20 dB, ratio 4, attack 10 ms, release 150 ms, link 1;
2. full: soft knee, link 0.5, sidechain highpass, 0.1 ms attack, 1 ms release (the
   running maximum then spans ~40 segments per 65536-frame block), makeup gain.

Each figure is the best of ``--repeats`` runs (wall clock; this machine is shared),
with the median beside it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from masterbuild.dsp.compressor import compile_compressor  # noqa: E402

FS_HZ = 48000
SETTINGS = {
    "defaults": {"threshold_db": -20.0, "ratio": 4.0},
    "full": {
        "threshold_db": -20.0,
        "ratio": 4.0,
        "knee_db": 6.0,
        "attack_ms": 0.1,
        "release_ms": 1.0,
        "makeup_db": 3.0,
        "link": 0.5,
        "sidechain_hpf_hz": 100.0,
    },
}


def stream_seconds(x: np.ndarray, params: dict[str, float], block: int) -> float:
    """Wall time to stream `x` through a fresh compressor in blocks of `block` frames."""
    stage = compile_compressor({"kind": "compressor", **params}, FS_HZ)
    state = stage.initial_state(x.shape[1])
    start = time.perf_counter()
    for i in range(0, len(x), block):
        _, state = stage.step(x[i : i + block], state)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--block", type=int, default=65536)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    x = np.random.default_rng(2024).standard_normal((round(args.seconds * FS_HZ), 2))
    x *= 10 ** (-10 / 20)
    print(
        f"{args.seconds:.0f} s stereo noise at {FS_HZ} Hz, blocks of {args.block}, "
        f"best / median of {args.repeats} runs"
    )
    for name, params in SETTINGS.items():
        times = [stream_seconds(x, params, args.block) for _ in range(args.repeats)]
        best, median = min(times), statistics.median(times)
        speed = args.seconds / best
        print(
            f"{name:>8}: {best:.3f} s / {median:.3f} s  = {speed:.0f}x / "
            f"{args.seconds / median:.0f}x real time  (bar > 100x: "
            f"{'met' if speed > 100 else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
