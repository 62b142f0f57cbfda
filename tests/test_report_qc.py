"""The QC report on a real build: figures measured on the delivered files, compliance
per format and profile, pictures, and the page in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from masterbuild.compliance import PROFILE_CHECKS, format_compliance, verdict
from masterbuild.manifest.models import PROFILES
from tests.albums import SR, make_album, manifest, run, write_mix
from tests.browser import chromium_available, dump_dom, screenshot

SECONDS = 5.0


def _sources(album: Path) -> None:
    n = int(SECONDS * SR)
    t = np.arange(n) / SR
    rng = np.random.default_rng(7)
    # t1: 1.0 s of digital silence, music, 0.5 s of silence; low end in mono.
    mono = 0.3 * np.sin(2 * np.pi * 80 * t) + 0.05 * rng.standard_normal(n)
    x1 = np.stack([mono, mono], axis=1)
    x1[:SR] = 0.0
    x1[n - SR // 2 :] = 0.0
    # t2: a constant DC offset of -40 dBFS under a tone.
    tone = 0.25 * np.sin(2 * np.pi * 440 * t)
    x2 = np.stack([tone, tone], axis=1) + 0.01
    # t3: a full-scale square wave (every half period is a clipped run); wide low end.
    sq = np.sign(np.sin(2 * np.pi * 100 * t))
    x3 = np.stack([sq, -sq], axis=1)
    # t4: dense full-band noise: at -6 LUFS limited to 0 dBTP, its AAC goes over.
    x4 = 0.5 * rng.standard_normal((n, 2))
    for name, x in (("t1", x1), ("t2", x2), ("t3", x3), ("t4", x4)):
        write_mix(album / "mixes" / f"{name}.wav", x, subtype="FLOAT")


FORMATS = {
    "cd": {"preset": "cd"},
    "stream": {"preset": "streaming"},
    "applehot": {
        "preset": "apple",
        "loudness": {"mode": "track", "target_lufs": -6.0},
        "true_peak_ceiling_db": 0.0,
    },
    "raw": {
        "codec": "wav",
        "sample_rate": 44100,
        "bit_depth": 24,
        "limiter": False,
        "profiles": ["vinyl"],
    },
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("qc")
    m = manifest(4, formats=FORMATS)
    m["master"]["chain"] = []  # keep the DC offset and the squares as they are
    album = root / "album"
    _sources(album)
    album = make_album(root, m)
    outcome = run(album)
    assert outcome.status == 0, outcome.failures
    report = json.loads((album / "masters/report.json").read_text())
    return album, report


def _track(report, fmt, tid):
    return next(t for t in report["formats"][fmt]["tracks"] if t["id"] == tid)


def _checks(report, fmt, **match):
    return [
        c
        for c in report["formats"][fmt]["compliance"]["checks"]
        if all(c[k] == v for k, v in match.items())
    ]


def test_every_track_has_every_figure(built):
    _, report = built
    keys = {
        "id", "file", "duration_s", "integrated_lufs", "lra_lu", "max_momentary_lufs",
        "max_short_term_lufs", "true_peak_dbtp", "sample_peak_dbfs", "plr_db", "clipped_runs",
        "dc_offset_dbfs", "head_silence_s", "tail_silence_s", "sample_rate", "bit_depth",
        "codec", "file_bytes", "md5_audio",
    }  # fmt: skip
    for fmt in FORMATS:
        for t in report["formats"][fmt]["tracks"]:
            assert keys <= set(t), keys - set(t)
            if t["true_peak_dbtp"] is not None and t["integrated_lufs"] is not None:
                assert t["plr_db"] == pytest.approx(
                    t["true_peak_dbtp"] - t["integrated_lufs"], abs=0.011
                )


def test_file_size_is_the_delivered_files(built):
    album, report = built
    for fmt in FORMATS:
        for t in report["formats"][fmt]["tracks"]:
            assert t["file_bytes"] == (album / "masters" / t["file"]).stat().st_size


@pytest.mark.skipif(shutil.which("metaflac") is None, reason="metaflac not installed")
def test_audio_md5_of_a_flac_is_its_streaminfo_md5(built):
    album, report = built
    for t in report["formats"]["stream"]["tracks"]:
        out = subprocess.run(
            ["metaflac", "--show-md5sum", str(album / "masters" / t["file"])],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert t["md5_audio"] == out.stdout.strip()


def test_silence_dc_and_clipping_are_measured(built):
    _, report = built
    t1 = _track(report, "raw", "t1")
    assert t1["head_silence_s"] == pytest.approx(1.0, abs=0.002)
    assert t1["tail_silence_s"] == pytest.approx(0.5, abs=0.002)
    t2 = _track(report, "raw", "t2")
    assert t2["dc_offset_dbfs"] == pytest.approx(-40.0, abs=0.05)
    # A full-scale square: without a limiter the gain comes down instead; either way
    # nothing delivered sits on full scale.
    assert _track(report, "raw", "t3")["peak_reduction_db"] > 0
    for fmt in FORMATS:
        for t in report["formats"][fmt]["tracks"]:
            assert t["clipped_runs"] == 0 and t["full_scale_samples"] == 0


def test_compliance_names_each_failure_with_value_and_limit(built):
    _, report = built
    assert report["compliance"]["pass"] is False
    assert report["formats"]["cd"]["compliance"]["pass"] is True
    assert report["formats"]["stream"]["compliance"]["pass"] is True
    raw = report["formats"]["raw"]
    assert raw["compliance"]["pass"] is False
    (clip,) = _checks(report, "raw", profile="format", check="clipped runs", where="t3")
    assert clip["pass"] is True and clip["value"] == 0 and clip["limit"] == "0"
    (limiter,) = _checks(report, "raw", profile="vinyl", check="limiter")
    assert limiter["pass"] is True and limiter["value"] == "off"
    lf = {
        c["where"]: c
        for c in _checks(report, "raw", profile="vinyl")
        if "side vs mid" in c["check"]
    }
    assert lf["t1"]["pass"] is True  # mono low end
    assert lf["t3"]["pass"] is False and lf["t3"]["value"] > 0  # L = -R: all side
    hot = report["formats"]["applehot"]
    assert hot["compliance"]["pass"] is False
    tp = _checks(report, "applehot", profile="apple", check="true peak")
    assert any(c["pass"] is False and c["limit"] == "<= -1" for c in tp)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_apple_profile_encodes_to_aac_and_counts_clips(built):
    _, report = built
    checks = _checks(report, "applehot", profile="apple")
    aac = [c for c in checks if c["check"].startswith("clipped samples after AAC")]
    assert len(aac) == 4 and all(c["value"] is not None for c in aac)
    # Limited to 0 dBTP at -6 LUFS: the AAC decode goes over full scale.
    assert {c["where"] for c in aac if c["pass"] is False and c["value"] > 0} == {"t4"}
    for t in report["formats"]["applehot"]["tracks"]:
        assert t["aac_clipped_samples"] is not None


def test_cd_profile_checks_red_book(built):
    _, report = built
    names = {c["check"] for c in _checks(report, "cd", profile="cd")}
    assert {"sample rate", "bit depth", "tracks", "programme length", "track length"} <= names
    (length,) = _checks(report, "cd", profile="cd", check="programme length")
    assert length["value"] == pytest.approx(2 + 4 * SECONDS + 3 * 2, abs=0.1)


def test_pictures_are_embedded(built):
    album, _ = built
    page = (album / "masters/report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 4 * len(FORMATS)
    assert "http://" not in page and "https://" not in page


@pytest.mark.skipif(not chromium_available(), reason="chromium not installed")
def test_the_page_renders_in_a_browser(built):
    album, report = built
    page = album / "masters/report.html"
    dom = dump_dom(page)
    for fmt in FORMATS:
        for t in report["formats"][fmt]["tracks"]:
            assert Path(t["file"]).name in dom
    shot = screenshot(page, width=1400, height=4000)
    assert shot.std() > 0.05  # not blank
    rgb = shot[..., :3]
    red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.15) & (rgb[..., 2] < 0.15)
    assert red.sum() > 50  # the FAIL verdicts (and overs) are drawn in red


def test_title_fix_redraws_no_picture(built, tmp_path):
    album, _ = built
    copy = tmp_path / "album"
    shutil.copytree(album, copy)
    (copy / "album.toml").write_text(
        (album / "album.toml").read_text().replace('"Track 1"', '"Renamed"')
    )
    outcome = run(copy)
    assert outcome.status == 0
    assert not [n for n in outcome.ran if n.startswith(("qc:", "master:", "render:"))]
    assert any(n.startswith("report:") for n in outcome.ran)


# --- the rules themselves ------------------------------------------------------------------


def test_every_profile_has_checks():
    assert set(PROFILE_CHECKS) == set(PROFILES)


def _fmt(**kw):
    return {
        "codec": "flac",
        "sample_rate": 48000,
        "bit_depth": 24,
        "limiter": True,
        "profiles": [],
        "loudness": {"mode": "track", "target_lufs": -14.0, "peak_safe": False},
        "true_peak_ceiling_db": -1.0,
        **kw,
    }


def _row(tid="a", **kw):
    return {
        "id": tid,
        "integrated_lufs": -14.0,
        "true_peak_dbtp": -1.5,
        "clipped_runs": 0,
        "duration_s": 60.0,
        **kw,
    }


def test_streaming_asks_for_two_db_of_headroom_when_louder_than_minus_14():
    fmt = _fmt(profiles=["streaming"], loudness={"mode": "none", "target_lufs": None})
    quiet = format_compliance(fmt, [_row(integrated_lufs=-14.0, true_peak_dbtp=-1.5)], {})
    assert verdict(quiet)
    loud = format_compliance(fmt, [_row(integrated_lufs=-13.5, true_peak_dbtp=-1.5)], {})
    (tp,) = [c for c in loud if c["profile"] == "streaming" and c["check"] == "true peak"]
    assert tp["pass"] is False and tp["limit"] == "<= -2"


def test_own_loudness_target_within_half_an_lu():
    fmt = _fmt()
    assert verdict(format_compliance(fmt, [_row(integrated_lufs=-14.4)], {}))
    assert not verdict(format_compliance(fmt, [_row(integrated_lufs=-14.6)], {}))
    safe = _fmt(loudness={"mode": "track", "target_lufs": -14.0, "peak_safe": True})
    assert verdict(format_compliance(safe, [_row(integrated_lufs=-20.0)], {}))
    album = _fmt(loudness={"mode": "album", "target_lufs": -12.0, "peak_safe": False})
    assert not verdict(format_compliance(album, [_row()], {"album_lufs": -13.0}))


def test_a_silent_track_is_under_every_ceiling_and_a_missing_figure_is_not_a_pass():
    fmt = _fmt(loudness={"mode": "none", "target_lufs": None}, profiles=["apple"])
    checks = format_compliance(fmt, [_row(integrated_lufs=None, true_peak_dbtp=None)], {})
    tp = [c for c in checks if c["check"] == "true peak"]
    assert all(c["pass"] is True for c in tp)
    (aac,) = [c for c in checks if c["check"].startswith("clipped samples after AAC")]
    assert aac["pass"] is None  # not run (no ffmpeg): said so, not passed
    assert verdict(checks)


def test_vinyl_side_lengths_by_disc_and_speed():
    fmt = _fmt(profiles=["vinyl"], limiter=False, disc_in=12, rpm=33)
    sides = [{"side": "A", "duration_s": 21 * 60.0}, {"side": "B", "duration_s": 23 * 60.0}]
    checks = format_compliance(fmt, [_row(lf_side_to_mid_db=-30.0)], {"sides": sides})
    lengths = {c["where"]: c["pass"] for c in checks if c["check"].startswith("side length")}
    assert lengths == {"side A": True, "side B": False}
    fmt7 = {**fmt, "disc_in": 7, "rpm": 45}
    checks = format_compliance(fmt7, [_row()], {"sides": [{"side": "A", "duration_s": 330.0}]})
    assert [c["pass"] for c in checks if c["check"].startswith("side length")] == [False]


def test_spectrum_smoothing_keeps_levels_and_places_a_tone():
    from masterbuild.qc import octave_smoothed

    freqs = np.linspace(0, 24000, 4097)
    flat = np.full(freqs.size, -30.0)
    centres, level = octave_smoothed(freqs, flat)
    assert centres[0] == pytest.approx(20.0) and centres[-1] == pytest.approx(24000.0)
    assert np.allclose(level, -30.0)
    tone = np.full(freqs.size, -120.0)
    tone[np.argmin(np.abs(freqs - 1000.0))] = 0.0
    centres, level = octave_smoothed(freqs, tone)
    assert abs(centres[np.argmax(level)] / 1000.0 - 1) < 0.06
