"""Incremental-build figures (issue 2 bars), printed, not asserted.

    python bench/bench_incremental.py [--tracks 12] [--seconds 120] [--jobs 1]

1. no-op `doit` on the demo album (bar: < 1.0 s wall);
2. full build of a synthetic N-track album in the demo's four formats, then a rebuild
   after one revised mix (bar: <= 1.5/N of the full build), a title fix (bar: <= 3 %),
   a reorder, and a no-op; each through the `masterbuild` command, as a user runs it.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.albums import to_toml  # noqa: E402


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def best_of(n: int, cmd: list[str], cwd: Path) -> float:
    return min(timed(cmd, cwd) for _ in range(n))


def synth_mix(seconds: float, seed: int, sr: int = 48000) -> np.ndarray:
    """Noise-driven 'music': band-limited noise bursts and tones with an envelope."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    tones = sum(
        np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / (i + 1)
        for i, f in enumerate((55, 110, 220, 330, 880))
    )
    beat = (np.sin(2 * np.pi * 2 * t) > 0.9).astype(float)
    noise = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same") * beat
    env = 0.5 + 0.5 * np.sin(2 * np.pi * t / seconds * 3) ** 2
    x = np.stack([tones * env + noise, tones * env * 0.9 - noise * 0.8], axis=1)
    return x / np.abs(x).max() * 10 ** (-3 / 20)


def make_album(folder: Path, tracks: int, seconds: float) -> dict:
    demo = tomllib.loads((ROOT / "albums/demo/album.toml").read_text())
    (folder / "mixes").mkdir(parents=True)
    demo["tracks"] = []
    for i in range(1, tracks + 1):
        sf.write(folder / f"mixes/t{i:02d}.wav", synth_mix(seconds, i), 48000, subtype="PCM_24")
        demo["tracks"].append(
            {"id": f"t{i:02d}", "source": f"mixes/t{i:02d}.wav", "title": f"Track {i}"}
        )
    (folder / "album.toml").write_text(to_toml(demo))
    return demo


def line(label: str, seconds: float, full: float, bar: str) -> None:
    print(f"{label:33s}{seconds:6.2f} s = {seconds / full:5.1%} of full   {bar}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()

    subprocess.run(["doit"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    noop_doit = best_of(3, ["doit"], ROOT)
    print(f"no-op doit, demo album:          {noop_doit:6.2f} s   (bar < 1.0 s)")

    mb = [sys.executable, "-m", "masterbuild", "build", "-j", str(args.jobs)]
    with tempfile.TemporaryDirectory() as tmp:
        album = Path(tmp) / "bench"
        m = make_album(album, args.tracks, args.seconds)
        full = timed([*mb, str(album)], ROOT)
        rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        label = f"full build, {args.tracks} x {args.seconds:.0f} s, 4 formats:"
        print(f"{label:33s}{full:6.2f} s   (peak RSS {rss_mib:.0f} MiB, -j {args.jobs})")

        x, sr = sf.read(album / "mixes/t07.wav")
        x[: sr * 2] *= 0.9  # the revised mix: a quieter intro
        sf.write(album / "mixes/t07.wav", x, sr, subtype="PCM_24")
        one = timed([*mb, str(album)], ROOT)
        bar = 1.5 / args.tracks
        line("one revised track:", one, full, f"bar <= {bar:.1%}")

        m["tracks"][2]["title"] = "Track Three"
        (album / "album.toml").write_text(to_toml(m))
        title = timed([*mb, str(album)], ROOT)
        line("title fix:", title, full, "bar <= 3%")

        m["tracks"] = m["tracks"][::-1]
        (album / "album.toml").write_text(to_toml(m))
        reorder = timed([*mb, str(album)], ROOT)
        line("reorder:", reorder, full, "")

        noop = best_of(3, [*mb, str(album)], ROOT)
        print(f"no-op masterbuild build:         {noop:6.2f} s")
        shutil.rmtree(album)


if __name__ == "__main__":
    main()
