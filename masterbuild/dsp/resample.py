"""Streaming sample-rate conversion with soxr at very high quality."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import soxr


def resample_blocks(
    blocks: Iterable[np.ndarray], in_rate_hz: int, out_rate_hz: int, channels: int
) -> Iterator[np.ndarray]:
    """Resample a stream of (frames, channels) blocks; identity when the rates match.

    Output is the same as one-shot `soxr.resample(..., quality="VHQ")` of the whole
    signal, with soxr's delay compensated, so memory stays flat with length.
    """
    if in_rate_hz == out_rate_hz:
        yield from blocks
        return
    stream = soxr.ResampleStream(in_rate_hz, out_rate_hz, channels, dtype="float64", quality="VHQ")
    for block in blocks:
        out = stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float64), last=False)
        if out.shape[0]:
            yield out
    tail = stream.resample_chunk(np.zeros((0, channels)), last=True)
    if tail.shape[0]:
        yield tail
