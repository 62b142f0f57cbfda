"""QC picture times, printed, not asserted.

    python bench/bench_plots.py [--tracks 12] [--seconds 225] [--repeats 3]
    python bench/bench_plots.py --album DIR [--repeats 3] [--out DIR]

Without ``--album``: synthetic plot data shaped like the meter's output for a
``--tracks`` x ``--seconds`` album (10 Hz loudness series, 50 ms envelope bins, a
2049-point spectrum smoothed to 240 points as :func:`masterbuild.qc.octave_smoothed`
gives), and each picture function is timed on it.

With ``--album DIR`` (an album built once with ``masterbuild build DIR``): every
``qc:<album>:<format>`` task's real plot data, each picture timed, then the whole task
(:func:`masterbuild.qc.build_qc`: reading the series, drawing, writing the PNGs) with
its targets redirected to a temporary folder, so the album's build state is left
alone. ``--out DIR`` keeps one set of pictures per format there, to look at.

Each figure is the best of ``--repeats`` runs, wall clock and CPU time of this
process (the CPU time is steadier on a shared machine), plus the PNG size.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from masterbuild import plots  # noqa: E402
from masterbuild.plots import TrackPlotData  # noqa: E402
from masterbuild.qc import octave_smoothed  # noqa: E402

CEILING_DBFS = -1.0
TARGET_LUFS = -14.0


def synthetic_track(number: int, seconds: float) -> TrackPlotData:
    """One track's plot data, noisy like real programme material."""
    rng = np.random.default_rng(number)
    frames = round(seconds * 10)
    swell = -14.0 + 4.0 * np.sin(np.linspace(0.0, 7.0, frames - 3))
    momentary = swell + rng.normal(0.0, 2.0, frames - 3)
    short_term = swell[: frames - 29] + rng.normal(0.0, 0.4, frames - 29)
    bins = round(seconds / 0.05)
    swing = 0.6 + 0.25 * np.sin(np.linspace(0.0, 13.0, bins))
    peak = np.clip(swing + rng.normal(0.0, 0.08, bins), 0.0, 1.0)
    envelope = np.stack([-peak * rng.uniform(0.8, 1.0, bins), peak], axis=1)
    freqs = np.fft.rfftfreq(4096, 1.0 / 44100)
    with np.errstate(divide="ignore"):
        level = -20.0 - 10.0 * np.log10(freqs / 100.0) + rng.normal(0.0, 2.0, freqs.size)
    freqs, level = octave_smoothed(freqs[1:], level[1:])
    return TrackPlotData(
        label=f"{number:02d} t{number:02d}",
        duration_s=seconds,
        momentary_lufs=momentary,
        short_term_lufs=short_term,
        envelope_hop_s=0.05,
        envelope=envelope,
        over_bins=np.flatnonzero(peak > 0.97),
        spectrum_freqs_hz=freqs,
        spectrum_db=level,
        integrated_lufs=-14.0 + 0.3 * number,
        true_peak_dbtp=-1.2,
        max_short_term_lufs=-11.0 + 0.2 * number,
    )


def timings(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best wall, best CPU) time of ``run`` over ``repeats`` calls, seconds."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def pictures(
    data: list[TrackPlotData], ceiling: float, target: float | None
) -> dict[str, Callable[[], bytes]]:
    return {
        "loudness": lambda: plots.loudness_over_time_png(data, target),
        "waveform": lambda: plots.waveform_png(data, ceiling),
        "profile": lambda: plots.album_profile_png(data, target),
        "spectrum": lambda: plots.spectrum_png(data),
    }


def time_pictures(
    title: str, funcs: dict[str, Callable[[], bytes]], repeats: int, out: Path | None
) -> float:
    """Print each picture's best wall/CPU time and size; return the sum of the CPU times."""
    print(title)
    total = total_wall = 0.0
    for name, draw in funcs.items():
        draw()  # warm: fonts, caches
        wall, cpu = timings(draw, repeats)
        png = draw()
        total += cpu
        total_wall += wall
        print(f"  {name:<9} {wall * 1000:7.0f} ms wall {cpu * 1000:7.0f} ms CPU  {len(png):7d} B")
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{name}.png").write_bytes(png)
    print(f"  {'sum':<9} {total_wall * 1000:7.0f} ms wall {total * 1000:7.0f} ms CPU")
    return total


def bench_album(folder: Path, repeats: int, out: Path | None) -> None:
    from masterbuild.inputs import current_inputs
    from masterbuild.manifest.load import load_album
    from masterbuild.plan import plan_album
    from masterbuild.qc import build_qc, plot_data

    specs = [s for s in plan_album(load_album(folder)) if s.kind == "qc"]
    if not specs:
        sys.exit(f"{folder}: no qc tasks")
    for spec in specs:
        inputs = current_inputs(spec)
        c, p = spec.config, spec.params
        masters = inputs["upstream"]["masters"]
        if any(r is None for r in masters.values()):
            sys.exit(f"{spec.name}: a master has no result: build {folder} first")
        ceiling = c["true_peak_ceiling_db"]
        data = [
            plot_data(t, p["series"][t["id"]], masters[t["master"]], ceiling) for t in c["tracks"]
        ]
        fmt = spec.name.rsplit(":", 1)[1]
        funcs = pictures(data, ceiling, c["target_lufs"])
        time_pictures(f"{spec.name} ({len(data)} tracks)", funcs, repeats, out and out / fmt)
        with tempfile.TemporaryDirectory() as tmp:
            # Redirected targets: the album's pictures and stamps stay as built.
            targets = tuple(str(Path(tmp) / Path(t).name) for t in spec.targets)
            local = dataclasses.replace(spec, targets=targets)
            wall, cpu = timings(lambda: build_qc(local, inputs), repeats)  # noqa: B023
        print(f"  task      {wall * 1000:7.0f} ms wall {cpu * 1000:7.0f} ms CPU  build_qc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--album", type=Path, help="a built album folder")
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=225.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="keep the pictures here")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.album:
        bench_album(args.album, args.repeats, args.out)
    else:
        data = [synthetic_track(n, args.seconds) for n in range(1, args.tracks + 1)]
        title = f"synthetic album: {args.tracks} x {args.seconds:g} s"
        time_pictures(title, pictures(data, CEILING_DBFS, TARGET_LUFS), args.repeats, args.out)
    print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
