"""Experiential task streams as datasets: tasks asked in order, each followed by its episode.

A task stream is a file in the ordinary stream format (``docs/streams.md``) laid out in
**task blocks**: a ``query`` record (the task, asked of memory before it is attempted),
then the events of its episode, then an ``outcome`` record for it. ``evidence`` on the
query names the steps of other episodes that would help it, ``misleading`` those that
would mislead it. :mod:`evolvelab.evaluation.experiential` replays such a stream block
by block and scores what memory supplied.

    >>> from evolvelab.datasets.tasks import load_tasks, tasks_sample_path
    >>> data = load_tasks(tasks_sample_path())
    >>> data.order, len(data.stream.queries)
    ('tasks', 60)

:func:`task_blocks` splits a stream into its blocks and :func:`episode_of` maps event
ids to the episode (task) they belong to; both are what the evaluation and the order
permutations build on. The generator (:mod:`evolvelab.datasets.tasks_generate`) is not
imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evolvelab._bundled import bundled_path

from evolvelab.datasets import Dataset
from evolvelab.errors import EvolveLabError, Problem
from evolvelab.stream import EventRecord, QueryRecord, Stream, StreamRecord, read_stream

__all__ = ["TaskBlock", "episode_of", "load_tasks", "task_blocks", "tasks_sample_path"]

FAMILIES = {"household": "household", "tools": "tool-use recipes", "puzzles": "puzzles"}
"""Readable names of the generated streams' task families (query categories)."""

ScopedId = tuple[str | None, str | None, str]


def tasks_sample_path() -> Path:
    """Return the path of the bundled task stream (``evolvelab/data/tasks-sample.jsonl``)."""
    return bundled_path("tasks-sample.jsonl")


@dataclass(frozen=True)
class TaskBlock:
    """One task: its query and the records up to the next task's query."""

    query: QueryRecord
    records: tuple[StreamRecord, ...]


def task_blocks(stream: Stream) -> tuple[list[StreamRecord], list[TaskBlock]]:
    """Split ``stream`` into the records before the first query and one block per query.

    Returns:
        ``(prefix, blocks)``: the prefix is ingested before any task is asked; each block
        is a query followed by every record up to the next query, in file order.
    """
    prefix: list[StreamRecord] = []
    blocks: list[TaskBlock] = []
    current: QueryRecord | None = None
    pending: list[StreamRecord] = []
    for record in stream.records:
        if isinstance(record, QueryRecord):
            if current is not None:
                blocks.append(TaskBlock(current, tuple(pending)))
            current, pending = record, []
        elif current is None:
            prefix.append(record)
        else:
            pending.append(record)
    if current is not None:
        blocks.append(TaskBlock(current, tuple(pending)))
    return prefix, blocks


def episode_of(events: list[EventRecord]) -> dict[ScopedId, str]:
    """Map each event (by scope and id) to its episode.

    The episode is the event's ``session_id``; without one, its ``metadata.task_id``;
    without that, the event id itself (an episode of one event).
    """
    out: dict[ScopedId, str] = {}
    for event in events:
        task = event.metadata.get("task_id")
        episode = event.session_id or (str(task) if task is not None else event.id)
        out[(event.user_id, event.agent_id, event.id)] = episode
    return out


def load_tasks(path: str | Path) -> Dataset:
    """Load an experiential task stream (a JSONL stream laid out in task blocks).

    Args:
        path: the ``.jsonl`` file.

    Returns:
        The dataset, replayed in ``tasks`` order; its notes list ids in ``evidence`` or
        ``misleading`` that name no event, and queries whose annotations were left out.

    Raises:
        StreamError: listing every malformed line.
        EvolveLabError: if the stream holds no query (no task to replay).
    """
    stream = read_stream(path)
    if not stream.queries:
        raise EvolveLabError(
            f"{path}: a task stream needs query records (one per task, before its episode); "
            "this one has none"
        )
    notes = list(stream.warnings)
    for query in stream.queries:
        if query.evidence is None and query.misleading is None:
            notes.append(Problem(str(path), ("id",), f"task {query.id!r} carries no annotations "
                                 "(evidence or misleading): it is replayed but not scored"))  # fmt: skip
    name = stream.header.name if stream.header is not None else "tasks"
    categories = {c: FAMILIES.get(c, c) for c in sorted({q.category for q in stream.queries if q.category})}
    return Dataset(name=name, source=str(path), stream=stream, categories=categories,
                   notes=tuple(notes), order="tasks")  # fmt: skip
