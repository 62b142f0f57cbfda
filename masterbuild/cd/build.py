"""The programme task of a CD format: one continuous disc from the float masters.

Sequence -> Red Book checks -> programme image (dithered once) -> cue sheet -> DDP
fileset -> per-track files cut from the image, each measured for the report and tags.
The cut files are exactly the image's samples, so the disc, the cue image, the DDP and
the per-track files agree sample for sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from masterbuild.analysis import loudness_result, measure_and_analyze, qc_result, write_qc_series
from masterbuild.atomic import atomic_output, write_bytes_atomic, write_npy_atomic
from masterbuild.cd.cdtext import CdTextError, encode_cdtext
from masterbuild.cd.cue import cue_sheet_bytes
from masterbuild.cd.ddp import write_ddp
from masterbuild.cd.layout import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME, CdLayout
from masterbuild.cd.programme import write_programme
from masterbuild.cd.redbook import sequence_checked
from masterbuild.cd.sequence import Placement, TrackTiming
from masterbuild.dsp.dither import dither_rng, make_quantizer
from masterbuild.dsp.loudness import Loudness
from masterbuild.dsp.qc import QcStats
from masterbuild.errors import ManifestErrors, MasterbuildError
from masterbuild.plan import TaskSpec
from masterbuild.state import file_digest

CUT_BLOCK_FRAMES = 65536


def _layout(spec: TaskSpec) -> tuple[list[Placement], CdLayout]:
    """Sequence the real masters and check the disc again (lengths are exact now)."""
    c, p = spec.config, spec.params
    timings = [
        TrackTiming.from_config(t, sf.info(p["masters"][t["id"]]).frames) for t in c["tracks"]
    ]
    album = c["album"]
    placements, layout, problems = sequence_checked(
        timings, album["title"], album["performer"], album["catalog"]
    )
    if problems:
        raise ManifestErrors(
            [MasterbuildError(p["manifest"], pr.location, pr.message) for pr in problems]
        )
    return placements, layout


def _cut(image: Path, start: int, stop: int, target: Path) -> tuple[str, Loudness, QcStats]:
    """Copy image samples [start, stop) bit for bit into a 16-bit WAV, measuring and
    analysing them on the way; return the file's digest, loudness and QC figures."""

    def copied(src: sf.SoundFile, out: sf.SoundFile) -> Iterator[np.ndarray]:
        src.seek(start)
        left = stop - start
        while left > 0:
            block = src.read(min(CUT_BLOCK_FRAMES, left), dtype="int16", always_2d=True)
            out.write(block)
            left -= block.shape[0]
            yield block / 32768.0  # what a decoder reads back from the file

    with atomic_output(target, large=True) as tmp:
        with (
            sf.SoundFile(str(image)) as src,
            sf.SoundFile(str(tmp), "w", SAMPLE_RATE_HZ, 2, subtype="PCM_16", format="WAV") as out,
        ):
            loud, stats = measure_and_analyze(copied(src, out), SAMPLE_RATE_HZ, 2, "pcm16")
        digest = file_digest(tmp)
    return digest, loud, stats


def build_programme(spec: TaskSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    c, p = spec.config, spec.params
    if any(v is None for v in inputs["upstream"]["masters"].values()):
        raise MasterbuildError(spec.name, "-", "a master has no result: run the full build")
    placements, layout = _layout(spec)
    try:
        cdtext = encode_cdtext(layout)
    except CdTextError as exc:
        raise MasterbuildError(p["manifest"], "CD-Text", str(exc)) from None
    out_dir = Path(p["out_dir"])
    stem = c["image_stem"]
    image = out_dir / f"{stem}.wav" if c["cue"] else Path(p["programme"])
    sources = {t: Path(path) for t, path in p["masters"].items()}
    quantizer = make_quantizer(16, c["dither"], dither_rng(*c["seed"]), SAMPLE_RATE_HZ, 2)
    with atomic_output(image, large=True) as tmp:
        write_programme(
            tmp,
            placements,
            sources,
            layout.total_frames,
            lambda block: quantizer(block)[0].astype(np.int16),
        )
    if c["cue"]:
        write_bytes_atomic(out_dir / f"{stem}.cue", cue_sheet_bytes(layout, image.name))
    if c["ddp"]:
        write_ddp(out_dir / "DDP", layout, image, cdtext)
    tracks: dict[str, Any] = {}
    visible = [t["id"] for t in c["tracks"] if not t.get("hidden")]
    for track in layout.tracks:
        tid = visible[track.number - 1]
        start, stop = track.start_frame * SAMPLES_PER_FRAME, track.end_frame * SAMPLES_PER_FRAME
        cut = Path(p["cuts"][tid])
        digest, loud, stats = _cut(image, start, stop, cut)
        write_npy_atomic(Path(p["powers"][tid]), loud.block_powers)
        write_qc_series(Path(p["qc"][tid]), loud, stats)
        tracks[tid] = {
            "digest": digest,
            "sample_rate": SAMPLE_RATE_HZ,
            "bit_depth": 16,
            "codec": "wav",
            "start_frame": track.start_frame,
            "pregap_frames": track.pregap_frames,
            "length_frames": track.length_frames,
            **loudness_result(loud),
            **qc_result(stats),
        }
    return {
        "tracks": tracks,
        "total_frames": layout.total_frames,
        "image_digest": file_digest(image),
    }
