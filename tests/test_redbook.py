"""Red Book checks: each rule passes at its exact limit and fails one frame beyond."""

from __future__ import annotations

from dataclasses import replace

import pytest

from masterbuild.cd.layout import MAX_PROGRAMME_FRAMES, CdLayout, CdTrack
from masterbuild.cd.redbook import Problem, check_audio_format, check_layout


def make_layout(pauses: list[int], lengths: list[int], **album: object) -> CdLayout:
    tracks = []
    pos = 0
    for i, (pause, length) in enumerate(zip(pauses, lengths, strict=True)):
        start = pos + pause
        tracks.append(
            CdTrack(
                number=i + 1,
                title=f"Track {i + 1}",
                performer="Band",
                pregap_start_frame=pos,
                start_frame=start,
                end_frame=start + length,
            )
        )
        pos = start + length
    fields: dict = {"title": "Album", "performer": "Band"} | album
    return CdLayout(tracks=tuple(tracks), total_frames=pos, **fields)


def with_track(layout: CdLayout, i: int, **changes: object) -> CdLayout:
    tracks = list(layout.tracks)
    tracks[i] = replace(tracks[i], **changes)
    return replace(layout, tracks=tuple(tracks))


def locations(problems: list[Problem]) -> list[str]:
    return [p.location for p in problems]


def test_good_disc_has_no_problems() -> None:
    layout = make_layout([150, 75, 0], [1000, 2000, 300], catalog="4006381333931")
    layout = with_track(layout, 0, isrc="USABC2600001", index_frames=(400, 500))
    layout = with_track(layout, 1, isrc="USABC2600002")
    assert check_layout(layout) == []


@pytest.mark.parametrize(("length", "ok"), [(300, True), (299, False)])
def test_track_at_least_4_s(length: int, ok: bool) -> None:
    problems = check_layout(make_layout([150, 0, 0], [400, length, 400]))
    if ok:
        assert problems == []
    else:
        assert locations(problems) == ["tracks[1]"]
        assert "3.99 s (299 frames) long" in problems[0].message
        assert "at least 4.00 s (300 frames)" in problems[0].message


def test_track_length_counts_from_index_01() -> None:
    # 100 frames of pause + 299 of track: the pause does not count.
    problems = check_layout(make_layout([150, 100], [400, 299]))
    assert locations(problems) == ["tracks[1]"]


@pytest.mark.parametrize(("extra", "ok"), [(0, True), (1, False)])
def test_programme_at_most_79_57(extra: int, ok: bool) -> None:
    layout = make_layout([150], [MAX_PROGRAMME_FRAMES - 150 + extra])
    assert layout.total_frames == (79 * 60 + 57) * 75 + extra
    problems = check_layout(layout)
    if ok:
        assert problems == []
    else:
        assert locations(problems) == ["total_frames"]
        assert problems[0].message.startswith("programme is 79:57:01, over the 79:57 a CD")
        assert "drop a track or shorten gaps" in problems[0].message


@pytest.mark.parametrize(("count", "ok"), [(99, True), (100, False)])
def test_at_most_99_tracks(count: int, ok: bool) -> None:
    problems = check_layout(make_layout([150] + [0] * (count - 1), [300] * count))
    if ok:
        assert problems == []
    else:
        assert locations(problems) == ["tracks"]
        assert "100 tracks, over the 99" in problems[0].message


@pytest.mark.parametrize(("pause", "ok"), [(150, True), (149, False)])
def test_first_pause_at_least_2_s(pause: int, ok: bool) -> None:
    problems = check_layout(make_layout([pause, 75], [400, 400]))
    if ok:
        assert problems == []
    else:
        assert locations(problems) == ["tracks[0]"]
        assert "first pause is 1.99 s (149 frames)" in problems[0].message


def test_isrcs_valid_and_unique() -> None:
    layout = make_layout([150, 0, 0], [300, 300, 300])
    layout = with_track(layout, 0, isrc="USABC2600001")
    layout = with_track(layout, 2, isrc="USABC2600001")
    problems = check_layout(layout, isrc_locations=["a.t[0].isrc", "a.t[1].isrc", "a.t[2].isrc"])
    assert locations(problems) == ["a.t[2].isrc"]
    assert "also a.t[0].isrc's" in problems[0].message
    assert check_layout(with_track(layout, 2, isrc="USABC2600003")) == []
    bad = check_layout(with_track(layout, 2, isrc="US-ABC-26-0003"))
    assert locations(bad) == ["tracks[2].isrc"] and "not an ISRC" in bad[0].message
    hyphenated = check_layout(with_track(layout, 2, isrc="US-ABC-26-00003"))
    assert "must be written as 'USABC2600003'" in hyphenated[0].message


@pytest.mark.parametrize(
    ("catalog", "ok"),
    [
        ("4006381333931", True),
        ("4006381333932", False),  # check digit should be 1
        ("0012345678905", True),  # a UPC-A with its leading 0
        ("012345678905", False),  # UPC-A without the 0: 12 digits
    ],
)
def test_catalog_is_ean13(catalog: str, ok: bool) -> None:
    problems = check_layout(make_layout([150], [300], catalog=catalog))
    assert (problems == []) is ok
    if not ok:
        assert locations(problems) == ["catalog"]


def test_bad_check_digit_message() -> None:
    problems = check_layout(make_layout([150], [300], catalog="4006381333932"))
    assert "check digit 2 but its digits give 1" in problems[0].message


@pytest.mark.parametrize(
    ("indexes", "bad"),
    [
        ((151, 449), []),  # just after INDEX 01, just before the end
        ((150,), [0]),  # at INDEX 01
        ((450,), [0]),  # at the end (outside)
        ((300, 200), [1]),  # descending
        ((100,), [0]),  # in the pause
    ],
)
def test_index_points_inside_track_and_ascending(indexes: tuple[int, ...], bad: list[int]) -> None:
    layout = with_track(make_layout([150, 0], [300, 300]), 0, index_frames=indexes)
    problems = check_layout(layout)
    assert locations(problems) == [f"tracks[0].index_frames[{k}]" for k in bad]


def test_frames_consistent() -> None:
    good = make_layout([150, 75], [400, 400])
    gap = with_track(good, 1, pregap_start_frame=560, start_frame=625)
    assert locations(check_layout(gap)) == ["tracks[1]"]
    assert "gap of 10 frames" in check_layout(gap)[0].message
    backwards = with_track(good, 1, pregap_start_frame=550, start_frame=540)
    assert "out of order" in check_layout(backwards)[0].message
    short_total = replace(good, total_frames=good.total_frames - 1)
    assert locations(check_layout(short_total)) == ["total_frames"]
    late_start = with_track(make_layout([150], [400]), 0, pregap_start_frame=10)
    messages = [p.message for p in check_layout(late_start)]
    assert any("INDEX 00 is at frame 10" in m for m in messages)


def test_messages_are_one_line() -> None:
    layout = make_layout([100] + [0] * 100, [299] * 101, catalog="123")
    problems = check_layout(layout)
    assert len(problems) > 100
    assert all("\n" not in str(p) and p.message for p in problems)


def test_audio_format() -> None:
    assert check_audio_format(44100, 16, 2) == []
    problems = check_audio_format(48000, 24, 1)
    assert locations(problems) == ["sample_rate_hz", "bit_depth", "channels"]
    assert "48000 Hz" in problems[0].message and "24-bit" in problems[1].message
    assert "floating point" in check_audio_format(44100, None, 2)[0].message
    assert "mix down" in check_audio_format(44100, 16, 6)[0].message
