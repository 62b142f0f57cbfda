"""Source mixes of the demo album, synthesized deterministically from code.

The demo album (``albums/demo``) ships no audio: a build task calls
:func:`write_demo_mixes` to render four short, unmastered "mixes" that give a
mastering chain real work to do — drums with transients, a bass line, pads,
plucks and leads, panned across the stereo field, with a quiet intro, a build,
a loud section, a breakdown and a natural decay at the end.

Determinism: every random draw comes from ``numpy.random.Generator(PCG64(seed))``
with a seed fixed in :data:`DEMO_TRACKS`; nothing reads the clock, the global RNG
or ``hash()``. Sines come from a table built with ``math.sin`` rather than
numpy's CPU-dispatched SIMD ``sin``. The result is rounded onto the 24-bit PCM
grid, so the written WAV holds exactly the array :func:`synthesize` returns, and
last-bit differences between machines (SIMD ``exp``, FFT kernels) vanish in that
rounding in practice; bit identity is guaranteed only for the same numpy/scipy
build and CPU features.

Bump :data:`DEMO_VERSION` whenever the output of :func:`synthesize` changes.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from masterbuild.atomic import atomic_output

DEMO_SAMPLE_RATE_HZ = 48000
DEMO_VERSION = 2

STEPS_PER_BAR = 16  # 4/4 in sixteenth notes
_PEAK_CEILING_DBFS = -1.2  # under the -1 dBFS promise, with room for rounding
_PCM24_SCALE = 2.0**23  # 24-bit full scale: code k <-> k / 2**23
_LN_1000 = np.log(1000.0)  # a decay of T60 seconds is exp(-ln(1000) t / T60)
_SeedLike = int | tuple[int, ...]


def _signal():
    """scipy.signal, imported on first use: `doit` imports this module just to learn
    DEMO_VERSION and the track ids, and a no-op build must not pay ~1 s for scipy."""
    import scipy.signal

    return scipy.signal


def _fft():
    import scipy.fft

    return scipy.fft


def _soundfile():
    import soundfile

    return soundfile


@dataclass(frozen=True)
class Section:
    """One part of a song's arrangement.

    Part levels are linear velocities in 0..1 (0 mutes the part) for the notes
    that start in this section; ``ramp`` is a fader ride across the whole mix.

    Parameters
    ----------
    name : label, for humans.
    bars : length in 4/4 bars.
    kick, snare, hats, bass, pad, arp, lead : part levels, 0..1.
    ramp : mix gain (linear) at the start and end of the section.
    roll : a snare roll that speeds up (a build) instead of the snare pattern.
    crash : a crash cymbal on the first downbeat.
    hold : the final chord: one hit of every active part, left to ring out.
    """

    name: str
    bars: int
    kick: float = 0.0
    snare: float = 0.0
    hats: float = 0.0
    bass: float = 0.0
    pad: float = 0.0
    arp: float = 0.0
    lead: float = 0.0
    ramp: tuple[float, float] = (1.0, 1.0)
    roll: bool = False
    crash: bool = False
    hold: bool = False


@dataclass(frozen=True)
class DemoTrack:
    """A demo song: its identity, its music and its sound.

    Patterns are 16 characters, one per sixteenth note of a bar. Drums:
    ``X`` accent, ``x`` normal, ``g`` ghost, ``o`` open hi-hat, ``.`` rest.
    Bass: ``R``/``r`` chord root (accented/normal), ``O``/``o`` its octave,
    ``F``/``f`` its fifth, ``-`` holds the previous note, ``.`` rest.
    Arpeggio: a digit indexes the chord's tones (close voicing, then an octave
    up), ``.`` rest. Chords are note names, the first one the bass note; the
    chord of bar ``b`` of a section is ``chords[b % len(chords)]``.

    Parameters
    ----------
    id, title : stable key and display title (as in ``albums/demo/album.toml``).
    duration_s : length of the mix in seconds, the decay tail included.
    tempo_bpm : quarter notes per minute.
    seed : seed of every random draw of this track.
    target_lufs : integrated loudness the mix is set to (BS.1770, approximated),
        unless the sample peak ceiling lowers it.
    chords : one chord per bar.
    sections : the arrangement; the last one a ``hold`` that has time to ring out.
    kick_pattern, snare_pattern, hat_pattern, bass_pattern, arp_pattern : grooves.
    melody : the lead line as ``NOTE/SIXTEENTHS`` tokens, ``.`` for a rest and
        ``|`` between bars for the reader, e.g. ``"C#5/6 B4/2 ./8 | ..."``; it
        repeats every ``melody_bars`` bars.
    swing : delay of every odd sixteenth, as a fraction of a sixteenth.
    bass_centre_midi, pad_centre_midi, arp_centre_midi : registers (MIDI notes).
    rumble_dbfs : RMS level (dBFS) of sub-25 Hz rumble added to the mix, or None.
    kick_pitch_hz, kick_t60_s, kick_click, kick_drive : see :func:`kick`.
    clap_level : a clap layered on the snare, 0..1 (0: none).
    bass_cutoff_hz, bass_drive : see :func:`bass_note`.
    pad_attack_s, pad_release_s, pad_detune_cents : see :func:`pad_note`.
    pad_cutoff_hz : low-pass on the pad bus, Hz.
    arp_ratio, arp_index, arp_t60_s : the :func:`fm_note` voice of the arpeggio
        (and of the lead when ``lead_voice`` is ``"fm"``, ringing 1.5x longer).
    echo_steps : ping-pong echo on arpeggio and lead, in sixteenths (0: none).
    lead_voice : ``"saw"`` (:func:`lead_note`) or ``"fm"``.
    reverb_rt60_s, reverb_mix : reverb decay time (s) and return level (linear).
    duck_depth : side-chain dip of pad and bass under each kick, 0..1.
    """

    id: str
    title: str
    duration_s: float
    tempo_bpm: float
    seed: int
    target_lufs: float
    chords: tuple[str, ...]
    sections: tuple[Section, ...]
    kick_pattern: str
    snare_pattern: str
    hat_pattern: str
    bass_pattern: str
    arp_pattern: str
    melody: str = ""
    melody_bars: int = 4
    swing: float = 0.0
    bass_centre_midi: int = 36
    pad_centre_midi: int = 58
    arp_centre_midi: int = 70
    kick_pitch_hz: float = 50.0
    kick_t60_s: float = 0.45
    kick_click: float = 0.25
    kick_drive: float = 1.0
    clap_level: float = 0.0
    bass_cutoff_hz: float = 450.0
    bass_drive: float = 1.5
    pad_attack_s: float = 0.3
    pad_release_s: float = 1.0
    pad_cutoff_hz: float = 3000.0
    pad_detune_cents: float = 10.0
    arp_ratio: float = 2.0
    arp_index: float = 2.0
    arp_t60_s: float = 0.5
    echo_steps: int = 3
    lead_voice: Literal["saw", "fm"] = "saw"
    reverb_rt60_s: float = 1.6
    reverb_mix: float = 0.25
    duck_depth: float = 0.0
    rumble_dbfs: float | None = None

    @property
    def bar_s(self) -> float:
        """Length of one 4/4 bar in seconds."""
        return 4 * 60.0 / self.tempo_bpm

    @property
    def arrangement_s(self) -> float:
        """Seconds from the first downbeat to the end of the last section."""
        return sum(s.bars for s in self.sections) * self.bar_s


DEMO_TRACKS: tuple[DemoTrack, ...] = (
    # Slow ambient swell: FM bells over a wide, slow pad, a sub bass and a soft pulse.
    DemoTrack(
        id="dawn",
        title="Dawn",
        duration_s=41.0,
        tempo_bpm=70.0,
        seed=1101,
        target_lufs=-20.0,
        chords=("D F# A C# E", "B D F# A", "G B D F# A", "A C# E B"),
        sections=(
            Section("intro", 2, pad=0.5, ramp=(0.2, 0.8)),
            Section("rise", 2, pad=0.7, arp=0.6, bass=0.6, hats=0.3, ramp=(0.75, 1.0)),
            Section("swell", 4, pad=1, arp=0.9, bass=1, kick=0.6, snare=0.35, hats=0.6, crash=True),
            Section("breakdown", 2, pad=0.75, arp=0.8, hats=0.2, ramp=(1.0, 0.7)),
            Section("coda", 1, pad=0.8, arp=0.6, bass=0.6, hold=True),
        ),
        kick_pattern="X.......x.......",
        snare_pattern="........x.......",
        hat_pattern="x.xgx.xgx.xgx.xg",
        bass_pattern="R---------------",
        arp_pattern="0..3..2..4..1.5.",
        bass_centre_midi=40,
        pad_centre_midi=58,
        arp_centre_midi=74,
        kick_pitch_hz=46.0,
        kick_t60_s=0.7,
        kick_click=0.05,
        bass_cutoff_hz=250.0,
        bass_drive=1.0,
        pad_attack_s=1.4,
        pad_release_s=3.0,
        pad_cutoff_hz=2200.0,
        pad_detune_cents=9.0,
        arp_ratio=3.5,
        arp_index=1.6,
        arp_t60_s=2.5,
        echo_steps=3,
        reverb_rt60_s=3.2,
        reverb_mix=0.4,
    ),
    # Mid-tempo swung groove with ghost notes, an FM e-piano, and sea-swell rumble.
    DemoTrack(
        id="tide",
        title="Tide",
        duration_s=40.0,
        tempo_bpm=96.0,
        seed=2202,
        target_lufs=-18.0,
        chords=("A C E G B", "F A C E", "C E G B", "G B D A"),
        sections=(
            Section("intro", 2, pad=0.5, hats=0.35, ramp=(0.35, 1.0)),
            Section("build", 2, pad=0.7, hats=0.6, kick=0.8, bass=0.8, snare=0.5, ramp=(0.8, 1)),
            Section("groove", 4, kick=1, snare=1, hats=0.8, bass=1, pad=0.8, arp=0.8, crash=True),
            Section("breakdown", 2, pad=0.7, arp=0.8, hats=0.3, lead=0.6),
            Section(
                "groove 2",
                4,
                kick=1,
                snare=1,
                hats=0.9,
                bass=1,
                pad=0.8,
                arp=0.6,
                lead=1,
                crash=True,
            ),
            Section("end", 1, pad=0.8, bass=0.9, kick=0.8, arp=0.5, crash=True, hold=True),
        ),
        kick_pattern="X.....x.X...x...",
        snare_pattern="....X..g....X.g.",
        hat_pattern="xgXgxgXgxgXgxgXo",
        bass_pattern="R--o..r-.F-.r-O-",
        arp_pattern="..0..1.2..0..3.1",
        melody=(
            "E5/3 G5/3 A5/2 ./2 E5/4 D5/2 | C5/3 E5/3 A5/4 ./2 G5/4 |"
            " E5/3 G5/3 C6/2 ./2 B5/4 G5/2 | D5/6 E5/2 B4/8"
        ),
        swing=0.14,
        bass_centre_midi=36,
        pad_centre_midi=60,
        arp_centre_midi=64,
        kick_pitch_hz=52.0,
        kick_t60_s=0.4,
        bass_cutoff_hz=380.0,
        bass_drive=1.3,
        pad_attack_s=0.4,
        pad_release_s=1.2,
        pad_cutoff_hz=2800.0,
        arp_ratio=1.0,
        arp_index=1.4,
        arp_t60_s=1.2,
        echo_steps=2,
        lead_voice="fm",
        reverb_rt60_s=1.6,
        reverb_mix=0.25,
        duck_depth=0.15,
        rumble_dbfs=-38.0,
    ),
    # Loud, dense and punchy: hard drums over a driven, pumping bass and supersaw chords.
    DemoTrack(
        id="ember",
        title="Ember",
        duration_s=38.0,
        tempo_bpm=128.0,
        seed=3303,
        target_lufs=-17.0,
        chords=("E G B", "A C E", "C E G B", "B D# F# A"),
        sections=(
            Section("intro", 2, bass=0.45, hats=0.35, ramp=(0.5, 1.0)),
            Section("build", 2, bass=0.6, hats=0.6, kick=0.6, snare=0.8, pad=0.5, roll=True),
            Section(
                "drop", 6, kick=1, snare=1, hats=1, bass=1, pad=1, arp=0.6, lead=0.9, crash=True
            ),
            Section("breakdown", 2, pad=0.6, lead=0.5, arp=0.4, ramp=(1.0, 0.8)),
            Section(
                "drop 2", 6, kick=1, snare=1, hats=1, bass=1, pad=1, arp=0.6, lead=1, crash=True
            ),
            Section("end", 1, kick=1.0, pad=1.0, bass=1.0, crash=True, hold=True),
        ),
        kick_pattern="X...X...X...X...",
        snare_pattern="....X.......X...",
        hat_pattern="gxogxgogxgogxgox",
        bass_pattern="R-r-O-r-R-r-O-r-",
        arp_pattern="0.1.2.1.0.1.2.1.",
        melody=(
            "B4/2 B4/2 E5/2 B4/2 G4/4 F#4/4 | A4/2 A4/2 C5/2 E5/2 C5/4 B4/4 |"
            " G4/2 G4/2 B4/2 E5/2 G5/8 | D#5/4 F#5/4 B5/8"
        ),
        bass_centre_midi=34,
        pad_centre_midi=60,
        arp_centre_midi=64,
        kick_pitch_hz=48.0,
        kick_t60_s=0.35,
        kick_click=0.5,
        kick_drive=2.0,
        clap_level=0.9,
        bass_cutoff_hz=700.0,
        bass_drive=3.0,
        pad_attack_s=0.02,
        pad_release_s=0.4,
        pad_cutoff_hz=5000.0,
        pad_detune_cents=14.0,
        arp_ratio=1.0,
        arp_index=3.0,
        arp_t60_s=0.3,
        echo_steps=0,
        reverb_rt60_s=1.2,
        reverb_mix=0.2,
        duck_depth=0.55,
    ),
    # Driving synth-pop: four on the floor, octave bass, a 16th-note arpeggio, a saw lead.
    DemoTrack(
        id="night-drive",
        title="Night Drive",
        duration_s=41.0,
        tempo_bpm=118.0,
        seed=4404,
        target_lufs=-18.5,
        chords=("F# A C#", "D F# A", "A C# E", "E G# B"),
        sections=(
            Section("intro", 2, arp=0.5, pad=0.4, ramp=(0.3, 1.0)),
            Section("verse", 4, kick=0.8, bass=0.8, hats=0.6, arp=0.7, pad=0.6, snare=0.6),
            Section(
                "chorus", 4, kick=1, snare=1, hats=1, bass=1, pad=0.9, arp=0.8, lead=1, crash=True
            ),
            Section("breakdown", 2, pad=0.7, arp=0.8, bass=0.4, ramp=(1.0, 0.8)),
            Section(
                "chorus 2", 4, kick=1, snare=1, hats=1, bass=1, pad=0.9, arp=0.8, lead=1, crash=True
            ),
            Section("outro", 2, arp=0.7, pad=0.6, ramp=(1.0, 0.4)),
            Section("end", 1, pad=0.6, arp=0.5, bass=0.5, hold=True),
        ),
        kick_pattern="X...X...X...X...",
        snare_pattern="....X.......X...",
        hat_pattern="g.X.g.X.g.X.g.Xo",
        bass_pattern="R-o-r-o-R-o-r-o-",
        arp_pattern="0132013201320132",
        melody=(
            "C#5/6 B4/2 A4/4 B4/4 | A4/6 F#4/2 D5/4 C#5/4 |"
            " E5/6 C#5/2 C#5/4 E5/4 | G#5/6 F#5/2 E5/8"
        ),
        bass_centre_midi=36,
        pad_centre_midi=60,
        arp_centre_midi=66,
        kick_pitch_hz=52.0,
        kick_t60_s=0.4,
        clap_level=0.5,
        bass_cutoff_hz=500.0,
        bass_drive=1.5,
        pad_attack_s=0.25,
        pad_release_s=1.0,
        pad_cutoff_hz=3200.0,
        pad_detune_cents=12.0,
        arp_ratio=2.0,
        arp_index=2.2,
        arp_t60_s=0.35,
        echo_steps=3,
        reverb_rt60_s=2.0,
        reverb_mix=0.25,
        duck_depth=0.35,
    ),
)

# Mix balance, dB: gain of each voice at velocity 1 (drum and bass voices are
# peak-normalised, a pad voice is a full-scale saw) before the whole mix is set
# to its target loudness. Reverb sends are linear, post-fader.
_PART_GAIN_DB = {
    "kick": 0.0,
    "snare": -3.0,
    "clap": -6.0,
    "hat": -11.0,
    "open_hat": -13.0,
    "crash": -15.0,
    "bass": -7.0,
    "pad": -19.0,
    "arp": -10.0,
    "lead": -12.0,
}
_REVERB_SEND = {
    "snare": 0.35,
    "clap": 0.35,
    "hat": 0.1,
    "open_hat": 0.15,
    "crash": 0.15,
    "pad": 0.4,
    "arp": 0.45,
    "lead": 0.3,
}
# Equal-power pan positions, -1 left .. +1 right; kick, snare, bass, lead centre.
_PAN = {"hat": 0.35, "open_hat": -0.3, "arp_dry": -0.15}


# ----------------------------------------------------------------------------- public API


def demo_track(track_id: str) -> DemoTrack:
    """The :data:`DEMO_TRACKS` entry with this id.

    Raises
    ------
    ValueError : for an unknown id.
    """
    for track in DEMO_TRACKS:
        if track.id == track_id:
            return track
    known = ", ".join(t.id for t in DEMO_TRACKS)
    raise ValueError(f"unknown demo track {track_id!r}; expected one of: {known}")


def synthesize(track_id: str, sample_rate_hz: int = DEMO_SAMPLE_RATE_HZ) -> np.ndarray:
    """Render one demo mix.

    Parameters
    ----------
    track_id : an id from :data:`DEMO_TRACKS`.
    sample_rate_hz : output sample rate in Hz (at least 22050).

    Returns
    -------
    np.ndarray
        ``(frames, 2)`` float64, ``frames = round(duration_s * sample_rate_hz)``,
        on the 24-bit PCM grid (multiples of 2**-23), sample peak <= -1 dBFS.
        The same bytes on every run.
    """
    track = demo_track(track_id)
    if int(sample_rate_hz) != sample_rate_hz or sample_rate_hz < 22050:
        raise ValueError(f"sample_rate_hz must be an integer >= 22050, got {sample_rate_hz}")
    sr = int(sample_rate_hz)
    mix = _render_mix(track, sr)
    return _master_bus(track, mix, sr)


def write_demo_mixes(mixes_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``<mixes_dir>/<id>.wav`` for every demo track, atomically.

    Each file is 24-bit PCM, 48 kHz, stereo, written to a temporary file in the
    same folder, flushed to disk and renamed into place, so a killed build never
    leaves a half-written mix under the final name.

    Parameters
    ----------
    mixes_dir : destination folder; created if missing.

    Returns
    -------
    list[Path]
        The written files, in :data:`DEMO_TRACKS` order.
    """
    folder = Path(mixes_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for track in DEMO_TRACKS:
        audio = synthesize(track.id, DEMO_SAMPLE_RATE_HZ)
        # Exact 24-bit codes in the top bytes of int32: libsndfile keeps them
        # bit for bit, where a float conversion would rescale by 2**23 - 1.
        codes = np.round(audio * _PCM24_SCALE).astype(np.int32) << 8
        path = folder / f"{track.id}.wav"
        with atomic_output(path) as tmp:
            _soundfile().write(str(tmp), codes, DEMO_SAMPLE_RATE_HZ, subtype="PCM_24", format="WAV")
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- voices


def kick(
    sample_rate_hz: int,
    *,
    pitch_hz: float = 50.0,
    sweep_from_hz: float = 180.0,
    sweep_s: float = 0.03,
    t60_s: float = 0.45,
    click: float = 0.25,
    drive: float = 1.0,
) -> np.ndarray:
    """Kick drum: a sine swept down to its pitch, with a beater click.

    Parameters
    ----------
    sample_rate_hz : sample rate in Hz.
    pitch_hz : resting pitch of the body in Hz.
    sweep_from_hz : pitch at the hit in Hz; decays to ``pitch_hz`` with time
        constant ``sweep_s`` seconds (the "punch").
    t60_s : time for the body to decay by 60 dB, seconds.
    click : level of the 1.5 ms, 3 kHz beater click relative to the body.
    drive : tanh saturation amount (1 = clean-ish); thickens the attack.

    Returns
    -------
    np.ndarray
        Mono, peak 1.
    """
    t = _time_s(t60_s, sample_rate_hz)
    freq_hz = pitch_hz + (sweep_from_hz - pitch_hz) * np.exp(-t / sweep_s)
    body = _sin_cycles(np.cumsum(freq_hz) / sample_rate_hz) * _decay(t, t60_s)
    beater = click * _sin_cycles(3000.0 * t) * np.exp(-t / 0.0015)
    return _peak_normalise(np.tanh(drive * (body + beater)))


def snare(
    sample_rate_hz: int,
    seed: _SeedLike,
    *,
    tone_hz: float = 185.0,
    t60_s: float = 0.4,
    tone_mix: float = 0.4,
) -> np.ndarray:
    """Snare drum: two damped shell modes plus band-passed wire noise.

    Parameters
    ----------
    sample_rate_hz : sample rate in Hz.
    seed : seed of the noise.
    tone_hz : fundamental of the shell in Hz (second mode at 1.6x).
    t60_s : 60 dB decay time of the wires, seconds (the shell rings a third of it).
    tone_mix : share of the shell in the sum, 0..1.

    Returns
    -------
    np.ndarray
        Mono, peak 1.
    """
    t = _time_s(t60_s, sample_rate_hz)
    shell = _sin_cycles(tone_hz * t) + 0.6 * _sin_cycles(1.6 * tone_hz * t)
    shell *= _decay(t, t60_s / 3)
    wires = _noise(seed, t.size)
    wires = _signal().sosfilt(_sos(sample_rate_hz, "bandpass", (1200.0, 9000.0)), wires)
    wires *= _decay(t, t60_s)
    return _peak_normalise(tone_mix * _peak_normalise(shell) + (1 - tone_mix) * wires)


def clap(sample_rate_hz: int, seed: _SeedLike, *, t60_s: float = 0.35) -> np.ndarray:
    """Hand clap: four quick noise bursts (several hands) and a short room tail.

    Parameters
    ----------
    sample_rate_hz : sample rate in Hz.
    seed : seed of the noise.
    t60_s : 60 dB decay time of the tail, seconds.

    Returns
    -------
    np.ndarray
        Mono, peak 1.
    """
    t = _time_s(t60_s + 0.03, sample_rate_hz)
    envelope = np.zeros_like(t)
    for onset_s in (0.0, 0.009, 0.017, 0.028):
        after = np.maximum(t - onset_s, 0.0)
        envelope = np.maximum(envelope, (t >= onset_s) * np.exp(-after / 0.004))
    envelope = np.maximum(envelope, 0.5 * (t >= 0.028) * _decay(np.maximum(t - 0.028, 0), t60_s))
    sos = _sos(sample_rate_hz, "bandpass", (800.0, 3500.0))
    return _peak_normalise(_signal().sosfilt(sos, _noise(seed, t.size)) * envelope)


# Six square-wave "metal" partials of the TR-808 cymbal circuit, in Hz.
_METAL_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)


