"""Round trip through AAC, the codec Apple encodes every store upload with.

Apple Digital Masters asks that a master does not clip once encoded (their `afclip`
tool); we encode with ffmpeg's AAC encoder at the profile's bitrate, decode to float
and count the samples at or over full scale. ffmpeg is an optional tool here: without
it the check is reported as not run, never as passed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_READ_BYTES = 1 << 20


@dataclass(frozen=True)
class AacRoundTrip:
    clipped_samples: int  # decoded samples with |x| >= 1.0 (a fixed-point player clips them)
    peak_dbfs: float  # largest decoded |x|, dBFS (may be above 0)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def aac_round_trip(path: Path, bitrate_kbps: int) -> AacRoundTrip:
    """Encode `path` to AAC-LC in an .m4a, decode it to float, count overs.

    Streamed: the decoded audio is read from ffmpeg's pipe in 1 MiB pieces.
    Raises OSError if ffmpeg is missing or fails.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise OSError("ffmpeg not found")
    with tempfile.TemporaryDirectory(prefix="masterbuild-aac-") as tmp:
        m4a = Path(tmp) / "roundtrip.m4a"
        quiet = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        subprocess.run(
            [*quiet, "-i", str(path), "-c:a", "aac", "-b:a", f"{bitrate_kbps}k", str(m4a)],
            check=True,
            capture_output=True,
        )
        proc = subprocess.Popen(
            [*quiet, "-i", str(m4a), "-f", "f32le", "-acodec", "pcm_f32le", "-"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        clipped, peak = 0, 0.0
        carry = b""
        while chunk := proc.stdout.read(_READ_BYTES):
            chunk = carry + chunk
            usable = len(chunk) - len(chunk) % 4
            carry = chunk[usable:]
            x = np.abs(np.frombuffer(chunk[:usable], dtype="<f4"))
            if x.size:
                clipped += int(np.count_nonzero(x >= 1.0))
                peak = max(peak, float(x.max()))
        if proc.wait() != 0:
            raise OSError(f"ffmpeg could not decode its own AAC of {path.name}")
    peak_dbfs = 20.0 * float(np.log10(peak)) if peak > 0 else float("-inf")
    return AacRoundTrip(clipped_samples=clipped, peak_dbfs=peak_dbfs)
