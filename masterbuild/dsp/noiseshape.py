"""Word-length reduction with noise-shaped TPDF dither (error feedback).

The error-feedback quantiser of Lipshitz, Vanderkooy & Wannamaker ("Minimally audible
noise shaping", JAES 39(11), 1991, Fig. 1) and Wannamaker ("Psychoacoustically optimal
noise shaping", JAES 40(7/8), 1992), per channel, in LSB units (x scaled by 2**(bits-1)):

    v[n] = x[n] - sum_{k=1..K} h[k] e[n-k]        (error fed back through the filter)
    w[n] = v[n] + d[n]                              (TPDF dither inside the loop)
    q[n] = floor(w[n] + 1/2)                        (rounding quantiser, as ``quantize``)
    e[n] = q[n] - v[n]                              (total error: dither + rounding)

so the output error is ``q - x = e - sum h[k] e[n-k]``, i.e. ``E(z) (1 - H(z))``.  With
TPDF dither (+-1 LSB peak) the total error ``e`` has the moments of white noise of power
1/12 + 2/12 = 1/4 LSB^2 whatever the signal (Wannamaker, Lipshitz, Vanderkooy & Wright,
"A theory of nonsubtractive dither", IEEE Trans. SP 48(2), 2000), so the delivered error
spectrum is ``|1 - H(e^jw)|^2 / 4`` LSB^2 per unit of normalised bandwidth: the filter
alone decides where the noise goes, and nothing of the signal leaks into it.

Clipping.  The error fed back is ``q - v`` with the *unclipped* ``q`` (as SoX's
``dither`` effect does), so ``|e| <= 1.5`` LSB always and the loop is a FIR filter of a
bounded sequence: it cannot run away however hard the input clips.  Clipping to the
code range is a separate memoryless step after the loop; it is counted and returned like
``masterbuild.dsp.dither.quantize`` does, and the overshoot is *not* fed back: feeding
back the clipped value (errors of thousands of LSB through a filter with sum|h| of 21-32)
makes the loop oscillate after an over; measured on a 3.5 dB-over square wave followed by
silence, that variant rings at full scale through the whole silence at 48 kHz.

Input is clamped to +-2 full scale first, which changes no code (anything past +-1 plus
the few dozen LSB the loop adds clips anyway) and keeps ``q - v`` exact in float64.

The dither comes from the caller's generator, frame by frame and channel by channel (two
uniform variates each, exactly ``rng.random((frames, channels, 2))``), so any split of a
stream into blocks consumes the generator identically and yields identical codes.  The
recursion itself cannot be vectorised (the quantiser is inside the loop); it is a small
numba kernel (``quantize_kernels.shape_loop``), which also steps numpy's PCG64 itself,
bit for bit, rather than have numpy fill an array of uniforms first: that costs more than
the recursion does.
"""

from __future__ import annotations

import numpy as np

from masterbuild.dsp.dither import quantize_kernels as _kernels

# --- published error-feedback filters h[1..K] ---------------------------------------
# Sign convention of the papers and of SoX src/dither.c (FIR flow: d -= h[j] * e[n-1-j]):
# v[n] = x[n] - sum h[k] e[n-k], noise transfer function 1 - H(z) = 1 - sum h[k] z^-k.

# 44.1 kHz: Wannamaker's 9-coefficient F-weighted filter (R. A. Wannamaker,
# "Psychoacoustically optimal noise shaping", JAES 40(7/8), pp. 611-620, 1992), designed
# for 44.1 kHz against his F-weighting, a closer fit to the ear's threshold at high
# frequencies than modified E-weighting.  Same values as SoX src/dither.c `fwe44`
# ("f-weighted"), FFmpeg libswresample `fwe44`.  NTF: -25 dB at 3 kHz, -23 dB at 4 kHz,
# +21 dB at 18 kHz, +27 dB at Nyquist; total error power +18.4 dB over flat TPDF.
_F_WEIGHTED_9_44K = (2.412, -3.370, 3.937, -4.174, 3.353, -2.205, 1.281, -0.569, 0.0847)

# 48 kHz: Naoki Shibata's 16-tap 48 kHz filter, published with his sample-rate
# converter SSRC (shibatch.sourceforge.net, LGPL-2.1) and carried as SoX src/dither.c
# `shi48` ("48k, N=16, amp=18"; the filter SoX's `dither -s` picks at 48 kHz) and FFmpeg
# libswresample `shi48`.  A design for 48 kHz itself: the Lipshitz/Wannamaker sets exist
# for 44.1 kHz only (SoX lists them at a nominal 46 kHz with a 5 % tolerance so they
# serve 48 kHz too, their notch moved up by 8.8 %).  NTF: -23 dB at 3 kHz and 4 kHz,
# -15 dB at 10 kHz, +24 dB at 18 kHz, +28 dB peak; total error power +21.3 dB over flat
# TPDF.
_SHIBATA_16_48K = (
    2.8720729351043701172, -5.0413231849670410156, 6.2442994117736816406,
    -5.8483986854553222656, 3.7067542076110839844, -1.0495119094848632812,
    -1.1830236911773681641, 2.1126792430877685547, -1.9094531536102294922,
    0.99913084506988525391, -0.17090806365013122559, -0.32615602016448974609,
    0.39127644896507263184, -0.26876461505889892578, 0.097676105797290802002,
    -0.023473845794796943665,
)  # fmt: skip


def _frozen(coefs: tuple[float, ...]) -> np.ndarray:
    h = np.array(coefs, dtype=np.float64)
    h.setflags(write=False)
    return h


