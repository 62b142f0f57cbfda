"""Ctrl-C ends a build with one line, never a traceback.

Python reports an exception it cannot raise (one in a ``__del__``, or in a ctypes
callback such as the one numba's JIT compiler calls while a process loads its
kernels) by printing it with its traceback, and goes on.  A Ctrl-C that lands in
such a callback is then swallowed and printed, and objects it left half-built
complain again when they are collected.  After an interrupt those reports say
nothing the user needs: the build says "interrupted" itself.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
from typing import Any

_interrupted = False
_REDELIVER_S = 0.05


def _on_sigint(signum: int, frame: Any) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _unraisable(report: Any) -> None:
    global _interrupted
    if report.exc_type is not None and issubclass(report.exc_type, KeyboardInterrupt):
        # Swallowed where it landed: deliver it again shortly, from another thread, so
        # that it lands on one of the main thread's next steps, not inside this hook.
        _interrupted = True
        timer = threading.Timer(_REDELIVER_S, _thread.interrupt_main)
        timer.daemon = True
        timer.start()
        return
    if _interrupted:
        return  # fallout of the interrupt (half-built objects being collected)
    sys.__unraisablehook__(report)


def quiet_interrupts() -> None:
    """Install the SIGINT handler and the unraisable-exception hook (main thread only)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    sys.unraisablehook = _unraisable
