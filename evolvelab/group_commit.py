"""Group commit: several ``add`` requests, of any scopes, written as one.

The server's writer (:mod:`evolvelab.server.writer`) gathers concurrent adds and passes
them here: each request is encoded on its own, then all are appended to the event log
with **one** ``fsync``, then all notes go to the stores in **one** write, then the
managers due on each add run. ``Memory.add`` goes through here too when the memory keeps
an event log, so the logged write path exists once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evolvelab.errors import EvolveLabError, StageError
from evolvelab.eventlog import AddEntry, VoidEntry
from evolvelab.types import AddResult, Dropped, Event, Note, Scope

if TYPE_CHECKING:
    from evolvelab.pipeline import Memory

__all__ = ["AddRequest", "commit_adds"]


@dataclass
class AddRequest:
    """One ``add``: events for one scope."""

    scope: Scope
    events: list[Event]


def commit_adds(
    memory: Memory, requests: Sequence[AddRequest], *, log: bool = True,
    seconds: Counter[str] | None = None,
) -> list[AddResult | EvolveLabError]:
    """Write several adds with one log append (one fsync) and one store write.

    The steps of ``Memory.add`` for many requests at once: each request is encoded on its
    own (an encoder failure fails only that request), then every accepted request is
    appended to the event log and made durable, then all notes go to the stores in one
    write, then the managers due on each add run. The log's ``fsync`` runs on another
    thread while the stored versions of the notes are read (that read writes nothing);
    the store write starts only once the ``fsync`` has returned.

    Args:
        memory: an open memory.
        requests: the adds, in arrival order (scopes may differ).
        log: append to the memory's event log (``False`` when replaying the log itself).
        seconds: if given, the time of each step is added to it: ``encode``, ``log``
            (append and fsync), ``read`` (the stored versions the write keeps state
            from), ``store`` (the write) and ``managers``.

    Returns:
        One item per request: its :class:`~evolvelab.AddResult`, or the error it failed
        with (an :class:`~evolvelab.errors.AfterWriteError` when its notes are stored but
        a manager failed afterwards).
    """
    memory.open()
    clock = _Clock(seconds)
    results: list[AddResult | EvolveLabError | None] = [None] * len(requests)
    encoded: list[tuple[int, list[Note], list[Dropped]]] = []
    for index, request in enumerate(requests):
        if not request.events:
            results[index] = AddResult()
            continue
        try:
            notes, dropped = memory._encode(request.events, request.scope)
        except EvolveLabError as err:
            results[index] = err
            continue
        encoded.append((index, notes, dropped))
    clock.lap("encode")
    if not encoded:
        return [r if r is not None else AddResult() for r in results]
    entries = []
    syncing: Future[None] | None = None
    if log and memory.log is not None:
        entries = memory.log.append(
            [AddEntry(scope=requests[i].scope, events=requests[i].events) for i, _, _ in encoded],
            durable=False,
        )
        syncing = _syncer().submit(memory.log.sync)  # the fsync overlaps the read below
    clock.lap("log")
    flat = [note for _, notes, _ in encoded for note in notes]
    failed: Exception | None = None
    try:
        stored = memory._stored_versions(flat)
        flat = memory._keep_memory_state(flat, stored)
        clock.lap("read")
    except Exception as err:  # noqa: BLE001 - a store's own read error is wrapped below
        failed = err
    finally:
        if syncing is not None:
            syncing.result()  # durable before anything is written (or the error is raised)
            clock.lap("log")
    if failed is not None:
        # Nothing stored: the entries are void (no replay, rebuild or export applies
        # what the callers are told failed), and every request fails with the error.
        if not isinstance(failed, EvolveLabError):
            type_name = memory.store.config.type
            wrapped = StageError("store", type_name, f"read before the write failed: {failed}")
            wrapped.__cause__ = failed
            failed = wrapped
        if entries:
            memory.log.append([VoidEntry(seqs=[e.seq for e in entries])])  # type: ignore[union-attr]
        for index, _, _ in encoded:
            results[index] = failed  # type: ignore[assignment]
        return results  # type: ignore[return-value]
    try:
        written = memory._call_write(flat, list(stored.values()))
        clock.lap("store")
    except EvolveLabError as err:
        # Nothing stored: the entries are void (a rebuild skips them). Part stored: they
        # stay unapplied (later commits do not mark them), so the next start's recovery
        # completes them; a retry by the client upserts the same notes.
        if entries and not memory._stored_as_written(flat):
            memory.log.append([VoidEntry(seqs=[e.seq for e in entries])])  # type: ignore[union-attr]
        elif entries:
            memory.log.keep_unapplied(entries[0].seq)  # type: ignore[union-attr]
        for index, _, _ in encoded:
            results[index] = err
        return results  # type: ignore[return-value]
    if entries:
        memory.log.mark_applied(entries[-1].seq)  # type: ignore[union-attr]
    position = 0
    for index, notes, dropped in encoded:
        result = AddResult(written[position : position + len(notes)], dropped)
        position += len(notes)
        results[index] = memory._run_due_managers(requests[index].scope, result) or result
    clock.lap("managers")
    return results  # type: ignore[return-value]


_SYNCER: ThreadPoolExecutor | None = None
_SYNCER_LOCK = threading.Lock()


def _syncer() -> ThreadPoolExecutor:
    """Return the thread that fsyncs event logs while their commit reads the stores."""
    global _SYNCER
    with _SYNCER_LOCK:
        if _SYNCER is None:
            _SYNCER = ThreadPoolExecutor(1, thread_name_prefix="evolvelab-fsync")
        return _SYNCER


class _Clock:
    """Add the time since the last lap to ``seconds[step]`` (nothing when ``seconds`` is None)."""

    def __init__(self, seconds: Counter[str] | None) -> None:
        self.seconds = seconds
        self.last = time.perf_counter()

    def lap(self, step: str) -> None:
        if self.seconds is not None:
            now = time.perf_counter()
            self.seconds[step] += now - self.last
            self.last = now
