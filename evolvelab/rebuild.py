"""From the event log to stores and streams: recovery, rebuild, export and import.

The event log (:mod:`evolvelab.eventlog`) is the source of truth; this module turns it
into the other things:

- :func:`use_event_log` attaches a log to a memory and *recovers*: entries the stores had
  not absorbed when the process died (acknowledged, so in the log) are applied again.
- :func:`rebuild` derives a fresh memory for another pipeline from a data folder's log,
  with corrections, deletions and erasures applied (``evolvelab rebuild``).
- :func:`export_records` turns the log into stream records (``evolvelab export``,
  ``GET /v1/export``), which ``evolvelab run --stream`` and ``evolvelab evolve`` read.
- :func:`import_records` feeds stream records into a memory (through its log, if any).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evolvelab import datadir
from evolvelab.errors import AfterWriteError, EvolveLabError
from evolvelab.eventlog import (
    AddEntry,
    DeleteEntry,
    EventLog,
    ForgetEntry,
    LogSnapshot,
    OutcomeEntry,
    OwnerPattern,
    QueryEntry,
    UpdateEntry,
)
from evolvelab.group_commit import AddRequest, commit_adds
from evolvelab.lifecycle import apply_outcome, apply_update, erase_from_log, forget, record_outcome
from evolvelab.stream import EventRecord, OutcomeRecord, QueryRecord, StreamRecord
from evolvelab.types import Scope

if TYPE_CHECKING:
    from evolvelab.pipeline import Memory

__all__ = [
    "ReplayReport", "export_records", "import_records", "log_dir", "rebuild", "replay",
    "use_event_log",
]  # fmt: skip

LOG_DIR = "eventlog"
_BATCH_EVENTS = 512


def log_dir(data_dir: str | Path) -> Path:
    """Return where a data folder keeps its event log."""
    return Path(data_dir) / LOG_DIR


@dataclass
class ReplayReport:
    """What replaying a log did."""

    entries: int = 0
    events: int = 0
    updates: int = 0
    deletes: int = 0
    forgets: int = 0
    outcomes: int = 0
    failures: list[str] = field(default_factory=list)


def use_event_log(memory: Memory, directory: str | Path | None = None) -> ReplayReport:
    """Open ``memory`` with an event log (default: ``<data dir>/eventlog``) and recover.

    From then on every add, correction, deletion and erasure is logged and durable before
    it returns. Entries logged but not yet in the stores (a crash between the two) are
    applied now; a store that keeps nothing across processes (``memory``) gets the whole
    log again.

    Returns:
        What recovery replayed (nothing, after a clean shutdown).
    """
    memory.open()
    if memory.log is None:
        memory.log = EventLog(directory or log_dir(memory.data_dir)).open()
    stores = [s for s in (memory.store, memory.graph) if s is not None]
    kept = all(store.keeps_data for store in stores)
    return replay(memory, after=memory.log.applied if kept else 0)


def replay(memory: Memory, *, after: int = 0) -> ReplayReport:
    """Apply the memory's log entries with ``seq > after`` to its stores (without logging them).

    Consecutive adds are written in groups; every applied entry is marked applied. An
    erasure (delete, forget) is marked applied only once the log is rewritten without
    what it erased, so a crash during recovery leaves it to be done again; an add that
    wrote nothing (a store or encoder failure, listed in ``failures``) is not marked
    applied either, so the next open tries it again.
    """
    log = memory.log
    report = ReplayReport()
    if log is None:
        return report
    pending: list[AddEntry] = []

    def flush() -> None:
        if not pending:
            return
        requests = [AddRequest(scope=e.scope, events=e.events) for e in pending]
        for entry, result in zip(pending, commit_adds(memory, requests, log=False), strict=True):
            if isinstance(result, EvolveLabError):
                report.failures.append(f"log entry {entry.seq}: {result}")
                if not isinstance(result, AfterWriteError):
                    # nothing of this acknowledged add is stored: the next open tries again
                    log.keep_unapplied(entry.seq)
        log.mark_applied(pending[-1].seq)
        pending.clear()

    for entry in log.entries(after=after):
        report.entries += 1
        if isinstance(entry, AddEntry):
            pending.append(entry)
            report.events += len(entry.events)
            if sum(len(e.events) for e in pending) >= _BATCH_EVENTS:
                flush()
            continue
        flush()
        try:
            if isinstance(entry, UpdateEntry):
                apply_update(memory, entry)
                report.updates += 1
            elif isinstance(entry, DeleteEntry):
                memory.resources.remove(entry.note_ids, entry.scope)
                erase_from_log(log, [entry])  # a crash may have come before its rewrite
                report.deletes += 1
            elif isinstance(entry, ForgetEntry):
                forget(memory, entry.owners, log=False)
                erase_from_log(log, [entry])
                report.forgets += 1
            elif isinstance(entry, OutcomeEntry):
                report.outcomes += apply_outcome(memory, entry)
        except EvolveLabError as err:
            report.failures.append(f"log entry {entry.seq} ({entry.op}): {err}")  # type: ignore[attr-defined]
            if isinstance(entry, DeleteEntry | ForgetEntry):
                log.keep_unapplied(entry.seq)  # the log still holds what it erases
        log.mark_applied(entry.seq)
    flush()
    return report


def rebuild(memory: Memory, source_dir: str | Path) -> ReplayReport:
    """Derive ``memory``'s stores from the event log in ``source_dir`` (another data folder).

    The log is copied into ``memory``'s data folder first, so the rebuilt folder can be
    served and keeps growing the same history.

    Raises:
        EvolveLabError: if ``source_dir`` has no event log, is ``memory``'s own data
            folder, or ``memory``'s data folder already holds a log or data.
    """
    source = log_dir(source_dir)
    if not (source / "log.jsonl").exists():
        raise EvolveLabError(f"{source_dir}: no event log here (expected {source}/log.jsonl)")
    target = Path(memory.data_dir)
    if target.resolve() == Path(source_dir).resolve():
        raise EvolveLabError("rebuild needs another data folder than the one it reads from")
    if not datadir.is_empty(target):
        raise EvolveLabError(f"{target}: not empty; rebuild into a new data folder (or --fresh)")
    datadir.prepare(target)  # marked while still empty, so --fresh may wipe it later
    log_dir(target).mkdir(parents=True)
    shutil.copyfile(source / "log.jsonl", log_dir(target) / "log.jsonl")
    report = use_event_log(memory)
    memory.log.sync()  # type: ignore[union-attr]
    return report


def export_records(
    log: EventLog,
    owners: OwnerPattern | None = None,
    rename: Callable[[Scope], Scope] | None = None,
) -> Iterator[StreamRecord]:
    """Yield the log as stream records: events, queries, outcomes, in log order.

    An event sent more than once (same id in the same scope) is yielded once, where it
    was last sent, with its last content: what the stores hold. Erased content is not in
    the log, so it is not exported.

    A query gets ``evidence`` when an outcome reported success for it: the source events
    of the hits the outcome says were used. That is what lets ``evolvelab evolve`` score
    pipelines on a served memory's own history (queries without such an outcome are
    exported without evidence: not annotated).

    Args:
        log: the event log.
        owners: only these owners (default: all).
        rename: map each scope before it is written (a server strips its tenant here).
    """
    rename = rename or (lambda scope: scope)

    def wanted(snapshot: LogSnapshot) -> Iterator[AddEntry | QueryEntry | OutcomeEntry]:
        for e in snapshot.entries():
            if isinstance(e, AddEntry | QueryEntry | OutcomeEntry) and (
                owners is None or owners.matches(e.scope)
            ):
                yield e

    # Two passes over one snapshot, one entry in memory at a time: the first keeps only
    # where each event was last sent and which notes successful outcomes used.
    with log.snapshot() as snapshot:
        last: dict[tuple[str | None, str | None, str], tuple[int, int]] = {}
        used: dict[tuple[str | None, str | None, str], set[str]] = {}
        for entry in wanted(snapshot):
            if isinstance(entry, AddEntry):
                for index, event in enumerate(entry.events):
                    last[(entry.scope.user_id, entry.scope.agent_id, event.id)] = (entry.seq, index)
            elif isinstance(entry, OutcomeEntry) and entry.success and entry.query_id:
                key = (entry.scope.user_id, entry.scope.agent_id, entry.query_id)
                used.setdefault(key, set()).update(entry.used_ids)
        for entry in wanted(snapshot):
            yield from _records(entry, rename(entry.scope), last, used)


def _records(
    entry: AddEntry | QueryEntry | OutcomeEntry, scope: Scope,
    last: dict[tuple[str | None, str | None, str], tuple[int, int]],
    used: dict[tuple[str | None, str | None, str], set[str]],
) -> Iterator[StreamRecord]:  # fmt: skip
    """Yield the stream records of one log entry (``scope``: as the reader sees it)."""
    if isinstance(entry, AddEntry):
        for index, event in enumerate(entry.events):
            key = (entry.scope.user_id, entry.scope.agent_id, event.id)
            if last[key] != (entry.seq, index):
                continue  # sent again later: exported there
            if event.session_id is None and entry.scope.session_id is not None:
                event = event.model_copy(update={"session_id": entry.scope.session_id})
            yield EventRecord.from_event(event, scope)
    elif isinstance(entry, QueryEntry):
        owner = (entry.scope.user_id, entry.scope.agent_id)
        yield QueryRecord(id=entry.id, text=entry.text, at=entry.at,
                          evidence=_evidence(entry, used.get((*owner, entry.id)), last),
                          user_id=scope.user_id, agent_id=scope.agent_id)  # fmt: skip
    else:
        yield OutcomeRecord(query_id=entry.query_id or f"outcome-{entry.seq}",
                            success=entry.success, score=entry.score,
                            used_ids=entry.used_ids, at=entry.at, detail=entry.detail,
                            user_id=scope.user_id, agent_id=scope.agent_id)  # fmt: skip


def _evidence(entry: QueryEntry, used: set[str] | None, events: dict) -> list[str] | None:
    """Return the source events of the hits a successful outcome used (None: no such outcome)."""
    if not used:
        return None
    owner = (entry.scope.user_id, entry.scope.agent_id)
    sources = [
        source
        for note_id, note_sources in zip(entry.hit_ids, entry.hit_sources, strict=False)
        if note_id in used
        for source in note_sources
        if (*owner, source) in events  # an erased event is no evidence
    ]
    return list(dict.fromkeys(sources)) or None


def import_records(memory: Memory, records: Iterable[StreamRecord], batch_size: int = 64) -> ReplayReport:
    """Feed stream records into ``memory``: events are added, outcomes fed back.

    Queries are only logged (when the memory keeps a log); nothing is searched. Events go
    in batches of ``batch_size`` per scope, through the log when there is one.

    Raises:
        EvolveLabError: the first add that failed (earlier batches stay written).
    """
    memory.open()
    report = ReplayReport()
    batch: dict[tuple[str | None, str | None], list] = {}

    def flush() -> None:
        requests = [AddRequest(scope=Scope(user_id=u, agent_id=a), events=events)
                    for (u, a), events in batch.items() if events]  # fmt: skip
        batch.clear()
        for result in commit_adds(memory, requests):
            if isinstance(result, EvolveLabError):
                raise result

    for record in records:
        report.entries += 1
        if isinstance(record, EventRecord):
            events = batch.setdefault((record.user_id, record.agent_id), [])
            events.append(record.to_event())
            report.events += 1
            if len(events) >= batch_size:
                flush()
        elif isinstance(record, OutcomeRecord):
            flush()
            record_outcome(memory, record.scope(), query_id=record.query_id, success=record.success,
                           score=record.score, used_ids=record.used_ids, detail=record.detail)  # fmt: skip
            report.outcomes += 1
        elif isinstance(record, QueryRecord) and memory.log is not None:
            memory.log.append([QueryEntry(scope=record.scope(), id=record.id, text=record.text)],
                              durable=False)  # fmt: skip
    flush()
    if memory.log is not None:
        memory.log.sync()
    return report
