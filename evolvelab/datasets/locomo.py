"""LoCoMo (Maharana et al., ACL 2024) as a stream: one scope per conversation.

The source is the JSON list of ``locomo10.json``: each item holds a ``sample_id``, a
``conversation`` with ``session_<n>`` turn lists and ``session_<n>_date_time`` strings
("1:56 pm on 8 May, 2023"), and ``qa`` items with ``question``, ``answer``, ``evidence``
(turn ids such as ``D1:3``) and ``category`` (1 multi-hop, 2 temporal, 3 open-domain,
4 single-hop, 5 adversarial).

What the loader makes of it:

- each conversation is its own scope, ``user_id = sample_id``; sessions are taken in
  number order, and sessions listed with a date but no turns are skipped;
- one event per turn: ``id`` is the ``dia_id`` (written ``D<session>:<turn>`` without
  leading zeros), ``speaker``, ``content`` is the turn text, ``session_id`` is
  ``<sample_id>:S<n>``; an image turn keeps its BLIP caption in ``metadata.caption``
  (the image URL and the annotator's image search query are left out: a chat agent sees
  the picture, which the caption stands in for, not how it was found);
- the session date is the time of its first turn, and each later turn of the session is
  one minute after the one before, so the order is kept;
- one query per QA item, ``id`` ``<sample_id>:q<n>``, asked one minute after the last
  turn, ``category`` the number as a string; an ``answer`` that is a number becomes text;
- category 5 (adversarial) questions are about something the conversation never says:
  their ``answer`` is "Not mentioned in the conversation" and the source's
  ``adversarial_answer`` (the trap) becomes ``distractor``;
- evidence ids are cleaned: lists joined in one string are split (``'D8:6; D9:17'``),
  ``'D:11:26'`` and ``'D30:05'`` are read as ``D11:26`` and ``D30:5`` when that turn
  exists, and ids that name no turn (``'D'``, a turn past the end of a session) are
  dropped. Every change is listed in :attr:`Dataset.notes`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evolvelab.datasets import Dataset, load_json
from evolvelab.errors import Problem, StreamError
from evolvelab.stream import EventRecord, QueryRecord, StreamHeader, dump_stream, parse_stream

__all__ = ["ABSTAIN_ANSWER", "CATEGORIES", "clean_evidence", "load_locomo", "parse_locomo_date"]

CATEGORIES = {
    "1": "multi-hop",
    "2": "temporal",
    "3": "open-domain",
    "4": "single-hop",
    "5": "adversarial",
}
"""LoCoMo's question categories, as numbered by its scoring code."""

ABSTAIN_ANSWER = "Not mentioned in the conversation"
"""The gold answer of an adversarial (category 5) question."""

_DATE = re.compile(
    r"^\s*(\d{1,2}):(\d{2})\s*([ap])\.?m\.?\s+on\s+(\d{1,2})\s+([a-z]+),?\s+(\d{4})\s*$", re.I
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        ("jan january", "feb february", "mar march", "apr april", "may", "jun june",
         "jul july", "aug august", "sep sept september", "oct october", "nov november",
         "dec december"), start=1)  # fmt: skip
    for name in names.split()
}
_TURN_ID = re.compile(r"^D:?(\d+):(\d+)$", re.I)
_SESSION = re.compile(r"^session_(\d+)$")
_TURN_GAP = timedelta(minutes=1)


def parse_locomo_date(text: str) -> datetime:
    """Parse a LoCoMo session date such as ``"1:56 pm on 8 May, 2023"`` (read as UTC).

    Raises:
        ValueError: if ``text`` is not of that form.

    Example:
        >>> parse_locomo_date("1:56 pm on 8 May, 2023")
        datetime.datetime(2023, 5, 8, 13, 56, tzinfo=datetime.timezone.utc)
    """
    match = _DATE.match(text)
    if not match:
        raise ValueError(f"not a LoCoMo date: {text!r} (expected e.g. '1:56 pm on 8 May, 2023')")
    hour, minute, half, day, month_name, year = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None or not 1 <= int(hour) <= 12:
        raise ValueError(f"not a LoCoMo date: {text!r} (expected e.g. '1:56 pm on 8 May, 2023')")
    hour24 = int(hour) % 12 + (12 if half.lower() == "p" else 0)
    try:
        return datetime(int(year), month, int(day), hour24, int(minute), tzinfo=UTC)
    except ValueError as err:
        raise ValueError(f"not a LoCoMo date: {text!r} ({err})") from None


