"""Atomic writes of every output.

Every output goes to a temp file beside its final path (same folder, so the rename is
atomic on one file system), is fsynced, and only then renamed into place. A killed or
failed build leaves the previous file intact and at most a `*.partial` temp file that no
later step trusts.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
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


_SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of the range, do not wait for it
_FLUSH_STEP_BYTES = 8 << 20
_FLUSH_POLL_S = 0.25


@functools.cache
def _start_writeback() -> Callable[[int, int, int], int] | None:
    """Linux's sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE), or None."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return lambda fd, offset, nbytes: fn(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)


@contextlib.contextmanager
def _written_back_while_written(path: Path) -> Iterator[None]:
    """Hand what has been written of `path` to the disk every few MB, from a thread.

    The fsync before the rename then waits for the last few MB instead of the whole
    file: a master is written over seconds of computing, and without this the kernel
    holds all of it in memory until the fsync (about 5 % of a parallel build's wall
    time went to that wait).  Durability is the fsync's job, unchanged; this only
    starts the writing earlier.  Where sync_file_range is missing it does nothing.
    """
    start = _start_writeback()
    if start is None:
        yield
        return
    done = threading.Event()

    def flush() -> None:
        fd, flushed = -1, 0
        try:
            while not done.wait(_FLUSH_POLL_S):
                if fd < 0:
                    try:
                        fd = os.open(path, os.O_RDONLY)
                    except OSError:  # not created yet
                        continue
                size = os.fstat(fd).st_size
                if size - flushed >= _FLUSH_STEP_BYTES:
                    start(fd, flushed, size - flushed)
                    flushed = size
        except OSError:
            pass  # only an optimisation: the fsync still makes the file durable
        finally:
            if fd >= 0:
                os.close(fd)

    worker = threading.Thread(target=flush, name="writeback", daemon=True)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join()


@contextlib.contextmanager
def atomic_output(final: Path, large: bool = False) -> Iterator[Path]:
    """Yield a temp path to write; on success fsync and rename it to `final`.

    On any exception the temp file is removed and `final` is left as it was.  `large`:
    the file is written over a while (audio); its writeback starts as it grows.
    """
    ensure_dir(final.parent)
    tmp = temp_path_for(final)
    try:
        if large:
            with _written_back_while_written(tmp):
                yield tmp
        else:
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
