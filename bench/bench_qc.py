"""QC analyser CPU time, and identity with an earlier revision, printed, not asserted.

    python bench/bench_qc.py [--seconds 225] [--repeats 3] [--baseline REV]

1. Identity: :class:`QcStats` of ``masterbuild/dsp/qc.py`` as checked out here and as
   it is at ``REV`` (``git show``, default ``main``) on signals with full-scale clip
   runs (across the 65536-frame chunk boundaries too), silence at head and tail,
   -0.0 samples, out-of-range values, mono, 6 channels, inputs shorter than one FFT
   segment, fed in odd block sizes; every field compared bit for bit (arrays by their
   bytes, so the sign of a zero counts).
2. CPU seconds (``time.process_time``, best of ``--repeats``) of ``analyze_blocks``
   over ``--seconds`` of music-like stereo (tones plus noise, 24-bit codes) in
   65536-frame blocks, as a build feeds it, at 44.1, 48 and 96 kHz, pcm16 and pcm24.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from masterbuild.dsp import qc  # noqa: E402

BLOCK_FRAMES = 65536  # a build's decode block


def baseline_module(rev: str, workdir: Path) -> ModuleType:
    """``masterbuild/dsp/qc.py`` at ``rev``, imported as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{rev}:masterbuild/dsp/qc.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = workdir / "qc_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("qc_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def music(seconds: float, fs: int, channels: int = 2, seed: int = 1) -> np.ndarray:
    """Tones with a slow swell plus noise, on 24-bit codes, peak about -3 dBFS."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fs)
    t = np.arange(n) / fs
    tones = sum(
        a * np.sin(2 * np.pi * f * t + p)
        for a, f, p in [(0.25, 110.0, 0.0), (0.15, 440.0, 1.0), (0.08, 2637.0, 2.0)]
    )
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / 7.0)
    x = swell[:, None] * (tones[:, None] + 0.1 * rng.standard_normal((n, channels)))
    x[:, 1:] *= np.linspace(0.8, 1.0, channels)[1:]
    return np.round(x * 2**23) / 2**23 + 0.0  # + 0.0: a decoded file has no -0.0


def quantised(x: np.ndarray, bits: int) -> np.ndarray:
    scale = 2 ** (bits - 1)
    return np.clip(np.round(x * scale), -scale, scale - 1) / scale + 0.0


def clipped(x: np.ndarray, bits: int) -> np.ndarray:
    """``x`` with full-scale runs of both signs, some across chunk boundaries."""
    y = x.copy()
    top = (2 ** (bits - 1) - 1) / 2 ** (bits - 1)
    c = qc.CHUNK_FRAMES
    for ch, start, length, value in [
        (0, 1000, 2, top),
        (0, 2000, 5, -1.0),
        (1 % y.shape[1], 3000, 4, top),
        (1 % y.shape[1], 3004, 3, -1.0),
        (0, c - 3, 7, top),
        (y.shape[1] - 1, 2 * c - 1, 3, -1.0),
        (0, y.shape[0] - 4, 4, top),
    ]:
        if start + length <= y.shape[0]:
            y[start : start + length, ch] = value
    return y


def blocks(x: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, x.shape[0], size):
        yield x[start : start + size]


def differences(a: qc.QcStats, b: qc.QcStats) -> list[str]:
    """Names of the fields that differ in any bit."""
    out = []
    for f in fields(qc.QcStats):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            same = va.dtype == vb.dtype and va.shape == vb.shape and va.tobytes() == vb.tobytes()
        else:
            same = np.asarray(va).tobytes() == np.asarray(vb).tobytes()
        if not same:
            out.append(f.name)
    return out


def identity_cases() -> Iterator[tuple[str, np.ndarray, int, str, int]]:
    """(name, signal, sample rate, encoding, block size)."""
    fs = 48000
    stereo = music(6.0, fs)
    silent_ends = stereo.copy()
    silent_ends[: fs // 3] = 0.0
    silent_ends[-fs // 2 :] = 0.0
    silent_ends[fs : fs + 10] = 1e-9  # below -60 dBFS: still silence
    yield "stereo pcm24", stereo, fs, "pcm24", BLOCK_FRAMES
    yield "stereo pcm16 clipped", clipped(quantised(stereo, 16), 16), fs, "pcm16", 4093
    yield "stereo pcm24 clipped", clipped(stereo, 24), 44100, "pcm24", 1
    yield "silence head/tail", quantised(silent_ends, 16), fs, "pcm16", 7919
    yield "mono pcm24 clipped", clipped(music(4.0, fs, 1), 24), fs, "pcm24", 65535
    yield "6 channels pcm24 clipped", clipped(music(4.0, fs, 6), 24), fs, "pcm24", 10007
    yield "6 channels float32", music(3.0, 96000, 6) * 1.5, 96000, "float32", 3001
    loud = stereo * 1.4  # beyond full scale: codes saturate
    yield "over full scale pcm16", loud, fs, "pcm16", 12345
    yield "over full scale float32", loud, fs, "float32", 65537
    zeros = stereo.copy()
    zeros[5000:9000] = 0.0
    zeros[5000:9000:3, 0] = -0.0
    zeros[9000:9003] = -0.0
    zeros[200_000:200_010, 1] = -0.0
    # whole envelope bins of zeros: -0.0 or +0.0 per frame, per channel, in runs
    pattern = np.random.default_rng(3).integers(0, 2, (7 * 2400, 2)).cumsum(axis=0) % 5 == 0
    zeros[4800 : 4800 + 7 * 2400] = np.where(pattern, -0.0, 0.0)
    zeros[30000:31000] = -0.0
    yield "-0.0 samples float32", zeros, fs, "float32", 2999
    yield "short (< nfft) stereo", stereo[:5000], fs, "pcm24", 333
    yield "empty", stereo[:0], fs, "pcm24", 100


def check_identity(old: ModuleType) -> bool:
    ok = True
    for name, x, fs, encoding, size in identity_cases():
        new_stats = qc.analyze_blocks(blocks(x, size), fs, x.shape[1], encoding=encoding)
        old_stats = old.analyze_blocks(blocks(x, size), fs, x.shape[1], encoding=encoding)
        diff = differences(new_stats, old_stats)
        ok &= not diff
        print(f"  {name:28s} {'identical' if not diff else 'DIFFERS: ' + ', '.join(diff)}")
    return ok


def qc_run(module: ModuleType, *, x: np.ndarray, fs: int, encoding: str) -> Callable[[], object]:
    return lambda: module.analyze_blocks(blocks(x, BLOCK_FRAMES), fs, x.shape[1], encoding=encoding)


def cpu_seconds(run: Callable[[], object], repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=225.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        old = baseline_module(args.baseline, Path(tmp))
        print(f"identity with {args.baseline}:")
        ok = check_identity(old)
        print(f"  -> {'all identical' if ok else 'DIFFERENCES'}")

        print(f"\nCPU s per {args.seconds:g} s stereo, best of {args.repeats}:")
        print(f"  {'rate':>6s} {'encoding':8s} {args.baseline:>8s} {'new':>8s} {'speed-up':>8s}")
        for fs in (44100, 48000, 96000):
            x24 = music(args.seconds, fs)
            for encoding, x in (("pcm16", quantised(x24, 16)), ("pcm24", x24)):
                run = functools.partial(qc_run, x=x, fs=fs, encoding=encoding)
                times = [cpu_seconds(run(module), args.repeats) for module in (old, qc)]
                print(
                    f"  {fs:6d} {encoding:8s} {times[0]:8.3f} {times[1]:8.3f}"
                    f" {times[0] / times[1]:7.2f}x"
                )


if __name__ == "__main__":
    main()
