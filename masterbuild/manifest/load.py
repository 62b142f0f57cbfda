"""Reading a manifest from disk: TOML -> schema dispatch -> models -> checks on disk.

Every problem is reported as ``path: location: message``; `load_album` raises
ManifestErrors holding all of them, so `masterbuild validate` lists everything at once.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from masterbuild.errors import ManifestErrors, MasterbuildError
from masterbuild.manifest.models import SCHEMA_VERSION, STAGE_KINDS, Manifest, Track

MANIFEST_NAME = "album.toml"
SUPPORTED_CHANNELS = (1, 2)


@dataclass(frozen=True)
class SourceInfo:
    """What the header of a source mix says."""

    sample_rate_hz: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz


@dataclass(frozen=True)
class LoadedAlbum:
    """A validated manifest with its paths resolved against the album folder."""

    album_id: str
    album_dir: Path
    manifest_path: Path
    manifest: Manifest
    sources: dict[str, Path]  # track id -> absolute source path
    source_info: dict[str, SourceInfo]
    cover: Path | None

    @property
    def masters_dir(self) -> Path:
        return self.album_dir / "masters"

    @property
    def state_dir(self) -> Path:
        return self.album_dir / ".masterbuild"

    def track(self, track_id: str) -> Track:
        return next(t for t in self.manifest.tracks if t.id == track_id)


def find_manifest(path: str | Path) -> Path:
    """Accept an album folder or its album.toml and return the manifest path."""
    p = Path(path)
    candidate = p / MANIFEST_NAME if p.is_dir() else p
    if not candidate.is_file():
        raise MasterbuildError(
            p, "-", f"no {MANIFEST_NAME} here: give an album folder or its {MANIFEST_NAME}"
        )
    return candidate


def _display(path: Path) -> str:
    """Paths in messages are relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def format_location(loc: tuple[Any, ...]) -> str:
    """('tracks', 3, 'isrc') -> 'tracks[3].isrc'; drops pydantic's union tags."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_union_tag(loc, i):
            pass  # pydantic adds the `kind` of a discriminated stage: not a key
        elif not _PLAIN_KEY.match(str(part)):
            out += f"[{_quoted_key(str(part))}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "-"


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _quoted_key(key: str) -> str:
    """An unusual key in double quotes, with quotes, colons and unprintable characters
    escaped: a location is one line without `: `, so `path: location: message` stays
    one line that a tool can split."""
    body = "".join(c if c.isprintable() and c not in '"\\:' else f"\\u{ord(c):04x}" for c in key)
    return f'"{body}"'


def _is_union_tag(loc: tuple[Any, ...], i: int) -> bool:
    """A stage kind right after `chain[<n>]` is the union tag pydantic inserts."""
    return (
        i >= 2 and loc[i - 2] == "chain" and isinstance(loc[i - 1], int) and loc[i] in STAGE_KINDS
    )


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key: check its spelling against `masterbuild schema`"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        return f"unknown stage kind {err['input'].get('kind')!r}: see `masterbuild schema`"
    if kind == "union_tag_not_found":
        return "a stage needs `kind`: one of " + ", ".join(sorted(STAGE_KINDS))
    if kind == "finite_number":
        return "must be a finite number, not inf or nan"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def parse_manifest(text: str, path: Path) -> Manifest:
    """TOML text -> Manifest, dispatching on `schema` for future migrations."""
    shown = _display(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MasterbuildError(shown, "-", f"not valid TOML: {exc}") from None
    version = data.get("schema")
    if version is None:
        raise MasterbuildError(shown, "schema", f"missing: add `schema = {SCHEMA_VERSION}`")
    if type(version) is not int or version != SCHEMA_VERSION:  # true == 1.0 == 1 in Python
        raise MasterbuildError(
            shown, "schema", f"schema {version!r} is not known: this masterbuild reads schema 1"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = [
            MasterbuildError(shown, format_location(tuple(e["loc"])), _message(e))
            for e in exc.errors()
        ]
        raise ManifestErrors(problems) from None


def _inside(album_dir: Path, rel: str) -> Path | None:
    """Resolve `rel` against the album folder; None if it escapes it (symlinks too)."""
    if Path(rel).is_absolute():
        return None
    try:
        resolved = (album_dir / rel).resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError): left to the file check
        resolved = Path(os.path.abspath(album_dir / rel))
    try:
        resolved.relative_to(album_dir.resolve())
    except ValueError:
        return None
    return resolved


def _not_a_file(path: Path) -> str | None:
    """None if `path` is a regular file, else what it is instead (never raises)."""
    try:
        if path.is_file():
            return None
        return "is a folder, not a file" if path.is_dir() else "does not exist"
    except OSError as exc:  # a name too long for the file system, a symlink loop
        return f"cannot be opened ({exc.strerror})"


def probe_source(path: Path) -> SourceInfo:
    """Read a source's header and its last frames; raise ValueError on anything unusable."""
    import soundfile as sf  # heavy import kept out of `masterbuild schema`

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise ValueError(f"not audio that libsndfile can read ({_sf_reason(exc)})") from None
    if "(should be" in info.extra_info and info.format in ("WAV", "WAVEX", "RF64", "AIFF"):
        raise ValueError("truncated: the header promises more audio than the file holds")
    if info.frames <= 0:
        raise ValueError("holds no audio (0 frames): point it at the exported mix")
    try:  # decoding the tail catches truncated compressed files cheaply
        with sf.SoundFile(str(path)) as f:
            f.seek(max(0, info.frames - 4096))
            f.read(4096)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise ValueError(f"damaged or truncated audio ({_sf_reason(exc)})") from None
    return SourceInfo(info.samplerate, info.channels, info.frames)


