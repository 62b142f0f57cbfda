"""The continuous CD programme: placed tracks mixed into one 16-bit 44.1 kHz image.

Each track's master (float, 44.1 kHz, already limited) is laid where the sequencer
placed it; a crossfade mixes the previous track's tail (fading out) with this track's
head (fading in) with equal-power quarter-sine curves, so the overlap keeps its level
for uncorrelated material. Everything else is digital silence. The image is dithered
once, over the whole programme (so the per-track files cut from it agree with the disc
sample for sample), and written in blocks: memory does not grow with album length.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from masterbuild.cd.layout import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME
from masterbuild.cd.sequence import Placement
from masterbuild.dsp.fades import fade_curve

BLOCK_SAMPLES = 65536

Quantizer = Callable[[np.ndarray], np.ndarray]  # float block -> int16 codes (stateful)


def crossfade_gains(pos: np.ndarray, start: int, length: int, fading_in: bool) -> np.ndarray:
    """Equal-power gains at absolute sample positions `pos` of an overlap.

    The fade-in is sin(pi/2 t) and the fade-out cos(pi/2 t) over t in [0, 1), so the
    two powers sum to one at every sample.
    """
    t = (pos - start + 0.5) / length  # centred on each sample: symmetric in and out
    g = fade_curve(t, "cosine")
    return g if fading_in else fade_curve(1.0 - t, "cosine")


def programme_blocks(
    placements: Sequence[Placement],
    sources: Mapping[str, Path],
    total_frames: int,
    block_samples: int = BLOCK_SAMPLES,
) -> Iterator[np.ndarray]:
    """Yield the programme as (n, 2) float64 blocks, `total_frames` * 588 samples in all.

    `sources[id]` is the track's master (stereo, 44.1 kHz, exactly the placed length).
    """
    total = total_frames * SAMPLES_PER_FRAME
    files = {p.id: sf.SoundFile(str(sources[p.id])) for p in placements}
    try:
        for f, p in ((files[p.id], p) for p in placements):
            if f.samplerate != SAMPLE_RATE_HZ or f.channels != 2:
                raise ValueError(f"{sources[p.id]}: CD masters are 44.1 kHz stereo")
            if f.frames != p.audio_end_sample - p.audio_start_sample:
                raise ValueError(f"{sources[p.id]}: length differs from its placement")
        fade_outs = {
            prev.id: (nxt.audio_start_sample, nxt.fade_in_samples)
            for prev, nxt in itertools.pairwise(placements)
            if nxt.fade_in_samples
        }
        for a in range(0, total, block_samples):
            b = min(a + block_samples, total)
            out = np.zeros((b - a, 2))
            for p in placements:
                lo, hi = max(a, p.audio_start_sample), min(b, p.audio_end_sample)
                if lo >= hi:
                    continue
                f = files[p.id]
                f.seek(lo - p.audio_start_sample)
                x = f.read(hi - lo, dtype="float64", always_2d=True)
                pos = np.arange(lo, hi)
                if p.fade_in_samples:
                    g = np.ones(hi - lo)
                    head = pos < p.audio_start_sample + p.fade_in_samples
                    g[head] = crossfade_gains(
                        pos[head], p.audio_start_sample, p.fade_in_samples, True
                    )
                    x = x * g[:, None]
                if p.id in fade_outs:
                    start, length = fade_outs[p.id]
                    tail = pos >= start
                    if tail.any():
                        g = np.ones(hi - lo)
                        g[tail] = crossfade_gains(pos[tail], start, length, False)
                        x = x * g[:, None]
                out[lo - a : hi - a] += x
            yield out
    finally:
        for f in files.values():
            f.close()


def write_programme(
    path: Path,
    placements: Sequence[Placement],
    sources: Mapping[str, Path],
    total_frames: int,
    quantize: Quantizer,
) -> None:
    """Render the programme and write it as a 16-bit 44.1 kHz stereo WAV at `path`."""
    with sf.SoundFile(str(path), "w", SAMPLE_RATE_HZ, 2, subtype="PCM_16", format="WAV") as out:
        for block in programme_blocks(placements, sources, total_frames):
            out.write(quantize(block))
