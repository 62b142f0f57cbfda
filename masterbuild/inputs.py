"""The full inputs of a task at the moment it is checked or run.

inputs = {config: the plan's static slice, files: content digests, upstream: the part of
upstream results this task's output depends on}. Equal inputs -> equal output, so a task
whose stamped inputs equal its current inputs (and whose targets exist) is up to date.
Upstream results, not upstream fingerprints, enter: a re-render that gives the same
audio, or an album gain that rounds to the same 0.1 dB, stops there ("early cutoff").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from masterbuild.plan import TaskSpec
from masterbuild.state import cached_digest, read_stamp

# Result keys of a master that its tag, playlist and report depend on.
_MASTER_VIEW = ("digest", "integrated_lufs", "true_peak_dbtp", "duration_s")


def result_of(spec: TaskSpec, task_name: str) -> dict[str, Any] | None:
    """A task's stamped result; 'task#key' is one track's entry in a programme's result."""
    name, _, key = task_name.partition("#")
    stamp = read_stamp(Path(spec.state_dir), name)
    result = None if stamp is None else stamp.get("result")
    if result is not None and key:
        return result.get("tracks", {}).get(key)
    return result


def _pick(result: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if result is None:
        return None
    return {k: result.get(k) for k in keys}


def upstream_view(spec: TaskSpec) -> dict[str, Any]:
    """What of the upstream results this task depends on, by task kind."""
    p, c = spec.params, spec.config
    if spec.kind == "gain":
        keys = ("digest", "true_peak_dbtp")
        return {"renders": {n: _pick(result_of(spec, n), keys) for n in c["tracks"]}}
    if spec.kind == "master":
        view: dict[str, Any] = {
            "render": _pick(
                result_of(spec, p["render"]), ("digest", "integrated_lufs", "true_peak_dbtp")
            )
        }
        if p.get("gain"):
            view["album_gain"] = _pick(result_of(spec, p["gain"]), ("album_gain_db",))
        return view
    if spec.kind == "programme":
        names = [t["master"] for t in c["tracks"]]
        return {"masters": {n: _pick(result_of(spec, n), ("digest",)) for n in names}}
    if spec.kind == "side":
        names = [t["master"] for t in c["tracks"]]
        return {"masters": {n: _pick(result_of(spec, n), ("digest",)) for n in names}}
    if spec.kind == "sheet":
        return {"side": _pick(result_of(spec, c["side_task"]), ("tracks", "side_length_s"))}
    if spec.kind == "loudness":
        return {"masters": {n: _pick(result_of(spec, n), ("digest",)) for n in c["tracks"]}}
    if spec.kind == "tag":
        return {
            "master": _pick(result_of(spec, p["master"]), _MASTER_VIEW),
            "album": _pick(result_of(spec, p["loudness"]), ("album_lufs", "album_peak")),
        }
    if spec.kind == "playlist":
        return {"masters": [_pick(result_of(spec, n), ("duration_s",)) for n in c["masters"]]}
    if spec.kind == "qc":
        keys = ("digest", "duration_s", "integrated_lufs", "true_peak_dbtp", "max_short_term_lufs")
        return {
            "masters": {t["master"]: _pick(result_of(spec, t["master"]), keys) for t in c["tracks"]}
        }
    if spec.kind == "report":
        masters = {}
        albums = {}
        tags = {}
        qc = {}
        for fmt_name, f in c["formats"].items():
            albums[fmt_name] = result_of(spec, f["loudness_task"]) if f["loudness_task"] else None
            qc[fmt_name] = result_of(spec, f["qc_task"]) if f.get("qc_task") else None
            if f.get("programme_task"):
                programme = _pick(result_of(spec, f["programme_task"]), ("total_frames",))
                albums[fmt_name] = {**(albums[fmt_name] or {}), "programme": programme}
            for t in f["tracks"]:
                masters[t["master"]] = result_of(spec, t["master"])
                if t["tag"]:
                    tags[t["tag"]] = _pick(result_of(spec, t["tag"]), ("bytes",))
        renders = [_pick(result_of(spec, n), ("frames", "sample_rate_hz")) for n in c["renders"]]
        return {"masters": masters, "albums": albums, "renders": renders, "tags": tags, "qc": qc}
    if spec.kind == "notes":
        from masterbuild.notebook import snapshot_fingerprint  # notebook imports this module

        return {"snapshot": snapshot_fingerprint(spec)}
    return {}


def current_inputs(spec: TaskSpec) -> dict[str, Any]:
    inputs: dict[str, Any] = {"config": spec.config}
    if spec.files:
        state = Path(spec.state_dir)
        digests = {}
        for label, path in spec.files.items():
            try:
                digests[label] = cached_digest(state, Path(path))
            except OSError:
                digests[label] = None  # missing: the action reports it
        inputs["files"] = digests
    view = upstream_view(spec)
    if view:
        inputs["upstream"] = view
    return inputs
