"""LongMemEval (Wu et al., ICLR 2025) as a stream: one scope per question and its haystack.

The published files (``longmemeval_s_cleaned.json``, ``longmemeval_m_cleaned.json``,
``longmemeval_oracle.json``; xiaowu0162/LongMemEval, data on the Hugging Face hub) are a
JSON list of questions. Each has ``question_id`` (``_abs`` at the end marks an
abstention question), ``question_type`` (single-session-user, single-session-assistant,
single-session-preference, temporal-reasoning, knowledge-update, multi-session),
``question``, ``answer``, ``question_date`` (``"2023/05/30 (Tue) 23:40"``),
``haystack_session_ids``, ``haystack_dates`` and ``haystack_sessions`` (lists of turns
``{"role", "content", "has_answer"?}``), and ``answer_session_ids``.

What the loader makes of it:

- every question is its own scope (``user_id`` = ``question_id``): its haystack is what
  that user lived through;
- haystack sessions are taken in date order (ties: file order); session ``sid`` becomes
  ``session_id`` ``sid``, its turn ``i`` (from 1) an event ``<sid>:<i>`` with
  ``speaker`` = role, the session's date for its first turn and one minute more for each
  next turn;
- the question is a query asked at ``question_date``, ``category`` = ``question_type``;
  **evidence** = the turns marked ``has_answer: true``. An abstention question gets
  ``evidence: []`` (annotated unanswerable: asked, never scored). A question whose answer
  sessions mark no turn gets every turn of its answer sessions, and a note says so;
- ``answer_session_ids`` is kept on the dataset (:attr:`LongMemEvalDataset.answer_sessions`)
  for **session recall**: :func:`session_recall` ranks sessions by their first turn in a
  query's ranked hits and scores recall@k over sessions, by question type.
  ``evolvelab eval --dataset longmemeval`` prints it after the turn-budget table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evolvelab._strict_json import loads
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

__all__ = [
    "QUESTION_TYPES",
    "LongMemEvalDataset",
    "load_longmemeval",
    "parse_date",
    "session_recall",
]

QUESTION_TYPES = ("single-session-user", "single-session-assistant", "single-session-preference",
                  "temporal-reasoning", "knowledge-update", "multi-session")  # fmt: skip
"""LongMemEval's question types (categories keep these names)."""

DATE_FORMAT = "%Y/%m/%d (%a) %H:%M"
_TURN_GAP = timedelta(minutes=1)


@dataclass(frozen=True)
class LongMemEvalDataset(Dataset):
    """A LongMemEval dataset; ``answer_sessions`` maps a question id to its answer sessions."""

    answer_sessions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def parse_date(text: str) -> datetime:
    """Parse a LongMemEval date such as ``"2023/05/30 (Tue) 23:40"`` (read as UTC).

    Raises:
        ValueError: if ``text`` is not of that form.
    """
    try:
        return datetime.strptime(text.strip(), DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        try:  # a date without the weekday, as some re-exports write it
            return datetime.strptime(text.strip(), "%Y/%m/%d %H:%M").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(
                f"not a LongMemEval date: {text!r} (expected e.g. '2023/05/30 (Tue) 23:40')"
            ) from None


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []
        self.records: list[StreamRecord] = []
        self.answer_sessions: dict[str, tuple[str, ...]] = {}
        self.seen: set[str] = set()

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(self.source, path, message))

    def date(self, value: Any, path: tuple[str | int, ...]) -> datetime | None:
        try:
            return parse_date(str(value))
        except ValueError as err:
            self.problem(path, str(err))
            return None

    def question(self, index: int, item: Any) -> None:
        if not isinstance(item, dict):
            self.problem(
                (index,),
                "expected a question object with question_id, question and haystack_sessions",
            )
            return
        qid = item.get("question_id")
        if not isinstance(qid, str) or not qid:
            self.problem((index, "question_id"), "required: a non-empty string")
            return
        if qid in self.seen:
            self.problem((index, "question_id"), f"question_id {qid!r} is used twice")
            return
        self.seen.add(qid)
        where = (qid,)
        wrong = [(key, kind) for key, kind in (("question", str), ("haystack_session_ids", list),
                                               ("haystack_dates", list), ("haystack_sessions", list))
                 if not isinstance(item.get(key), kind)]  # fmt: skip
        for key, kind in wrong:
            self.problem((*where, key), "required: a string" if kind is str else "required: a list")
        if wrong:
            return
        sids, dates, sessions = (
            item["haystack_session_ids"],
            item["haystack_dates"],
            item["haystack_sessions"],
        )
        if not len(sids) == len(dates) == len(sessions):
            self.problem(where, f"haystack_session_ids, haystack_dates and haystack_sessions differ in length "
                                f"({len(sids)}, {len(dates)}, {len(sessions)})")  # fmt: skip
            return
        order = []
        for n, (sid, raw_date) in enumerate(zip(sids, dates, strict=True)):
            start = self.date(raw_date, (*where, "haystack_dates", n))
            if start is not None:
                order.append((start, n, str(sid)))
        order.sort()
        evidence: list[str] = []
        turns_of: dict[str, list[str]] = {}
        for start, n, sid in order:
            turns = sessions[n]
            if not isinstance(turns, list):
                self.problem((*where, "haystack_sessions", n), "expected a list of turns")
                continue
            for i, turn in enumerate(turns, start=1):
                if not isinstance(turn, dict) or not isinstance(turn.get("content"), str):
                    self.problem(
                        (*where, "haystack_sessions", n, i - 1), "a turn needs 'content' (string)"
                    )
                    continue
                event_id = f"{sid}:{i}"
                self.records.append(EventRecord(
                    id=event_id, content=turn["content"], speaker=str(turn.get("role") or "") or None,
                    timestamp=start + (i - 1) * _TURN_GAP, session_id=sid, user_id=qid,
                ))  # fmt: skip
                turns_of.setdefault(sid, []).append(event_id)
                if turn.get("has_answer") is True:
                    evidence.append(event_id)
        answers = item.get("answer_session_ids") or []
        answers = tuple(str(a) for a in answers) if isinstance(answers, list) else ()
        self.answer_sessions[qid] = answers
        abstain = qid.endswith("_abs")
        if not evidence and answers and not abstain:
            evidence = [t for sid in answers for t in turns_of.get(sid, [])]
            self.notes.append(Problem(self.source, (*where, "answer_session_ids"),
                                      "no turn is marked has_answer; every turn of the answer sessions is evidence"))  # fmt: skip
        at = (
            self.date(item["question_date"], (*where, "question_date"))
            if "question_date" in item
            else None
        )
        answer = item.get("answer")
        self.records.append(QueryRecord(
            id=qid, text=item["question"], at=at, user_id=qid,
            evidence=[] if abstain else evidence, answer=None if answer is None else str(answer),
            category=str(item.get("question_type")) if item.get("question_type") is not None else None,
        ))  # fmt: skip


