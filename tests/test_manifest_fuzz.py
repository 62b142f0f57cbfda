"""Fuzz of the manifest loader: whatever a manifest holds, `validate` either accepts it
or reports `path: location: message` lines; no other exception ever escapes.

Manifests are the corpus's valid one with random mutations (values replaced by wrong
types, extreme numbers, nan/inf and arbitrary unicode; keys added with random names;
keys removed), written as TOML beside two tiny real sources, then loaded and planned the
way `masterbuild validate` does. Derandomized and bounded so CI sees the same examples.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masterbuild.errors import ManifestErrors, MasterbuildError
from masterbuild.manifest.load import load_album
from masterbuild.plan import plan_album
from tests.albums import tone_mix, write_mix

VALID = Path(__file__).parent / "corpus" / "manifests" / "valid.toml"
LINE = re.compile(r"^[^:\n]+: [^:\n]+: .+$")

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# --- TOML out: every key quoted, every value inline, any string escaped ----------------


def toml_str(s: str) -> str:
    body = "".join(
        c if 0x20 <= ord(c) != 0x7F and c not in '"\\' else f"\\u{ord(c):04x}" for c in s
    )
    return f'"{body}"'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(i) for i in v) + "]"
    return "{ " + ", ".join(f"{toml_str(k)} = {toml_value(i)}" for k, i in v.items()) + " }"


def to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{toml_str(k)} = {toml_value(v)}\n" for k, v in doc.items())


# --- mutations ---------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
KEYS = TEXT | st.sampled_from(["kind", "id", "source", "codec", "name", "mode", "schema"])
SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([0, 1, -1, 7, 16, 24, 32, 44100, 48000, 384000, 2**31, 2**63 - 1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan])
    | TEXT
    | st.sampled_from(
        [
            "",
            "mixes/a.wav",
            "../a.wav",
            "/etc/passwd",
            "mixes",
            "a" * 300,
            "mixes/a\x00.wav",
            "{n}{title}{x",
            "{title}",
            "wav",
            "mp3",
            "opus",
            "ogg",
            "shaped",
            "album",
            "V0",
            "eq",
            "limiter",
            "vinyl",
            "cd",
            "USABC2600001",
            "036000241457",
            "2026-13-45",
            "a\u2028b",
        ]
    )
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)


def containers(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every table and array in the document, the root included."""
    out = [path]
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        if isinstance(v, (dict, list)):
            out += containers(v, (*path, k))
    return out


def leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every scalar in the document."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        out += leaves(v, (*path, k)) if isinstance(v, (dict, list)) else [(*path, k)]
    return out


def same_kind(value: Any) -> st.SearchStrategy[Any]:
    """Another value of the type a key holds: extremes and nonsense that still parse."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, -1, 1, 8000, 10**9])
    if isinstance(value, float):
        return st.floats() | st.sampled_from([0.0, -1.0, 1e-9, 60.0, 1e300])
    return SCALARS.filter(lambda v: isinstance(v, str))


def at(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    doc = tomllib.loads(VALID.read_text(encoding="utf-8"))
    doc["formats"]["cd"] = {"codec": "wav", "sample_rate": 44100, "bit_depth": 16}
    doc["tracks"][0].update(fade={"in_s": 0.1, "shape": "log"}, trim={"start_s": 0.0})
    doc["master"]["chain"].append({"kind": "eq", "bands": [{"type": "bell", "freq_hz": 1e3}]})
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):  # a value of the right type, but extreme or nonsense
            path = draw(st.sampled_from(leaves(doc)))
            at(doc, path[:-1])[path[-1]] = draw(same_kind(at(doc, path)))
            continue
        node = at(doc, draw(st.sampled_from(containers(doc))))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = draw(st.sampled_from(["replace", "replace", "add", "delete"]))
        if action == "add" or not keys:
            if isinstance(node, dict):
                node[draw(KEYS)] = draw(VALUES)
            else:
                node.append(draw(VALUES))
        elif action == "replace":
            node[draw(st.sampled_from(keys))] = draw(VALUES)
        else:
            del node[draw(st.sampled_from(keys))]
    return doc


# --- the property ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def album(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "album"
    write_mix(folder / "mixes/a.wav", tone_mix(0.5, 440, -8, 0), subtype="PCM_16")
    write_mix(folder / "mixes/b.wav", tone_mix(0.5, 330, -8, 1), subtype="PCM_16")
    return folder


def validate(text: str | bytes, album: Path) -> None:
    """Load and plan as `masterbuild validate` does; assert the error contract."""
    toml = album / "album.toml"
    if isinstance(text, bytes):
        toml.write_bytes(text)
    else:
        toml.write_text(text, encoding="utf-8")
    try:
        plan_album(load_album(album))
    except ManifestErrors as exc:
        assert exc.problems
        lines = [str(MasterbuildError(p.path, p.location, p.message)) for p in exc.problems]
        assert str(exc).splitlines() == lines  # one line per problem, no line breaks inside
        check_lines(lines, toml)
    except MasterbuildError as exc:
        assert isinstance(exc.location, str)
        check_lines(str(exc).splitlines(), toml)


def check_lines(lines: list[str], toml: Path) -> None:
    assert lines
    for line in lines:
        assert LINE.match(line), line
        assert line.startswith(f"{toml}: "), line


def test_fuzz_generator_starts_from_a_valid_manifest(album):
    validate(VALID.read_text(encoding="utf-8"), album)
    load_album(album)  # the unmutated corpus manifest loads


@FUZZ
@given(doc=manifests())
def test_mutated_manifests_load_or_fail_in_clear_lines(album, doc):
    validate(to_toml(doc), album)


@FUZZ
@given(data=st.data())
def test_damaged_manifest_text_loads_or_fails_in_clear_lines(album, data):
    """Truncated, spliced or byte-flipped manifest text: TOML and UTF-8 errors too."""
    raw = VALID.read_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    how = data.draw(st.sampled_from(["truncate", "insert", "flip"]))
    if how == "truncate":
        raw = raw[:cut]
    elif how == "insert":
        raw = raw[:cut] + data.draw(st.binary(max_size=12)) + raw[cut:]
    else:
        raw = raw[:cut] + bytes([data.draw(st.integers(0, 255))]) + raw[cut + 1 :]
    validate(raw, album)
