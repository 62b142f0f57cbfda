"""`doit` at the repository root builds every album under albums/ (DESIGN.md 1.3).

The build state lives in each album's .masterbuild/ (see masterbuild.state), shared
with `masterbuild build`; doit's own dependency file here holds nothing we rely on.
"""

from pathlib import Path

from doit import create_after

from masterbuild.tasks import BASENAMES, DoitReporter, album_tasks, demo_mixes_task

# continue: one broken album must not stop the others from building.
DOIT_CONFIG = {
    "dep_file": ".masterbuild/doit.json",
    "backend": "json",
    "verbosity": 1,
    "continue": True,
    "reporter": DoitReporter,  # doit's lines; a status line instead on a terminal
}
Path(".masterbuild").mkdir(exist_ok=True)


def task_demo_mixes():
    return demo_mixes_task("albums/demo")


_created = []


@create_after(executed="demo_mixes", creates=BASENAMES)
def task_albums():
    """Every album's tasks (created once the demo mixes exist)."""
    # doit calls a delayed creator once per basename in `creates` that still has its
    # placeholder (e.g. `gain` when no format is in album mode): create everything once.
    if _created:
        return
    _created.append(True)
    yield from album_tasks(sorted(Path("albums").glob("*/album.toml")))
