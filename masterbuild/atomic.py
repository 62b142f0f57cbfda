"""Atomic writes of every output.

Every output goes to a temp file beside its final path (same folder, so the rename is
atomic on one file system), is fsynced, and only then renamed into place. A killed or
failed build leaves the previous file intact and at most a `*.partial` temp file that no
later step trusts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from masterbuild.errors import MasterbuildError

PARTIAL_SUFFIX = ".partial"


def temp_path_for(final: Path) -> Path:
    """A per-process temp name beside `final`, recognisable as unfinished."""
    return final.with_name(f".{final.name}.{os.getpid()}{PARTIAL_SUFFIX}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system can fsync a folder
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create an output folder, turning permission problems into a user error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MasterbuildError(
            path, "-", f"cannot create the output folder ({exc.strerror})"
        ) from None
    if not os.access(path, os.W_OK):
        raise MasterbuildError(path, "-", "the output folder is not writable: fix its permissions")


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """Yield a temp path to write; on success fsync and rename it to `final`.

    On any exception the temp file is removed and `final` is left as it was.
    """
    ensure_dir(final.parent)
    tmp = temp_path_for(final)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes_atomic(final: Path, data: bytes) -> None:
    with atomic_output(final) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(final: Path, obj: Any) -> None:
    """Canonical JSON (sorted keys, fixed separators) so equal data gives equal bytes."""
    text = json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    write_bytes_atomic(final, (text + "\n").encode("utf-8"))


def write_npy_atomic(final: Path, array: Any) -> None:
    """A numpy array as .npy, atomically (numpy imported here only when used)."""
    import numpy as np

    with atomic_output(final) as tmp, tmp.open("wb") as f:
        np.save(f, array)


def copy_atomic(src: Path, final: Path) -> Path:
    """Copy `src` to a temp file beside `final` and return the temp path (not renamed)."""
    ensure_dir(final.parent)
    tmp = temp_path_for(final)
    shutil.copyfile(src, tmp)
    return tmp


def commit_temp(tmp: Path, final: Path) -> None:
    """fsync and rename a finished temp file into place."""
    _fsync_file(tmp)
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def remove_partials(folder: Path) -> list[Path]:
    """Delete every temp file under `folder`: what killed builds left behind.

    Only safe for the holder of the album's build lock (masterbuild.lock): no other
    build of the album can be writing then, and a temp file is never read back.
    """
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.rglob(f".*{PARTIAL_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed
