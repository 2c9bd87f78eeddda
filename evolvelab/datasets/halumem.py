"""HaluMem (MemTensor/HaluMem) as a stream: users' dialogue sessions and their questions.

The published format (the repository's README, "Dataset Structure") is JSON Lines, one
user per line: ``uuid``, ``persona_info`` and ``sessions``; each session has
``start_time``, ``end_time``, ``dialogue`` (turns with ``role``, ``content``,
``timestamp`` such as ``"Dec 15, 2025, 06:11:23"`` and ``dialogue_turn``),
``memory_points`` (``memory_content``, ``memory_type``, ``memory_source`` …) and
``questions`` (``question``, ``answer``, ``evidence`` — a list of
``{memory_content, memory_type}`` — ``difficulty``, ``question_type``). The data itself
(``HaluMem-Medium.jsonl``, ``HaluMem-Long.jsonl``) is on the Hugging Face hub under
CC BY-NC-ND 4.0 and is not shipped.

What the loader makes of it:

- one scope per user (``user_id`` = ``uuid``); each session ``S<n>`` (from 1) becomes
  ``session_id`` ``<uuid>:S<n>`` and each turn an event ``S<n>:<i>`` (``i`` from 1 in
  dialogue order), ``speaker`` = role, ``metadata.dialogue_turn``;
- each question is a query ``<uuid>:S<n>:q<j>`` placed right after its session and asked
  at the session's ``end_time`` (order ``stream``): ``answer``, ``category`` =
  ``question_type``;
- HaluMem's evidence is memory-point text, not turns, so **evidence is session-level**:
  the turns of every session whose ``memory_points`` hold that text (exact match);
  evidence text found in no session is listed in the notes, and so are interference
  memory points (``memory_source: interference``), which are never evidence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evolvelab._strict_json import json_lines
from evolvelab.datasets import Dataset
from evolvelab.errors import Problem, StreamError
from evolvelab.stream import (
    EventRecord,
    QueryRecord,
    StreamHeader,
    StreamRecord,
    dump_stream,
    parse_stream,
)

__all__ = ["load_halumem"]

TIME_FORMAT = "%b %d, %Y, %H:%M:%S"


def _time(value: Any, where: str, path: tuple[str | int, ...], line: int,
          problems: list[Problem]) -> datetime | None:  # fmt: skip
    if value in (None, ""):
        return None
    try:
        return datetime.strptime(str(value), TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        message = f"not a HaluMem time ('Dec 15, 2025, 06:11:23'): {value!r}"
        problems.append(Problem(where, path, message, line, 1))
        return None


def _user(data: Any, where: str, line: int, problems: list[Problem],
          notes: list[Problem]) -> list[StreamRecord]:  # fmt: skip
    def bad(path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(where, path, message, line, 1))

    if not (isinstance(data, dict) and isinstance(data.get("uuid"), str)
            and isinstance(data.get("sessions"), list)):  # fmt: skip
        bad((), "expected a user object with 'uuid' (string) and 'sessions' (list)")
        return []
    uuid = data["uuid"]
    sessions = data["sessions"]
    points: dict[str, list[int]] = {}
    for n, session in enumerate(sessions, start=1):
        for point in session.get("memory_points") or [] if isinstance(session, dict) else []:
            if not isinstance(point, dict):
                continue
            if point.get("memory_source") == "interference":
                notes.append(Problem(where, ("sessions", n - 1), f"user {uuid}: interference memory "
                                     "point left out of evidence", line, 1))  # fmt: skip
                continue
            points.setdefault(str(point.get("memory_content", "")), []).append(n)
    records: list[StreamRecord] = []
    turns: dict[int, list[str]] = {}
    pending: list[tuple[int, QueryRecord]] = []
    for n, session in enumerate(sessions, start=1):
        at = ("sessions", n - 1)
        if not isinstance(session, dict) or not isinstance(session.get("dialogue"), list):
            bad(at, "a session needs a 'dialogue' list")
            continue
        for i, turn in enumerate(session["dialogue"], start=1):
            if not isinstance(turn, dict) or not isinstance(turn.get("content"), str):
                bad((*at, "dialogue", i - 1), "a turn needs 'content' (string)")
                continue
            when = _time(turn.get("timestamp"), where, (*at, "dialogue", i - 1, "timestamp"), line,
                         problems)  # fmt: skip
            number = turn.get("dialogue_turn")
            event = EventRecord(
                id=f"S{n}:{i}", content=turn["content"], speaker=str(turn.get("role") or "") or None,
                timestamp=when, session_id=f"{uuid}:S{n}", user_id=uuid,
                metadata={"dialogue_turn": number} if isinstance(number, int) else {},
            )  # fmt: skip
            records.append(event)
            turns.setdefault(n, []).append(event.id)
        end = _time(session.get("end_time"), where, (*at, "end_time"), line, problems)
        for j, question in enumerate(session.get("questions") or [], start=1):
            if not isinstance(question, dict) or not isinstance(question.get("question"), str):
                bad((*at, "questions", j - 1), "a question needs 'question' (string)")
                continue
            gold: list[str] = []
            for item in question.get("evidence") or []:
                text = item.get("memory_content") if isinstance(item, dict) else None
                found = points.get(str(text), [])
                if not found:
                    notes.append(Problem(where, (*at, "questions", j - 1, "evidence"),
                                         f"user {uuid}: evidence text matches no memory point", line, 1))  # fmt: skip
                gold.extend(t for s in found if s <= n for t in turns.get(s, []))
            answer = question.get("answer")
            kind = question.get("question_type")
            pending.append((n, QueryRecord(
                id=f"{uuid}:S{n}:q{j}", text=question["question"], at=end, user_id=uuid,
                evidence=list(dict.fromkeys(gold)), answer=None if answer is None else str(answer),
                category=None if kind is None else str(kind),
            )))  # fmt: skip
        records.extend(q for s, q in pending if s == n)
    return records


def load_halumem(path: str | Path) -> Dataset:
    """Load HaluMem's JSON Lines (one user per line) as a dataset asked in ``stream`` order.

    Raises:
        StreamError: for a line that is not JSON or not a user object, and bad fields,
            every problem with its line.
    """
    where = str(path)
    try:
        values, bad = json_lines(Path(path).read_bytes())  # split on \n only, strict, located
    except OSError as err:
        raise StreamError([Problem(where, (), f"cannot read HaluMem JSONL: {err}")]) from err
    problems = [Problem(where, (), message, number, col) for number, col, message in bad]
    notes: list[Problem] = []
    records: list[StreamRecord] = []
    for number, data in values:
        records.extend(_user(data, where, number, problems, notes))
    if problems:
        raise StreamError(sorted(problems, key=lambda p: p.line or 0))  # in file order
    description = f"HaluMem dialogues and questions from {Path(path).name}"
    header = StreamHeader(name="halumem", description=description)
    stream = parse_stream(dump_stream([header, *records]), where)
    return Dataset(name="halumem", source=where, stream=stream, notes=(*notes, *stream.warnings),
                   order="stream")  # fmt: skip
