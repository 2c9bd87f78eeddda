"""The JSONL task stream: events to ingest, queries to answer, outcomes to learn from.

A stream is one JSON object per line, told apart by ``type``: an optional ``stream``
header on the first line, then ``event``, ``query`` and ``outcome`` records in any
order. :func:`read_stream` checks the whole file before it returns anything and raises
one :class:`~evolvelab.errors.StreamError` listing every bad line, so a malformed file is
never half-ingested::

    data/s.jsonl:3:60: timestamp: not an ISO-8601 time: 'yesterday'
    data/s.jsonl:7:10: type: unknown record type 'evnt'
        allowed: stream, event, query, outcome   (did you mean 'event'?)
    2 problems in data/s.jsonl

The format reference, with a complete example, is ``docs/streams.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from evolvelab._strict_json import column, decode_lines, loads, locate, split_lines
from evolvelab.errors import EvolveLabError, Problem, StreamError, closest
from evolvelab.types import Event, MetadataValue, Outcome, Query, Scope

__all__ = [
    "EventRecord", "OutcomeRecord", "QueryRecord", "Stream", "StreamHeader", "StreamItem",
    "StreamRecord", "dump_stream", "parse_stream", "read_stream", "write_stream",
]  # fmt: skip

Path_ = tuple[str | int, ...]
ScopeKey = tuple[str | None, str | None]


def _iso_time(value: Any) -> Any:
    """Parse an ISO-8601 string (a bare date is midnight); treat naive times as UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO-8601 time: {value!r}") from None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif isinstance(value, datetime):
        try:
            value.astimezone(UTC)  # stores keep UTC: a time beyond year 1-9999 there is lost
        except OverflowError:
            raise ValueError(f"time out of range in UTC: {value.isoformat()}") from None
    return value


def _scalar(value: Any) -> Any:
    """Reject a metadata value that is not a scalar."""
    if not isinstance(value, str | int | float | bool | None):
        raise ValueError("metadata values must be a string, number, bool or null")
    return value


Time = Annotated[datetime | None, BeforeValidator(_iso_time)]
Metadata = dict[str, Annotated[MetadataValue, BeforeValidator(_scalar)]]


class _Line(BaseModel):
    """Base of every stream record: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Scoped(_Line):
    """Base of the records that belong to a scope (the session stays on the event)."""

    user_id: str | None = Field(None, description="Scope: the end user the memory is about.")
    agent_id: str | None = Field(None, description="Scope: the agent that owns the memory.")

    def scope(self) -> Scope:
        """Return the record's scope: its user and agent."""
        return Scope(user_id=self.user_id, agent_id=self.agent_id)


class StreamHeader(_Line):
    """Name the stream; optional, and only on the first line.

    Example:
        >>> StreamHeader(name="sample", description="two friends, ten sessions")
        StreamHeader(type='stream', name='sample', version=1,
                     description='two friends, ten sessions')
    """

    type: Literal["stream"] = Field("stream", description="Record type, always 'stream'.")
    name: str = Field(min_length=1, description="Name of the stream, used in reports.")
    version: Literal[1] = Field(1, description="Stream format version. Only 1 exists.")
    description: str = Field("", description="What the stream holds and where it came from.")

    @field_validator("version", mode="before")
    @classmethod
    def _integer(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):  # true and 1.0 equal 1
            raise ValueError(f"the version is the integer 1, not {json.dumps(value)}")
        return value


