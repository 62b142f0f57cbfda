"""The QC report: measurements of the delivered files -> report.json and report.html.

Figures come from the master step (or the CD programme's cuts), which decodes the file
it delivers and measures it, never from what the chain was expected to do. Tagging does
not touch the audio, so the audio figures hold for the tagged file; its size is the
tagged file's. Compliance (masterbuild.compliance) compares them with the format's own
targets and its delivery profiles. The HTML page is one file: the pictures the QC task
drew are embedded as data URIs, nothing is fetched.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from masterbuild.atomic import write_bytes_atomic, write_json_atomic
from masterbuild.compliance import format_compliance, verdict
from masterbuild.plan import TaskSpec

# Per track, from the master's result, in this order.
TRACK_KEYS = (
    "duration_s",
    "integrated_lufs",
    "lra_lu",
    "max_momentary_lufs",
    "max_short_term_lufs",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "clipped_runs",  # runs of >= 3 consecutive full-scale samples in one channel
    "full_scale_samples",
    "longest_clip_run",
    "dc_offset_dbfs",
    "head_silence_s",  # before the first sample above -60 dBFS
    "tail_silence_s",
    "lf_side_to_mid_db",  # side vs mid energy below 150 Hz (vinyl: low end in mono)
    "sample_rate",
    "bit_depth",
    "codec",
    "md5_audio",  # MD5 of the decoded samples at their stored width (FLAC's STREAMINFO MD5)
    "loudness_gain_db",
    "applied_gain_db",
    "peak_reduction_db",
    "clipped_samples",  # samples the encoder had to clip on quantising
    "attempts",  # > 1: the file was remade after an overshoot (codec, dither) or a shortfall
    "limiter_ceiling_dbtp",  # the ceiling the limiter finally ran at
)


def _plr_db(row: dict[str, Any]) -> float | None:
    """Peak-to-loudness ratio: true peak minus integrated loudness."""
    tp, lufs = row.get("true_peak_dbtp"), row.get("integrated_lufs")
    return None if tp is None or lufs is None else round(tp - lufs, 2)


def _track_rows(f: dict[str, Any], up: dict[str, Any], qc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    aac = qc.get("aac") or {}
    for t in f["tracks"]:
        r = up["masters"].get(t["master"]) or {}
        row = {"id": t["id"], "file": t["file"], **{k: r.get(k) for k in TRACK_KEYS}}
        row["plr_db"] = _plr_db(row)
        tagged = up["tags"].get(t["tag"]) if t["tag"] else r  # a vinyl side is not tagged
        row["file_bytes"] = (tagged or {}).get("bytes")
        if t["id"] in aac:
            found = aac[t["id"]] or {}
            row["aac_clipped_samples"] = found.get("clipped_samples")
            row["aac_peak_dbfs"] = found.get("peak_dbfs")
        rows.append(row)
    return rows


def build_report(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    up = inputs["upstream"]
    formats: dict[str, Any] = {}
    pictures: dict[str, dict[str, str]] = {}
    for fmt_name, f in spec.config["formats"].items():
        qc = up["qc"].get(fmt_name) or {}
        tracks = _track_rows(f, up, qc)
        album = up["albums"].get(fmt_name) or {}
        ceiling = f["true_peak_ceiling_db"]
        peaks = [t["true_peak_dbtp"] for t in tracks if t["true_peak_dbtp"] is not None]
        measured = {"album_lufs": album.get("album_lufs")}
        programme = album.get("programme") or {}
        if programme.get("total_frames") is not None:
            measured["programme_s"] = programme["total_frames"] / 75.0
        if f.get("disc_in"):
            sides = [up["masters"].get(t["master"]) or {} for t in f["tracks"]]
            measured["sides"] = [
                {"side": s.get("side"), "duration_s": s.get("duration_s") or 0.0} for s in sides
            ]
            entry_sides = [{"side": s.get("side"), "tracks": s.get("tracks")} for s in sides]
        checks = format_compliance(f, tracks, measured)
        entry: dict[str, Any] = {
            "codec": f["codec"],
            "sample_rate": f["sample_rate"],
            "bit_depth": f["bit_depth"],
            "album_lufs": album.get("album_lufs"),
            "target": f["loudness"],
            "true_peak_ceiling_db": ceiling,
            "ceiling_met": all(p <= ceiling for p in peaks),
            "profiles": f["profiles"],
            "compliance": {"pass": verdict(checks), "checks": checks},
            "tracks": tracks,
        }
        if f.get("disc_in"):
            entry["sides"] = entry_sides
            entry["disc_in"], entry["rpm"] = f["disc_in"], f["rpm"]
        if f.get("cd"):
            results = [up["masters"].get(t["master"]) or {} for t in f["tracks"]]
            entry["pq"] = pq_rows(f["tracks"], results)
        formats[fmt_name] = entry
        pictures[fmt_name] = {
            name: _data_uri(Path(path)) for name, path in (f.get("plots") or {}).items()
        }
    # The programme length, from the format-independent renders (a lossy file's decoded
    # length may carry codec padding).
    album_duration_s = sum(r["frames"] / r["sample_rate_hz"] for r in up["renders"] if r)
    report = {
        "album": {
            "title": spec.config["album"]["title"],
            "artist": spec.config["album"]["artist"],
            "duration_s": round(album_duration_s, 3),
        },
        "compliance": {"pass": all(f["compliance"]["pass"] for f in formats.values())},
        "formats": formats,
    }
    json_path, html_path = (Path(t) for t in spec.targets)
    write_json_atomic(json_path, report)
    write_bytes_atomic(html_path, render_html(report, pictures).encode("utf-8"))
    return {"formats": sorted(formats), "pass": report["compliance"]["pass"]}


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def pq_rows(tracks: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The PQ sheet of a CD format: each track's INDEX 01, length, pause and ISRC."""
    from masterbuild.cd.layout import frames_to_msf

    rows = []
    for n, (t, r) in enumerate(zip(tracks, results, strict=True), start=1):
        if r.get("start_frame") is None:
            continue
        rows.append(
            {
                "track": n,
                "id": t["id"],
                "start": frames_to_msf(r["start_frame"]),
                "length": frames_to_msf(r["length_frames"]),
                "pause": frames_to_msf(r["pregap_frames"]),
                "isrc": t.get("isrc"),
            }
        )
    return rows


