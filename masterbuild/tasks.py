"""Task specs -> doit tasks, and running them: the one module that imports doit.

`dodo.py` at the repository root and `masterbuild build` both get their tasks from
`album_tasks`, and both decide up-to-dateness from the stamps in each album's
`.masterbuild/state/` (masterbuild.state), so after either one the other finds nothing to
do, whatever doit dependency file each uses.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from doit.cmd_base import TaskLoader2
from doit.doit_cmd import DoitMain
from doit.exceptions import TaskFailed, UnmetDependency
from doit.loader import generate_tasks
from doit.reporter import ConsoleReporter

from masterbuild.atomic import remove_stale_partials
from masterbuild.errors import MasterbuildError
from masterbuild.inputs import current_inputs
from masterbuild.manifest.load import LoadedAlbum, load_album
from masterbuild.plan import TaskSpec, plan_album
from masterbuild.state import read_stamp, write_stamp

# kind -> "module:function"; imported when a task runs, so that checking an up-to-date
# build does not pay for importing scipy, soxr and mutagen.
ACTIONS: dict[str, str] = {
    "render": "masterbuild.render:render_track",
    "gain": "masterbuild.render:album_gain",
    "master": "masterbuild.render:master_track",
    "loudness": "masterbuild.render:album_loudness",
    "programme": "masterbuild.cd.build:build_programme",
    "side": "masterbuild.vinyl:build_side",
    "tag": "masterbuild.deliver:tag_master",
    "playlist": "masterbuild.deliver:write_playlist",
    "qc": "masterbuild.qc:build_qc",
    "report": "masterbuild.report:build_report",
    "prune": "masterbuild.deliver:prune",
    "notes": "masterbuild.notebook:write_notes",
}


def action_for(kind: str) -> Callable[[TaskSpec, dict[str, Any]], dict[str, Any]]:
    module, _, func = ACTIONS[kind].partition(":")
    return getattr(importlib.import_module(module), func)


BASENAMES = ["validate", *ACTIONS]


def is_up_to_date(spec: TaskSpec) -> bool:
    """Targets exist and the stamped inputs equal the current inputs."""
    if not all(Path(t).exists() for t in spec.targets):
        return False
    stamp = read_stamp(Path(spec.state_dir), spec.name)
    return stamp is not None and stamp.get("inputs") == current_inputs(spec)


class Uptodate:
    """doit `uptodate` callable for one spec (evaluated after its task_dep ran)."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    def __call__(self) -> bool:
        if self.spec.params.get("message"):
            return False  # `build --message`: the message always lands in an entry
        return is_up_to_date(self.spec)


def run_task(spec: TaskSpec) -> TaskFailed | None:
    """doit action: run the spec's action, then stamp it. User errors fail in one line."""
    try:
        inputs = current_inputs(spec)
        result = action_for(spec.kind)(spec, inputs)
        write_stamp(Path(spec.state_dir), spec.name, inputs, result)
    except MasterbuildError as exc:
        return TaskFailed(str(exc))
    except OSError as exc:  # disk full, permissions: the user's to fix, not a bug
        where = exc.filename or spec.name
        return TaskFailed(f"{where}: -: {exc.strerror or exc} (task {spec.name})")
    return None


def _fail(message: str) -> TaskFailed:
    return TaskFailed(message)


def spec_to_dict(spec: TaskSpec) -> dict[str, Any]:
    basename, _, name = spec.name.partition(":")
    return {
        "basename": basename,
        "name": name,
        "actions": [(run_task, [spec])],
        "targets": list(spec.targets),
        "task_dep": list(spec.task_dep),
        "uptodate": [Uptodate(spec)],
        "doc": spec.doc,
        "verbosity": 1,
    }


def recover(album: LoadedAlbum) -> None:
    """Clean up after a killed build: temp files of dead processes are never trusted."""
    remove_stale_partials(album.masters_dir)
    remove_stale_partials(album.state_dir)


