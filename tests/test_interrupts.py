"""Ctrl-C reports: one line from the CLI, never a traceback from a callback or __del__."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from masterbuild import interrupts


class _RaisesWhenCollected:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __del__(self) -> None:
        raise self.exc


def _unraisable(exc: BaseException) -> None:
    """Make Python meet `exc` where it cannot raise it (a __del__, as a callback would)."""
    _RaisesWhenCollected(exc)  # collected at once: the hook sees the exception


@pytest.fixture
def hooks(monkeypatch):
    monkeypatch.setattr(interrupts, "_interrupted", False)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    old = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupts.quiet_interrupts()
    yield
    signal.signal(signal.SIGINT, old)


def test_other_unraisable_errors_are_still_reported(hooks, capsys):
    _unraisable(AttributeError("no attribute '_ptr'"))
    assert "_ptr" in capsys.readouterr().err


def test_an_interrupt_swallowed_by_a_callback_reaches_the_main_thread(hooks, capsys):
    with pytest.raises(KeyboardInterrupt):
        _unraisable(KeyboardInterrupt())
        for _ in range(100):  # delivered at the main thread's next check
            time.sleep(0.01)
    # What it left half-built then complains silently; nothing was printed.
    _unraisable(AttributeError("no attribute '_ptr'"))
    assert capsys.readouterr().err == ""


def test_ctrl_c_raises_keyboard_interrupt_as_before(hooks):
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.5)
    assert interrupts._interrupted
