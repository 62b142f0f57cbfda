"""Command line: `masterbuild build|validate|status|measure|notes|schema`.

User errors are caught here, at the edge, and printed as `path: location: message`
lines with exit status 1; wrong usage exits 2 (argparse); bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from masterbuild.errors import ManifestErrors, MasterbuildError
from masterbuild.interrupts import quiet_interrupts


def _album_paths(given: Sequence[str]) -> list[Path]:
    if given:
        return [Path(p) for p in given]
    found = sorted(p.parent for p in Path("albums").glob("*/album.toml"))
    if not found:
        raise MasterbuildError("albums", "-", "no albums/*/album.toml here: give an album folder")
    return found


def cmd_build(args: argparse.Namespace) -> int:
    from masterbuild.tasks import build

    outcome = build(
        _album_paths(args.albums), jobs=args.jobs, formats=args.format or None, message=args.message
    )
    if outcome.status == 0:
        print(
            f"masterbuild: {len(outcome.ran)} task(s) run"
            if outcome.ran
            else "masterbuild: up to date"
        )
    return outcome.status


def cmd_validate(args: argparse.Namespace) -> int:
    from masterbuild.manifest.load import load_album
    from masterbuild.plan import plan_album

    status = 0
    for path in args.albums:
        try:
            plan_album(load_album(path))
            print(f"{path}: ok")
        except MasterbuildError as exc:
            print(str(exc), file=sys.stderr)
            status = 1
    return status


def cmd_status(args: argparse.Namespace) -> int:
    from masterbuild.manifest.load import load_album
    from masterbuild.status import pending

    todo = pending(load_album(args.album))
    if not todo:
        print("up to date: a build would run nothing")
    for name, reasons in todo:
        print(f"{name}: " + "; ".join(reasons))
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    from masterbuild.measure import measure_file, measurement_dict

    rows = [measurement_dict(f, measure_file(f)) for f in args.files]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:

        def fmt(v: float | None, unit: str) -> str:
            return "-inf" if v is None else f"{v:.1f} {unit}"

        print(
            f"{r['file']}: I {fmt(r['integrated_lufs'], 'LUFS')}  LRA {fmt(r['lra_lu'], 'LU')}  "
            f"TP {fmt(r['true_peak_dbtp'], 'dBTP')}  M max {fmt(r['max_momentary_lufs'], 'LUFS')}  "
            f"S max {fmt(r['max_short_term_lufs'], 'LUFS')}"
        )
    return 0


def cmd_ddp_info(args: argparse.Namespace) -> int:
    """Re-read a DDP fileset: verify it, print its PQ sheet, optionally extract tracks."""
    import soundfile as sf

    from masterbuild.atomic import atomic_output
    from masterbuild.cd.ddp import DdpError, pq_sheet, read_ddp

    try:
        info = read_ddp(Path(args.folder))
    except DdpError as exc:
        raise MasterbuildError(args.folder, "DDP", str(exc)) from None
    print(pq_sheet(info.layout), end="")
    print("checksums: OK")
    if args.extract:
        out = Path(args.extract)
        for track in info.layout.tracks:
            path = out / f"{track.number:02d}.wav"
            with atomic_output(path) as tmp:
                sf.write(
                    str(tmp), info.track_audio(track.number), 44100, subtype="PCM_16", format="WAV"
                )
            print(f"extracted {path}")
    return 0


def cmd_notes(args: argparse.Namespace) -> int:
    from masterbuild.manifest.load import find_manifest

    notes = find_manifest(args.album).parent / "NOTES.md"
    if not notes.is_file():
        print(f"{notes}: no session notes yet")
        return 0
    print(notes.read_text(encoding="utf-8"), end="")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from masterbuild.manifest.models import PRESETS, PROFILES

    for name, preset in PRESETS.items():
        print(f"{name}: {preset['description']}")
        for key, value in preset.items():
            if key != "description":
                print(f"    {key} = {json.dumps(value)}")
    print("\nprofiles the QC report checks (profiles = [...]):")
    for name, profile in PROFILES.items():
        print(f"profile {name}: {profile['description']}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from masterbuild.manifest.models import Manifest

    schema = Manifest.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "masterbuild album manifest (schema 1)"
    print(json.dumps(schema, indent=2))
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="masterbuild", description="Declarative album mastering builds."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build albums (default: every albums/*/)")
    p.add_argument("albums", nargs="*", metavar="ALBUM")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="parallel processes")
    p.add_argument(
        "--format", action="append", metavar="NAME", help="build only this format (repeatable)"
    )
    p.add_argument(
        "-m", "--message", metavar="TEXT", help="a note for this build's session-notes entry"
    )
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("validate", help="check manifests, print problems")
    p.add_argument("albums", nargs="+", metavar="ALBUM")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("status", help="what a build would redo, and why")
    p.add_argument("album", metavar="ALBUM")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("measure", help="loudness of audio files (BS.1770 / EBU R128)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_measure)
    p = sub.add_parser("ddp-info", help="verify a DDP fileset, print its PQ sheet")
    p.add_argument("folder", metavar="DIR")
    p.add_argument("--extract", metavar="OUTDIR", help="write each track as a WAV file")
    p.set_defaults(func=cmd_ddp_info)
    p = sub.add_parser("notes", help="the album's session notes")
    p.add_argument("album", metavar="ALBUM")
    p.set_defaults(func=cmd_notes)
    p = sub.add_parser("presets", help="list the delivery presets a format can name")
    p.set_defaults(func=cmd_presets)
    p = sub.add_parser("schema", help="JSON Schema of the manifest")
    p.set_defaults(func=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    quiet_interrupts()
    if getattr(args, "jobs", 1) < 1:
        make_parser().error("-j must be at least 1")
    try:
        return args.func(args)
    except ManifestErrors as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except MasterbuildError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("masterbuild: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `masterbuild presets | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