def album_tasks(
    paths: Iterable[str | Path], formats: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """doit task dicts for every album; an invalid album becomes one failing task."""
    for path in paths:
        try:
            album = load_album(path)
            recover(album)
            specs = plan_album(album, formats)
        except MasterbuildError as exc:
            yield {
                "basename": "validate",
                "name": Path(path).resolve().parent.name
                if str(path).endswith(".toml")
                else Path(path).name,
                "actions": [(_fail, [str(exc)])],
                "doc": "manifest problems",
                "verbosity": 1,
            }
            continue
        for spec in specs:
            yield spec_to_dict(spec)


# --- running doit as a library ---------------------------------------------------------


@dataclass
class BuildOutcome:
    ran: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    status: int = 0


class _Reporter(ConsoleReporter):
    """One plain line per task run; one `path: location: message` line per failure."""

    outcome: BuildOutcome  # set per build by _make_reporter

    def execute_task(self, task: Any) -> None:
        if task.actions and not task.name.startswith("validate"):
            self.outcome.ran.append(task.name)
            self.write(f"  {task.name}\n")

    def skip_uptodate(self, task: Any) -> None:
        pass

    def add_failure(self, task: Any, fail: Any) -> None:
        if isinstance(fail, UnmetDependency):
            return  # downstream of a failure: the failure itself is the one line to show
        message = fail.message if hasattr(fail, "message") else str(fail)
        if getattr(fail, "exception", None) is not None:
            message = fail.get_msg()  # a bug, not a user error: keep the traceback
        self.outcome.failures.append((task.name, message))
        if task.name in self.outcome.ran:
            self.outcome.ran.remove(task.name)

    def complete_run(self) -> None:
        for _, message in self.outcome.failures:
            self.write(message.rstrip() + "\n")
        self.failures = []
        self.errors = []
        super().complete_run()


def _make_reporter(outcome: BuildOutcome) -> type[_Reporter]:
    return type("BoundReporter", (_Reporter,), {"outcome": outcome})


class _Loader(TaskLoader2):
    def __init__(self, task_dicts: list[dict[str, Any]], config: dict[str, Any]) -> None:
        super().__init__()
        self.task_dicts = task_dicts
        self.config = config

    def setup(self, opt_values: dict[str, Any]) -> None:
        pass

    def load_doit_config(self) -> dict[str, Any]:
        return self.config

    def load_tasks(self, cmd: Any, pos_args: list[str]) -> list[Any]:
        return generate_tasks("masterbuild", (dict(d) for d in self.task_dicts))


def run_build(
    task_dicts: list[dict[str, Any]], jobs: int = 1, out: TextIO | None = None
) -> BuildOutcome:
    """Run the given doit task dicts through doit; returns what ran and what failed."""
    outcome = BuildOutcome()
    stream = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="masterbuild-doit-") as tmp:
        # doit's own database is not our build state (the stamps are): a private one will do.
        config = {
            "dep_file": str(Path(tmp) / "doit.json"),
            "backend": "json",
            "reporter": _make_reporter(outcome),
            "outfile": stream,
        }
        argv = ["run", "--continue"]
        if jobs > 1:
            argv += ["-n", str(jobs), "-P", "process"]
        code = DoitMain(_Loader(task_dicts, config), extra_config={"GLOBAL": config}).run(argv)
    outcome.status = 0 if code == 0 and not outcome.failures else 1
    return outcome


def build(
    album_paths: Iterable[str | Path],
    jobs: int = 1,
    formats: list[str] | None = None,
    out: TextIO | None = None,
    message: str | None = None,
) -> BuildOutcome:
    """Build albums; manifest problems raise before anything runs.

    `message` lands in each album's session-notes entry of this build.
    """
    dicts: list[dict[str, Any]] = []
    for path in album_paths:
        album = load_album(path)
        recover(album)
        dicts += [spec_to_dict(s) for s in plan_album(album, formats, message)]
    return run_build(dicts, jobs, out)


# --- the demo album's generated sources --------------------------------------------------


def _write_demo(mixes_dir: str) -> None:
    from masterbuild.atomic import write_bytes_atomic
    from masterbuild.demo import DEMO_VERSION, write_demo_mixes

    write_demo_mixes(mixes_dir)
    write_bytes_atomic(Path(mixes_dir) / ".demo-version", f"{DEMO_VERSION}\n".encode())


def _demo_current(mixes_dir: str) -> bool:
    from masterbuild.demo import DEMO_TRACKS, DEMO_VERSION

    d = Path(mixes_dir)
    try:
        version = (d / ".demo-version").read_text().strip()
    except OSError:
        return False
    return version == str(DEMO_VERSION) and all((d / f"{t.id}.wav").is_file() for t in DEMO_TRACKS)


def demo_mixes_task(album_dir: str | Path) -> dict[str, Any]:
    """doit task that synthesizes the demo album's mixes (no audio is committed)."""
    from masterbuild.demo import DEMO_TRACKS

    mixes = Path(album_dir) / "mixes"
    return {
        "basename": "demo_mixes",
        "actions": [(_write_demo, [str(mixes)])],
        "targets": [str(mixes / f"{t.id}.wav") for t in DEMO_TRACKS],
        "uptodate": [lambda: _demo_current(str(mixes))],
        "doc": "synthesize the demo album's source mixes",
        "verbosity": 1,
    }
