"""Reading audio: every encoding arrives as the float64 values libsndfile gives.

Some are read as float32 and widened (masterbuild.audio): that must not change a bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from masterbuild.audio import read_blocks

CASES = [
    ("WAV", "PCM_16"),
    ("WAV", "PCM_24"),
    ("WAV", "PCM_32"),
    ("WAV", "FLOAT"),
    ("WAV", "DOUBLE"),
    ("WAV", "PCM_U8"),
    ("AIFF", "PCM_24"),
    ("AIFF", "PCM_S8"),
    ("FLAC", "PCM_16"),
    ("FLAC", "PCM_24"),
    ("RF64", "FLOAT"),
    ("MP3", "MPEG_LAYER_III"),
    ("OGG", "VORBIS"),
    ("OGG", "OPUS"),
]


@pytest.mark.parametrize(("container", "subtype"), CASES)
def test_blocks_are_libsndfiles_float64_read_bit_for_bit(tmp_path, container, subtype):
    rng = np.random.default_rng(5)
    x = np.clip(rng.standard_normal((50_001, 2)) * 0.3, -1, 1)
    x[::97] = [1.0, -1.0]  # full scale both ways
    x[1::89] = rng.uniform(-1e-7, 1e-7, (x[1::89].shape[0], 2))  # under the 16-bit step
    path = tmp_path / f"x.{container.lower()}.{subtype.lower()}"
    sf.write(path, x, 48000, format=container, subtype=subtype)
    want = sf.read(path, dtype="float64", always_2d=True)[0]
    got = np.concatenate(list(read_blocks(path, block_frames=4096)))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)
    part = np.concatenate(list(read_blocks(path, 1000, 30_000, block_frames=777)))
    np.testing.assert_array_equal(part, want[1000:30_000])
