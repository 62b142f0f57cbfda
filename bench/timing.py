"""Shared timing for the bench scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timings(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) wall time of ``run`` over ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)