def _turn_id(raw: str) -> str:
    """Return ``raw`` as ``D<session>:<turn>`` without leading zeros, if it has that shape."""
    match = _TURN_ID.match(raw.strip())
    return f"D{int(match[1])}:{int(match[2])}" if match else raw


def clean_evidence(raw: list[Any], turns: set[str], sample_id: str) -> tuple[list[str], list[str]]:
    """Return the usable evidence ids of one question and a note per change made.

    Args:
        raw: the ``evidence`` list as the source has it.
        turns: the turn ids of the question's conversation.
        sample_id: the conversation, for the notes.

    Returns:
        ``(ids, notes)``: distinct valid turn ids in source order, and what was changed.

    Example:
        >>> clean_evidence(["D8:6; D9:17", "D"], {"D8:6", "D9:17"}, "conv-26")
        (['D8:6', 'D9:17'], ["split 'D8:6; D9:17' into 'D8:6', 'D9:17'", "dropped 'D': ..."])
    """
    ids: list[str] = []
    notes: list[str] = []
    for item in raw:
        text = str(item)
        pieces = [p for p in re.split(r"[;,\s]+", text.strip()) if p]
        if len(pieces) > 1:
            notes.append(f"split {text!r} into " + ", ".join(repr(p) for p in pieces))
        for piece in pieces:
            canonical = _turn_id(piece)
            if not _TURN_ID.match(piece):
                notes.append(f"dropped {piece!r}: not a turn id (D<session>:<turn>)")
                continue
            if canonical not in turns:
                notes.append(f"dropped {piece!r}: {sample_id} has no turn {canonical}")
                continue
            if canonical != piece:
                notes.append(f"read {piece!r} as {canonical!r}")
            if canonical not in ids:
                ids.append(canonical)
        if not pieces:
            notes.append(f"dropped {text!r}: empty")
    return ids, notes


