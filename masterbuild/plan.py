"""Album -> task specs. Pure: no doit, no audio, no writes.

The graph for one album (names as doit shows them):

    render:<album>:<track>              source -> chain -> cached float intermediate
    gain:<album>:<format>               album-mode loudness gain (0.1 dB steps)
    master:<album>:<format>:<track>     loudness gain, SRC, peak-safe level, dither, encode
    loudness:<album>:<format>           album loudness/peak of the delivered masters
    tag:<album>:<format>:<track>        tagged deliverable in masters/<format>/
    playlist:<album>:<format>           masters/<format>/playlist.m3u8
    report:<album>                      masters/report.json + report.html
    prune:<album>                       removes deliverables no longer declared

Each spec carries the *static* inputs of its task (`config`: the manifest slice and
version numbers) and the files whose content counts (`files`); the results of upstream
tasks are added when the task is checked (see masterbuild.inputs). Track tasks are keyed
by track id, not position, so reordering re-tags and renames but never re-renders.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from masterbuild.dsp.versions import STAGE_VERSIONS
from masterbuild.errors import ManifestErrors, MasterbuildError
from masterbuild.manifest.load import LoadedAlbum, _display
from masterbuild.manifest.models import Format, Track

RENDER_VERSION = 4  # 2: the meter's Kaiser-sinc true peak; 3: limiter profile; 4: folded taps
# 2: limiter; 3: 32-tap filter; 4: the ceiling wins; 5: QC analysis; 6: track gain solved
# through the limiter before encoding, lossy headroom; 7: ... with the limiter model;
# 8: FLAC masters measured as stored, in the encoding pass (their MD5 checked);
# 9: true peaks read through folded taps (rounding only)
MASTER_VERSION = 9
PROGRAMME_VERSION = 3  # 2: QC analysis of the cuts; 3: folded true-peak taps
# 2: solved through the limiter; 3: limiter/meter v2; 4: lossy headroom; 5: limiter model
GAIN_VERSION = 5
TAG_VERSION = 1
QC_VERSION = 4  # 2: spectrum smoothed to 1/6 octave; 3: float32 Welch; 4: faster PNGs
SIDE_VERSION = 2  # 2: the sheet is its own task
REPORT_VERSION = 2  # 2: QC figures, compliance, plots
QC_PLOTS = ("loudness", "waveform", "profile", "spectrum")

# Lossy codecs overshoot on decode (the encoder's filters ring): their limiter starts this
# far under the ceiling, so the first encode usually passes the post-encode check (an
# overshoot costs a second encode). Measured by bench/bench_lossy_headroom.py, decoded
# true peak over the limiter's ceiling at -14 and -10 LUFS, largest of 24 cases: MP3 320k
# +0.26 dB (+0.33 on the album benchmark's tracks), Vorbis q6 +0.45, Opus 160k +0.70.
LOSSY_HEADROOM_DB = {"mp3": 0.4, "ogg": 0.5, "opus": 0.8}

EXTENSIONS = {
    "wav": "wav",
    "flac": "flac",
    "aiff": "aiff",
    "mp3": "mp3",
    "ogg": "ogg",
    "opus": "opus",
}
# NAME_MAX is 255 bytes; the temp file beside it adds ".", ".<pid>" and ".partial".
MAX_NAME_BYTES = 255 - len(".") - len(".4194304") - len(".partial")
NAME_FIELDS = ("n", "N", "title", "artist", "album", "id", "isrc", "disc")
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]')


@dataclass(frozen=True)
class TaskSpec:
    """Everything a task needs, in plain data (picklable for parallel builds)."""

    name: str
    kind: str
    album_id: str
    state_dir: str
    targets: tuple[str, ...]
    task_dep: tuple[str, ...]
    config: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    doc: str = ""


def _stage_dicts(chain: list[Any]) -> list[dict[str, Any]]:
    out = []
    for stage in chain:
        d = stage.model_dump(mode="json")
        d["version"] = STAGE_VERSIONS[d["kind"]]
        out.append(d)
    return out


def effective_chain(album: LoadedAlbum, track: Track) -> list[dict[str, Any]]:
    chain = track.chain if track.chain is not None else album.manifest.master.chain
    return _stage_dicts(chain)


def safe_file_name(name: str) -> str:
    """Make a template result usable as a file name on every OS."""
    cleaned = _UNSAFE.sub("_", name).strip().strip(".")
    return cleaned


def delivered_tracks(album: LoadedAlbum, fmt: Format) -> list[Track]:
    """The tracks a format delivers as files: on a CD a hidden track is no track."""
    return [t for t in album.manifest.tracks if not (fmt.is_cd and t.hidden)]


def deliverable_names(album: LoadedAlbum, fmt_name: str, fmt: Format) -> dict[str, str]:
    """Track id -> file name (with extension) inside masters/<format>/."""
    m = album.manifest
    tracks = delivered_tracks(album, fmt)
    shown = _display(album.manifest_path)
    loc = f"formats.{fmt_name}.name"
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(fmt.name) if f is not None}
    except ValueError as exc:
        raise MasterbuildError(shown, loc, f"bad template {fmt.name!r}: {exc}") from None
    unknown = {f.split(".")[0].split("[")[0] for f in fields} - set(NAME_FIELDS)
    if unknown:
        raise MasterbuildError(
            shown, loc, f"unknown field {{{sorted(unknown)[0]}}}: use " + ", ".join(NAME_FIELDS)
        )
    names: dict[str, str] = {}
    used: dict[str, str] = {}
    for n, track in enumerate(tracks, start=1):
        values = {
            "n": n,
            "N": len(tracks),
            "title": track.title,
            "artist": track.artist or m.album.artist,
            "album": m.album.title,
            "id": track.id,
            "isrc": track.isrc or "",
            "disc": m.album.disc_number,
        }
        try:
            stem = safe_file_name(fmt.name.format(**values))
        except (ValueError, KeyError, IndexError) as exc:
            raise MasterbuildError(shown, loc, f"bad template {fmt.name!r}: {exc}") from None
        if not stem:
            raise MasterbuildError(shown, loc, f"gives an empty file name for track {track.id!r}")
        file_name = f"{stem}.{EXTENSIONS[fmt.codec]}"
        size = len(file_name.encode("utf-8"))
        if size > MAX_NAME_BYTES:
            raise MasterbuildError(
                shown,
                loc,
                f"gives track {track.id!r} a file name of {size} bytes; file systems allow "
                f"255 and its temp name needs room, so at most {MAX_NAME_BYTES}: the title "
                "is too long for a file name, shorten it or leave {title} out of the template",
            )
        if file_name.lower() in used:
            raise MasterbuildError(
                shown,
                loc,
                f"tracks {used[file_name.lower()]!r} and {track.id!r} would both be written to "
                f"{file_name!r}: put {{n}} or {{id}} in the template",
            )
        used[file_name.lower()] = track.id
        names[track.id] = file_name
    return names


def _format_config(fmt: Format) -> dict[str, Any]:
    """The part of a format that changes the audio (not the file name)."""
    return {
        "codec": fmt.codec,
        "sample_rate": fmt.sample_rate,
        "bit_depth": fmt.pcm_bit_depth,
        "dither": fmt.effective_dither,
        "loudness": fmt.loudness.model_dump(mode="json"),
        "true_peak_ceiling_db": fmt.true_peak_ceiling_db,
        "limiter": fmt.limiter,
        "limiter_ceiling_db": round(
            fmt.true_peak_ceiling_db - LOSSY_HEADROOM_DB.get(fmt.codec, 0.0), 2
        ),
        "bitrate_kbps": fmt.bitrate_kbps,
        "quality": fmt.quality,
    }


def _tag_fields(album: LoadedAlbum, track: Track, n: int, total: int) -> dict[str, Any]:
    a = album.manifest.album
    return {
        "title": track.title,
        "artist": track.artist or a.artist,
        "album": a.title,
        "album_artist": a.artist,
        "track_number": n,
        "track_total": total,
        "disc_number": a.disc_number,
        "disc_total": a.disc_total,
        "date": a.date,
        "genre": a.genre,
        "composer": track.composer,
        "isrc": track.isrc,
        "label": a.label,
        "catalog": a.catalog,
        "barcode": a.upc,
        "copyright": a.copyright,
    }


def plan_album(
    album: LoadedAlbum, formats: list[str] | None = None, message: str | None = None
) -> list[TaskSpec]:
    """All task specs of one album in dependency order.

    `formats` limits the per-format tasks to those names (None: every format); the
    album-wide report and prune tasks are left out of a partial build. The last task,
    `notes:<album>`, notes what the build changed in NOTES.md, with `message` if given
    (see masterbuild.notebook).
    """
    m = album.manifest
    aid = album.album_id
    state = str(album.state_dir / "state")
    cache = album.state_dir / "cache"
    masters = album.masters_dir
    selected = list(m.formats) if formats is None else formats
    unknown = [f for f in selected if f not in m.formats]
    if unknown:
        raise MasterbuildError(
            _display(album.manifest_path),
            "formats",
            f"no format named {unknown[0]!r}: declared are " + ", ".join(m.formats),
        )
    specs: list[TaskSpec] = []
    render_name = {t.id: f"render:{aid}:{t.id}" for t in m.tracks}

    for track in m.tracks:
        info = album.source_info[track.id]
        specs.append(
            TaskSpec(
                name=render_name[track.id],
                kind="render",
                album_id=aid,
                state_dir=state,
                targets=(str(cache / "render" / f"{track.id}.wav"),),
                task_dep=(),
                config={
                    "version": RENDER_VERSION,
                    "limiter": STAGE_VERSIONS["limiter"],  # its stages 1-2 make the profile
                    "chain": effective_chain(album, track),
                    "gain_db": track.gain_db,
                    "trim": track.trim.model_dump(mode="json"),
                    "fade": track.fade.model_dump(mode="json"),
                },
                files={"source": str(album.sources[track.id])},
                params={
                    "sample_rate_hz": info.sample_rate_hz,
                    "source_frames": info.frames,
                    "powers": str(cache / "render" / f"{track.id}.powers.npy"),
                },
                doc=f"render {track.id}: source -> chain",
            )
        )

    problems: list[MasterbuildError] = []
    deliverables: list[str] = []
    report_deps: list[str] = []
    format_summaries: dict[str, Any] = {}
    for fmt_name in selected:
        fmt = m.formats[fmt_name]
        try:
            names = deliverable_names(album, fmt_name, fmt)
        except MasterbuildError as exc:
            problems.append(exc)
            continue
        if fmt.is_cd and album.source_info:
            cd_problems = red_book_problems(album, fmt_name)
            if cd_problems:
                problems.extend(cd_problems)
                continue
        fconf = _format_config(fmt)
        ext = EXTENSIONS[fmt.codec]
        gain_name = f"gain:{aid}:{fmt_name}"
        album_mode = fmt.loudness.mode == "album"
        if album_mode:
            specs.append(
                TaskSpec(
                    name=gain_name,
                    kind="gain",
                    album_id=aid,
                    state_dir=state,
                    targets=(),
                    task_dep=tuple(render_name.values()),
                    config={
                        "version": GAIN_VERSION,
                        "target_lufs": fmt.loudness.target_lufs,
                        "peak_safe": fmt.loudness.peak_safe,
                        "limiter": fmt.limiter,
                        "true_peak_ceiling_db": fmt.true_peak_ceiling_db,
                        "limiter_ceiling_db": fconf["limiter_ceiling_db"],
                        "tracks": sorted(render_name.values()),
                    },
                    params={
                        "tracks": {
                            render_name[t.id]: {
                                "id": t.id,
                                "intermediate": str(cache / "render" / f"{t.id}.wav"),
                                "powers": str(cache / "render" / f"{t.id}.powers.npy"),
                            }
                            for t in m.tracks
                        },
                    },
                    doc=f"album loudness gain for {fmt_name}",
                )
            )
        master_names = {}
        cd = fmt.is_cd
        shown = delivered_tracks(album, fmt)
        # A CD format's masters stay float (limited, not dithered): the programme task
        # lays them out, dithers the whole disc once and cuts the per-track files.
        # So do vinyl masters: the side task joins them and dithers each side once.
        joined = cd or fmt.is_vinyl
        mconf = {**fconf, "codec": "wav", "bit_depth": 32, "dither": "none"} if joined else fconf
        mext = "f32.wav" if joined else ext
        on_record = (
            {t.id for side in vinyl_sides(album, fmt) for t in side} if fmt.is_vinyl else None
        )
        for track in m.tracks:
            if on_record is not None and track.id not in on_record:
                continue  # not on any side of this record
            mname = f"master:{aid}:{fmt_name}:{track.id}"
            master_names[track.id] = mname
            mdir = cache / "master" / fmt_name
            specs.append(
                TaskSpec(
                    name=mname,
                    kind="master",
                    album_id=aid,
                    state_dir=state,
                    targets=(str(mdir / f"{track.id}.{mext}"),),
                    task_dep=(render_name[track.id],) + ((gain_name,) if album_mode else ()),
                    config={
                        "version": MASTER_VERSION,
                        "format": mconf,
                        "seed": [fmt_name, track.id],  # stable ids only: no folder name, no title
                    },
                    params={
                        "render": render_name[track.id],
                        "gain": gain_name if album_mode else None,
                        "intermediate": str(cache / "render" / f"{track.id}.wav"),
                        "powers": str(mdir / f"{track.id}.{mext}.powers.npy"),
                        "qc": str(mdir / f"{track.id}.{mext}.qc.npz"),
                    },
                    doc=f"master {track.id} for {fmt_name}",
                )
            )
        if fmt.is_vinyl:
            side_specs = _side_specs(album, fmt_name, fmt, master_names, state, cache, masters)
            specs += side_specs
            deliverables += [t for spec in side_specs for t in spec.targets]
            report_deps += [spec.name for spec in side_specs]
            sides = [spec for spec in side_specs if spec.kind == "side"]
            summary = _format_summary(fmt, f"loudness:{aid}:{fmt_name}")
            summary["loudness_task"] = None
            summary["tracks"] = [
                {
                    "id": f"side-{side.config['side'].lower()}",
                    "file": f"{fmt_name}/{Path(side.targets[0]).name}",
                    "master": side.name,
                    "tag": None,
                }
                for side in sides
            ]
            if formats is None:
                series = {
                    t["id"]: side.params["series"]
                    for t, side in zip(summary["tracks"], sides, strict=True)
                }
                audio = {
                    t["id"]: side.targets[0]
                    for t, side in zip(summary["tracks"], sides, strict=True)
                }
                qc = _qc_spec(album, fmt_name, fmt, summary, state, cache, audio, series)
                specs.append(qc)
                report_deps.append(qc.name)
                summary["qc_task"] = qc.name
                summary["plots"] = dict(zip(QC_PLOTS, qc.targets, strict=True))
            format_summaries[fmt_name] = summary
            continue
        # What the delivery tasks read for each track: its master, or its cut of the disc.
        delivered = dict(master_names)
        if cd:
            pname = f"programme:{aid}:{fmt_name}"
            programme = _programme_spec(album, fmt_name, fmt, master_names, state, cache, masters)
            specs.append(programme)
            deliverables.extend(t for t in programme.targets if t.startswith(str(masters)))
            delivered = {t.id: f"{pname}#{t.id}" for t in shown}
        loud_name = f"loudness:{aid}:{fmt_name}"
        specs.append(
            TaskSpec(
                name=loud_name,
                kind="loudness",
                album_id=aid,
                state_dir=state,
                targets=(),
                task_dep=tuple(sorted({_task_of(n) for n in delivered.values()})),
                config={"tracks": sorted(delivered.values())},
                params={
                    "powers": [
                        str(cache / "master" / fmt_name / f"{t.id}.{ext}.powers.npy") for t in shown
                    ]
                },
                doc=f"album loudness of the {fmt_name} masters",
            )
        )
        tag_names = []
        for n, track in enumerate(shown, start=1):
            tname = f"tag:{aid}:{fmt_name}:{track.id}"
            tag_names.append(tname)
            final = masters / fmt_name / names[track.id]
            deliverables.append(str(final))
            files = {"cover": str(album.cover)} if album.cover else {}
            specs.append(
                TaskSpec(
                    name=tname,
                    kind="tag",
                    album_id=aid,
                    state_dir=state,
                    targets=(str(final),),
                    task_dep=(_task_of(delivered[track.id]), loud_name),
                    config={
                        "version": TAG_VERSION,
                        "codec": fmt.codec,
                        "file": f"{fmt_name}/{names[track.id]}",
                        "tags": _tag_fields(album, track, n, len(shown)),
                    },
                    files=files,
                    params={
                        "master": delivered[track.id],
                        "loudness": loud_name,
                        "cached": str(cache / "master" / fmt_name / f"{track.id}.{ext}"),
                    },
                    doc=f"tag {track.id} for {fmt_name} as {names[track.id]}",
                )
            )
        playlist = masters / fmt_name / "playlist.m3u8"
        deliverables.append(str(playlist))
        pname = f"playlist:{aid}:{fmt_name}"
        specs.append(
            TaskSpec(
                name=pname,
                kind="playlist",
                album_id=aid,
                state_dir=state,
                targets=(str(playlist),),
                task_dep=tuple(tag_names),
                config={
                    "entries": [
                        {
                            "file": names[t.id],
                            "artist": t.artist or m.album.artist,
                            "title": t.title,
                        }
                        for t in shown
                    ],
                    "masters": [delivered[t.id] for t in shown],
                },
                doc=f"M3U playlist of {fmt_name}",
            )
        )
        report_deps += [*tag_names, pname]
        summary = _format_summary(fmt, loud_name)
        summary.update(
            tracks=[
                {
                    "id": t.id,
                    "file": f"{fmt_name}/{names[t.id]}",
                    "master": delivered[t.id],
                    "tag": f"tag:{aid}:{fmt_name}:{t.id}",
                    "isrc": t.isrc,
                }
                for t in shown
            ]
        )
        if cd:
            summary["programme_task"] = f"programme:{aid}:{fmt_name}"
        if formats is None:
            mdir = cache / "master" / fmt_name
            audio = {t.id: str(mdir / f"{t.id}.{'wav' if cd else ext}") for t in shown}
            qc = _qc_spec(album, fmt_name, fmt, summary, state, cache, audio, audio)
            specs.append(qc)
            report_deps.append(qc.name)
            summary["qc_task"] = qc.name
            summary["plots"] = dict(zip(QC_PLOTS, qc.targets, strict=True))
        format_summaries[fmt_name] = summary
    if problems:
        raise ManifestErrors(problems)

    if formats is None:
        report_files = [str(masters / "report.json"), str(masters / "report.html")]
        deliverables += report_files
        specs.append(
            TaskSpec(
                name=f"report:{aid}",
                kind="report",
                album_id=aid,
                state_dir=state,
                targets=tuple(report_files),
                task_dep=tuple(report_deps),
                config={
                    "version": REPORT_VERSION,
                    "album": {"title": m.album.title, "artist": m.album.artist},
                    "renders": [render_name[t.id] for t in m.tracks],
                    "formats": format_summaries,
                },
                doc="QC report of every delivered file",
            )
        )
        specs.append(
            TaskSpec(
                name=f"prune:{aid}",
                kind="prune",
                album_id=aid,
                state_dir=state,
                targets=(),
                task_dep=(f"report:{aid}",),
                config={
                    "deliverables": sorted(deliverables),
                    "tasks": sorted([*(s.name for s in specs), f"notes:{aid}"]),
                },
                params={"masters_dir": str(masters), "cache_dir": str(cache)},
                doc="remove deliverables that are no longer declared",
            )
        )
    from masterbuild.notebook import notes_spec  # notebook imports this module

    specs.append(notes_spec(album, specs, formats, message))
    return specs


def _format_summary(fmt: Format, loud_name: str) -> dict[str, Any]:
    """What the report needs to know of a format besides its tracks."""
    return {
        "cd": fmt.is_cd,
        "codec": fmt.codec,
        "sample_rate": fmt.sample_rate,
        "bit_depth": fmt.pcm_bit_depth,
        "limiter": fmt.limiter,
        "profiles": list(fmt.profiles),
        "disc_in": fmt.disc_in,
        "rpm": fmt.rpm,
        "loudness": fmt.loudness.model_dump(mode="json"),
        "true_peak_ceiling_db": fmt.true_peak_ceiling_db,
        "loudness_task": loud_name,
    }


def _qc_spec(
    album: LoadedAlbum,
    fmt_name: str,
    fmt: Format,
    summary: dict[str, Any],
    state: str,
    cache: Path,
    audio: dict[str, str],
    series: dict[str, str],
) -> TaskSpec:
    """Plots of one format's delivered files, and the lossy round trips its profiles ask.

    `audio`: id -> the delivered audio (for round trips); `series`: id -> the path
    prefix of its `.powers.npy` and `.qc.npz`.
    """
    from masterbuild.manifest.models import PROFILES

    qdir = cache / "qc" / fmt_name
    tracks = summary["tracks"]
    aac = PROFILES["apple"]["aac_bitrate_kbps"] if "apple" in fmt.profiles else None
    return TaskSpec(
        name=f"qc:{album.album_id}:{fmt_name}",
        kind="qc",
        album_id=album.album_id,
        state_dir=state,
        targets=tuple(str(qdir / f"{name}.png") for name in QC_PLOTS),
        task_dep=tuple(sorted({_task_of(t["master"]) for t in tracks})),
        config={
            "version": QC_VERSION,
            "true_peak_ceiling_db": fmt.true_peak_ceiling_db,
            "target_lufs": fmt.loudness.target_lufs if fmt.loudness.mode != "none" else None,
            "aac_bitrate_kbps": aac,
            "tracks": [
                {"id": t["id"], "label": f"{n:02d} {t['id']}", "master": t["master"]}
                for n, t in enumerate(tracks, start=1)
            ],
        },
        params={"audio": audio, "series": series, "aac_cache": str(cache / "qc" / "aac")},
        doc=f"QC plots of {fmt_name}",
    )


def vinyl_sides(album: LoadedAlbum, fmt: Format) -> list[list[Track]]:
    """The tracks of each side: as listed, or the running order split in two."""
    by_id = {t.id: t for t in album.manifest.tracks}
    if fmt.sides:
        return [[by_id[tid] for tid in side] for side in fmt.sides]
    from masterbuild.vinyl import split_in_two

    tracks = list(album.manifest.tracks)
    lengths = [_estimated_samples(album, t) / 44100 for t in tracks]
    gaps = [_gap_s(album, t) for t in tracks]
    return [[tracks[i] for i in side] for side in split_in_two(lengths, gaps)]


def _gap_s(album: LoadedAlbum, track: Track) -> float:
    return album.manifest.master.gap_s if track.gap_s is None else track.gap_s


def _side_specs(
    album: LoadedAlbum,
    fmt_name: str,
    fmt: Format,
    master_names: dict[str, str],
    state: str,
    cache: Path,
    masters: Path,
) -> list[TaskSpec]:
    """Per record side, two tasks in masters/<format>/: its audio, and its sheet.

    The sheet carries the titles; the audio does not, so a title fix rewrites the
    sheet and never re-makes a side.
    """
    from masterbuild.vinyl import side_letter

    specs = []
    mdir = cache / "master" / fmt_name
    fconf = {**_format_config(fmt), "disc_in": fmt.disc_in, "rpm": fmt.rpm}
    for n, tracks in enumerate(vinyl_sides(album, fmt)):
        letter = side_letter(n)
        stem = f"Side {letter}"
        side_name = f"side:{album.album_id}:{fmt_name}:{letter.lower()}"
        specs.append(
            TaskSpec(
                name=side_name,
                kind="side",
                album_id=album.album_id,
                state_dir=state,
                targets=(str(masters / fmt_name / f"{stem}.{EXTENSIONS[fmt.codec]}"),),
                task_dep=tuple(master_names[t.id] for t in tracks),
                config={
                    "version": SIDE_VERSION,
                    "side": letter,
                    "format": fconf,
                    "seed": [fmt_name, f"side-{letter.lower()}"],
                    "tracks": [
                        {
                            "id": t.id,
                            "gap_s": 0.0 if k == 0 else _gap_s(album, t),
                            "master": master_names[t.id],
                        }
                        for k, t in enumerate(tracks)
                    ],
                },
                params={
                    "masters": {t.id: str(mdir / f"{t.id}.f32.wav") for t in tracks},
                    # Not under cache/master/, whose files belong to master tasks.
                    "series": str(cache / "side" / fmt_name / f"side-{letter.lower()}"),
                },
                doc=f"vinyl side {letter} of {fmt_name}",
            )
        )
        specs.append(
            TaskSpec(
                name=f"sheet:{album.album_id}:{fmt_name}:{letter.lower()}",
                kind="sheet",
                album_id=album.album_id,
                state_dir=state,
                targets=(str(masters / fmt_name / f"{stem}.txt"),),
                task_dep=(side_name,),
                config={
                    "version": SIDE_VERSION,
                    "side": letter,
                    "side_task": side_name,
                    "album_title": album.manifest.album.title,
                    "format": fconf,
                    "titles": {t.id: t.title for t in tracks},
                },
                doc=f"cutting sheet of vinyl side {letter} of {fmt_name}",
            )
        )
    return specs


def _task_of(result_name: str) -> str:
    """'programme:a:cd#t1' -> 'programme:a:cd' (a per-track result inside a task's)."""
    return result_name.split("#", 1)[0]


DDP_FILES = ("DDPID", "DDPMS", "PQDESCR", "IMAGE.DAT", "CDTEXT.BIN", "CHECKSUM.MD5", "PQ_SHEET.TXT")


def _catalog(upc: str | None) -> str | None:
    """A CD's catalogue number is 13 digits: a UPC-A gets a leading 0."""
    return None if upc is None else upc.zfill(13)


def _estimated_samples(album: LoadedAlbum, track: Track) -> int:
    """A track's length at 44.1 kHz from its source header and trims (before rendering).

    Automatic trimming is only known after a scan: such a track counts untrimmed here
    and is checked again when the programme is built.
    """
    info = album.source_info[track.id]
    kept = info.frames
    if track.trim.auto_threshold_db is None:
        kept -= round(track.trim.start_s * info.sample_rate_hz) + round(
            track.trim.end_s * info.sample_rate_hz
        )
    return max(1, round(kept * 44100 / info.sample_rate_hz))


def cd_track_configs(album: LoadedAlbum) -> list[dict[str, Any]]:
    """What the CD sequencer needs of each track, as plain data (the programme's config)."""
    m = album.manifest
    return [
        {
            "id": t.id,
            "title": t.title,
            "performer": t.artist or m.album.artist,
            "songwriter": t.composer,
            "isrc": t.isrc,
            "gap_s": _gap_s(album, t),
            "crossfade_s": t.crossfade_s,
            "boundary_s": t.boundary_s,
            "index_s": list(t.index_s),
            "hidden": t.hidden,
        }
        for t in m.tracks
    ]


def red_book_problems(album: LoadedAlbum, fmt_name: str) -> list[MasterbuildError]:
    """Red Book and CD-Text problems of a CD format, found before anything renders."""
    from masterbuild.cd.cdtext import CdTextError, encode_cdtext
    from masterbuild.cd.redbook import sequence_checked
    from masterbuild.cd.sequence import TrackTiming

    m = album.manifest
    shown = _display(album.manifest_path)
    timings = [
        TrackTiming.from_config(c, _estimated_samples(album, t))
        for c, t in zip(cd_track_configs(album), m.tracks, strict=True)
    ]
    _, layout, found = sequence_checked(
        timings, m.album.title, m.album.artist, _catalog(m.album.upc)
    )
    problems = [MasterbuildError(shown, p.location, p.message) for p in found]
    if layout is not None:
        try:
            encode_cdtext(layout)
        except CdTextError as exc:
            problems.append(MasterbuildError(shown, f"formats.{fmt_name}", f"CD-Text: {exc}"))
    return problems


def _programme_spec(
    album: LoadedAlbum,
    fmt_name: str,
    fmt: Format,
    master_names: dict[str, str],
    state: str,
    cache: Path,
    masters: Path,
) -> TaskSpec:
    """The CD programme: image (+ cue), DDP fileset and per-track cuts of one CD format."""
    m = album.manifest
    image_stem = safe_file_name(m.album.title) or "album"
    out = masters / fmt_name
    targets = []
    if fmt.cue:
        targets += [str(out / f"{image_stem}.wav"), str(out / f"{image_stem}.cue")]
    if fmt.ddp:
        targets += [str(out / "DDP" / name) for name in DDP_FILES]
    shown = delivered_tracks(album, fmt)
    cuts = {t.id: str(cache / "master" / fmt_name / f"{t.id}.wav") for t in shown}
    targets += list(cuts.values())
    return TaskSpec(
        name=f"programme:{album.album_id}:{fmt_name}",
        kind="programme",
        album_id=album.album_id,
        state_dir=state,
        targets=tuple(targets),
        task_dep=tuple(master_names.values()),
        config={
            "version": PROGRAMME_VERSION,
            "dither": fmt.effective_dither,
            "seed": [fmt_name, "programme"],
            "cue": fmt.cue,
            "ddp": fmt.ddp,
            "image_stem": image_stem,
            "album": {
                "title": m.album.title,
                "performer": m.album.artist,
                "catalog": _catalog(m.album.upc),
            },
            "tracks": [{**c, "master": master_names[c["id"]]} for c in cd_track_configs(album)],
        },
        params={
            "manifest": _display(album.manifest_path),
            "masters": {
                t.id: str(cache / "master" / fmt_name / f"{t.id}.f32.wav") for t in m.tracks
            },
            "cuts": cuts,
            "powers": {t.id: f"{cuts[t.id]}.powers.npy" for t in shown},
            "qc": {t.id: f"{cuts[t.id]}.qc.npz" for t in shown},
            "out_dir": str(out),
            "programme": str(cache / "master" / fmt_name / "programme.wav"),
        },
        doc=f"CD programme of {fmt_name}: image, cue, DDP, per-track cuts",
    )
