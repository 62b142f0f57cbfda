"""A disk that fills up mid-build: one clear line, the previous masters intact."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from masterbuild.tasks import build
from tests.albums import make_album, manifest, write_manifest

SMALL = {"hires": {"codec": "flac", "sample_rate": 48000, "bit_depth": 24}}
BIG = {**SMALL, "huge": {"codec": "wav", "sample_rate": 192000, "bit_depth": 32}}


@pytest.fixture
def tiny_disk(tmp_path):
    """A 6 MiB file system (tmpfs); skipped where mounting is not allowed."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_full_disk_fails_in_one_line_and_keeps_the_masters(tiny_disk):
    m = manifest(2, formats=SMALL)
    album = make_album(tiny_disk, m, seconds=2.0)
    assert build([album], out=io.StringIO()).status == 0
    before = _contents(album / "masters")
    m["formats"] = BIG  # 2 x 2 s of 192 kHz float: more than the disk has left
    write_manifest(album, m)
    outcome = build([album], out=io.StringIO())
    assert outcome.status == 1
    messages = [msg for _, msg in outcome.failures]
    assert messages and all("Traceback" not in msg for msg in messages), messages
    assert any("No space left on device" in msg for msg in messages), messages
    for msg in messages:
        assert len(msg.strip().splitlines()) == 1 and msg.count(": ") >= 2, msg
    after = _contents(album / "masters")
    assert {k: v for k, v in after.items() if k in before} == before  # not a byte lost
    assert not [k for k in after if k.startswith("huge/")]  # nothing half-made delivered
    assert not [p for p in album.rglob("*.partial")]
