"""Final word-length reduction: CPU figures, printed, not asserted.

    python bench/bench_quantize.py [--seconds 225] [--repeats 3]

CPU seconds (``time.process_time``, best of ``--repeats``) to quantise ``--seconds`` of
stereo through ``make_quantizer`` in the encoder's 65536-frame blocks, as a build feeds
it: 16 bits at 44.1 kHz with TPDF and with noise-shaped dither, 24 bits at 48 and 96 kHz
with TPDF.  The signal is -20 dBFS-rms noise (every sample busy, no clips); the first
block is quantised once beforehand so numba's compile or cache load is not counted.
CPU time rather than wall time because this machine is shared.

Two figures per case, because glibc's malloc decides by the process's history whether
block-sized temporaries are mmapped afresh (page faults on every block) or reused from the
heap (measured: numpy's TPDF at 48 kHz took 0.36 s or 0.14 s in one and the same run):
"fresh" runs the case alone in a new interpreter (the worst case, the same for every
version), "warm" in this process after every case has run once (a build's workers have
done plenty before their final quantisation).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from masterbuild.audio import BLOCK_FRAMES  # noqa: E402
from masterbuild.dsp.dither import dither_rng, make_quantizer  # noqa: E402

CASES = (  # (label, sample rate, bits, dither)
    ("44.1 kHz 16-bit TPDF", 44100, 16, "tpdf"),
    ("44.1 kHz 16-bit shaped", 44100, 16, "shaped"),
    ("48 kHz 24-bit TPDF", 48000, 24, "tpdf"),
    ("96 kHz 24-bit TPDF", 96000, 24, "tpdf"),
)


def program(seconds: float, sample_rate_hz: int) -> np.ndarray:
    rng = np.random.default_rng(2024)
    frames = round(seconds * sample_rate_hz)
    return np.clip(0.1 * rng.standard_normal((frames, 2)), -0.5, 0.5)


def run_blocks(x: np.ndarray, sample_rate_hz: int, bits: int, dither: str) -> int:
    quantizer = make_quantizer(bits, dither, dither_rng("bench", dither), sample_rate_hz, 2)
    clipped = 0
    for start in range(0, len(x), BLOCK_FRAMES):
        clipped += quantizer(x[start : start + BLOCK_FRAMES])[1]
    return clipped


def best_cpu(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def timed(case: int, seconds: float, repeats: int) -> float:
    _, sample_rate_hz, bits, dither = CASES[case]
    x = program(seconds, sample_rate_hz)
    run_blocks(x[:BLOCK_FRAMES], sample_rate_hz, bits, dither)  # compile / load numba
    return best_cpu(lambda: run_blocks(x, sample_rate_hz, bits, dither), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=225.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # one case, in-process
    args = parser.parse_args()
    if args.case is not None:
        print(timed(args.case, args.seconds, args.repeats))
        return
    fresh = []
    for case in range(len(CASES)):
        argv = [__file__, "--seconds", str(args.seconds), "--repeats", str(args.repeats)]
        out = subprocess.run(
            [sys.executable, *argv, "--case", str(case)], check=True, capture_output=True
        )
        fresh.append(float(out.stdout.decode().split()[-1]))
    for case in range(len(CASES)):
        timed(case, min(args.seconds, 10.0), 1)
    print(
        f"{args.seconds:.0f} s stereo, {BLOCK_FRAMES}-frame blocks, "
        f"CPU s (best of {args.repeats}):      fresh     warm"
    )
    for case, (label, *_) in enumerate(CASES):
        warm = timed(case, args.seconds, args.repeats)
        print(f"{label:40s} {fresh[case]:8.3f} {warm:8.3f}")


if __name__ == "__main__":
    main()
