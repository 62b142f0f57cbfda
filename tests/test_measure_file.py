"""measure_file / measurement_dict: block-wise file reading and clean errors on bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from masterbuild.dsp.loudness import measure
from masterbuild.errors import MasterbuildError
from masterbuild.measure import measure_file, measurement_dict

FS_HZ = 44100


def sine(level_dbfs: float, duration_s: float, channels: int = 2) -> np.ndarray:
    t = np.arange(round(duration_s * FS_HZ)) / FS_HZ
    mono = 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * 1000.0 * t)
    return np.repeat(mono[:, None], channels, axis=1)


def programme(duration_s: float = 6.0) -> np.ndarray:
    rng = np.random.default_rng(7)
    n = round(duration_s * FS_HZ)
    envelope = np.linspace(0.05, 0.5, n)[:, None]
    return np.clip(rng.standard_normal((n, 2)) * envelope * 0.3 + sine(-12.0, duration_s), -1, 1)


@pytest.mark.parametrize("block_frames", [1000, 4410, 65536])
@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_24"), ("FLAC", "PCM_16")])
def test_file_measure_equals_measure_of_decoded_samples(
    tmp_path: Path, fmt: str, subtype: str, block_frames: int
) -> None:
    path = tmp_path / f"programme.{fmt.lower()}"
    sf.write(path, programme(), FS_HZ, format=fmt, subtype=subtype)
    decoded, fs = sf.read(path, dtype="float64", always_2d=True)
    from_file = measure_file(path, block_frames=block_frames)
    direct = measure(decoded, fs)
    assert from_file == direct  # scalar fields, exactly (the same computation)
    np.testing.assert_array_equal(from_file.block_powers, direct.block_powers)
    assert from_file.duration_s == pytest.approx(6.0)


def test_file_reads_the_expected_level(tmp_path: Path) -> None:
    path = tmp_path / "tone.flac"
    sf.write(path, sine(-23.0, 5.0), FS_HZ, subtype="PCM_24")
    result = measure_file(path)
    assert result.integrated_lufs == pytest.approx(-23.0, abs=0.05)
    assert result.sample_peak_dbfs == pytest.approx(-23.0, abs=0.01)


def test_mono_and_multichannel_files(tmp_path: Path) -> None:
    mono = tmp_path / "mono.wav"
    sf.write(mono, sine(-20.0, 3.0, channels=1), FS_HZ, subtype="FLOAT")
    # Mono: one channel of a stereo pair, so 3 dB below the stereo reading.
    assert measure_file(mono).integrated_lufs == pytest.approx(-23.01, abs=0.05)
    surround = tmp_path / "six.wav"
    sf.write(surround, sine(-30.0, 3.0, channels=6), FS_HZ, subtype="PCM_24")
    # L R C (1.0) + LFE (0) + Ls Rs (1.41 each): 5.82 x one channel's power.
    expected = -30.0 - 3.01 + 10 * np.log10(3 + 2 * 1.41)
    assert measure_file(surround).integrated_lufs == pytest.approx(expected, abs=0.05)


def test_measurement_dict_is_json_ready(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, sine(-18.0, 4.0), FS_HZ, subtype="PCM_24")
    record = measurement_dict(path, measure_file(path))
    assert list(record) == [
        "file",
        "integrated_lufs",
        "lra_lu",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "max_momentary_lufs",
        "max_short_term_lufs",
    ]
    assert record["file"] == str(path)
    assert record["integrated_lufs"] == pytest.approx(-18.0, abs=0.02)
    assert record["max_short_term_lufs"] == pytest.approx(-18.0, abs=0.02)
    for key in list(record)[1:]:
        assert record[key] == round(record[key], 2)
    json.dumps(record, allow_nan=False)


def test_measurement_dict_silence_is_null(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((FS_HZ, 2)), FS_HZ)
    record = measurement_dict(path, measure_file(path))
    for key in ("integrated_lufs", "true_peak_dbtp", "sample_peak_dbfs", "max_momentary_lufs"):
        assert record[key] is None
    assert record["max_short_term_lufs"] is None  # 1 s: no 3 s window either
    assert record["lra_lu"] == 0.0
    assert json.loads(json.dumps(record, allow_nan=False))["integrated_lufs"] is None


# --- Bad input: always MasterbuildError(path, "audio", ...) --------------------------


def assert_audio_error(path: Path, *fragments: str) -> MasterbuildError:
    with pytest.raises(MasterbuildError) as caught:
        measure_file(path)
    error = caught.value
    assert type(error) is MasterbuildError
    assert error.path == str(path)
    assert error.location == "audio"
    for fragment in fragments:
        assert fragment in error.message
    assert "\n" not in str(error)
    return error


def test_missing_file(tmp_path: Path) -> None:
    assert_audio_error(tmp_path / "nope.wav", "not found")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    assert_audio_error(tmp_path, "folder")


@pytest.mark.parametrize("content", [b"", b"this is a text file, not audio\n" * 20])
def test_not_audio(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.wav"
    path.write_bytes(content)
    assert_audio_error(path, "not a readable audio file")


@pytest.mark.parametrize(("fmt", "ext"), [("WAV", "wav"), ("AIFF", "aiff"), ("FLAC", "flac")])
def test_truncated_file(tmp_path: Path, fmt: str, ext: str) -> None:
    whole = tmp_path / f"whole.{ext}"
    sf.write(whole, programme(2.0), FS_HZ, format=fmt)
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    assert_audio_error(cut, "truncated")


def test_truncated_wav_still_measures_when_header_is_a_streaming_placeholder(
    tmp_path: Path,
) -> None:
    # A WAV written to a pipe carries 0xFFFFFFFF as data size: not a truncation.
    path = tmp_path / "streamed.wav"
    sf.write(path, sine(-20.0, 1.0), FS_HZ, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data_pos = data.index(b"data")
    data[data_pos + 4 : data_pos + 8] = (0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert measure_file(path).integrated_lufs == pytest.approx(-20.0, abs=0.05)


def test_corrupt_flac(tmp_path: Path) -> None:
    path = tmp_path / "damaged.flac"
    sf.write(path, programme(2.0), FS_HZ, format="FLAC")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = np.random.default_rng(1).bytes(4000)
    path.write_bytes(bytes(data))
    assert_audio_error(path, "export it again")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path: Path, bad_value: float) -> None:
    x = sine(-20.0, 2.0)
    x[FS_HZ + 50, 1] = bad_value  # at 1.001 s
    path = tmp_path / "float.wav"
    sf.write(path, x, FS_HZ, subtype="DOUBLE")
    error = assert_audio_error(path, "NaN or infinite", "1.001 s")
    assert "frame 44150" in error.message


def test_errors_are_not_raw_library_exceptions(tmp_path: Path) -> None:
    path = tmp_path / "junk.flac"
    path.write_bytes(os.urandom(5000))
    with pytest.raises(MasterbuildError):
        measure_file(path)
