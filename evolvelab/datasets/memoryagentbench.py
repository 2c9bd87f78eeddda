"""MemoryAgentBench (Hu, Wang and McAuley, ICLR 2026) as chunked incremental streams.

The data (Hugging Face hub ``ai-hyz/MemoryAgentBench``; code HUST-AI-HYZ/MemoryAgentBench)
has four splits — ``Accurate_Retrieval``, ``Test_Time_Learning``,
``Long_Range_Understanding``, ``Conflict_Resolution`` — whose rows are one long
``context`` (a string), its ``questions`` (a list), their ``answers`` (a list of lists of
accepted answers) and ``metadata`` (``source`` such as ``ruler_qa1_197K``,
``eventqa_full`` or ``factconsolidation_sh_6k``, ``qa_pair_ids``, ``question_types``…).
The benchmark feeds the context to the agent chunk by chunk ("inject once, query
multiple times"), then asks the questions.

Accepted files: a JSON list of rows, a JSON object mapping split names to row lists, JSON
Lines (one row per line) or a split's Parquet file as the hub serves it.

What the loader makes of it:

- every row is its own scope (``user_id`` = ``<source>:<row>``); its context is cut into
  chunks of at most ``chunk_words`` words (default 128) at line breaks, a longer line
  at word boundaries; chunk ``n`` (from 1) is an event ``c<n>``, one minute after the one
  before, from 2024-01-01 00:00 UTC;
- each question is a query ``<qa_pair_id>`` (else ``<scope>:q<j>``) asked after the last
  chunk; ``answer`` is the first accepted answer; ``category`` is the row's slice:
  ``accurate_retrieval``, ``test_time_learning``, ``long_range_understanding`` or
  ``conflict_resolution``, from the ``source`` prefix (``ruler_``, ``eventqa``,
  ``infbench_qa``, ``longmemeval`` → accurate retrieval; ``icl_``, ``recsys`` →
  test-time learning; ``infbench_sum`` → long-range understanding;
  ``factconsolidation`` → conflict resolution), else from the split name or file name;
- **evidence** (the benchmark has none) is derived: the chunks holding an accepted
  answer (case-insensitive, as whole words). For conflict resolution only the **last**
  such chunk counts: facts are numbered in order and a later fact overrides an earlier
  one, so the evidence is where the newest value is stated. Questions whose answer is in
  no chunk (summaries, classification labels, recommendations) are asked but not scored
  (``evidence`` left out); the notes count them per slice.

So recall on a turn budget is a retrieval proxy for the accurate-retrieval and
conflict-resolution metrics (substring exact match of a generated answer against the
accepted ones); with ``--qa`` the generated answers are scored by token F1, not by
MemoryAgentBench's substring match.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evolvelab._strict_json import json_lines, loads
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

__all__ = ["SLICES", "chunk_context", "load_memoryagentbench", "slice_of"]

SLICES = {
    "accurate_retrieval": "accurate retrieval",
    "test_time_learning": "test-time learning",
    "long_range_understanding": "long-range understanding",
    "conflict_resolution": "conflict resolution",
}
"""The four competencies (category codes → readable names)."""

_PREFIXES = (("factconsolidation", "conflict_resolution"), ("infbench_sum", "long_range_understanding"),
             ("icl_", "test_time_learning"), ("recsys", "test_time_learning"), ("ruler_", "accurate_retrieval"),
             ("eventqa", "accurate_retrieval"), ("infbench_qa", "accurate_retrieval"),
             ("longmemeval", "accurate_retrieval"))  # fmt: skip
_START = datetime(2024, 1, 1, tzinfo=UTC)
_GAP = timedelta(minutes=1)


def slice_of(source: str, split: str | None = None) -> str | None:
    """Return the slice a row belongs to, from its ``source`` or else its split/file name.

    Example:
        >>> slice_of("factconsolidation_sh_6k"), slice_of("x", "Accurate_Retrieval-00000.parquet")
        ('conflict_resolution', 'accurate_retrieval')
    """
    lowered = source.lower()
    for prefix, name in _PREFIXES:
        if lowered.startswith(prefix):
            return name
    hint = (split or "").lower().replace("-", "_")
    return next((name for name in SLICES if name in hint), None)


def chunk_context(context: str, chunk_words: int) -> list[str]:
    """Cut ``context`` into chunks of at most ``chunk_words`` words, at line breaks first.

    Example:
        >>> chunk_context("0. A is red.\\n1. A is blue.", 4)
        ['0. A is red.', '1. A is blue.']
    """
    chunks: list[str] = []
    lines: list[str] = []
    size = 0
    for line in context.splitlines():
        words = line.split()
        if not words:
            continue
        while len(words) > chunk_words:  # a long line: flush, then cut at word boundaries
            if lines:
                chunks.append("\n".join(lines))
                lines, size = [], 0
            chunks.append(" ".join(words[:chunk_words]))
            words = words[chunk_words:]
        if size + len(words) > chunk_words and lines:
            chunks.append("\n".join(lines))
            lines, size = [], 0
        lines.append(" ".join(words))
        size += len(words)
    if lines:
        chunks.append("\n".join(lines))
    return chunks


def _holds(chunk: str, answer: str) -> bool:
    answer = answer.strip()
    if not answer:
        return False
    return re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", chunk, re.IGNORECASE) is not None


@dataclass
class _Row:
    split: str | None
    index: int
    data: Any


def _rows(path: Path, source: str) -> list[_Row]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        except Exception as err:  # pyarrow raises many kinds for a bad file
            raise StreamError(
                [Problem(source, (), f"cannot read MemoryAgentBench Parquet: {err}")]
            ) from err
        return [_Row(path.name, i, row) for i, row in enumerate(table.to_pylist())]
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise StreamError(
            [Problem(source, (), f"cannot read MemoryAgentBench file: {err}")]
        ) from err
    if suffix == ".jsonl":
        values, bad = json_lines(raw)
        if bad:
            raise StreamError([Problem(source, (), message, line, column) for line, column, message in bad])
        return [_Row(path.name, number - 1, value) for number, value in values]
    try:
        data = loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StreamError(
            [Problem(source, (), f"cannot read MemoryAgentBench JSON: {err}")]
        ) from err
    if isinstance(data, dict):
        return [_Row(split, i, row) for split, rows in data.items() if isinstance(rows, list)
                for i, row in enumerate(rows)]  # fmt: skip
    if isinstance(data, list):
        return [_Row(path.name, i, row) for i, row in enumerate(data)]
    raise StreamError(
        [
            Problem(
                source, (), "expected a list of rows, an object of split → rows, JSONL or Parquet"
            )
        ]
    )


def load_memoryagentbench(path: str | Path, *, chunk_words: int = 128) -> Dataset:
    """Load MemoryAgentBench rows (JSON, JSONL or a split's Parquet file) as a stream.

    Args:
        path: the file.
        chunk_words: most words per chunk event.

    Returns:
        The dataset (``order="end"``); categories are the slices present.

    Raises:
        StreamError: if the file cannot be read or a row is malformed, listing every
            problem with its place (``Conflict_Resolution.3.questions: required: a list``).
    """
    source = str(path)
    problems: list[Problem] = []
    records: list[StreamRecord] = []
    unscored: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    unknown: list[str] = []
    seen: set[str] = set()
    query_ids: set[str] = set()
    for row in _rows(Path(path), source):
        where: tuple[str | int, ...] = (row.split or "", row.index) if row.split else (row.index,)
        data = row.data
        if not isinstance(data, dict):
            problems.append(
                Problem(source, where, "expected a row object with context, questions, answers")
            )
            continue
        context, questions, answers = (
            data.get("context"),
            data.get("questions"),
            data.get("answers"),
        )
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        bad = [(k, t) for k, t in (("context", str), ("questions", list), ("answers", list))
               if not isinstance(data.get(k), t)]  # fmt: skip
        for key, kind in bad:
            problems.append(
                Problem(
                    source,
                    (*where, key),
                    "required: a string" if kind is str else "required: a list",
                )
            )
        if bad:
            continue
        if len(questions) != len(answers):
            problems.append(
                Problem(
                    source, where, f"{len(questions)} questions but {len(answers)} answer lists"
                )
            )
            continue
        name = str(metadata.get("source") or f"row{row.index}")
        scope = f"{name}:{row.index}"
        if scope in seen:
            scope = f"{name}:{row.split}:{row.index}"
        seen.add(scope)
        part = slice_of(name, row.split)
        if part is None:
            unknown.append(name)
            part = "unknown"
        chunks = chunk_context(context, chunk_words)
        ids = [f"c{n}" for n in range(1, len(chunks) + 1)]
        for n, (event_id, text) in enumerate(zip(ids, chunks, strict=True)):
            records.append(EventRecord(id=event_id, content=text, timestamp=_START + n * _GAP,
                                       session_id=scope, user_id=scope, kind="chunk"))  # fmt: skip
        pair_ids = (
            metadata.get("qa_pair_ids") if isinstance(metadata.get("qa_pair_ids"), list) else []
        )
        at = _START + len(chunks) * _GAP
        for j, (question, accepted) in enumerate(zip(questions, answers, strict=True)):
            if not isinstance(question, str) or not question.strip():
                problems.append(
                    Problem(source, (*where, "questions", j), "required: a non-empty string")
                )
                continue
            accepted = [
                str(a)
                for a in (accepted if isinstance(accepted, list) else [accepted])
                if a is not None
            ]
            holding = [
                i
                for i, chunk in zip(ids, chunks, strict=True)
                if any(_holds(chunk, a) for a in accepted)
            ]
            if part == "conflict_resolution":
                holding = holding[-1:]
            asked[part] += 1
            if not holding:
                unscored[part] += 1
            qid = str(pair_ids[j]) if j < len(pair_ids) and pair_ids[j] else f"{scope}:q{j + 1}"
            if qid in query_ids:
                qid = f"{scope}:q{j + 1}"
            query_ids.add(qid)
            records.append(QueryRecord(id=qid, text=question, at=at, user_id=scope, category=part,
                                       evidence=holding or None, answer=accepted[0] if accepted else None))  # fmt: skip
    if problems:
        raise StreamError(problems)
    notes = [Problem(source, (), f"{part}: {n} of {asked[part]} questions have an answer found in no chunk; "
                                 "asked, not scored") for part, n in sorted(unscored.items())]  # fmt: skip
    if unknown:
        notes.append(
            Problem(
                source, (), f"slice unknown for sources {sorted(set(unknown))}; category 'unknown'"
            )
        )
    header = StreamHeader(name="memoryagentbench", description=f"MemoryAgentBench rows from {Path(path).name}, "
                                                              f"chunks of at most {chunk_words} words")  # fmt: skip
    stream = parse_stream(dump_stream([header, *records]), source)
    categories = {k: v for k, v in SLICES.items() if k in asked}
    return Dataset(name="memoryagentbench", source=source, stream=stream, categories=categories,
                   notes=tuple(notes) + stream.warnings, order="end")  # fmt: skip
