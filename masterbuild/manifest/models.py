"""Pydantic models of the album manifest, schema 1 (DESIGN.md section 1.2).

The models only describe and validate what the user wrote; they know nothing of files
on disk, doit or DSP. Every model forbids unknown keys so typos never pass silently.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from masterbuild.manifest.identifiers import normalize_barcode, normalize_isrc

SCHEMA_VERSION = 1


class Strict(BaseModel):
    # allow_inf_nan=False: TOML spells `inf` and `nan`; no time, level or frequency is
    # infinite, and an unbounded key (fade.in_s, index_s) would pass them to the DSP.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --- processing stages -------------------------------------------------------------


class GainStage(Strict):
    """Static gain."""

    kind: Literal["gain"]
    gain_db: float = Field(ge=-120, le=60)


class DcStage(Strict):
    """DC removal: a 2nd-order Butterworth highpass at `freq_hz` (default 5 Hz)."""

    kind: Literal["dc"]
    freq_hz: float = Field(default=5.0, gt=0, le=20)


class HighpassStage(Strict):
    """Butterworth highpass; `slope_db_oct` is 6 x the filter order."""

    kind: Literal["highpass"]
    freq_hz: float = Field(gt=0)
    slope_db_oct: Literal[6, 12, 18, 24, 36, 48] = 12


class LowpassStage(Strict):
    """Butterworth lowpass; `slope_db_oct` is 6 x the filter order."""

    kind: Literal["lowpass"]
    freq_hz: float = Field(gt=0)
    slope_db_oct: Literal[6, 12, 18, 24, 36, 48] = 12


class EqBand(Strict):
    """One RBJ-cookbook biquad band."""

    type: Literal["bell", "lowshelf", "highshelf", "highpass", "lowpass", "notch"]
    freq_hz: float = Field(gt=0)
    gain_db: float = Field(default=0.0, ge=-30, le=30)
    q: float = Field(default=0.7071, gt=0, le=100)


class EqStage(Strict):
    """Parametric EQ; `mode = "ms"` applies `bands` to mid and `side_bands` to side."""

    kind: Literal["eq"]
    bands: list[EqBand] = Field(min_length=1)
    mode: Literal["stereo", "ms"] = "stereo"
    side_bands: list[EqBand] = Field(default_factory=list)

    @model_validator(mode="after")
    def _side_bands_need_ms(self) -> EqStage:
        if self.side_bands and self.mode != "ms":
            raise ValueError('side_bands apply only with mode = "ms"')
        return self


class WidthStage(Strict):
    """Stereo width by mid/side: side gain = `width` (1 = unchanged, 0 = mono)."""

    kind: Literal["width"]
    width: float = Field(ge=0, le=4)


class CompressorStage(Strict):
    """Feed-forward compressor: static curve with a soft knee, peak detector with
    exponential attack/release, stereo link, optional sidechain highpass."""

    kind: Literal["compressor"]
    threshold_db: float = Field(ge=-80, le=0)
    ratio: float = Field(ge=1, le=100)
    knee_db: float = Field(default=0.0, ge=0, le=24)
    attack_ms: float = Field(default=10.0, gt=0, le=500)
    release_ms: float = Field(default=150.0, gt=0, le=5000)
    makeup_db: float = Field(default=0.0, ge=-24, le=24)
    link: float = Field(default=1.0, ge=0, le=1)
    sidechain_hpf_hz: float | None = Field(default=None, gt=0, le=1000)


class LimiterStage(Strict):
    """Lookahead true-peak limiter: no true peak above `ceiling_dbtp`."""

    kind: Literal["limiter"]
    ceiling_dbtp: float = Field(default=-1.0, ge=-20, le=0)
    lookahead_ms: float = Field(default=2.0, ge=0.5, le=20)
    release_ms: float = Field(default=80.0, ge=1, le=2000)


STAGE_MODELS = (
    GainStage,
    DcStage,
    HighpassStage,
    LowpassStage,
    EqStage,
    WidthStage,
    CompressorStage,
    LimiterStage,
)
STAGE_KINDS = frozenset(m.model_fields["kind"].annotation.__args__[0] for m in STAGE_MODELS)
Stage = Annotated[
    GainStage
    | DcStage
    | HighpassStage
    | LowpassStage
    | EqStage
    | WidthStage
    | CompressorStage
    | LimiterStage,
    Field(discriminator="kind"),
]


# --- album, master defaults, tracks --------------------------------------------------


_DATE = re.compile(r"^\d{4}(-\d{2}-\d{2})?$")


def _path_text(value: str | None) -> str | None:
    """A relative path as written; control characters (NUL above all) name no file."""
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r} holds a control character: no file name can")
    return value


_TRACK_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class Album(Strict):
    title: str = Field(min_length=1)
    artist: str = Field(min_length=1)
    date: str | None = None
    genre: str | None = None
    label: str | None = None
    catalog: str | None = None
    upc: str | None = None
    copyright: str | None = None
    cover: str | None = None
    disc_number: int = Field(default=1, ge=1)
    disc_total: int = Field(default=1, ge=1)

    @field_validator("date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None and not _DATE.match(value):
            raise ValueError(f"{value!r} is not a date: write YYYY or YYYY-MM-DD")
        return value

    @field_validator("upc")
    @classmethod
    def _upc(cls, value: str | None) -> str | None:
        return None if value is None else normalize_barcode(value)

    _cover = field_validator("cover")(_path_text)


class Master(Strict):
    chain: list[Stage] = Field(default_factory=list)
    gap_s: float = Field(default=2.0, ge=0, le=60)


class Trim(Strict):
    """Seconds removed from the head (`start_s`) and from the tail (`end_s`) of the source.

    With `auto_threshold_db` set, head and tail silence is found first: everything
    before the first and after the last sample whose level reaches the threshold (dBFS
    sample peak) is removed, keeping `auto_pad_s` of it on each side; `start_s` and
    `end_s` then trim further from those points.
    """

    start_s: float = Field(default=0.0, ge=0)
    end_s: float = Field(default=0.0, ge=0)
    auto_threshold_db: float | None = Field(default=None, ge=-120, le=-20)
    auto_pad_s: float = Field(default=0.0, ge=0, le=5)


class Fade(Strict):
    """Fade-in and fade-out lengths in seconds, after trimming."""

    in_s: float = Field(default=0.0, ge=0)
    out_s: float = Field(default=0.0, ge=0)
    shape: Literal["linear", "log", "cosine", "scurve"] = "cosine"


class Track(Strict):
    id: str
    source: str = Field(min_length=1)
    title: str = Field(min_length=1)
    artist: str | None = None
    composer: str | None = None
    isrc: str | None = None
    gain_db: float = Field(default=0.0, ge=-60, le=40)
    trim: Trim = Trim()
    fade: Fade = Fade()
    gap_s: float | None = Field(default=None, ge=0, le=60)
    crossfade_s: float = Field(default=0.0, ge=0, le=30)  # CD: overlap with the previous track
    boundary_s: float | None = Field(default=None, ge=0, le=30)  # CD: INDEX 01 into the overlap
    index_s: list[float] = Field(default_factory=list)  # CD: INDEX 02.. from the track start
    hidden: bool = False  # CD: first track only, its audio hides in track 1's INDEX 00
    chain: list[Stage] | None = None

    @model_validator(mode="after")
    def _cd_timing(self) -> Track:
        if self.boundary_s is not None and self.boundary_s > self.crossfade_s:
            raise ValueError("boundary_s must lie inside the crossfade (0..crossfade_s)")
        if any(s <= 0 for s in self.index_s) or self.index_s != sorted(set(self.index_s)):
            raise ValueError("index_s must be ascending times in seconds after the track start")
        return self

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _TRACK_ID.match(value):
            raise ValueError(
                f"{value!r} is not a track id: use lower-case letters, digits and hyphens "
                "(e.g. 'night-drive')"
            )
        return value

    @field_validator("isrc")
    @classmethod
    def _isrc(cls, value: str | None) -> str | None:
        return None if value is None else normalize_isrc(value)

    _source = field_validator("source")(_path_text)


# --- formats --------------------------------------------------------------------------

Codec = Literal["wav", "flac", "mp3", "ogg", "opus", "aiff"]
PCM_CODECS = ("wav", "flac", "aiff")
LOSSY_CODECS = ("mp3", "ogg", "opus")
MP3_SAMPLE_RATES_HZ = (32000, 44100, 48000)
MP3_CBR_KBPS = (96, 112, 128, 160, 192, 224, 256, 320)
OPUS_SAMPLE_RATES_HZ = (8000, 12000, 16000, 24000, 48000)
BIT_DEPTHS = {"wav": (16, 24, 32), "aiff": (16, 24, 32), "flac": (16, 24)}
SHAPED_DITHER_RATES_HZ = (44100, 48000)


class Loudness(Strict):
    """Loudness management; `peak_safe` never raises a master beyond what leaves its
    true peak under the ceiling (the Spotify rule), so the limiter need not work."""

    mode: Literal["album", "track", "none"] = "none"
    target_lufs: float | None = Field(default=None, ge=-50, le=0)
    peak_safe: bool = False

    @model_validator(mode="after")
    def _target(self) -> Loudness:
        if self.mode != "none" and self.target_lufs is None:
            raise ValueError(f'loudness mode "{self.mode}" needs target_lufs, e.g. -14.0')
        return self


def _load_presets() -> dict[str, dict[str, Any]]:
    import tomllib
    from importlib import resources

    text = resources.files("masterbuild.manifest").joinpath("presets.toml").read_text("utf-8")
    return tomllib.loads(text)


PRESETS: dict[str, dict[str, Any]] = _load_presets()


def _load_profiles() -> dict[str, dict[str, Any]]:
    import tomllib
    from importlib import resources

    text = resources.files("masterbuild.manifest").joinpath("profiles.toml").read_text("utf-8")
    return tomllib.loads(text)


PROFILES: dict[str, dict[str, Any]] = _load_profiles()


class Format(Strict):
    preset: str | None = None  # a name from `masterbuild presets`; other keys override it
    codec: Codec
    sample_rate: int = Field(default=44100, ge=8000, le=384000)
    bit_depth: Literal[16, 24, 32] | None = None
    dither: Literal["none", "tpdf", "shaped"] | None = None
    loudness: Loudness = Loudness()
    true_peak_ceiling_db: float = Field(default=-1.0, ge=-20, le=0)
    limiter: bool = True  # true-peak lookahead limiter at the ceiling, last before dither
    name: str = "{n:02d} {title}"
    cue: bool = False
    ddp: bool = False
    bitrate_kbps: int | None = None
    quality: str | None = None
    profiles: list[str] = []  # delivery profiles the QC report checks (masterbuild presets)
    # Vinyl: one file per side ("Side A.wav", ...), track ids in playing order per side;
    # [] with `disc_in` set splits the running order into two sides of near-equal length.
    sides: list[list[str]] | None = None
    disc_in: Literal[7, 10, 12] | None = None  # record diameter, inches (vinyl)
    rpm: Literal[33, 45] = 33  # 33 means 33 1/3

    @field_validator("profiles")
    @classmethod
    def _known_profiles(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in PROFILES:
                raise ValueError(f"unknown profile {name!r}: one of " + ", ".join(PROFILES))
        return value

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("preset") is None:
            return data
        name = data["preset"]
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}: one of " + ", ".join(PRESETS))
        base = {k: v for k, v in PRESETS[name].items() if k != "description"}
        return {**base, **data}

    @model_validator(mode="after")
    def _codec_can_carry(self) -> Format:
        codec = self.codec
        if codec in PCM_CODECS:
            if self.bitrate_kbps is not None or self.quality is not None:
                raise ValueError(f"{codec} is lossless: remove bitrate_kbps/quality")
            if self.bit_depth is not None and self.bit_depth not in BIT_DEPTHS[codec]:
                allowed = ", ".join(map(str, BIT_DEPTHS[codec]))
                raise ValueError(f"{codec} cannot carry {self.bit_depth}-bit: use {allowed}")
            if self.bit_depth == 32 and self.dither not in (None, "none"):
                raise ValueError("32-bit float needs no dither: remove dither or set 'none'")
            if self.dither == "shaped" and self.sample_rate not in SHAPED_DITHER_RATES_HZ:
                raise ValueError(
                    f"noise-shaped dither has published filters for 44100 and 48000 Hz only, "
                    f'not {self.sample_rate} Hz: use dither = "tpdf"'
                )
        else:
            if self.bit_depth is not None:
                raise ValueError(
                    f"{codec} is a lossy codec with no bit depth: remove bit_depth "
                    f"({self.bit_depth}-bit {codec.upper()} does not exist)"
                )
            if self.dither not in (None, "none"):
                fed = "16-bit TPDF-dithered audio" if codec == "mp3" else "float"
                raise ValueError(f"{codec} is encoded from {fed}: remove dither")
        if codec == "mp3":
            self._check_mp3()
        elif codec == "opus":
            self._check_opus()
        elif codec == "ogg":
            self._check_ogg()
        if self.sides is not None or self.disc_in is not None:
            self._check_vinyl()
        if (self.cue or self.ddp) and (
            codec != "wav" or self.sample_rate != 44100 or self.bit_depth != 16
        ):
            raise ValueError(
                'a CD format (cue/ddp) must be Red Book audio: codec = "wav", '
                "sample_rate = 44100, bit_depth = 16"
            )
        return self

    def _check_mp3(self) -> None:
        if self.sample_rate not in MP3_SAMPLE_RATES_HZ:
            raise ValueError(
                f"MP3 at {self.sample_rate} Hz is not a release format: use 44100, 48000 or 32000"
            )
        if self.bitrate_kbps is not None and self.quality is not None:
            raise ValueError("give either bitrate_kbps (CBR) or quality (VBR, 'V0'..'V9')")
        if self.bitrate_kbps is not None and self.bitrate_kbps not in MP3_CBR_KBPS:
            raise ValueError(
                f"{self.bitrate_kbps} kbps is not an MP3 CBR rate here: use one of "
                + ", ".join(map(str, MP3_CBR_KBPS))
            )
        if self.quality is not None and not re.fullmatch(r"V[0-9]", self.quality):
            raise ValueError(f"MP3 quality {self.quality!r} is not a LAME VBR preset 'V0'..'V9'")

    def _check_vinyl(self) -> None:
        if self.codec not in PCM_CODECS:
            raise ValueError(
                f"vinyl sides are cut from PCM: use wav, flac or aiff, not {self.codec}"
            )
        if self.cue or self.ddp:
            raise ValueError("a format is either a CD (cue/ddp) or vinyl sides, not both")
        if self.disc_in is None:
            raise ValueError("vinyl sides need the record size: disc_in = 12 (or 10, 7)")
        for n, side in enumerate(self.sides or []):
            if not side:
                raise ValueError(f"side {chr(65 + n)} (sides[{n}]) has no tracks")
        if self.sides is not None and len(self.sides) > 26:
            raise ValueError("more than 26 sides: split the album into several formats")

    def _check_opus(self) -> None:
        if self.sample_rate not in OPUS_SAMPLE_RATES_HZ:
            raise ValueError(
                f"Opus cannot run at {self.sample_rate} Hz: use 48000 "
                "(or 24000, 16000, 12000, 8000)"
            )
        if self.quality is not None:
            raise ValueError("Opus takes bitrate_kbps, not quality")
        if self.bitrate_kbps is not None and not 12 <= self.bitrate_kbps <= 512:
            raise ValueError(f"Opus bitrate {self.bitrate_kbps} kbps is outside 12..512")

    def _check_ogg(self) -> None:
        if self.bitrate_kbps is not None:
            raise ValueError("Ogg Vorbis takes quality ('0'..'10'), not bitrate_kbps")
        if self.quality is not None:
            try:
                q = float(self.quality)
            except ValueError:
                q = -1.0
            if not 0.0 <= q <= 10.0:
                raise ValueError(f"Ogg Vorbis quality {self.quality!r} must be '0'..'10'")

    @property
    def is_vinyl(self) -> bool:
        """Delivered as one file per record side."""
        return self.disc_in is not None

    @property
    def is_cd(self) -> bool:
        """Rendered as one continuous programme (cue image and/or DDP)."""
        return self.cue or self.ddp

    @property
    def pcm_bit_depth(self) -> int | None:
        """Word length of a PCM master (default 24), None for lossy codecs."""
        if self.codec not in PCM_CODECS:
            return None
        return self.bit_depth or 24

    @property
    def effective_dither(self) -> str:
        """Dither applied on the word-length reduction: TPDF unless told otherwise."""
        if self.codec == "mp3":
            return "tpdf"  # LAME is fed 16-bit audio (masterbuild.mp3)
        depth = self.pcm_bit_depth
        if depth is None or depth == 32:
            return "none"
        return self.dither or "tpdf"


# --- the manifest ---------------------------------------------------------------------

_FORMAT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class Manifest(Strict):
    """An album manifest, schema 1."""

    schema_: Literal[1] = Field(alias="schema")
    album: Album
    master: Master = Master()
    tracks: list[Track] = Field(min_length=1)
    formats: dict[str, Format] = Field(min_length=1)

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True
    )

    @field_validator("formats")
    @classmethod
    def _format_names(cls, value: dict[str, Format]) -> dict[str, Format]:
        for name in value:
            if not _FORMAT_NAME.match(name):
                raise ValueError(
                    f"format name {name!r} must be letters, digits, '-' or '_' "
                    "(it names a folder in masters/)"
                )
        return value
