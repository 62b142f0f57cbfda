"""CD sequencing: pauses, segues, crossfades and index points on CD frames."""

from __future__ import annotations

import pytest

from masterbuild.cd.layout import SAMPLES_PER_FRAME, frames_to_msf
from masterbuild.cd.sequence import TrackTiming, sequence

SPF = SAMPLES_PER_FRAME


def t(i: int, samples: int, **kw) -> TrackTiming:
    return TrackTiming(id=f"t{i}", title=f"T{i}", performer="P", samples=samples, **kw)


def test_first_pause_is_at_least_two_seconds_and_not_counted_in_audio():
    placements, layout = sequence([t(1, 300 * SPF, gap_s=0.5)], "A", "P")
    first = layout.tracks[0]
    assert (first.pregap_start_frame, first.start_frame) == (0, 150)
    assert placements[0].audio_start_sample == 150 * SPF
    assert first.length_frames == 300 and layout.total_frames == 450


def test_gaps_start_after_the_previous_audio_padded_to_a_frame():
    # track 1 ends 100 samples into a frame: it is padded, never truncated
    placements, layout = sequence(
        [t(1, 400 * SPF + 100, gap_s=2.0), t(2, 500 * SPF, gap_s=1.5)], "A", "P"
    )
    one, two = layout.tracks
    assert one.end_frame == two.pregap_start_frame == 150 + 401
    assert two.pregap_frames == 113  # 112.5 frames, rounded up: a pause is never shortened
    assert placements[1].audio_start_sample == two.start_frame * SPF
    assert placements[0].audio_end_sample <= one.end_frame * SPF  # whole track 1 kept


def test_gap_rounds_up_to_whole_frames():
    _, layout = sequence([t(1, 400 * SPF), t(2, 400 * SPF, gap_s=0.01)], "A", "P")
    assert layout.tracks[1].pregap_frames == 1  # 0.75 frame -> 1


def test_segue_is_contiguous_with_index_at_or_before_the_first_sample():
    placements, layout = sequence([t(1, 400 * SPF + 300), t(2, 400 * SPF, gap_s=0.0)], "A", "P")
    assert placements[1].audio_start_sample == placements[0].audio_end_sample  # no silence
    two = layout.tracks[1]
    assert two.pregap_frames == 0
    assert two.start_frame * SPF <= placements[1].audio_start_sample < (two.start_frame + 1) * SPF


def test_crossfade_overlaps_and_boundary_sits_in_the_middle_by_default():
    xf = 2.0
    placements, layout = sequence([t(1, 750 * SPF), t(2, 750 * SPF, crossfade_s=xf)], "A", "P")
    p1, p2 = placements
    assert p2.audio_start_sample == p1.audio_end_sample - round(xf * 44100)
    assert p2.fade_in_samples == round(xf * 44100)
    middle = p2.audio_start_sample + round(xf * 44100) / 2
    assert abs(layout.tracks[1].start_frame * SPF - middle) <= SPF / 2
    assert layout.tracks[1].pregap_frames == 0
    assert layout.total_frames * SPF >= p2.audio_end_sample


def test_crossfade_boundary_where_the_engineer_says():
    placements, layout = sequence(
        [t(1, 750 * SPF), t(2, 750 * SPF, crossfade_s=2.0, boundary_s=0.0)], "A", "P"
    )
    assert abs(layout.tracks[1].start_frame * SPF - placements[1].audio_start_sample) <= SPF / 2


def test_index_points_and_errors():
    _, layout = sequence([t(1, 750 * SPF, index_s=(3.0, 6.5))], "A", "P")
    assert layout.tracks[0].index_frames == (150 + 225, 150 + round(6.5 * 75))
    with pytest.raises(ValueError, match="index point"):
        sequence([t(1, 300 * SPF, index_s=(30.0,))], "A", "P")
    with pytest.raises(ValueError, match="crossfade is longer"):
        sequence([t(1, 100 * SPF), t(2, 300 * SPF, crossfade_s=5.0)], "A", "P")


def test_every_boundary_is_a_whole_frame_and_tracks_are_contiguous():
    tracks = [
        t(1, 1000 * SPF + 17),
        t(2, 999 * SPF + 1, gap_s=0.0),
        t(3, 1200 * SPF + 5, crossfade_s=1.3),
        t(4, 800 * SPF, gap_s=2.7),
    ]
    placements, layout = sequence(tracks, "A", "P")
    for a, b in zip(layout.tracks, layout.tracks[1:], strict=False):
        assert a.end_frame == b.pregap_start_frame
        assert a.pregap_start_frame <= a.start_frame < a.end_frame
    assert layout.tracks[-1].end_frame == layout.total_frames
    assert (
        layout.total_frames * SPF
        >= placements[-1].audio_end_sample
        > (layout.total_frames - 1) * SPF
    )


def test_msf():
    assert frames_to_msf(0) == "00:00:00"
    assert frames_to_msf(150) == "00:02:00"
    assert frames_to_msf((79 * 60 + 57) * 75 + 74) == "79:57:74"


def test_hidden_track_plays_in_track_ones_pause():
    hidden, first = 600 * SPF + 10, 400 * SPF
    placements, layout = sequence(
        [t(0, hidden, hidden=True), t(1, first, gap_s=1.0), t(2, 300 * SPF)], "A", "P"
    )
    assert [tr.number for tr in layout.tracks] == [1, 2]  # the hidden track is no CD track
    one = layout.tracks[0]
    assert one.pregap_start_frame == 0 and placements[0].audio_start_sample == 0
    assert one.start_frame == 601 + 75  # after the hidden audio (padded) and a 1 s pause
    assert one.pregap_frames * SPF >= hidden  # the whole hidden audio lies in INDEX 00
    with pytest.raises(ValueError, match="first of two or more"):
        sequence([t(1, 300 * SPF), t(2, 300 * SPF, hidden=True)], "A", "P")
