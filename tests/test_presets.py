"""Delivery presets: data a format names, with single keys overridden."""

from __future__ import annotations

import subprocess
import sys

import pytest

from masterbuild.cli import main
from masterbuild.manifest.models import PRESETS, Format
from tests.albums import make_album, manifest, run


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_format(name):
    fmt = Format.model_validate({"preset": name})
    for key, value in PRESETS[name].items():
        if key != "description":
            got = getattr(fmt, key)
            assert (got.model_dump() if hasattr(got, "model_dump") else got) == (
                {**{"peak_safe": False}, **value} if key == "loudness" else value
            )


def test_keys_override_the_preset():
    fmt = Format.model_validate(
        {
            "preset": "streaming",
            "loudness": {"mode": "track", "target_lufs": -16.0},
            "sample_rate": 44100,
        }
    )
    assert (fmt.codec, fmt.bit_depth, fmt.sample_rate) == ("flac", 24, 44100)
    assert fmt.loudness.target_lufs == -16.0 and fmt.true_peak_ceiling_db == -1.0


def test_unknown_preset_is_a_clear_error(tmp_path, capsys):
    m = manifest(1, formats={"spotify": {"preset": "spotfy"}})
    album = make_album(tmp_path, m)
    assert main(["validate", str(album)]) == 1
    err = capsys.readouterr().err
    assert "formats.spotify: unknown preset 'spotfy': one of cd, hires, streaming" in err


def test_preset_overrides_are_validated_like_any_format(tmp_path, capsys):
    m = manifest(1, formats={"mp3": {"preset": "mp3-320", "bit_depth": 24}})
    album = make_album(tmp_path, m)
    assert main(["validate", str(album)]) == 1
    assert "24-bit MP3" in capsys.readouterr().err


def test_a_build_with_presets(tmp_path):
    m = manifest(1, formats={"apple": {"preset": "apple"}, "mp3": {"preset": "mp3-v0"}})
    album = make_album(tmp_path, m, seconds=3.0)
    run(album)
    assert (album / "masters/apple/01 Track 1.wav").is_file()
    assert (album / "masters/mp3/01 Track 1.mp3").is_file()


def test_presets_command_lists_them_all():
    out = subprocess.run(
        [sys.executable, "-m", "masterbuild", "presets"], capture_output=True, text=True, check=True
    )
    for name in PRESETS:
        assert out.stdout.count(f"\n{name}: ") + out.stdout.startswith(f"{name}: ") == 1


def test_presets_command_lists_the_profiles_too():
    from masterbuild.manifest.models import PROFILES

    out = subprocess.run(
        [sys.executable, "-m", "masterbuild", "presets"], capture_output=True, text=True, check=True
    )
    for name in PROFILES:
        assert f"\nprofile {name}: " in out.stdout


def test_unknown_profile_is_a_clear_error(tmp_path, capsys):
    m = manifest(1, formats={"s": {"preset": "streaming", "profiles": ["spotify"]}})
    album = make_album(tmp_path, m)
    assert main(["validate", str(album)]) == 1
    err = capsys.readouterr().err
    assert (
        "formats.s.profiles: unknown profile 'spotify': one of cd, streaming, apple, vinyl" in err
    )
