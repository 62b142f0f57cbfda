"""Sequencing: where each track's audio lands in the continuous CD programme.

Rules (issue 4, Red Book):
- The programme starts with track 1's pause (INDEX 00), at least 2 s of digital silence.
- Before every other track, `gap_s` of digital silence (its INDEX 00 .. INDEX 01),
  starting on the first frame after the previous track's audio (padded with silence).
- `gap_s = 0` is a segue: the audio is contiguous, and INDEX 01 is the frame at or
  before the track's first sample, so skipping to the track never cuts its attack.
- With `crossfade_s`, the previous track's tail overlaps this track's head (the mix is
  done by the renderer, equal power); the track boundary (INDEX 01) sits `boundary_s`
  into the overlap, by default its middle. A crossfaded track has no pause.
- Every INDEX lies on a CD frame (588 samples). Rounding never cuts audio: a track's
  audio starts exactly on its INDEX 01 frame (or, crossfaded, where the overlap says),
  and the end of the programme is padded with silence to a whole frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from masterbuild.cd.layout import (
    FRAMES_PER_SECOND,
    MIN_FIRST_PAUSE_FRAMES,
    SAMPLE_RATE_HZ,
    SAMPLES_PER_FRAME,
    CdLayout,
    CdTrack,
)


@dataclass(frozen=True)
class TrackTiming:
    """What the sequencer needs of one track (44.1 kHz samples, seconds)."""

    id: str
    title: str
    performer: str
    samples: int
    gap_s: float = 2.0
    crossfade_s: float = 0.0
    boundary_s: float | None = None  # into the crossfade; None = its middle
    index_s: tuple[float, ...] = ()  # further index points, from the track's INDEX 01
    songwriter: str | None = None
    isrc: str | None = None
    hidden: bool = False  # first track only: its audio plays in track 1's INDEX 00

    @classmethod
    def from_config(cls, track: Mapping[str, Any], samples: int) -> TrackTiming:
        """From a CD track's plan config (masterbuild.plan.cd_track_configs)."""
        return cls(
            id=track["id"],
            title=track["title"],
            performer=track["performer"],
            samples=samples,
            gap_s=track["gap_s"],
            crossfade_s=track["crossfade_s"],
            boundary_s=track["boundary_s"],
            index_s=tuple(track["index_s"]),
            songwriter=track["songwriter"],
            isrc=track["isrc"],
            hidden=track["hidden"],
        )


@dataclass(frozen=True)
class Placement:
    """Where one track's audio lands in the programme, in samples."""

    id: str
    audio_start_sample: int  # the track's first sample
    audio_end_sample: int  # one past its last sample
    fade_in_samples: int  # overlap with the previous track (crossfade), 0 if none


def _frames_up(seconds: float) -> int:
    """Seconds -> whole frames, rounding up (a pause is never shortened)."""
    return math.ceil(round(seconds * FRAMES_PER_SECOND, 6))


def sequence(
    tracks: Sequence[TrackTiming],
    album_title: str,
    album_performer: str,
    catalog: str | None = None,
) -> tuple[list[Placement], CdLayout]:
    """Place the tracks and return (placements, layout).

    Raises ValueError for impossible timings (a crossfade longer than either track, a
    boundary outside its crossfade, an index point outside its track).
    """
    if not tracks:
        raise ValueError("a CD needs at least one track")
    if any(t.hidden for t in tracks[1:]) or (tracks[0].hidden and len(tracks) < 2):
        raise ValueError("only the first of two or more tracks can be hidden")
    placements: list[Placement] = []
    starts: list[int] = []  # INDEX 01 frame of each track
    pregaps: list[int] = []  # INDEX 00 frame
    prev_end = 0  # one past the previous track's last sample
    for i, t in enumerate(tracks):
        xfade = round(t.crossfade_s * SAMPLE_RATE_HZ)
        segue = i > 0 and xfade == 0 and _frames_up(t.gap_s) == 0
        if t.hidden:
            # audio from the first sample; the next track's INDEX 00 is the disc's start
            audio_start, start_frame, pregap_frame, fade_in = 0, 0, 0, 0
        elif i == 1 and tracks[0].hidden:
            pregap_frame = 0
            start_frame = max(
                -(-prev_end // SAMPLES_PER_FRAME) + _frames_up(t.gap_s), MIN_FIRST_PAUSE_FRAMES
            )
            audio_start = start_frame * SAMPLES_PER_FRAME
            fade_in = 0
        elif segue:
            audio_start = prev_end
            start_frame = max(audio_start // SAMPLES_PER_FRAME, starts[-1] + 1)
            pregap_frame = start_frame
            fade_in = 0
        elif i == 0 or xfade == 0:
            pause_frames = _frames_up(t.gap_s)
            if i == 0:
                pause_frames = max(pause_frames, MIN_FIRST_PAUSE_FRAMES)
            # the pause starts on the first whole frame after the previous audio
            pregap_frame = -(-prev_end // SAMPLES_PER_FRAME)
            start_frame = pregap_frame + pause_frames
            audio_start = start_frame * SAMPLES_PER_FRAME
            fade_in = 0
        else:
            prev = placements[-1]
            prev_len = prev.audio_end_sample - prev.audio_start_sample
            if xfade > min(prev_len, t.samples):
                raise ValueError(
                    f"track {t.id!r}: a {t.crossfade_s:g} s crossfade is longer than it or "
                    "the track before it"
                )
            audio_start = prev_end - xfade
            boundary = xfade / 2 if t.boundary_s is None else t.boundary_s * SAMPLE_RATE_HZ
            if not 0 <= boundary <= xfade:
                raise ValueError(f"track {t.id!r}: boundary_s lies outside its crossfade")
            # the nearest frame to the requested boundary, kept after the previous INDEX 01
            start_frame = max(round((audio_start + boundary) / SAMPLES_PER_FRAME), starts[-1] + 1)
            pregap_frame = start_frame
            fade_in = xfade
        audio_end = audio_start + t.samples
        placements.append(Placement(t.id, audio_start, audio_end, fade_in))
        starts.append(start_frame)
        pregaps.append(pregap_frame)
        prev_end = audio_end
    total_frames = -(-prev_end // SAMPLES_PER_FRAME)

    cd_tracks = []
    for i, t in enumerate(tracks):
        if t.hidden:
            continue
        end = pregaps[i + 1] if i + 1 < len(tracks) else total_frames
        indexes = tuple(starts[i] + round(s * FRAMES_PER_SECOND) for s in t.index_s)
        if any(not starts[i] < f < end for f in indexes):
            raise ValueError(f"track {t.id!r}: an index point lies outside the track")
        cd_tracks.append(
            CdTrack(
                number=len(cd_tracks) + 1,
                title=t.title,
                performer=t.performer,
                pregap_start_frame=pregaps[i],
                start_frame=starts[i],
                end_frame=end,
                songwriter=t.songwriter,
                isrc=t.isrc,
                index_frames=indexes,
            )
        )
    layout = CdLayout(
        title=album_title,
        performer=album_performer,
        tracks=tuple(cd_tracks),
        total_frames=total_frames,
        catalog=catalog,
    )
    return placements, layout
