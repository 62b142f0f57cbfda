"""Task specs -> doit tasks, and running them: the one module that imports doit.

`dodo.py` at the repository root and `masterbuild build` both get their tasks from
`album_tasks`, and both decide up-to-dateness from the stamps in each album's
`.masterbuild/state/` (masterbuild.state), so after either one the other finds nothing to
do, whatever doit dependency file each uses.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from doit.cmd_base import TaskLoader2
from doit.doit_cmd import DoitMain
from doit.exceptions import TaskFailed, UnmetDependency
from doit.loader import generate_tasks
from doit.reporter import ConsoleReporter

from masterbuild import lock
from masterbuild.allocator import keep_freed_blocks
from masterbuild.atomic import PARTIAL_SUFFIX, remove_partials
from masterbuild.errors import MasterbuildError
from masterbuild.inputs import current_inputs
from masterbuild.manifest.load import LoadedAlbum, _display, load_album
from masterbuild.plan import TaskSpec, plan_album
from masterbuild.state import read_stamp, write_stamp
from masterbuild.threads import JOBS_ENV

# kind -> "module:function"; imported when a task runs, so that checking an up-to-date
# build does not pay for importing scipy, soxr and mutagen.
ACTIONS: dict[str, str] = {
    "render": "masterbuild.render:render_track",
    "gain": "masterbuild.render:album_gain",
    "master": "masterbuild.render:master_track",
    "loudness": "masterbuild.render:album_loudness",
    "programme": "masterbuild.cd.build:build_programme",
    "side": "masterbuild.vinyl:build_side",
    "sheet": "masterbuild.vinyl:build_sheet",
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
    keep_freed_blocks()  # once per process: doit's workers are forked or spawned
    try:
        inputs = current_inputs(spec)
        result = action_for(spec.kind)(spec, inputs)
        write_stamp(Path(spec.state_dir), spec.name, inputs, result)
    except MasterbuildError as exc:
        return TaskFailed(str(exc))
    except OSError as exc:  # disk full, permissions: the user's to fix, not a bug
        where = exc.filename or spec.name
        return TaskFailed(f"{where}: -: {exc.strerror or exc} (task {spec.name})")
    except RuntimeError as exc:
        if type(exc).__name__ != "LibsndfileError":
            raise  # a bug: keep its traceback
        return TaskFailed(_audio_write_failure(spec, exc))
    return None


# Below this much free space, libsndfile's bare "System error." on a write is a full disk.
_NEARLY_FULL_BYTES = 16 << 20


def _audio_write_failure(spec: TaskSpec, exc: RuntimeError) -> str:
    """libsndfile reports a failed write without its errno: say what it most likely was."""
    folder = Path(spec.targets[0]).parent if spec.targets else Path(spec.state_dir)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = None
    if free is not None and free < _NEARLY_FULL_BYTES:
        return (
            f"{folder}: -: No space left on device ({free >> 20} MiB free): free some "
            f"space and build again (task {spec.name})"
        )
    return f"{folder}: audio: libsndfile could not write ({exc}) (task {spec.name})"


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
    """Clean up after a killed build (under the album's build lock, so no other build
    is writing): its temp files are never trusted, only removed."""
    remove_partials(album.masters_dir)
    remove_partials(album.state_dir)
    for notes_temp in album.album_dir.glob(f".*{PARTIAL_SUFFIX}"):  # NOTES.md's
        notes_temp.unlink(missing_ok=True)


def album_tasks(
    paths: Iterable[str | Path], formats: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """doit task dicts for every album; an invalid album becomes one failing task."""
    for path in paths:
        try:
            album = load_album(path)
            # Held until this doit process ends: a concurrent build is refused, not mixed in.
            lock.acquire(album.state_dir, _display(album.album_dir))
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


def progress_line(done: int, total: int, elapsed_s: float, running: list[str]) -> str:
    """`[ 12/54] 0:14  master:demo:cd:dawn (+1 more)`: the terminal's one status line."""
    minutes, seconds = divmod(int(elapsed_s), 60)
    width = len(str(total))
    now = running[0] if running else ""
    if len(running) > 1:
        now += f" (+{len(running) - 1} more)"
    return f"[{done:>{width}}/{total}] {minutes}:{seconds:02d}  {now}"


