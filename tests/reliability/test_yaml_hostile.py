"""Hostile YAML: every malformed pipeline or evolve spec gets a located error, exit 2.

Each case below used to end in a traceback (ConstructorError, ValueError, RecursionError,
UnicodeDecodeError...), a silent surprise (``!!binary`` turned into text,
``!!python/object`` ignored), or a MemoryError after minutes (the billion-laughs file).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolvelab import _compose
from evolvelab.cli import cli
from evolvelab.errors import ConfigError
from evolvelab.located import MAX_BYTES, MAX_DEPTH
from evolvelab.loader import load_pipeline, parse_yaml, validate_pipeline
from evolvelab.registry import Registry
from evolvelab.search.specfile import load_spec

HEAD = "version: 1\nname: hostile\n"
BODY = """\
embedder: {type: hashing, dim: 32}
encode: [{type: turn}]
store: {type: memory}
retrieve: [{type: bm25, k: 5}]
"""


def laughs(levels: int = 9, width: int = 9) -> str:
    """The billion-laughs file: ``width ** levels`` values from a few hundred bytes."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return HEAD + BODY + "\n".join(lines) + "\n"


# name -> (file text or bytes, where the problem is (line, col), words in the message)
CASES: dict[str, tuple[str | bytes, tuple[int, int], str]] = {
    "local tag": (HEAD.replace("hostile", "!foo hostile") + BODY, (2, 7), "tag !foo"),
    "python name": (HEAD + "description: !!python/name:os.system\n" + BODY, (3, 14), "!!python/name"),
    "python object": (
        HEAD + "description: !!python/object/apply:os.system [ls]\n" + BODY, (3, 14), "not supported"
    ),
    "binary in a string field": (HEAD + "description: !!binary aGVsbG8=\n" + BODY, (3, 14), "!!binary"),
    "set": (HEAD + "description: !!set {a, b}\n" + BODY, (3, 14), "!!set"),
    "impossible date": (HEAD + "description: 2023-02-30\n" + BODY, (3, 14), "not a valid date"),
    "impossible time": (HEAD + "description: 2023-01-01 25:61:00\n" + BODY, (3, 14), "date"),
    "bad explicit int": (HEAD + BODY.replace("k: 5", "k: !!int five"), (6, 28), "not an integer"),
    "bad explicit bool": (HEAD + "description: !!bool maybe\n" + BODY, (3, 14), "not a boolean"),
    "empty explicit float": (HEAD + "description: !!float ''\n" + BODY, (3, 14), "not a number"),
    "huge integer": (HEAD + BODY.replace("k: 5", "k: " + "9" * 5000), (6, 28), "too large"),
    "integer over 64 bits": (HEAD + BODY.replace("k: 5", "k: 9223372036854775808"), (6, 28), "64 bits"),
    "huge hex integer": (HEAD + BODY.replace("k: 5", "k: 0x" + "f" * 4000), (6, 28), "too large"),
    "float overflow": (HEAD + "description: 1.0e+999\n" + BODY, (3, 14), "too large"),
    "merge of a scalar": (HEAD + BODY + "graph:\n  <<: 3\n", (8, 7), "merge key"),
    "two merge keys": (
        HEAD + BODY + "defaults: &d {type: memory}\ngraph: {<<: *d, <<: *d}\n", (8, 17), "one merge key"
    ),
    "recursive alias": (HEAD + BODY + "graph: &g {type: memory, x: *g}\n", (7, 29), "recursive alias"),
    "recursive list alias": (HEAD + BODY + "manage: &m [*m]\n", (7, 13), "recursive alias"),
    "deep nesting": (HEAD + BODY + "manage: " + "[" * 40 + "]" * 40 + "\n", (7, 0), "deeper"),
    "very deep nesting": (HEAD + BODY + "manage: " + "[" * 100_000 + "]" * 100_000 + "\n", (7, 0), "nest"),
    "deep block nesting": (
        HEAD + BODY + "manage:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), (7 + MAX_DEPTH, 2 * MAX_DEPTH + 1), "deeper"
    ),
    "billion laughs": (laughs(), (12, 10), "refused without expanding"),
    "too many values": (HEAD + BODY + "manage: [" + "1, " * 20_000 + "]\n", (7, 0), "more than 10,000 values"),
    "deep alias chain": (
        HEAD + BODY + "a0: &a0 [x]\n" + "".join(
            f"a{i}: &a{i} " + "[" * 20 + f"*a{i - 1}" + "]" * 20 + "\n" for i in range(1, 6)
        ), (12, 29), "aliases nest"),  # fmt: skip
    "empty file": ("", (1, 1), "the file is empty"),
    "only comments": ("# nothing here\n\n", (1, 1), "the file is empty"),
    "null document": ("~\n", (1, 1), "must be a mapping"),
    "two documents": (HEAD + BODY + "---\nname: again\n", (7, 1), "second document"),
    "NUL character": (HEAD + "description: a\x00b\n" + BODY, (3, 15), "U+0000"),
    "lone surrogate escape": (HEAD + 'description: "\\ud800"\n' + BODY, (3, 0), "surrogate|escape code"),
    "non-UTF-8 bytes": ((HEAD + "description: caf").encode() + b"\xe9\n" + BODY.encode(), (3, 17), "not UTF-8"),
    "UTF-16 file": ((HEAD + BODY).encode("utf-16"), (1, 1), "UTF-16"),
    "null key": (HEAD + BODY + "~: 1\n", (7, 1), "key is empty or null"),
    "complex key": (HEAD + BODY + "? [a, b]\n: 1\n", (7, 3), "plain scalars"),
    "tagged mapping": (HEAD + BODY + "graph: !!str {type: memory}\n", (7, 8), "cannot tag a mapping"),
    "too large": (HEAD + BODY + "description: '" + "x" * MAX_BYTES + "'\n", (0, 0), "larger than"),
}


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Read with libyaml's parser (when installed) and with PyYAML's pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(_compose, "_PARSER", _compose._PyParser)
    elif _compose._PARSER is _compose._PyParser:
        pytest.skip("libyaml is not installed")
    return str(request.param)


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_hostile_pipeline_gets_a_located_error(
    case: str, parser: str, tmp_path: Path, registry: Registry
) -> None:
    text, (line, col), words = CASES[case]
    with pytest.raises(ConfigError) as err:
        load_pipeline(_write(tmp_path, text), registry)
    rendered = err.value.render()
    hit = next((p for p in err.value.problems if any(w in p.render() for w in words.split("|"))), None)
    assert hit is not None, rendered
    if line:
        assert hit.line == line and (hit.col == col or not col), rendered


