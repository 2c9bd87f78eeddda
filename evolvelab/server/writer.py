"""The one writer of a served memory: group commit of concurrent adds.

Every change to the memory goes through one thread. Adds that arrive while a commit is
running (or within ``max_wait`` seconds of the first one, when clients are writing
concurrently) are committed together: one event-log append with one ``fsync`` and one
store write (:func:`evolvelab.lifecycle.commit_adds`). Each caller's future completes
only after that commit is durable. Other changes (corrections, deletions, erasures,
feedback) run one at a time on the same thread, between groups.

Upkeep a store may defer (:class:`~evolvelab.stages.IdleUpkeep`: LanceDB's text-index
update after a write) runs on the same thread once no write has come for ``idle_wait``
seconds, one step at a time, so a write that arrives meanwhile waits for one step at most.

``stop()`` drains: everything queued before it is committed, the deferred upkeep is
finished, then the thread ends.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evolvelab.errors import EvolveLabError
from evolvelab.group_commit import AddRequest, commit_adds
from evolvelab.stages import IdleUpkeep
from evolvelab.types import AddResult

if TYPE_CHECKING:
    from evolvelab.pipeline import Memory

__all__ = ["CommitStats", "GroupCommitter", "ReadWriteLock", "ShuttingDown"]

LOG = logging.getLogger("evolvelab.server")


class ShuttingDown(EvolveLabError):
    """A write that arrived after the writer stopped (or before it started): try again later.

    The server answers it with 503 and ``Retry-After``, not as a client mistake.
    """


class ReadWriteLock:
    """Many readers at once, or one writer: searches overlap, a commit has the stores alone.

    Stores keep in-process state (open table handles, caches, in-memory indexes) that is
    not built for a write racing a read in another thread, so the writer thread takes
    this lock exclusively while it commits; reads share it. Writers are
    preferred: once a writer waits, new readers queue behind it, so a read-heavy load
    cannot starve commits.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._waiting_writers = 0

    def acquire_read(self) -> None:
        with self._cond:
            while self._writing or self._waiting_writers:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self) -> None:
        with self._cond:
            self._waiting_writers += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writing = True

    def release_write(self) -> None:
        with self._cond:
            self._writing = False
            self._cond.notify_all()

    def reading(self, fn: Callable[[], Any]) -> Any:
        """Call ``fn`` holding the lock shared."""
        self.acquire_read()
        try:
            return fn()
        finally:
            self.release_read()


@dataclass
class _Add:
    request: AddRequest
    future: Future[AddResult]


@dataclass
class _Call:
    fn: Callable[[], Any]
    future: Future[Any]


_STOP = object()


@dataclass
class CommitStats:
    """What the writer did: commits, requests, events, and how big the groups were."""

    commits: int = 0
    requests: int = 0
    events: int = 0
    calls: int = 0
    group_sizes: Counter[int] = field(default_factory=Counter)
    """Requests per commit → how many commits had that many."""
    seconds: Counter[str] = field(default_factory=Counter)
    """Time spent in each step of the commits (``wait``: for the store lock; ``encode``,
    ``log``, ``read``, ``store``, ``managers``: see :func:`~evolvelab.group_commit.commit_adds`;
    ``idle``: deferred store upkeep between commits)."""

    def as_dict(self) -> dict[str, Any]:
        """Return the numbers as JSON-ready data."""
        return {
            "commits": self.commits, "requests": self.requests, "events": self.events,
            "calls": self.calls,
            "group_sizes": {str(k): v for k, v in sorted(dict(self.group_sizes).items())},
            "seconds": {k: round(v, 4) for k, v in sorted(dict(self.seconds).items())},
        }  # fmt: skip


