"""Noise-shaped dither speed figures, printed, not asserted.

    python bench/bench_noiseshape.py [--seconds 300] [--repeats 5]

1. First call in a fresh interpreter: numba compiling the error-feedback kernel into an
   empty cache (``NUMBA_CACHE_DIR`` pointed at a temporary folder, so the tree's own
   cache is neither used nor touched), then a second fresh interpreter loading that
   cache.  The import of numba itself is timed apart.
2. Throughput on ``--seconds`` of 44.1 kHz stereo to 16 bits, in multiples of real
   time: ``quantize_shaped`` in the encoder's 65536-frame blocks and in one block, the
   kernel alone with its dither read from memory instead of generated in the loop, and
   flat TPDF ``quantize`` for comparison.

Each throughput figure is the best of ``--repeats`` runs (wall clock; this machine is
shared), with the median beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import timings  # noqa: E402  (bench/ is on sys.path when run)

from masterbuild.audio import BLOCK_FRAMES  # noqa: E402
from masterbuild.dsp import noiseshape  # noqa: E402
from masterbuild.dsp.dither import dither_rng, quantize  # noqa: E402
from masterbuild.dsp.noiseshape import quantize_shaped, shaped_initial_state  # noqa: E402

FS_HZ = 44100
BITS = 16

# Run in a fresh interpreter: times the numba import, then the first call (compile or
# cache load), then a second call (dispatch only); prints them as JSON.
_FIRST_CALL = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import numba  # noqa: F401
t1 = time.perf_counter()
import numpy as np
from masterbuild.dsp.noiseshape import quantize_shaped, shaped_initial_state
t2 = time.perf_counter()
x = np.zeros((1024, 2))
calls = [t2]
for _ in range(2):
    quantize_shaped(x, 16, np.random.default_rng(0), shaped_initial_state(2, 44100), 44100)
    calls.append(time.perf_counter())
print(json.dumps({"import_numba_s": t1 - t0, "first_call_s": calls[1] - calls[0],
                  "second_call_s": calls[2] - calls[1]}))
"""


def first_call(cache_dir: str) -> dict[str, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_CALL, str(ROOT)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def program(seconds: float) -> np.ndarray:
    """Stereo -20 dBFS-rms noise peaking near -6 dBFS: no clips, every sample busy."""
    rng = np.random.default_rng(2024)
    return np.clip(0.1 * rng.standard_normal((round(seconds * FS_HZ), 2)), -0.5, 0.5)


def shaped_blocks(x: np.ndarray, block: int) -> int:
    rng = dither_rng("bench", "shaped")
    state = shaped_initial_state(x.shape[1], FS_HZ)
    clipped = 0
    for start in range(0, len(x), block):
        _, n, state = quantize_shaped(x[start : start + block], BITS, rng, state, FS_HZ)
        clipped += n
    return clipped


def kernel_only(x: np.ndarray) -> Callable[[], object]:
    """The compiled pass alone, its dither read from an array of uniforms (mode 2)."""
    from masterbuild.dsp import quantize_kernels

    h = noiseshape.SHAPING_FILTERS[FS_HZ]
    scale = float(2 ** (BITS - 1))
    u = np.random.default_rng(0).random(2 * x.size)
    lanes = np.zeros((2 + 2 * x.shape[1], 2), dtype=np.uint64)
    err = np.zeros((x.shape[1], h.size + len(x)))
    codes = np.empty(x.shape, dtype=np.int32)
    return lambda: quantize_kernels.shape_loop(
        x, scale, h, err, -scale, scale - 1.0, codes, 2, lanes, u
    )


def tpdf_blocks(x: np.ndarray, block: int) -> None:
    rng = dither_rng("bench", "tpdf")
    for start in range(0, len(x), block):
        quantize(x[start : start + block], BITS, "tpdf", rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache_dir:
        cold = first_call(cache_dir)
        warm = first_call(cache_dir)
    print(
        f"import numba: {cold['import_numba_s']:.2f} s;  first call: "
        f"{cold['first_call_s']:.2f} s compiling (empty cache), "
        f"{warm['first_call_s']:.2f} s from the on-disk cache;  "
        f"next call: {1e3 * warm['second_call_s']:.2f} ms"
    )

    x = program(args.seconds)
    shaped_blocks(x[:1024], 1024)  # compile (or load) outside the timings
    print(
        f"{args.seconds:.0f} s stereo at {FS_HZ} Hz to {BITS} bits, "
        f"best / median of {args.repeats} runs, x real time from the best"
    )
    runs: list[tuple[str, Callable[[], object]]] = [
        (f"quantize_shaped, {BLOCK_FRAMES}-frame blocks", lambda: shaped_blocks(x, BLOCK_FRAMES)),
        ("quantize_shaped, one block", lambda: shaped_blocks(x, len(x))),
        ("kernel alone (dither read from memory)", kernel_only(x)),
        (f"flat TPDF quantize, {BLOCK_FRAMES}-frame blocks", lambda: tpdf_blocks(x, BLOCK_FRAMES)),
    ]
    for name, run in runs:
        best, median = timings(run, args.repeats)
        print(f"{name:44s} {best:7.3f} s / {median:7.3f} s  {args.seconds / best:7.0f}x real time")


if __name__ == "__main__":
    main()