def test_every_hostile_file_exits_2_on_the_command_line(
    tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """Every hostile YAML case through `evolvelab validate` and `evolvelab evolve`."""
    for case, (text, _, words) in CASES.items():
        path = _write(tmp_path, text)
        for command in (["validate", str(path)], ["evolve", str(path), "--out", str(tmp_path / "o")]):
            result = CliRunner().invoke(cli, command)
            assert result.exit_code == 2, (case, command[0], result.output, result.exception)
            assert "Traceback" not in result.output
            if command[0] == "validate":
                assert any(w in result.output for w in words.split("|")), (case, result.output)
    tally(2 * len(CASES), "hostile YAML files (validate + evolve)")


def test_billion_laughs_is_refused_in_well_under_a_second(parser: str, tmp_path: Path) -> None:
    path = _write(tmp_path, laughs())
    seconds = []
    for _ in range(5):
        started = time.perf_counter()
        with pytest.raises(ConfigError, match="refused without expanding"):
            load_pipeline(path)
        seconds.append(time.perf_counter() - started)
    assert sorted(seconds)[2] < 0.25, seconds


def test_hostile_evolve_spec_gets_a_located_error(tmp_path: Path, registry: Registry) -> None:
    spec = tmp_path / "spec.yaml"
    for text, words in (
        ("version: 1\nname: s\nbase: !!python/name:os.system\n", "!!python/name"),
        ("version: 1\nname: s\nbase: [a.yaml]\ntrials: " + "9" * 5000 + "\n", "too large"),
        ("version: 1\nname: s\nbase: &b [*b]\n", "recursive alias"),
        ("", "the file is empty; an evolve spec needs"),
    ):
        spec.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load_spec(spec, registry)
        assert words in err.value.render()
        assert all(p.line is not None for p in err.value.problems), err.value.render()


def test_merge_keys_are_supported(registry: Registry) -> None:
    text = HEAD + BODY.replace("retrieve: [{type: bm25, k: 5}]", "") + (
        "defaults: &d {type: bm25, k: 7}\n"
        "more: &m {k: 99, type: vector}\n"
        "retrieve:\n"
        "  - {<<: [*d, *m], k: 3}\n"
        "  - <<: *d\n"
    )
    located = parse_yaml(text, file="m.yaml")
    assert located.data["retrieve"] == [{"type": "bm25", "k": 3}, {"type": "bm25", "k": 7}]
    located.data.pop("defaults"), located.data.pop("more")
    spec = validate_pipeline(located, registry)
    assert [r.k for r in spec.retrieve] == [3, 7]  # type: ignore[attr-defined]
    assert located.values[("retrieve", 1, "k")] == (7, 30)  # where the merged value is written


def test_plain_yaml_still_reads_as_before(registry: Registry) -> None:
    text = HEAD + "description: 'quoted: fine'\n" + BODY.replace("k: 5", "k: 0x10") + (
        "manage: []\n"
    )
    located = parse_yaml(text, file="ok.yaml")
    assert located.problems == []
    spec = validate_pipeline(located, registry)
    assert spec.retrieve[0].k == 16  # type: ignore[attr-defined]
    assert parse_yaml("a: 2024-02-29\nb: .inf\nc: yes\n").data["c"] is True
