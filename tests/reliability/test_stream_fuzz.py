"""Property-based fuzzing of the stream reader: any input gives a result or a located error.

Whatever bytes or text a stream file holds, :func:`read_stream` and :func:`parse_stream`
return a :class:`Stream` or raise a :class:`StreamError` whose every problem names a line
and column; never another exception. And what :func:`write_stream` writes, whatever the
text in it, reads back as the same records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evolvelab.errors import StreamError
from evolvelab.stream import (
    EventRecord,
    OutcomeRecord,
    QueryRecord,
    Stream,
    StreamHeader,
    dump_stream,
    parse_stream,
    read_stream,
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# every code point, lone surrogates included (hypothesis leaves them out by default)
ANY_CHAR = st.characters(codec=None, exclude_categories=())
TRICKY_CHARS = st.sampled_from(
    list('{}[]:,"\\ \t\r\n') + ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x00",
     "\ud800", "\udfff", "\ufeff", "\u00e9", "\U0001f600", "\\u", "\\ud800", "1e999", "NaN"]
)  # fmt: skip
LINE_BREAKS = st.sampled_from(["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\n\n"])

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=ANY_CHAR, max_size=20),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(alphabet=ANY_CHAR, max_size=8), inner, max_size=4),
    ),
    max_leaves=6,
)
FIELDS = ["type", "id", "content", "speaker", "timestamp", "session_id", "kind", "metadata",
          "user_id", "agent_id", "text", "at", "evidence", "answer", "category", "distractor",
          "query_id", "success", "score", "used_ids", "detail", "name", "version", "bogus"]  # fmt: skip
TYPES = st.sampled_from(["stream", "event", "query", "outcome", "evnt", "", None, 1, ["event"]])
FIELD_VALUES = st.one_of(
    JSON_VALUES,
    st.sampled_from(["e1", "e2", "q1", "2024-01-02T03:04:05", "yesterday", "ana", True, 1.5]),
    st.lists(st.sampled_from(["e1", "e2", "zz", 3]), max_size=3),
)
ANY_RECORD = st.fixed_dictionaries(
    {"type": TYPES},
    optional={name: FIELD_VALUES for name in FIELDS if name != "type"},
)
HOSTILE_TEXT = st.lists(st.one_of(ANY_CHAR, TRICKY_CHARS), min_size=1, max_size=12).map("".join)
SIMPLE_IDS = st.sampled_from(["e1", "e2", "e3", "q1", "q2"])
USERS = st.sampled_from(["ana", "bo", None])
NEAR_VALID = st.one_of(  # required fields right, hostile values where they can hide
    st.fixed_dictionaries(
        {"type": st.just("event"), "id": SIMPLE_IDS, "content": HOSTILE_TEXT},
        optional={"speaker": HOSTILE_TEXT, "user_id": USERS, "session_id": HOSTILE_TEXT,
                  "metadata": st.dictionaries(HOSTILE_TEXT, SCALARS, max_size=3),
                  "timestamp": st.sampled_from(["2024-02-29", "2023-02-29", "1e999", 7])},
    ),
    st.fixed_dictionaries(
        {"type": st.just("query"), "id": SIMPLE_IDS, "text": HOSTILE_TEXT},
        optional={"user_id": USERS, "evidence": st.lists(SIMPLE_IDS | HOSTILE_TEXT, max_size=3),
                  "answer": HOSTILE_TEXT, "category": HOSTILE_TEXT},
    ),
    st.fixed_dictionaries(
        {"type": st.just("outcome"), "query_id": SIMPLE_IDS, "success": st.booleans()},
        optional={"score": SCALARS, "used_ids": st.lists(HOSTILE_TEXT, max_size=2),
                  "detail": HOSTILE_TEXT},
    ),
)  # fmt: skip
RECORD_LIKE = st.one_of(ANY_RECORD, NEAR_VALID, NEAR_VALID)


def dumps(data: object, ascii_only: bool) -> str:
    """Serialise like a careless writer would: NaN allowed, surrogates passed through."""
    return json.dumps(data, ensure_ascii=ascii_only, allow_nan=True)


@st.composite
def record_lines(draw: st.DrawFn) -> str:
    """A stream of record-shaped lines, sometimes mutated, joined by assorted line breaks."""
    parts = []
    for data in draw(st.lists(RECORD_LIKE, max_size=4)):
        text = dumps(data, draw(st.booleans()))
        if text and draw(st.booleans()):  # mutate: insert, delete or replace a character
            at = draw(st.integers(0, len(text) - 1))
            op = draw(st.sampled_from(["insert", "delete", "replace"]))
            char = draw(st.one_of(TRICKY_CHARS, ANY_CHAR))
            rest = text[at:] if op == "insert" else text[at + 1 :]
            text = text[:at] + ("" if op == "delete" else char) + rest
        parts.append(text + draw(LINE_BREAKS))
    return "".join(parts)


def assert_result_or_located_error(read: Callable[[], Stream]) -> str:
    """Run ``read``; it must return a Stream or raise a StreamError located at line:col."""
    try:
        stream = read()
    except StreamError as err:
        assert err.problems
        for problem in err.problems:
            assert problem.line is not None and problem.line >= 1, problem
            assert problem.col is not None and problem.col >= 1, problem
        err.render()
        return "error"
    assert isinstance(stream, Stream)
    assert_storable(dump_stream([*([stream.header] if stream.header else []), *stream.records]))
    return "stream"


def _no_constant(name: str) -> object:
    raise AssertionError(f"{name} was accepted")


def _int64(literal: str) -> int:
    value = int(literal)
    assert -(2**63) <= value < 2**63, f"integer {literal} was accepted"
    return value


def assert_storable(text: str) -> None:
    """What the reader accepted can be written anywhere: UTF-8, finite numbers, 64-bit ints."""
    text.encode("utf-8")  # raises on a lone surrogate
    for line in text.split("\n")[:-1]:
        json.loads(line, parse_constant=_no_constant, parse_int=_int64)


def test_any_text_parses_or_fails_with_located_problems(tally: Callable[[int, str], None]) -> None:
    """Any text (lone surrogates, control and separator characters included) → result or located StreamError."""
    count = 0

    @FUZZ
    @given(st.lists(st.one_of(ANY_CHAR, TRICKY_CHARS), max_size=200).map("".join))
    def check(text: str) -> None:
        nonlocal count
        count += 1
        assert_result_or_located_error(lambda: parse_stream(text, "fuzz.jsonl"))

    check()
    tally(count, "random texts")


@pytest.mark.slow
def test_record_shaped_lines_parse_or_fail_with_located_problems(tally: Callable[[int, str], None]) -> None:
    """Record-shaped JSON lines, wrong types, huge numbers, mutations → result or located StreamError."""
    count, outcomes = 0, {"stream": 0, "error": 0}

    @FUZZ
    @given(record_lines())
    def check(text: str) -> None:
        nonlocal count
        count += 1
        outcomes[assert_result_or_located_error(lambda: parse_stream(text, "fuzz.jsonl"))] += 1

    check()
    tally(count, "generated streams")
    assert outcomes["stream"] > 0 and outcomes["error"] > 0  # both paths were exercised


@pytest.mark.slow
def test_any_file_bytes_read_or_fail_with_located_problems(
    tally: Callable[[int, str], None], tmp_path: Path
) -> None:
    """Any file bytes (binary, broken UTF-8, BOMs, NULs) → result or located StreamError."""
    count = 0
    path = tmp_path / "fuzz.jsonl"
    mixed = st.one_of(
        st.binary(max_size=300),
        record_lines().map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.tuples(record_lines(), st.binary(max_size=8)).map(
            lambda pair: pair[0].encode("utf-8", "surrogatepass") + pair[1]
        ),
    )

    @settings(FUZZ, suppress_health_check=[*FUZZ.suppress_health_check,
                                           HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(mixed)
    def check(data: bytes) -> None:
        nonlocal count
        count += 1
        path.write_bytes(data)
        assert_result_or_located_error(lambda: read_stream(path))

    check()
    tally(count, "random files")


TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)  # any valid Unicode
IDS = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)
EVENTS = st.builds(
    EventRecord,
    id=IDS,
    content=TEXT,
    speaker=st.none() | TEXT,
    session_id=st.none() | TEXT,
    user_id=st.none() | TEXT,
    metadata=st.dictionaries(TEXT, st.one_of(
        st.none(), st.booleans(), TEXT, st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
    ), max_size=3),
)  # fmt: skip
QUERIES = st.builds(QueryRecord, id=IDS, text=IDS, answer=st.none() | TEXT, category=st.none() | TEXT)
OUTCOMES = st.builds(OutcomeRecord, query_id=IDS, success=st.booleans(), detail=TEXT,
                     score=st.none() | st.floats(allow_nan=False, allow_infinity=False))  # fmt: skip


@pytest.mark.slow
def test_whatever_write_stream_writes_reads_back_the_same(tally: Callable[[int, str], None]) -> None:
    """dump_stream → parse_stream round trip for records with any valid Unicode text (U+2028 etc.)."""
    count = 0

    @FUZZ
    @given(
        st.none() | st.builds(StreamHeader, name=IDS, description=TEXT),
        st.lists(st.one_of(EVENTS, QUERIES, OUTCOMES), max_size=6, unique_by=lambda r: (
            r.type, getattr(r, "id", None), getattr(r, "user_id", None))),
    )  # fmt: skip
    def check(header: StreamHeader | None, records: list[EventRecord | QueryRecord | OutcomeRecord]) -> None:
        nonlocal count
        count += 1
        queries = [r.id for r in records if isinstance(r, QueryRecord)]
        if len(queries) != len(set(queries)):  # query ids are unique per stream, not per scope
            return
        text = dump_stream([*([header] if header else []), *records])
        stream = parse_stream(text, "round-trip.jsonl")
        assert stream.header == header
        assert stream.records == tuple(records)

    check()
    tally(count, "written streams")
