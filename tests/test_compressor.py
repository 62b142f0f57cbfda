"""The compressor stage against analytic oracles.

Static curve: GMR eq. 4 in closed form (Giannoulis, Massberg & Reiss, JAES 2012).
Ballistics: the decoupled peak detector has exact discrete step responses,

    attack   r_s[m] = T (1 - a_A^(m+1))                                   (r1 = T)
    release  r_s[m] = a_A^(m+1) T + (1 - a_A) T a_R (a_A^(m+1) - a_R^(m+1)) / (a_A - a_R)

(m frames after the step, r_s = T before a release), checked to 1e-9 dB, beside the
continuous time-constant figures (1 - 1/e after the attack time, e^-t/tau on release)
to 2 %. Blocks of any size give the one-shot output (atol 1e-12).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from masterbuild.dsp.chain import run_chain
from masterbuild.dsp.compressor import (
    CompressorState,
    compile_compressor,
    gain_computer_db,
    release_envelope_db,
    static_curve_db,
    time_constant_coeff,
)
from masterbuild.dsp.filters import butterworth_sos, sos_response_db
from masterbuild.dsp.gain import db_to_linear
from masterbuild.manifest.models import CompressorStage

FS_HZ = 48000


def process(x: np.ndarray, block_sizes=None, **params) -> np.ndarray:
    """Run a compressor with `params` over `x`, in one block or in `block_sizes`."""
    stage = compile_compressor({"kind": "compressor", **params}, FS_HZ)
    state = stage.initial_state(x.shape[1])
    sizes = [len(x)] if block_sizes is None else block_sizes
    out, start = [], 0
    for size in sizes:
        y, state = stage.step(x[start : start + size], state)
        assert y.shape == (min(size, len(x) - start), x.shape[1])
        out.append(y)
        start += size
    assert start >= len(x)
    return np.concatenate(out)


def reduction_db(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gain reduction (dB, positive = quieter) of y against x (x nowhere 0)."""
    return 20.0 * np.log10(x / y)


def dc_steps(levels_dbfs: list[float], durations_s: list[float]) -> np.ndarray:
    """A mono DC signal of piecewise constant level: |x| constant within each piece."""
    parts = [
        np.full(round(d * FS_HZ), 10.0 ** (lv / 20.0))
        for lv, d in zip(levels_dbfs, durations_s, strict=True)
    ]
    return np.concatenate(parts)[:, None]


