"""Album-scale benchmark (issue 6 "Speed, scale and reliability"), printed, not asserted.

    python bench/bench_album.py [--tracks 12] [--seconds 225] [--json [FILE]]
    python bench/bench_album.py --tracks 3 --seconds 30          # a quick look

A synthetic album (default 12 x 3:45 = 45 min, 24-bit 48 kHz stereo, cut from the demo
album's synthesized mixes) with one chain on every track (highpass, bell + high shelf,
compressor) and four formats: CD WAV 16/44.1 shaped dither, hi-res FLAC 24/96 (both
album mode, -12 LUFS), streaming FLAC 24/48 and MP3 320k (both track mode, -14 LUFS),
every ceiling -1 dBTP, with album and track tags.

1. masterbuild, as a user runs it (`python -m masterbuild build ALBUM -j N`), from a fresh
   copy of the album at -j 1 and at -j 2: full build, no-op (best of 3), one revised
   mix, a title fix, a reorder. Wall time and peak RSS, sampled from /proc every 0.1 s:
   the largest single process (its VmHWM) and the whole process tree at once. The -j 1
   build's task lines, time-stamped as they arrive, give the time per task kind.
2. The same job scripted with ffmpeg as a user would, run over N worker slots like
   `xargs -P N`: pass 1 per track (the chain, then loudnorm's measurement); pass 2 per
   (track, format): the chain, loudness, soxr resampling, dither, encoder, -metadata
   tags. Track mode: two-pass loudnorm (linear=true with the measured values). Album
   mode: ffmpeg has none, so one common gain from pass 1 (duration-weighted power mean
   of the tracks' loudness) with `volume`, then `alimiter` 0.5 dB under the ceiling.
3. Loudness accuracy: every delivered file of both pipelines measured with masterbuild's
   meter; per format the mean and max |integrated - target| (track mode: per track;
   album mode: the album's gated loudness over all tracks' blocks) and the max true peak.

Every timed run starts after os.sync(), so none pays for writing back what an earlier step
left dirty (the ffmpeg script never syncs its outputs; masterbuild fsyncs its own).

Targets: masterbuild -j 2 full build <= 0.5 x ffmpeg (2 slots); loudness closer to target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.albums import to_toml  # noqa: E402

SOURCE_SR = 48000
MIB = 1024 * 1024

CHAIN: list[dict[str, Any]] = [
    {"kind": "highpass", "freq_hz": 30, "slope_db_oct": 12},
    {
        "kind": "eq",
        "bands": [
            {"type": "bell", "freq_hz": 3000, "gain_db": 1.5, "q": 1.0},
            {"type": "highshelf", "freq_hz": 10000, "gain_db": 1.0, "q": 0.7},
        ],
    },
    {
        "kind": "compressor",
        "threshold_db": -18.0,
        "ratio": 2.0,
        "knee_db": 6.0,
        "attack_ms": 20.0,
        "release_ms": 200.0,
    },
]

FORMATS: dict[str, dict[str, Any]] = {
    "cd": {
        "codec": "wav",
        "sample_rate": 44100,
        "bit_depth": 16,
        "dither": "shaped",
        "loudness": {"mode": "album", "target_lufs": -12.0},
        "true_peak_ceiling_db": -1.0,
    },
    "hires": {
        "codec": "flac",
        "sample_rate": 96000,
        "bit_depth": 24,
        "loudness": {"mode": "album", "target_lufs": -12.0},
        "true_peak_ceiling_db": -1.0,
    },
    "streaming": {
        "codec": "flac",
        "sample_rate": 48000,
        "bit_depth": 24,
        "loudness": {"mode": "track", "target_lufs": -14.0},
        "true_peak_ceiling_db": -1.0,
    },
    "mp3": {
        "codec": "mp3",
        "sample_rate": 44100,
        "bitrate_kbps": 320,
        "loudness": {"mode": "track", "target_lufs": -14.0},
        "true_peak_ceiling_db": -1.0,
    },
}
EXT = {"wav": "wav", "flac": "flac", "mp3": "mp3"}

ALBUM_META = {
    "title": "Long Player",
    "artist": "Bench Ensemble",
    "date": "2026-11-20",
    "genre": "Electronic",
    "label": "Example Records",
    "catalog": "EXR-045",
    "copyright": "2026 Example Records",
}
TITLES = [
    "Overture", "Harbour", "Signal", "Lantern", "Drift", "Copper", "Meridian", "Static",
    "Orchard", "Relay", "Lowlands", "Afterglow",
]  # fmt: skip


# ---------------------------------------------------------------------------- the album


def _demo_mixes() -> list[np.ndarray]:
    from masterbuild.demo import DEMO_TRACKS, synthesize

    return [synthesize(t.id, SOURCE_SR) for t in DEMO_TRACKS]


def synth_track(mixes: list[np.ndarray], seconds: float, seed: int) -> np.ndarray:
    """A track cut from the demo mixes: sections of 8-20 s from random places, each at
    its own level (intro, verse, chorus, breakdown), 100 ms crossfades, an overall
    level of its own and a fade-out; peak -1 dBFS at most, on the 24-bit grid."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SOURCE_SR)
    out = np.zeros((n, 2))
    xf = int(0.1 * SOURCE_SR)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, xf))[:, None]
    section_db = [-9.0, -4.0, -2.0, 0.0, -7.0, -1.0, 0.0, -3.0]
    pos, k = 0, 0
    while pos < n:
        src = mixes[int(rng.integers(len(mixes)))]
        length = min(int(rng.uniform(8, 20) * SOURCE_SR), src.shape[0] // 2)
        start = int(rng.integers(int(2 * SOURCE_SR), src.shape[0] - length - SOURCE_SR))
        seg = src[start : start + length + xf] * 10 ** (section_db[k % 8] / 20)
        seg[:xf] *= ramp
        seg[-xf:] *= ramp[::-1]
        m = min(seg.shape[0], n - pos)
        out[pos : pos + m] += seg[:m]
        pos += length
        k += 1
    fade = int(min(4.0, seconds / 4) * SOURCE_SR)
    out[n - fade :] *= np.linspace(1, 0, fade)[:, None]
    out *= 10 ** (rng.uniform(-5.0, 0.0) / 20)
    peak = np.abs(out).max()
    if peak > 10 ** (-1 / 20):
        out *= 10 ** (-1 / 20) / peak
    return np.round(out * 2**23) / 2**23


def make_album(folder: Path, tracks: int, seconds: float) -> dict[str, Any]:
    mixes = _demo_mixes()
    (folder / "mixes").mkdir(parents=True)
    manifest: dict[str, Any] = {
        "schema": 1,
        "album": ALBUM_META,
        "master": {"chain": CHAIN, "gap_s": 2.0},
        "tracks": [],
        "formats": FORMATS,
    }
    for i in range(1, tracks + 1):
        tid = f"t{i:02d}"
        x = synth_track(mixes, seconds, seed=600 + i)
        sf.write(folder / f"mixes/{tid}.wav", x, SOURCE_SR, subtype="PCM_24")
        manifest["tracks"].append(
            {
                "id": tid,
                "source": f"mixes/{tid}.wav",
                "title": TITLES[(i - 1) % len(TITLES)],
                "composer": "A. Writer",
                "isrc": f"USABC26{i:05d}",
            }
        )
    write_manifest(folder, manifest)
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "album.toml").write_text(to_toml(manifest))


