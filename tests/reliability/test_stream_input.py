"""Hostile stream input: every malformed line gets a located error, and nothing is written.

Covers what Python's ``json`` lets through or crashes on (huge integers, non-finite
numbers, deep nesting, lone surrogates), line breaks that are not ``\\n``, bytes that are
not UTF-8, the dataset loaders reading the same things, and numeric options of the
command line that must be usage errors before any work starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolvelab.cli import cli
from evolvelab.datasets import load_dataset
from evolvelab.errors import EvolveLabError, StreamError
from evolvelab.stream import EventRecord, QueryRecord, parse_stream, read_stream, write_stream
from evolvelab.types import Event

PIPELINE = """\
version: 1
name: hostile-stream
embedder: {type: none}
encode:
  - {type: turn}
store: {type: lancedb}
retrieve:
  - {type: bm25, k: 5}
"""


def event(id: str, content: str = "text", **extra: object) -> str:
    return json.dumps({"type": "event", "id": id, "content": content, **extra})


def only_problem(text: str) -> tuple[int | None, int | None, str]:
    """Parse ``text``, expect exactly one problem, return (line, col, message)."""
    with pytest.raises(StreamError) as caught:
        parse_stream(text, "s.jsonl")
    [problem] = caught.value.problems
    return problem.line, problem.col, problem.message


# --- numbers and nesting --------------------------------------------------------------

BAD_NUMBERS = {
    "5000-digit integer": ("1" * 5000, "integer out of range (must fit in 64 bits)"),
    "integer beyond 64 bits": ("9223372036854775808", "integer out of range (must fit in 64 bits)"),
    "negative beyond 64 bits": ("-9223372036854775809", "integer out of range"),
    "float overflow": ("1e999", "number out of range: 1e999"),
    "NaN": ("NaN", "NaN is not JSON"),
    "Infinity": ("-Infinity", "-Infinity is not JSON"),
}


@pytest.mark.parametrize("kind", list(BAD_NUMBERS))
def test_a_number_that_cannot_be_kept_is_a_located_json_error(kind: str) -> None:
    literal, message = BAD_NUMBERS[kind]
    line = '{"type": "event", "id": "e1", "content": "x", "metadata": {"n": ' + literal + "}}"
    number, col, text = only_problem(event("e0") + "\n" + line + "\n")
    assert (number, col) == (2, line.index(literal) + 1)
    assert text.startswith("invalid JSON: ") and message in text


def test_the_largest_64_bit_integers_are_kept() -> None:
    line = event("e1", metadata={"hi": 2**63 - 1, "lo": -(2**63), "tiny": 1e-400})
    [record] = parse_stream(line).records
    assert record.metadata == {"hi": 2**63 - 1, "lo": -(2**63), "tiny": 0.0}


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_deep_nesting_is_a_located_error_not_a_recursion_error(depth: int) -> None:
    prefix = '{"type": "event", "id": "e1", "content": "x", "metadata": '
    line = prefix + "[" * depth + "]" * depth + "}"
    number, col, text = only_problem(line)
    # the object is level 1 and the metadata's arrays start at level 2: level 65 is the 64th "["
    assert (number, col) == (1, len(prefix) + 64)
    assert text == "invalid JSON: nested deeper than 64 levels"


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:30"])
def test_a_time_beyond_the_utc_range_is_refused_before_it_poisons_a_store(time: str) -> None:
    """Stored in UTC it would be year 0 or 10000: written fine, then every search failed."""
    line = event("e1", timestamp=time)
    number, col, text = only_problem(line)
    assert (number, col) == (1, line.index(f'"{time}"') + 1)
    assert text == f"time out of range in UTC: {time}"
    with pytest.raises(ValueError, match="time out of range in UTC"):
        Event(id="e1", content="x", timestamp=time)


def test_the_extreme_times_that_fit_in_utc_are_kept() -> None:
    lines = [event("e1", timestamp="0001-01-01T00:00:00"), event("e2", timestamp="9999-12-31")]
    assert len(parse_stream("\n".join(lines)).records) == 2


# --- line breaks ----------------------------------------------------------------------


def test_unicode_line_separators_inside_strings_round_trip(tmp_path: Path) -> None:
    """write_stream output holding U+2028, U+2029, U+0085 (and friends) reads back the same."""
    texts = ["a\u2028b", "c\u2029d", "e\x85f", "g\x0bh\x0ci", "j\x1ck\x1dl\x1em", "lone\rcr"]
    records = [EventRecord(id=f"e{i}", content=text, speaker=text) for i, text in enumerate(texts)]
    path = tmp_path / "s.jsonl"
    write_stream(path, records)
    assert path.read_text(encoding="utf-8").count("\n") == len(records)
    assert read_stream(path).records == tuple(records)


def test_crlf_line_ends_are_line_ends() -> None:
    stream = parse_stream(event("e1") + "\r\n" + event("e2") + "\r\n\r\n")
    assert [r.id for r in stream.records] == ["e1", "e2"]


def test_a_line_holding_only_a_unicode_separator_is_an_error_not_a_blank() -> None:
    assert only_problem(event("e1") + "\n\u2028\n") == (2, 1, "invalid JSON: Expecting value")


# --- lone surrogates ------------------------------------------------------------------


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\udc00y", "\\ud83d\\u0041"])
def test_a_lone_surrogate_escape_is_a_located_error(escape: str) -> None:
    line = '{"type": "event", "id": "e1", "content": "' + escape + '"}'
    number, col, text = only_problem(event("e0") + "\n" + line)
    assert (number, col) == (2, line.index('"' + escape) + 1)
    assert "lone surrogate" in text and "not valid Unicode" in text


def test_escaped_surrogate_pairs_and_escaped_backslashes_are_fine() -> None:
    line = '{"type": "event", "id": "e1", "content": "\\ud83d\\ude00 \\\\ud800", "speaker": "\\u00e9"}'
    [record] = parse_stream(line).records
    assert record.content == "\U0001f600 \\ud800" and record.speaker == "\u00e9"


def test_a_lone_surrogate_in_a_key_or_metadata_is_found_too() -> None:
    line = '{"type": "event", "id": "e1", "content": "x", "metadata": {"\\udbff": 1}}'
    assert "lone surrogate \\udbff" in only_problem(line)[2]


def test_a_lone_surrogate_from_python_text_is_refused_before_any_write(tmp_path: Path) -> None:
    """The Python API too: an Event holding a lone surrogate never reaches a store."""
    with pytest.raises(ValueError, match="lone surrogate"):
        Event(id="e1", content="half a pair: \ud800")
    with pytest.raises(StreamError, match="lone surrogate"):
        parse_stream(event("e1") + "\n" + event("e2", content="raw \udc80") + "\n")


def test_run_with_a_lone_surrogate_writes_nothing_and_exits_2(tmp_path: Path) -> None:
    """Today's bug: one note was written, then exit 1. Now: exit 2, data folder untouched."""
    (tmp_path / "p.yaml").write_text(PIPELINE)
    stream = tmp_path / "s.jsonl"
    bad = '{"type": "event", "id": "e2", "content": "x\\ud800"}'
    stream.write_text(event("e1") + "\n" + bad + "\n", encoding="utf-8")
    data = tmp_path / "data"
    result = CliRunner().invoke(
        cli, ["run", str(tmp_path / "p.yaml"), "--stream", str(stream), "--data-dir", str(data),
              "--batch-size", "1"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"{stream}:2:" in result.output and "lone surrogate \\ud800" in result.output
    assert not data.exists()


# --- bytes that are not UTF-8 ---------------------------------------------------------


def test_binary_input_reports_each_bad_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    latin1 = '{"type": "event", "id": "e2", "speaker": "Zo\u00eb", "content": "caf\u00e9"}'
    path.write_bytes(
        event("e1").encode() + b"\n"
        + latin1.encode("latin-1") + b"\n"
        + event("e3", content="\u00e9t\u00e9", speaker="Zo\u00eb").encode() + b"\n"
        + b"\x89PNG\r\n\x1a\n\x00\x00\xff\n"
    )  # fmt: skip
    with pytest.raises(StreamError) as caught:
        read_stream(path)
    rows = [(p.line, p.col, p.message) for p in caught.value.problems]
    assert rows == [
        (2, latin1.index("\u00eb") + 1, "not UTF-8 text (byte 0xeb)"),  # the first bad byte
        (4, 1, "not UTF-8 text (byte 0x89)"),
        (5, 1, "invalid JSON: Expecting value"),
        (6, 3, "not UTF-8 text (byte 0xff)"),
    ]


def test_a_bom_is_still_ignored(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + event("e1").encode() + b"\n")
    assert [r.id for r in read_stream(path).records] == ["e1"]


# --- dataset loaders ------------------------------------------------------------------

LOCOMO_BAD = {
    "huge integer": (b'[{"sample_id": ' + b"9" * 5000 + b"}]", (1, 16), "integer out of range"),
    "deep nesting": (b"[\n" + b"[" * 100_000 + b"]" * 100_000 + b"\n]", (2, 64), "nested deeper"),
    "lone surrogate": (b'[\n {"sample_id": "\\udfff"}]', (2, 16), "lone surrogate \\udfff"),
    "NaN": (b'[{"x": NaN}]', (1, 8), "NaN is not JSON"),
    "binary": (b'[{"x": 1},\n {"y": "\xff"}]', (2, 9), "not UTF-8 text (byte 0xff)"),
}


@pytest.mark.parametrize("kind", list(LOCOMO_BAD))
def test_dataset_loaders_give_a_located_error_for_hostile_json(kind: str, tmp_path: Path) -> None:
    data, where, message = LOCOMO_BAD[kind]
    path = tmp_path / "locomo.json"
    path.write_bytes(data)
    with pytest.raises(StreamError) as caught:
        load_dataset("locomo", path)
    [problem] = caught.value.problems
    assert (problem.line, problem.col) == where and message in problem.message
    assert problem.message.startswith("cannot read LoCoMo JSON: ")


def test_goodai_definitions_give_a_located_error_too(tmp_path: Path) -> None:
    task = tmp_path / "definitions" / "Colours"
    task.mkdir(parents=True)
    (task / "0.def.json").write_text('{"script": ["a"],\n "waits": [1e999]}')
    with pytest.raises(StreamError) as caught:
        load_dataset("goodai", tmp_path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.col) == ("Colours/0.def.json", 2, 12)
    assert problem.message == "cannot read definition: number out of range: 1e999"


# --- numeric options ------------------------------------------------------------------

ZERO_OPTIONS = [
    ["run", "p.yaml", "--sample", "-k", "0"],
    ["run", "p.yaml", "--sample", "--batch-size", "0"],
    ["run", "p.yaml", "--sample", "--batch-size", "-3"],
    ["run", "p.yaml", "--sample", "--show", "-1"],
    ["search", "p.yaml", "hello", "-k", "0"],
    ["eval", "p.yaml", "--dataset", "jsonl", "--data", "s.jsonl", "--batch-size", "0"],
    ["eval", "p.yaml", "--dataset", "jsonl", "--data", "s.jsonl", "--k", "0"],
    ["eval", "p.yaml", "--dataset", "jsonl", "--data", "s.jsonl", "--limit", "0"],
    ["eval", "p.yaml", "--dataset", "jsonl", "--data", "s.jsonl", "--qa-notes", "0"],
    ["evolve", "spec.yaml", "--trials", "0"],
    ["evolve", "spec.yaml", "--workers", "0"],
    ["evolve", "spec.yaml", "--seed", "-1"],
]


@pytest.mark.parametrize("args", ZERO_OPTIONS, ids=lambda a: " ".join(a[:1] + a[-2:]))
def test_out_of_range_numeric_options_are_usage_errors_before_any_work(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-k 0 and --batch-size 0 used to fail with a traceback after the whole ingest."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PIPELINE)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for" in result.output
    assert not (tmp_path / ".evolvelab").exists()


@pytest.mark.parametrize(
    "args", [["search", "p.yaml", "caf\udce9"], ["search", "p.yaml", "x", "--user", "\udcff"]]
)
def test_arguments_that_are_not_utf8_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    """A terminal hands Python undecodable bytes as lone surrogates; they never reach a store."""
    (tmp_path / "p.yaml").write_text(PIPELINE)
    result = CliRunner().invoke(cli, [args[0], str(tmp_path / "p.yaml"), *args[2:]])
    assert result.exit_code == 2 and "not valid UTF-8 text" in result.output


def test_the_real_command_line_refuses_k_0_with_exit_2(tmp_path: Path) -> None:
    """The installed entry point, not just click's test runner: usage error, no traceback."""
    (tmp_path / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "EVOLVELAB_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, "-m", "evolvelab", "run", "p.yaml", "--sample", "-k", "0"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "Invalid value for '-k'" in result.stderr


def test_event_batches_still_refuse_a_zero_size_from_python() -> None:
    stream = parse_stream(event("e1"))
    with pytest.raises(EvolveLabError, match="at least 1"):
        list(stream.event_batches(0))


def test_query_records_are_not_affected_by_the_number_rules() -> None:
    line = json.dumps({"type": "query", "id": "q", "text": "?", "evidence": []})
    assert parse_stream(line).records == (QueryRecord(id="q", text="?", evidence=[]),)


@pytest.mark.parametrize(
    ("args", "code"),
    [(["run", "p.yaml", "--sample", "--json", "out"], 2), (["schema", "-o", "out"], 1)],
)
def test_an_output_path_that_is_a_directory_is_an_error_not_a_traceback(
    args: list[str], code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / "out").mkdir()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, result.output
    assert "is a directory" in result.output.lower() and result.exception is not None
    assert not isinstance(result.exception, OSError)  # rendered, not raised
    assert not (tmp_path / ".evolvelab").exists()


def test_the_halumem_loader_reads_lines_by_the_same_rules(tmp_path: Path) -> None:
    """One user per line: huge numbers, bad bytes and U+2028 inside strings handled like a stream."""
    path = tmp_path / "halumem.jsonl"
    path.write_bytes(
        b'{"uuid": "u1", "sessions": [], "note": "a\xe2\x80\xa8b"}\n'  # U+2028 inside a string
        b'{"uuid": "u2", "sessions": [], "n": 1e999}\n'
        b'{"uuid": "\xff"}\n'
    )
    with pytest.raises(StreamError) as caught:
        load_dataset("halumem", path)
    rows = [(p.line, p.col, p.message) for p in caught.value.problems]
    assert rows == [
        (2, 37, "invalid JSON: number out of range: 1e999"),
        (3, 11, "not UTF-8 text (byte 0xff)"),
    ]
