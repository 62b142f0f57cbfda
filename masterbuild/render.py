"""Render actions: source -> chain -> cached intermediate -> per-format master.

Each action takes its TaskSpec and current inputs, writes its targets atomically and
returns its result (measurements, digests) for the stamp. Audio flows in blocks, so
memory stays flat with track length.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
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
from masterbuild.atomic import atomic_output, write_npy_atomic
from masterbuild.audio import read_blocks
from masterbuild.dsp.chain import run_chain
from masterbuild.dsp.dither import dither_rng
from masterbuild.dsp.fades import fade_gains
from masterbuild.dsp.gain import db_to_linear, scale_frames
from masterbuild.dsp.limiter_model import (
    ProfileFile,
    limited_block_powers,
    open_profile,
    profile_rows,
    write_profile,
)
from masterbuild.dsp.loudness import integrated_lufs_from_powers, measure_blocks
from masterbuild.dsp.resample import resample_blocks
from masterbuild.dsp.silence import audible_bounds
from masterbuild.encode import StoredStream, write_stream
from masterbuild.errors import MasterbuildError
from masterbuild.inputs import result_of
from masterbuild.plan import TaskSpec
from masterbuild.state import file_digest
from masterbuild.tags import normalize_ogg_serial

CHANNELS = 2
MAX_PEAK_ATTEMPTS = 6
PEAK_MARGIN_DB = 0.05
LOUDNESS_TOLERANCE_LU = 0.1


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
        yield b if g is None else scale_frames(b, g)
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
        atomic_output(target, large=True) as tmp,
        sf.SoundFile(str(tmp), "w", sr, CHANNELS, subtype="FLOAT", format="RF64") as out,
    ):

        def written() -> Iterator[np.ndarray]:
            for b in blocks:
                f32 = np.ascontiguousarray(b, dtype="<f4")
                out.write(f32)
                hasher.update(f32)  # its bytes in C order, as stored, without a copy
                yield f32.astype(np.float64)  # measure what is stored

        loud = measure_blocks(written(), sr, CHANNELS)
    write_npy_atomic(Path(p["powers"]), loud.block_powers)
    _write_limiter_profile(target)
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


ALBUM_TOLERANCE_LU = 0.1
MAX_SOLVE_STEPS = 6


def _grid(gain_db: float) -> float:
    return round(round(gain_db / ALBUM_GAIN_STEP_DB) * ALBUM_GAIN_STEP_DB, 1)


def limiter_profile_path(intermediate: Path) -> Path:
    """Where the render keeps the limiter model's profile of its intermediate."""
    return intermediate.with_name(intermediate.name.removesuffix(".wav") + ".limiter.npy")


def _write_limiter_profile(intermediate: Path) -> Path:
    """Profile an intermediate for the limiter model (one read of the file we wrote)."""
    final = limiter_profile_path(intermediate)
    with sf.SoundFile(str(intermediate)) as f:
        sr, frames = f.samplerate, f.frames
    with atomic_output(final) as tmp:
        write_profile(tmp, read_blocks(intermediate), sr, CHANNELS, frames)
    return final


def _limiter_profile(intermediate: Path) -> tuple[ProfileFile, int]:
    """The limiter model's profile of an intermediate (read a chunk at a time) and its rate.

    Written by the render; made again here if a cleaned cache lost it or it does not
    fit the intermediate. With it, :func:`limited_block_powers` predicts the
    gating-block powers after a gain and the true-peak limiter about 50x faster than
    limiting and metering the intermediate, within a few thousandths of a LU of doing so.
    """
    path = limiter_profile_path(intermediate)
    with sf.SoundFile(str(intermediate)) as f:
        sr, frames = f.samplerate, f.frames
    try:
        profile = open_profile(path)
        if profile.rows == profile_rows(frames, sr):
            return profile, sr
    except (OSError, ValueError):
        pass
    return open_profile(_write_limiter_profile(intermediate)), sr


