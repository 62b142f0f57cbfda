"""Small synthetic albums for tests: short sources written in code, manifests as dicts."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from masterbuild.tasks import BuildOutcome, build

SR = 44100


def tone_mix(
    seconds: float, freq_hz: float, level_db: float, seed: int, sr: int = SR
) -> np.ndarray:
    """A stereo 'mix': a tone with an envelope plus a little noise, deterministic."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t) ** 2
    left = np.sin(2 * np.pi * freq_hz * t) * env + 0.05 * rng.standard_normal(t.size)
    right = np.sin(2 * np.pi * freq_hz * 1.01 * t + 0.3) * env + 0.05 * rng.standard_normal(t.size)
    x = np.stack([left, right], axis=1)
    return x / np.abs(x).max() * 10 ** (level_db / 20)


def write_mix(path: Path, x: np.ndarray, sr: int = SR, subtype: str = "PCM_24") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype=subtype)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(i) for i in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(i)}" for k, i in v.items()) + " }"
    raise TypeError(v)


def to_toml(m: dict[str, Any]) -> str:
    """Enough TOML for manifests: top-level scalars, tables, arrays of tables, format tables."""
    out = [
        f"{k} = {_toml_value(v)}"
        for k, v in m.items()
        if not isinstance(v, (dict, list)) or v == []
    ]
    for key in ("album", "master"):
        if key in m:
            out.append(f"\n[{key}]")
            out += [f"{k} = {_toml_value(v)}" for k, v in m[key].items()]
    for t in m.get("tracks", []):
        out.append("\n[[tracks]]")
        out += [f"{k} = {_toml_value(v)}" for k, v in t.items()]
    for name, f in m.get("formats", {}).items():
        out.append(f"\n[formats.{name}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in f.items()]
    for k, v in m.items():
        if isinstance(v, dict) and k not in ("album", "master", "formats"):
            out.append(f"\n[{k}]")
            out += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(out) + "\n"


DEFAULT_FORMATS: dict[str, dict[str, Any]] = {
    "cd": {
        "codec": "wav",
        "sample_rate": 44100,
        "bit_depth": 16,
        "dither": "tpdf",
        "loudness": {"mode": "album", "target_lufs": -16.0},
        "true_peak_ceiling_db": -0.3,
    },
    "hires": {
        "codec": "flac",
        "sample_rate": 48000,
        "bit_depth": 24,
        "loudness": {"mode": "track", "target_lufs": -16.0},
        "true_peak_ceiling_db": -1.0,
    },
    "mp3": {
        "codec": "mp3",
        "sample_rate": 44100,
        "bitrate_kbps": 192,
        "loudness": {"mode": "track", "target_lufs": -16.0},
        "true_peak_ceiling_db": -1.0,
    },
}


def manifest(n_tracks: int = 3, formats: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "schema": 1,
        "album": {
            "title": "Test Album",
            "artist": "Test Artist",
            "date": "2026",
            "genre": "Test",
            "upc": "036000241457",
        },
        "master": {"chain": [{"kind": "highpass", "freq_hz": 30}]},
        "tracks": [
            {
                "id": f"t{i}",
                "source": f"mixes/t{i}.wav",
                "title": f"Track {i}",
                "isrc": f"USABC26{i:05d}",
            }
            for i in range(1, n_tracks + 1)
        ],
        "formats": formats if formats is not None else json.loads(json.dumps(DEFAULT_FORMATS)),
    }


def make_album(root: Path, m: dict[str, Any] | None = None, seconds: float = 2.5) -> Path:
    """Write an album folder (sources + album.toml) under `root` and return it."""
    m = m or manifest()
    album = root / "album"
    for i, t in enumerate(m["tracks"]):
        src = album / t["source"]
        if not src.exists():
            write_mix(src, tone_mix(seconds, 220 * (i + 1), -6 - 2 * i, seed=i))
    write_manifest(album, m)
    return album


def write_manifest(album: Path, m: dict[str, Any]) -> None:
    album.mkdir(parents=True, exist_ok=True)
    (album / "album.toml").write_text(to_toml(m), encoding="utf-8")


def run(album: Path, **kwargs: Any) -> BuildOutcome:
    outcome = build([album], out=io.StringIO(), **kwargs)
    assert outcome.status == 0, outcome.failures
    return outcome


def kinds(names: list[str]) -> set[str]:
    return {n.split(":")[0] for n in names}


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """{relative path: (mtime_ns, bytes)} of every file under `folder`."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
