"""Render throughput and memory (issue 3 "Scale"), printed, not asserted.

    python bench/bench_render.py throughput [--minutes 5]
    python bench/bench_render.py memory [--minutes 60]

throughput: a stereo source at 44.1 and at 96 kHz through the full chain (highpass,
two EQ bands, compressor) and one master at the source rate (track loudness,
true-peak limiter, dither, encode); prints multiples of real time per core (-j 1).
memory: a 24-bit 96 kHz stereo source of --minutes rendered to two formats (CD WAV
16/44.1 and FLAC 24/96); prints the build's peak RSS (bar: under 1 GiB at 60 minutes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.albums import to_toml  # noqa: E402

CHAIN = [
    {"kind": "highpass", "freq_hz": 25, "slope_db_oct": 12},
    {
        "kind": "eq",
        "bands": [
            {"type": "lowshelf", "freq_hz": 90, "gain_db": 1.0, "q": 0.7},
            {"type": "bell", "freq_hz": 3000, "gain_db": 1.5, "q": 1.0},
        ],
    },
    {"kind": "compressor", "threshold_db": -18, "ratio": 2, "attack_ms": 20, "release_ms": 200},
]


def write_source(path: Path, minutes: float, sr: int, block_s: float = 10.0) -> None:
    """Music-like noise and tones, written in blocks so the bench itself stays small."""
    rng = np.random.default_rng(1)
    frames = int(minutes * 60 * sr)
    n = int(block_s * sr)
    with sf.SoundFile(str(path), "w", sr, 2, subtype="PCM_24") as f:
        for start in range(0, frames, n):
            m = min(n, frames - start)
            t = (start + np.arange(m)) / sr
            tone = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)
            env = 0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t) ** 2
            noise = 0.1 * rng.standard_normal((m, 2))
            f.write(np.clip((tone * env)[:, None] + noise, -0.9, 0.9))


def album(folder: Path, sr: int, minutes: float, formats: dict) -> Path:
    (folder / "mixes").mkdir(parents=True)
    write_source(folder / "mixes/long.wav", minutes, sr)
    m = {
        "schema": 1,
        "album": {"title": "Bench", "artist": "Bench"},
        "master": {"chain": CHAIN},
        "tracks": [{"id": "long", "source": "mixes/long.wav", "title": "Long"}],
        "formats": formats,
    }
    (folder / "album.toml").write_text(to_toml(m))
    return folder


def build(folder: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB of the build process)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "masterbuild", "build", str(folder)], stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"build failed ({status})")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def throughput(minutes: float) -> None:
    for sr, codec, depth in ((44100, "wav", 16), (96000, "flac", 24)):
        fmt = {
            "codec": codec,
            "sample_rate": sr,
            "bit_depth": depth,
            "loudness": {"mode": "track", "target_lufs": -12.0},
            "true_peak_ceiling_db": -1.0,
        }
        with tempfile.TemporaryDirectory() as tmp:
            folder = album(Path(tmp) / "a", sr, minutes, {"out": fmt})
            wall, rss = build(folder)
        audio_s = minutes * 60
        speed = audio_s / wall
        print(f"{sr / 1000:g} kHz: {minutes:g} min, chain + master: {wall:6.1f} s", end=" ")
        print(f"= {speed:5.1f}x real time (1 core), peak RSS {rss:.0f} MiB")


def memory(minutes: float) -> None:
    formats = {
        "cd": {
            "codec": "wav",
            "sample_rate": 44100,
            "bit_depth": 16,
            "loudness": {"mode": "track", "target_lufs": -12.0},
        },
        "hires": {
            "codec": "flac",
            "sample_rate": 96000,
            "bit_depth": 24,
            "loudness": {"mode": "track", "target_lufs": -12.0},
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = album(Path(tmp) / "a", 96000, minutes, formats)
        wall, rss = build(folder)
    print(f"{minutes:g} min 96 kHz 24-bit -> cd + hires: {wall:.0f} s,", end=" ")
    print(f"peak RSS {rss:.0f} MiB (bar < 1024 MiB)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["throughput", "memory"])
    ap.add_argument("--minutes", type=float)
    args = ap.parse_args()
    if args.what == "throughput":
        throughput(args.minutes or 5.0)
    else:
        memory(args.minutes or 60.0)


if __name__ == "__main__":
    main()