def load_longmemeval(path: str | Path) -> LongMemEvalDataset:
    """Load a LongMemEval JSON file (``_s``, ``_m`` or ``_oracle``).

    Args:
        path: the JSON file.

    Returns:
        The dataset (``order="end"``: each question is asked after its haystack).

    Raises:
        StreamError: if the file cannot be read or is not LongMemEval-shaped, listing
            every problem with its place (``e47becba.haystack_dates.3: not a LongMemEval date``).
    """
    source = str(path)
    try:
        data = loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StreamError([Problem(source, (), f"cannot read LongMemEval JSON: {err}")]) from err
    if not isinstance(data, list):
        raise StreamError(
            [
                Problem(
                    source,
                    (),
                    "expected a JSON list of questions (the shape of longmemeval_s.json)",
                )
            ]
        )
    reader = _Reader(source)
    for index, item in enumerate(data):
        reader.question(index, item)
    if reader.problems:
        raise StreamError(reader.problems)
    header = StreamHeader(
        name="longmemeval",
        description=f"LongMemEval: {len(reader.seen)} questions from {Path(path).name}",
    )
    stream = parse_stream(dump_stream([header, *reader.records]), source)
    categories = {t: t for t in QUESTION_TYPES}
    return LongMemEvalDataset(name="longmemeval", source=source, stream=stream, categories=categories,
                              notes=tuple(reader.notes) + stream.warnings, order="end",
                              answer_sessions=reader.answer_sessions)  # fmt: skip


def _session(event_id: str) -> str:
    return event_id.rsplit(":", 1)[0]


def session_recall(
    results: Iterable[Any], answer_sessions: Mapping[str, tuple[str, ...]], ks: Iterable[int]
) -> dict[str, dict[str, float]]:
    """Return session recall@k overall and per question type.

    A query's sessions are ranked by the first appearance of one of their turns in its
    ranked turn ids (``QueryResult.ranked``: the turns within the largest turn budget of
    the evaluation, so ask for enough turns); recall@k is the share of its answer
    sessions among the first k. Abstention questions (``_abs``) and questions without
    answer sessions are left out.

    Args:
        results: per-query results of an evaluation (``EvalReport.results``).
        answer_sessions: question id → answer session ids (the dataset's).
        ks: session budgets.

    Returns:
        ``{"all": {"1": r, ...}, "<question type>": {...}, ...}``, plus ``"questions"``
        counts under the key ``"n"`` of each block.
    """
    ks = sorted(set(ks))
    groups: dict[str, list[dict[str, float]]] = {}
    for result in results:
        gold = set(answer_sessions.get(result.id, ()))
        if not gold or result.id.endswith("_abs"):
            continue
        ranked = list(dict.fromkeys(_session(t) for t in result.ranked))
        scores = {str(k): len(gold & set(ranked[:k])) / len(gold) for k in ks}
        for group in ("all", result.category or "none"):
            groups.setdefault(group, []).append(scores)
    return {
        group: {
            "n": float(len(rows)),
            **{str(k): sum(r[str(k)] for r in rows) / len(rows) for k in ks},
        }
        for group, rows in groups.items()
    }
