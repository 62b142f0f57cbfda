"""Session notes: what each build changed, appended to `<album>/NOTES.md`.

The `notes:<album>` task runs last (its task_dep is every other task of the plan). It
keeps a *snapshot* of the album in `.masterbuild/state/notes.json`:

    manifest   the parsed album.toml flattened to key paths, tracks keyed by id
               (`tracks[dawn].title`, `formats.cd.loudness.target_lufs`, `tracks`: the
               running order)
    sources    track id -> content digest of its source mix (from the render stamps)
    tasks      task name -> the inputs stamped by its last run
    masters    "<format>/<track>" -> measured integrated_lufs / true_peak_dbtp of the
               delivered master

The task's inputs are the fingerprint of the current snapshot, so a build that changed
nothing finds it up to date and runs nothing; a build that changed anything runs it
once every other task has succeeded, and it appends one entry describing the difference
from the saved snapshot. A failed build writes no entry: the next good build's entry
covers everything since the last one. A partial build (`--format`) keeps the saved
state of the formats it did not build, so their changes are noted when they are built.

Everything but `write_notes` (the action) and the snapshot readers is pure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from masterbuild.atomic import write_bytes_atomic, write_json_atomic
from masterbuild.state import canonical_json, diff_inputs, fingerprint, read_stamp

if TYPE_CHECKING:
    from masterbuild.manifest.load import LoadedAlbum
    from masterbuild.plan import TaskSpec

NOTES_VERSION = 1
NOTES_FILE = "NOTES.md"
SNAPSHOT_FILE = "notes.json"
MAX_REASONS = 3  # lines of "why" per group of tasks
MAX_MANIFEST_LINES = 30

# Kinds named per track (kind:album:track); the other one-part names are per format.
_TRACK_KINDS = {"render"}


# --- the notes task's spec (called by plan_album) ---------------------------------------


def notes_spec(
    album: LoadedAlbum,
    specs: list[TaskSpec],
    formats: list[str] | None,
    message: str | None = None,
) -> TaskSpec:
    """The `notes:<album>` task: after every task in `specs`, note what changed.

    The message and everything the snapshot is made of travel in `params`, not in the
    task's config, so neither enters any task's inputs: up-to-dateness is decided by the
    snapshot's fingerprint alone (masterbuild.inputs).
    """
    from masterbuild.plan import TaskSpec

    aid = album.album_id
    masters = {}
    for s in specs:
        if s.kind == "tag":
            _, _, fmt_name, track_id = s.name.split(":", 3)
            masters[f"{fmt_name}/{track_id}"] = s.params["master"]
        elif s.kind == "side":  # a vinyl side is delivered as it is made
            _, _, fmt_name, letter = s.name.split(":", 3)
            masters[f"{fmt_name}/side-{letter}"] = s.name
    return TaskSpec(
        name=f"notes:{aid}",
        kind="notes",
        album_id=aid,
        state_dir=str(album.state_dir / "state"),
        targets=(),
        task_dep=tuple(s.name for s in specs),
        config={"version": NOTES_VERSION},
        params={
            "manifest": flatten_manifest(
                tomllib.loads(album.manifest_path.read_text(encoding="utf-8"))
            ),
            "formats": None if formats is None else list(formats),
            "tasks": {s.name: list(s.task_dep) for s in specs},
            "renders": {s.name.split(":", 2)[2]: s.name for s in specs if s.kind == "render"},
            "masters": masters,
            "title": album.manifest.album.title,
            "album_dir": str(album.album_dir),
            "notes_file": str(album.album_dir / NOTES_FILE),
            "message": message or None,
        },
        doc="append what this build changed to NOTES.md",
    )


# --- the manifest, flattened ------------------------------------------------------------


def _plain(value: Any) -> Any:
    """TOML dates and times as ISO text, so the snapshot is JSON."""
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, v in value.items():
            _flatten(v, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            _flatten(v, f"{path}[{i}]", out)
    else:
        out[path] = _plain(value)


def flatten_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """Parsed album.toml -> {key path: value}; tracks keyed by id, `tracks` = running order.

    >>> flatten_manifest({"tracks": [{"id": "dawn", "title": "Dawn"}]})
    {'tracks': ['dawn'], 'tracks[dawn].title': 'Dawn'}
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "tracks" and isinstance(value, list):
            out["tracks"] = [str(t["id"]) for t in value]  # a loaded manifest has ids
            for track in value:
                rest = {k: v for k, v in track.items() if k != "id"}
                _flatten(rest, f"tracks[{track['id']}]", out)
        else:
            _flatten(value, key, out)
    return out


