"""Finding head and tail silence for automatic trimming."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def audible_bounds(blocks: Iterable[np.ndarray], threshold_db: float) -> tuple[int, int] | None:
    """Frame range [first, last + 1) of the samples whose |level| reaches `threshold_db`.

    Parameters
    ----------
    blocks : consecutive (frames, channels) blocks of the signal.
    threshold_db : level in dBFS (sample peak, any channel).

    Returns
    -------
    The bounds, or None when no sample reaches the threshold (all "silence").
    """
    threshold = 10.0 ** (threshold_db / 20.0)
    first = last = None
    pos = 0
    for block in blocks:
        loud = np.flatnonzero((np.abs(block) >= threshold).any(axis=1))
        if loud.size:
            if first is None:
                first = pos + int(loud[0])
            last = pos + int(loud[-1])
        pos += block.shape[0]
    return None if first is None else (first, last + 1)
