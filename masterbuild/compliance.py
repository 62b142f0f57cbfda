"""Compliance of one delivered format: its own targets and named delivery profiles.

Pure: the measured report rows in, a list of checks out. Each check names its profile,
what it checks, where (the album or a track id), the measured value beside the limit,
and whether it passes. The limits are data (`manifest/profiles.toml`); a check whose
measurement is missing (e.g. no AAC encoder here) passes as `None`: not run, said so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from masterbuild.manifest.models import PROFILES

# EBU R128: a programme is on target within +/-0.5 LU.
OWN_TOLERANCE_LU = 0.5

Check = dict[str, Any]


def _check(
    profile: str,
    name: str,
    where: str,
    value: Any,
    limit: Any,
    ok: bool | None,
    unit: str = "",
) -> Check:
    return {
        "profile": profile,
        "check": name,
        "where": where,
        "value": value,
        "limit": limit,
        "unit": unit,
        "pass": ok,
    }


def _le(value: float | None, limit: float) -> bool:
    """value <= limit; a silent track (-inf stored as None) is under any ceiling."""
    return value is None or value <= limit + 1e-9


def own_checks(
    fmt: dict[str, Any], tracks: list[dict[str, Any]], album_lufs: float | None
) -> list[Check]:
    """The format against its own declaration: ceiling, loudness target, no clipping."""
    out: list[Check] = []
    ceiling = fmt["true_peak_ceiling_db"]
    loud = fmt["loudness"]
    for t in tracks:
        tp = t.get("true_peak_dbtp")
        out.append(
            _check("format", "true peak", t["id"], tp, f"<= {ceiling}", _le(tp, ceiling), "dBTP")
        )
        runs = t.get("clipped_runs")
        out.append(
            _check(
                "format", "clipped runs", t["id"], runs, "0", None if runs is None else runs == 0
            )
        )
    target = loud.get("target_lufs")
    if loud["mode"] == "track":
        for t in tracks:
            lufs = t.get("integrated_lufs")
            out.append(_loudness_check("format", t["id"], lufs, target, loud, OWN_TOLERANCE_LU))
    elif loud["mode"] == "album":
        out.append(_loudness_check("format", "album", album_lufs, target, loud, OWN_TOLERANCE_LU))
    return out


def _loudness_check(
    profile: str,
    where: str,
    lufs: float | None,
    target: float,
    loud: dict[str, Any],
    tolerance_lu: float,
) -> Check:
    """Within the tolerance of the target; a peak-safe master may only be quieter."""
    if loud.get("peak_safe"):
        limit = f"<= {target + tolerance_lu:g}"
        ok = lufs is not None and lufs <= target + tolerance_lu
    else:
        limit = f"{target:g} ± {tolerance_lu:g}"
        ok = lufs is not None and abs(lufs - target) <= tolerance_lu
    return _check(profile, "integrated loudness", where, lufs, limit, ok, "LUFS")


def cd_checks(
    fmt: dict[str, Any], tracks: list[dict[str, Any]], album: dict[str, Any]
) -> list[Check]:
    p = PROFILES["cd"]
    out = [
        _check(
            "cd",
            "sample rate",
            "album",
            fmt["sample_rate"],
            p["sample_rate"],
            fmt["sample_rate"] == p["sample_rate"],
            "Hz",
        ),
        _check(
            "cd",
            "bit depth",
            "album",
            fmt["bit_depth"],
            p["bit_depth"],
            fmt["bit_depth"] == p["bit_depth"],
            "bit",
        ),
        _check(
            "cd",
            "tracks",
            "album",
            len(tracks),
            f"<= {p['max_tracks']}",
            len(tracks) <= p["max_tracks"],
        ),
    ]
    programme_s = album.get("programme_s")
    if programme_s is None:
        programme_s = sum(t.get("duration_s") or 0.0 for t in tracks)
    out.append(
        _check(
            "cd",
            "programme length",
            "album",
            round(programme_s, 2),
            f"<= {p['max_programme_s']:g}",
            programme_s <= p["max_programme_s"],
            "s",
        )
    )
    for t in tracks:
        d = t.get("duration_s")
        out.append(
            _check(
                "cd",
                "track length",
                t["id"],
                d,
                f">= {p['min_track_s']:g}",
                d is not None and d >= p["min_track_s"],
                "s",
            )
        )
        runs = t.get("clipped_runs")
        out.append(
            _check(
                "cd",
                "clipped runs",
                t["id"],
                runs,
                f"<= {p['max_clipped_runs']}",
                None if runs is None else runs <= p["max_clipped_runs"],
            )
        )
    return out


def streaming_checks(
    fmt: dict[str, Any], tracks: list[dict[str, Any]], album: dict[str, Any]
) -> list[Check]:
    p = PROFILES["streaming"]
    out: list[Check] = []
    loud = {"peak_safe": False}
    for t in tracks:
        lufs, tp = t.get("integrated_lufs"), t.get("true_peak_dbtp")
        out.append(
            _loudness_check("streaming", t["id"], lufs, p["target_lufs"], loud, p["tolerance_lu"])
        )
        louder = lufs is not None and lufs > p["target_lufs"]
        limit = p["loud_max_true_peak_dbtp"] if louder else p["max_true_peak_dbtp"]
        out.append(
            _check("streaming", "true peak", t["id"], tp, f"<= {limit:g}", _le(tp, limit), "dBTP")
        )
    return out


def apple_checks(
    fmt: dict[str, Any], tracks: list[dict[str, Any]], album: dict[str, Any]
) -> list[Check]:
    p = PROFILES["apple"]
    depth = fmt.get("bit_depth")
    depth_ok = depth is not None and depth >= p["min_bit_depth"]
    out = [
        _check("apple", "bit depth", "album", depth, f">= {p['min_bit_depth']}", depth_ok, "bit"),
        _check(
            "apple",
            "sample rate",
            "album",
            fmt["sample_rate"],
            f">= {p['min_sample_rate']}",
            fmt["sample_rate"] >= p["min_sample_rate"],
            "Hz",
        ),
    ]
    for t in tracks:
        tp = t.get("true_peak_dbtp")
        out.append(
            _check(
                "apple",
                "true peak",
                t["id"],
                tp,
                f"<= {p['max_true_peak_dbtp']:g}",
                _le(tp, p["max_true_peak_dbtp"]),
                "dBTP",
            )
        )
        aac = t.get("aac_clipped_samples")
        limit = p["max_aac_clipped_samples"]
        out.append(
            _check(
                "apple",
                f"clipped samples after AAC {p['aac_bitrate_kbps']} kbps",
                t["id"],
                aac,
                f"<= {limit}",
                None if aac is None else aac <= limit,
            )
        )
    return out


def vinyl_checks(
    fmt: dict[str, Any], tracks: list[dict[str, Any]], album: dict[str, Any]
) -> list[Check]:
    p = PROFILES["vinyl"]
    limiter = fmt.get("limiter", True)
    out = [_check("vinyl", "limiter", "album", "on" if limiter else "off", "off", not limiter)]
    for t in tracks:
        ratio = t.get("lf_side_to_mid_db")
        limit = p["max_side_to_mid_db"]
        ok = None if ratio is None else ratio <= limit
        if ratio is not None and math.isinf(ratio):
            ratio, ok = (None, True) if ratio < 0 else (ratio, False)
        out.append(
            _check(
                "vinyl",
                f"side vs mid below {p['lf_mono_below_hz']:g} Hz",
                t["id"],
                ratio,
                f"<= {limit:g}",
                ok,
                "dB",
            )
        )
    key = f"{fmt.get('disc_in')}-{fmt.get('rpm')}"
    limit_min = p["max_side_minutes"].get(key)
    for side in album.get("sides", []):
        minutes = side["duration_s"] / 60.0
        ok = None if limit_min is None else minutes <= limit_min
        out.append(
            _check(
                "vinyl",
                f"side length ({key})",
                f"side {side['side']}",
                round(minutes, 2),
                f"<= {limit_min:g}" if limit_min else "-",
                ok,
                "min",
            )
        )
    return out


PROFILE_CHECKS: dict[
    str, Callable[[dict[str, Any], list[dict[str, Any]], dict[str, Any]], list[Check]]
] = {
    "cd": cd_checks,
    "streaming": streaming_checks,
    "apple": apple_checks,
    "vinyl": vinyl_checks,
}


def format_compliance(
    fmt: dict[str, Any], tracks: list[dict[str, Any]], album: dict[str, Any]
) -> list[Check]:
    """Every check of one format: its own declaration, then each of its profiles."""
    checks = own_checks(fmt, tracks, album.get("album_lufs"))
    for name in fmt.get("profiles", []):
        checks += PROFILE_CHECKS[name](fmt, tracks, album)
    return checks


def verdict(checks: list[Check]) -> bool:
    """Passes when no check failed (a check not run is not a failure)."""
    return all(c["pass"] is not False for c in checks)