class _Reader:
    """Collect records and problems while walking the source JSON."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []
        self.records: list[EventRecord | QueryRecord] = []
        self.samples: set[str] = set()

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(self.source, path, message))

    def conversation(self, index: int, item: Any) -> None:
        if not isinstance(item, dict):
            self.problem((index,), "expected an object with sample_id, conversation and qa")
            return
        sample_id = item.get("sample_id")
        if not isinstance(sample_id, str) or not sample_id:
            self.problem((index, "sample_id"), "required: a non-empty string")
            return
        if sample_id in self.samples:
            self.problem((index, "sample_id"), f"sample_id {sample_id!r} is used twice")
            return
        self.samples.add(sample_id)
        conversation = item.get("conversation")
        if not isinstance(conversation, dict):
            self.problem((sample_id, "conversation"), "required: an object of sessions")
            return
        turns = self.turns(sample_id, conversation)
        last = max((e.timestamp for e in turns if e.timestamp), default=None)
        at = last + _TURN_GAP if last is not None else None
        self.records.extend(turns)
        qa = item.get("qa", [])
        if not isinstance(qa, list):
            self.problem((sample_id, "qa"), "expected a list of questions")
            return
        ids = {e.id for e in turns}
        for number, question in enumerate(qa):
            self.question(sample_id, number, question, ids, at)

    def turns(self, sample_id: str, conversation: dict[str, Any]) -> list[EventRecord]:
        sessions = sorted(
            (int(m[1]), key) for key in conversation if (m := _SESSION.match(key))
        )
        events: list[EventRecord] = []
        seen: set[str] = set()
        for number, key in sessions:
            turns = conversation[key]
            if not isinstance(turns, list):
                self.problem((sample_id, key), "expected a list of turns")
                continue
            if not turns:
                continue
            date_key = f"{key}_date_time"
            try:
                start = parse_locomo_date(str(conversation.get(date_key, "")))
            except ValueError as err:
                self.problem((sample_id, date_key), str(err))
                continue
            for position, turn in enumerate(turns):
                where = (sample_id, key, position)
                if not isinstance(turn, dict) or not isinstance(turn.get("text"), str):
                    self.problem(where, "expected a turn with dia_id, speaker and text")
                    continue
                if not isinstance(turn.get("dia_id"), str) or not turn["dia_id"].strip():
                    self.problem((*where, "dia_id"), "required: a turn id such as 'D1:3'")
                    continue
                turn_id = _turn_id(turn["dia_id"])
                if turn_id in seen:
                    self.problem((*where, "dia_id"), f"turn id {turn_id!r} is used twice")
                    continue
                seen.add(turn_id)
                caption = turn.get("blip_caption")
                speaker = turn.get("speaker")
                events.append(
                    EventRecord(
                        id=turn_id,
                        content=turn["text"],
                        speaker=speaker if isinstance(speaker, str) else None,
                        timestamp=start + position * _TURN_GAP,
                        session_id=f"{sample_id}:S{number}",
                        metadata={"caption": caption} if isinstance(caption, str) else {},
                        user_id=sample_id,
                    )
                )
        return events

    def question(
        self, sample_id: str, number: int, item: Any, turns: set[str], at: datetime | None
    ) -> None:
        where = (sample_id, "qa", number)
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            self.problem(where, "expected a question object with question, answer, evidence")
            return
        category = item.get("category")
        category = str(category) if category is not None else None
        raw = item.get("evidence", [])
        if not isinstance(raw, list):
            self.problem((*where, "evidence"), "expected a list of turn ids")
            return
        evidence, notes = clean_evidence(raw, turns, sample_id)
        for note in notes:
            self.notes.append(Problem(self.source, (*where, "evidence"), note))
        if category == "5":
            answer, distractor = ABSTAIN_ANSWER, item.get("adversarial_answer", item.get("answer"))
        else:
            answer, distractor = item.get("answer"), None
        self.records.append(
            QueryRecord(
                id=f"{sample_id}:q{number + 1}",
                text=item["question"],
                at=at,
                evidence=evidence,
                answer=None if answer is None else str(answer),
                category=category,
                distractor=None if distractor is None else str(distractor),
                user_id=sample_id,
            )
        )


def load_locomo(path: str | Path) -> Dataset:
    """Load a LoCoMo JSON file (``locomo10.json`` or a subset of its conversations).

    Args:
        path: the JSON file.

    Returns:
        The dataset (``order="end"``: every question is asked after its conversation);
        ``notes`` lists each evidence id that was split, rewritten or dropped.

    Raises:
        StreamError: if the file cannot be read or is not LoCoMo-shaped, listing every
            problem with its place (``conv-26.session_3_date_time: not a LoCoMo date``).
    """
    source = str(path)
    data = load_json(path, source, "LoCoMo JSON")
    if not isinstance(data, list):
        message = "expected a JSON list of conversations (the shape of locomo10.json)"
        raise StreamError([Problem(source, (), message)])
    reader = _Reader(source)
    for index, item in enumerate(data):
        reader.conversation(index, item)
    if reader.problems:
        raise StreamError(reader.problems)
    samples = ", ".join(dict.fromkeys(r.user_id or "" for r in reader.records))
    header = StreamHeader(name="locomo", description=f"LoCoMo conversations {samples} from {Path(path).name}")
    stream = parse_stream(dump_stream([header, *reader.records]), source)
    return Dataset(name="locomo", source=source, stream=stream, categories=CATEGORIES,
                   notes=tuple(reader.notes) + stream.warnings, order="end")  # fmt: skip
