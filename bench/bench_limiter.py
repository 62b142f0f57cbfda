"""Limiter throughput in multiples of real time, printed, not asserted.

    python bench/bench_limiter.py [--seconds 300] [--repeats 3]

On 5 minutes of stereo program material at 48 kHz and 96 kHz, driven 8 dB into a
-1 dBTP ceiling (the limiter works on most of the signal; nothing is skipped as
"below threshold"), one core (BLAS and OpenMP pools pinned to one thread before
numpy loads):

1. ``limit`` on the whole signal at once;
2. the chain stage streamed in 65536-frame blocks plus its flush (as a render runs
   it).

Bar: well over 50x real time at 48 kHz.  Each figure is the best of ``--repeats``
runs (wall clock; this machine is shared), with the median beside it, and the
output's true peak (our meter) as a sanity check.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: set before numpy / BLAS start their pools

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import timings  # noqa: E402  (bench/ is on sys.path when run)

from masterbuild.dsp.limiter import compile_limiter, limit  # noqa: E402
from masterbuild.dsp.loudness import true_peak_dbtp  # noqa: E402

CEILING_DBTP = -1.0
DRIVE_DB = 8.0
BLOCK_FRAMES = 65536


def program(seconds: float, fs: int) -> np.ndarray:
    """Stereo mix: harmonic notes, noisy drum hits every 250 ms, a noise bed, +-6 dB swells.

    Scaled so that its sample peak is ``DRIVE_DB`` above the ceiling.
    """
    rng = np.random.default_rng(2024)
    n = round(seconds * fs)
    t = np.arange(n) / fs
    out = np.zeros((n, 2))
    note_s = 0.25
    for voice, base_hz in enumerate([55.0, 220.0, 440.0, 880.0]):
        notes = base_hz * 2 ** (rng.integers(0, 12, size=int(seconds / note_s) + 1) / 12)
        phase = 2 * np.pi * np.cumsum(np.repeat(notes, round(note_s * fs))[:n]) / fs
        envelope = np.exp(-((t % note_s) / (0.05 + 0.05 * voice)))
        tone = (np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)) * envelope
        out += tone[:, None] * ([0.7, 0.3] if voice % 2 else [0.3, 0.7])
    hit = np.exp(-np.arange(round(0.05 * fs)) / (0.008 * fs))
    drums = np.zeros(n)
    drums[:: round(note_s * fs)] = 1.0
    drums = scipy.signal.fftconvolve(drums, hit)[:n] * rng.standard_normal(n) * 0.8
    out += drums[:, None]
    out += 0.02 * scipy.signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal((n, 2)), axis=0)
    out *= 10 ** (6 * np.sin(2 * np.pi * t / 40.0) / 20)[:, None]
    return out / np.abs(out).max() * 10 ** ((CEILING_DBTP + DRIVE_DB) / 20)


def streamed(x: np.ndarray, fs: int) -> np.ndarray:
    stage = compile_limiter({"kind": "limiter", "ceiling_dbtp": CEILING_DBTP}, fs)
    state = stage.initial_state(x.shape[1])
    outs = []
    for start in range(0, len(x), BLOCK_FRAMES):
        y, state = stage.step(x[start : start + BLOCK_FRAMES], state)
        outs.append(y)
    outs.append(stage.flush(state))
    return np.concatenate(outs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(
        f"{args.seconds:.0f} s stereo program, {DRIVE_DB:.0f} dB into a {CEILING_DBTP} dBTP "
        f"ceiling, one thread, best / median of {args.repeats} runs"
    )
    for fs in (48000, 96000):
        x = program(args.seconds, fs)
        for name, run in (
            ("limit (one shot)", lambda x=x, fs=fs: limit(x, fs, CEILING_DBTP)),
            (f"stage, {BLOCK_FRAMES}-frame blocks", lambda x=x, fs=fs: streamed(x, fs)),
        ):
            best, median = timings(run, args.repeats)
            peak = true_peak_dbtp(run(), fs)
            bar = (
                ""
                if fs != 48000
                else f"  (bar > 50x: {'met' if args.seconds / best > 50 else 'MISSED'})"
            )
            print(
                f"{fs} Hz {name:<28} {best:6.2f} s / {median:6.2f} s = "
                f"{args.seconds / best:6.1f}x / {args.seconds / median:6.1f}x real time, "
                f"output TP {peak:.2f} dBTP{bar}"
            )


if __name__ == "__main__":
    main()