def _entity(key: str) -> str | None:
    """The track or format a key belongs to: `tracks[dawn]`, `formats.cd`; else None."""
    if key.startswith("tracks[") and "]" in key:
        return key[: key.index("]") + 1]
    parts = key.split(".")
    if parts[0] == "formats" and len(parts) > 1:
        return f"formats.{parts[1]}"
    return None


def _value(value: Any) -> str:
    text = canonical_json(value)
    return text if len(text) <= 60 else text[:57] + "..."


def diff_manifest(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Changed manifest keys as `key: old -> new`; a new or gone track/format is one line."""
    old_entities = {e for e in map(_entity, old) if e}
    new_entities = {e for e in map(_entity, new) if e}
    lines: list[str] = []
    shown: set[str] = set()
    old_order = [t for t in old.get("tracks", []) if t in new.get("tracks", [])]
    new_order = [t for t in new.get("tracks", []) if t in old.get("tracks", [])]
    if old_order != new_order:
        lines.append(
            "running order: " + ", ".join(old["tracks"]) + " -> " + ", ".join(new["tracks"])
        )
    for key in [*new, *(k for k in old if k not in new)]:
        if key == "tracks" or old.get(key, _MISSING) == new.get(key, _MISSING):
            continue
        entity = _entity(key)
        if entity and (entity not in old_entities or entity not in new_entities):
            if entity not in shown:
                shown.add(entity)
                lines.append(f"`{entity}`: " + ("added" if entity in new_entities else "removed"))
            continue
        a = _value(old[key]) if key in old else "(unset)"
        b = _value(new[key]) if key in new else "(unset)"
        lines.append(f"`{key}`: {a} -> {b}")
    return lines


_MISSING = object()


# --- snapshots --------------------------------------------------------------------------


def _figures(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {k: result.get(k) for k in ("integrated_lufs", "true_peak_dbtp")}


def snapshot_path(spec: TaskSpec) -> Path:
    return Path(spec.state_dir) / SNAPSHOT_FILE


def load_saved(spec: TaskSpec) -> dict[str, Any] | None:
    """The snapshot saved by the last notes run, or None (never, unreadable, other version)."""
    try:
        data = json.loads(snapshot_path(spec).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != NOTES_VERSION:
        return None
    snap = data.get("snapshot")
    return snap if isinstance(snap, dict) else None


def _other_format(key: str, selected: list[str]) -> bool:
    entity = _entity(key)
    return bool(entity and entity.startswith("formats.") and entity[8:] not in selected)


def take_snapshot(spec: TaskSpec, saved: dict[str, Any] | None) -> dict[str, Any]:
    """The album as the stamps describe it now (merged with `saved` on a partial build)."""
    from masterbuild.inputs import result_of

    p = spec.params
    state = Path(spec.state_dir)
    tasks: dict[str, Any] = {}
    for name in p["tasks"]:
        stamp = read_stamp(state, name)
        tasks[name] = None if stamp is None else stamp.get("inputs")
    sources = {
        track: ((tasks.get(name) or {}).get("files") or {}).get("source")
        for track, name in p["renders"].items()
    }
    masters = {key: _figures(result_of(spec, name)) for key, name in p["masters"].items()}
    manifest = dict(p["manifest"])
    selected = p["formats"]
    if selected is not None and saved is not None:
        # A partial build leaves the other formats as they were last noted.
        manifest = {k: v for k, v in manifest.items() if not _other_format(k, selected)}
        manifest.update({k: v for k, v in saved["manifest"].items() if _other_format(k, selected)})
        tasks = {**{k: v for k, v in saved["tasks"].items() if k not in tasks}, **tasks}
        masters = {**{k: v for k, v in saved["masters"].items() if k not in masters}, **masters}
    return {"manifest": manifest, "sources": sources, "tasks": tasks, "masters": masters}


def snapshot_fingerprint(spec: TaskSpec) -> str:
    """The notes task's only input: equal fingerprints -> nothing to note."""
    return fingerprint(take_snapshot(spec, load_saved(spec)))


# --- the entry --------------------------------------------------------------------------


def entry_time(now: dt.datetime | None = None) -> dt.datetime:
    """Local time now, or SOURCE_DATE_EPOCH (UTC) when set, for reproducible notes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
    return now or dt.datetime.now().astimezone()


def _scope_parts(name: str) -> list[str]:
    """'tag:album:cd:t1' -> ['cd', 't1']; 'report:album' -> []."""
    return name.split(":")[2:]


def _few(items: list[str], unit: str) -> str:
    if len(items) <= 3:
        return ", ".join(items)
    return f"{len(items)} {unit}s"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def describe_tasks(kind: str, names: list[str]) -> str:
    """'tag' + 16 names -> 'tag (4 formats × 4 tracks)'; 'report:a' -> 'report'."""
    parts = [_scope_parts(n) for n in names]
    if not parts or not parts[0]:
        return kind
    if all(len(p) == 2 for p in parts):
        fmts, tracks = _unique(p[0] for p in parts), _unique(p[1] for p in parts)
        if len(fmts) * len(tracks) == len(parts):
            return f"{kind} ({_few(fmts, 'format')} × {_few(tracks, 'track')})"
        return f"{kind} ({_few(['/'.join(p) for p in parts], 'task')})"
    unit = "track" if kind in _TRACK_KINDS else "format"
    return f"{kind} ({_few([':'.join(p) for p in parts], unit)})"


def _reasons(
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    deps: list[str],
    changed: set[str],
    root: str,
) -> dict[str, str]:
    """Why a task ran: {reason key: change}; upstream changes are one `after` key.

    `after` holds the kinds of the upstream tasks that changed ('render, gain'), so the
    masters of all tracks that followed a render or the album gain share one line.
    """
    if old is None:
        return {"new": ""}
    if root:  # paths inside the album as the engineer sees them: masters/cd/01 Dawn.wav
        old, new = _relative(old, root), _relative(new or {}, root)
    out: dict[str, str] = {}
    upstream = False
    for line in diff_inputs(old, new or {}):
        key, _, change = line.partition(": ")
        if key.startswith("upstream"):
            upstream = True
        elif key == "files.source":
            out["source mix (content)"] = ""
        else:
            out[key.removeprefix("config.")] = change
    if upstream:
        out["after"] = ", ".join(_unique(d.split(":")[0] for d in deps if d in changed))
    return out


def _relative(inputs: dict[str, Any], root: str) -> dict[str, Any]:
    """`inputs` with every occurrence of the album folder `root` cut from its strings."""
    escaped = json.dumps(root, ensure_ascii=False)[1:-1]
    return json.loads(canonical_json(inputs).replace(escaped, ""))


def _reason_text(key: str, changes: list[str]) -> str:
    if key == "after":
        kinds = _unique(k for c in changes for k in c.split(", ") if k)
        return "after " + ", ".join(kinds) if kinds else "upstream results changed"
    changes = [c for c in changes if c]
    if not changes:
        return key
    more = f" (+{len(changes) - 1} more)" if len(changes) > 1 else ""
    return f"{key}: {changes[0]}{more}"


def _ran_lines(
    old_tasks: dict[str, Any], new_tasks: dict[str, Any], deps: dict[str, list[str]], root: str
) -> tuple[list[str], set[str]]:
    """One line per (kind, set of reasons) of the tasks whose inputs changed."""
    changed = [n for n, inputs in new_tasks.items() if n in deps and old_tasks.get(n) != inputs]
    changed_set = set(changed)
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[str, dict[str, str]]]] = {}
    for name in changed:
        why = _reasons(old_tasks.get(name), new_tasks[name], deps[name], changed_set, root)
        groups.setdefault((name.split(":")[0], tuple(why)), []).append((name, why))
    lines = []
    for (kind, keys), members in groups.items():
        shown = [
            _reason_text(key, _unique(why[key] for _, why in members)) for key in keys[:MAX_REASONS]
        ]
        if len(keys) > MAX_REASONS:
            shown.append(f"(+{len(keys) - MAX_REASONS} more)")
        lines.append(describe_tasks(kind, [n for n, _ in members]) + ": " + "; ".join(shown))
    return lines, changed_set


def _figure_text(fig: dict[str, Any] | None) -> str:
    if fig is None:
        return "not measured"

    def num(v: float | None, unit: str) -> str:
        return f"-inf {unit}" if v is None else f"{v:.1f} {unit}"

    return f"{num(fig.get('integrated_lufs'), 'LUFS')} / {num(fig.get('true_peak_dbtp'), 'dBTP')}"


def make_entry(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    when: dt.datetime,
    *,
    deps: dict[str, list[str]],
    planned_masters: Iterable[str],
    formats: list[str] | None = None,
    message: str | None = None,
    root: str = "",
) -> str | None:
    """The Markdown entry for going from snapshot `old` to `new`; None if nothing to say.

    `deps` maps each planned task to its task_dep; `planned_masters` are the
    "<format>/<track>" keys of the masters this build delivers (whose figures are
    compared as shown, to 0.1 dB); `root` (the album folder + '/') is cut from paths in
    the reasons.
    """
    title = "build" if formats is None else "build --format " + " --format ".join(formats)
    lines = [f"## {when:%Y-%m-%d %H:%M} — {title}", ""]
    if message:
        lines += ["> " + line if line else ">" for line in message.strip().splitlines()]
        lines.append("")
    if old is None:
        tracks = new["manifest"].get("tracks", [])
        fmts = _unique(k.split("/")[0] for k in new["masters"])
        lines.append(
            f"- First build: {len(tracks)} track(s) ({', '.join(tracks)}), "
            f"{len(fmts)} format(s) ({', '.join(fmts)}); {len(deps)} tasks ran"
        )
        lines.append("- Masters:")
        lines += [f"  - {k}: {_figure_text(v)}" for k, v in new["masters"].items()]
        return "\n".join(lines) + "\n"

    manifest = diff_manifest(old["manifest"], new["manifest"])
    sources = []
    for track, digest in new["sources"].items():
        before = old["sources"].get(track)
        if track in old["sources"] and before != digest:
            sources.append(f"{track}: {(before or '?')[:12]} -> {(digest or '?')[:12]}")
    ran, changed = _ran_lines(old["tasks"], new["tasks"], deps, root)
    masters = []
    for key in planned_masters:
        fig, before = new["masters"].get(key), old["masters"].get(key)
        if key not in old["masters"]:
            masters.append(f"{key}: {_figure_text(fig)} (new)")
        elif _figure_text(fig) != _figure_text(before):  # as shown: 0.1 dB
            masters.append(f"{key}: {_figure_text(before)} -> {_figure_text(fig)}")
    if not (manifest or sources or ran or masters):
        if not message:
            return None
        lines.append("- No changes")
        return "\n".join(lines) + "\n"
    if manifest:
        lines.append("- Manifest:")
        lines += [f"  - {line}" for line in manifest[:MAX_MANIFEST_LINES]]
        if len(manifest) > MAX_MANIFEST_LINES:
            lines.append(f"  - (+{len(manifest) - MAX_MANIFEST_LINES} more keys)")
    if sources:
        lines.append("- Sources (content):")
        lines += [f"  - {line}" for line in sources]
    if ran:
        lines.append(f"- Ran {len(changed)} task(s):")
        lines += [f"  - {line}" for line in ran]
    if masters:
        lines.append("- Masters (integrated / true peak):")
        lines += [f"  - {line}" for line in masters]
    elif ran:
        lines.append("- Masters: no figures changed")
    return "\n".join(lines) + "\n"


def append_entry(notes_file: Path, album_title: str, entry: str) -> None:
    """Append to NOTES.md atomically; a missing file starts afresh (history is not redone)."""
    try:
        text = notes_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = f"# Session notes — {album_title}\n"
    if not text.endswith("\n"):
        text += "\n"
    write_bytes_atomic(notes_file, (text + "\n" + entry).encode("utf-8"))


# --- the action -------------------------------------------------------------------------


def write_notes(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Action of `notes:<album>`: append the entry (if any), then save the snapshot."""
    p = spec.params
    saved = load_saved(spec)
    snap = take_snapshot(spec, saved)
    entry = make_entry(
        saved,
        snap,
        entry_time(),
        deps=p["tasks"],
        planned_masters=p["masters"],
        formats=p["formats"],
        message=p.get("message"),
        root=p["album_dir"] + os.sep,
    )
    if entry is not None:
        append_entry(Path(p["notes_file"]), p["title"], entry)
    # Notes first, snapshot second: a crash in between repeats an entry, never loses one.
    write_json_atomic(
        snapshot_path(spec),
        {"version": NOTES_VERSION, "snapshot": snap, "fingerprint": fingerprint(snap)},
    )
    return {"entry": entry.splitlines()[0] if entry else None}


__all__ = [
    "diff_manifest",
    "flatten_manifest",
    "make_entry",
    "notes_spec",
    "snapshot_fingerprint",
    "take_snapshot",
    "write_notes",
]
