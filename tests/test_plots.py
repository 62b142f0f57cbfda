"""QC report pictures: valid, non-blank, deterministic PNGs; edge cases; overs drawn red."""

from __future__ import annotations

import base64
import io
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from masterbuild.plots import (
    OVER_COLOUR,
    TrackPlotData,
    album_profile_png,
    data_uri,
    loudness_and_waveform_png,
    loudness_over_time_png,
    spectrum_png,
    waveform_png,
)

FS_HZ = 44100
ENVELOPE_HOP_S = 0.05
TARGET_LUFS = -14.0
CEILING_DBFS = -1.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RED_TOLERANCE = 0.1  # per channel, 0..1: the palette PNG may shift a colour slightly

Plot = Callable[[list[TrackPlotData]], bytes]

PLOTS: dict[str, Plot] = {
    "loudness": lambda tracks: loudness_over_time_png(tracks, TARGET_LUFS),
    "waveform": lambda tracks: waveform_png(tracks, CEILING_DBFS),
    "profile": lambda tracks: album_profile_png(tracks, TARGET_LUFS),
    "spectrum": spectrum_png,
}


def make_track(
    number: int,
    duration_s: float = 20.0,
    *,
    seed: int = 0,
    over_at_s: tuple[float, ...] = (),
    silent: bool = False,
    readings: bool = True,
) -> TrackPlotData:
    """Synthetic plot data shaped like the meter's output for a ``duration_s`` track."""
    rng = np.random.default_rng(seed + number)
    # 10 Hz series; element j ends at (j + 4) / 10 s (momentary), (j + 30) / 10 s (short-term)
    momentary_n = max(round(duration_s * 10) - 3, 0)
    short_term_n = max(round(duration_s * 10) - 29, 0)
    swell = -16.0 + 4.0 * np.sin(np.linspace(0.0, 5.0, momentary_n))
    momentary = swell + rng.normal(0.0, 1.5, momentary_n)
    short_term = swell[:short_term_n] + rng.normal(0.0, 0.3, short_term_n)
    bins = max(round(duration_s / ENVELOPE_HOP_S), 1)
    swing = 0.5 + 0.3 * np.sin(np.linspace(0.0, 9.0, bins))
    peak = np.clip(swing + rng.normal(0.0, 0.03, bins), 0.0, 1.0)
    envelope = np.stack([-peak, peak], axis=1)
    freqs = np.fft.rfftfreq(2048, 1.0 / FS_HZ)
    with np.errstate(divide="ignore"):
        spectrum = -20.0 - 10.0 * np.log10(freqs / 100.0) + rng.normal(0.0, 1.0, freqs.size)
    if silent:
        momentary = np.full(momentary_n, -np.inf)
        short_term = np.full(short_term_n, -np.inf)
        envelope = np.zeros((bins, 2))
        spectrum = np.full(freqs.size, -np.inf)
    over_bins = np.array([int(t / ENVELOPE_HOP_S) for t in over_at_s], dtype=np.int64)
    return TrackPlotData(
        label=f"{number:02d} track{number}",
        duration_s=duration_s,
        momentary_lufs=momentary,
        short_term_lufs=short_term,
        envelope_hop_s=ENVELOPE_HOP_S,
        envelope=envelope,
        over_bins=over_bins,
        spectrum_freqs_hz=freqs,
        spectrum_db=spectrum,
        integrated_lufs=-14.0 + 0.5 * number if readings and not silent else None,
        true_peak_dbtp=-1.3 if readings and not silent else None,
        max_short_term_lufs=-11.0 + 0.2 * number if readings and not silent else None,
    )


def album(count: int = 4, duration_s: float = 20.0) -> list[TrackPlotData]:
    return [make_track(n, duration_s) for n in range(1, count + 1)]


def decode(png: bytes) -> np.ndarray:
    """(height, width, 3) floats in 0..1, after checking the signature and IHDR size."""
    assert png.startswith(PNG_SIGNATURE)
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (height, width)
    return pixels[..., :3]


def red_mask(pixels: np.ndarray) -> np.ndarray:
    return np.all(np.abs(pixels - np.array(to_rgb(OVER_COLOUR))) < RED_TOLERANCE, axis=-1)


def assert_picture(png: bytes, max_height_px: int = 1600) -> np.ndarray:
    pixels = decode(png)
    assert pixels.std() > 0.05, "picture is (nearly) one colour"
    assert pixels.shape[0] <= max_height_px
    assert pixels.shape[1] == 1200  # 12 in at 100 dpi
    return pixels


@pytest.mark.parametrize("name", PLOTS)
def test_valid_non_blank_png_of_modest_size(name: str) -> None:
    png = PLOTS[name](album(4, 40.0))
    assert_picture(png)
    assert len(png) < 150_000


