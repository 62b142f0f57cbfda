"""Whether a task may put a helper thread to work: only when a core would otherwise idle.

The meter overlaps its true-peak reading with its K-weighting on a second thread.
That pays at ``-j 1`` on a multi-core machine; when as many build processes run as
there are cores, the extra threads only take turns with the other processes (and
hand the GIL back and forth): measured on 2 cores at ``-j 2``, the album benchmark's
build took 3-6 % longer with them.
"""

from __future__ import annotations

import multiprocessing
import os

JOBS_ENV = "MASTERBUILD_JOBS"  # set by `masterbuild build -j N` for its worker processes


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # pragma: no cover - not Linux


def build_jobs() -> int:
    """Build processes running at once: ``-j N``'s N, or a guess under plain doit.

    A worker of ``doit -n N`` does not know N: it takes the build as using every core.
    """
    value = os.environ.get(JOBS_ENV, "")
    if value.isdigit() and int(value) >= 1:
        return int(value)
    return available_cores() if multiprocessing.parent_process() is not None else 1


def spare_core() -> bool:
    """True when a helper thread would run on a core no other build process needs."""
    return available_cores() > build_jobs()


__all__ = ["JOBS_ENV", "available_cores", "build_jobs", "spare_core"]