@lru_cache(maxsize=8)
def _metal(sample_rate_hz: int, frames: int, ratio: float) -> np.ndarray:
    """Sum of the six 808 square waves, scaled in pitch by ``ratio``; cached, read-only."""
    t = np.arange(frames) / sample_rate_hz
    metal = sum(np.sign(0.5 - _wrap(ratio * f * t + 0.1)) for f in _METAL_HZ)
    metal.flags.writeable = False
    return metal


def hihat(sample_rate_hz: int, seed: _SeedLike, *, t60_s: float = 0.06) -> np.ndarray:
    """Hi-hat: noise and 808-style square "metal", high-passed above 7 kHz.

    Parameters
    ----------
    sample_rate_hz : sample rate in Hz.
    seed : seed of the noise.
    t60_s : 60 dB decay time, seconds (about 0.05 closed, 0.4 open).

    Returns
    -------
    np.ndarray
        Mono, peak 1.
    """
    t = _time_s(t60_s, sample_rate_hz)
    raw = 0.7 * _noise(seed, t.size) + 0.05 * _metal(sample_rate_hz, t.size, 1.0)
    hissy = _signal().sosfilt(_sos(sample_rate_hz, "highpass", 7000.0, order=4), raw)
    attack = np.minimum(t / 0.0005, 1.0)
    return _peak_normalise(hissy * _decay(t, t60_s) * attack)


