"""Render an HTML file in headless Chromium for tests: a screenshot and the page's DOM.

Tests that use this skip when ``chromium`` is not installed (``setup.sh`` installs
it, so CI runs them). Chromium runs with ``--no-sandbox``: the tests run as root,
where its sandbox refuses to start. Each call starts a fresh browser with its own
throw-away profile; expect about a second or two per call.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

__all__ = ["chromium_available", "dump_dom", "requires_chromium", "screenshot"]

CHROMIUM = "chromium"
TIMEOUT_S = 60.0
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-sync",
    "--mute-audio",
)


def chromium_available() -> bool:
    """Whether the ``chromium`` command is on PATH."""
    return shutil.which(CHROMIUM) is not None


requires_chromium = pytest.mark.skipif(
    not chromium_available(), reason="chromium is not installed (setup.sh installs it)"
)


def _run(html_path: Path, *flags: str) -> subprocess.CompletedProcess[bytes]:
    """Run Chromium headless on ``html_path`` with a fresh profile; raise on failure."""
    url = Path(html_path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="masterbuild-chromium-") as profile:
        command = [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *flags, url]
        result = subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, check=False)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"chromium exited {result.returncode} on {url}:\n{stderr}")
    return result


def screenshot(html_path: Path, width: int = 1400, height: int = 3000) -> np.ndarray:
    """Screenshot of ``html_path`` in a ``width`` x ``height`` px window.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` floats in 0..1 (RGB).
    """
    with tempfile.TemporaryDirectory(prefix="masterbuild-shot-") as out_dir:
        out = Path(out_dir) / "screenshot.png"
        _run(html_path, f"--screenshot={out}", f"--window-size={width},{height}")
        if not out.is_file():
            raise RuntimeError(f"chromium wrote no screenshot of {html_path}")
        pixels = matplotlib.image.imread(out, format="png")
    return np.asarray(pixels[..., :3], dtype=np.float64)


def dump_dom(html_path: Path) -> str:
    """The DOM of ``html_path`` after loading, serialised as HTML."""
    return _run(html_path, "--dump-dom").stdout.decode("utf-8", errors="replace")