# --- the page ---------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1300px}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;font-size:13px}"
    "th{background:#f2f2f2}td.l,th.l{text-align:left}"
    ".pass{color:#1b7a33;font-weight:600}.fail{color:#c00000;font-weight:600}"
    ".skip{color:#888}img{max-width:100%;border:1px solid #ddd;margin:0.3em 0}"
    "h2{border-top:2px solid #333;padding-top:0.6em;margin-top:2em}"
)

# Per-track table: (report key, column heading).
_TRACK_COLUMNS = (
    ("file", "file"),
    ("duration_s", "length s"),
    ("integrated_lufs", "LUFS"),
    ("lra_lu", "LRA"),
    ("max_momentary_lufs", "M max"),
    ("max_short_term_lufs", "S max"),
    ("true_peak_dbtp", "TP dBTP"),
    ("sample_peak_dbfs", "peak dBFS"),
    ("plr_db", "PLR"),
    ("clipped_runs", "clip runs"),
    ("dc_offset_dbfs", "DC dBFS"),
    ("head_silence_s", "head s"),
    ("tail_silence_s", "tail s"),
    ("file_bytes", "bytes"),
    ("md5_audio", "audio MD5"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "&minus;"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return html.escape(str(value))


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "<span class='skip'>not run</span>"
    return "<span class='pass'>PASS</span>" if ok else "<span class='fail'>FAIL</span>"


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    def cls(i: int) -> str:
        return " class='l'" if i < left else ""

    out = ["<table><tr>" + "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(header)) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _format_section(name: str, f: dict[str, Any], pictures: dict[str, str]) -> list[str]:
    target = f["target"]
    loud = (
        "no loudness management"
        if target["mode"] == "none"
        else f"{target['mode']} mode, target {target['target_lufs']} LUFS"
    )
    depth = f" {f['bit_depth']}-bit" if f.get("bit_depth") else ""
    parts = [
        f"<h2 id='format-{html.escape(name)}'>{html.escape(name)}: "
        f"{_verdict(f['compliance']['pass'])}</h2>",
        f"<p>{html.escape(f['codec'])}{depth} {f['sample_rate']} Hz; {loud}; album "
        f"{_cell(f['album_lufs'])} LUFS; ceiling {f['true_peak_ceiling_db']} dBTP; profiles: "
        f"{html.escape(', '.join(f['profiles']) or 'none')}</p>",
    ]
    checks = sorted(f["compliance"]["checks"], key=lambda c: c["pass"] is not False)
    rows = [
        [
            html.escape(c["profile"]),
            html.escape(c["check"]),
            html.escape(str(c["where"])),
            _cell(c["value"]) + (f" {html.escape(c['unit'])}" if c["unit"] else ""),
            html.escape(str(c["limit"])),
            _verdict(c["pass"]),
        ]
        for c in checks
    ]
    parts.append("<h3>Compliance</h3>")
    parts.append(_table(["profile", "check", "where", "measured", "limit", ""], rows, left=3))
    parts.append("<h3>Tracks</h3>")
    rows = [[_cell(t.get(k)) for k, _ in _TRACK_COLUMNS] for t in f["tracks"]]
    parts.append(_table([h for _, h in _TRACK_COLUMNS], rows))
    remade = [_remade(t) for t in f["tracks"] if (t.get("attempts") or 1) > 1]
    if remade:
        parts.append("<p>Remade after the decoded file missed its ceiling or target:</p>")
        parts.append("<ul>" + "".join(f"<li>{line}</li>" for line in remade) + "</ul>")
    if f.get("pq"):
        pq_cols = ["track", "id", "start", "length", "pause", "isrc"]
        rows = [[_cell(r.get(c)) for c in pq_cols] for r in f["pq"]]
        parts.append("<h3>PQ sheet</h3>")
        parts.append(_table(pq_cols, rows, left=2))
    captions = {
        "loudness": "Loudness over time (momentary thin, short-term thick)",
        "waveform": "Waveform overview (overs in red)",
        "profile": "Album level profile, in running order",
        "spectrum": "Long-term average spectrum",
    }
    for key, caption in captions.items():
        if key in pictures:
            parts.append(f"<h3>{caption}</h3>")
            parts.append(f"<img alt='{html.escape(name)} {key}' src='{pictures[key]}'>")
    return parts


def _remade(t: dict[str, Any]) -> str:
    """One line on a master made more than once (codec overshoot, loudness shortfall)."""
    line = f"{html.escape(t['id'])}: {t['attempts']} attempts"
    if t.get("limiter_ceiling_dbtp") is not None:
        line += f", limiter finally at {t['limiter_ceiling_dbtp']:.2f} dBTP"
    if t.get("peak_reduction_db"):
        line += f", gain lowered by {t['peak_reduction_db']:.2f} dB"
    return line + f", delivered at {_cell(t.get('true_peak_dbtp'))} dBTP"


def render_html(report: dict[str, Any], pictures: dict[str, dict[str, str]] | None = None) -> str:
    """One self-contained page: album summary, then per format its checks, tracks, pictures."""
    pictures = pictures or {}
    a = report["album"]
    title = html.escape(a["title"])
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{title} — masterbuild QC report</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p>{html.escape(a['artist'])} — {a['duration_s']:.1f} s — QC "
        f"{_verdict(report['compliance']['pass'])}</p>",
    ]
    summary = [
        [
            f"<a href='#format-{html.escape(n)}'>{html.escape(n)}</a>",
            html.escape(f["codec"]),
            str(len(f["tracks"])),
            _cell(f["album_lufs"]),
            _cell(
                max(
                    (t["true_peak_dbtp"] for t in f["tracks"] if t["true_peak_dbtp"] is not None),
                    default=None,
                )
            ),
            html.escape(", ".join(f["profiles"]) or "-"),
            _verdict(f["compliance"]["pass"]),
        ]
        for n, f in report["formats"].items()
    ]
    parts.append(
        _table(["format", "codec", "tracks", "album LUFS", "max TP", "profiles", "QC"], summary)
    )
    for name, f in report["formats"].items():
        parts += _format_section(name, f, pictures.get(name, {}))
    parts.append("</body></html>\n")
    return "\n".join(parts)