def _sf_reason(exc: Exception) -> str:
    return str(exc).split(": ", 1)[-1].strip() or type(exc).__name__


def album_id_for(manifest_path: Path) -> str:
    return manifest_path.resolve().parent.name


def load_album(path: str | Path, check_sources: bool = True) -> LoadedAlbum:
    """Load, validate and resolve an album. Raises ManifestErrors listing every problem."""
    manifest_path = find_manifest(path)
    shown = _display(manifest_path)
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MasterbuildError(shown, "-", "not UTF-8 text: save the manifest as UTF-8") from None
    except OSError as exc:
        raise MasterbuildError(shown, "-", f"cannot be read ({exc.strerror})") from None
    if text.startswith("\ufeff"):  # TOML has no BOM; tomllib's message would be a riddle
        raise MasterbuildError(
            shown, "-", "starts with a byte-order mark: save the manifest as UTF-8 without BOM"
        )
    manifest = parse_manifest(text, manifest_path)
    album_dir = manifest_path.resolve().parent
    problems: list[MasterbuildError] = []

    def problem(loc: str, msg: str) -> None:
        problems.append(MasterbuildError(shown, loc, msg))

    seen: dict[str, int] = {}
    for i, track in enumerate(manifest.tracks):
        if track.id in seen:
            problem(f"tracks[{i}].id", f"{track.id!r} is already used by tracks[{seen[track.id]}]")
        seen.setdefault(track.id, i)

    for i, track in enumerate(manifest.tracks):
        if track.hidden and (i > 0 or len(manifest.tracks) < 2):
            problem(
                f"tracks[{i}].hidden",
                "only the first of two or more tracks can hide in track 1's pregap",
            )
    if manifest.tracks[0].crossfade_s > 0:
        problem("tracks[0].crossfade_s", "the first track has nothing to crossfade with: set 0")

    for name, fmt in manifest.formats.items():
        placed: dict[str, int] = {}
        for n, side in enumerate(fmt.sides or []):
            for k, tid in enumerate(side):
                loc = f"formats.{name}.sides[{n}][{k}]"
                if tid not in seen:
                    problem(loc, f"no track with id {tid!r}: use the ids of [[tracks]]")
                elif tid in placed:
                    problem(loc, f"{tid!r} is already on side {chr(65 + placed[tid])}")
                placed.setdefault(tid, n)

    isrcs: dict[str, int] = {}
    for i, track in enumerate(manifest.tracks):
        if track.isrc and track.isrc in isrcs:
            problem(
                f"tracks[{i}].isrc", f"{track.isrc} is already used by tracks[{isrcs[track.isrc]}]"
            )
        if track.isrc:
            isrcs.setdefault(track.isrc, i)

    sources: dict[str, Path] = {}
    infos: dict[str, SourceInfo] = {}
    for i, track in enumerate(manifest.tracks):
        loc = f"tracks[{i}].source"
        resolved = _inside(album_dir, track.source)
        if resolved is None:
            problem(loc, f"{track.source!r} leaves the album folder: keep mixes inside it")
            continue
        sources[track.id] = resolved
        if not check_sources:
            continue
        missing = _not_a_file(resolved)
        if missing:
            problem(loc, f"{track.source!r} {missing}: check the path (relative to album.toml)")
            continue
        try:
            info = probe_source(resolved)
        except ValueError as exc:
            problem(
                loc,
                f"{track.source!r} is {exc}"
                if str(exc).startswith("not")
                else f"{track.source!r}: {exc}",
            )
            continue
        if info.channels not in SUPPORTED_CHANNELS:
            problem(
                loc,
                f"{track.source!r} has {info.channels} channels: masterbuild masters mono or "
                "stereo mixes; export a stereo mix (no channel plan for surround yet)",
            )
            continue
        infos[track.id] = info
        problems.extend(_check_track_against_source(shown, i, track, info))

    cover = None
    if manifest.album.cover is not None:
        cover = _check_cover(album_dir, manifest.album.cover, problem)

    if problems:
        raise ManifestErrors(problems)
    return LoadedAlbum(
        album_id=album_id_for(manifest_path),
        album_dir=album_dir,
        manifest_path=manifest_path,
        manifest=manifest,
        sources=sources,
        source_info=infos,
        cover=cover,
    )


