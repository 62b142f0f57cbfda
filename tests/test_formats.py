"""Every codec at its declared rate and depth, loudness and ceiling checked by ffmpeg."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.albums import make_album, manifest, run

pytestmark = pytest.mark.skipif(
    shutil.which("ffprobe") is None, reason="ffmpeg is installed by .ci/run"
)

TARGET = -18.0
FORMATS = {
    "wav16": {"codec": "wav", "sample_rate": 44100, "bit_depth": 16, "dither": "tpdf"},
    "wav24": {"codec": "wav", "sample_rate": 48000, "bit_depth": 24},
    "wav16shaped": {"codec": "wav", "sample_rate": 48000, "bit_depth": 16, "dither": "shaped"},
    "wav32": {"codec": "wav", "sample_rate": 96000, "bit_depth": 32},
    "flac16": {"codec": "flac", "sample_rate": 44100, "bit_depth": 16},
    "flac24": {"codec": "flac", "sample_rate": 96000, "bit_depth": 24},
    "aiff24": {"codec": "aiff", "sample_rate": 44100, "bit_depth": 24},
    "mp3cbr": {"codec": "mp3", "sample_rate": 44100, "bitrate_kbps": 320},
    "mp3vbr": {"codec": "mp3", "sample_rate": 48000, "quality": "V2"},
    "ogg": {"codec": "ogg", "sample_rate": 44100, "quality": "6"},
    "opus": {"codec": "opus", "sample_rate": 48000, "bitrate_kbps": 128},
}
for f in FORMATS.values():
    f["loudness"] = {"mode": "track", "target_lufs": TARGET}
    f["true_peak_ceiling_db"] = -1.0


@pytest.fixture(scope="module")
def album(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("formats")
    album = make_album(root, manifest(2, formats=FORMATS), seconds=4.0)
    run(album, jobs=2)
    return album


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def ffmpeg_ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) from ffmpeg's ebur128 filter, an independent meter."""
    err = subprocess.run(
        [
            "ffmpeg",
            "-nostats",
            "-hide_banner",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    summary = err[err.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return integrated, peak


EXPECT = {  # format -> (ffprobe codec_name, bits: (field, value) or None, bitrate)
    "wav16": ("pcm_s16le", ("bits_per_sample", 16)),
    "wav24": ("pcm_s24le", ("bits_per_sample", 24)),
    "wav16shaped": ("pcm_s16le", ("bits_per_sample", 16)),
    "wav32": ("pcm_f32le", ("bits_per_sample", 32)),
    "flac16": ("flac", ("bits_per_raw_sample", "16")),
    "flac24": ("flac", ("bits_per_raw_sample", "24")),
    "aiff24": ("pcm_s24be", ("bits_per_sample", 24)),
    "mp3cbr": ("mp3", None),
    "mp3vbr": ("mp3", None),
    "ogg": ("vorbis", None),
    "opus": ("opus", None),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_stream_is_what_the_manifest_declares(album, name):
    files = sorted((album / "masters" / name).glob("0*"))
    assert len(files) == 2
    for f in files:
        info = ffprobe(f)
        stream = next(s for s in info["streams"] if s["codec_type"] == "audio")
        codec, bits = EXPECT[name]
        assert stream["codec_name"] == codec
        assert int(stream["sample_rate"]) == FORMATS[name]["sample_rate"]
        assert stream["channels"] == 2
        if bits:
            assert stream[bits[0]] == bits[1]
        if name == "mp3cbr":
            assert stream["bit_rate"] == "320000"
        if name == "mp3vbr":
            assert 150_000 < int(info["format"]["bit_rate"]) < 330_000


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_loudness_and_ceiling_by_ffmpeg(album, name):
    report = json.loads((album / "masters/report.json").read_text())
    for entry in report["formats"][name]["tracks"]:
        path = album / "masters" / entry["file"]
        integrated, peak = ffmpeg_ebur128(path)
        # The sources are quiet enough to reach the target under the ceiling.
        lossy = FORMATS[name]["codec"] in ("mp3", "ogg", "opus")
        assert abs(integrated - TARGET) <= (0.3 if lossy else 0.1), (path.name, integrated)
        assert peak <= -1.0 + 0.1, (path.name, peak)  # ffmpeg's own TP meter, 0.1 dB tolerance
        # the report agrees with ffmpeg
        assert abs(entry["integrated_lufs"] - integrated) <= 0.1
        assert entry["true_peak_dbtp"] <= -1.0


def test_report_contract_keys(album):
    report = json.loads((album / "masters/report.json").read_text())
    assert report["album"]["title"] == "Test Album"
    assert report["album"]["duration_s"] == pytest.approx(8.0, abs=0.1)
    track = report["formats"]["wav16"]["tracks"][0]
    for key in (
        "id",
        "file",
        "duration_s",
        "integrated_lufs",
        "lra_lu",
        "true_peak_dbtp",
        "sample_rate",
        "bit_depth",
    ):
        assert key in track
    assert track["file"] == "wav16/01 Track 1.wav"
    assert report["formats"]["wav16"]["album_lufs"] is not None


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_two_clean_builds_are_byte_identical(album, tmp_path):
    """Seeded dither, normalised Ogg serials, no timestamps: same manifest, same bytes."""
    other = tmp_path / "elsewhere"
    shutil.copytree(album, other, ignore=shutil.ignore_patterns("masters", ".masterbuild"))
    run(other, jobs=1)
    assert _digests(other / "masters") == _digests(album / "masters")


@pytest.mark.parametrize("name", ["wav16", "flac24", "aiff24", "mp3cbr", "ogg", "opus"])
def test_delivered_files_carry_their_tags(album, name):
    from masterbuild.tags import read_tags

    report = json.loads((album / "masters/report.json").read_text())
    fmt = report["formats"][name]
    codec = FORMATS[name]["codec"]
    for n, entry in enumerate(fmt["tracks"], start=1):
        tags = read_tags(album / "masters" / entry["file"], codec)
        assert tags["title"] == f"Track {n}"
        assert (tags["track_number"], tags["track_total"]) == (str(n), "2")
        assert tags["album"] == "Test Album" and tags["album_artist"] == "Test Artist"
        assert tags["isrc"] == f"USABC26{n:05d}"
        assert tags["barcode"] == "036000241457"
        if codec == "opus":  # RFC 7845: Q7.8 gain relative to -23 LUFS
            assert int(tags["r128_track_gain"]) == round((-23 - entry["integrated_lufs"]) * 256)
        else:  # ReplayGain 2: reference -18 LUFS
            gain_db = float(tags["replaygain_track_gain"].split()[0])
            assert gain_db == pytest.approx(-18 - entry["integrated_lufs"], abs=0.011)
            assert float(tags["replaygain_track_peak"]) == pytest.approx(
                10 ** (entry["true_peak_dbtp"] / 20), abs=1e-3
            )