class EventRecord(_Scoped):
    """Carry one :class:`~evolvelab.types.Event` plus the scope it belongs to.

    Example:
        >>> event = EventRecord(id="ana:S1:3", content="I work at a pharmacy.", speaker="Ana",
        ...                     timestamp="2023-01-14T10:05:00", session_id="ana:S1", user_id="ana")
        >>> event.timestamp                 # a time without a zone is read as UTC
        datetime.datetime(2023, 1, 14, 10, 5, tzinfo=datetime.timezone.utc)
        >>> event.type, event.kind
        ('event', 'turn')
    """

    type: Literal["event"] = Field("event", description="Record type, always 'event'.")
    id: str = Field(min_length=1, description="Event id, unique within its scope.")
    content: str = Field(description="The text of the event.")
    speaker: str | None = Field(None, description="Who said or did it.")
    timestamp: Time = Field(None, description="When it happened, ISO-8601; naive means UTC.")
    session_id: str | None = Field(None, description="The session the event belongs to.")
    kind: str = Field("turn", description="turn, tool, observation, outcome...")
    metadata: Metadata = Field(default_factory=dict, description="Extra scalar attributes.")

    def to_event(self) -> Event:
        """Return the record as an :class:`~evolvelab.types.Event`."""
        return Event(**self.model_dump(exclude={"type", "user_id", "agent_id"}))

    @classmethod
    def from_event(cls, event: Event, scope: Scope | None = None) -> EventRecord:
        """Build a record from an event and the scope it belongs to."""
        scope = scope or Scope()
        return cls(**event.model_dump(), user_id=scope.user_id, agent_id=scope.agent_id)


class QueryRecord(_Scoped):
    """Ask a question of one scope's memory, optionally with its gold answer.

    ``evidence`` left out means "not annotated"; ``[]`` means "annotated as unanswerable".

    Example:
        >>> QueryRecord(id="q1", text="What is Ana's job?", user_id="ana",
        ...             evidence=["ana:S1:3"], answer="pharmacist", category="single-hop")
        QueryRecord(user_id='ana', agent_id=None, type='query', id='q1', text="What is Ana's job?",
                    at=None, evidence=['ana:S1:3'], answer='pharmacist', category='single-hop',
                    distractor=None, misleading=None)
    """

    type: Literal["query"] = Field("query", description="Record type, always 'query'.")
    id: str = Field(min_length=1, description="Query id, unique within the stream.")
    text: str = Field(min_length=1, description="The question.")
    at: Time = Field(None, description="When the question is asked, ISO-8601.")
    evidence: list[str] | None = Field(None, description="Ids of the events that answer it.")
    answer: str | None = Field(None, description="A short gold answer.")
    category: str | None = Field(None, description="e.g. single-hop, multi-hop, temporal.")
    distractor: str | None = Field(
        None, description="A plausible wrong answer; giving it is an error (adversarial)."
    )
    misleading: list[str] | None = Field(
        None, description="Ids of events that would mislead it (experiential task streams)."
    )

    def to_query(self, k: int = 10) -> Query:
        """Return the record as a :class:`~evolvelab.types.Query` asking for ``k`` hits."""
        return Query(text=self.text, scope=self.scope(), k=k, at=self.at)


class OutcomeRecord(_Scoped):
    """Report how a task that used memory went, and which notes it was given.

    Example:
        >>> OutcomeRecord(query_id="q1", success=True, score=1.0, used_ids=["n_1"])
        OutcomeRecord(user_id=None, agent_id=None, type='outcome', query_id='q1', success=True,
                      score=1.0, used_ids=['n_1'], at=None, detail='')
    """

    type: Literal["outcome"] = Field("outcome", description="Record type, always 'outcome'.")
    query_id: str = Field(min_length=1, description="The query or task the outcome is for.")
    success: bool = Field(description="Whether the task succeeded.")
    score: float | None = Field(None, description="A graded result, if there is one.")
    used_ids: list[str] = Field(default_factory=list, description="Ids of the notes supplied.")
    at: Time = Field(None, description="When the outcome was observed, ISO-8601.")
    detail: str = Field("", description="Free-text note on the outcome.")

    def to_outcome(self) -> Outcome:
        """Return the record as an :class:`~evolvelab.types.Outcome`."""
        return Outcome(task_id=self.query_id, success=self.success, score=self.score,
                       scope=self.scope(), at=self.at, detail=self.detail)  # fmt: skip


StreamItem = Annotated[
    StreamHeader | EventRecord | QueryRecord | OutcomeRecord, Field(discriminator="type")
]
"""Any one line of a stream, told apart by its ``type`` field."""

StreamRecord = EventRecord | QueryRecord | OutcomeRecord
"""Any record after the header: an event, a query or an outcome."""