def crash(sample_rate_hz: int, seed: _SeedLike, *, t60_s: float = 2.2) -> np.ndarray:
    """Crash cymbal: two decorrelated channels of bright noise and metal.

    Parameters
    ----------
    sample_rate_hz : sample rate in Hz.
    seed : seed of the noise.
    t60_s : 60 dB decay time, seconds.

    Returns
    -------
    np.ndarray
        ``(frames, 2)``, peak 1.
    """
    t = _time_s(t60_s, sample_rate_hz)
    raw = 0.8 * _noise(seed, (t.size, 2)) + 0.03 * _metal(sample_rate_hz, t.size, 1.7)[:, None]
    bright = _signal().sosfilt(_sos(sample_rate_hz, "highpass", 3500.0), raw, axis=0)
    envelope = _decay(t, t60_s) * np.minimum(t / 0.003, 1.0)
    return _peak_normalise(bright * envelope[:, None])


def bass_note(
    sample_rate_hz: int,
    freq_hz: float,
    duration_s: float,
    *,
    cutoff_hz: float = 450.0,
    drive: float = 1.5,
    sub_mix: float = 0.45,
    release_s: float = 0.04,
) -> np.ndarray:
    """Synth bass: a band-limited saw with a plucky filter, a sine sub, saturation.

    The filter "envelope" crossfades from a bright (4x cutoff) to a dark
    low-pass copy over ~90 ms, which sounds like a swept filter without a
    time-varying filter.

    Parameters
    ----------
    sample_rate_hz : sample rate in Hz.
    freq_hz : pitch in Hz.
    duration_s : gate length in seconds.
    cutoff_hz : resting low-pass cutoff in Hz.
    drive : tanh saturation amount.
    sub_mix : share of the sine in the sum, 0..1.
    release_s : 60 dB decay time after the gate closes, seconds.

    Returns
    -------
    np.ndarray
        Mono, peak 1.
    """
    t = _time_s(duration_s + release_s, sample_rate_hz)
    phase = freq_hz * t
    saw = _saw(phase, freq_hz / sample_rate_hz)
    dark = _signal().sosfilt(_sos(sample_rate_hz, "lowpass", cutoff_hz), saw)
    bright = _signal().sosfilt(_sos(sample_rate_hz, "lowpass", 4 * cutoff_hz), saw)
    tone = dark + (bright - dark) * np.exp(-t / 0.09)
    sub = _sin_cycles(phase)
    mixed = np.tanh(drive * (sub_mix * sub + (1 - sub_mix) * tone))
    return _peak_normalise(mixed * _gate(t, sample_rate_hz, duration_s, 0.003, release_s))


