"""Feed-forward compressor in the log domain, vectorised and streaming.

The design follows D. Giannoulis, M. Massberg and J. D. Reiss, "Digital Dynamic Range
Compressor Design -- A Tutorial and Analysis", J. Audio Eng. Soc. 60(6), 399-408,
2012 (below: GMR). Per block of (frames, channels) samples:

1. sidechain  s = x, or x through a 2nd-order Butterworth highpass (state carried);
2. detector   d_c = link * max_k |s_k| + (1 - link) * |s_c|,  x_G = 20 log10 d_c (dBFS).
              The link mixes linear amplitudes, not dB levels: in dB a silent
              channel (floored at -400 dBFS, so log 0 never happens) would drag a
              partly linked detector down to nothing;
3. gain computer (GMR eq. 4, soft knee of width W):  r = x_G - y_G >= 0 (dB);
4. ballistics on r: GMR's decoupled peak detector, placed (as GMR recommend) in the
   log domain after the gain computer,
       r1[n] = max(r[n], a_R r1[n-1])                      peak hold, release a_R
       rs[n] = a_A rs[n-1] + (1 - a_A) r1[n]               one-pole, attack a_A
   with a = exp(-1 / (tau fs)) (GMR's time constant: 1 - 1/e of a step after tau).
   The attack one-pole also smooths the release, as GMR note for this detector.
   Their "smooth decoupled" variant (eq. 17) writes the release branch as
   a_R r1[n-1] + (1 - a_R) r[n]; the plain max used here is what makes the recursion
   a running maximum (below); both decay alike towards r = 0;
5. output     y = x * 10^((makeup_db - rs) / 20).

No step loops over samples in Python. Steps 1-3 and 5 are numpy passes; the two
recursions of step 4 are one compiled loop (numba), exact term by term.

State is an immutable `CompressorState` passed from block to block; processing a
signal in blocks gives the one-shot output to rounding (~1e-15 relative).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from masterbuild.dsp.chain import CompiledStage
from masterbuild.dsp.filters import butterworth_sos, sos_initial_state, sos_step
from masterbuild.dsp.gain import db_to_linear

# Detector amplitude floor: -400 dBFS, far below the lowest knee edge the manifest
# allows (threshold >= -80 dB, knee <= 24 dB), so the floor never changes the gain.
_DETECTOR_FLOOR = 1e-20
# Reductions below this many dB are flushed to 0: exp(-1e-30 ln10/20) == 1.0 exactly,
# so the output is unchanged, and decaying envelopes never reach subnormal numbers.
_FLUSH_DB = 1e-30
_DB_TO_NEPER = math.log(10.0) / 20.0


class CompressorState(NamedTuple):
    """What one block hands to the next. Never mutated in place.

    Attributes
    ----------
    sidechain_zi : np.ndarray or None
        `sosfilt` state of the sidechain highpass, (sections, 2, channels).
    hold_db : np.ndarray
        Peak-hold reduction r1 at the last frame, dB, (channels,).
    smooth_zi : np.ndarray
        `lfilter` state of the attack one-pole, (1, channels) (= a_A * rs, dB).
    """

    sidechain_zi: np.ndarray | None
    hold_db: np.ndarray
    smooth_zi: np.ndarray


def time_constant_coeff(time_ms: float, sample_rate_hz: float) -> float:
    """One-pole coefficient a = exp(-1 / (tau fs)) for a time constant of `time_ms`.

    A one-pole `y[n] = a y[n-1] + (1 - a) x[n]` driven by a unit step reaches
    1 - 1/e after `time_ms` (GMR's definition). 0.0 for a vanishing time.
    """
    return math.exp(-1000.0 / (time_ms * sample_rate_hz))


def gain_computer_db(
    level_db: ArrayLike, threshold_db: float, ratio: float, knee_db: float
) -> np.ndarray:
    """Static gain g_c = y_G - x_G (dB, <= 0) of the soft-knee curve, GMR eq. 4.

    Parameters
    ----------
    level_db : array_like
        Detector level x_G, dBFS; -inf allowed (gives 0 dB).
    threshold_db : float
        Threshold T, dBFS.
    ratio : float
        Ratio R >= 1 (1 = no compression).
    knee_db : float
        Knee width W, dB; 0 gives the hard knee.

    Returns
    -------
    np.ndarray
        (1/R - 1) h(x_G - T), with h(e) = 0 for 2e < -W, (e + W/2)^2 / (2W) for
        2|e| <= W, e for 2e > W. Computed directly, without the cancellation of
        `static_curve_db(x) - x`.
    """
    slope = 1.0 / ratio - 1.0
    excess_db = np.array(level_db, dtype=float)  # a copy, updated in place below
    excess_db -= threshold_db  # e = x_G - T
    if knee_db <= 0.0:  # hard knee: h(e) = max(e, 0)
        np.maximum(excess_db, 0.0, out=excess_db)
        excess_db *= slope
        return excess_db
    # u = distance into the knee, clipped to [0, W] (0 below it, W above it); the
    # knee's quadratic u^2 / (2W) meets e at e = W/2 with slope 1, and 0 at e = -W/2
    # with slope 0. Updated in place: these blocks are large, fresh arrays cost.
    h = excess_db.copy()
    h += 0.5 * knee_db
    np.maximum(h, 0.0, out=h)
    np.minimum(h, knee_db, out=h)
    np.multiply(h, h, out=h)
    np.divide(h, 2.0 * knee_db, out=h)
    np.copyto(h, excess_db, where=excess_db > 0.5 * knee_db)
    h *= slope
    return h


def static_curve_db(
    level_db: ArrayLike, threshold_db: float, ratio: float, knee_db: float
) -> np.ndarray:
    """Output level y_G (dB) of the soft-knee static curve, GMR eq. 4.

    y_G = x_G below T - W/2; x_G + (1/R - 1)(x_G - T + W/2)^2 / (2W) inside the
    knee; T + (x_G - T)/R above T + W/2. All levels in dBFS.
    """
    level_db = np.asarray(level_db, dtype=float)
    return level_db + gain_computer_db(level_db, threshold_db, ratio, knee_db)


def detector_level_db(sidechain: np.ndarray, link: float) -> np.ndarray:
    """Per-channel detector level x_G (dBFS) of a (frames, channels) sidechain block.

    Stereo link mixes linear amplitudes: d_c = link * max_k |s_k| + (1 - link) |s_c|,
    so link = 1 gives every channel the loudest channel's level (identical gain) and
    link = 0 leaves the channels independent. Levels are floored at -400 dBFS.
    """
    amplitude = np.abs(sidechain)  # a new array, updated in place below
    # floored first, so the link mix of decaying (subnormal) tails cannot underflow
    np.maximum(amplitude, _DETECTOR_FLOOR, out=amplitude)
    channels = amplitude.shape[1]
    if channels > 1 and link > 0.0:
        loudest = amplitude[:, :1].copy()
        for c in range(1, channels):  # faster than max(axis=1) over 2 columns
            np.maximum(loudest, amplitude[:, c : c + 1], out=loudest)
        if link >= 1.0:
            amplitude[:] = loudest
        else:
            amplitude *= 1.0 - link
            amplitude += link * loudest
    np.log10(amplitude, out=amplitude)
    amplitude *= 20.0
    return amplitude


def _ballistics_loop(
    reduction_db: np.ndarray,
    release_coeff: float,
    attack_coeff: float,
    hold_db: np.ndarray,
    smooth_zi: np.ndarray,
    held_db: np.ndarray,
    smoothed_db: np.ndarray,
) -> None:
    """Peak hold then attack one-pole, per channel; updates ``hold_db`` and ``smooth_zi``.

    The one-pole is ``lfilter([1 - a_A], [1, -a_A])`` term for term (y = b0 x + z,
    z = a_A y), so it reads as scipy's did.  Values below ``_FLUSH_DB`` are 0.
    """
    frames, channels = reduction_db.shape
    b0 = 1.0 - attack_coeff
    for c in range(channels):
        r1 = hold_db[c]
        z = smooth_zi[c]
        for n in range(frames):
            r1 = release_coeff * r1
            if reduction_db[n, c] > r1:
                r1 = reduction_db[n, c]
            if r1 < _FLUSH_DB:  # a finished release is exactly 0, never subnormal
                r1 = 0.0
            held_db[n, c] = r1
            y = b0 * r1 + z
            z = attack_coeff * y
            smoothed_db[n, c] = y if y >= _FLUSH_DB else 0.0
        hold_db[c] = r1
        smooth_zi[c] = z if z >= _FLUSH_DB else 0.0


@functools.cache
def _ballistics_kernel() -> Any:
    """Compiled on first use (numba is slow to import; planning never needs it)."""
    from numba import njit

    return njit(cache=True, nogil=True)(_ballistics_loop)


def ballistics_db(
    reduction_db: np.ndarray,
    release_coeff: float,
    attack_coeff: float,
    hold_db: np.ndarray,
    smooth_zi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """GMR's decoupled peak detector on a block: r1 = max(r, a_R r1), rs = one-pole(r1).

    Parameters
    ----------
    reduction_db : np.ndarray
        Static gain reduction r = -g_c >= 0, dB, (frames, channels).
    release_coeff, attack_coeff : float
        a_R and a_A (see :func:`time_constant_coeff`), in [0, 1).
    hold_db : np.ndarray
        r1 at the frame before the block, dB, (channels,).
    smooth_zi : np.ndarray
        One-pole state before the block (= a_A rs[-1]), (1, channels).

    Returns
    -------
    (held_db, smoothed_db, hold_db, smooth_zi)
        r1 and rs, dB, (frames, channels), values below 1e-30 dB read 0; and the
        state for the next block.  A compiled loop: the recursions are exact, and
        cost a tenth of the log-domain running maximum they replace.
    """
    red = np.ascontiguousarray(reduction_db, dtype=np.float64)
    held, smoothed = np.empty_like(red), np.empty_like(red)
    hold = np.array(hold_db, dtype=np.float64)
    zi = np.array(smooth_zi, dtype=np.float64).reshape(-1)
    _ballistics_kernel()(red, float(release_coeff), float(attack_coeff), hold, zi, held, smoothed)
    return held, smoothed, hold, zi.reshape(np.shape(smooth_zi))


def release_envelope_db(
    reduction_db: np.ndarray, release_coeff: float, hold_db: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Peak hold with exponential release, r1[n] = max(r[n], a_R r1[n-1]) (dB).

    Returns r1 (frames, channels), values below 1e-30 dB being 0, and its last frame,
    the next block's `hold_db`.
    """
    channels = reduction_db.shape[1]
    held, _, hold, _ = ballistics_db(
        reduction_db, release_coeff, 0.0, hold_db, np.zeros((1, channels))
    )
    return held, hold


def reduction_to_gain(reduction_db: np.ndarray, makeup_db: float) -> np.ndarray:
    """Linear gain 10^((makeup_db - reduction_db) / 20); exactly the makeup gain at 0."""
    gain = reduction_db * -_DB_TO_NEPER
    np.exp(gain, out=gain)
    gain *= db_to_linear(makeup_db)
    return gain


def compile_compressor(stage: Mapping[str, Any], sample_rate_hz: float) -> CompiledStage:
    """Compile a `compressor` stage (the manifest's dict form) for a sample rate.

    Parameters
    ----------
    stage : Mapping
        threshold_db, ratio, and optionally knee_db (0), attack_ms (10),
        release_ms (150), makeup_db (0), link (1.0), sidechain_hpf_hz (None).
    sample_rate_hz : float
        Sample rate, Hz.

    Returns
    -------
    CompiledStage
        `step(x, state) -> (y, state)` on (frames, channels) float64 blocks of any
        length, `initial_state(channels) -> CompressorState`; no latency.
    """
    threshold_db = float(stage["threshold_db"])
    ratio = float(stage["ratio"])
    knee_db = float(stage.get("knee_db", 0.0))
    makeup_db = float(stage.get("makeup_db", 0.0))
    link = float(stage.get("link", 1.0))
    attack_coeff = time_constant_coeff(float(stage.get("attack_ms", 10.0)), sample_rate_hz)
    release_coeff = time_constant_coeff(float(stage.get("release_ms", 150.0)), sample_rate_hz)
    hpf_hz = stage.get("sidechain_hpf_hz")
    sos = None if hpf_hz is None else butterworth_sos("highpass", hpf_hz, 12, sample_rate_hz)

    def initial_state(channels: int) -> CompressorState:
        return CompressorState(
            sidechain_zi=None if sos is None else sos_initial_state(sos, channels),
            hold_db=np.zeros(channels),
            smooth_zi=np.zeros((1, channels)),
        )

    def step(x: np.ndarray, state: CompressorState) -> tuple[np.ndarray, CompressorState]:
        if x.shape[0] == 0:
            return x.copy(), state
        sidechain, sidechain_zi = x, state.sidechain_zi
        if sos is not None:
            sidechain, sidechain_zi = sos_step(sos, x, sidechain_zi)
        level_db = detector_level_db(sidechain, link)
        reduction_db = np.negative(gain_computer_db(level_db, threshold_db, ratio, knee_db))
        _, smoothed_db, hold_db, smooth_zi = ballistics_db(
            reduction_db, release_coeff, attack_coeff, state.hold_db, state.smooth_zi
        )
        y = reduction_to_gain(smoothed_db, makeup_db)
        y *= x
        return y, CompressorState(sidechain_zi, hold_db, smooth_zi)

    return CompiledStage(step=step, initial_state=initial_state)
