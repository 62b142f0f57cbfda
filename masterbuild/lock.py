"""One build of an album at a time.

A build holds an exclusive `flock` on `<album>/.masterbuild/lock` for as long as it
runs; a second build of the same album (from `masterbuild build` or `doit`, in this or
another shell) is refused at once with one line naming the holder. The kernel drops
the lock when the holder's process ends, however it ends, so a killed build never
leaves a stale lock behind. Parallel workers (`-j N`) are forked from the holder and
share its lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from masterbuild.errors import MasterbuildError

LOCK_NAME = "lock"

# Locks this process holds, by lock file: re-entrant within one process.
_held: dict[str, int] = {}


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        pid = ""
    return f" (pid {pid})" if pid.isdigit() else ""


def acquire(state_dir: Path, shown: str) -> bool:
    """Take the album's build lock; False if this process held it already.

    Raises MasterbuildError when another process holds it.
    """
    path = state_dir / LOCK_NAME
    key = str(path)
    if key in _held:
        return False
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise MasterbuildError(
            path, "-", f"cannot create the build lock ({exc.strerror})"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise MasterbuildError(
            shown,
            "-",
            f"another build of this album is running{_holder(path)}: wait for it to "
            "finish (or stop it), then build again",
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    _held[key] = fd
    return True


def release(state_dir: Path) -> None:
    fd = _held.pop(str(state_dir / LOCK_NAME), None)
    if fd is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def album_locks(locks: list[tuple[Path, str]]) -> Iterator[None]:
    """Hold the locks of several albums (state dir, name shown in messages)."""
    taken: list[Path] = []
    try:
        for state_dir, shown in locks:
            if acquire(state_dir, shown):
                taken.append(state_dir)
        yield
    finally:
        for state_dir in taken:
            release(state_dir)