class GroupCommitter:
    """Run every write of ``memory`` on one thread, grouping concurrent adds.

    Args:
        memory: an open memory (with its event log attached, for durability).
        max_wait: seconds to wait for more adds once clients write concurrently
            (a lone writer never waits).
        max_events: events per commit at most.
        idle_wait: seconds without a write before deferred store upkeep runs.
    """

    def __init__(
        self, memory: Memory, *, max_wait: float = 0.002, max_events: int = 4096,
        idle_wait: float = 0.02,
    ) -> None:  # fmt: skip
        self.memory = memory
        self.max_wait = max_wait
        self.max_events = max_events
        self.idle_wait = idle_wait
        self._idle: list[IdleUpkeep] = []
        self._upkeep_waiting = False
        self.stats = CommitStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._concurrent = False
        self.lock = ReadWriteLock()
        """Readers share it; the writer thread holds it alone while it commits."""

    def start(self) -> GroupCommitter:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            stores = (self.memory.store, self.memory.graph)
            self._idle = [s for s in stores if s is not None and isinstance(s, IdleUpkeep)]
            for store in self._idle:
                store.defer_upkeep()
            self._thread = threading.Thread(target=self._run, name="evolvelab-writer", daemon=True)
            self._thread.start()
        return self

    def add(self, request: AddRequest) -> Future[AddResult]:
        """Queue an add; the future completes once its commit is durable.

        Raises:
            ShuttingDown: if the writer is stopping or not started.
        """
        future: Future[AddResult] = Future()
        self._put(_Add(request, future))
        return future

    def call(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` on the writer thread (between commits); the future holds its result."""
        future: Future[Any] = Future()
        self._put(_Call(fn, future))
        return future

    def _put(self, item: Any) -> None:
        if self._stopping or self._thread is None:
            raise ShuttingDown("the server is shutting down; write refused (retry later)")
        self._queue.put(item)

    def stop(self, timeout: float | None = None) -> bool:
        """Commit everything queued so far, then end the thread.

        Args:
            timeout: seconds to wait at most (``None``: until the thread ends; a line is
                logged every 10 s while a commit keeps it busy).

        Returns:
            Whether the thread ended; ``False`` means a commit is still running, and the
            stores must not be closed under it.
        """
        thread = self._thread
        if thread is None:
            return True
        self._stopping = True
        self._queue.put(_STOP)
        waited = 0.0
        while thread.is_alive() and (timeout is None or waited < timeout):
            step = 10.0 if timeout is None else min(10.0, timeout - waited)
            thread.join(step)
            waited += step
            if thread.is_alive() and timeout is None:
                LOG.warning("stopping: waiting for the running commit (%.0f s so far)", waited)
        if thread.is_alive():
            return False
        self._thread = None
        return True

    # the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        held: Any = None
        while True:
            item = held if held is not None else self._take()
            held = None
            if item is _STOP:
                while self._upkeep_waiting:
                    self._upkeep_step()
                return
            self._upkeep_waiting = bool(self._idle)  # any write may leave upkeep behind
            if isinstance(item, _Call):
                self._run_call(item)
                continue
            group, held = self._gather(item)
            self._commit(group)

    def _take(self) -> Any:
        """Return the next queued item; while none comes, run deferred upkeep steps."""
        while self._upkeep_waiting:
            try:
                return self._queue.get(timeout=self.idle_wait)
            except queue.Empty:
                self._upkeep_step()
        return self._queue.get()

    def _upkeep_step(self) -> None:
        """Run one step of each store's deferred upkeep, holding the stores alone."""
        started = time.perf_counter()
        self.lock.acquire_write()
        try:
            waiting = False
            for store in self._idle:
                try:
                    waiting = store.idle_upkeep() or waiting
                except Exception:  # upkeep of durable data: log it, carry on
                    LOG.exception("deferred store upkeep failed; the next write retries it")
        finally:
            self.lock.release_write()
        self._upkeep_waiting = waiting
        self.stats.seconds["idle"] += time.perf_counter() - started

    def _gather(self, first: _Add) -> tuple[list[_Add], Any]:
        """Collect adds queued behind ``first`` (waiting briefly under concurrency)."""
        group = [first]
        events = len(first.request.events)
        deadline = time.monotonic() + (self.max_wait if self._concurrent else 0.0)
        while events < self.max_events:
            try:
                remaining = deadline - time.monotonic()
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, _Add):
                return group, item
            group.append(item)
            events += len(item.request.events)
        return group, None

    def _commit(self, group: list[_Add]) -> None:
        live = [item for item in group if item.future.set_running_or_notify_cancel()]
        self._concurrent = len(live) > 1
        if not live:
            return
        waited = time.perf_counter()
        self.lock.acquire_write()
        self.stats.seconds["wait"] += time.perf_counter() - waited
        try:
            results = commit_adds(self.memory, [item.request for item in live], seconds=self.stats.seconds)
        except BaseException as err:  # noqa: BLE001 - every waiting caller must hear of it
            for item in live:
                item.future.set_exception(err)
            return
        finally:
            self.lock.release_write()
        self.stats.commits += 1
        self.stats.requests += len(live)
        self.stats.events += sum(len(item.request.events) for item in live)
        self.stats.group_sizes[len(live)] += 1
        for item, result in zip(live, results, strict=True):
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    def _run_call(self, item: _Call) -> None:
        if not item.future.set_running_or_notify_cancel():
            return
        self.lock.acquire_write()
        try:
            result = item.fn()
        except BaseException as err:  # noqa: BLE001 - delivered to the caller
            item.future.set_exception(err)
            return
        finally:
            self.lock.release_write()
        self.stats.calls += 1
        item.future.set_result(result)
