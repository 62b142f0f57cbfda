"""Red Book (IEC 60908) checks of a disc layout and of the audio format.

Each check returns `Problem`s rather than raising, so a build can report every problem
of a disc at once. Messages are one line: what is wrong, with figures, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from masterbuild.cd.layout import (
    FRAMES_PER_SECOND,
    MAX_PROGRAMME_FRAMES,
    MAX_TRACKS,
    MIN_FIRST_PAUSE_FRAMES,
    MIN_TRACK_FRAMES,
    SAMPLE_RATE_HZ,
    CdLayout,
    frames_to_msf,
)
from masterbuild.cd.sequence import Placement, TrackTiming, sequence
from masterbuild.manifest.identifiers import normalize_barcode, normalize_isrc


@dataclass(frozen=True)
class Problem:
    """One Red Book violation.

    Attributes
    ----------
    location : where, e.g. ``"tracks[3]"`` or ``"catalog"``.
    message : one line: what is wrong and how to fix it.
    """

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def _seconds(frames: int) -> str:
    return f"{frames / FRAMES_PER_SECOND:.2f} s ({frames} frames)"


def _mmss(frames: int) -> str:
    """Programme time as ``mm:ss`` with the frames only when not whole seconds."""
    msf = frames_to_msf(frames)
    return msf[:-3] if msf.endswith(":00") else msf


def check_layout(layout: CdLayout, isrc_locations: list[str] | None = None) -> list[Problem]:
    """Check a layout against the Red Book limits a pressing plant enforces.

    Parameters
    ----------
    layout : the disc.
    isrc_locations : per track, where its ISRC came from in the manifest (e.g.
        ``"album.tracks[3].isrc"``) so messages point there; ``tracks[i].isrc`` otherwise.

    Returns
    -------
    Problems, empty when the disc can be mastered: at most 99 tracks; every track at
    least 4 s from INDEX 01 to its end; programme at most 79:57; a first pause of at
    least 2 s; valid, unique ISRCs; a catalog that is an EAN-13 with a valid check digit;
    index points inside their track and ascending; consistent frames (INDEX 00 <=
    INDEX 01 < end, tracks contiguous from frame 0, the last ending at `total_frames`).
    """
    problems: list[Problem] = []
    tracks = layout.tracks
    if not tracks:
        return [Problem("tracks", "the disc has no tracks: add at least one")]
    if len(tracks) > MAX_TRACKS:
        problems.append(
            Problem(
                "tracks",
                f"the disc has {len(tracks)} tracks, over the {MAX_TRACKS} a CD can address: "
                "merge tracks or use index points",
            )
        )
    if layout.total_frames > MAX_PROGRAMME_FRAMES:
        over = layout.total_frames - MAX_PROGRAMME_FRAMES
        problems.append(
            Problem(
                "total_frames",
                f"programme is {_mmss(layout.total_frames)}, over the "
                f"{_mmss(MAX_PROGRAMME_FRAMES)} a CD holds by {_seconds(over)}: "
                "drop a track or shorten gaps",
            )
        )
    first = tracks[0]
    if first.pregap_frames < MIN_FIRST_PAUSE_FRAMES:
        problems.append(
            Problem(
                "tracks[0]",
                f"first pause is {_seconds(first.pregap_frames)}; Red Book requires at "
                f"least {_seconds(MIN_FIRST_PAUSE_FRAMES)} before track 1: lengthen it",
            )
        )
    if first.pregap_start_frame != 0:
        problems.append(
            Problem(
                "tracks[0]",
                f"INDEX 00 is at frame {first.pregap_start_frame}; the programme starts at "
                "frame 0: start track 1's pause at 0",
            )
        )
    expected_start = 0
    for i, track in enumerate(tracks):
        where = f"tracks[{i}]"
        if track.number != i + 1:
            problems.append(
                Problem(where, f"is numbered {track.number}, expected {i + 1}: renumber")
            )
        if i > 0 and track.pregap_start_frame != expected_start:
            gap = track.pregap_start_frame - expected_start
            kind = "gap" if gap > 0 else "overlap"
            problems.append(
                Problem(
                    where,
                    f"INDEX 00 at frame {track.pregap_start_frame} but the previous track "
                    f"ends at {expected_start} ({kind} of {abs(gap)} frames): tracks must be "
                    "contiguous",
                )
            )
        if not track.pregap_start_frame <= track.start_frame < track.end_frame:
            problems.append(
                Problem(
                    where,
                    f"frames out of order: INDEX 00 {track.pregap_start_frame}, INDEX 01 "
                    f"{track.start_frame}, end {track.end_frame}; need INDEX 00 <= INDEX 01 "
                    "< end",
                )
            )
        elif track.length_frames < MIN_TRACK_FRAMES:
            problems.append(
                Problem(
                    where,
                    f"is {_seconds(track.length_frames)} long: Red Book tracks are at least "
                    f"{_seconds(MIN_TRACK_FRAMES)} from INDEX 01 to the end; lengthen it or "
                    "merge it into a neighbour",
                )
            )
        previous = track.start_frame
        for k, frame in enumerate(track.index_frames):
            if not previous < frame < track.end_frame:
                problems.append(
                    Problem(
                        f"{where}.index_frames[{k}]",
                        f"INDEX {k + 2:02d} at frame {frame} is not between the previous "
                        f"index point ({previous}) and the track's end ({track.end_frame}): "
                        "index points must lie inside their track, ascending",
                    )
                )
            previous = max(previous, frame)
        if len(track.index_frames) > 97:
            problems.append(
                Problem(where, f"has {len(track.index_frames) + 2} index points, over 99")
            )
        expected_start = track.end_frame
    if tracks[-1].end_frame != layout.total_frames:
        problems.append(
            Problem(
                "total_frames",
                f"is {layout.total_frames} but the last track ends at frame "
                f"{tracks[-1].end_frame}: make them agree",
            )
        )
    problems += _check_isrcs(layout, isrc_locations)
    if layout.catalog is not None:
        problems += _check_catalog(layout.catalog)
    return problems


def _check_isrcs(layout: CdLayout, isrc_locations: list[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for i, track in enumerate(layout.tracks):
        if track.isrc is None:
            continue
        where = (
            isrc_locations[i]
            if isrc_locations is not None and i < len(isrc_locations)
            else f"tracks[{i}].isrc"
        )
        try:
            isrc = normalize_isrc(track.isrc)
        except ValueError as error:
            problems.append(Problem(where, str(error)))
            continue
        if isrc != track.isrc:
            problems.append(
                Problem(where, f"{track.isrc!r} must be written as {isrc!r} on the disc")
            )
        if isrc in seen:
            problems.append(
                Problem(
                    where,
                    f"ISRC {isrc} is also {seen[isrc]}'s: every recording has its own ISRC; "
                    "correct one of them",
                )
            )
        else:
            seen[isrc] = where
    return problems


def _check_catalog(catalog: str) -> list[Problem]:
    if len(catalog) != 13 or not catalog.isdigit():
        return [
            Problem(
                "catalog",
                f"{catalog!r} is not 13 digits: the disc's catalog number is an EAN-13 "
                "(put a 0 before a 12-digit UPC-A)",
            )
        ]
    try:
        normalize_barcode(catalog)
    except ValueError as error:
        return [Problem("catalog", str(error))]
    return []


def check_audio_format(sample_rate_hz: int, bit_depth: int | None, channels: int) -> list[Problem]:
    """Check that audio is CD audio: 44.1 kHz, 16-bit, stereo.

    Parameters
    ----------
    sample_rate_hz, bit_depth, channels : the image's format; `bit_depth` None for
        floating point or unknown.

    Returns
    -------
    One problem per wrong property.
    """
    problems: list[Problem] = []
    if sample_rate_hz != SAMPLE_RATE_HZ:
        problems.append(
            Problem(
                "sample_rate_hz",
                f"is {sample_rate_hz} Hz; CD audio is {SAMPLE_RATE_HZ} Hz: resample the CD master",
            )
        )
    if bit_depth != 16:
        shown = "floating point or unknown" if bit_depth is None else f"{bit_depth}-bit"
        problems.append(
            Problem(
                "bit_depth",
                f"is {shown}; CD audio is 16-bit integer PCM: dither to 16 bits",
            )
        )
    if channels != 2:
        problems.append(
            Problem(
                "channels",
                f"is {channels}; CD audio is 2 channels: "
                + ("duplicate the mono channel" if channels == 1 else "mix down to stereo"),
            )
        )
    return problems


def sequence_checked(
    timings: Sequence[TrackTiming], title: str, performer: str, catalog: str | None
) -> tuple[list[Placement], CdLayout | None, list[Problem]]:
    """Sequence the tracks and check the disc; locations are the manifest's `tracks[i]`.

    Returns (placements, layout, problems); layout is None when sequencing failed.
    """
    try:
        placements, layout = sequence(timings, title, performer, catalog)
    except ValueError as exc:
        return [], None, [Problem("tracks", str(exc))]
    locations = [f"tracks[{i}]" for i, t in enumerate(timings) if not t.hidden]
    return placements, layout, check_layout(layout, locations)
