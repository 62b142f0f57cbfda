"""glibc malloc settings for the audio pipeline (an optimisation only; no behaviour).

Every stage allocates and frees arrays of 0.5-20 MB per block.  By default glibc
serves those with fresh mmap()s, or trims them off the heap top as soon as they are
freed, so the kernel zero-fills the same pages again for every block: about 6 % of a
parallel album build's CPU went to system time.  Keeping freed blocks on the heap
lets the next block reuse them.  Peak memory stays bounded by the working set (the
same block sizes recur), so a build's RSS does not grow with track length.
"""

from __future__ import annotations

import ctypes
import functools

# mallopt() parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 64 << 20  # larger than any one block's array
TRIM_THRESHOLD_BYTES = 128 << 20  # free space kept on the heap top before giving it back
TOP_PAD_BYTES = 64 << 20  # heap growth in steps this large, not page by page


@functools.cache
def keep_freed_blocks() -> bool:
    """Tune glibc malloc for this process (and those it forks); False where not glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
        (_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        (_M_TOP_PAD, TOP_PAD_BYTES),
    )
    return all(mallopt(param, value) == 1 for param, value in settings)
