"""The disc as the pressing plant sees it: tracks, pauses and index points in CD frames.

A CD frame (sector) is 1/75 s: 588 stereo samples at 44.1 kHz, 2352 bytes of 16-bit PCM.
All positions here are frame numbers counted from the start of track 1's pause (INDEX
00 of track 1, the first frame of the image). That is the disc's absolute time (MSF) as
the PQ subcode, cue sheets and DDP PQDESCR write it: track 1's INDEX 01 after the 2 s
pause is 00:02:00. Only the MMC logical block address (LBA) counts from INDEX 01 of
track 1: LBA = frame - 150.
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_RATE_HZ = 44100
FRAMES_PER_SECOND = 75
SAMPLES_PER_FRAME = 588  # 44100 / 75
BYTES_PER_FRAME = 2352  # 588 samples x 2 channels x 2 bytes
LBA_OFFSET_FRAMES = 150  # LBA = absolute frame - 150 (LBA 0 is track 1's INDEX 01)
MAX_TRACKS = 99
MIN_TRACK_FRAMES = 4 * FRAMES_PER_SECOND  # Red Book: every track at least 4 s
MAX_PROGRAMME_FRAMES = (79 * 60 + 57) * FRAMES_PER_SECOND  # 79:57 of programme
MIN_FIRST_PAUSE_FRAMES = 2 * FRAMES_PER_SECOND


@dataclass(frozen=True)
class CdTrack:
    """One track of the disc.

    Attributes
    ----------
    number : 1..99, in running order.
    pregap_start_frame : INDEX 00 (start of the pause before the track); equals
        `start_frame` when the track has no pause (a segue).
    start_frame : INDEX 01, where the track's audio starts.
    end_frame : one past the last frame of the track (the next track's INDEX 00, or
        the end of the programme).
    index_frames : further index points (INDEX 02, 03, ...), absolute frames, ascending.
    """

    number: int
    title: str
    performer: str
    pregap_start_frame: int
    start_frame: int
    end_frame: int
    songwriter: str | None = None
    isrc: str | None = None  # 12 characters, no hyphens
    index_frames: tuple[int, ...] = ()
    pre_emphasis: bool = False
    copy_permitted: bool = False

    @property
    def pregap_frames(self) -> int:
        return self.start_frame - self.pregap_start_frame

    @property
    def length_frames(self) -> int:
        """From INDEX 01 to the end of the track."""
        return self.end_frame - self.start_frame


@dataclass(frozen=True)
class CdLayout:
    """The whole disc: album CD-Text fields, catalogue number and the tracks."""

    title: str
    performer: str
    tracks: tuple[CdTrack, ...]
    total_frames: int  # programme length, from track 1's INDEX 00 to the end
    songwriter: str | None = None
    catalog: str | None = None  # 13 digits (EAN-13; a UPC-A gets a leading 0)


def frames_to_msf(frames: int) -> str:
    """Frames -> "mm:ss:ff" as cue sheets and PQ sheets write it."""
    minutes, rest = divmod(frames, 60 * FRAMES_PER_SECOND)
    seconds, ff = divmod(rest, FRAMES_PER_SECOND)
    return f"{minutes:02d}:{seconds:02d}:{ff:02d}"
