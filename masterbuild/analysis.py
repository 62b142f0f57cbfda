"""Measuring a delivered file: loudness for the tags and the report, QC for sign-off.

Both the master step and the CD programme's cuts call this on the file they are about
to deliver, decoded as a player would decode it. Scalars go into the task's result;
the series the report plots (loudness over time, waveform envelope, spectrum) go into
a `.qc.npz` beside the cached master, their size bounded by the track's length at a
few dozen values per second.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from masterbuild.atomic import atomic_output
from masterbuild.dsp.loudness import Loudness, measure_blocks
from masterbuild.dsp.qc import QcStats, analyze_blocks, side_to_mid_db
from masterbuild.manifest.models import PROFILES

# JSON has no infinities: a ratio with a silent side is stored at this floor.
_RATIO_FLOOR_DB = -200.0


def encoding_of(codec: str, bit_depth: int | None) -> str:
    """How the audio data is stored, for its MD5 and its full-scale level."""
    if codec in ("wav", "flac", "aiff") and bit_depth in (16, 24):
        return f"pcm{bit_depth}"
    return "float32"  # 32-bit float PCM, or what a lossy decoder gives


def _finite(value: float, digits: int = 2) -> float | None:
    """JSON has no infinities: -inf (silence) is stored as null."""
    return None if not math.isfinite(value) else round(float(value), digits)


def loudness_result(loud: Loudness) -> dict[str, Any]:
    return {
        "integrated_lufs": _finite(loud.integrated_lufs),
        "lra_lu": _finite(loud.lra_lu),
        "true_peak_dbtp": _finite(loud.true_peak_dbtp),
        "sample_peak_dbfs": _finite(loud.sample_peak_dbfs),
        "max_momentary_lufs": _finite(loud.max_momentary_lufs),
        "max_short_term_lufs": _finite(loud.max_short_term_lufs),
        "duration_s": round(loud.duration_s, 6),
    }


def qc_result(stats: QcStats) -> dict[str, Any]:
    """The scalar QC figures of one delivered file, as stored in its task result."""
    ratio = side_to_mid_db(stats, PROFILES["vinyl"]["lf_mono_below_hz"])
    return {
        "dc_offset_dbfs": _finite(stats.dc_offset_dbfs),
        "full_scale_samples": stats.full_scale_samples,
        "clipped_runs": stats.clipped_runs,
        "longest_clip_run": stats.longest_clip_run,
        "head_silence_s": round(stats.head_silence_s, 3),
        "tail_silence_s": round(stats.tail_silence_s, 3),
        "md5_audio": stats.md5,
        "lf_side_to_mid_db": None
        if math.isnan(ratio)
        else round(float(np.clip(ratio, _RATIO_FLOOR_DB, -_RATIO_FLOOR_DB)), 2),
    }


_DONE = object()


def measure_and_analyze(
    blocks: Iterable[np.ndarray], sample_rate_hz: int, channels: int, encoding: str
) -> tuple[Loudness, QcStats]:
    """The meter and the QC analyser over one pass of `blocks` (one decode, not two).

    The analyser runs in a worker thread fed through a small queue (numpy releases the
    GIL, so the two overlap on a second core); an error in either is raised here.
    """
    pipe: queue.Queue[Any] = queue.Queue(maxsize=8)
    failed = threading.Event()
    outcome: dict[str, Any] = {}

    def fed() -> Iterator[np.ndarray]:
        while (item := pipe.get()) is not _DONE:
            yield item

    def analyse() -> None:
        try:
            outcome["qc"] = analyze_blocks(fed(), sample_rate_hz, channels, encoding=encoding)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc
            failed.set()
            while pipe.get() is not _DONE:  # keep the producer from blocking
                pass

    def tee() -> Iterator[np.ndarray]:
        try:
            for block in blocks:
                if failed.is_set():
                    break
                pipe.put(block)
                yield block
        finally:
            pipe.put(_DONE)

    worker = threading.Thread(target=analyse, name="qc-analysis", daemon=True)
    worker.start()
    stream = tee()
    try:
        loud = measure_blocks(stream, sample_rate_hz, channels)
    finally:
        stream.close()
        with contextlib.suppress(queue.Full):  # a stream never started sent no end mark
            pipe.put_nowait(_DONE)
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return loud, outcome["qc"]


def write_qc_series(path: Path, loud: Loudness, stats: QcStats) -> None:
    """What the report plots, atomically, in one .npz."""
    with atomic_output(path) as tmp, tmp.open("wb") as f:
        np.savez(
            f,
            short_term_powers=loud.short_term_powers,
            envelope_hop_s=np.float64(stats.envelope_hop_s),
            envelope=stats.envelope,
            clip_bins=stats.clip_bins,
            spectrum_freqs_hz=stats.spectrum_freqs_hz,
            spectrum_mid_db=stats.spectrum_mid_db,
            spectrum_side_db=stats.spectrum_side_db,
        )