_ITEM: TypeAdapter[Any] = TypeAdapter(StreamItem)
_MODELS = {"stream": StreamHeader, "event": EventRecord, "query": QueryRecord,
           "outcome": OutcomeRecord}  # fmt: skip
_TYPES = tuple(_MODELS)
_BLANK = " \t\r\n"  # JSON's whitespace: a line of only these is skipped


def _fields(model: type[BaseModel]) -> tuple[str, ...]:
    """Return a record's field names in reading order: type first, scope last."""
    order = {"type": 0, "user_id": 2, "agent_id": 2}
    return tuple(sorted(model.model_fields, key=lambda key: order.get(key, 1)))


@dataclass(frozen=True)
class Stream:
    """A validated stream: its header, its records in file order, and its warnings.

    Attributes:
        source: the file (or label) the stream was read from.
        header: the ``stream`` line, if there is one.
        records: every event, query and outcome record, in file order.
        warnings: issues that do not stop ingestion (evidence ids that name no event).
    """

    source: str
    header: StreamHeader | None
    records: tuple[StreamRecord, ...]
    warnings: tuple[Problem, ...] = ()

    @property
    def events(self) -> list[EventRecord]:
        """The event records in file order (``queries`` and ``outcomes`` likewise)."""
        return [r for r in self.records if isinstance(r, EventRecord)]

    @property
    def queries(self) -> list[QueryRecord]:  # noqa: D102
        return [r for r in self.records if isinstance(r, QueryRecord)]

    @property
    def outcomes(self) -> list[OutcomeRecord]:  # noqa: D102
        return [r for r in self.records if isinstance(r, OutcomeRecord)]

    def scopes(self) -> list[Scope]:
        """Return each scope that has events, in order of first appearance."""
        keys = dict.fromkeys((e.user_id, e.agent_id) for e in self.events)
        return [Scope(user_id=user, agent_id=agent) for user, agent in keys]

    def event_batches(self, size: int) -> Iterator[tuple[Scope, list[Event]]]:
        """Yield events as ``(scope, events)`` batches of at most ``size``.

        Scopes come in order of first appearance; within a scope, events keep file order.
        A batch never mixes scopes, so each can go straight to ``add(events, scope)``.

        Raises:
            EvolveLabError: if ``size`` is less than 1.
        """
        if size < 1:
            raise EvolveLabError(f"batch size must be at least 1, got {size}")
        groups: dict[ScopeKey, list[Event]] = {}
        for record in self.events:
            groups.setdefault((record.user_id, record.agent_id), []).append(record.to_event())
        for (user_id, agent_id), events in groups.items():
            for start in range(0, len(events), size):
                yield Scope(user_id=user_id, agent_id=agent_id), events[start : start + size]


def read_stream(path: str | Path) -> Stream:
    """Read and validate a JSONL stream file.

    Args:
        path: the ``.jsonl`` file.

    Returns:
        The validated stream; non-fatal issues are in ``Stream.warnings``.

    Raises:
        StreamError: listing every malformed line, or saying the file cannot be read.
    """
    try:
        data = Path(path).read_bytes()
        lines, bad = decode_lines(data)
        del data
        problems = [Problem(str(path), (), message, line, col) for line, col, message in bad]
        return _parse(lines, str(path), problems)
    except OSError as err:
        raise StreamError([Problem(str(path), (), f"cannot read stream: {err}")]) from err
    except MemoryError:  # an endless device (/dev/zero) or a file larger than memory
        message = "cannot read stream: it does not fit in memory; split it into smaller files"
        raise StreamError([Problem(str(path), (), message)]) from None


def parse_stream(text: str, source: str = "<string>") -> Stream:
    r"""Validate JSONL ``text`` as a stream; ``source`` names it in messages.

    Lines end at ``\n`` (or ``\r\n``) only: U+2028, U+2029 and U+0085 are ordinary
    characters inside a JSON string, as :func:`dump_stream` writes them.

    Raises:
        StreamError: listing every malformed line.
    """
    return _parse(split_lines(text.removeprefix("\ufeff")), source, [])