def pad_note(
    sample_rate_hz: int,
    freq_hz: float,
    duration_s: float,
    *,
    attack_s: float = 0.3,
    release_s: float = 1.0,
    detune_cents: float = 10.0,
    phases: tuple[float, float] = (0.0, 0.5),
) -> np.ndarray:
    """Pad voice: one band-limited saw per channel, detuned apart for width.

    The two channels beat slowly against each other, which gives the pad its
    movement and its side signal. Filter it at the bus.

    Parameters
    ----------
    sample_rate_hz : sample rate in Hz.
    freq_hz : pitch in Hz.
    duration_s : gate length in seconds; ``release_s`` follows.
    attack_s : raised-cosine fade-in time, seconds.
    release_s : 60 dB decay time after the gate closes, seconds.
    detune_cents : left is this much flat, right this much sharp.
    phases : start phases (cycles) of the left and right oscillators.

    Returns
    -------
    np.ndarray
        ``(frames, 2)``, peak about 1.
    """
    t = _time_s(duration_s + release_s, sample_rate_hz)
    envelope = _gate(t, sample_rate_hz, duration_s, attack_s, release_s)
    out = np.empty((t.size, 2))
    for channel, cents in enumerate((-detune_cents, detune_cents)):
        f_hz = freq_hz * 2.0 ** (cents / 1200.0)
        out[:, channel] = _saw(f_hz * t + phases[channel], f_hz / sample_rate_hz) * envelope
    return out


