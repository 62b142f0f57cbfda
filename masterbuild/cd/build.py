"""The programme task of a CD format: one continuous disc from the float masters.

Sequence -> Red Book checks -> programme image (dithered once) -> cue sheet -> DDP
fileset -> per-track files cut from the image, each measured for the report and tags.
The cut files are exactly the image's samples, so the disc, the cue image, the DDP and
the per-track files agree sample for sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from masterbuild.atomic import atomic_output, write_bytes_atomic
from masterbuild.audio import read_blocks
from masterbuild.cd.cdtext import CdTextError, encode_cdtext
from masterbuild.cd.cue import cue_sheet_bytes
from masterbuild.cd.ddp import write_ddp
from masterbuild.cd.layout import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME, CdLayout
from masterbuild.cd.programme import write_programme
from masterbuild.cd.redbook import check_layout
from masterbuild.cd.sequence import TrackTiming, sequence
from masterbuild.dsp.dither import dither_rng, quantize
from masterbuild.dsp.loudness import measure_blocks
from masterbuild.errors import ManifestErrors, MasterbuildError
from masterbuild.plan import TaskSpec
from masterbuild.render import loudness_result
from masterbuild.state import file_digest

CUT_BLOCK_FRAMES = 65536


def _quantizer(dither: str, seed: list[str]):  # a closure over the dither state
    rng = dither_rng(*seed)
    if dither == "shaped":
        from masterbuild.dsp.noiseshape import quantize_shaped, shaped_initial_state

        state = [shaped_initial_state(2, SAMPLE_RATE_HZ)]

        def shaped(block: np.ndarray) -> np.ndarray:
            codes, _, state[0] = quantize_shaped(block, 16, rng, state[0], SAMPLE_RATE_HZ)
            return codes.astype(np.int16)

        return shaped
    return lambda block: quantize(block, 16, dither, rng)[0].astype(np.int16)


def _layout(spec: TaskSpec) -> tuple[list[Any], CdLayout]:
    c, p = spec.config, spec.params
    timings = [
        TrackTiming(
            id=t["id"],
            title=t["title"],
            performer=t["performer"],
            samples=sf.info(p["masters"][t["id"]]).frames,
            gap_s=t["gap_s"],
            crossfade_s=t["crossfade_s"],
            boundary_s=t["boundary_s"],
            index_s=tuple(t["index_s"]),
            songwriter=t["songwriter"],
            isrc=t["isrc"],
            hidden=t.get("hidden", False),
        )
        for t in c["tracks"]
    ]
    try:
        placements, layout = sequence(
            timings, c["album"]["title"], c["album"]["performer"], c["album"]["catalog"]
        )
    except ValueError as exc:
        raise MasterbuildError(p["manifest"], "tracks", str(exc)) from None
    locations = [f"tracks[{i}]" for i, t in enumerate(timings) if not t.hidden]
    problems = check_layout(layout, locations)
    if problems:
        raise ManifestErrors(
            [MasterbuildError(p["manifest"], pr.location, pr.message) for pr in problems]
        )
    return placements, layout


def _cut(image: Path, start: int, stop: int, target: Path) -> str:
    """Copy image samples [start, stop) bit for bit into a 16-bit WAV; return its digest."""
    with atomic_output(target) as tmp:
        with (
            sf.SoundFile(str(image)) as src,
            sf.SoundFile(str(tmp), "w", SAMPLE_RATE_HZ, 2, subtype="PCM_16", format="WAV") as out,
        ):
            src.seek(start)
            left = stop - start
            while left > 0:
                block = src.read(min(CUT_BLOCK_FRAMES, left), dtype="int16", always_2d=True)
                out.write(block)
                left -= block.shape[0]
        digest = file_digest(tmp)
    return digest


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
    with atomic_output(image) as tmp:
        write_programme(
            tmp, placements, sources, layout.total_frames, _quantizer(c["dither"], c["seed"])
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
        digest = _cut(image, start, stop, cut)
        loud = measure_blocks(read_blocks(cut), SAMPLE_RATE_HZ, 2)
        with atomic_output(Path(p["powers"][tid])) as tmp, tmp.open("wb") as f:
            np.save(f, loud.block_powers)
        tracks[tid] = {
            "digest": digest,
            "sample_rate": SAMPLE_RATE_HZ,
            "bit_depth": 16,
            "codec": "wav",
            "start_frame": track.start_frame,
            "pregap_frames": track.pregap_frames,
            "length_frames": track.length_frames,
            **loudness_result(loud),
        }
    return {
        "tracks": tracks,
        "total_frames": layout.total_frames,
        "image_digest": file_digest(image),
    }
