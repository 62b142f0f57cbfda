"""Render actions: source -> chain -> cached intermediate -> per-format master.

Each action takes its TaskSpec and current inputs, writes its targets atomically and
returns its result (measurements, digests) for the stamp. Audio flows in blocks, so
memory stays flat with track length.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from masterbuild.atomic import atomic_output
from masterbuild.audio import read_blocks
from masterbuild.dsp.chain import run_chain
from masterbuild.dsp.dither import dither_rng
from masterbuild.dsp.fades import fade_gains
from masterbuild.dsp.gain import db_to_linear
from masterbuild.dsp.loudness import Loudness, integrated_lufs_from_powers, measure_blocks
from masterbuild.dsp.resample import resample_blocks
from masterbuild.dsp.silence import audible_bounds
from masterbuild.encode import write_stream
from masterbuild.errors import MasterbuildError
from masterbuild.inputs import result_of
from masterbuild.plan import TaskSpec
from masterbuild.state import file_digest
from masterbuild.tags import normalize_ogg_serial

CHANNELS = 2
MAX_PEAK_ATTEMPTS = 4
PEAK_MARGIN_DB = 0.05


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


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_output(path) as tmp, tmp.open("wb") as f:
        np.save(f, array)


def _to_stereo(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Mono mixes become dual-mono stereo: every master is stereo."""
    for b in blocks:
        yield np.repeat(b, 2, axis=1) if b.shape[1] == 1 else b


def _scaled(blocks: Iterable[np.ndarray], gain_db: float) -> Iterator[np.ndarray]:
    g = db_to_linear(gain_db)
    for b in blocks:
        yield b * g if g != 1.0 else b


def _faded(
    blocks: Iterable[np.ndarray], total: int, in_f: int, out_f: int, shape: str
) -> Iterator[np.ndarray]:
    pos = 0
    for b in blocks:
        g = fade_gains(pos, b.shape[0], total, in_f, out_f, shape)
        yield b if g is None else b * g[:, None]
        pos += b.shape[0]


def _trim_range(source: Path, trim: dict[str, Any], sr: int, frames: int) -> tuple[int, int]:
    """Source frames [start, stop) kept after automatic and explicit trimming."""
    start, stop = 0, frames
    if trim.get("auto_threshold_db") is not None:
        bounds = audible_bounds(read_blocks(source), trim["auto_threshold_db"])
        if bounds is None:
            raise MasterbuildError(
                source,
                "trim",
                f"nothing reaches auto_threshold_db = {trim['auto_threshold_db']} dBFS: "
                "the mix is silent at that threshold; lower it",
            )
        pad = round(trim.get("auto_pad_s", 0.0) * sr)
        start, stop = max(0, bounds[0] - pad), min(frames, bounds[1] + pad)
    start += round(trim["start_s"] * sr)
    stop -= round(trim["end_s"] * sr)
    if stop - start <= 0:
        raise MasterbuildError(source, "trim", "trimming leaves nothing of this mix: trim less")
    return start, stop