def fm_note(
    sample_rate_hz: int,
    freq_hz: float,
    *,
    ratio: float = 2.0,
    index: float = 2.0,
    t60_s: float = 0.5,
) -> np.ndarray:
    """Two-operator FM pluck: bells (non-integer ratio), e-piano (1), plucks (2).

    Parameters
    ----------
    sample_rate_hz : sample rate in Hz.
    freq_hz : carrier pitch in Hz.
    ratio : modulator frequency / carrier frequency.
    index : peak modulation index (radians); decays three times faster than
        the note, so the tone mellows as it rings.
    t60_s : 60 dB decay time of the note, seconds.

    Returns
    -------
    np.ndarray
        Mono, peak about 1.
    """
    t = _time_s(t60_s, sample_rate_hz)
    envelope = _decay(t, t60_s)
    # Modulation index in cycles (radians / 2 pi), decaying with T60 / 3.
    index_cycles = (index / (2 * np.pi)) * envelope**3
    carrier = _sin_cycles(freq_hz * t + index_cycles * _sin_cycles(ratio * freq_hz * t))
    attack = min(round(0.002 * sample_rate_hz), t.size)  # 2 ms: a pluck, not a click
    envelope[:attack] *= np.linspace(0.0, 1.0, attack)
    return carrier * envelope


def lead_note(
    sample_rate_hz: int,
    freq_hz: float,
    duration_s: float,
    *,
    vibrato_cents: float = 18.0,
    detune_cents: float = 7.0,
    release_s: float = 0.15,
) -> np.ndarray:
    """Saw lead: two detuned saws with a vibrato that fades in after 200 ms.

    Parameters
    ----------
    sample_rate_hz : sample rate in Hz.
    freq_hz : pitch in Hz.
    duration_s : gate length in seconds; ``release_s`` follows.
    vibrato_cents : peak vibrato depth (5.5 Hz), cents.
    detune_cents : spread of the two saws, cents.
    release_s : 60 dB decay time after the gate closes, seconds.

    Returns
    -------
    np.ndarray
        Mono, peak about 1.
    """
    t = _time_s(duration_s + release_s, sample_rate_hz)
    depth = vibrato_cents * np.clip((t - 0.2) / 0.3, 0.0, 1.0)
    inst_hz = freq_hz * 2.0 ** (depth * _sin_cycles(5.5 * t) / 1200.0)
    phase = np.cumsum(inst_hz) / sample_rate_hz
    dt = freq_hz / sample_rate_hz
    spread = 2.0 ** (detune_cents / 1200.0)
    saws = _saw(phase * spread, dt * spread) + _saw(phase / spread + 0.3, dt / spread)
    return 0.5 * saws * _gate(t, sample_rate_hz, duration_s, 0.008, release_s)


# ----------------------------------------------------------------------------- score


class _Note(NamedTuple):
    start_s: float
    duration_s: float
    midi: float  # pitch; 0 for drums
    velocity: float  # linear, 0..1
    release_s: float = 0.0  # T60 after the gate; 0 = the part's usual release


_Score = dict[str, list[_Note]]
_AddNote = Callable[..., None]  # add(part, start_s, length_s, midi, velocity, release_s=...)


_DRUM_VELOCITY = {"X": 1.0, "x": 0.7, "g": 0.3, "o": 0.8}
_BASS_STEP = {"R": (0, 1.0), "r": (0, 0.75), "O": (12, 1.0), "o": (12, 0.75)}
_BASS_STEP |= {"F": (7, 1.0), "f": (7, 0.75)}
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def note_to_midi(name: str) -> int:
    """MIDI note number of a name such as ``"C#5"`` or ``"Bb3"`` (A4 = 69)."""
    match = re.fullmatch(r"([A-G])([#b]?)(-?\d)", name)
    if match is None:
        raise ValueError(f"not a note name: {name!r}")
    letter, accidental, octave = match.groups()
    shift = {"#": 1, "b": -1, "": 0}[accidental]
    return 12 * (int(octave) + 1) + _PITCH_CLASS[letter] + shift


def parse_melody(melody: str) -> list[tuple[int, int, int]]:
    """``(start_step, length_steps, midi)`` of each note of a melody string."""
    notes, step = [], 0
    for token in melody.replace("|", " ").split():
        name, _, length = token.partition("/")
        if name != ".":
            notes.append((step, int(length), note_to_midi(name)))
        step += int(length)
    return notes


def _pitch_classes(chord: str) -> list[int]:
    return [note_to_midi(f"{name}4") % 12 for name in chord.split()]


def _close_voicing(pitch_classes: Sequence[int], centre_midi: int) -> list[int]:
    """Each pitch class in the octave window centred on ``centre_midi``, sorted."""
    low = centre_midi - 6
    return sorted(low + (pc - low) % 12 for pc in set(pitch_classes))


def _open_voicing(pitch_classes: Sequence[int], centre_midi: int) -> list[int]:
    """Close voicing with every second note raised an octave: a wider, airier pad."""
    close = _close_voicing(pitch_classes, centre_midi)
    return sorted(m + 12 * (i % 2) for i, m in enumerate(close))


def _score(track: DemoTrack) -> _Score:
    """Every note of the song, per part, with humanised timing and velocity."""
    rng = _rng((track.seed, 0))
    step_s = track.bar_s / STEPS_PER_BAR
    parts: dict[str, list[_Note]] = {
        k: [] for k in ("kick", "snare", "hat", "open_hat", "crash", "bass", "pad", "arp", "lead")
    }
    melody = {start: (length, midi) for start, length, midi in parse_melody(track.melody)}

    def add(part: str, t_s: float, length_s: float, midi: float, velocity: float, **kw) -> None:
        # A few ms of timing and ~8 % velocity variation: played, not quantised.
        jitter_s = 0.0 if part in ("kick", "bass") else 0.003 * rng.uniform(-1, 1)
        humanised = min(velocity * (1 + 0.08 * rng.uniform(-1, 1)), 1.0)
        parts[part].append(_Note(max(t_s + jitter_s, 0.0), length_s, midi, humanised, **kw))

    bar_index = 0
    for section in track.sections:
        for bar_in_section in range(section.bars):
            bar_s = (bar_index + bar_in_section) * track.bar_s
            pcs = _pitch_classes(track.chords[bar_in_section % len(track.chords)])
            bass_root = _close_voicing(pcs[:1], track.bass_centre_midi)[0]
            arp_tones = _close_voicing(pcs, track.arp_centre_midi)
            arp_tones += [m + 12 for m in arp_tones]
            if bar_in_section == 0 and section.crash:
                add("crash", bar_s, 0.0, 0, 0.9)
            if section.hold:
                _score_hold(track, section, bar_s, pcs, bass_root, arp_tones, add)
                continue
            # Pads change chord on the bar line; common tones are re-struck too,
            # which makes the slow attacks swell with the harmony.
            if section.pad:
                for midi in _open_voicing(pcs, track.pad_centre_midi):
                    add("pad", bar_s, track.bar_s, midi, section.pad)
            for step in range(STEPS_PER_BAR):
                t_s = bar_s + step_s * (step + track.swing * (step % 2))
                _score_step(track, section, step, t_s, step_s, bass_root, arp_tones, add)
                # Melody repeats every melody_bars, restarting with each section.
                cycle_step = (bar_in_section % track.melody_bars) * STEPS_PER_BAR + step
                if section.lead and cycle_step in melody:
                    length, midi = melody[cycle_step]
                    add("lead", t_s, 0.92 * length * step_s, midi, section.lead)
            if section.roll:
                _score_roll(section, bar_in_section, bar_s, step_s, add)
        bar_index += section.bars
    return parts


