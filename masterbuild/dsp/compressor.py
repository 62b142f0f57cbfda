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

No step loops over samples in Python. The peak hold is a running maximum in the log
domain: with l = ln a_R,

    ln r1[n] = n l + max_{k <= n} (ln r[k] - k l)        (np.maximum.accumulate)

evaluated over segments short enough that |k l| stays below `_SEGMENT_DECAY`, so every
term keeps its precision (a block-wide index would cost ~|n l| ulps); only the carry
between segments is a Python loop, one iteration per segment. The attack one-pole is
`scipy.signal.lfilter` with its state carried.

State is an immutable `CompressorState` passed from block to block; processing a
signal in blocks gives the one-shot output to rounding (~1e-15 relative).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import signal

from masterbuild.dsp.chain import CompiledStage
from masterbuild.dsp.filters import butterworth_sos, sos_initial_state, sos_step
from masterbuild.dsp.gain import db_to_linear

# Detector amplitude floor: -400 dBFS, far below the lowest knee edge the manifest
# allows (threshold >= -80 dB, knee <= 24 dB), so the floor never changes the gain.
_DETECTOR_FLOOR = 1e-20
# Reductions below this many dB are flushed to 0: exp(-1e-30 ln10/20) == 1.0 exactly,
# so the output is unchanged, and decaying envelopes never reach subnormal numbers.
_FLUSH_DB = 1e-30
_LOG_FLUSH = math.log(_FLUSH_DB)
# r = 0 enters the log domain as ln 1e-300: every term it makes ends below _FLUSH_DB.
_LOG_FLOOR_VALUE = 1e-300
# Largest decay |k ln a_R| spanned by one segment of the running maximum (e^-32 ~ 1e-14).
_SEGMENT_DECAY = 32.0
# Shortest segment, so absurdly short releases do not loop per sample.
_MIN_SEGMENT_FRAMES = 16
# Below this a_R (one sample of hold is worth less than 1e-16 of r1) the hold is
# dropped and r1 = r; the difference is below 1e-16 of the reduction.
_NEGLIGIBLE_HOLD = 1e-16
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


def _flushed_exp_inplace(log_value: np.ndarray) -> None:
    """log_value <- exp(log_value), results below `_FLUSH_DB` set to 0 (no underflow)."""
    flushed = log_value <= _LOG_FLUSH
    np.maximum(log_value, _LOG_FLUSH, out=log_value)
    np.exp(log_value, out=log_value)
    log_value[flushed] = 0.0


def release_envelope_db(
    reduction_db: np.ndarray, release_coeff: float, hold_db: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Peak hold with exponential release, r1[n] = max(r[n], a_R r1[n-1]).

    The release stage of GMR's decoupled peak detector, in closed form: in the log
    domain, with l = ln a_R and r1[-1] = `hold_db`,

        ln r1[n] = n l + max(ln r1[-1] + l, max_{0 <= k <= n} (ln r[k] - k l)),

    a running maximum (`np.maximum.accumulate`). The block is cut into segments of at
    most `_SEGMENT_DECAY / |l|` frames, each re-based to its first frame so the terms
    stay small; the segments' carries are chained in a short loop.

    Parameters
    ----------
    reduction_db : np.ndarray
        Static gain reduction r = -g_c >= 0, dB, (frames, channels).
    release_coeff : float
        a_R = exp(-1 / (release_s fs)), in [0, 1).
    hold_db : np.ndarray
        r1 at the frame before the block, dB, (channels,).

    Returns
    -------
    held_db : np.ndarray
        r1, dB, (frames, channels); values below 1e-30 dB are 0.
    hold_db : np.ndarray
        r1 at the block's last frame, the next block's `hold_db`.
    """
    frames, channels = reduction_db.shape
    if frames == 0:
        return reduction_db.copy(), hold_db
    if release_coeff < _NEGLIGIBLE_HOLD:
        held = np.where(reduction_db < _FLUSH_DB, 0.0, reduction_db)
        return held, held[-1].copy()
    decay = math.log(release_coeff)  # l < 0, per frame
    if -decay * frames <= _SEGMENT_DECAY:  # the usual case: one segment per block
        seg = frames
    else:
        seg = max(_MIN_SEGMENT_FRAMES, int(_SEGMENT_DECAY / -decay))
    segments = -(-frames // seg)
    # One work array, updated in place (fresh 1 MB temporaries cost page faults).
    # r = 0 is read as 1e-300, whose terms all end below _FLUSH_DB and are flushed:
    # it acts as ln 0 = -inf would, without a divide-by-zero.
    work = np.full((segments * seg, channels), _LOG_FLOOR_VALUE)
    np.maximum(reduction_db, _LOG_FLOOR_VALUE, out=work[:frames])
    np.log(work, out=work)
    log_held = work.reshape(segments, seg, channels)
    ramp = (np.arange(seg) * decay)[None, :, None]  # k l, |k l| <= _SEGMENT_DECAY
    # running max of ln r[k] - k l within each segment (k re-based per segment)
    np.subtract(log_held, ramp, out=log_held)
    np.maximum.accumulate(log_held, axis=1, out=log_held)
    # carry into each segment: ln r1 just before it, as the term of a frame k = -1
    carry_in = np.empty((segments, channels))
    carry = np.log(np.maximum(hold_db, _LOG_FLOOR_VALUE))
    last_ramp = (seg - 1) * decay
    for i in range(segments):
        carry_in[i] = carry + decay
        carry = last_ramp + np.maximum(log_held[i, -1], carry_in[i])
    np.maximum(log_held, carry_in[:, None, :], out=log_held)
    np.add(log_held, ramp, out=log_held)  # ln r1[n]
    _flushed_exp_inplace(log_held)
    held = work[:frames]
    return held, held[-1].copy()


def attack_smooth_db(
    held_db: np.ndarray, attack_coeff: float, zi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Attack stage of GMR's decoupled detector: rs[n] = a_A rs[n-1] + (1 - a_A) r1[n].

    Parameters
    ----------
    held_db : np.ndarray
        Peak-hold reduction r1, dB, (frames, channels).
    attack_coeff : float
        a_A = exp(-1 / (attack_s fs)), in [0, 1).
    zi : np.ndarray
        `lfilter` state, (1, channels).

    Returns
    -------
    smoothed_db : np.ndarray
        rs, dB, (frames, channels); values below 1e-30 dB are 0.
    zi : np.ndarray
        State for the next block.
    """
    if held_db.shape[0] == 0:
        return held_db.copy(), zi
    smoothed, zf = signal.lfilter(
        [1.0 - attack_coeff], [1.0, -attack_coeff], held_db, axis=0, zi=zi
    )
    smoothed[smoothed < _FLUSH_DB] = 0.0
    zf[zf < _FLUSH_DB] = 0.0
    return smoothed, zf


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
        held_db, hold_db = release_envelope_db(reduction_db, release_coeff, state.hold_db)
        smoothed_db, smooth_zi = attack_smooth_db(held_db, attack_coeff, state.smooth_zi)
        y = reduction_to_gain(smoothed_db, makeup_db)
        y *= x
        return y, CompressorState(sidechain_zi, hold_db, smooth_zi)

    return CompiledStage(step=step, initial_state=initial_state)
