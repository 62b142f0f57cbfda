"""The QC report: measurements of the delivered files -> report.json and report.html.

Figures come from the master step, which decodes the delivered audio and measures it
(tagging does not touch the audio), never from what the chain was expected to do.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from masterbuild.atomic import write_bytes_atomic, write_json_atomic
from masterbuild.plan import TaskSpec

TRACK_KEYS = (
    "duration_s",
    "integrated_lufs",
    "lra_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "max_momentary_lufs",
    "max_short_term_lufs",
    "sample_rate",
    "bit_depth",
    "codec",
    "loudness_gain_db",
    "applied_gain_db",
    "peak_reduction_db",
    "clipped_samples",
    "attempts",  # > 1: the file was remade after an overshoot (codec, dither) or a shortfall
    "limiter_ceiling_dbtp",  # the ceiling the limiter finally ran at
)


def build_report(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    up = inputs["upstream"]
    formats: dict[str, Any] = {}
    for fmt_name, f in spec.config["formats"].items():
        tracks = []
        for t in f["tracks"]:
            r = up["masters"].get(t["master"]) or {}
            tracks.append({"id": t["id"], "file": t["file"], **{k: r.get(k) for k in TRACK_KEYS}})
        album = up["albums"].get(fmt_name) or {}
        ceiling = f["true_peak_ceiling_db"]
        peaks = [t["true_peak_dbtp"] for t in tracks if t["true_peak_dbtp"] is not None]
        if f.get("cd"):
            pq = pq_rows(f["tracks"], [up["masters"].get(t["master"]) or {} for t in f["tracks"]])
        else:
            pq = None
        formats[fmt_name] = {
            **({"pq": pq} if pq is not None else {}),
            "codec": f["codec"],
            "album_lufs": album.get("album_lufs"),
            "target": f["loudness"],
            "true_peak_ceiling_db": ceiling,
            "ceiling_met": all(p <= ceiling for p in peaks),
            "tracks": tracks,
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
        "formats": formats,
    }
    json_path, html_path = (Path(t) for t in spec.targets)
    write_json_atomic(json_path, report)
    write_bytes_atomic(html_path, render_html(report).encode("utf-8"))
    return {"formats": sorted(formats)}


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


def _cell(value: Any) -> str:
    if value is None:
        return "&minus;&infin;"
    if isinstance(value, float):
        return f"{value:.2f}"
    return html.escape(str(value))


def render_html(report: dict[str, Any]) -> str:
    """A single self-contained page: album summary and one table per format."""
    a = report["album"]
    cols = (
        "file",
        "duration_s",
        "integrated_lufs",
        "lra_lu",
        "true_peak_dbtp",
        "sample_rate",
        "bit_depth",
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(a['title'])} — masterbuild report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child{text-align:left}.bad{color:#b00}</style></head><body>",
        f"<h1>{html.escape(a['title'])}</h1><p>{html.escape(a['artist'])} — "
        f"{a['duration_s']:.1f} s</p>",
    ]
    for name, f in report["formats"].items():
        status = "ceiling met" if f["ceiling_met"] else "<span class='bad'>CEILING EXCEEDED</span>"
        parts.append(
            f"<h2>{html.escape(name)} ({html.escape(f['codec'])})</h2><p>album "
            f"{_cell(f['album_lufs'])} LUFS, ceiling {f['true_peak_ceiling_db']} dBTP: {status}</p>"
        )
        parts.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>")
        for t in f["tracks"]:
            parts.append("<tr>" + "".join(f"<td>{_cell(t.get(c))}</td>" for c in cols) + "</tr>")
        parts.append("</table>")
        if f.get("pq"):
            pq_cols = ("track", "start", "length", "pause", "isrc")
            parts.append(
                "<h3>PQ sheet</h3><table><tr>" + "".join(f"<th>{c}</th>" for c in pq_cols) + "</tr>"
            )
            for row in f["pq"]:
                parts.append(
                    "<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in pq_cols) + "</tr>"
                )
            parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