def _score_step(
    track: DemoTrack,
    section: Section,
    step: int,
    t_s: float,
    step_s: float,
    bass_root: int,
    arp_tones: list[int],
    add: _AddNote,
) -> None:
    """Drums, bass and arpeggio notes that start on one sixteenth."""
    for part, pattern, level in (
        ("kick", track.kick_pattern, section.kick),
        ("snare", track.snare_pattern, 0.0 if section.roll else section.snare),
        ("hat", track.hat_pattern, section.hats),
    ):
        char = pattern[step]
        if level and char in _DRUM_VELOCITY:
            name = "open_hat" if part == "hat" and char == "o" else part
            add(name, t_s, 0.0, 0, level * _DRUM_VELOCITY[char])
    char = track.bass_pattern[step]
    if section.bass and char in _BASS_STEP:
        ties = len(track.bass_pattern[step + 1 :]) - len(track.bass_pattern[step + 1 :].lstrip("-"))
        interval, velocity = _BASS_STEP[char]
        add("bass", t_s, 0.9 * (1 + ties) * step_s, bass_root + interval, section.bass * velocity)
    char = track.arp_pattern[step]
    if section.arp and char.isdigit():
        accent = 1.0 if step % 4 == 0 else 0.75
        midi = arp_tones[int(char) % len(arp_tones)]
        add("arp", t_s, step_s, midi, section.arp * accent)


def _score_roll(
    section: Section, bar_in_section: int, bar_s: float, step_s: float, add: _AddNote
) -> None:
    """A build-up snare roll: eighths, then sixteenths in the last bar, crescendo."""
    last_bar = bar_in_section == section.bars - 1
    for step in range(0, STEPS_PER_BAR, 1 if last_bar else 2):
        progress = (bar_in_section * STEPS_PER_BAR + step) / (section.bars * STEPS_PER_BAR)
        add("snare", bar_s + step * step_s, 0.0, 0, section.snare * (0.25 + 0.75 * progress))


def _score_hold(
    track: DemoTrack,
    section: Section,
    bar_s: float,
    pcs: list[int],
    bass_root: int,
    arp_tones: list[int],
    add: _AddNote,
) -> None:
    """The last chord: struck once by every active part and left to ring out."""
    ring_s = max(track.pad_release_s, 2.5)  # T60 of the final decay
    if section.kick:
        add("kick", bar_s, 0.0, 0, section.kick)
    if section.bass:
        add("bass", bar_s, track.bar_s / 2, bass_root, section.bass, release_s=ring_s / 2)
    if section.pad:
        for midi in _open_voicing(pcs, track.pad_centre_midi):
            add("pad", bar_s, track.bar_s / 2, midi, section.pad, release_s=ring_s)
    if section.arp:  # a slow upward strum
        for i, midi in enumerate(arp_tones[: len(pcs) + 1]):
            add("arp", bar_s + 0.06 * i, 0.0, midi, section.arp * 0.8)


# ----------------------------------------------------------------------------- mixing


def _render_mix(track: DemoTrack, sr: int) -> np.ndarray:
    """All parts of the track, summed with sends, ducking, reverb and fader rides."""
    frames = round(track.duration_s * sr)
    score = _score(track)
    mix = np.zeros((frames, 2))
    send = np.zeros(frames)  # mono reverb send
    duck = _duck_envelope(score["kick"], frames, sr, track.duck_depth)
    sampler = _Sampler()
    _mix_drums(track, score, sr, mix, send, sampler)
    _mix_bass(track, score["bass"], sr, mix, duck, sampler)
    _mix_pad(track, score["pad"], sr, mix, send, duck)
    _mix_melodic(track, score, sr, mix, send, sampler)
    del duck, sampler  # a few full-length buffers fewer at the reverb's peak
    ride = _fader_ride(track, frames, sr)
    mix *= ride[:, None]
    send *= ride
    del ride
    wet = _reverb(send, sr, track.reverb_rt60_s, (track.seed, 1))
    del send
    span = min(wet.shape[0], frames)
    mix[:span] += track.reverb_mix * wet[:span]
    return mix


