"""File-level loudness measurement: any format libsndfile reads, streamed in blocks.

Bad input (missing, not audio, truncated, corrupt, NaN/inf samples) is reported
as :class:`masterbuild.errors.MasterbuildError` ``(path, "audio", message)``,
never as a raw soundfile or numpy exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from masterbuild.dsp.loudness import Loudness, measure_blocks
from masterbuild.errors import MasterbuildError

__all__ = ["measure_file", "measurement_dict"]

_LOCATION = "audio"
# libsndfile's header log notes a chunk longer than the file as "data : N (should be M)"
# (WAV, W64, RF64, ...), "SSND : N (should be M)" (AIFF) or "... > file length".
_CHUNK_TOO_LONG = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Streaming writers that cannot seek back leave these placeholder sizes in the header.
_PLACEHOLDER_SIZES = {0, 0x7FFFFFFF, 0xFFFFFFFF}


def _truncation_problem(log: str) -> str | None:
    """Describe a truncation that libsndfile's header log reveals, else None."""
    match = _CHUNK_TOO_LONG.search(log)
    if match:
        declared, present = int(match.group(1)), int(match.group(2))
        if declared > present and declared not in _PLACEHOLDER_SIZES:
            return (
                f"the file is truncated: its header declares {declared} bytes of audio but "
                f"only {present} are present; copy or export it again"
            )
    if "> file length" in log:
        return (
            "the file is truncated: a chunk runs past the end of the file; copy or export it again"
        )
    if "lacks an end-of-stream" in log:
        return "the file is truncated: the Ogg stream has no end; copy or export it again"
    return None


def _unreadable(path: Path, error: Exception) -> MasterbuildError:
    reason = str(error).replace(f"'{path}'", "").replace("Error opening :", "").strip(" :.")
    return MasterbuildError(
        path,
        _LOCATION,
        f"not a readable audio file ({reason or type(error).__name__}); "
        "check that it is audio in a format libsndfile reads (WAV, FLAC, AIFF, Ogg, ...) "
        "and export it again if it is damaged",
    )


def _checked_blocks(
    path: Path, handle: sf.SoundFile, block_frames: int, counter: list[int]
) -> Iterator[np.ndarray]:
    """Blocks of ``handle`` as float64; raises MasterbuildError on NaN/inf or a read error."""
    frames_read = 0
    try:
        for block in handle.blocks(blocksize=block_frames, dtype="float64", always_2d=True):
            finite = np.isfinite(block)
            if not finite.all():
                first = int(np.flatnonzero(~finite.all(axis=1))[0]) + frames_read
                at_s = first / handle.samplerate
                raise MasterbuildError(
                    path,
                    _LOCATION,
                    f"contains NaN or infinite samples (first at {at_s:.3f} s, frame {first}); "
                    "render the mix again or repair it before mastering",
                )
            frames_read += block.shape[0]
            counter[0] = frames_read
            yield block
    except (sf.SoundFileError, RuntimeError) as error:
        reason = str(error).removeprefix("Error : ").strip(" .")
        raise MasterbuildError(
            path,
            _LOCATION,
            f"cannot decode the audio after {frames_read / handle.samplerate:.3f} s ({reason}); "
            "the file is damaged or truncated: copy or export it again",
        ) from error


def measure_file(path: str | Path, block_frames: int = 65536) -> Loudness:
    """Loudness of an audio file, read in blocks (BS.1770-4/-5, EBU Tech 3341/3342).

    Parameters
    ----------
    path : str or Path
        Any file libsndfile reads (WAV, FLAC, AIFF, Ogg Vorbis/Opus, MP3, ...).
    block_frames : int
        Frames per read; memory use is a few blocks whatever the file's length.

    Returns
    -------
    Loudness
        Samples are decoded as float64 with full scale = 1.0.

    Raises
    ------
    MasterbuildError
        ``(path, "audio", message)`` when the file is missing, not audio,
        truncated or corrupt, or contains NaN or infinite samples.
    """
    path = Path(path)
    if not path.exists():
        raise MasterbuildError(path, _LOCATION, "file not found; check the path and its spelling")
    if path.is_dir():
        raise MasterbuildError(path, _LOCATION, "is a folder, not an audio file")
    if block_frames < 1:
        raise ValueError(f"block_frames must be positive, got {block_frames}")
    try:
        handle = sf.SoundFile(str(path))
    except (sf.SoundFileError, RuntimeError, OSError) as error:
        raise _unreadable(path, error) from error
    with handle:
        problem = _truncation_problem(handle.extra_info)
        if problem:
            raise MasterbuildError(path, _LOCATION, problem)
        counter = [0]
        try:
            loudness = measure_blocks(
                _checked_blocks(path, handle, block_frames, counter),
                handle.samplerate,
                handle.channels,
            )
        except ValueError as error:  # e.g. a sample rate too low to K-weight
            raise MasterbuildError(path, _LOCATION, f"cannot be measured: {error}") from error
        declared = handle.frames
        if handle.seekable() and declared > 0 and counter[0] < declared:
            raise MasterbuildError(
                path,
                _LOCATION,
                f"the file is truncated: its header declares {declared} frames but only "
                f"{counter[0]} could be read; copy or export it again",
            )
    return loudness


def _json_number(value: float) -> float | None:
    """Round to 2 decimals; -inf (silence) and other non-finite values become None."""
    return round(float(value), 2) if math.isfinite(value) else None


def measurement_dict(path: str | Path, loudness: Loudness) -> dict[str, Any]:
    """JSON-ready summary of a measurement (the ``masterbuild measure --json`` record).

    Parameters
    ----------
    path : str or Path
        The measured file, reported as given.
    loudness : Loudness
        Its measurement.

    Returns
    -------
    dict
        ``{"file", "integrated_lufs", "lra_lu", "true_peak_dbtp", "sample_peak_dbfs",
        "max_momentary_lufs", "max_short_term_lufs"}``; levels rounded to 0.01,
        -inf as None (JSON null).
    """
    return {
        "file": str(path),
        "integrated_lufs": _json_number(loudness.integrated_lufs),
        "lra_lu": _json_number(loudness.lra_lu),
        "true_peak_dbtp": _json_number(loudness.true_peak_dbtp),
        "sample_peak_dbfs": _json_number(loudness.sample_peak_dbfs),
        "max_momentary_lufs": _json_number(loudness.max_momentary_lufs),
        "max_short_term_lufs": _json_number(loudness.max_short_term_lufs),
    }