def revise_mix(folder: Path, manifest: dict[str, Any]) -> None:
    """The revised mix: a quieter first 2 s of the middle track."""
    track = manifest["tracks"][len(manifest["tracks"]) // 2]
    path = folder / track["source"]
    x, sr = sf.read(path)
    x[: sr * 2] *= 0.9
    sf.write(path, x, sr, subtype="PCM_24")


# ------------------------------------------------------------------- processes and memory


def _tree_sample(root: int) -> tuple[int, dict[int, int]]:
    """(sum of VmRSS, VmHWM of each process) over ``root`` and its descendants, bytes."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children[ppid].append(int(entry))
    total, hwm, stack = 0, {}, [root]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        with contextlib.suppress(OSError):  # it may have exited meanwhile
            status = Path(f"/proc/{pid}/status").read_text()
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if "VmRSS" in fields:  # absent for zombies
                total += int(fields["VmRSS"].split()[0]) * 1024
                hwm[pid] = int(fields["VmHWM"].split()[0]) * 1024
    return total, hwm


class TreeRss:
    """Peak RSS of a process tree, sampled in a thread while the block runs: ``tree`` is
    the largest sum over the tree's processes at one instant, ``process`` the largest
    high-water mark (VmHWM) of any one of them (``exclude`` leaves out e.g. ourselves).
    Processes that live less than one interval can be missed."""

    def __init__(self, root: int, interval_s: float = 0.1, exclude: int | None = None) -> None:
        self.root, self.interval_s, self.exclude = root, interval_s, exclude
        self.tree = self.process = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total, hwm = _tree_sample(self.root)
            if self.exclude in hwm:
                total -= int(Path(f"/proc/{self.exclude}/statm").read_text().split()[1]) * (
                    os.sysconf("SC_PAGE_SIZE")
                )
                del hwm[self.exclude]
            self.tree = max(self.tree, total)
            self.process = max([self.process, *hwm.values()])
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def settle() -> None:
    """Write back what earlier steps left dirty (the album just copied, the ffmpeg
    script's outputs, which it never syncs), so that no timed run pays for another's."""
    os.sync()


def run_build(album: Path, jobs: int, log_tasks: bool = False) -> dict[str, Any]:
    """`python -m masterbuild build ALBUM -j N`: wall s, peak RSS MiB (largest process
    and sampled tree sum), and with ``log_tasks`` the task lines with arrival times."""
    cmd = [sys.executable, "-m", "masterbuild", "build", str(album), "-j", str(jobs)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    lines: list[tuple[float, str]] = []
    settle()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    with TreeRss(proc.pid) as tree:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter() - t0, line.strip()))
        proc.wait()
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(
            f"masterbuild build failed ({proc.returncode}):\n"
            + "\n".join(text for _, text in lines[-20:])
        )
    result = {
        "wall_s": wall,
        "rss_process_mib": tree.process / MIB,
        "rss_tree_mib": tree.tree / MIB,
        "tasks_run": len(lines),
    }
    if log_tasks:
        result["task_lines"] = lines
    return result


def task_breakdown(lines: list[tuple[float, str]], wall_s: float) -> dict[str, float]:
    """Seconds per task kind (masters per format) of a -j 1 build: each task runs from
    its line to the next line."""
    tasks = [(t, name) for t, name in lines if not name.startswith("masterbuild:")]
    kinds: dict[str, float] = defaultdict(float)
    kinds["(startup)"] = tasks[0][0] if tasks else wall_s
    ends = [t for t, _ in lines[1:]] + [wall_s]
    for (start, name), end in zip(lines, ends, strict=True):
        parts = name.split(":")
        if name.startswith("masterbuild:"):
            kinds["(exit)"] += end - start
        else:
            kinds[":".join(parts[:1] + parts[2:3]) if parts[0] == "master" else parts[0]] += (
                end - start
            )
    return dict(kinds)


def masterbuild_suite(src: Path, work: Path, jobs: int) -> dict[str, Any]:
    album = work / f"mb-j{jobs}"
    shutil.copytree(src, album)
    manifest = json.loads((work / "manifest.json").read_text())
    fig: dict[str, Any] = {}
    full = run_build(album, jobs, log_tasks=jobs == 1)
    lines = full.pop("task_lines", None)
    fig["full"] = full
    if lines is not None:
        fig["tasks_s"] = task_breakdown(lines, full["wall_s"])
    report = json.loads((album / "masters/report.json").read_text())
    fig["attempts"] = {  # masters made more than once (an overshoot remade)
        name: sum(t.get("attempts", 1) for t in f["tracks"]) - len(f["tracks"])
        for name, f in report["formats"].items()
    }
    fig["noop"] = min((run_build(album, jobs) for _ in range(3)), key=lambda r: r["wall_s"])
    revise_mix(album, manifest)
    fig["revision"] = run_build(album, jobs)
    manifest["tracks"][min(2, len(manifest["tracks"]) - 1)]["title"] += " (Edit)"
    write_manifest(album, manifest)
    fig["title"] = run_build(album, jobs)
    if len(manifest["tracks"]) >= 3:
        t = manifest["tracks"]
        t[1], t[2] = t[2], t[1]
    write_manifest(album, manifest)
    fig["reorder"] = run_build(album, jobs)
    fig["masters"] = str(album / "masters")
    return fig


# ------------------------------------------------------------------------------ ffmpeg


def ffmpeg_chain(chain: list[dict[str, Any]]) -> str:
    """The manifest chain as ffmpeg filters (Butterworth highpass, RBJ biquads, peak
    detector compressor with a linked stereo detector)."""
    out = []
    for stage in chain:
        if stage["kind"] == "highpass":
            poles = {6: 1, 12: 2}[stage.get("slope_db_oct", 12)]
            out.append(f"highpass=f={stage['freq_hz']}:poles={poles}")
        elif stage["kind"] == "eq":
            for b in stage["bands"]:
                name = {"bell": "equalizer", "highshelf": "treble", "lowshelf": "bass"}[b["type"]]
                out.append(f"{name}=f={b['freq_hz']}:t=q:w={b['q']}:g={b['gain_db']}")
        elif stage["kind"] == "compressor":
            threshold = 10 ** (stage["threshold_db"] / 20)
            knee = 10 ** (stage.get("knee_db", 0.0) / 20)
            out.append(
                f"acompressor=threshold={threshold:.6f}:ratio={stage['ratio']}"
                f":attack={stage['attack_ms']}:release={stage['release_ms']}"
                f":knee={max(knee, 1.0):.4f}:detection=peak:link=maximum"
            )
    return ",".join(out)


LRA_TARGET = 11.0  # the usual two-pass loudnorm recipe's LRA


def _loudnorm(fmt: dict[str, Any]) -> str:
    ln = fmt["loudness"]
    return f"loudnorm=I={ln['target_lufs']}:TP={fmt['true_peak_ceiling_db']}:LRA={LRA_TARGET}"


def _ffmpeg_measure_cmd(src: Path, chain: str) -> list[str]:
    # Pass 1 reports the input (post-chain) loudness: one per track serves every format.
    af = f"{chain},loudnorm=I=-14:TP=-1:LRA={LRA_TARGET}:print_format=json"
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", str(src),
        "-af", af, "-f", "null", "-",
    ]  # fmt: skip


def _ffmpeg_encode_cmd(
    src: Path,
    out: Path,
    chain: str,
    fmt: dict[str, Any],
    meas: dict[str, str],
    album_gain_db: float | None,
    tags: dict[str, str],
) -> list[str]:
    sr = fmt["sample_rate"]
    resample = f"aresample={sr}:resampler=soxr:precision=28"
    if fmt["loudness"]["mode"] == "track":
        loud = (
            f"{_loudnorm(fmt)}:measured_I={meas['input_i']}:measured_TP={meas['input_tp']}"
            f":measured_LRA={meas['input_lra']}:measured_thresh={meas['input_thresh']}"
            f":offset={meas['target_offset']}:linear=true:print_format=json"
        )
        af = f"{chain},{loud},{resample}"
    else:  # album: one common gain, then a limiter with 0.5 dB for inter-sample peaks
        limit = 10 ** ((fmt["true_peak_ceiling_db"] - 0.5) / 20)
        af = (
            f"{chain},volume={album_gain_db:.2f}dB,{resample},"
            f"alimiter=limit={limit:.5f}:attack=5:release=50:level=false:latency=true"
        )
    if fmt.get("bit_depth") == 16:
        method = "f_weighted" if fmt.get("dither") == "shaped" else "triangular"
        af += f",aresample=osf=s16:dither_method={method}"
    codec = {
        "wav": ["-c:a", f"pcm_s{fmt.get('bit_depth', 16)}le"],
        "flac": ["-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24"],
        "mp3": ["-c:a", "libmp3lame", "-b:a", f"{fmt.get('bitrate_kbps', 320)}k"],
    }[fmt["codec"]]
    if fmt["codec"] == "flac" and fmt.get("bit_depth") == 16:
        codec = ["-c:a", "flac", "-sample_fmt", "s16"]
    meta = [a for k, v in tags.items() for a in ("-metadata", f"{k}={v}")]
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-y", "-i", str(src),
        "-af", af, *codec, *meta, str(out),
    ]  # fmt: skip


def _run_ffmpeg(cmd: list[str]) -> str:
    """Run one ffmpeg; its stderr."""
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        raise SystemExit(f"ffmpeg failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return proc.stderr


def _loudnorm_json(stderr: str) -> dict[str, str]:
    blocks = re.findall(r"\{[^{}]*\"input_i\"[^{}]*\}", stderr)
    return json.loads(blocks[-1])


def ffmpeg_job(src: Path, manifest: dict[str, Any], out_dir: Path, slots: int) -> dict[str, Any]:
    """The user's script: pass 1 per track, then pass 2 per (track, format), each stage
    over ``slots`` parallel workers (like `xargs -P slots`)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    chain = ffmpeg_chain(manifest["master"]["chain"])
    tracks = manifest["tracks"]
    album = manifest["album"]
    settle()
    t0 = time.perf_counter()
    with TreeRss(os.getpid(), exclude=os.getpid()) as tree, ThreadPoolExecutor(slots) as pool:
        sources = [src / t["source"] for t in tracks]
        measured = []
        for err in pool.map(_run_ffmpeg, [_ffmpeg_measure_cmd(s, chain) for s in sources]):
            measured.append(_loudnorm_json(err))
        t_pass1 = time.perf_counter() - t0
        # Album loudness as a user can get it: the tracks' loudness, power-averaged
        # with their durations as weights (no gating across tracks).
        durations = np.array([sf.info(str(s)).duration for s in sources])
        powers = np.array([10 ** (float(m["input_i"]) / 10) for m in measured])
        album_lufs = 10 * math.log10(float((durations * powers).sum() / durations.sum()))
        jobs = []
        for name, fmt in manifest["formats"].items():
            (out_dir / name).mkdir(parents=True)
            gain = fmt["loudness"]["target_lufs"] - album_lufs
            for n, (track, source, meas) in enumerate(
                zip(tracks, sources, measured, strict=True), start=1
            ):
                tags = {
                    "title": track["title"],
                    "artist": track.get("artist", album["artist"]),
                    "album_artist": album["artist"],
                    "album": album["title"],
                    "track": f"{n}/{len(tracks)}",
                    "date": album["date"],
                    "genre": album["genre"],
                    "composer": track.get("composer", ""),
                    "copyright": album["copyright"],
                    "ISRC": track.get("isrc", ""),
                }
                out = out_dir / name / f"{n:02d} {track['title']}.{EXT[fmt['codec']]}"
                jobs.append(_ffmpeg_encode_cmd(source, out, chain, fmt, meas, gain, tags))
        modes: dict[str, int] = defaultdict(int)
        for err in pool.map(_run_ffmpeg, jobs):
            found = re.findall(r'"normalization_type"\s*:\s*"(\w+)"', err)
            if found:
                modes[found[-1]] += 1
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "pass1_s": t_pass1,
        "rss_process_mib": tree.process / MIB,
        "rss_tree_mib": tree.tree / MIB,
        "processes": len(sources) + len(jobs),
        "loudnorm_modes": dict(modes),
        "album_lufs_estimate": album_lufs,
    }


# ---------------------------------------------------------------------------- accuracy


def _measure(path: str) -> tuple[str, float, float, np.ndarray]:
    from masterbuild.measure import measure_file

    m = measure_file(path)
    return path, m.integrated_lufs, m.true_peak_dbtp, m.block_powers


def accuracy(masters: dict[str, Path], formats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per pipeline and format: mean/max |integrated - target| and max true peak."""
    from masterbuild.dsp.loudness import integrated_lufs_from_powers

    files = {
        (who, name): sorted((root / name).glob(f"*.{EXT[fmt['codec']]}"))
        for who, root in masters.items()
        for name, fmt in formats.items()
    }
    paths = [str(p) for group in files.values() for p in group]
    with ProcessPoolExecutor(2) as pool:
        measured = {p: (i, tp, bp) for p, i, tp, bp in pool.map(_measure, paths)}
    result: dict[str, Any] = defaultdict(dict)
    for (who, name), group in files.items():
        fmt = formats[name]
        target = fmt["loudness"]["target_lufs"]
        rows = [measured[str(p)] for p in group]
        if fmt["loudness"]["mode"] == "album":
            errors = [abs(integrated_lufs_from_powers([bp for _, _, bp in rows]) - target)]
        else:
            errors = [abs(i - target) for i, _, _ in rows]
        tps = [tp for _, tp, _ in rows]
        ceiling = fmt["true_peak_ceiling_db"]
        result[who][name] = {
            "files": len(rows),
            "mean_err_lu": float(np.mean(errors)),
            "max_err_lu": float(np.max(errors)),
            "max_tp_dbtp": float(np.max(tps)),
            "over_ceiling": sum(tp > ceiling + 1e-9 for tp in tps),
        }
    return dict(result)


# ------------------------------------------------------------------------------ report


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return f"{'(skipped)':>28s}"
    return f"{r['wall_s']:8.2f} s {r['rss_process_mib']:6.0f} /{r['rss_tree_mib']:5.0f} MiB"


def _row(label: str, a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    return f"{label:24s}{_cell(a)}   {_cell(b)}"


def print_report(fig: dict[str, Any]) -> None:
    a = fig["args"]
    mb1, mb2 = fig["masterbuild"]["j1"], fig["masterbuild"]["j2"]
    print(
        f"\nalbum: {a['tracks']} tracks x {a['seconds']:.0f} s = {fig['album_minutes']:.1f} min, "
        f"24-bit {SOURCE_SR} Hz stereo; formats: {', '.join(FORMATS)}"
    )
    print("wall time, peak RSS: largest process (VmHWM) / whole tree at once (sampled 0.1 s)")
    print(f"{'':24s}{'-j 1':>28s}   {'-j 2':>28s}")
    for key, label in (
        ("full", "masterbuild full build"),
        ("noop", "no-op (best of 3)"),
        ("revision", "one revised mix"),
        ("title", "title fix"),
        ("reorder", "reorder (swap 2, 3)"),
    ):
        print(_row(label, mb1[key], mb2[key]))
    ff = fig["ffmpeg"]
    print(_row("ffmpeg script, N slots", ff.get("p1"), ff["p2"]))
    for key, label in (("revision", "one revised mix"), ("title", "title fix")):
        share = [mb[key]["wall_s"] / mb["full"]["wall_s"] for mb in (mb1, mb2)]
        print(f"  {label} = {share[0]:.1%} (-j 1), {share[1]:.1%} (-j 2) of the full build")
    print(
        f"  ffmpeg: {ff['p2']['processes']} processes, "
        f"pass 1 {ff['p2']['pass1_s']:.1f} s (2 slots); "
        f"loudnorm pass 2 modes {ff['p2']['loudnorm_modes']}; "
        f"album estimate {ff['p2']['album_lufs_estimate']:.2f} LUFS"
    )
    tasks = mb1.get("tasks_s", {})
    if tasks:
        total = sum(tasks.values())
        parts = sorted(tasks.items(), key=lambda kv: -kv[1])
        print(
            "masterbuild -j 1 full build by task kind: "
            + ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in parts)
        )
    remade = mb1.get("attempts", {})
    if remade:
        print(
            "masters remade after an overshoot (-j 1 full build): "
            + ", ".join(f"{k} {v}" for k, v in remade.items())
        )
    ratio1 = mb1["full"]["wall_s"] / ff["p1"]["wall_s"] if "p1" in ff else None
    ratio2 = mb2["full"]["wall_s"] / ff["p2"]["wall_s"]
    fig["ratio_j2"] = ratio2
    fig["ratio_j1"] = ratio1
    verdict = "PASS" if ratio2 <= 0.5 else "MISS"
    extra = f"; -j 1 vs 1 slot: {ratio1:.2f}x" if ratio1 else ""
    print(
        f"\nspeed: masterbuild -j 2 / ffmpeg 2 slots = {ratio2:.2f}x (target <= 0.5x): {verdict}"
        + extra
    )
    print(
        "\nloudness (masterbuild's meter): |integrated - target| LU mean/max, max dBTP (files over)"
    )
    acc = fig["accuracy"]
    closer = True
    for name, fmt in FORMATS.items():
        m, f = acc["masterbuild"][name], acc["ffmpeg"][name]
        mode = fmt["loudness"]["mode"]
        print(
            f"  {name:10s}{mode:6s}{fmt['loudness']['target_lufs']:6.1f} LUFS "
            f"{fmt['true_peak_ceiling_db']:5.1f} dBTP   "
            f"masterbuild {m['mean_err_lu']:5.2f}/{m['max_err_lu']:5.2f} LU "
            f"{m['max_tp_dbtp']:6.2f} "
            f"({m['over_ceiling']})   "
            f"ffmpeg {f['mean_err_lu']:5.2f}/{f['max_err_lu']:5.2f} LU {f['max_tp_dbtp']:6.2f} "
            f"({f['over_ceiling']})"
        )
        closer &= m["max_err_lu"] <= f["max_err_lu"] and m["mean_err_lu"] <= f["mean_err_lu"]
    within = {
        who: sum(acc[who][n]["files"] - acc[who][n]["over_ceiling"] for n in FORMATS)
        for who in ("masterbuild", "ffmpeg")
    }
    files = {who: sum(acc[who][n]["files"] for n in FORMATS) for who in within}
    print(
        "files within their true-peak ceiling: "
        + ", ".join(f"{who} {within[who]}/{files[who]}" for who in within)
    )
    fig["speed_pass"] = ratio2 <= 0.5
    fig["loudness_pass"] = closer
    print(
        "loudness closer to target than ffmpeg in every format (mean and max): "
        + ("PASS" if closer else "MISS")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracks", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=225.0, help="length of each track")
    ap.add_argument("--no-serial-ffmpeg", action="store_true", help="skip the 1-slot ffmpeg run")
    ap.add_argument(
        "--json", nargs="?", const="-", metavar="FILE", help="dump figures ('-': stdout)"
    )
    ap.add_argument("--keep", metavar="DIR", help="work here and keep the files")
    args = ap.parse_args()

    work_ctx = tempfile.TemporaryDirectory(prefix="bench-album-") if not args.keep else None
    work = Path(args.keep or work_ctx.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    try:
        src = work / "source"
        t0 = time.perf_counter()
        # In a child process, so the synthesis leaves this one small.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            manifest = pool.submit(make_album, src, args.tracks, args.seconds).result()
        (work / "manifest.json").write_text(json.dumps(manifest))
        print(f"album generated in {time.perf_counter() - t0:.1f} s: {src}", file=sys.stderr)
        fig: dict[str, Any] = {
            "args": {"tracks": args.tracks, "seconds": args.seconds},
            "album_minutes": args.tracks * args.seconds / 60,
            "masterbuild": {},
            "ffmpeg": {},
        }
        for jobs in (1, 2):
            print(f"masterbuild -j {jobs} ...", file=sys.stderr)
            fig["masterbuild"][f"j{jobs}"] = masterbuild_suite(src, work, jobs)
        for slots in (1, 2) if not args.no_serial_ffmpeg else (2,):
            print(f"ffmpeg script, {slots} slot(s) ...", file=sys.stderr)
            fig["ffmpeg"][f"p{slots}"] = ffmpeg_job(src, manifest, work / f"ff-p{slots}", slots)
        print("measuring the delivered files ...", file=sys.stderr)
        fig["accuracy"] = accuracy(
            {"masterbuild": Path(fig["masterbuild"]["j2"]["masters"]), "ffmpeg": work / "ff-p2"},
            FORMATS,
        )
        print_report(fig)
        if args.json:
            text = json.dumps(fig, indent=2, default=float)
            if args.json == "-":
                print(text)
            else:
                Path(args.json).write_text(text)
    finally:
        if work_ctx is not None:
            work_ctx.cleanup()


if __name__ == "__main__":
    main()
