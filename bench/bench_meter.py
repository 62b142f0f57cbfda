"""Loudness-meter speed figures, printed, not asserted.

    python bench/bench_meter.py [--seconds 300] [--repeats 5]

On a 5-minute stereo 44.1 kHz signal:

1. ``masterbuild.dsp.loudness.measure`` (K-weighting, integrated, LRA, M/S maxima,
   8x true peak, sample peak) -- bar: under 1.5 s wall;
2. pyloudnorm's integrated loudness alone on the same signal -- bar: ours at
   least as fast;
3. ``true_peak_dbtp`` alone (8x, 32 taps per phase; inside ``measure`` it runs on
   a worker thread beside the K-weighting), for information.

Each figure is the best of ``--repeats`` runs (wall clock; this machine is shared),
with the median beside it.  Two signals: a music-like mix with dynamics, and
brick-walled noise whose every batch reaches the running peak (no true-peak
batch can be skipped: the worst case).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.signal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import timings  # noqa: E402  (bench/ is on sys.path when run)

from masterbuild.dsp.loudness import measure, true_peak_dbtp  # noqa: E402

FS_HZ = 44100


def music_like(seconds: float) -> np.ndarray:
    """Stereo mix: enveloped harmonic notes, pink-ish noise bed, slow +-6 dB dynamics."""
    rng = np.random.default_rng(2024)
    n = round(seconds * FS_HZ)
    t = np.arange(n) / FS_HZ
    out = np.zeros((n, 2))
    note_s = 0.25
    for voice, base_hz in enumerate([55.0, 220.0, 440.0, 880.0]):
        notes = base_hz * 2 ** (rng.integers(0, 12, size=int(seconds / note_s) + 1) / 12)
        phase = 2 * np.pi * np.cumsum(np.repeat(notes, round(note_s * FS_HZ))[:n]) / FS_HZ
        envelope = np.exp(-((t % note_s) / (0.05 + 0.05 * voice)))
        tone = (np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)) * envelope
        out += tone[:, None] * ([0.7, 0.3] if voice % 2 else [0.3, 0.7])
    bed = scipy.signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal((n, 2)), axis=0)
    out += 0.02 * bed
    out *= 10 ** (6 * np.sin(2 * np.pi * t / 40.0) / 20)[:, None]
    return out / np.abs(out).max() * 0.95


def brickwalled(seconds: float) -> np.ndarray:
    """Loud noise clipped at -1 dBFS: a limiter-crushed master, peaks everywhere."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((round(seconds * FS_HZ), 2)) * 0.4
    return np.clip(x, -0.89, 0.89)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    try:
        import pyloudnorm
    except ImportError:  # a test extra; the figure for ours still prints
        pyloudnorm = None

    print(f"{args.seconds:.0f} s stereo at {FS_HZ} Hz, best / median of {args.repeats} runs")
    for name, make in (("music-like", music_like), ("brick-walled", brickwalled)):
        x = make(args.seconds)
        result = measure(x, FS_HZ)
        ours_best, ours_median = timings(lambda x=x: measure(x, FS_HZ), args.repeats)
        print(
            f"{name}: masterbuild measure (I + LRA + true peak): "
            f"{ours_best:.3f} s / {ours_median:.3f} s  (bar < 1.5 s: "
            f"{'met' if ours_best < 1.5 else 'MISSED'})  "
            f"I {result.integrated_lufs:.2f} LUFS, LRA {result.lra_lu:.2f} LU, "
            f"TP {result.true_peak_dbtp:.2f} dBTP"
        )
        tp_best, tp_median = timings(lambda x=x: true_peak_dbtp(x, FS_HZ), args.repeats)
        print(f"{name}: true peak alone:{' ' * 27}{tp_best:.3f} s / {tp_median:.3f} s")
        if pyloudnorm is None:
            print(f"{name}: pyloudnorm not installed")
            continue
        meter = pyloudnorm.Meter(FS_HZ)
        theirs_best, theirs_median = timings(
            lambda x=x, meter=meter: meter.integrated_loudness(x), args.repeats
        )
        print(
            f"{name}: pyloudnorm integrated only:                "
            f"{theirs_best:.3f} s / {theirs_median:.3f} s  (bar ours <= theirs: "
            f"{'met' if ours_best <= theirs_best else 'MISSED'}, "
            f"ratio {ours_best / theirs_best:.2f})"
        )


if __name__ == "__main__":
    main()
