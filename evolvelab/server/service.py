"""The memory operations every transport shares, with the tenant applied server-side.

REST handlers and MCP tools call the same :class:`MemoryService`. A request's tenant
(decided by its API key) is folded into every scope before the memory sees it: the user
id ``alice`` of tenant ``acme`` is stored as ``acme/alice`` (no user: ``acme/``), so a
request can only name users of its own tenant, and scope enforcement in the stores keeps
tenants apart. Answers carry scopes with the tenant taken off again.

Writes go to the :class:`~evolvelab.server.writer.GroupCommitter`; reads run on worker
threads, concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evolvelab.errors import EvolveLabError
from evolvelab.eventlog import LogFailure, NoteVersion, OwnerPattern, QueryEntry
from evolvelab.group_commit import AddRequest
from evolvelab.lifecycle import (
    NotePage,
    delete_notes,
    forget,
    get_note,
    list_notes,
    note_history,
    record_outcome,
    update_note,
)
from evolvelab.rebuild import export_records
from evolvelab.server.writer import GroupCommitter
from evolvelab.stream import StreamRecord
from evolvelab.types import AddResult, Event, Hit, Note, Scope, Where

if TYPE_CHECKING:
    from evolvelab.pipeline import Memory

__all__ = [
    "SNAPSHOT_STORES",
    "STATEFUL_RETRIEVERS",
    "MemoryService",
    "ReadOnlyReplica",
    "Tenant",
    "reads_see_snapshots",
    "stateful_retrievers",
]  # fmt: skip

LOG = logging.getLogger("evolvelab.server")
_READ_TRIES = 3


STATEFUL_RETRIEVERS = frozenset({"guard", "lsh", "semantic_cache"})
"""Built-in retrieve stages that write or keep caches while searching: searches of a
pipeline using one run one at a time."""

SNAPSHOT_STORES = frozenset({"lancedb"})
"""Note stores whose reads see a committed version while a write commits (LanceDB reads
a table version; a write makes a new one): with one of them, and no graph store, searches
and reads do not wait for the writer's commits."""


def stateful_retrievers(memory: Memory) -> list[str]:
    """Return the retrieve stages of ``memory`` that must not search concurrently."""
    return [r.config.type for r in memory.retrievers if r.config.type in STATEFUL_RETRIEVERS]


def reads_see_snapshots(memory: Memory) -> bool:
    """Return whether reads of ``memory`` may run while a commit writes its stores.

    True for a note store in :data:`SNAPSHOT_STORES` without a graph store (the graph
    database and the in-process stores keep state a write changes in place).
    """
    return memory.store.config.type in SNAPSHOT_STORES and memory.graph is None


class ReadOnlyReplica(EvolveLabError):
    """A write sent to a server started with ``--read-only``."""


@dataclass(frozen=True)
class Tenant:
    """Whose request this is; ``name=None`` (a server without keys) leaves scopes as given."""

    name: str | None = None

    @property
    def prefix(self) -> str | None:
        """What every user id of this tenant starts with, inside the memory."""
        return None if self.name is None else f"{self.name}/"

    def inside(self, scope: Scope) -> Scope:
        """Return the scope as the memory keeps it (the tenant folded into ``user_id``)."""
        if self.prefix is None:
            return scope
        return scope.model_copy(update={"user_id": self.prefix + (scope.user_id or "")})

    def outside(self, scope: Scope) -> Scope:
        """Return a stored scope as the tenant sees it."""
        if self.prefix is None:
            return scope
        user = (scope.user_id or "").removeprefix(self.prefix)
        return scope.model_copy(update={"user_id": user or None})

    def owners(self, user_id: str | None, agent_id: str | None) -> OwnerPattern:
        """Return the owner pattern for ``user_id``/``agent_id`` within this tenant only."""
        inner = None if user_id is None else self.inside(Scope(user_id=user_id)).user_id
        return OwnerPattern(user_id=inner, agent_id=agent_id, user_prefix=self.prefix)