def album_gain(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """One gain for every track so the album (all gated blocks together) meets the target.

    With the limiter on, limiting costs loudness, so the gain is solved through it: for
    each candidate gain (on the 0.1 dB grid) the limiter model predicts every
    intermediate's loudness after the limiter at the format's ceiling, with secant
    steps until the album is within 0.1 LU of the target. Without the limiter (or with
    peak_safe) the gain is capped so that the loudest-peaking track stays under the
    ceiling, keeping the tracks' relative levels.
    """
    c, p = spec.config, spec.params
    renders = inputs["upstream"]["renders"]
    if any(r is None for r in renders.values()):
        raise MasterbuildError(spec.name, "-", "a render has no result: run the full build")
    album_pre = integrated_lufs_from_powers([np.load(t["powers"]) for t in p["tracks"].values()])
    if not math.isfinite(album_pre):
        return {"album_lufs_pre": None, "album_gain_db": 0.0}
    target, ceiling = c["target_lufs"], c["true_peak_ceiling_db"]
    limiter_ceiling = c["limiter_ceiling_db"]
    previous = (result_of(spec, spec.name) or {}).get("album_gain_db")
    exact = target - album_pre
    if not c["limiter"] or c["peak_safe"]:
        peaks = [r["true_peak_dbtp"] for r in renders.values() if r["true_peak_dbtp"] is not None]
        cap = ceiling - max(peaks) - PEAK_MARGIN_DB if peaks else math.inf
        gain_db = sticky_album_gain_db(min(exact, cap), previous)
        if gain_db > cap:
            gain_db = math.floor(cap / ALBUM_GAIN_STEP_DB) * ALBUM_GAIN_STEP_DB
        return {"album_lufs_pre": round(album_pre, 2), "album_gain_db": round(gain_db, 1)}

    profiles = [_limiter_profile(Path(t["intermediate"])) for t in p["tracks"].values()]

    def album_after(gain_db: float) -> float:
        powers = [limited_block_powers(pr, sr, gain_db, limiter_ceiling) for pr, sr in profiles]
        return integrated_lufs_from_powers(powers)

    start = previous if previous is not None else _grid(exact)
    gain_db, tried = solve_limited_gain(album_after, target, start, ALBUM_TOLERANCE_LU)
    return {
        "album_lufs_pre": round(album_pre, 2),
        "album_lufs_limited": round(tried[gain_db], 2),
        "album_gain_db": gain_db,
        "solve_steps": len(tried),
    }


def solve_limited_gain(
    loudness_after: Callable[[float], float],
    target_lufs: float,
    start_db: float,
    tolerance_lu: float,
) -> tuple[float, dict[float, float]]:
    """The gain (on the 0.1 dB grid) whose limited loudness is nearest the target.

    Secant steps from `start_db` (slope 1 at first: below the ceiling dB in = dB out;
    limiting only flattens it) until within `tolerance_lu` or a grid value repeats.
    Returns the gain and every gain tried with its loudness.
    """
    gain_db = start_db
    lufs = loudness_after(gain_db)
    tried = {gain_db: lufs}
    for _ in range(MAX_SOLVE_STEPS):
        error = target_lufs - lufs
        if abs(error) <= tolerance_lu or not math.isfinite(lufs):
            break
        others = sorted((g for g in tried if g != gain_db), key=lambda g: abs(g - gain_db))
        slope = 1.0
        if others:
            g0 = others[0]
            slope = (lufs - tried[g0]) / (gain_db - g0) if gain_db != g0 else 1.0
            slope = min(max(slope, 0.1), 1.0)
        step = _grid(gain_db + error / slope)
        if step in tried:
            break
        gain_db, lufs = step, loudness_after(step)
        tried[gain_db] = lufs
    return min(tried, key=lambda g: abs(target_lufs - tried[g])), tried


def _loudness_gain_db(fmt: dict[str, Any], upstream: dict[str, Any]) -> float:
    mode = fmt["loudness"]["mode"]
    if mode == "album":
        return float(upstream["album_gain"]["album_gain_db"])
    if mode == "track":
        lufs = upstream["render"]["integrated_lufs"]
        return 0.0 if lufs is None else round(fmt["loudness"]["target_lufs"] - lufs, 2)
    return 0.0


def _peak_limited_blocks(
    blocks: Iterable[np.ndarray], ceiling_dbtp: float, sample_rate_hz: int
) -> Iterator[np.ndarray]:
    """The format's true-peak limiter, last stage before dither (or nothing)."""
    stage = {"kind": "limiter", "ceiling_dbtp": ceiling_dbtp}
    return run_chain(blocks, [stage], sample_rate_hz, CHANNELS)


def master_track(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Intermediate -> loudness gain -> SRC -> true-peak limiter -> dither -> encode.

    With the limiter on (the default), the loudness gain is applied in full and the
    limiter holds the true peak under the format's ceiling. With `limiter = false`, or
    with `peak_safe` loudness (the Spotify-style rule: never raise a master beyond what
    leaves its true peak under the ceiling), the gain is capped instead. Either way the
    delivered file is decoded and measured; if the codec or the dither overshoots, the
    limiter's ceiling (or the gain) is lowered by the overshoot and the file made again.
    """
    fmt = spec.config["format"]
    up = inputs["upstream"]
    if up["render"] is None or (
        fmt["loudness"]["mode"] == "album" and up.get("album_gain") is None
    ):
        raise MasterbuildError(spec.name, "-", "an upstream task has no result: run the full build")
    loudness_gain = _loudness_gain_db(fmt, up)
    ceiling = fmt["true_peak_ceiling_db"]
    limiter = fmt.get("limiter", True)
    tp_in = up["render"]["true_peak_dbtp"]
    gain_db = loudness_gain
    if tp_in is not None and (not limiter or fmt["loudness"].get("peak_safe")):
        gain_db = min(loudness_gain, ceiling - tp_in - PEAK_MARGIN_DB)
    limiter_ceiling = fmt["limiter_ceiling_db"]
    intermediate = Path(spec.params["intermediate"])
    with sf.SoundFile(str(intermediate)) as f:
        source_sr = f.samplerate
    out_sr = fmt["sample_rate"]
    target = Path(spec.targets[0])
    # Track mode with the limiter: limiting costs loudness, so the gain is solved through
    # the limiter first, with the limiter model (as for album gain), and
    # a track that still lands short of its target is remade with the shortfall added.
    chase_target = (
        fmt["loudness"]["mode"] == "track" and limiter and not fmt["loudness"].get("peak_safe")
    )
    if chase_target and up["render"]["integrated_lufs"] is not None:
        profile, profile_sr = _limiter_profile(intermediate)

        def track_after(g: float) -> float:
            powers = limited_block_powers(profile, profile_sr, g, limiter_ceiling)
            return integrated_lufs_from_powers([powers])

        target_lufs = fmt["loudness"]["target_lufs"]
        gain_db, _ = solve_limited_gain(
            track_after, target_lufs, _grid(loudness_gain), LOUDNESS_TOLERANCE_LU / 2
        )
    encoding = encoding_of(fmt["codec"], fmt["bit_depth"])
    for attempt in range(1, MAX_PEAK_ATTEMPTS + 1):
        try:
            with atomic_output(target, large=True) as tmp:
                rng = dither_rng(*spec.config["seed"])
                blocks = _scaled(read_blocks(intermediate), gain_db)
                blocks = resample_blocks(blocks, source_sr, out_sr, CHANNELS)
                if limiter:
                    blocks = _peak_limited_blocks(blocks, limiter_ceiling, out_sr)
                if fmt["codec"] == "flac":
                    # Decoding a FLAC costs about a tenth of its master: it is measured
                    # as stored, in the encoding pass, and its own MD5 (libFLAC's, of
                    # what it was given; what every decoder checks) must match ours.
                    stored = StoredStream(tmp, blocks, fmt, out_sr, CHANNELS, rng)
                    loud, stats = measure_and_analyze(stored, out_sr, CHANNELS, encoding)
                    clipped = stored.clipped
                    _check_flac_md5(tmp, stats.md5, spec.name)
                else:
                    clipped = write_stream(tmp, blocks, fmt, out_sr, CHANNELS, rng)
                    if fmt["codec"] in ("ogg", "opus"):
                        normalize_ogg_serial(tmp, _ogg_serial(spec.config["seed"]))
                    loud, stats = measure_and_analyze(read_blocks(tmp), out_sr, CHANNELS, encoding)
                over_db = loud.true_peak_dbtp - ceiling
                short_lu = 0.0
                if over_db > 0:
                    chase_target = False  # once over, the ceiling wins for good: no see-saw
                if chase_target and math.isfinite(loud.integrated_lufs):
                    short_lu = fmt["loudness"]["target_lufs"] - loud.integrated_lufs
                if over_db > 0 and attempt == MAX_PEAK_ATTEMPTS:
                    raise MasterbuildError(
                        spec.name,
                        "true peak",
                        f"still {loud.true_peak_dbtp:+.2f} dBTP after {attempt} attempts, over "
                        f"the {ceiling} dBTP ceiling: lower the loudness target or, for a "
                        "lossy codec, raise the bitrate",
                    )
                if attempt < MAX_PEAK_ATTEMPTS and (
                    over_db > 0 or short_lu > LOUDNESS_TOLERANCE_LU
                ):
                    # The ceiling wins: an attempt that went over only comes down.
                    if over_db > 0 and limiter:
                        limiter_ceiling -= over_db + PEAK_MARGIN_DB
                    elif over_db > 0:
                        gain_db -= over_db + PEAK_MARGIN_DB
                    else:
                        gain_db += short_lu
                    raise _Retry()
                digest = file_digest(tmp)
        except _Retry:
            continue
        break
    write_npy_atomic(Path(spec.params["powers"]), loud.block_powers)
    write_qc_series(Path(spec.params["qc"]), loud, stats)
    return {
        "digest": digest,
        "sample_rate": out_sr,
        "bit_depth": fmt["bit_depth"],
        "codec": fmt["codec"],
        "loudness_gain_db": loudness_gain,
        "applied_gain_db": round(gain_db, 3),
        "peak_reduction_db": round(loudness_gain - gain_db, 3),
        "limiter_ceiling_dbtp": round(limiter_ceiling, 3) if limiter else None,
        "attempts": attempt,
        "clipped_samples": clipped,
        **loudness_result(loud),
        **qc_result(stats),
    }


def _check_flac_md5(path: Path, md5_audio: str, task: str) -> None:
    """A FLAC's STREAMINFO MD5 (libFLAC's, of what it was given) must be ours."""
    from mutagen.flac import FLAC

    stored = f"{FLAC(path).info.md5_signature:032x}"
    if stored != md5_audio:
        raise MasterbuildError(
            task,
            "FLAC",
            f"the encoder stored other audio than it was given (MD5 {stored}, expected "
            f"{md5_audio}): report this with the album",
        )


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
