"""The QC task of one format: the report's pictures and the lossy round trips.

Reads what the master step stored beside each delivered master (loudness blocks and
the `.qc.npz` series), draws the four pictures of the sign-off page and, for formats
checked against Apple Digital Masters, encodes each master to AAC and counts what
clips. Track labels are number + id, never titles, so a title fix redraws nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from masterbuild.atomic import write_bytes_atomic, write_json_atomic
from masterbuild.dsp.gain import db_to_linear
from masterbuild.dsp.loudness import LOUDNESS_OFFSET_DB
from masterbuild.errors import MasterbuildError
from masterbuild.plan import QC_PLOTS, TaskSpec
from masterbuild.state import file_digest


def powers_to_lufs(powers: np.ndarray) -> np.ndarray:
    """Weighted mean squares -> LUFS (BS.1770 eq. 2/4; -inf for silence)."""
    p = np.asarray(powers, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET_DB + 10.0 * np.log10(p)


def over_bins(envelope: np.ndarray, clip_bins: np.ndarray, ceiling_dbfs: float) -> np.ndarray:
    """Envelope bins to mark: full-scale runs, and sample peaks above the ceiling."""
    level = np.max(np.abs(envelope), axis=1) if envelope.size else np.zeros(0)
    above = np.flatnonzero(level > db_to_linear(ceiling_dbfs))
    return np.union1d(above, np.asarray(clip_bins, dtype=np.int64))


def octave_smoothed(
    freqs_hz: np.ndarray, level_db: np.ndarray, fraction: int = 6, points: int = 240
) -> tuple[np.ndarray, np.ndarray]:
    """A spectrum averaged (in power) over 1/`fraction`-octave bands at log-spaced
    centres from 20 Hz to the top bin: how an engineer reads a long-term spectrum."""
    f = np.asarray(freqs_hz, dtype=np.float64)
    power = 10.0 ** (np.asarray(level_db, dtype=np.float64) / 10.0)
    top = f[-1] if f.size else 0.0
    if top <= 20.0:
        return f, np.asarray(level_db, dtype=np.float64)
    centres = np.geomspace(20.0, top, points)
    half = 2.0 ** (1.0 / (2 * fraction))
    lo = np.searchsorted(f, centres / half, side="left")
    hi = np.maximum(np.searchsorted(f, centres * half, side="right"), lo + 1)
    hi = np.minimum(hi, f.size)
    lo = np.minimum(lo, hi - 1)
    sums = np.concatenate([[0.0], np.cumsum(power)])
    mean = (sums[hi] - sums[lo]) / (hi - lo)
    with np.errstate(divide="ignore"):
        return centres, 10.0 * np.log10(mean)


def plot_data(track: dict[str, Any], prefix: str, result: dict[str, Any], ceiling_dbfs: float):
    """The plots' view of one delivered file, from the series stored at `prefix`."""
    from masterbuild.plots import TrackPlotData

    series = np.load(f"{prefix}.qc.npz")
    envelope = series["envelope"]
    freqs, level = octave_smoothed(series["spectrum_freqs_hz"], series["spectrum_mid_db"])
    return TrackPlotData(
        label=track["label"],
        duration_s=float(result.get("duration_s") or 0.0),
        momentary_lufs=powers_to_lufs(np.load(f"{prefix}.powers.npy")),
        short_term_lufs=powers_to_lufs(series["short_term_powers"]),
        envelope_hop_s=float(series["envelope_hop_s"]),
        envelope=envelope,
        over_bins=over_bins(envelope, series["clip_bins"], ceiling_dbfs),
        spectrum_freqs_hz=freqs,
        spectrum_db=level,
        integrated_lufs=result.get("integrated_lufs"),
        true_peak_dbtp=result.get("true_peak_dbtp"),
        max_short_term_lufs=result.get("max_short_term_lufs"),
    )


def _aac(audio: Path, digest: str, bitrate_kbps: int, cache: Path) -> dict[str, Any] | None:
    """The AAC round trip of one master, cached by its content; None without ffmpeg."""
    from masterbuild.lossy_check import aac_round_trip, ffmpeg_available

    if not ffmpeg_available():
        return None
    entry = cache / f"{digest}-{bitrate_kbps}k.json"
    try:
        return json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    try:
        rt = aac_round_trip(audio, bitrate_kbps)
    except (OSError, ValueError) as exc:
        raise MasterbuildError(
            audio, "AAC round trip", f"{exc}: check the ffmpeg install"
        ) from None
    found = {
        "clipped_samples": rt.clipped_samples,
        "peak_dbfs": round(rt.peak_dbfs, 2) if math.isfinite(rt.peak_dbfs) else None,
    }
    write_json_atomic(entry, found)
    return found


def build_qc(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    from masterbuild import plots

    c, p = spec.config, spec.params
    masters = inputs["upstream"]["masters"]
    if any(r is None for r in masters.values()):
        raise MasterbuildError(spec.name, "-", "a master has no result: run the full build")
    ceiling = c["true_peak_ceiling_db"]
    data = [plot_data(t, p["series"][t["id"]], masters[t["master"]], ceiling) for t in c["tracks"]]
    loudness, waveform = plots.loudness_and_waveform_png(data, c["target_lufs"], ceiling)
    pictures = {
        "loudness": loudness,
        "waveform": waveform,
        "profile": plots.album_profile_png(data, c["target_lufs"]),
        "spectrum": plots.spectrum_png(data),
    }
    digests = {}
    for name, target in zip(QC_PLOTS, spec.targets, strict=True):
        write_bytes_atomic(Path(target), pictures[name])
        digests[name] = file_digest(Path(target))
    aac: dict[str, Any] = {}
    if c["aac_bitrate_kbps"]:
        cache = Path(p["aac_cache"])
        for t in c["tracks"]:
            audio = Path(p["audio"][t["id"]])
            aac[t["id"]] = _aac(audio, masters[t["master"]]["digest"], c["aac_bitrate_kbps"], cache)
    return {"plots": digests, "aac": aac}
