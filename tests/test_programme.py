"""The continuous CD programme: placement, equal-power crossfades, block independence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from masterbuild.cd.layout import SAMPLES_PER_FRAME
from masterbuild.cd.programme import crossfade_gains, programme_blocks, write_programme
from masterbuild.cd.sequence import TrackTiming, sequence
from masterbuild.dsp.dither import dither_rng, quantize

SR = 44100


def _tracks(tmp_path: Path, lengths: list[int], **kw_per_track) -> tuple[dict, dict]:
    rng = np.random.default_rng(3)
    audio, paths = {}, {}
    for i, n in enumerate(lengths, start=1):
        x = np.clip(0.2 * rng.standard_normal((n, 2)), -0.9, 0.9)
        audio[f"t{i}"] = x
        paths[f"t{i}"] = tmp_path / f"t{i}.wav"
        sf.write(paths[f"t{i}"], x, SR, subtype="DOUBLE")
    return audio, paths


def _timing(i: int, n: int, **kw) -> TrackTiming:
    return TrackTiming(id=f"t{i}", title=f"T{i}", performer="P", samples=n, **kw)


def _render(placements, paths, total_frames, block=65536) -> np.ndarray:
    return np.concatenate(list(programme_blocks(placements, paths, total_frames, block)))


def test_tracks_land_where_placed_with_silence_between(tmp_path):
    lengths = [300 * SAMPLES_PER_FRAME + 123, 400 * SAMPLES_PER_FRAME + 7]
    audio, paths = _tracks(tmp_path, lengths)
    placements, layout = sequence(
        [_timing(1, lengths[0]), _timing(2, lengths[1], gap_s=1.0)], "A", "P"
    )
    y = _render(placements, paths, layout.total_frames)
    assert y.shape == (layout.total_frames * SAMPLES_PER_FRAME, 2)
    expected = np.zeros_like(y)
    for p in placements:
        expected[p.audio_start_sample : p.audio_end_sample] = audio[p.id]
    assert np.array_equal(y, expected)  # exact: pauses are digital silence


def test_crossfade_is_equal_power_and_exact(tmp_path):
    lengths = [500 * SAMPLES_PER_FRAME, 500 * SAMPLES_PER_FRAME]
    audio, paths = _tracks(tmp_path, lengths)
    placements, layout = sequence(
        [_timing(1, lengths[0]), _timing(2, lengths[1], crossfade_s=1.5)], "A", "P"
    )
    p1, p2 = placements
    y = _render(placements, paths, layout.total_frames)
    n = p2.fade_in_samples
    t = (np.arange(n) + 0.5) / n
    g_in, g_out = np.sin(np.pi / 2 * t), np.cos(np.pi / 2 * t)
    overlap = slice(p2.audio_start_sample, p1.audio_end_sample)
    expected = audio["t1"][-n:] * g_out[:, None] + audio["t2"][:n] * g_in[:, None]
    assert np.allclose(y[overlap], expected, atol=1e-12)
    assert np.allclose(g_in**2 + g_out**2, 1.0)
    assert np.array_equal(y[p1.audio_start_sample : p2.audio_start_sample], audio["t1"][:-n])


def test_crossfade_gains_are_symmetric():
    pos = np.arange(1000)
    assert np.allclose(
        crossfade_gains(pos, 0, 1000, True), crossfade_gains(pos, 0, 1000, False)[::-1]
    )


@pytest.mark.parametrize("block", [1000, 4093, 65536])
def test_block_size_does_not_change_the_programme(tmp_path, block):
    lengths = [300 * SAMPLES_PER_FRAME + 5, 200 * SAMPLES_PER_FRAME, 250 * SAMPLES_PER_FRAME + 99]
    _, paths = _tracks(tmp_path, lengths)
    timings = [
        _timing(1, lengths[0]),
        _timing(2, lengths[1], crossfade_s=0.7),
        _timing(3, lengths[2], gap_s=0.0),
    ]
    placements, layout = sequence(timings, "A", "P")
    one = _render(placements, paths, layout.total_frames, 10**7)
    assert np.array_equal(_render(placements, paths, layout.total_frames, block), one)


def test_write_programme_dithers_once_to_16_bit(tmp_path):
    lengths = [300 * SAMPLES_PER_FRAME, 300 * SAMPLES_PER_FRAME]
    audio, paths = _tracks(tmp_path, lengths)
    placements, layout = sequence([_timing(1, lengths[0]), _timing(2, lengths[1])], "A", "P")
    rng = dither_rng("cd", "programme")
    image = tmp_path / "image.wav"
    write_programme(
        image,
        placements,
        paths,
        layout.total_frames,
        lambda b: quantize(b, 16, "tpdf", rng)[0].astype(np.int16),
    )
    info = sf.info(str(image))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (
        SR,
        2,
        "PCM_16",
        layout.total_frames * SAMPLES_PER_FRAME,
    )
    y, _ = sf.read(image)
    p = placements[1]
    err = y[p.audio_start_sample : p.audio_end_sample] - audio["t2"]
    assert np.abs(err).max() <= 1.5 / 2**15  # rounding + TPDF: at most 1.5 LSB
    # TPDF dither runs through the pauses too (once, over the whole programme)
    assert np.count_nonzero(y[: placements[0].audio_start_sample]) > 0


def test_wrong_rate_master_is_refused(tmp_path):
    path = tmp_path / "t1.wav"
    sf.write(path, np.zeros((300 * SAMPLES_PER_FRAME, 2)), 48000)
    placements, layout = sequence([_timing(1, 300 * SAMPLES_PER_FRAME)], "A", "P")
    with pytest.raises(ValueError, match=r"44\.1 kHz stereo"):
        _render(placements, {"t1": path}, layout.total_frames)
