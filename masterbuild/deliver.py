"""Delivery actions: tagged files and playlists in masters/, and pruning what is gone.

Tags are written to a temp copy of the cached master, which is then renamed into
place: a finished master is never modified in place.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from masterbuild.atomic import commit_temp, copy_atomic, write_bytes_atomic
from masterbuild.errors import MasterbuildError
from masterbuild.manifest.load import cover_mime
from masterbuild.plan import TaskSpec
from masterbuild.state import read_stamp, remove_stamp, stamp_path
from masterbuild.tags import Cover, TagSet, write_tags


def _cover(spec: TaskSpec) -> Cover | None:
    path = spec.files.get("cover")
    if not path:
        return None
    data = Path(path).read_bytes()
    mime = cover_mime(data)
    if mime is None:
        raise MasterbuildError(path, "-", "cover is not a PNG or JPEG image")
    return Cover(data=data, mime=mime)


def tag_master(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Copy the cached master beside its final name, tag the copy, rename it into place."""
    up = inputs["upstream"]
    master, album = up["master"], up["album"] or {}
    if master is None:
        raise MasterbuildError(spec.name, "-", "its master has no result: run the full build")
    peak = master["true_peak_dbtp"]
    tags = TagSet(
        **spec.config["tags"],
        cover=_cover(spec),
        track_lufs=master["integrated_lufs"],
        track_peak=None if peak is None else round(10 ** (peak / 20), 6),
        album_lufs=album.get("album_lufs"),
        album_peak=album.get("album_peak"),
    )
    final = Path(spec.targets[0])
    tmp = copy_atomic(Path(spec.params["cached"]), final)
    try:
        write_tags(tmp, spec.config["codec"], tags)
        commit_temp(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"file": spec.config["file"], "bytes": final.stat().st_size}


def write_playlist(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Extended M3U (UTF-8) with relative paths, in running order."""
    lines = ["#EXTM3U"]
    for entry, master in zip(spec.config["entries"], inputs["upstream"]["masters"], strict=True):
        seconds = round((master or {}).get("duration_s") or 0)
        lines.append(f"#EXTINF:{seconds},{entry['artist']} - {entry['title']}")
        lines.append(entry["file"])
    write_bytes_atomic(Path(spec.targets[0]), ("\n".join(lines) + "\n").encode("utf-8"))
    return {"entries": len(spec.config["entries"])}


def _remove_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            d.rmdir()


def prune(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Remove deliverables, stamps and cache of tracks/formats no longer declared.

    Only files this album's builds recorded as deliverables are removed from masters/,
    never anything a person put there.
    """
    state = Path(spec.state_dir)
    expected = set(spec.config["deliverables"])
    previous = read_stamp(state, spec.name)
    recorded = set(previous["result"]["deliverables"]) if previous else set()
    # Deliverables stamped by tag tasks that are no longer planned are ours too.
    planned = set(spec.config["tasks"])
    tasks_dir = stamp_path(state, "x").parent
    removed_tasks = []
    for stamp_file in sorted(tasks_dir.glob("*.json")) if tasks_dir.is_dir() else []:
        name = stamp_file.stem.replace("~", ":")
        if name in planned or name == spec.name:
            continue
        old = read_stamp(state, name)
        if old and old.get("result", {}).get("file"):
            recorded.add(str(Path(spec.params["masters_dir"]) / old["result"]["file"]))
        remove_stamp(state, name)
        removed_tasks.append(name)
    removed = []
    for path in sorted(recorded - expected):
        p = Path(path)
        if p.is_file():
            os.unlink(p)
            removed.append(path)
    _remove_stale_cache(Path(spec.params["cache_dir"]), planned, spec.album_id)
    _remove_empty_dirs(Path(spec.params["masters_dir"]))
    return {"deliverables": sorted(expected), "removed": removed, "removed_tasks": removed_tasks}


def _remove_stale_cache(cache: Path, planned: set[str], album_id: str) -> None:
    """Drop cached intermediates/masters whose render/master task is no longer planned."""
    for f in sorted(cache.glob("render/*")):
        track = f.name.split(".")[0]
        if f"render:{album_id}:{track}" not in planned:
            f.unlink(missing_ok=True)
    for f in sorted(cache.glob("master/*/*")):
        track = f.name.split(".")[0]
        if f"master:{album_id}:{f.parent.name}:{track}" not in planned:
            f.unlink(missing_ok=True)
    for f in sorted(cache.glob("qc/*/*.png")):
        if f"qc:{album_id}:{f.parent.name}" not in planned:
            f.unlink(missing_ok=True)
    _remove_empty_dirs(cache)


__all__ = ["prune", "tag_master", "write_playlist"]
