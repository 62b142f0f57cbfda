"""Build state: content digests of sources and one stamp per finished task.

A stamp records the *inputs* a task was built from (a JSON object: the manifest slice,
stage versions, source digests, upstream results) and the *result* it produced. A task
is up to date when its targets exist and its current inputs equal the stamped ones.
The state lives in the album's `.masterbuild/state/`, not in doit's dependency file, so
`doit` at the root and `masterbuild build` see the same state whatever doit file they
use, and `masterbuild status` can say exactly which input changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from masterbuild.atomic import write_json_atomic

STATE_VERSION = 1
_HASH_CHUNK = 1 << 20


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(inputs).encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    """blake2b of the file's bytes (hex)."""
    h = hashlib.blake2b(digest_size=20)
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def stamp_path(state_dir: Path, task_name: str) -> Path:
    return state_dir / "tasks" / (task_name.replace(":", "~") + ".json")


def read_stamp(state_dir: Path, task_name: str) -> dict[str, Any] | None:
    """The stamp of `task_name`, or None if absent, unreadable or of another version."""
    try:
        data = json.loads(stamp_path(state_dir, task_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return None
    return data


def write_stamp(
    state_dir: Path, task_name: str, inputs: dict[str, Any], result: dict[str, Any]
) -> None:
    write_json_atomic(
        stamp_path(state_dir, task_name),
        {"version": STATE_VERSION, "task": task_name, "inputs": inputs, "result": result},
    )


def remove_stamp(state_dir: Path, task_name: str) -> None:
    stamp_path(state_dir, task_name).unlink(missing_ok=True)


def cached_digest(state_dir: Path, path: Path) -> str:
    """Content digest of `path`, re-hashed only when its size, mtime or inode changed."""
    st = path.stat()
    key = [st.st_size, st.st_mtime_ns, st.st_ino]
    entry = state_dir / "digests" / (hashlib.sha1(str(path).encode()).hexdigest() + ".json")
    try:
        saved = json.loads(entry.read_text(encoding="utf-8"))
        if saved.get("path") == str(path) and saved.get("stat") == key:
            return str(saved["digest"])
    except (OSError, ValueError, AttributeError):
        pass
    digest = file_digest(path)
    # Cache only files that have settled: a file modified this very second may still
    # change within the same mtime tick.
    if abs(st.st_mtime - time.time()) > 1.0:
        write_json_atomic(entry, {"path": str(path), "stat": key, "digest": digest})
    return digest


def diff_inputs(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable list of changed keys: 'chain[0].freq_hz: 25 -> 30'."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        where = f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}" if prefix else key
        a, b = old.get(key, "<none>"), new.get(key, "<none>")
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(diff_inputs(a, b, where))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            out.extend(diff_inputs(_indexed(a), _indexed(b), where))
        else:
            out.append(f"{where}: {_short(a)} -> {_short(b)}")
    return out


def _indexed(items: list[Any]) -> dict[str, Any]:
    return {f"[{i}]": v for i, v in enumerate(items)}


def _short(value: Any) -> str:
    text = canonical_json(value)
    return text if len(text) <= 60 else text[:57] + "..."