def _parse(text_lines: list[str], source: str, problems: list[Problem]) -> Stream:
    """Validate a stream's lines (1-based numbering), adding to ``problems`` found so far."""
    lines = [(n, line) for n, line in enumerate(text_lines, start=1) if line.strip(_BLANK)]
    parsed = [(n, line, _parse_line(line, n, source, problems)) for n, line in lines]
    parsed = [item for item in parsed if item[2] is not None]
    first = lines[0][0] if lines else 0
    header, records, warnings = _check(parsed, first, source, problems)
    if problems:
        raise StreamError(problems)
    return Stream(source, header, tuple(records), tuple(warnings))


def write_stream(path: str | Path, items: Iterable[StreamHeader | StreamRecord]) -> None:
    """Write records to ``path`` as a JSONL stream, one per line, leaving out defaults."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        out.write(dump_stream(items))


def dump_stream(items: Iterable[StreamHeader | StreamRecord]) -> str:
    """Return records as JSONL stream text, one per line, leaving out defaults.

    ``parse_stream(dump_stream(items))`` reads the same records back, checked the way a
    file is (duplicate ids, evidence naming no event).

    Args:
        items: an optional header, then event, query and outcome records.

    Returns:
        The text, one JSON object per line, each line ending in a newline.
    """
    lines = []
    for item in items:
        data = item.model_dump(mode="json", exclude_defaults=True)
        line = {key: data[key] for key in _fields(type(item)) if key in data}
        lines.append(json.dumps({"type": item.type, **line}, ensure_ascii=False) + "\n")
    return "".join(lines)


def _parse_line(line: str, number: int, source: str, problems: list[Problem]) -> Any:
    """Return the record on one line, or ``None`` after adding its problems."""
    repeats: list[dict[str, Any]] = []

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        data = dict(pairs)
        if len(data) < len(pairs):
            repeats.append(data)
        return data

    try:
        data = loads(line, object_pairs_hook=unique)
    except json.JSONDecodeError as err:
        problems.append(Problem(source, (), f"invalid JSON: {err.msg}", number, err.colno))
        return None
    record, errors = None, []
    try:
        record = _ITEM.validate_python(data, strict=True)
    except ValidationError as err:
        errors = err.errors(include_url=False)
    if not errors and not repeats:
        return record  # the common case: a good line, nothing to locate
    spots, repeated = locate(line)
    for path, col in repeated:
        problems.append(Problem(source, path, "duplicate key (JSON keeps the last)", number, col))
    if not isinstance(data, dict):
        problems.append(Problem(source, (), "expected a JSON object", number, spots[()][1]))
        return None
    seen: set[Path_] = set()
    for error in errors:
        problem = _problem(error, data, spots, source, number)
        if problem.path not in seen:
            seen.add(problem.path)
            problems.append(problem)
    return record


def _problem(error: Any, data: dict[str, Any], spots: dict, source: str, line: int) -> Problem:
    """Turn one pydantic error into a positioned problem."""
    kind, loc = error["type"], tuple(error["loc"])
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        found = "type" in data
        message = f"unknown record type {data['type']!r}" if found else "missing 'type'"
        hint = closest(str(data["type"]), _TYPES) if found else None
        col = spots.get(("type",), spots[()])[1]
        return Problem(source, ("type",), message, line, col, _TYPES, hint)
    record, path = str(loc[0]), loc[1:]
    near = path
    while near not in spots:
        near = near[:-1]
    key_col, value_col = spots[near]
    if kind == "extra_forbidden":
        allowed = _fields(_MODELS[record])
        message = f"unknown field for record type '{record}'"
        return Problem(source, path, message, line, key_col, allowed, closest(path[-1], allowed))
    if kind == "missing":
        return Problem(source, path, f"required for record type '{record}'", line, value_col)
    message = error["msg"].removeprefix("Value error, ")
    return Problem(source, path, message[:1].lower() + message[1:], line, value_col)


def _check(
    parsed: list[tuple[int, str, Any]], first: int, source: str, problems: list[Problem]
) -> tuple[StreamHeader | None, list[StreamRecord], list[Problem]]:
    """Check what spans lines: header placement, duplicate ids, dangling evidence."""
    header: StreamHeader | None = None
    records: list[StreamRecord] = []
    events: dict[ScopeKey, dict[str, int]] = {}
    queries: dict[str, int] = {}
    for number, line, record in parsed:
        if isinstance(record, StreamHeader):
            if number != first or header is not None:
                col = column(line, ("type",))
                problems.append(Problem(source, ("type",), "the header must be the first line",
                                        number, col))  # fmt: skip
            header = record
            continue
        records.append(record)
        if isinstance(record, EventRecord):
            where = _label(record.scope())
            seen = events.setdefault((record.user_id, record.agent_id), {})
        elif isinstance(record, QueryRecord):
            where, seen = "the stream", queries
        else:
            continue
        first_use = seen.setdefault(record.id, number)
        if first_use != number:
            message = f"duplicate {record.type} id {record.id!r} in {where}"
            col, hint = column(line, ("id",)), (f"first used on line {first_use}",)
            problems.append(Problem(source, ("id",), message, number, col, hints=hint))
    warnings = []
    asked = {r.id: (r, n) for n, _, r in parsed if isinstance(r, QueryRecord)}
    for number, line, record in parsed:
        if isinstance(record, OutcomeRecord):
            warnings += _unmatched_outcome(record, asked, source, number, line)
        if isinstance(record, QueryRecord):
            warnings += _dangling(record, events, source, number, line)
    return header, records, warnings


_SHOWN = 20
"""Dangling ids warned about one by one per query and list; the rest are counted."""


def _dangling(
    record: QueryRecord,
    events: dict[ScopeKey, dict[str, int]],
    source: str,
    number: int,
    line: str,
) -> list[Problem]:
    """Warn about ``evidence`` / ``misleading`` ids that name no event in the query's scope.

    The line is located once (not once per id), and past :data:`_SHOWN` ids per list the
    rest are summed up in one warning, so a query listing 100,000 unknown ids costs one
    pass over its line.
    """
    known = events.get((record.user_id, record.agent_id), {})
    where = _label(record.scope())
    warnings: list[Problem] = []
    spots: dict[Any, tuple[int, int]] = {}
    for key in ("evidence", "misleading"):
        ids = getattr(record, key) or ()
        missing = [(i, gold) for i, gold in enumerate(ids) if gold not in known]
        if missing and not spots:
            spots = locate(line)[0]
        for n, (i, gold) in enumerate(missing[: _SHOWN + 1]):
            col = spots.get((key, i), spots[()])[1]
            if n < _SHOWN:
                message = f"{key} id {gold!r} names no event in {where}"
            else:
                message = f"{len(missing) - _SHOWN:,} more {key} ids name no event in {where}"
            warnings.append(Problem(source, (key, i), message, number, col))
    return warnings


def _unmatched_outcome(
    record: OutcomeRecord,
    asked: dict[str, tuple[QueryRecord, int]],
    source: str,
    number: int,
    line: str,
) -> list[Problem]:
    """Warn about an outcome whose query is not in the stream, or is in another scope."""
    if record.query_id not in asked:
        message = f"outcome for query {record.query_id!r}, which is not in the stream"
        col = column(line, ("query_id",))
        return [Problem(source, ("query_id",), message, number, col)]
    query, at = asked[record.query_id]
    if (query.user_id, query.agent_id) == (record.user_id, record.agent_id):
        return []
    key = "user_id" if query.user_id != record.user_id else "agent_id"
    message = (
        f"outcome for query {record.query_id!r} in {_label(record.scope())}, but the query "
        f"is in {_label(query.scope())} (line {at})"
    )
    return [Problem(source, (key,), message, number, column(line, (key,)))]


def _label(scope: Scope) -> str:
    """Describe a scope for messages, e.g. ``scope user_id='ana'``."""
    pairs = (("user_id", scope.user_id), ("agent_id", scope.agent_id))
    parts = [f"{key}={value!r}" for key, value in pairs if value is not None]
    return "scope " + ", ".join(parts) if parts else "the empty scope"
