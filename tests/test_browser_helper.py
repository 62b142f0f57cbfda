"""tests/browser.py: headless Chromium renders an inlined plot and exposes the page text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from masterbuild.plots import data_uri, waveform_png
from tests.browser import chromium_available, dump_dom, requires_chromium, screenshot
from tests.test_plots import CEILING_DBFS, make_track, red_mask

pytestmark = requires_chromium

LEFT_PX, TOP_PX = 40, 80  # where the page puts the picture
IMAGE_W_PX, IMAGE_H_PX = 1200, 240
MARKER = "masterbuild QC sign-off 7f3a"


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    png = waveform_png([make_track(1, over_at_s=(4.0, 12.0))], CEILING_DBFS)
    path = tmp_path_factory.mktemp("browser") / "page.html"
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "body{margin:0;background:#fff;font-family:sans-serif}"
        f"img{{position:absolute;left:{LEFT_PX}px;top:{TOP_PX}px;"
        f"width:{IMAGE_W_PX}px;height:{IMAGE_H_PX}px}}"
        f"</style></head><body><p>{MARKER}</p>"
        f"<img alt='waveform' src='{data_uri(png)}'></body></html>",
        encoding="utf-8",
    )
    return path


def test_chromium_is_found() -> None:
    assert chromium_available()


def test_screenshot_shows_the_inlined_plot(page: Path) -> None:
    pixels = screenshot(page, width=1400, height=600)
    assert pixels.shape == (600, 1400, 3)
    assert pixels.std() > 0.02, "screenshot is one colour"

    image = pixels[TOP_PX : TOP_PX + IMAGE_H_PX, LEFT_PX : LEFT_PX + IMAGE_W_PX]
    chroma = image.max(axis=-1) - image.min(axis=-1)
    assert (chroma > 0.2).mean() > 0.05, "the picture region shows no colour"
    assert red_mask(image).sum() > 20, "the overs are not red on screen"

    below = pixels[TOP_PX + IMAGE_H_PX + 10 :]
    np.testing.assert_allclose(below, 1.0, atol=0.02)  # white page under the picture


def test_dump_dom_has_the_page_text(page: Path) -> None:
    dom = dump_dom(page)
    assert MARKER in dom
    assert "data:image/png;base64," in dom