class _Sampler:
    """Renders each distinct note once, as a sampler holds its samples.

    Voices are pure functions, so a repeated note (same pitch, length and
    settings, or the same round-robin noise seed) is the same array; only the
    velocity scaling differs. Scoped to one track so the memory goes with it.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple, np.ndarray] = {}

    def __call__(
        self, voice: Callable[..., np.ndarray], *args: object, **kwargs: object
    ) -> np.ndarray:
        key = (voice, args, tuple(sorted(kwargs.items())))
        if key not in self._cache:
            self._cache[key] = voice(*args, **kwargs)
            self._cache[key].flags.writeable = False
        return self._cache[key]


# Drum voices: (function, keyword arguments, round-robin size). A few noise
# variations per drum, cycled, is how a drum sampler avoids the machine gun.
_DRUM_VOICES = {
    "snare": (snare, {}, 4),
    "hat": (hihat, {"t60_s": 0.05}, 8),
    "open_hat": (hihat, {"t60_s": 0.35}, 4),
    "crash": (crash, {}, 2),
}


def _mix_drums(
    track: DemoTrack, score: _Score, sr: int, mix: np.ndarray, send: np.ndarray, sampler: _Sampler
) -> None:
    """Kit: kick, snare (+ clap) in the centre, hats either side, a stereo crash."""
    centre = np.zeros(mix.shape[0])
    kick_hit = _db(_PART_GAIN_DB["kick"]) * kick(
        sr,
        pitch_hz=track.kick_pitch_hz,
        t60_s=track.kick_t60_s,
        click=track.kick_click,
        drive=track.kick_drive,
    )
    for note in score["kick"]:
        _add(centre, note.start_s, sr, note.velocity * kick_hit)
    for part_index, (part, (voice, kwargs, variations)) in enumerate(_DRUM_VOICES.items()):
        for i, note in enumerate(score[part]):
            seed = (track.seed, 10 + part_index, i % variations)
            hit = sampler(voice, sr, seed, **kwargs) * (note.velocity * _db(_PART_GAIN_DB[part]))
            if part == "snare":
                _add(centre, note.start_s, sr, hit)
            else:
                _add(mix, note.start_s, sr, _pan(hit, _PAN.get(part, 0.0)))
            _add(send, note.start_s, sr, _REVERB_SEND[part] * _mono(hit))
            if part == "snare" and track.clap_level:
                layer = sampler(clap, sr, (track.seed, 20, i % 4))
                layer = layer * note.velocity * track.clap_level * _db(_PART_GAIN_DB["clap"])
                _add(centre, note.start_s, sr, layer)
                _add(send, note.start_s, sr, _REVERB_SEND["clap"] * layer)
    _mix_in(mix, centre)


def _mix_bass(
    track: DemoTrack,
    notes: list[_Note],
    sr: int,
    mix: np.ndarray,
    duck: np.ndarray,
    sampler: _Sampler,
) -> None:
    """Bass in the centre, ducked under the kick."""
    bus = np.zeros(mix.shape[0])
    for note in notes:
        tone = sampler(
            bass_note,
            sr,
            _midi_hz(note.midi),
            note.duration_s,
            cutoff_hz=track.bass_cutoff_hz,
            drive=track.bass_drive,
            release_s=note.release_s or 0.04,
        )
        _add(bus, note.start_s, sr, note.velocity * tone)
    bus *= duck * _db(_PART_GAIN_DB["bass"])
    _mix_in(mix, bus)


def _mix_pad(
    track: DemoTrack,
    notes: list[_Note],
    sr: int,
    mix: np.ndarray,
    send: np.ndarray,
    duck: np.ndarray,
) -> None:
    """Pad voices on a stereo bus, filtered, ducked, and sent to the reverb."""
    rng = _rng((track.seed, 2))
    bus = np.zeros_like(mix)
    for note in notes:
        voice = pad_note(
            sr,
            _midi_hz(note.midi),
            note.duration_s,
            attack_s=track.pad_attack_s,
            release_s=note.release_s or track.pad_release_s,
            detune_cents=track.pad_detune_cents,
            phases=(rng.random(), rng.random()),
        )
        _add(bus, note.start_s, sr, note.velocity * voice)
    # Warm (low-pass) and out of the bass's way (high-pass), as a mixer would.
    sos = np.vstack([_sos(sr, "lowpass", track.pad_cutoff_hz), _sos(sr, "highpass", 150.0)])
    gain = _db(_PART_GAIN_DB["pad"])
    for channel in (0, 1):  # one channel at a time: half the temporary memory
        filtered = _signal().sosfilt(sos, bus[:, channel])
        filtered *= duck
        mix[:, channel] += gain * filtered
        send += (0.5 * gain * _REVERB_SEND["pad"]) * filtered


def _mix_melodic(
    track: DemoTrack, score: _Score, sr: int, mix: np.ndarray, send: np.ndarray, sampler: _Sampler
) -> None:
    """Arpeggio and lead, each through a tempo-synced stereo echo."""
    echo_s = track.echo_steps * track.bar_s / STEPS_PER_BAR
    for part in ("arp", "lead"):
        notes = score[part]
        if not notes:
            continue
        bus = np.zeros(mix.shape[0])
        for note in notes:
            freq_hz = _midi_hz(note.midi)
            if part == "lead" and track.lead_voice == "saw":
                tone = sampler(lead_note, sr, freq_hz, note.duration_s)
            else:
                tone = sampler(
                    fm_note,
                    sr,
                    freq_hz,
                    ratio=track.arp_ratio,
                    index=track.arp_index,
                    t60_s=track.arp_t60_s * (1.5 if part == "lead" else 1.0),
                )
            _add(bus, note.start_s, sr, note.velocity * tone)
        if part == "lead":
            bus = _signal().sosfilt(_sos(sr, "lowpass", 6000.0), bus)
        bus *= _db(_PART_GAIN_DB[part])
        pan = _PAN.get(f"{part}_dry", 0.0)
        _mix_in(mix, bus, pan)
        if track.echo_steps:
            _mix_echoes(mix, bus, round(echo_s * sr))
        send += _REVERB_SEND[part] * bus


def _master_bus(track: DemoTrack, mix: np.ndarray, sr: int) -> np.ndarray:
    """Set the mix to its loudness under the peak ceiling, fade the ends, round to 24 bit."""
    from masterbuild.dsp.loudness import measure  # scipy: imported on first use

    mix *= _db(track.target_lufs - measure(mix, sr).integrated_lufs)
    if track.rumble_dbfs is not None:
        rumble = _rumble(mix.shape[0], sr, track.rumble_dbfs, (track.seed, 3))
        # Present while the band plays (stage, handling), gone with the last chord.
        t_s, end_s = np.arange(mix.shape[0]) / sr, track.arrangement_s
        ride = np.interp(t_s, [0.0, 1.0, end_s, end_s + 2.0], [0.0, 1.0, 1.0, 0.0])
        rumble *= ride[:, None]
        mix += rumble
    peak = np.max(np.abs(mix))
    ceiling = _db(_PEAK_CEILING_DBFS)
    if peak > ceiling:
        mix *= ceiling / peak
    # The music has decayed by the end; a short fade makes the last sample zero.
    fade_in = min(round(0.01 * sr), mix.shape[0])
    fade_out = min(round(0.5 * sr), mix.shape[0])
    mix[:fade_in] *= _raised_cosine(fade_in)[:, None]
    mix[mix.shape[0] - fade_out :] *= _raised_cosine(fade_out)[::-1, None]
    mix *= _PCM24_SCALE  # round onto the 24-bit grid, in place
    np.round(mix, out=mix)
    mix /= _PCM24_SCALE
    return mix


def _fader_ride(track: DemoTrack, frames: int, sr: int) -> np.ndarray:
    """Mix gain per frame from the sections' ramps, with 50 ms moves between them."""
    times_s, gains = [], []
    start_s = 0.0
    for section in track.sections:
        end_s = start_s + section.bars * track.bar_s
        times_s += [start_s + 0.05 * (start_s > 0), end_s]
        gains += list(section.ramp)
        start_s = end_s
    return np.interp(np.arange(frames) / sr, times_s, gains)


def _duck_envelope(kicks: list[_Note], frames: int, sr: int, depth: float) -> np.ndarray:
    """Side-chain gain: dips under every kick and recovers (the "pump")."""
    envelope = np.ones(frames)
    if depth <= 0:
        return envelope
    t = _time_s(0.4, sr)
    dip = depth * np.minimum(t / 0.004, 1.0) * np.exp(-t / 0.11)
    for note in kicks:
        start = round(note.start_s * sr)
        span = envelope[start : start + t.size]
        np.minimum(span, 1.0 - note.velocity * dip[: span.size], out=span)
    return envelope