def programme(frames: int, channels: int = 2, seed: int = 7) -> np.ndarray:
    """Noise with a dynamic envelope (bursts, swells, a stretch of digital silence)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FS_HZ
    envelope = 10.0 ** ((-30.0 + 28.0 * np.abs(np.sin(2 * np.pi * 1.3 * t)) ** 3) / 20.0)
    x = rng.standard_normal((frames, channels)) * envelope[:, None]
    x[:, 1:] *= 0.5  # the channels differ in level, so the link matters
    x[frames // 3 : frames // 3 + 3000] = 0.0
    return x


# --- static curve (GMR eq. 4) -------------------------------------------------------


def closed_form_db(level_db: float, t_db: float, ratio: float, knee_db: float) -> float:
    """GMR eq. 4, one level at a time, as the paper writes it (eq. 3, hard knee, at W = 0)."""
    if 2.0 * (level_db - t_db) < -knee_db or (knee_db == 0 and level_db == t_db):
        return level_db
    if 2.0 * abs(level_db - t_db) <= knee_db:
        return level_db + (1.0 / ratio - 1.0) * (level_db - t_db + knee_db / 2.0) ** 2 / (
            2.0 * knee_db
        )
    return t_db + (level_db - t_db) / ratio


@pytest.mark.parametrize("knee_db", [0.0, 6.0])
@pytest.mark.parametrize("ratio", [1.0, 2.0, 4.0, 100.0])
def test_static_curve_matches_closed_form(knee_db, ratio):
    t_db = -20.0
    edges = [t_db - knee_db / 2, t_db + knee_db / 2]
    levels = np.sort(np.concatenate([np.linspace(-60.0, 0.0, 6001), edges]))
    expected = np.array([closed_form_db(v, t_db, ratio, knee_db) for v in levels])
    got = static_curve_db(levels, t_db, ratio, knee_db)
    assert np.max(np.abs(got - expected)) < 1e-12
    gain = gain_computer_db(levels, t_db, ratio, knee_db)
    assert np.max(np.abs(gain - (expected - levels))) < 1e-12
    assert np.all(gain <= 0.0)
    assert np.all(gain[levels < t_db - knee_db / 2] == 0.0)  # exactly unity below the knee
    assert np.all(np.diff(got) >= 0.0)  # monotonic


@pytest.mark.parametrize("knee_db", [0.0, 6.0, 24.0])
@pytest.mark.parametrize("ratio", [2.0, 4.0, 100.0])
def test_static_curve_continuous_with_slopes_1_and_1_over_r(knee_db, ratio):
    t_db, d = -20.0, 1e-5

    def curve(v: float) -> float:
        return float(static_curve_db(np.array([v]), t_db, ratio, knee_db)[0])

    lower, upper = t_db - knee_db / 2, t_db + knee_db / 2
    for edge in (lower, upper):  # continuous: no jump across either knee edge
        assert abs(curve(edge + d) - curve(edge - d)) <= 2 * d * (1 + 1e-6)
    # slope 1 below the knee and 1/R above it, on both sides of each edge (one-sided
    # differences; inside the knee the curve is quadratic, hence the O(d / W) allowance)
    slope_tol = 1e-6 + (d / knee_db if knee_db else 0.0)
    assert (curve(lower) - curve(lower - d)) / d == pytest.approx(1.0, abs=slope_tol)
    assert (curve(upper + d) - curve(upper)) / d == pytest.approx(1.0 / ratio, abs=slope_tol)
    if knee_db:
        assert (curve(lower + d) - curve(lower)) / d == pytest.approx(1.0, abs=slope_tol)
        assert (curve(upper) - curve(upper - d)) / d == pytest.approx(1.0 / ratio, abs=slope_tol)
        # at T the knee sits (1/R - 1) W / 8 below the hard-knee corner
        assert curve(t_db) == pytest.approx(t_db + (1 / ratio - 1) * knee_db / 8, abs=1e-12)


def test_gain_computer_takes_scalars_and_minus_infinity():
    assert float(gain_computer_db(-np.inf, -20.0, 4.0, 6.0)) == 0.0
    assert float(gain_computer_db(0.0, -20.0, 4.0, 0.0)) == pytest.approx(-15.0, abs=1e-12)
    assert float(static_curve_db(-np.inf, -20.0, 4.0, 0.0)) == -np.inf


# --- steady state: a sine through the whole stage -----------------------------------


@pytest.mark.parametrize("knee_db", [0.0, 6.0])
@pytest.mark.parametrize("level_dbfs", [-30.0, -22.0, -20.0, -18.0, -14.0, -8.0, -3.0, 0.0])
def test_steady_state_sine_peak_follows_static_curve(knee_db, level_dbfs):
    """Peak detector on a 1 kHz sine: the settled output peak is the static curve at the
    sine's peak level, less the release ripple of the decoupled detector.

    Between two peaks of |x| (P = 24 frames apart) the hold decays as a_R^m; the 1 ms
    attack one-pole (48 frames) averages that sawtooth, so the settled reduction is
    target * mean(a_R^m, m < P): 0.48 % short of the static value with a 50 ms release
    (0.072 dB at 15 dB of reduction). Bracketed exactly by [target a_R^P, target].
    """
    t_db, ratio, release_ms = -20.0, 4.0, 50.0
    period = FS_HZ // 1000 // 2  # frames between peaks of |x|
    t = np.arange(round(0.6 * FS_HZ)) / FS_HZ
    x = (10 ** (level_dbfs / 20) * np.cos(2 * np.pi * 1000.0 * t))[:, None]  # peaks on frames
    params = dict(threshold_db=t_db, ratio=ratio, knee_db=knee_db, attack_ms=1.0)
    y = process(x, release_ms=release_ms, **params)
    peak_db = 20 * np.log10(np.abs(y[-round(0.1 * FS_HZ) :]).max())

    static_db = float(static_curve_db(level_dbfs, t_db, ratio, knee_db))
    target_db = level_dbfs - static_db
    a_r = time_constant_coeff(release_ms, FS_HZ)
    ripple = 1.0 - np.mean(a_r ** np.arange(period))
    error_db = peak_db - static_db
    assert -1e-12 <= error_db <= target_db * (1 - a_r**period) + 1e-12  # rigorous bracket
    assert error_db == pytest.approx(target_db * ripple, abs=0.005)  # measured <= 0.0014
    if target_db <= 9.0:
        assert abs(error_db) < 0.05  # the plain static curve, where the ripple allows it

    # makeup gain adds exactly
    y_up = process(x, release_ms=release_ms, makeup_db=3.5, **params)
    assert np.allclose(y_up, y * db_to_linear(3.5), rtol=1e-15, atol=0)
    peak_up_db = 20 * np.log10(np.abs(y_up[-round(0.1 * FS_HZ) :]).max())
    assert peak_up_db - peak_db == pytest.approx(3.5, abs=1e-9)


# --- ballistics: attack and release of a level step ---------------------------------


@pytest.mark.parametrize("attack_ms", [1.0, 5.0, 20.0])
def test_attack_is_a_one_pole_with_the_attack_time_constant(attack_ms):
    """-40 -> -10 dBFS DC step, T = -20, R = 4: target 7.5 dB, approached as 1 - a_A^(m+1)."""
    x = dc_steps([-40.0, -10.0], [0.1, max(0.2, 40 * attack_ms / 1000)])
    step = round(0.1 * FS_HZ)
    y = process(x, threshold_db=-20.0, ratio=4.0, attack_ms=attack_ms, release_ms=100.0)
    assert np.array_equal(y[:step], x[:step])  # below threshold: untouched
    r = reduction_db(x[step:, 0], y[step:, 0])
    target = 7.5
    m = np.arange(len(r))
    a_a = time_constant_coeff(attack_ms, FS_HZ)
    assert np.max(np.abs(r - target * (1 - a_a ** (m + 1)))) < 1e-9
    n_tau = round(attack_ms * FS_HZ / 1000)  # frame m = n_tau: attack_ms after the step
    assert r[n_tau] / target == pytest.approx(1 - math.exp(-1), rel=0.02)  # measured <= 1.2 %
    assert r[-1] == pytest.approx(target, abs=1e-9)


@pytest.mark.parametrize(
    "attack_ms,release_ms,continuous",
    [(0.1, 50.0, True), (0.1, 200.0, True), (10.0, 100.0, False)],
)
def test_release_decays_with_the_release_time_constant(attack_ms, release_ms, continuous):
    """-10 -> -40 dBFS DC step: the hold decays as a_R^m, then passes the attack one-pole.

    With attack << release the reduction is target e^(-t / release) (within
    attack/release, 0.2 % here); with a slow attack the exact discrete response shows the
    attack impressed on the release, as GMR note for the decoupled detector.
    """
    loud_s = 0.5
    x = dc_steps([-10.0, -40.0], [loud_s, 5 * release_ms / 1000])
    step = round(loud_s * FS_HZ)
    y = process(x, threshold_db=-20.0, ratio=4.0, attack_ms=attack_ms, release_ms=release_ms)
    r = reduction_db(x[step:, 0], y[step:, 0])
    target = 7.5
    assert reduction_db(x[step - 1, 0], y[step - 1, 0]) == pytest.approx(target, abs=1e-9)
    a_a = time_constant_coeff(attack_ms, FS_HZ)
    a_r = time_constant_coeff(release_ms, FS_HZ)
    m1 = np.arange(len(r)) + 1.0
    exact = a_a**m1 * target + (1 - a_a) * target * a_r * (a_a**m1 - a_r**m1) / (a_a - a_r)
    assert np.max(np.abs(r - exact)) < 1e-9
    if continuous:
        for k in (1, 2):  # t = release_ms, 2 release_ms after the step
            n = round(k * release_ms * FS_HZ / 1000)
            assert r[n] / (target * math.exp(-k)) == pytest.approx(1.0, rel=0.02)
    assert r[-1] < target * math.exp(-4)


def test_release_envelope_is_the_peak_hold_recursion():
    """The compiled peak hold against r1[n] = max(r[n], a_R r1[n-1]) sample by sample,
    for releases from under one frame to seconds."""
    rng = np.random.default_rng(3)
    r = np.maximum(rng.standard_normal((6000, 2)) * 6.0, 0.0)
    r[2000:3500] = 0.0  # a long stretch of pure decay
    hold0 = np.array([12.0, 0.0])
    for release_ms in (0.001, 0.02, 1.0, 50.0, 5000.0):
        a_r = time_constant_coeff(release_ms, FS_HZ)
        expected, prev = np.empty_like(r), hold0
        for n in range(len(r)):
            prev = np.maximum(r[n], a_r * prev)
            expected[n] = prev
        expected[expected < 1e-30] = 0.0  # the stage flushes what cannot change a gain
        held, hold = release_envelope_db(r, a_r, hold0)
        assert np.array_equal(held, expected)  # the recursion itself, term for term
        assert np.array_equal(hold, held[-1])


def test_attack_one_pole_is_lfilter_bit_for_bit_across_blocks():
    from scipy.signal import lfilter

    from masterbuild.dsp.compressor import ballistics_db

    rng = np.random.default_rng(4)
    r = np.maximum(rng.standard_normal((5000, 2)) * 6.0, 0.0)
    a_r, a_a = time_constant_coeff(80.0, FS_HZ), time_constant_coeff(5.0, FS_HZ)
    held, smoothed, _, _ = ballistics_db(r, a_r, a_a, np.zeros(2), np.zeros((1, 2)))
    expected = lfilter([1.0 - a_a], [1.0, -a_a], held, axis=0)
    expected[expected < 1e-30] = 0.0
    np.testing.assert_array_equal(smoothed, expected)
    # In two blocks, the carried state continues both recursions exactly.
    h1, s1, hold, zi = ballistics_db(r[:1777], a_r, a_a, np.zeros(2), np.zeros((1, 2)))
    h2, s2, _, _ = ballistics_db(r[1777:], a_r, a_a, hold, zi)
    np.testing.assert_array_equal(np.concatenate([h1, h2]), held)
    np.testing.assert_array_equal(np.concatenate([s1, s2]), smoothed)


# --- transparency, link, sidechain --------------------------------------------------


@pytest.mark.parametrize("makeup_db", [0.0, -3.0, 6.0])
@pytest.mark.parametrize("knee_db", [0.0, 6.0])
def test_below_threshold_is_bit_transparent(makeup_db, knee_db):
    x = np.random.default_rng(5).standard_normal((20000, 2))
    x *= 10 ** ((-20.0 - knee_db / 2 - 0.01) / 20) / np.abs(x).max()  # peaks below the knee
    y = process(x, threshold_db=-20.0, ratio=8.0, knee_db=knee_db, makeup_db=makeup_db)
    assert np.array_equal(y, x * db_to_linear(makeup_db))


def two_tones() -> np.ndarray:
    """Left: 1 kHz at 0 dBFS; right: 997 Hz at -40 dBFS (below any threshold here)."""
    t = np.arange(round(0.4 * FS_HZ)) / FS_HZ
    return np.stack(
        [np.sin(2 * np.pi * 1000 * t + 0.1), 0.01 * np.sin(2 * np.pi * 997 * t + 0.3)], axis=1
    )


def test_link_1_gives_both_channels_identical_gain():
    x = two_tones()
    y = process(x, threshold_db=-20.0, ratio=4.0, link=1.0, release_ms=100.0)
    ok = np.all(np.abs(x) > 1e-6, axis=1)
    gain = y[ok] / x[ok]
    assert np.allclose(gain[:, 0], gain[:, 1], rtol=1e-13, atol=0)
    # the quiet right channel is ducked by the loud left one (static value 15 dB)
    settled = reduction_db(x[ok][-2000:, 1], y[ok][-2000:, 1])
    assert 14.5 < settled.mean() < 15.0


def test_link_0_keeps_channels_independent():
    x = two_tones()
    params = dict(threshold_db=-20.0, ratio=4.0, link=0.0, release_ms=100.0)
    y = process(x, **params)
    assert np.array_equal(y[:, 1], x[:, 1])  # the quiet channel is untouched
    assert np.array_equal(y[:, :1], process(x[:, :1], **params))  # left as if alone


def test_partial_link_mixes_linear_amplitudes():
    """link = 0.5: d_R = 0.5 |L| + 0.5 |R| (linear), so R sees 0.3 when L = 0.5, R = 0.1."""
    frames = round(0.3 * FS_HZ)
    x = np.column_stack([np.full(frames, 0.5), np.full(frames, 0.1)])
    y = process(x, threshold_db=-20.0, ratio=4.0, knee_db=6.0, link=0.5, attack_ms=1.0)
    for ch, detector in ((0, 0.5), (1, 0.3)):
        expected = -float(gain_computer_db(20 * math.log10(detector), -20.0, 4.0, 6.0))
        assert reduction_db(x[-1, ch], y[-1, ch]) == pytest.approx(expected, abs=1e-9)


def test_sidechain_highpass_ignores_low_frequencies():
    t = np.arange(round(1.5 * FS_HZ)) / FS_HZ
    tail = slice(round(1.0 * FS_HZ), None)
    params = dict(threshold_db=-20.0, ratio=4.0, attack_ms=5.0, release_ms=50.0)

    def settled_reduction(freq_hz: float, hpf_hz: float | None) -> np.ndarray:
        x = (0.5 * np.cos(2 * np.pi * freq_hz * t))[:, None]  # -6 dBFS
        y = process(x, sidechain_hpf_hz=hpf_hz, **params)
        ok = np.abs(x[tail, 0]) > 1e-3
        return reduction_db(x[tail, 0][ok], y[tail, 0][ok])

    # 30 Hz: the 150 Hz highpass takes it 28 dB down, under the threshold
    sos = butterworth_sos("highpass", 150.0, 12, FS_HZ)
    assert sos_response_db(sos, [30.0], FS_HZ)[0] < -20.0 - 20 * math.log10(0.5)
    plain, filtered = settled_reduction(30.0, None), settled_reduction(30.0, 150.0)
    assert plain.mean() > 5.0
    assert filtered.max() < 0.01 and filtered.max() < 0.002 * plain.mean()
    # 1 kHz: the highpass passes it (0.002 dB down) but shifts its phase (12 degrees), so
    # the sample peaks of |x| move by up to half a sample: 20 log10 cos(pi f / fs) dB
    # of detector level. Above threshold the reduction moves by (1 - 1/R) of both.
    plain, filtered = settled_reduction(1000.0, None), settled_reduction(1000.0, 150.0)
    sample_peak_db = -20 * math.log10(math.cos(math.pi * 1000.0 / FS_HZ))
    allowed_db = (1 - 1 / 4.0) * (sample_peak_db - sos_response_db(sos, [1000.0], FS_HZ)[0])
    assert np.max(np.abs(plain - filtered)) < allowed_db  # 0.0113 dB < 0.0156 dB


# --- streaming ----------------------------------------------------------------------

CONFIGS = {
    "defaults": dict(threshold_db=-20.0, ratio=4.0),
    "full": dict(
        threshold_db=-24.0,
        ratio=3.0,
        knee_db=6.0,
        attack_ms=0.5,
        release_ms=1.0,  # short: many running-max segments per block
        makeup_db=2.0,
        link=0.5,
        sidechain_hpf_hz=80.0,
    ),
    "slow": dict(threshold_db=-30.0, ratio=10.0, attack_ms=200.0, release_ms=5000.0, link=0.0),
    "instant": dict(threshold_db=-20.0, ratio=2.0, attack_ms=0.001, release_ms=0.001),
}


def random_sizes(total: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < total:
        sizes.append(int(rng.choice([0, 1, 2, 3, 17, 500, 4096, 20000])))
    return sizes


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("block", [1, 37, 4096, 65536, "random"])
def test_blocks_equal_one_shot(config, block):
    frames = 6000 if block == 1 else 150_000  # block 1 steps in Python: a short signal
    x = programme(frames)
    one = process(x, **CONFIGS[config])
    if block == "random":
        sizes = random_sizes(frames, seed=len(config))
    else:
        sizes = [block] * -(-frames // block)
    parts = process(x, block_sizes=sizes, **CONFIGS[config])
    assert parts.shape == one.shape
    assert np.max(np.abs(parts - one)) <= 1e-12
    assert np.max(np.abs(one - x * db_to_linear(CONFIGS[config].get("makeup_db", 0.0)))) > 0.01


def test_zero_length_block_returns_empty_and_keeps_state():
    stage = compile_compressor({"kind": "compressor", "threshold_db": -20.0, "ratio": 4.0}, FS_HZ)
    state = stage.initial_state(2)
    _, state = stage.step(programme(1000), state)
    empty, after = stage.step(np.zeros((0, 2)), state)
    assert empty.shape == (0, 2)
    assert isinstance(after, CompressorState)
    for a, b in zip(after, state, strict=True):
        assert (a is None and b is None) or np.array_equal(a, b)


def test_state_is_not_mutated_by_a_step():
    stage = compile_compressor(
        {"kind": "compressor", "threshold_db": -30.0, "ratio": 4.0, "sidechain_hpf_hz": 50.0},
        FS_HZ,
    )
    x = programme(5000)
    _, state = stage.step(x[:2500], stage.initial_state(2))
    snapshot = [None if s is None else s.copy() for s in state]
    first, _ = stage.step(x[2500:], state)
    second, _ = stage.step(x[2500:], state)  # the same state twice: the same output
    assert np.array_equal(first, second)
    for a, b in zip(state, snapshot, strict=True):
        assert np.array_equal(a, b)


def test_silence_and_long_decays_raise_no_floating_point_warnings():
    """Digital silence, and a loud burst followed by seconds of silence (envelopes and the
    sidechain filter decaying towards underflow), under np.errstate(all="raise")."""
    burst = np.zeros((round(6 * FS_HZ), 2))
    burst[:FS_HZ] = np.random.default_rng(9).standard_normal((FS_HZ, 2))
    params = dict(CONFIGS["full"], attack_ms=0.2, release_ms=0.5)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        silent = process(np.zeros((10000, 2)), block_sizes=[0, 1, 4999, 5000], **params)
        assert np.array_equal(silent, np.zeros((10000, 2)))
        y = process(burst, block_sizes=[4096] * 71, **params)
    assert np.all(np.isfinite(y))
    assert np.array_equal(y[FS_HZ:], burst[FS_HZ:])  # zeros stay zeros


def test_through_run_chain_as_the_render_uses_it():
    stage = CompressorStage(kind="compressor", threshold_db=-20, ratio=4, knee_db=3).model_dump(
        mode="json"
    )
    stage["version"] = 1  # as plan.py hands stages to the render
    x = programme(100_000)
    blocks = (x[i : i + 8192] for i in range(0, len(x), 8192))
    y = np.concatenate(list(run_chain(blocks, [stage], FS_HZ, 2)))
    assert y.shape == x.shape
    direct = process(x, threshold_db=-20.0, ratio=4.0, knee_db=3.0)
    assert np.max(np.abs(y - direct)) <= 1e-12
    loud = np.abs(x).max(axis=1) > 0.5
    assert np.all(np.abs(y[loud]) < np.abs(x[loud]))