class MemoryService:
    """A served memory: writes through one writer, reads on threads, tenants applied.

    Args:
        memory: the pipeline, opened with its event log (``memory.use_event_log()``).
        max_wait: group-commit wait, in seconds (see :class:`GroupCommitter`).
        concurrent_reads: let searches overlap (default: unless a retrieve stage caches
            or writes, see :data:`STATEFUL_RETRIEVERS`).
        log_queries: keep searches in the event log (what ``export`` turns into queries).
        read_only: a read replica beside the writer process: searches, reads and exports
            only (writes raise :class:`ReadOnlyReplica`); no writer thread, nothing logged.
        reads_during_commits: let reads run while the writer commits (default: when the
            stores read snapshots, see :func:`reads_see_snapshots`, and reads are
            concurrent); otherwise a commit has the stores to itself.
    """

    def __init__(
        self, memory: Memory, *, max_wait: float = 0.002, concurrent_reads: bool | None = None,
        log_queries: bool = True, read_only: bool = False,
        reads_during_commits: bool | None = None,
    ) -> None:  # fmt: skip
        self.memory = memory
        self.read_only = read_only
        self.log_queries = log_queries and not read_only
        self.writer = GroupCommitter(memory, max_wait=max_wait)
        if concurrent_reads is None:
            concurrent_reads = not stateful_retrievers(memory)
        self.concurrent_reads = concurrent_reads
        if reads_during_commits is None:
            reads_during_commits = concurrent_reads and reads_see_snapshots(memory)
        self.reads_during_commits = reads_during_commits
        self._one_reader = threading.Lock()
        self.unlogged_queries = 0
        """Searches answered whose query the event log could not record (a full disk)."""

    def start(self) -> None:
        """Start the writer (a read-only replica has none)."""
        if not self.read_only:
            self.writer.start()

    def _writable(self) -> None:
        if self.read_only:
            raise ReadOnlyReplica("this server is a read-only replica: send writes to the writer")

    def stop(self, timeout: float | None = None) -> None:
        """Drain queued writes, then close the memory (and its log).

        Waits for the running commit however long it takes (``timeout``: at most that
        many seconds). The stores are never closed under a running commit: if it is still
        running at the timeout, they are left open, an error is logged, and the process
        may exit; the next start replays the event log (acknowledged writes are in it).
        """
        if not self.writer.stop(timeout):
            LOG.error("stopping: a commit is still running after %s s; the stores are left "
                      "open, the next start recovers from the event log", timeout)  # fmt: skip
            return
        self.memory.close()
        stats = self.writer.stats
        LOG.info("stopped: %d adds (%d events) in %d commits; %d other writes",
                 stats.requests, stats.events, stats.commits, stats.calls)  # fmt: skip

    async def _write(self, fn: Any) -> Any:
        return await asyncio.wrap_future(self.writer.call(fn))

    async def _read(self, fn: Any) -> Any:
        """Run ``fn`` on a worker thread, sharing the store lock with other reads.

        A read that meets a retryable commit conflict (a store that tidies a table on
        read, or a retriever that writes) is tried again, up to three times.
        """

        def run() -> Any:
            for attempt in range(_READ_TRIES):
                try:
                    if self.reads_during_commits:
                        return fn()
                    if self.concurrent_reads:
                        return self.writer.lock.reading(fn)
                    with self._one_reader:
                        return self.writer.lock.reading(fn)
                except EvolveLabError as err:
                    if "etryable commit conflict" not in str(err) or attempt == _READ_TRIES - 1:
                        raise
            raise AssertionError("unreachable")

        return await asyncio.to_thread(run)

    # operations ------------------------------------------------------------------------

    async def add(self, tenant: Tenant, scope: Scope, events: Sequence[Event]) -> AddResult:
        """Add events; returns once they are durable."""
        self._writable()
        request = AddRequest(scope=tenant.inside(scope), events=list(events))
        return await asyncio.wrap_future(self.writer.add(request))

    async def search(
        self, tenant: Tenant, scope: Scope, text: str, k: int, where: Where | None
    ) -> tuple[str, list[Hit]]:
        """Search; the query is logged (not fsynced: a query is not a write) with its hits.

        The log append runs on the search's worker thread: an erasure rewriting the log
        holds it for as long as the rewrite takes, and the event loop must keep serving
        meanwhile.
        """
        inner = tenant.inside(scope)
        query_id = "q_" + secrets.token_hex(8)
        log = self.memory.log if self.log_queries else None

        def search_and_log() -> list[Hit]:
            hits = self.memory.search(text, k, inner, where)
            if log is not None:
                entry = QueryEntry(scope=inner, id=query_id, text=text, k=k,
                                   hit_ids=[h.note.id for h in hits],
                                   hit_sources=[h.note.source_ids for h in hits])  # fmt: skip
                try:
                    log.append([entry], durable=False)
                except LogFailure as err:  # the hits are good; only the record of the query is lost
                    self.unlogged_queries += 1
                    LOG.error("search answered, query not logged (%d so far): %s",
                              self.unlogged_queries, err)  # fmt: skip
            return hits

        return query_id, await self._read(search_and_log)

    async def get(self, tenant: Tenant, note_id: str, scope: Scope) -> Note:
        """Return one note (``NoteNotFound`` if the tenant's scope has none)."""
        return await self._read(lambda: get_note(self.memory, note_id, tenant.inside(scope)))

    async def list(
        self, tenant: Tenant, scope: Scope, *, kind: str | None, limit: int, cursor: str | None
    ) -> NotePage:
        """Return a page of notes."""
        return await self._read(
            lambda: list_notes(self.memory, tenant.inside(scope), kind=kind, limit=limit,
                               cursor=cursor)  # fmt: skip
        )

    async def history(self, tenant: Tenant, note_id: str, scope: Scope) -> list[NoteVersion]:
        """Return a note's versions."""
        return await self._read(lambda: note_history(self.memory, note_id, tenant.inside(scope)))

    async def update(
        self, tenant: Tenant, note_id: str, scope: Scope, *, content: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> Note:  # fmt: skip
        """Correct a note (durable on return)."""
        self._writable()
        inner = tenant.inside(scope)
        return await self._write(
            lambda: update_note(self.memory, note_id, inner, content=content, metadata=metadata)
        )

    async def delete(self, tenant: Tenant, ids: Sequence[str], scope: Scope) -> int:
        """Delete notes (durable on return); returns how many."""
        self._writable()
        inner = tenant.inside(scope)
        return await self._write(lambda: delete_notes(self.memory, ids, inner))

    async def forget(self, tenant: Tenant, user_id: str | None, agent_id: str | None) -> int:
        """Erase a user and/or agent of this tenant; returns notes deleted."""
        self._writable()
        owners = tenant.owners(user_id, agent_id)
        return await self._write(lambda: forget(self.memory, owners))

    async def outcome(
        self, tenant: Tenant, scope: Scope, *, query_id: str | None, success: bool,
        score: float | None, used_ids: Sequence[str], detail: str = "",
    ) -> int:  # fmt: skip
        """Record feedback on the notes used for a task; returns how many notes were credited."""
        self._writable()
        inner = tenant.inside(scope)

        def run() -> int:
            return record_outcome(self.memory, inner, query_id=query_id, success=success,
                                  score=score, used_ids=used_ids, detail=detail)  # fmt: skip

        return await self._write(run)

    def export(self, tenant: Tenant) -> Iterator[StreamRecord]:
        """Yield the tenant's log as stream records (scopes as the tenant sees them)."""
        if self.memory.log is None:
            return iter(())
        owners = None if tenant.prefix is None else OwnerPattern(user_prefix=tenant.prefix)
        return export_records(self.memory.log, owners, tenant.outside)