class _Progress(ConsoleReporter):
    """The terminal's status line: tasks done/total, elapsed time, running tasks."""

    def initialize(self, tasks: Any, selected_tasks: Any) -> None:
        # doit's live task table: tasks created later (create_after) join it.
        self.tasks = tasks
        self.done = 0
        self.running: list[str] = []
        self.started = time.monotonic()
        self.tty = bool(getattr(self.outstream, "isatty", lambda: False)())

    def _draw(self) -> None:
        if getattr(self, "tty", False):
            listed = self.tasks.values() if isinstance(self.tasks, dict) else self.tasks
            total = max(sum(1 for t in listed if _counted(t)), self.done + len(self.running))
            line = progress_line(self.done, total, time.monotonic() - self.started, self.running)
            columns = shutil.get_terminal_size((100, 20)).columns
            self.write("\r\x1b[K" + line[: columns - 1])
            self.outstream.flush()

    def _started(self, task: Any) -> None:
        if _counted(task):
            self.running.append(task.name)
            self._draw()

    def _finished(self, task: Any) -> None:
        if task.name in getattr(self, "running", []):
            self.running.remove(task.name)
        if _counted(task) and hasattr(self, "done"):
            self.done += 1
        self._draw()

    def _clear(self) -> None:
        if getattr(self, "tty", False):
            self.write("\r\x1b[K")  # the status line gives way to the summary


def _counted(task: Any) -> bool:
    return bool(task.actions) and not task.name.startswith(("validate", "_"))


class DoitReporter(_Progress):
    """The root `doit`'s reporter: doit's own lines, or the status line on a terminal."""

    def execute_task(self, task: Any) -> None:
        if getattr(self, "tty", False):
            self._started(task)
        else:
            super().execute_task(task)

    def skip_uptodate(self, task: Any) -> None:
        if getattr(self, "tty", False):
            self._finished(task)
        else:
            super().skip_uptodate(task)

    def add_success(self, task: Any) -> None:
        self._finished(task)

    def add_failure(self, task: Any, fail: Any) -> None:
        self._finished(task)
        self._clear()
        super().add_failure(task, fail)

    def complete_run(self) -> None:
        self._clear()
        super().complete_run()


class _Reporter(_Progress):
    """`masterbuild build`: the status line on a terminal, otherwise one plain line per
    task run; one `path: location: message` line per failure, at the end."""

    outcome: BuildOutcome  # set per build by _make_reporter

    def execute_task(self, task: Any) -> None:
        if task.actions and not task.name.startswith("validate"):
            self.outcome.ran.append(task.name)
            if self.tty:
                self._started(task)
            else:
                self.write(f"  {task.name}\n")

    def add_success(self, task: Any) -> None:
        self._finished(task)

    def skip_uptodate(self, task: Any) -> None:
        self._finished(task)

    def add_failure(self, task: Any, fail: Any) -> None:
        self._finished(task)
        if isinstance(fail, UnmetDependency):
            return  # downstream of a failure: the failure itself is the one line to show
        message = fail.message if hasattr(fail, "message") else str(fail)
        if getattr(fail, "exception", None) is not None:
            message = fail.get_msg()  # a bug, not a user error: keep the traceback
        self.outcome.failures.append((task.name, message))
        if task.name in self.outcome.ran:
            self.outcome.ran.remove(task.name)

    def complete_run(self) -> None:
        self._clear()
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
        previous = os.environ.get(JOBS_ENV)
        os.environ[JOBS_ENV] = str(jobs)  # inherited by the workers (masterbuild.threads)
        try:
            code = DoitMain(_Loader(task_dicts, config), extra_config={"GLOBAL": config}).run(argv)
        finally:
            if previous is None:
                del os.environ[JOBS_ENV]
            else:
                os.environ[JOBS_ENV] = previous
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
    albums = [load_album(path) for path in album_paths]
    with lock.album_locks([(a.state_dir, _display(a.album_dir)) for a in albums]):
        dicts: list[dict[str, Any]] = []
        for album in albums:
            recover(album)
            dicts += [spec_to_dict(s) for s in plan_album(album, formats, message)]
        try:
            return run_build(dicts, jobs, out)
        finally:
            # Interrupted (Ctrl-C), parallel workers are terminated mid-write: their temp
            # files go now, while the lock is still ours, not at the next build.
            for album in albums:
                recover(album)


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
