"""The JSONL stream format: records, whole-file validation, scopes, and the format reference."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evolvelab.errors import StreamError
from evolvelab.stream import (
    EventRecord,
    OutcomeRecord,
    QueryRecord,
    Stream,
    StreamHeader,
    parse_stream,
    read_stream,
    write_stream,
)
from evolvelab.types import Event, Scope

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "streams.md"


def line(**fields: object) -> str:
    return json.dumps(fields)


def event(id: str, user: str | None = "ana", **extra: object) -> str:
    return line(type="event", id=id, content=f"text of {id}", user_id=user, **extra)


def problems(text: str) -> list[tuple[int | None, int | None, str, str]]:
    """Parse ``text``, expect a StreamError, and return (line, col, path, message) rows."""
    with pytest.raises(StreamError) as caught:
        parse_stream(text, "s.jsonl")
    return [(p.line, p.col, ".".join(map(str, p.path)), p.message) for p in caught.value.problems]


# --- round trip -----------------------------------------------------------------------


def test_written_records_read_back_equal_and_rewrite_byte_for_byte(tmp_path: Path) -> None:
    records = [
        StreamHeader(name="t", description="round trip"),
        EventRecord(id="e1", content="I moved to Bristol.", speaker="Ana", session_id="s1",
                    timestamp="2023-05-21T12:10:00+01:00", metadata={"caption": "boxes", "n": 2},
                    user_id="ana"),  # fmt: skip
        EventRecord(id="e1", content="Same id, other agent.", kind="tool", user_id="ana",
                    agent_id="helper"),  # fmt: skip
        QueryRecord(id="q1", text="Where does Ana live?", user_id="ana", at="2023-06-01",
                    evidence=["e1"], answer="Bristol", category="single-hop"),  # fmt: skip
        QueryRecord(id="q2", text="Unanswerable?", user_id="ana", evidence=[]),
        OutcomeRecord(query_id="q1", success=True, score=0.5, used_ids=["n_1"], user_id="ana"),
    ]
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_stream(first, records)
    stream = read_stream(first)
    assert stream.header == records[0]
    assert list(stream.records) == records[1:]
    assert stream.warnings == ()
    write_stream(second, [stream.header, *stream.records])
    assert first.read_bytes() == second.read_bytes()


def test_writer_leaves_out_defaults_but_keeps_an_empty_evidence_list(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    write_stream(path, [EventRecord(id="e1", content="hi"), QueryRecord(id="q", text="?",
                                                                        evidence=[])])
    first, second = (json.loads(row) for row in path.read_text().splitlines())
    assert first == {"type": "event", "id": "e1", "content": "hi"}
    assert second == {"type": "query", "id": "q", "text": "?", "evidence": []}


def test_records_convert_to_the_core_types() -> None:
    stream = parse_stream("\n".join([
        event("e1", speaker="Ana", timestamp="2023-01-14T10:05:00", session_id="s1",
              metadata={"caption": "a cat"}, agent_id="bot"),
        line(type="query", id="q1", text="Who?", user_id="ana", agent_id="bot", at="2023-02-01"),
        line(type="outcome", query_id="q1", success=False, score=0.25, user_id="ana", detail="x"),
    ]))  # fmt: skip
    [record], [query], [outcome] = stream.events, stream.queries, stream.outcomes
    assert record.to_event() == Event(
        id="e1", content="text of e1", speaker="Ana", session_id="s1",
        metadata={"caption": "a cat"}, timestamp=datetime(2023, 1, 14, 10, 5, tzinfo=UTC),
    )  # fmt: skip
    assert record.scope() == Scope(user_id="ana", agent_id="bot")
    asked = query.to_query(k=5)
    assert (asked.text, asked.k, asked.scope, asked.at) == (
        "Who?", 5, Scope(user_id="ana", agent_id="bot"), datetime(2023, 2, 1, tzinfo=UTC)
    )  # fmt: skip
    result = outcome.to_outcome()
    assert (result.task_id, result.success, result.score, result.detail) == ("q1", False, 0.25, "x")
    assert result.scope == Scope(user_id="ana")
    assert EventRecord.from_event(record.to_event(), record.scope()) == record


def test_header_is_optional_and_blank_lines_and_a_bom_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text("\ufeff" + event("e1") + "\n\n   \n" + event("e2") + "\n", encoding="utf-8")
    stream = read_stream(path)
    assert stream.header is None
    assert [e.id for e in stream.events] == ["e1", "e2"]
    assert stream.source == str(path)


# --- malformed lines ------------------------------------------------------------------

GOOD = event("e0")

# kind: (the bad line, where its column points, path, message)
MALFORMED = {  # noqa: E501 - a table reads better unwrapped
    "invalid JSON": ('{"type": "event", "id": "e1",, "content": "x"}', ', "content"', "", "invalid JSON: Expecting property name enclosed in double quotes"),
    "not an object": ("[1, 2]", "[", "", "expected a JSON object"),
    "missing type": ('{"id": "e1", "content": "x"}', "{", "type", "missing 'type'"),
    "unknown type": ('{"type": "evnt", "id": "e1"}', '"evnt"', "type", "unknown record type 'evnt'"),
    "unknown field": ('{"type": "event", "id": "e1", "content": "x", "contnt": "y"}', '"contnt"', "contnt", "unknown field for record type 'event'"),
    "missing field": ('{"type": "event", "id": "e1"}', "{", "content", "required for record type 'event'"),
    "wrong value type": ('{"type": "event", "id": 7, "content": "x"}', "7", "id", "input should be a valid string"),
    "no coercion": ('{"type": "outcome", "query_id": "q", "success": "true"}', '"true"', "success", "input should be a valid boolean"),
    "bad time": ('{"type": "event", "id": "e1", "content": "x", "timestamp": "tuesday"}', '"tuesday"', "timestamp", "not an ISO-8601 time: 'tuesday'"),
    "nested metadata": ('{"type": "event", "id": "e1", "content": "x", "metadata": {"k": [1]}}', "[1]", "metadata.k", "metadata values must be a string, number, bool or null"),
    "bad list item": ('{"type": "query", "id": "q", "text": "?", "evidence": ["a", 5]}', "5]", "evidence.1", "input should be a valid string"),
    "repeated key": ('{"type": "event", "id": "e1", "content": "x", "id": "e2"}', '"id": "e2"', "id", "duplicate key (JSON keeps the last)"),
    "late header": ('{"type": "stream", "name": "late"}', '"stream"', "type", "the header must be the first line"),
    "duplicate event id": (event("e0"), '"e0"', "id", "duplicate event id 'e0' in scope user_id='ana'"),
    "duplicate query id": ('{"type": "query", "id": "q0", "text": "again"}', '"q0"', "id", "duplicate query id 'q0' in the stream"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_each_kind_of_malformed_line_is_reported_with_its_line_and_column(kind: str) -> None:
    bad, at, path, message = MALFORMED[kind]
    text = "\n".join([GOOD, line(type="query", id="q0", text="?"), bad, event("e9")])
    assert problems(text) == [(3, bad.index(at) + 1, path, message)]


def test_every_bad_line_is_reported_at_once_in_line_order() -> None:
    rows = [GOOD, line(type="query", id="q0", text="?")]
    rows += [bad for bad, *_ in MALFORMED.values()]
    found = problems("\n".join(rows))
    assert [number for number, *_ in found] == list(range(3, 3 + len(MALFORMED)))
    assert [message for *_, message in found] == [m for *_, m in MALFORMED.values()]


def test_unknown_names_come_with_what_is_allowed_and_a_suggestion() -> None:
    with pytest.raises(StreamError) as caught:
        parse_stream("\n".join([
            '{"type": "qeury", "id": "q"}',
            '{"type": "event", "id": "e", "content": "x", "speakr": "A"}',
        ]), "s.jsonl")  # fmt: skip
    assert str(caught.value) == (
        "s.jsonl:1:10: type: unknown record type 'qeury'\n"
        "    allowed: stream, event, query, outcome   (did you mean 'query'?)\n"
        "s.jsonl:2:46: speakr: unknown field for record type 'event'\n"
        "    allowed: type, id, content, speaker, timestamp, session_id, kind, metadata, user_id,"
        " agent_id   (did you mean 'speaker'?)\n"
        "2 problems in s.jsonl"
    )


def test_a_bad_file_yields_nothing_at_all(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join([GOOD, event("e1"), "{oops", event("e2")]) + "\n")
    with pytest.raises(StreamError) as caught:
        read_stream(path)
    assert [(p.file, p.line) for p in caught.value.problems] == [(str(path), 3)]
    assert str(caught.value).endswith(f"1 problem in {path}")


def test_an_unreadable_file_is_a_stream_error(tmp_path: Path) -> None:
    with pytest.raises(StreamError, match="cannot read stream"):
        read_stream(tmp_path / "missing.jsonl")


# --- scopes ---------------------------------------------------------------------------


def test_event_ids_need_only_be_unique_within_a_scope() -> None:
    stream = parse_stream("\n".join([
        event("D1:1", user="ana"), event("D1:1", user="ben"), event("D1:1", user=None),
        event("D1:1", user="ana", agent_id="helper"),
    ]))  # fmt: skip
    assert len(stream.events) == 4


def test_evidence_naming_no_event_in_the_query_scope_is_a_warning() -> None:
    query = line(type="query", id="q1", text="?", user_id="ana", evidence=["e1", "e2", "e404"])
    text = "\n".join([event("e1", user="ana"), event("e2", user="ben"), query])
    stream = parse_stream(text, "s.jsonl")
    assert stream.queries[0].evidence == ["e1", "e2", "e404"]
    second, third = query.index('"e2"') + 1, query.index('"e404"') + 1
    assert [w.render() for w in stream.warnings] == [
        f"s.jsonl:3:{second}: evidence[1]: evidence id 'e2' names no event in scope user_id='ana'",
        f"s.jsonl:3:{third}: evidence[2]: evidence id 'e404' names no event in scope user_id='ana'",
    ]


def test_event_batches_group_by_scope_keep_file_order_and_respect_the_size() -> None:
    stream = parse_stream("\n".join([
        event("a1", user="ana"), event("b1", user="ben"), event("a2", user="ana"),
        event("a3", user="ana"), event("b2", user="ben"), event("c1", user="ana", agent_id="x"),
        line(type="query", id="q", text="?", user_id="ana"),
    ]))  # fmt: skip
    batches = [(s.user_id, s.agent_id, [e.id for e in b]) for s, b in stream.event_batches(2)]
    assert batches == [
        ("ana", None, ["a1", "a2"]), ("ana", None, ["a3"]), ("ben", None, ["b1", "b2"]),
        ("ana", "x", ["c1"]),
    ]  # fmt: skip
    assert all(isinstance(e, Event) for _, events in stream.event_batches(10) for e in events)
    assert stream.scopes() == [
        Scope(user_id="ana"), Scope(user_id="ben"), Scope(user_id="ana", agent_id="x")
    ]  # fmt: skip
    with pytest.raises(Exception, match="at least 1"):
        next(stream.event_batches(0))


def test_records_keep_file_order_by_type() -> None:
    stream = parse_stream("\n".join([
        line(type="stream", name="t"), event("e1"),
        line(type="outcome", query_id="q1", success=True), line(type="query", id="q1", text="?"),
        event("e2"), line(type="query", id="q2", text="?"),
    ]))  # fmt: skip
    assert isinstance(stream, Stream) and stream.header == StreamHeader(name="t")
    assert [r.type for r in stream.records] == ["event", "outcome", "query", "event", "query"]
    assert [e.id for e in stream.events] == ["e1", "e2"]
    assert [q.id for q in stream.queries] == ["q1", "q2"]
    assert [o.query_id for o in stream.outcomes] == ["q1"]


# --- the format reference -------------------------------------------------------------


def doc_block(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/streams.md has no '{name}' example"
    return match.group(1)


def test_the_documented_example_is_a_valid_stream_with_every_record_type() -> None:
    stream = parse_stream(doc_block("valid"), "streams.md")
    assert stream.warnings == () and stream.header is not None
    assert {r.type for r in stream.records} == {"event", "query", "outcome"}


def test_the_documented_error_report_is_what_the_reader_prints() -> None:
    with pytest.raises(StreamError) as caught:
        parse_stream(doc_block("invalid"), "kim.jsonl")
    assert str(caught.value) + "\n" == doc_block("invalid-report")


@pytest.mark.parametrize("model", [StreamHeader, EventRecord, QueryRecord, OutcomeRecord])
def test_every_field_is_documented(model: type) -> None:
    text = DOC.read_text()
    section = text.split(f"### `{model.model_fields['type'].default}`", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert sorted(documented) == sorted(model.model_fields)


def test_the_documented_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: E501
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    (tmp_path / "kim.jsonl").write_text(doc_block("valid"))
    monkeypatch.chdir(tmp_path)

    class Memory:
        def __init__(self) -> None:
            self.added: list[tuple[Scope, list[Event]]] = []
            self.searched: list[str] = []

        def add(self, events: list[Event], scope: Scope) -> None:
            self.added.append((scope, events))

        def search(self, query: object) -> list[object]:
            self.searched.append(query.text)  # type: ignore[attr-defined]
            return []

    memory = Memory()
    namespace = {"memory": memory, "print": lambda *args: None}
    exec(compile(code, "streams.md", "exec"), namespace)  # noqa: S102 - the example is ours
    assert [len(events) for _, events in memory.added] == [3, 1]
    assert len(memory.searched) == 2
    assert len(read_stream(tmp_path / "copy.jsonl").records) == 7