def _reverb(send: np.ndarray, sr: int, rt60_s: float, seed: _SeedLike) -> np.ndarray:
    """Stereo convolution reverb: decaying noise, darker and thinner than the dry sound.

    The tail is band-limited to 200 Hz..6 kHz, so it is convolved at a third of
    the rate (or less) and resampled back: a third of the FFT work, same sound.
    Returns ``(frames, 2)`` with ``frames`` within a few of ``send.size``.
    """
    factor = max(1, sr // 16000)
    low_sr = sr / factor
    t = _time_s(rt60_s, low_sr)
    ir = _noise(seed, (t.size, 2)) * _decay(t, rt60_s)[:, None]
    ir = _signal().sosfilt(_sos(low_sr, "bandpass", (200.0, 6000.0)), ir, axis=0)
    ir = np.concatenate([np.zeros((round(0.02 * low_sr), 2)), ir])  # 20 ms pre-delay
    ir /= np.sqrt(np.sum(ir**2, axis=0))  # unit energy per channel
    low = _signal().resample_poly(send, 1, factor) if factor > 1 else send
    n_fft = _fft().next_fast_len(low.size + ir.shape[0] - 1, real=True)
    spectrum = _fft().rfft(low, n_fft)[:, None] * _fft().rfft(ir, n_fft, axis=0)
    wet = _fft().irfft(spectrum, n_fft, axis=0)[: low.size]
    if factor > 1:
        wet = _signal().resample_poly(wet, factor, 1, axis=0)
    return wet


def _mix_echoes(mix: np.ndarray, mono: np.ndarray, delay_frames: int) -> None:
    """Add ping-pong echoes of ``mono`` into ``mix``: left, right, left..., each quieter."""
    for tap in range(1, 5):
        shift = tap * delay_frames
        if shift >= mono.size:
            break
        mix[shift:, (tap - 1) % 2] += 0.4**tap * mono[:-shift]


def _rumble(frames: int, sr: int, level_dbfs: float, seed: _SeedLike) -> np.ndarray:
    """Sub-25 Hz rumble (HVAC, handling, a sea swell), almost mono, at an RMS level."""
    # Filtered at a 1 kHz control rate and interpolated: a 22 Hz band needs no more.
    control_hz = 1000
    control_frames = int(frames * control_hz / sr) + 2
    mid, side = _noise(seed, (2, control_frames))
    noise = np.stack([mid + 0.25 * side, mid - 0.25 * side], axis=1)
    slow = _signal().sosfilt(_sos(control_hz, "bandpass", (5.0, 22.0), order=3), noise, axis=0)
    slow *= _db(level_dbfs) / np.sqrt(np.mean(slow**2))  # interpolation keeps the RMS
    t_control = np.arange(control_frames) / control_hz
    t_s = np.arange(frames) / sr
    rumble = np.empty((frames, 2))
    for channel in (0, 1):
        rumble[:, channel] = np.interp(t_s, t_control, slow[:, channel])
    return rumble


# ----------------------------------------------------------------------------- helpers


def _rng(seed: _SeedLike) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def _noise(seed: _SeedLike, shape: int | tuple[int, ...]) -> np.ndarray:
    """White noise, uniform in [-1, 1): plain arithmetic on PCG64 output, no libm."""
    return 2.0 * _rng(seed).random(shape) - 1.0


def _time_s(length_s: float, sr: float) -> np.ndarray:
    return np.arange(max(round(length_s * sr), 1)) / sr


def _decay(t_s: np.ndarray, t60_s: float) -> np.ndarray:
    return np.exp(-_LN_1000 * t_s / t60_s)


def _wrap(phase_cycles: np.ndarray) -> np.ndarray:
    """Phase reduced to [0, 1) cycles, so sin() sees small arguments."""
    return phase_cycles - np.floor(phase_cycles)


def _sine_table(size: int) -> tuple[np.ndarray, np.ndarray]:
    # Python's math.sin (libm), not numpy's CPU-dispatched SIMD sin: same table everywhere.
    table = np.array([math.sin(2 * math.pi * i / size) for i in range(size + 1)])
    slope = np.append(np.diff(table), 0.0)  # extra entry: a wrapped phase of exactly 1.0
    return table, slope


_SINE_SIZE = 4096
_SINE, _SINE_SLOPE = _sine_table(_SINE_SIZE)


def _sin_cycles(phase_cycles: np.ndarray) -> np.ndarray:
    """sin(2 pi phase) by linear interpolation in a 4096-point table.

    Error below 3e-7 (-130 dB), three times faster than ``np.sin`` in float64,
    and plain IEEE arithmetic, so it gives the same bits on every CPU.
    """
    position = _wrap(phase_cycles) * _SINE_SIZE
    index = position.astype(np.intp)
    position -= index
    return _SINE[index] + position * _SINE_SLOPE[index]


def _saw(phase_cycles: np.ndarray, dt: float) -> np.ndarray:
    """Band-limited sawtooth (PolyBLEP) from a phase in cycles, dt = f / sr."""
    t = _wrap(phase_cycles)
    y = 2.0 * t - 1.0
    # Replace the naive jump with a two-sample polynomial step: aliasing drops ~30 dB.
    head = t < dt
    x = t[head] / dt
    y[head] -= x + x - x * x - 1.0
    tail = t > 1.0 - dt
    x = (t[tail] - 1.0) / dt
    y[tail] -= x * x + x + x + 1.0
    return y


def _gate(
    t_s: np.ndarray, sr: int, duration_s: float, attack_s: float, release_s: float
) -> np.ndarray:
    """Amplitude envelope: raised-cosine attack, sustain, exponential (T60) release.

    ``t_s`` is ``arange(frames) / sr``; only the attack and release segments are
    computed (the sustain is 1), which keeps long pad notes cheap.
    """
    envelope = np.ones_like(t_s)
    attack = min(round(min(attack_s, duration_s) * sr), t_s.size)
    envelope[:attack] = 0.5 - 0.5 * np.cos(np.pi * t_s[:attack] / attack_s)
    gate_off = min(round(duration_s * sr), t_s.size)
    if attack_s > duration_s:  # released before full level: decay from where it got to
        envelope[gate_off:] = 0.5 - 0.5 * np.cos(np.pi * duration_s / attack_s)
    envelope[gate_off:] *= _decay(t_s[gate_off:] - duration_s, release_s)
    return envelope


def _raised_cosine(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / max(n, 1))


def _peak_normalise(x: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(x))
    return x / peak if peak > 0 else x


def _db(gain_db: float) -> float:
    return float(10.0 ** (gain_db / 20.0))


def _midi_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _pan(mono: np.ndarray, pan: float = 0.0) -> np.ndarray:
    """Equal-power pan of a mono signal (stereo input passes through)."""
    if mono.ndim == 2:
        return mono
    angle = (pan + 1.0) * np.pi / 4.0
    return mono[:, None] * np.array([np.cos(angle), np.sin(angle)])


def _mix_in(mix: np.ndarray, mono: np.ndarray, pan: float = 0.0) -> None:
    """Add a full-length mono bus into the stereo ``mix``, equal-power panned, in place."""
    angle = (pan + 1.0) * np.pi / 4.0
    mix[:, 0] += math.cos(angle) * mono
    mix[:, 1] += math.sin(angle) * mono


def _mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1) if x.ndim == 2 else x


def _add(buffer: np.ndarray, start_s: float, sr: int, signal: np.ndarray) -> None:
    """Add ``signal`` into ``buffer`` from ``start_s``, cut at the buffer's end."""
    start = round(start_s * sr)
    span = min(signal.shape[0], buffer.shape[0] - start)
    if span > 0:
        buffer[start : start + span] += signal[:span]


@lru_cache(maxsize=64)
def _sos(
    sr: float, kind: str, cutoff_hz: float | tuple[float, float], order: int = 2
) -> np.ndarray:
    """Butterworth sections, cached; cutoffs kept below Nyquist at low sample rates.

    The arrays are shared: callers must not modify them (they cannot be made
    read-only, scipy's ``sosfilt`` refuses those).
    """
    nyquist_safe = 0.45 * sr
    if isinstance(cutoff_hz, tuple):
        cutoff_hz = (cutoff_hz[0], min(cutoff_hz[1], nyquist_safe))
    else:
        cutoff_hz = min(cutoff_hz, nyquist_safe)
    return _signal().butter(order, cutoff_hz, btype=kind, fs=sr, output="sos")