@pytest.mark.parametrize("name", PLOTS)
def test_same_data_gives_the_same_bytes_and_other_data_other_bytes(name: str) -> None:
    first = PLOTS[name](album())
    assert PLOTS[name](album()) == first
    other = [make_track(n, 20.0, seed=99) for n in range(2, 6)]
    assert PLOTS[name](other) != first


def test_bytes_do_not_depend_on_the_process(tmp_path: Path) -> None:
    """A fresh interpreter (another hash seed) writes the very same PNG."""
    script = (
        "import sys; from tests.test_plots import PLOTS, album\n"
        "sys.stdout.buffer.write(PLOTS[sys.argv[1]](album()))\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONHASHSEED": "12345"}
    for name in ("profile", "spectrum"):
        result = subprocess.run(
            [sys.executable, "-c", script, name],
            cwd=root,
            env=env,
            capture_output=True,
            check=True,
            timeout=120,
        )
        assert result.stdout == PLOTS[name](album())


@pytest.mark.parametrize("name", PLOTS)
@pytest.mark.parametrize(
    "tracks",
    [
        pytest.param([make_track(1)], id="single-track"),
        pytest.param(album(30, 8.0), id="30-tracks"),
        pytest.param([make_track(1), make_track(2, 2.5), make_track(3, 0.2)], id="shorter-than-3s"),
        pytest.param([make_track(1, silent=True)], id="only-silent"),
        pytest.param([make_track(1), make_track(2, silent=True)], id="one-silent"),
        pytest.param([make_track(1, readings=False), make_track(2)], id="no-readings"),
    ],
)
def test_edge_cases_give_a_picture(name: str, tracks: list[TrackPlotData]) -> None:
    pixels = assert_picture(PLOTS[name](tracks))
    if name in ("loudness", "waveform") and len(tracks) == 30:
        assert pixels.shape[0] <= 1400  # ten rows of panels, three columns


def test_no_target_and_labels_that_look_like_mathtext() -> None:
    tracks = [
        make_track(1),
        TrackPlotData(**{**vars(make_track(2)), "label": r"02 $\frac{money"}),
    ]
    assert_picture(loudness_over_time_png(tracks, None))
    assert_picture(album_profile_png(tracks, None))
    assert_picture(spectrum_png(tracks))


@pytest.mark.parametrize("name", PLOTS)
def test_no_tracks_is_an_error(name: str) -> None:
    with pytest.raises(ValueError, match="no tracks"):
        PLOTS[name]([])


def test_envelope_must_be_bins_by_two() -> None:
    with pytest.raises(ValueError, match=r"envelope must be \(bins, 2\)"):
        TrackPlotData(**{**vars(make_track(1)), "envelope": np.zeros((10, 3))})


def test_overs_are_red_where_they_are_and_nowhere_else() -> None:
    clean = decode(waveform_png([make_track(1)], CEILING_DBFS))
    assert red_mask(clean).sum() == 0

    # Overs in the first quarter of a 40 s track: red strips there, top and bottom.
    early = decode(waveform_png([make_track(1, 40.0, over_at_s=(5.0, 5.05, 9.0))], CEILING_DBFS))
    red = red_mask(early)
    assert red.sum() > 50
    rows, columns = np.nonzero(red)
    assert columns.max() < early.shape[1] / 3
    middle = early.shape[0] // 2
    assert (rows < middle).any() and (rows > middle).any()

    # Out-of-range bins are ignored, not drawn and not an error.
    stray = decode(waveform_png([make_track(1, over_at_s=(-1.0, 500.0))], CEILING_DBFS))
    assert red_mask(stray).sum() == 0


def test_only_the_track_with_overs_gets_red() -> None:
    tracks = [make_track(1), make_track(2, over_at_s=(10.0,))]
    pixels = decode(waveform_png(tracks, CEILING_DBFS))
    rows = np.nonzero(red_mask(pixels))[0]
    assert rows.size > 0
    assert rows.min() > pixels.shape[0] / 2  # the second panel is the lower one


@pytest.mark.parametrize("target", [TARGET_LUFS, None])
def test_loudness_and_waveform_drawn_together_are_the_same_pictures(target: float | None) -> None:
    tracks = [make_track(1, 40.0, over_at_s=(5.0,)), make_track(2, silent=True), make_track(3, 2.5)]
    together = loudness_and_waveform_png(tracks, target, CEILING_DBFS)
    assert together == (loudness_over_time_png(tracks, target), waveform_png(tracks, CEILING_DBFS))


def test_data_uri_round_trips() -> None:
    png = spectrum_png([make_track(1)])
    uri = data_uri(png)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.removeprefix("data:image/png;base64,")) == png