def render_track(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Source -> trim -> gain -> chain -> fades -> float32 intermediate (source rate)."""
    c, p = spec.config, spec.params
    source = Path(spec.files["source"])
    if inputs["files"]["source"] is None:
        raise MasterbuildError(source, "-", "source mix is missing: restore it or fix `source`")
    sr = p["sample_rate_hz"]
    start, stop = _trim_range(source, c["trim"], sr, p["source_frames"])
    total = stop - start
    in_f = round(c["fade"]["in_s"] * sr)
    out_f = round(c["fade"]["out_s"] * sr)
    blocks = _to_stereo(read_blocks(source, start, stop))
    blocks = _scaled(blocks, c["gain_db"])
    blocks = run_chain(blocks, c["chain"], sr, CHANNELS)
    blocks = _faded(blocks, total, in_f, out_f, c["fade"]["shape"])

    target = Path(spec.targets[0])
    hasher = hashlib.blake2b(digest_size=20)
    with (
        atomic_output(target) as tmp,
        sf.SoundFile(str(tmp), "w", sr, CHANNELS, subtype="FLOAT", format="RF64") as out,
    ):

        def written() -> Iterator[np.ndarray]:
            for b in blocks:
                f32 = b.astype("<f4")
                out.write(f32)
                hasher.update(f32.tobytes())
                yield f32.astype(np.float64)  # measure what is stored

        loud = measure_blocks(written(), sr, CHANNELS)
    _save_npy(Path(p["powers"]), loud.block_powers)
    return {
        "digest": hasher.hexdigest(),
        "frames": total,
        "sample_rate_hz": sr,
        **loudness_result(loud),
    }


ALBUM_GAIN_STEP_DB = 0.1


def sticky_album_gain_db(exact_db: float, previous_db: float | None) -> float:
    """Album gain on a 0.1 dB grid that only moves when it must.

    Plain rounding would flip between grid values when a small revision nudges the
    exact gain across a rounding boundary, re-mastering every track. The previous value
    is kept while it is within one step of the exact gain (so the error stays under
    0.1 dB); otherwise the exact gain is rounded to the grid.
    """
    if previous_db is not None and abs(exact_db - previous_db) <= ALBUM_GAIN_STEP_DB:
        return previous_db
    return round(round(exact_db / ALBUM_GAIN_STEP_DB) * ALBUM_GAIN_STEP_DB, 1)


def album_gain(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """One gain for every track so the album (all gated blocks together) meets the target."""
    powers = [np.load(p) for p in spec.params["powers"]]
    album_lufs = integrated_lufs_from_powers(powers)
    if not math.isfinite(album_lufs):
        return {"album_lufs": None, "album_gain_db": 0.0}
    previous = (result_of(spec, spec.name) or {}).get("album_gain_db")
    gain_db = sticky_album_gain_db(spec.config["target_lufs"] - album_lufs, previous)
    return {"album_lufs": round(album_lufs, 2), "album_gain_db": gain_db}


def _loudness_gain_db(fmt: dict[str, Any], upstream: dict[str, Any]) -> float:
    mode = fmt["loudness"]["mode"]
    if mode == "album":
        return float(upstream["album_gain"]["album_gain_db"])
    if mode == "track":
        lufs = upstream["render"]["integrated_lufs"]
        return 0.0 if lufs is None else round(fmt["loudness"]["target_lufs"] - lufs, 2)
    return 0.0


def master_track(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Intermediate -> loudness gain -> SRC -> peak-safe level -> dither -> encode.

    The level is lowered when the loudness gain would push the true peak over the
    format's ceiling; the delivered file is decoded and measured, and if the codec or the
    resampler overshoots, the level is lowered by the overshoot and the file made again.
    """
    fmt = spec.config["format"]
    up = inputs["upstream"]
    if up["render"] is None or (
        fmt["loudness"]["mode"] == "album" and up.get("album_gain") is None
    ):
        raise MasterbuildError(spec.name, "-", "an upstream task has no result: run the full build")
    loudness_gain = _loudness_gain_db(fmt, up)
    ceiling = fmt["true_peak_ceiling_db"]
    tp_in = up["render"]["true_peak_dbtp"]
    gain_db = (
        loudness_gain if tp_in is None else min(loudness_gain, ceiling - tp_in - PEAK_MARGIN_DB)
    )
    intermediate = Path(spec.params["intermediate"])
    with sf.SoundFile(str(intermediate)) as f:
        source_sr = f.samplerate
    out_sr = fmt["sample_rate"]
    target = Path(spec.targets[0])
    for attempt in range(1, MAX_PEAK_ATTEMPTS + 1):
        try:
            with atomic_output(target) as tmp:
                rng = dither_rng(*spec.config["seed"])
                blocks = _scaled(read_blocks(intermediate), gain_db)
                blocks = resample_blocks(blocks, source_sr, out_sr, CHANNELS)
                clipped = write_stream(tmp, blocks, fmt, out_sr, CHANNELS, rng)
                if fmt["codec"] in ("ogg", "opus"):
                    normalize_ogg_serial(tmp, _ogg_serial(spec.config["seed"]))
                loud = measure_blocks(read_blocks(tmp), out_sr, CHANNELS)
                over_db = loud.true_peak_dbtp - ceiling
                if over_db > 0 and attempt < MAX_PEAK_ATTEMPTS:
                    gain_db -= over_db + PEAK_MARGIN_DB
                    raise _Retry()
                digest = file_digest(tmp)
        except _Retry:
            continue
        break
    _save_npy(Path(spec.params["powers"]), loud.block_powers)
    return {
        "digest": digest,
        "sample_rate": out_sr,
        "bit_depth": fmt["bit_depth"],
        "codec": fmt["codec"],
        "loudness_gain_db": loudness_gain,
        "applied_gain_db": round(gain_db, 3),
        "peak_reduction_db": round(loudness_gain - gain_db, 3),
        "attempts": attempt,
        "clipped_samples": clipped,
        **loudness_result(loud),
    }


class _Retry(Exception):
    """Raised inside atomic_output to discard an attempt that overshot the ceiling."""


def _ogg_serial(seed: list[str]) -> int:
    return int.from_bytes(hashlib.sha256("/".join(seed).encode()).digest()[:4], "little")


def album_loudness(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Album loudness and peak of one format's delivered masters (for ReplayGain album)."""
    powers = [np.load(p) for p in spec.params["powers"]]
    album_lufs = integrated_lufs_from_powers(powers)
    peaks = []
    for name in spec.config["tracks"]:
        r = result_of(spec, name) or {}
        if r.get("true_peak_dbtp") is not None:
            peaks.append(r["true_peak_dbtp"])
    peak = max(peaks) if peaks else None
    return {
        # 0.1 LU steps, like the album gain, so a small revision re-tags nothing else.
        "album_lufs": None if not math.isfinite(album_lufs) else round(album_lufs, 1),
        "album_peak": None if peak is None else round(10 ** (peak / 20), 4),
    }