def _check_track_against_source(
    shown: str, i: int, track: Track, info: SourceInfo
) -> list[MasterbuildError]:
    out = []
    kept_s = info.duration_s - track.trim.start_s - track.trim.end_s
    if track.trim.auto_threshold_db is not None:
        return out  # the silence is found when rendering; the render checks what is left
    if kept_s <= 0:
        out.append(
            MasterbuildError(
                shown,
                f"tracks[{i}].trim",
                f"trims {track.trim.start_s + track.trim.end_s:g} s from a "
                f"{info.duration_s:.3f} s source: nothing would be left",
            )
        )
    elif track.fade.in_s + track.fade.out_s > kept_s:
        out.append(
            MasterbuildError(
                shown,
                f"tracks[{i}].fade",
                f"fades of {track.fade.in_s + track.fade.out_s:g} s are longer than the "
                f"{kept_s:.3f} s left after trimming",
            )
        )
    return out


_IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
MAX_COVER_BYTES = 20 * 1024 * 1024


def cover_mime(data: bytes) -> str | None:
    return next((m for magic, m in _IMAGE_MAGIC.items() if data.startswith(magic)), None)


def _check_cover(album_dir: Path, rel: str, problem: Any) -> Path | None:
    resolved = _inside(album_dir, rel)
    if resolved is None:
        problem("album.cover", f"{rel!r} leaves the album folder: keep the cover inside it")
        return None
    missing = _not_a_file(resolved)
    if missing:
        problem("album.cover", f"{rel!r} {missing}")
        return None
    if resolved.stat().st_size > MAX_COVER_BYTES:
        problem(
            "album.cover",
            f"{rel!r} is {resolved.stat().st_size / 2**20:.1f} MiB, over the "
            f"{MAX_COVER_BYTES // 2**20} MiB limit: players and stores reject such art",
        )
        return None
    with resolved.open("rb") as f:
        head = f.read(16)
    if cover_mime(head) is None:
        problem("album.cover", f"{rel!r} is not a PNG or JPEG image")
        return None
    return resolved
