"""A processing chain over a stream of blocks.

Each stage kind compiles, for a given sample rate, into a step function
`step(x, state) -> (y, state)` on (frames, channels) float64 blocks. State is carried
explicitly from block to block, so processing a signal in blocks gives the same result
as processing it at once, and memory does not grow with track length.

Stage version numbers (for build fingerprints) live in masterbuild.dsp.versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from masterbuild.dsp.filters import butterworth_sos, rbj_biquad, sos_initial_state, sos_step
from masterbuild.dsp.gain import db_to_linear

Step = Callable[[np.ndarray, Any], tuple[np.ndarray, Any]]


@dataclass(frozen=True)
class CompiledStage:
    """A stage ready to run: `step(x, state) -> (y, state)` per block.

    A stage with latency (a lookahead limiter) returns fewer frames than it was given
    at first and hands the rest back from `flush(state)` at the end of the signal, so
    the output has exactly the input's length and alignment.
    """

    step: Step
    initial_state: Callable[[int], Any]  # channels -> state
    flush: Callable[[Any], np.ndarray] | None = None


def to_mid_side(x: np.ndarray) -> np.ndarray:
    """(L, R) -> (M, S) with M = (L + R) / 2, S = (L - R) / 2."""
    return np.stack([(x[:, 0] + x[:, 1]) * 0.5, (x[:, 0] - x[:, 1]) * 0.5], axis=1)


def from_mid_side(ms: np.ndarray) -> np.ndarray:
    """(M, S) -> (L, R) = (M + S, M - S), the exact inverse of to_mid_side."""
    return np.stack([ms[:, 0] + ms[:, 1], ms[:, 0] - ms[:, 1]], axis=1)


def _stateless(fn: Callable[[np.ndarray], np.ndarray]) -> CompiledStage:
    return CompiledStage(step=lambda x, s: (fn(x), s), initial_state=lambda ch: None)


def _sos_stage(sos: np.ndarray) -> CompiledStage:
    return CompiledStage(
        step=lambda x, zi: sos_step(sos, x, zi), initial_state=lambda ch: sos_initial_state(sos, ch)
    )


def _bands_sos(bands: Sequence[Mapping[str, Any]], sample_rate_hz: float) -> np.ndarray | None:
    if not bands:
        return None
    rows = [
        rbj_biquad(
            b["type"], b["freq_hz"], b.get("q", 0.7071), b.get("gain_db", 0.0), sample_rate_hz
        )
        for b in bands
    ]
    return np.vstack(rows)


def _eq_stage(stage: Mapping[str, Any], sample_rate_hz: float) -> CompiledStage:
    mid = _bands_sos(stage["bands"], sample_rate_hz)
    if stage.get("mode", "stereo") != "ms":
        return _sos_stage(mid)
    side = _bands_sos(stage.get("side_bands", []), sample_rate_hz)

    def step(x: np.ndarray, state: tuple[Any, Any]) -> tuple[np.ndarray, Any]:
        if x.shape[1] != 2:
            raise ValueError("mid/side EQ needs a stereo signal")
        ms = to_mid_side(x)
        zm, zs = state
        m, zm = sos_step(mid, ms[:, :1], zm)
        s = ms[:, 1:]
        if side is not None:
            s, zs = sos_step(side, s, zs)
        return from_mid_side(np.hstack([m, s])), (zm, zs)

    return CompiledStage(
        step=step,
        initial_state=lambda ch: (
            sos_initial_state(mid, 1),
            None if side is None else sos_initial_state(side, 1),
        ),
    )


def _width_stage(width: float) -> CompiledStage:
    def apply(x: np.ndarray) -> np.ndarray:
        if x.shape[1] != 2:
            return x
        ms = to_mid_side(x)
        ms[:, 1] *= width
        return from_mid_side(ms)

    return _stateless(apply)


def compile_stage(stage: Mapping[str, Any], sample_rate_hz: float) -> CompiledStage:
    """Compile one stage (the manifest's dict form) for a sample rate."""
    kind = stage["kind"]
    if kind == "gain":
        g = db_to_linear(stage["gain_db"])
        return _stateless(lambda x: x * g)
    if kind == "dc":
        return _sos_stage(
            butterworth_sos("highpass", stage.get("freq_hz", 5.0), 12, sample_rate_hz)
        )
    if kind in ("highpass", "lowpass"):
        return _sos_stage(
            butterworth_sos(kind, stage["freq_hz"], stage.get("slope_db_oct", 12), sample_rate_hz)
        )
    if kind == "eq":
        return _eq_stage(stage, sample_rate_hz)
    if kind == "width":
        return _width_stage(stage["width"])
    if kind == "compressor":
        from masterbuild.dsp.compressor import compile_compressor

        return compile_compressor(stage, sample_rate_hz)
    if kind == "limiter":
        from masterbuild.dsp.limiter import compile_limiter

        return compile_limiter(stage, sample_rate_hz)
    raise ValueError(f"unknown stage kind {kind!r}")


def run_chain(
    blocks: Iterable[np.ndarray],
    stages: Sequence[Mapping[str, Any]],
    sample_rate_hz: float,
    channels: int,
) -> Iterator[np.ndarray]:
    """Apply `stages` in order to a stream of blocks, carrying each stage's state.

    At the end, stages with latency are flushed in order, each flushed tail passing
    through the stages after it.
    """
    compiled = [compile_stage(s, sample_rate_hz) for s in stages]
    states = [c.initial_state(channels) for c in compiled]

    def through(y: np.ndarray, first: int) -> np.ndarray:
        for i in range(first, len(compiled)):
            y, states[i] = compiled[i].step(y, states[i])
        return y

    for block in blocks:
        y = through(block, 0)
        if y.shape[0]:
            yield y
    for i, c in enumerate(compiled):
        if c.flush is not None:
            tail = through(c.flush(states[i]), i + 1)
            if tail.shape[0]:
                yield tail
