"""Vinyl pre-masters: one file per record side, and the sheet the cutting engineer reads.

A side is its tracks' float masters in playing order with each track's gap of silence
between them (none before the first: the lead-in is the cutter's), dithered once to
the format's word length. Every side is measured and analysed like any delivered file.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from masterbuild.analysis import (
    encoding_of,
    loudness_result,
    measure_and_analyze,
    qc_result,
    write_qc_series,
)
from masterbuild.atomic import atomic_output, write_bytes_atomic, write_npy_atomic
from masterbuild.audio import read_blocks
from masterbuild.dsp.dither import dither_rng
from masterbuild.encode import write_stream
from masterbuild.errors import MasterbuildError
from masterbuild.plan import TaskSpec
from masterbuild.state import file_digest

CHANNELS = 2
_GAP_BLOCK_FRAMES = 65536


def side_letter(index: int) -> str:
    return string.ascii_uppercase[index]


def split_in_two(lengths_s: list[float], gaps_s: list[float]) -> list[list[int]]:
    """Split a running order into sides A and B at the track boundary that makes the
    longer side shortest (gaps count where they fall inside a side). One track: one side.
    """
    n = len(lengths_s)
    if n < 2:
        return [list(range(n))]

    def side_s(first: int, stop: int) -> float:
        return sum(lengths_s[first:stop]) + sum(gaps_s[first + 1 : stop])

    best = min(range(1, n), key=lambda k: (max(side_s(0, k), side_s(k, n)), k))
    return [list(range(best)), list(range(best, n))]


def _side_blocks(
    tracks: list[dict[str, Any]], masters: dict[str, str], sr: int
) -> Iterator[np.ndarray]:
    for t in tracks:
        gap = round(t["gap_s"] * sr)
        while gap > 0:
            n = min(gap, _GAP_BLOCK_FRAMES)
            yield np.zeros((n, CHANNELS))
            gap -= n
        yield from read_blocks(Path(masters[t["id"]]))


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes):02d}:{rest:06.3f}"


def side_sheet(
    album_title: str, letter: str, fmt: dict[str, Any], rows: list[dict[str, Any]], total_s: float
) -> str:
    """The cutting engineer's sheet of one side: track starts and lengths."""
    rpm = "33 1/3" if fmt["rpm"] == 33 else "45"
    lines = [
        f"{album_title} - Side {letter}",
        f'{fmt["disc_in"]}" at {rpm} rpm; {fmt["sample_rate"]} Hz '
        f"{fmt['bit_depth']}-bit {fmt['codec'].upper()}",
        "",
        f"{'#':>2}  {'start':>9}  {'length':>9}  title",
    ]
    for n, r in enumerate(rows, start=1):
        lines.append(f"{n:>2}  {_clock(r['start_s'])}  {_clock(r['length_s'])}  {r['title']}")
    lines += ["", f"side length {_clock(total_s)}", ""]
    return "\n".join(lines)


def build_side(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    c, p = spec.config, spec.params
    if any(v is None for v in inputs["upstream"]["masters"].values()):
        raise MasterbuildError(spec.name, "-", "a master has no result: run the full build")
    fmt, sr = c["format"], c["format"]["sample_rate"]
    rows, position = [], 0
    for t in c["tracks"]:
        frames = sf.info(p["masters"][t["id"]]).frames
        position += round(t["gap_s"] * sr)
        rows.append({"id": t["id"], "start_s": position / sr, "length_s": frames / sr})
        position += frames
    wav = Path(spec.targets[0])
    with atomic_output(wav, large=True) as tmp:
        blocks = _side_blocks(c["tracks"], p["masters"], sr)
        clipped = write_stream(tmp, blocks, fmt, sr, CHANNELS, dither_rng(*c["seed"]))
        digest = file_digest(tmp)
    encoding = encoding_of(fmt["codec"], fmt["bit_depth"])
    loud, stats = measure_and_analyze(read_blocks(wav), sr, CHANNELS, encoding)
    write_npy_atomic(Path(f"{p['series']}.powers.npy"), loud.block_powers)
    write_qc_series(Path(f"{p['series']}.qc.npz"), loud, stats)
    return {
        "digest": digest,
        "bytes": wav.stat().st_size,
        "side": c["side"],
        "sample_rate": sr,
        "bit_depth": fmt["bit_depth"],
        "codec": fmt["codec"],
        "clipped_samples": clipped,
        "tracks": rows,
        "side_length_s": position / sr,
        **loudness_result(loud),
        **qc_result(stats),
    }


def build_sheet(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """The side's sheet, from its made side's timings and the current titles."""
    c = spec.config
    side = inputs["upstream"]["side"]
    if side is None or side.get("tracks") is None:
        raise MasterbuildError(spec.name, "-", "the side has no result: run the full build")
    rows = [{**r, "title": c["titles"][r["id"]]} for r in side["tracks"]]
    text = side_sheet(c["album_title"], c["side"], c["format"], rows, side["side_length_s"])
    write_bytes_atomic(Path(spec.targets[0]), text.encode("utf-8"))
    return {"bytes": len(text.encode("utf-8"))}
