"""QC report pictures: pure functions from plain numpy data to PNG bytes.

Every function draws on its own :class:`matplotlib.figure.Figure` through the Agg
canvas (no pyplot, no global backend switch) and returns the PNG file as bytes, for
:func:`data_uri` to inline into the self-contained ``masters/report.html``
(:func:`loudness_and_waveform_png` draws its two pictures on one figure, in turn).

The output is deterministic: the same data gives byte-identical PNG bytes (the PNG
is written by Pillow from the Agg pixels, so it carries no ``Software`` or time
stamp, and no layout step depends on anything but the data). Pictures are 100 dpi,
12 inches wide and 256-colour; small multiples are laid out on a grid of at most
:data:`_MAX_ROWS` rows so that a 30-track album stays readable.

Series conventions (those of :mod:`masterbuild.dsp.loudness`):

* momentary element ``j`` is the 400 ms window ending at ``(j + 4) * 100 ms``;
* short-term element ``j`` is the 3 s window ending at ``(j + 30) * 100 ms``;
* envelope bin ``i`` covers ``[i, i + 1) * envelope_hop_s``.

Silence (-inf LUFS or dB) is drawn as a gap in the line, never as a dive to the
bottom of the axes.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import TICKDOWN, TICKLEFT, Line2D
from matplotlib.text import Text
from matplotlib.ticker import AutoLocator, NullLocator
from matplotlib.transforms import Bbox, IdentityTransform, ScaledTranslation
from PIL import Image  # a matplotlib dependency

__all__ = [
    "OVER_COLOUR",
    "TrackPlotData",
    "album_profile_png",
    "data_uri",
    "loudness_and_waveform_png",
    "loudness_over_time_png",
    "spectrum_png",
    "waveform_png",
]

DPI = 100
_WIDTH_IN = 12.0
_PANEL_HEIGHT_IN = 1.25  # one small-multiple panel, title and tick labels included
_MAX_ROWS = 10  # more panels than this go into further columns
_FONT_PT = 8
_TITLE_PT = _FONT_PT + 1  # panel titles
_TITLE_PAD_PT = 2.0
_TICK_PAD_PT = 1.0
_TICK_LEN_PT = 3.5  # matplotlib's default major tick
_TICK_WIDTH_PT = 0.8
_GRID_COLOUR = "#dddddd"
_OVER_STRIP = 0.14  # height of the over markers, fraction of a waveform panel

_FREQUENCY_TICKS_HZ = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
_HOP_S = 0.1  # 10 Hz loudness series
_MOMENTARY_WINDOW_S = 0.4
_SHORT_TERM_WINDOW_S = 3.0
_LUFS_FLOOR = -40.0  # bottom of the loudness axes; quieter readings leave the panel

# Colours: overs are the only pure red in any picture (tests count its pixels).
OVER_COLOUR = "#e00000"
_MOMENTARY_COLOUR = "#9ab4d6"
_SHORT_TERM_COLOUR = "#1f4e8c"
_ENVELOPE_COLOUR = "#4a6f9c"
_TARGET_COLOUR = "#2a8a3e"
_CEILING_COLOUR = "#444444"
_PEAK_COLOUR = "#c77800"


@dataclass(frozen=True, eq=False)
class TrackPlotData:
    """What the pictures need of one track (plain numbers and arrays).

    ``eq=False``: instances compare and hash by identity (numpy arrays have no
    truth value for ``==``).

    Attributes
    ----------
    label : str
        Panel title and legend entry, e.g. ``"01 dawn"`` (number and track id).
    duration_s : float
        Track length, s.
    momentary_lufs : numpy.ndarray
        Momentary loudness every 100 ms (400 ms windows), LUFS; -inf where silent.
    short_term_lufs : numpy.ndarray
        Short-term loudness every 100 ms (3 s windows), LUFS; empty if the track is
        shorter than 3 s; -inf where silent.
    envelope_hop_s : float
        Width of one envelope bin, s (e.g. 0.05).
    envelope : numpy.ndarray
        ``(bins, 2)``: minimum and maximum sample value in each bin over all
        channels (full scale 1.0).
    over_bins : numpy.ndarray
        1-D integer indices of envelope bins to mark as overs (clipped, or above
        the ceiling); out-of-range indices are ignored.
    spectrum_freqs_hz : numpy.ndarray
        Frequencies of the long-term average spectrum, Hz.
    spectrum_db : numpy.ndarray
        Long-term average spectrum (mid) at ``spectrum_freqs_hz``, dB re full scale.
    integrated_lufs, true_peak_dbtp, max_short_term_lufs : float or None
        Programme readings, LUFS / dBTP / LUFS; None (or -inf) where not measured.
    """

    label: str
    duration_s: float
    momentary_lufs: np.ndarray
    short_term_lufs: np.ndarray
    envelope_hop_s: float
    envelope: np.ndarray
    over_bins: np.ndarray
    spectrum_freqs_hz: np.ndarray
    spectrum_db: np.ndarray
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    max_short_term_lufs: float | None

    def __post_init__(self) -> None:
        envelope = np.asarray(self.envelope, dtype=np.float64)
        if envelope.size == 0:
            envelope = envelope.reshape(0, 2)
        if envelope.ndim != 2 or envelope.shape[1] != 2:
            raise ValueError(f"{self.label}: envelope must be (bins, 2), got {envelope.shape}")
        freqs = np.asarray(self.spectrum_freqs_hz, dtype=np.float64).ravel()
        spectrum = np.asarray(self.spectrum_db, dtype=np.float64).ravel()
        if freqs.shape != spectrum.shape:
            raise ValueError(
                f"{self.label}: spectrum_freqs_hz {freqs.shape} and spectrum_db "
                f"{spectrum.shape} differ in length"
            )
        if not self.envelope_hop_s > 0:
            raise ValueError(f"{self.label}: envelope_hop_s must be > 0 s")
        fields = {
            "momentary_lufs": np.asarray(self.momentary_lufs, dtype=np.float64).ravel(),
            "short_term_lufs": np.asarray(self.short_term_lufs, dtype=np.float64).ravel(),
            "envelope": envelope,
            "over_bins": np.asarray(self.over_bins, dtype=np.int64).ravel(),
            "spectrum_freqs_hz": freqs,
            "spectrum_db": spectrum,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)


# --- figure plumbing -------------------------------------------------------------------


def _png(fig: Figure) -> bytes:
    """Render ``fig`` with Agg to a 256-colour PNG without a software or time stamp."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return _palette_png(np.asarray(canvas.buffer_rgba())[..., :3])


