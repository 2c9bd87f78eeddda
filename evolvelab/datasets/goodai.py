"""GoodAI LTM Benchmark task definitions as one interleaved conversation.

The source is a folder of ``<Task>/<example>.def.json`` files (``definitions/`` of a
"Benchmark 3" run, or its parent). Each definition is one scripted memory task:
``script`` (user messages), ``is_question`` (true marks a probe), ``waits`` (after each
message, how far the conversation must have moved on before the task's next message:
``percentage_finished`` of the memory span, and for temporal tasks a ``time`` jump in
seconds) and ``expected_responses``.

What the loader makes of it (the benchmark also puts generated filler talk between the
task messages; that filler is not part of the definitions and is **not** included, so the
stream holds the task messages only):

- one scope (``user_id`` ``goodai``) and one session: a single conversation;
- every script line that is not a probe is an event, ``id`` ``<Task>/<example>:<line>``
  (lines counted from 1), ``speaker`` ``user``;
- every probe is a query, ``id`` ``<Task>/<example>:q<line>``, asked where it stands in
  the conversation (``Dataset.order`` is ``stream``); its ``evidence`` is every earlier
  non-probe line of the same task, its ``answer`` the expected response (a task with one
  probe gets all expected responses, a task with one response per probe gets its own),
  and its ``category`` the task name (``Colours``, ``Shopping`` ...);
- temporal probes (Jokes) carry no text in the definition: the benchmark asks "Which joke
  did I tell you about <H> hours <M> minutes ago?" with the time since the expected joke;
  the loader writes that question from the stream's own clock;
- tasks with an empty script (Restaurant, which an LLM drives at run time) are left out
  and listed in ``Dataset.notes``.

Interleaving is deterministic for a given ``seed``. A line's *position* is measured in
percent of the memory span: a task's first line stands at the task's start, each next line
at the start plus the previous line's ``percentage_finished`` (at the same position when
the wait has none, so such lines follow at once). Examples of one task type run one after
another, 100 apart (the benchmark never runs two examples of a type at once); each task
type starts at an offset drawn uniformly from [0, 100) by ``random.Random(seed)``. Lines
are ordered by position, then by a seeded rank of their task type, then by example and
line, so lines at one position from one example stay together and in order. The clock
starts at 2024-01-01 09:00 UTC and moves one minute per line, or further where a ``time``
wait asks for it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evolvelab.datasets import Dataset, load_json
from evolvelab.errors import Problem, StreamError
from evolvelab.stream import EventRecord, QueryRecord, StreamHeader, dump_stream, parse_stream

__all__ = ["USER_ID", "answer_text", "load_goodai"]

USER_ID = "goodai"
"""The scope of the whole conversation."""

_START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
_STEP = timedelta(minutes=1)
_SPAN = 100.0


@dataclass
class _Line:
    """One script line placed in the conversation."""

    task: str
    example: str
    number: int  # 1-based line number in the script
    text: str
    question: bool
    position: float
    rank: int
    example_index: int
    wait_seconds: float  # time that must pass after this line before the task's next one


@dataclass
class _Task:
    """One definition file."""

    task: str
    example: str
    script: list[str]
    is_question: list[bool]
    waits: list[dict[str, Any]]
    expected: list[Any]
    temporal: bool


def answer_text(expected: Any) -> str:
    """Render an expected response as text: lists are joined with ', ', inner lists with ' '.

    Example:
        >>> answer_text([["leek", 3], ["soap", 2]])
        'leek 3, soap 2'
    """
    if isinstance(expected, list):
        inner = [" ".join(map(str, e)) if isinstance(e, list) else str(e) for e in expected]
        return ", ".join(inner)
    return str(expected)


def _definitions(path: Path) -> Path:
    """Return the folder holding ``<Task>/<example>.def.json`` files under ``path``."""
    if (path / "definitions").is_dir():
        return path / "definitions"
    return path


def _read(file: Path, root: Path, problems: list[Problem]) -> _Task | None:
    """Read and check one definition file; add problems and return ``None`` if it is bad."""
    where = str(file.relative_to(root))
    try:
        data = load_json(file, where, "definition")
    except StreamError as err:
        problems.extend(err.problems)
        return None
    if not isinstance(data, dict):
        problems.append(Problem(where, (), "expected a JSON object with script, is_question, waits"))
        return None
    script, flags, waits = data.get("script"), data.get("is_question"), data.get("waits", [])
    if not isinstance(script, list) or not all(isinstance(s, str) for s in script):
        problems.append(Problem(where, ("script",), "required: a list of strings"))
        return None
    if not isinstance(flags, list) or not all(isinstance(f, bool) for f in flags):
        problems.append(Problem(where, ("is_question",), "required: a list of booleans"))
        return None
    if not isinstance(waits, list) or not all(isinstance(w, dict) for w in waits):
        problems.append(Problem(where, ("waits",), "expected a list of objects"))
        return None
    temporal = bool(data.get("is_temporal", False))
    # A temporal task's probe is written at run time: its flag has no script line.
    extra = len(flags) - len(script)
    if extra not in (0, 1) or (extra == 1 and not (temporal and flags[-1])):
        message = f"has {len(flags)} entries for {len(script)} script lines"
        problems.append(Problem(where, ("is_question",), message))
        return None
    expected = data.get("expected_responses", [])
    if not isinstance(expected, list):
        problems.append(Problem(where, ("expected_responses",), "expected a list"))
        return None
    return _Task(file.parent.name, file.name.removesuffix(".def.json"), script, flags,
                 waits, expected, temporal)  # fmt: skip


def _seconds(wait: dict[str, Any]) -> float:
    value = wait.get("time", 0)
    return float(value) if isinstance(value, int | float) else 0.0


def _place(tasks: list[_Task], seed: int) -> list[_Line]:
    """Place every line of every task on the shared progress axis, then order them."""
    rng = random.Random(seed)
    types = sorted({t.task for t in tasks})
    offsets = {name: rng.uniform(0, _SPAN) for name in types}
    order = types[:]
    rng.shuffle(order)
    rank = {name: i for i, name in enumerate(order)}
    lines: list[_Line] = []
    for name in types:
        examples = sorted((t for t in tasks if t.task == name), key=lambda t: _natural(t.example))
        for index, task in enumerate(examples):
            position = offsets[name] + index * _SPAN
            count = len(task.is_question)
            for i in range(count):
                if i > 0:
                    previous = task.waits[i - 1] if i - 1 < len(task.waits) else {}
                    step = previous.get("percentage_finished")
                    if isinstance(step, int | float):
                        position = offsets[name] + index * _SPAN + float(step)
                wait = task.waits[i] if i < len(task.waits) else {}
                text = task.script[i] if i < len(task.script) else ""
                lines.append(_Line(name, task.example, i + 1, text, task.is_question[i],
                                   position, rank[name], index, _seconds(wait)))  # fmt: skip
    lines.sort(key=lambda ln: (ln.position, ln.rank, ln.example_index, ln.number))
    return lines


def _natural(name: str) -> tuple[Any, ...]:
    """Sort key putting ``2`` before ``10``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _ago(delta: timedelta) -> str:
    """Say how long ago, as the benchmark does: ``2 hours 5 minutes``."""
    minutes = int(delta.total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    parts = ([f"{hours} hours"] if hours else []) + ([f"{minutes} minutes"] if minutes else [])
    return " ".join(parts) or "0 minutes"


def _records(tasks: list[_Task], seed: int) -> list[EventRecord | QueryRecord]:
    """Turn placed lines into events and queries with a shared clock."""
    by_key = {(t.task, t.example): t for t in tasks}
    clock = _START - _STEP
    ready: dict[tuple[str, str], datetime] = {}
    said: dict[tuple[str, str], list[tuple[_Line, datetime]]] = {}
    records: list[EventRecord | QueryRecord] = []
    for line in _place(tasks, seed):
        key = (line.task, line.example)
        clock = max(clock + _STEP, ready.get(key, clock))
        ready[key] = clock + timedelta(seconds=line.wait_seconds)
        prefix = f"{line.task}/{line.example}"
        earlier = said.setdefault(key, [])
        if not line.question:
            earlier.append((line, clock))
            records.append(EventRecord(id=f"{prefix}:{line.number}", content=line.text,
                                       speaker="user", timestamp=clock,
                                       session_id=f"{USER_ID}:S1", user_id=USER_ID))  # fmt: skip
            continue
        task = by_key[key]
        probes = [i for i, flag in enumerate(task.is_question) if flag]
        if len(probes) > 1 and len(task.expected) == len(probes):
            expected: Any = task.expected[probes.index(line.number - 1)]
        else:
            expected = task.expected
        text = line.text
        if task.temporal and not text:
            target = expected[0] if isinstance(expected, list) and expected else expected
            when = next((t for ln, t in earlier if ln.text == target), None)
            text = "Which joke did I tell you about " + (
                f"{_ago(clock - when)} ago?" if when else "some time ago?"
            )
        records.append(QueryRecord(id=f"{prefix}:q{line.number}", text=text, at=clock,
                                   evidence=[f"{prefix}:{ln.number}" for ln, _ in earlier],
                                   answer=answer_text(expected), category=line.task,
                                   user_id=USER_ID))  # fmt: skip
    return records


def load_goodai(path: str | Path, *, seed: int = 0) -> Dataset:
    """Load GoodAI LTM task definitions as one interleaved conversation.

    Args:
        path: the ``definitions`` folder, or a folder holding one.
        seed: the interleaving seed (the same seed always gives the same stream).

    Returns:
        The dataset (``order="stream"``: each probe is asked where it stands).

    Raises:
        StreamError: if the folder holds no definitions, or a definition is malformed.
    """
    root = _definitions(Path(path))
    files = sorted(root.glob("*/*.def.json"))
    if not files:
        message = "no GoodAI definitions here (expected <Task>/<example>.def.json files)"
        raise StreamError([Problem(str(path), (), message)])
    problems: list[Problem] = []
    read = [_read(file, root, problems) for file in files]
    if problems:
        raise StreamError(problems)
    tasks = [t for t in read if t is not None and t.is_question]
    notes = tuple(
        Problem(f"{t.task}/{t.example}.def.json", (), "left out: the script is empty "
                "(the task is driven at run time)")
        for t in read if t is not None and not t.is_question
    )  # fmt: skip
    header = StreamHeader(
        name="goodai",
        description=f"GoodAI LTM definitions from {root}, interleaved with seed {seed}, no filler",
    )
    stream = parse_stream(dump_stream([header, *_records(tasks, seed)]), str(path))
    return Dataset(name="goodai", source=str(path), stream=stream, notes=notes + stream.warnings,
                   order="stream")  # fmt: skip
