"""Replay a stream through a memory: ingest its events, ask its queries, time both.

This is the one ingest/ask loop behind ``evolvelab run`` and ``evolvelab eval``. It knows
nothing about metrics: it hands back each query with the hits it got and how long the
search took, and what ingestion cost.

Two orders:

- ``end``: every selected scope's events are added (scope by scope, in file order, in
  batches), optionally followed by one ``manage(scope)`` per scope, then every query is
  asked in file order. Outcomes, if fed, go in after ingestion and before the queries.
- ``stream``: records are taken in file order; consecutive events of one scope are
  batched, and each query is asked (or outcome fed) where it stands, so a query sees
  only what came before it.

What ingestion dropped (``AddResult.dropped``) is summed over every ``add`` and listed in
the replay's warnings. An ``add`` that fails stops the replay with an :class:`IngestError`
that says which batch failed, how many events before it are stored, and whether the
failing batch wrote nothing or was written before a later stage failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from evolvelab.errors import AfterWriteError, ConfigError, EvolveLabError
from evolvelab.stream import EventRecord, OutcomeRecord, QueryRecord, StreamRecord
from evolvelab.types import Dropped, Event, Hit, Scope

if TYPE_CHECKING:
    from rich.console import Console

    from evolvelab.pipeline import Memory

__all__ = ["Asked", "IngestError", "Replay", "held_warnings", "replay", "select_records"]

Manage = Literal["end", "none"]


@dataclass
class Asked:
    """One query, the hits its search returned, and the search time in seconds."""

    record: QueryRecord
    hits: list[Hit]
    seconds: float


@dataclass
class Replay:
    """What a replay did: events ingested, time spent, and every query asked."""

    events: int = 0
    scopes: int = 0
    ingest_seconds: float = 0.0
    manage_seconds: float = 0.0
    outcomes: int = 0
    asked: list[Asked] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    """What the encoders could not keep, summed by stage and reason over every add."""

    @property
    def dropped_count(self) -> int:
        """How many items ingestion dropped in all."""
        return sum(d.count for d in self.dropped)

    def warn_dropped(self) -> None:
        """Add one warning listing what ingestion dropped, if it dropped anything."""
        if self.dropped:
            reasons = "; ".join(d.render() for d in self.dropped)
            self.warnings.append(
                f"ingest dropped {self.dropped_count} item(s) the encoders could not keep: {reasons}"
            )

    def _count_dropped(self, dropped: Sequence[Dropped]) -> None:
        for item in dropped:
            for i, seen in enumerate(self.dropped):
                if (seen.stage, seen.reason) == (item.stage, item.reason):
                    self.dropped[i] = seen.model_copy(update={"count": seen.count + item.count})
                    break
            else:
                self.dropped.append(item)


class IngestError(EvolveLabError):
    """An ``add`` failed during a replay; the message says what is stored.

    Attributes:
        events_stored: events of earlier batches, ingested before the failing one.
        written: notes the failing batch wrote before a later stage failed
            (:class:`~evolvelab.errors.AfterWriteError`); ``None``: the batch wrote nothing.
    """

    def __init__(self, where: str, events_stored: int, cause: EvolveLabError) -> None:
        self._where = where
        self.events_stored = events_stored
        self.written = len(cause.written) if isinstance(cause, AfterWriteError) else None
        self.cause = cause
        before = (
            f"the {events_stored} events of earlier batches are stored"
            if events_stored
            else "the first batch"
        )
        if self.written is None:
            what = f"nothing from this batch was written: {cause}"
        else:
            what = f"this batch: {cause}"
        super().__init__(f"ingest stopped at {where} ({before}); {what}")

    def __reduce__(self) -> Any:
        return (type(self), (self._where, self.events_stored, self.cause))


def _key(record: EventRecord | QueryRecord | OutcomeRecord) -> tuple[str | None, str | None]:
    return record.user_id, record.agent_id


def held_warnings(memory: Memory, keys: Iterable[tuple[str | None, str | None]]) -> list[str]:
    """Name each (user_id, agent_id) owner that already holds notes before a replay."""
    warnings = []
    for user_id, agent_id in keys:
        held = memory.count(Scope(user_id=user_id, agent_id=agent_id))
        if held:
            warnings.append(
                f"scope user_id={user_id!r} agent_id={agent_id!r} already held {held} notes "
                "before ingestion; scores mix with an earlier run (use a fresh data dir)"
            )
    return warnings


def select_records(
    records: Sequence[StreamRecord],
    *,
    scopes: Iterable[str] | None = None,
    limit: int | None = None,
    order: Literal["end", "stream"] = "end",
) -> list[StreamRecord]:
    """Keep the records of the chosen user ids, and at most ``limit`` queries.

    Args:
        records: stream records in file order.
        scopes: user ids to keep (``None``: all).
        limit: keep the first ``limit`` queries (in file order) of the kept scopes. In
            ``end`` order only the scopes those queries ask about are kept; in ``stream``
            order everything up to the last kept query is kept.
        order: the order the records will be replayed in.

    Returns:
        The kept records, in file order.

    Raises:
        EvolveLabError: if ``limit`` is less than 1.
    """
    if limit is not None and limit < 1:
        raise EvolveLabError(f"limit must be at least 1, got {limit}")
    wanted = set(scopes) if scopes is not None else None
    kept = [r for r in records if wanted is None or r.user_id in wanted]
    if limit is None:
        return kept
    queries = [i for i, r in enumerate(kept) if isinstance(r, QueryRecord)][:limit]
    if not queries:
        return kept
    if order == "stream":
        last = queries[-1]
        return [r for i, r in enumerate(kept) if i <= last]
    chosen = set(queries)
    asked = {_key(kept[i]) for i in queries}  # type: ignore[arg-type]
    return [
        r for i, r in enumerate(kept)
        if (isinstance(r, QueryRecord) and i in chosen)
        or (not isinstance(r, QueryRecord) and _key(r) in asked)
    ]  # fmt: skip


class _Progress:
    """Rich progress bars when wanted, silent otherwise."""

    def __init__(self, enabled: bool, console: Console | None) -> None:
        self.bars: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())  # fmt: skip
            self.bars = Progress(*columns, console=console, transient=False)

    def __enter__(self) -> _Progress:
        if self.bars is not None:
            self.bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.__exit__(*exc)

    def task(self, description: str, total: int) -> Any:
        return self.bars.add_task(description, total=total) if self.bars is not None else None

    def advance(self, task: Any, n: int = 1) -> None:
        if self.bars is not None:
            self.bars.advance(task, n)


def replay(
    memory: Memory,
    records: Sequence[StreamRecord],
    *,
    k: int,
    order: Literal["end", "stream"] = "end",
    batch_size: int = 32,
    manage: Manage = "none",
    feedback: bool = True,
    progress: bool = False,
    console: Console | None = None,
    on_answer: Callable[[Asked], None] | None = None,
) -> Replay:
    """Ingest ``records``' events into ``memory`` and ask their queries.

    Args:
        memory: the pipeline (opened here if it is not; closing it is the caller's job).
        records: stream records in file order (see :func:`select_records`).
        k: hits to ask each search for.
        order: ``end`` or ``stream`` (see the module docs).
        batch_size: most events per ``add()`` call.
        manage: ``end`` runs ``manage(scope)`` once after each scope's events (``end``
            order only, and only if the pipeline has managers); ``none`` leaves managers
            to their own ``every`` schedule.
        feedback: whether outcome records are passed to ``memory.feedback``.
        progress: show rich progress bars.
        console: where the bars go (default: a new console on standard error).
        on_answer: called with each query right after its search (e.g. to generate an
            answer); its time is not counted as search time.

    Returns:
        Ingestion counts and times, and every query with its hits.

    Raises:
        EvolveLabError: for a batch size below 1; stage errors propagate.
    """
    if batch_size < 1:
        raise EvolveLabError(f"batch size must be at least 1, got {batch_size}")
    if progress and console is None:
        from rich.console import Console

        console = Console(stderr=True)
    result = Replay()
    events = [r for r in records if isinstance(r, EventRecord)]
    queries = [r for r in records if isinstance(r, QueryRecord)]
    keys = list(dict.fromkeys(_key(r) for r in events))
    result.scopes = len(keys)
    result.warnings.extend(held_warnings(memory, keys))
    runner = _Runner(memory, result, k, feedback, on_answer)
    memory.open()
    with _Progress(progress, console) as bars:
        ingesting = bars.task(f"ingest {len(events)} events", len(events))
        asking = bars.task(f"ask {len(queries)} queries", len(queries)) if order == "stream" else None
        if order == "end":
            for scope_key in keys:
                scoped = [e for e in events if _key(e) == scope_key]
                for start in range(0, len(scoped), batch_size):
                    batch = scoped[start : start + batch_size]
                    runner.add(batch)
                    bars.advance(ingesting, len(batch))
                if manage == "end" and memory.managers:
                    runner.manage(Scope(user_id=scope_key[0], agent_id=scope_key[1]))
            for record in records:
                if isinstance(record, OutcomeRecord):
                    runner.feed(record)
            asking = bars.task(f"ask {len(queries)} queries", len(queries))
            for query in queries:
                runner.ask(query)
                bars.advance(asking)
        elif order == "stream":
            pending: list[EventRecord] = []
            for record in records:
                if isinstance(record, EventRecord):
                    if pending and (_key(pending[0]) != _key(record) or len(pending) >= batch_size):
                        runner.add(pending)
                        bars.advance(ingesting, len(pending))
                        pending = []
                    pending.append(record)
                    continue
                if pending:
                    runner.add(pending)
                    bars.advance(ingesting, len(pending))
                    pending = []
                if isinstance(record, QueryRecord):
                    runner.ask(record)
                    bars.advance(asking)
                else:
                    runner.feed(record)
            if pending:
                runner.add(pending)
                bars.advance(ingesting, len(pending))
        else:
            raise EvolveLabError(f"unknown order {order!r}; allowed: end, stream")
    result.warn_dropped()
    return result


class _Runner:
    """The timed calls a replay makes."""

    def __init__(self, memory: Memory, result: Replay, k: int, feedback: bool,
                 on_answer: Callable[[Asked], None] | None) -> None:  # fmt: skip
        self.memory, self.result, self.k = memory, result, k
        self.feedback, self.on_answer = feedback, on_answer

    def add(self, batch: list[EventRecord]) -> None:
        scope = batch[0].scope()
        events: list[Event] = [record.to_event() for record in batch]
        start = time.perf_counter()
        try:
            added = self.memory.add(events, scope=scope)
        except ConfigError:
            raise
        except EvolveLabError as err:
            who = f"user_id={scope.user_id!r} agent_id={scope.agent_id!r}"
            where = f"events {events[0].id!r}..{events[-1].id!r} ({len(events)}) of {who}"
            raise IngestError(where, self.result.events, err) from err
        self.result.ingest_seconds += time.perf_counter() - start
        self.result.events += len(events)
        self.result._count_dropped(getattr(added, "dropped", ()))

    def manage(self, scope: Scope) -> None:
        start = time.perf_counter()
        self.memory.manage(scope)
        spent = time.perf_counter() - start
        self.result.ingest_seconds += spent
        self.result.manage_seconds += spent

    def feed(self, record: OutcomeRecord) -> None:
        if self.feedback:
            self.memory.feedback(record.to_outcome(), record.used_ids)
            self.result.outcomes += 1

    def ask(self, record: QueryRecord) -> Asked:
        query = record.to_query(k=self.k)
        start = time.perf_counter()
        hits = self.memory.search(query)
        asked = Asked(record, hits, time.perf_counter() - start)
        self.result.asked.append(asked)
        if self.on_answer is not None:
            self.on_answer(asked)
        return asked