SHAPING_FILTERS: dict[int, np.ndarray] = {
    44100: _frozen(_F_WEIGHTED_9_44K),
    48000: _frozen(_SHIBATA_16_48K),
}
"""Sample rate (Hz) -> error-feedback coefficients h[1..K] (read-only float64)."""

# TPDF (+-1 LSB peak) plus rounding: 2/12 + 1/12 LSB^2, the white error the filter shapes.
TOTAL_ERROR_POWER_LSB2 = 0.25


def shaping_supported(sample_rate_hz: int) -> bool:
    """Whether a published shaping filter exists for `sample_rate_hz` (44100 or 48000)."""
    return sample_rate_hz in SHAPING_FILTERS


def _filter_for(sample_rate_hz: int) -> np.ndarray:
    try:
        return SHAPING_FILTERS[sample_rate_hz]
    except KeyError:
        rates = " and ".join(str(r) for r in SHAPING_FILTERS)
        raise ValueError(
            f"noise-shaped dither has published filters for {rates} Hz only, "
            f"not {sample_rate_hz} Hz: use TPDF dither"
        ) from None


def noise_transfer_db(freqs_hz: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Power gain |1 - H(e^jw)|^2 of the shaper at `freqs_hz`, in dB re flat TPDF.

    Parameters
    ----------
    freqs_hz : frequencies in Hz (0 .. sample_rate_hz / 2).
    sample_rate_hz : 44100 or 48000.
    """
    h = _filter_for(sample_rate_hz)
    w = 2.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / sample_rate_hz
    k = np.arange(1, h.size + 1)
    ntf = 1.0 - np.exp(-1j * np.outer(w, k)) @ h
    return 10.0 * np.log10(np.abs(ntf) ** 2)


def shaped_initial_state(channels: int, sample_rate_hz: int) -> np.ndarray:
    """Error history for the start of a stream: zeros, shape (K, channels).

    Row ``K - k`` holds e[n-k] in LSB (oldest first, most recent last); K is the length
    of the rate's filter.  Pass it to the first ``quantize_shaped`` call and the state
    that call returns to the next one.
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, not {channels}")
    return np.zeros((_filter_for(sample_rate_hz).size, channels), dtype=np.float64)


def quantize_shaped(
    x: np.ndarray,
    bits: int,
    rng: np.random.Generator,
    state: np.ndarray,
    sample_rate_hz: int,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Quantise float samples to `bits`-bit integers with noise-shaped TPDF dither.

    Same contract as ``masterbuild.dsp.dither.quantize`` (full scale +-1.0, rounding
    quantiser, int32 codes in [-2**(bits-1), 2**(bits-1) - 1], clipped samples counted),
    with the rate's published error-feedback filter (``SHAPING_FILTERS``) shaping the
    requantisation error.  Blocks of any size give the same codes as one block, provided
    the returned state is passed on and the same generator is used throughout.

    Parameters
    ----------
    x : (frames, channels) float array, full scale +-1.0.  NaN is rejected.
    bits : target word length in bits (2..31; 16 and 24 for delivery).
    rng : seeded generator for the dither (see ``dither_rng``); draws 2 uniform
        doubles per sample, frame by frame, channel by channel.
    state : error history from ``shaped_initial_state`` or the previous call,
        (K, channels) in LSB.  Not modified.
    sample_rate_hz : 44100 or 48000 (``shaping_supported``).

    Returns
    -------
    codes : (frames, channels) int32.
    clipped : number of samples clipped to the code range (the overshoot is not fed
        back; see the module docstring).
    state : the error history after the last frame, for the next block.

    Raises
    ------
    ValueError
        Unsupported rate, bad shapes, word length or NaN input.
    ModuleNotFoundError
        numba is not installed (there is deliberately no slow pure-Python fallback).
    """
    h = _filter_for(sample_rate_hz)
    k = _kernels()
    if rng is None:
        raise ValueError("noise-shaped dither needs a seeded generator")
    if not 2 <= bits <= 31:
        raise ValueError(f"bits must be 2..31, not {bits}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be (frames, channels), not shape {x.shape}")
    frames, channels = x.shape
    if state.shape != (h.size, channels):
        raise ValueError(
            f"state has shape {state.shape}, expected {(h.size, channels)} for "
            f"{channels} channel(s) at {sample_rate_hz} Hz"
        )

    scale = float(2 ** (bits - 1))
    # One compiled pass: clamp, scale, dither (numpy's PCG64 stream stepped in the
    # kernel: the very uniforms rng.random would give), the recursion, clip and count.
    lanes = k.shaped_lanes(rng, channels)
    mode, u = 1, np.zeros(0)
    if lanes is None:  # not PCG64: that generator's own draws, in the same order
        mode, u = 2, np.ravel(rng.random((frames, channels, 2)))
        lanes = np.zeros((2 + 2 * channels, 2), dtype=np.uint64)  # read, unused
    x = np.ascontiguousarray(x)
    err = np.empty((channels, h.size + frames))
    err[:, : h.size] = state.T
    codes = np.empty((frames, channels), dtype=np.int32)
    clipped, nan = k.shape_loop(x, scale, h, err, -scale, scale - 1.0, codes, mode, lanes, u)
    if nan:
        raise ValueError("cannot quantise NaN samples")
    if mode == 1:
        k.pcg64_skip(rng, 2 * x.size)
    return codes, int(clipped), np.ascontiguousarray(err[:, frames:].T)