_SAMPLE_WEIGHT = 8  # pixels of a colour per sample pixel when choosing the palette
_MATCH_CHUNK = 4096  # colours matched to the palette at a time (bounds the memory)


def _palette_png(rgb: np.ndarray) -> bytes:
    """``(height, width, 3)`` uint8 pixels as a 256-colour PNG.

    A plot has few colours, so a median-cut palette loses nothing visible and makes
    the file about a third of full RGB (noisy loudness traces compress badly). Pillow's
    own path is slow here: its median cut hashes every pixel, and ``optimize`` means
    zlib level 9, which took longer than drawing. Its mapping onto a given palette
    rounds colours (white came out light grey). So the palette is cut from a sample that
    holds every colour in proportion to its count (a thin line of overs keeps its
    colour), each distinct colour is mapped to its nearest entry exactly in numpy,
    and zlib runs at level 6 (about 6 % larger files).
    """
    height, width, _ = rgb.shape
    wide = rgb.astype(np.uint32)
    packed = ((wide[..., 0] << 16) | (wide[..., 1] << 8) | wide[..., 2]).ravel()
    seen = np.zeros(1 << 24, dtype=bool)
    seen[packed] = True
    distinct = np.flatnonzero(seen)  # sorted, so the result does not depend on hashing
    index = np.searchsorted(distinct, packed)
    colours = np.stack([distinct >> 16, (distinct >> 8) & 255, distinct & 255], axis=1)
    colours = colours.astype(np.uint8)
    if distinct.size <= 256:
        palette, nearest = colours, np.arange(distinct.size)
    else:
        counts = np.bincount(index, minlength=distinct.size)
        sample = np.repeat(colours, -(-counts // _SAMPLE_WEIGHT), axis=0)
        cut = Image.frombytes("RGB", (sample.shape[0], 1), sample.tobytes()).quantize(
            256, method=Image.Quantize.MEDIANCUT
        )
        entries = np.asarray(cut.getpalette(), dtype=np.uint8).reshape(-1, 3)
        palette = entries[np.unique(np.asarray(cut))]
        nearest = np.concatenate(
            [
                _nearest(colours[start : start + _MATCH_CHUNK], palette)
                for start in range(0, distinct.size, _MATCH_CHUNK)
            ]
        )
    image = Image.frombytes("P", (width, height), nearest.astype(np.uint8)[index].tobytes())
    image.putpalette(palette.tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="png", compress_level=6)
    return buffer.getvalue()


def _nearest(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette entry of each colour (the first of equals).

    Squared distances are whole numbers below 2 ** 24, exact in float32, which
    numpy runs several times faster than int32 (and no BLAS: same on every machine).
    """
    ours, theirs = colours.astype(np.float32), palette.astype(np.float32)
    distance = np.zeros((ours.shape[0], theirs.shape[0]), dtype=np.float32)
    for channel in range(3):
        step = ours[:, channel, None] - theirs[None, :, channel]
        step *= step
        distance += step
    return np.argmin(distance, axis=1)


def _text(label: str) -> str:
    """``label`` as literal text: a ``$`` in a track id must not start mathtext."""
    return label.replace("$", r"\$")


def _gaps(values: np.ndarray) -> np.ndarray:
    """Non-finite readings (silence) as NaN, which matplotlib draws as a gap."""
    return np.where(np.isfinite(values), values, np.nan)


def _reading(value: float | None) -> float:
    """A programme reading as a float; None and -inf (nothing measured) as NaN."""
    return float(value) if value is not None and math.isfinite(value) else math.nan


def _grid(count: int) -> tuple[int, int]:
    """(rows, columns) of small multiples: a column holds at most _MAX_ROWS panels."""
    columns = max(1, math.ceil(count / _MAX_ROWS))
    return math.ceil(count / columns), columns


@dataclass
class _Panels:
    """Small multiples: the figure, one panel a track, and each panel's two titles.

    The titles are plain texts placed by :func:`_arrange` where ``Axes.set_title``
    would put them: a real title makes every draw measure the panel's y axis again
    (to dodge an offset text these panels never have).
    """

    fig: Figure
    axes: list[Axes]
    left_titles: list[Text]
    right_titles: list[Text]
    # Per panel: x grid, y grid, x tick marks, y tick marks, one line each, and the
    # tick labels, placed by _arrange. matplotlib's own ticks (a handful of artists
    # each, laid out again and again) were most of the drawing time; the axes keep
    # none, their locators live here.
    ticks: list[tuple[Line2D, Line2D, Line2D, Line2D]]
    locators: dict[Axis, AutoLocator]
    tick_labels: list[Text]

    def chrome(self) -> set[Artist]:
        """The artists that belong to the panels, not to a picture drawn in them."""
        lines = (line for four in self.ticks for line in four)
        return {*self.left_titles, *self.right_titles, *lines, *self.tick_labels}


def _small_multiples(tracks: list[TrackPlotData]) -> _Panels:
    """A figure with one panel per track in running order, column by column.

    Draw into the panels, then render with :func:`_small_multiples_png`, which lays
    them out.
    """
    if not tracks:
        raise ValueError("no tracks to plot")
    rows, columns = _grid(len(tracks))
    fig = Figure(figsize=(_WIDTH_IN, 0.4 + rows * _PANEL_HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, columns)
    panels = _Panels(fig, [], [], [], [], {}, [])
    for index, track in enumerate(tracks):
        ax = fig.add_subplot(grid[index % rows, index // rows])
        panels.left_titles.append(ax.text(0.0, 1.0, _text(track.label), fontsize=_TITLE_PT))
        panels.right_titles.append(ax.text(1.0, 1.0, "", fontsize=_FONT_PT, ha="right"))
        ax.tick_params(labelsize=_FONT_PT)  # sets the tick spacing the locators choose
        for axis in (ax.xaxis, ax.yaxis):
            panels.locators[axis] = axis.get_major_locator()
            axis.set_major_locator(NullLocator())
        ax.set_axisbelow(True)
        ax.set_xlim(0.0, max(track.duration_s, _HOP_S))
        rule = {"color": _GRID_COLOUR, "linewidth": 0.5, "zorder": 0.5}
        mark = {
            "linestyle": "none",
            "markersize": _TICK_LEN_PT,
            "markeredgewidth": _TICK_WIDTH_PT,
            "color": "black",
            "zorder": 0.5,
            "clip_on": False,
        }
        lines = (
            Line2D([], [], transform=ax.get_xaxis_transform(), **rule),
            Line2D([], [], transform=ax.get_yaxis_transform(), **rule),
            Line2D([], [], transform=ax.get_xaxis_transform(), marker=TICKDOWN, **mark),
            Line2D([], [], transform=ax.get_yaxis_transform(), marker=TICKLEFT, **mark),
        )
        for line in lines:
            ax.add_line(line)
        panels.ticks.append(lines)
        panels.axes.append(ax)
    return panels


def _small_multiples_png(panels: _Panels, xlabel: str) -> bytes:
    """Label the shared x axis, lay the panels out and render the PNG."""
    label = panels.fig.supxlabel(xlabel, fontsize=_FONT_PT + 1, va="bottom")
    _arrange(panels, label)
    return _png(panels.fig)


# Constrained layout's default pads and spaces, which _arrange reproduces.
_LAYOUT_PAD_IN = 3.0 / 72.0
_LAYOUT_SPACE = 0.02  # figure fraction between panels, shared by both sides of a gap


def _arrange(panels: _Panels, xlabel: Text) -> None:
    """Place the panels where ``layout="constrained"`` would, only cheaper.

    Constrained layout asks every panel for its tight box twice, and each ask lays
    out all tick labels again: that was half the drawing time. All panels here
    share fonts, ticks and titles, so what sticks out of a panel (tick labels, its
    y label, titles) is worked out from its tick label strings, each distinct string
    measured once. The arithmetic is constrained layout's: a column's margins are the
    largest of its panels', pads at the figure edges, spaces between panels, equal
    panel sizes, the x label below them all. Two passes, as there, since the ticks
    of the first guess can differ from those of the final size.
    """
    fig = panels.fig
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    rows, columns = _grid(len(panels.axes))
    cells = [(index % rows, index // rows) for index in range(len(panels.axes))]
    pad = _LAYOUT_PAD_IN * fig.dpi
    gap_x = max(pad, _LAYOUT_SPACE / 2 / columns * width)
    gap_y = max(pad, _LAYOUT_SPACE / 2 / rows * height)
    xlabel.set_y(pad / height)
    below = xlabel.get_window_extent(renderer).height + 2 * pad
    extents = _Extents(fig, renderer)
    for _ in range(2):
        titles = zip(panels.left_titles, panels.right_titles, strict=True)
        reach = [
            _overhang(ax, list(pair), panels.locators, extents)
            for ax, pair in zip(panels.axes, titles, strict=True)
        ]
        left, right = [0.0] * columns, [0.0] * columns
        top, bottom = [0.0] * rows, [0.0] * rows
        for (row, column), (lft, rgt, btm, tp) in zip(cells, reach, strict=True):
            left[column] = max(left[column], lft)
            right[column] = max(right[column], rgt)
            bottom[row] = max(bottom[row], btm)
            top[row] = max(top[row], tp)
        left = [m + (pad if c == 0 else gap_x) for c, m in enumerate(left)]
        right = [m + (pad if c == columns - 1 else gap_x) for c, m in enumerate(right)]
        top = [m + (pad if r == 0 else gap_y) for r, m in enumerate(top)]
        bottom = [m + (pad if r == rows - 1 else gap_y) for r, m in enumerate(bottom)]
        panel_w = (width - sum(left) - sum(right)) / columns
        panel_h = (height - below - sum(top) - sum(bottom)) / rows
        for ax, (row, column) in zip(panels.axes, cells, strict=True):
            x0 = sum(left[:column]) + sum(right[:column]) + column * panel_w + left[column]
            y1 = height - sum(top[:row]) - sum(bottom[:row]) - row * panel_h - top[row]
            ax.set_position(
                (x0 / width, (y1 - panel_h) / height, panel_w / width, panel_h / height)
            )
    for label in panels.tick_labels:  # those of a picture drawn before on these panels
        label.remove()
    panels.tick_labels.clear()
    offset = _TICK_LEN_PT + _TICK_PAD_PT
    for ax, (grid_x, grid_y, marks_x, marks_y) in zip(panels.axes, panels.ticks, strict=True):
        # At the final size, drawn as matplotlib would draw its ticks.
        text_x = ax.get_xaxis_text1_transform(offset)
        text_y = ax.get_yaxis_text1_transform(offset)
        for axis, grid, marks, (transform, va, ha) in (
            (ax.xaxis, grid_x, marks_x, text_x),
            (ax.yaxis, grid_y, marks_y, text_y),
        ):
            locs, labels = _ticks(axis, panels.locators[axis])
            across = np.tile([0.0, 1.0, np.nan], locs.size)  # one segment a tick
            along = np.repeat(locs, 3)
            edge = np.zeros_like(locs)
            horizontal = axis is ax.xaxis
            grid.set_data((along, across) if horizontal else (across, along))
            marks.set_data((locs, edge) if horizontal else (edge, locs))
            for loc, label in zip(locs, labels, strict=True):
                at = (loc, 0.0) if horizontal else (0.0, loc)
                text = ax.text(*at, label, fontsize=_FONT_PT, transform=transform, va=va, ha=ha)
                text.set_zorder(0.5)
                panels.tick_labels.append(text)
        if ax.get_ylabel():  # where matplotlib puts it: labelpad left of the tick labels
            x0, _, x1, _ = ax.bbox.extents
            widths = [extents(label, _FONT_PT).width for label in labels]  # the y axis's
            edge = x0 - (offset + ax.yaxis.labelpad) * fig.dpi / 72.0 - max(widths, default=0.0)
            ax.yaxis.set_label_coords((edge - x0) / (x1 - x0), 0.5)


class _Extents:
    """Boxes of label strings in pixels about their anchor, each measured once."""

    def __init__(self, fig: Figure, renderer: RendererAgg) -> None:
        self._fig = fig
        self._renderer = renderer
        self._boxes: dict[tuple[str, float], Bbox] = {}

    def __call__(self, text: str, fontsize: float) -> Bbox:
        """The box of ``text`` with its baseline's left end at (0, 0)."""
        key = (text, fontsize)
        if key not in self._boxes:
            probe = Text(0.0, 0.0, text, fontsize=fontsize, transform=IdentityTransform())
            probe.set_figure(self._fig)
            self._boxes[key] = probe.get_window_extent(self._renderer)
        return self._boxes[key]


def _in_view(axis: Axis, locs: np.ndarray) -> np.ndarray:
    """Which ``locs`` matplotlib draws: those in the view interval, give or take rounding."""
    low, high = sorted(axis.get_view_interval())
    slack = (high - low) * 1e-10  # as matplotlib's own test
    return (locs >= low - slack) & (locs <= high + slack)


def _ticks(axis: Axis, locator: AutoLocator) -> tuple[np.ndarray, list[str]]:
    """The ticks in view and their labels, as matplotlib would draw them on ``axis``."""
    locs = np.asarray(locator(), dtype=np.float64)
    labels = axis.get_major_formatter().format_ticks(locs)
    keep = np.flatnonzero(_in_view(axis, locs))
    return locs[keep], [labels[i] for i in keep]


def _overhang(
    ax: Axes, titles: list[Text], locators: dict[Axis, AutoLocator], extents: _Extents
) -> tuple[float, float, float, float]:
    """How far a panel's labels and titles reach past its (left, right, bottom, top), px.

    Also puts the ``titles`` on their baseline above the panel.
    """
    x0, y0, x1, y1 = ax.bbox.extents
    points = ax.figure.dpi / 72.0
    left = right = bottom = top = 0.0
    locs, labels = _ticks(ax.xaxis, locators[ax.xaxis])
    boxes = [extents(label, _FONT_PT) for label in labels]
    if boxes:  # labels centred under their ticks, hung below the tick marks
        centres = ax.transData.transform(np.column_stack([locs, np.zeros_like(locs)]))[:, 0]
        half = np.array([box.width for box in boxes]) / 2.0
        left = float(np.max(x0 - (centres - half)))
        right = float(np.max(centres + half - x1))
        offset = (_TICK_LEN_PT + _TICK_PAD_PT) * points
        bottom = offset + max(box.height for box in boxes)
    locs, labels = _ticks(ax.yaxis, locators[ax.yaxis])
    boxes = [extents(label, _FONT_PT) for label in labels]
    if boxes:  # labels centred on their ticks, right-aligned left of the tick marks
        centres = ax.transData.transform(np.column_stack([np.zeros_like(locs), locs]))[:, 1]
        half = np.array([box.height for box in boxes]) / 2.0
        bottom = max(bottom, float(np.max(y0 - (centres - half))))
        top = float(np.max(centres + half - y1))
        side = (_TICK_LEN_PT + _TICK_PAD_PT) * points
        side += max(box.width for box in boxes)
        if ax.get_ylabel():  # drawn turned a quarter: its box's height is its width
            label = ax.yaxis.label
            side += ax.yaxis.labelpad * points + extents(label.get_text(), label.get_size()).height
        left = max(left, side)
    # Titles sit _TITLE_PAD_PT above the panel, on one baseline, raised so that no
    # descent dips into the panel (where Axes.set_title puts them).
    boxes = [extents(title.get_text(), title.get_fontsize()) for title in titles]
    baseline = max(_TITLE_PAD_PT * points, *(-box.y0 for box in boxes if box.width))
    raise_by = ScaledTranslation(0.0, baseline / ax.figure.dpi, ax.figure.dpi_scale_trans)
    for title in titles:
        title.set_transform(ax.transAxes + raise_by)
    top = max(top, baseline + max(box.y1 for box in boxes))
    return left, max(right, 0.0), bottom, top


def _window_ends(count: int, window_s: float) -> np.ndarray:
    """End time of each 10 Hz window, s."""
    return window_s + _HOP_S * np.arange(count)


# --- the pictures ----------------------------------------------------------------------


def loudness_over_time_png(tracks: list[TrackPlotData], target_lufs: float | None) -> bytes:
    """Momentary (thin) and short-term (thick) loudness against time, one panel a track.

    Parameters
    ----------
    tracks : list of TrackPlotData
        In running order; at least one.
    target_lufs : float or None
        Integrated-loudness target drawn as a dashed line, LUFS; None for none.

    Returns
    -------
    bytes
        PNG. Each panel's y axis runs from -40 LUFS to 0 LUFS (higher if a reading
        is above 0); time axes are per track, s.
    """
    panels = _small_multiples(tracks)
    _draw_loudness(panels, tracks, target_lufs)
    return _small_multiples_png(panels, "time (s)")


def _draw_loudness(panels: _Panels, tracks: list[TrackPlotData], target_lufs: float | None) -> None:
    for ax, track in zip(panels.axes, tracks, strict=True):
        momentary = _gaps(track.momentary_lufs)
        short_term = _gaps(track.short_term_lufs)
        ax.plot(
            _window_ends(momentary.size, _MOMENTARY_WINDOW_S),
            momentary,
            color=_MOMENTARY_COLOUR,
            linewidth=0.6,
            label="momentary",
        )
        ax.plot(
            _window_ends(short_term.size, _SHORT_TERM_WINDOW_S),
            short_term,
            color=_SHORT_TERM_COLOUR,
            linewidth=1.6,
            label="short-term",
        )
        if target_lufs is not None:
            ax.axhline(target_lufs, color=_TARGET_COLOUR, linestyle="--", linewidth=1.0)
        readings = np.concatenate([momentary, short_term])
        readings = readings[np.isfinite(readings)]
        top = max(0.0, math.ceil(readings.max()) + 1.0) if readings.size else 0.0
        ax.set_ylim(_LUFS_FLOOR, top)
        ax.set_ylabel("LUFS", fontsize=_FONT_PT, labelpad=1)
        if not np.isfinite(momentary).any():
            note = "silent" if momentary.size else "too short for a 400 ms reading"
            ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center")
    panels.axes[0].legend(loc="lower right", fontsize=_FONT_PT, ncols=2, framealpha=0.8)


def waveform_png(tracks: list[TrackPlotData], ceiling_dbfs: float) -> bytes:
    """Min/max sample envelope, ceiling lines and overs (red), one panel a track.

    Parameters
    ----------
    tracks : list of TrackPlotData
        In running order; at least one.
    ceiling_dbfs : float
        Delivery ceiling, dBFS, drawn as dashed lines at ``±10 ** (ceiling / 20)``.

    Returns
    -------
    bytes
        PNG. Every over bin is marked by red strips at least 1.5 pt wide along
        the panel's top and bottom edges, so a single over in a long track stays
        visible; nothing else is drawn in :data:`OVER_COLOUR`. The panel title
        counts the over bins.
    """
    panels = _small_multiples(tracks)
    return _small_multiples_png(panels, _draw_waveform(panels, tracks, ceiling_dbfs))


def _draw_waveform(panels: _Panels, tracks: list[TrackPlotData], ceiling_dbfs: float) -> str:
    """Draw the waveform panels; return the x label that explains them."""
    ceiling = 10.0 ** (ceiling_dbfs / 20.0)
    for ax, title, track in zip(panels.axes, panels.right_titles, tracks, strict=True):
        envelope = track.envelope
        bins = envelope.shape[0]
        finite = envelope[np.isfinite(envelope)]
        extent = max(1.05, ceiling * 1.05, float(np.abs(finite).max(initial=0.0)) * 1.02)
        centres = (np.arange(bins) + 0.5) * track.envelope_hop_s
        if bins:
            ax.fill_between(
                centres,
                _gaps(envelope[:, 0]),
                _gaps(envelope[:, 1]),
                color=_ENVELOPE_COLOUR,
                linewidth=0.4,
                edgecolor=_ENVELOPE_COLOUR,
            )
        for sign in (1.0, -1.0):
            ax.axhline(sign * ceiling, color=_CEILING_COLOUR, linestyle="--", linewidth=0.8)
        overs = np.unique(track.over_bins)
        overs = overs[(overs >= 0) & (overs < bins)]
        if overs.size:
            # Red strips along the top and bottom edges (axes fractions), so the
            # envelope stays readable under a run of overs.
            for low, high in ((0.0, _OVER_STRIP), (1.0 - _OVER_STRIP, 1.0)):
                ax.vlines(
                    centres[overs],
                    low,
                    high,
                    transform=ax.get_xaxis_transform(),
                    colors=OVER_COLOUR,
                    linewidth=1.5,
                    antialiased=False,
                )
            plural = "s" if overs.size != 1 else ""
            title.set_text(f"{overs.size} over bin{plural}")
        ax.set_ylim(-extent, extent)
    return f"time (s); dashed: ceiling {ceiling_dbfs:g} dBFS; red: overs"


def loudness_and_waveform_png(
    tracks: list[TrackPlotData], target_lufs: float | None, ceiling_dbfs: float
) -> tuple[bytes, bytes]:
    """:func:`loudness_over_time_png` and :func:`waveform_png`, the same bytes, cheaper.

    Both pictures have the same panels (titles, time axes, grid), so the second is
    drawn on the first one's figure with the loudness traces taken away: making the
    panels and their ticks is about a fifth of a picture's time.
    """
    panels = _small_multiples(tracks)
    _draw_loudness(panels, tracks, target_lufs)
    loudness = _small_multiples_png(panels, "time (s)")
    chrome = panels.chrome()
    for ax in panels.axes:
        for artist in [*ax.lines, *ax.collections, *ax.texts]:
            if artist not in chrome:
                artist.remove()
        if ax.legend_ is not None:
            ax.legend_.remove()
        ax.set_ylabel("")
    waveform = _small_multiples_png(panels, _draw_waveform(panels, tracks, ceiling_dbfs))
    return loudness, waveform


def album_profile_png(tracks: list[TrackPlotData], target_lufs: float | None) -> bytes:
    """The album's level across the running order: integrated, max short-term, true peak.

    Parameters
    ----------
    tracks : list of TrackPlotData
        In running order; at least one.
    target_lufs : float or None
        Integrated-loudness target drawn as a dashed line, LUFS; None for none.

    Returns
    -------
    bytes
        PNG. Integrated loudness is joined across the running order (a gap where a
        track has no reading); LUFS and dBTP share the y axis (both dB re full scale).
    """
    if not tracks:
        raise ValueError("no tracks to plot")
    order = np.arange(1, len(tracks) + 1)
    integrated = np.array([_reading(t.integrated_lufs) for t in tracks])
    short_term = np.array([_reading(t.max_short_term_lufs) for t in tracks])
    peak = np.array([_reading(t.true_peak_dbtp) for t in tracks])

    fig = Figure(figsize=(_WIDTH_IN, 4.0), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    ax.plot(
        order,
        integrated,
        color=_SHORT_TERM_COLOUR,
        marker="o",
        markersize=7,
        linewidth=1.2,
        label="integrated (LUFS)",
    )
    ax.plot(
        order,
        short_term,
        color=_MOMENTARY_COLOUR,
        marker="^",
        markersize=6,
        linestyle="none",
        label="max short-term (LUFS)",
    )
    ax.plot(
        order,
        peak,
        color=_PEAK_COLOUR,
        marker="v",
        markersize=6,
        linestyle="none",
        label="true peak (dBTP)",
    )
    readings = np.concatenate([integrated, short_term, peak])
    readings = readings[np.isfinite(readings)]
    if target_lufs is not None:
        ax.axhline(target_lufs, color=_TARGET_COLOUR, linestyle="--", linewidth=1.0, label="target")
        readings = np.append(readings, target_lufs)
    low = math.floor(readings.min()) - 3.0 if readings.size else _LUFS_FLOOR
    high = math.ceil(readings.max()) + 2.0 if readings.size else 0.0
    ax.set_ylim(low, max(high, low + 10.0))
    for x in order[np.isnan(integrated)]:
        ax.text(x, low + 0.5, "no reading", ha="center", va="bottom", fontsize=_FONT_PT)
    ax.set_xlim(0.5, len(tracks) + 0.5)
    ax.set_xticks(order, [_text(t.label) for t in tracks])
    many = len(tracks) > 8
    ax.tick_params(axis="x", labelsize=_FONT_PT, rotation=45 if many else 0)
    if many:
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    ax.tick_params(axis="y", labelsize=_FONT_PT)
    ax.set_ylabel("level (LUFS / dBTP)", fontsize=_FONT_PT + 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=_FONT_PT)
    return _png(fig)


def spectrum_png(tracks: list[TrackPlotData]) -> bytes:
    """Long-term average spectrum of every track overlaid, log frequency axis.

    Parameters
    ----------
    tracks : list of TrackPlotData
        In running order; at least one.

    Returns
    -------
    bytes
        PNG. The x axis runs from 20 Hz to the highest frequency given (the
        Nyquist frequency); the y axis spans the levels from 20 Hz up (at least 40 dB,
        at most 100 dB). The legend lists the track labels in running order.
    """
    if not tracks:
        raise ValueError("no tracks to plot")
    fig = Figure(figsize=(_WIDTH_IN, 5.0), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.grid(True, which="both", color="#e4e4e4", linewidth=0.5)
    ax.set_axisbelow(True)
    colours = _palette(len(tracks))
    nyquist_hz, loudest_db, quietest_db = 0.0, -math.inf, math.inf
    for track, colour in zip(tracks, colours, strict=True):
        keep = track.spectrum_freqs_hz > 0.0  # log axis: no DC
        freqs, level = track.spectrum_freqs_hz[keep], _gaps(track.spectrum_db[keep])
        ax.plot(freqs, level, color=colour, linewidth=1.0, label=_text(track.label))
        if freqs.size:
            nyquist_hz = max(nyquist_hz, float(freqs.max()))
        audible = level[(freqs >= 20.0) & np.isfinite(level)]
        if audible.size:
            loudest_db = max(loudest_db, float(audible.max()))
            quietest_db = min(quietest_db, float(audible.min()))
    high_hz = nyquist_hz if nyquist_hz > 20.0 else 20000.0
    ax.set_xlim(20.0, high_hz)
    ticks = [f for f in _FREQUENCY_TICKS_HZ if f <= high_hz]
    ax.set_xticks(ticks, [f"{f / 1000:g}k" if f >= 1000 else f"{f:g}" for f in ticks])
    ax.minorticks_off()
    if math.isfinite(loudest_db):
        top = 10.0 * math.ceil(loudest_db / 10.0) + 5.0
        bottom = min(max(10.0 * math.floor(quietest_db / 10.0) - 5.0, top - 100.0), top - 40.0)
    else:
        top, bottom = 0.0, -100.0
    ax.set_ylim(bottom, top)
    ax.tick_params(labelsize=_FONT_PT)
    ax.set_xlabel("frequency (Hz)", fontsize=_FONT_PT + 1)
    ax.set_ylabel("level (dB)", fontsize=_FONT_PT + 1)
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=_FONT_PT,
        ncols=1 if len(tracks) <= 16 else 2,
    )
    return _png(fig)


def _palette(count: int) -> list[tuple[float, float, float]]:
    """Distinct line colours: tab10 up to ten tracks, else evenly spaced viridis."""
    if count <= 10:
        return [to_rgb(c) for c in colormaps["tab10"].colors[:count]]
    return [tuple(c[:3]) for c in colormaps["viridis"](np.linspace(0.0, 0.92, count))]


def data_uri(png: bytes) -> str:
    """``png`` as a ``data:image/png;base64,...`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
