"""Group commit: concurrent adds share one log fsync and one store write; failures stay
with the requests they belong to; stopping drains the queue. And the tenant mapping."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from evolvelab.errors import EvolveLabError, StageError
from evolvelab.eventlog import AddEntry
from evolvelab.lifecycle import AddRequest
from evolvelab.pipeline import Memory
from evolvelab.server.service import MemoryService, Tenant
from evolvelab.server.writer import GroupCommitter
from evolvelab.types import Event, Scope

PIPELINE = """
version: 1
name: lex
embedder: {type: none}
encode:
  - {type: turn, speaker: false, link_turns: false}
store: {type: memory}
retrieve:
  - {type: bm25, k: 20}
"""


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    memory = Memory.from_text(PIPELINE, data_dir=tmp_path / "data")
    memory.use_event_log()
    return memory


def _request(i: int) -> AddRequest:
    return AddRequest(Scope(user_id=f"u{i % 3}"), [Event(id=f"e{i}", content=f"event {i}")])


def test_adds_queued_behind_a_commit_are_committed_together(memory: Memory) -> None:
    writer = GroupCommitter(memory).start()
    writer.call(lambda: time.sleep(0.3))  # the writer is busy: the adds queue up
    futures = [writer.add(_request(i)) for i in range(10)]
    results = [f.result(10) for f in futures]
    writer.stop()
    assert [r[0].content for r in results] == [f"event {i}" for i in range(10)]
    assert writer.stats.group_sizes == {10: 1} and writer.stats.commits == 1
    steps = writer.stats.as_dict()["seconds"]
    assert set(steps) == {"wait", "encode", "log", "read", "store", "managers"}
    assert all(seconds >= 0 for seconds in steps.values())
    adds = [e for e in memory.log.entries() if isinstance(e, AddEntry)]
    assert len(adds) == 10 and memory.log.applied == adds[-1].seq


def test_a_failed_store_write_fails_its_group_and_voids_its_log_entries(memory: Memory, monkeypatch) -> None:
    writer = GroupCommitter(memory).start()
    writer.call(lambda: time.sleep(0.2))
    real = memory._call_write
    monkeypatch.setattr(memory, "_call_write", lambda *a: (_ for _ in ()).throw(EvolveLabError("disk full")))
    failing = [writer.add(_request(i)) for i in range(3)]
    for future in failing:
        with pytest.raises(EvolveLabError, match="disk full"):
            future.result(10)
    monkeypatch.setattr(memory, "_call_write", real)
    assert writer.add(_request(7)).result(10)[0].content == "event 7"
    writer.stop()
    logged = [e.events[0].id for e in memory.log.entries() if isinstance(e, AddEntry)]
    assert logged == ["e7"]  # the failed group's entries are void: rebuild skips them


def test_a_failed_read_before_the_write_fails_its_group_and_voids_its_log_entries(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.open()

    def unreadable(*_: object) -> None:
        raise OSError(5, "Input/output error")  # a store's own error, not an EvolveLabError

    with monkeypatch.context() as patch:
        patch.setattr(memory.store, "get_many", unreadable)
        with pytest.raises(StageError, match="read before the write failed: .*Input/output"):
            memory.add([Event(id="e1", content="event 1")], scope=Scope(user_id="u1"))
    assert memory.count(Scope(user_id="u1")) == 0
    assert not [e for e in memory.log.entries() if isinstance(e, AddEntry)]  # void: never replayed
    memory.add([Event(id="e2", content="event 2")], scope=Scope(user_id="u1"))
    assert [n.content for n in memory.list(Scope(user_id="u1")).notes] == ["event 2"]


@pytest.mark.slow
def test_a_store_write_that_failed_half_way_is_completed_by_the_next_start(
    memory: Memory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.close()
    memory = Memory.from_text(PIPELINE.replace("{type: memory}", "{type: lancedb}"),
                              data_dir=tmp_path / "disk")  # fmt: skip
    memory.use_event_log()
    real = memory._call_write

    def half(notes: list, previous: object = None) -> None:
        real(notes[:1])  # the first note is stored, then the store fails
        raise EvolveLabError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(memory, "_call_write", half)
        with pytest.raises(EvolveLabError, match="disk full"):
            memory.add([Event(id="e1", content="event 1"), Event(id="e2", content="event 2")],
                       scope=Scope(user_id="u1"))  # fmt: skip
    memory.add([Event(id="e3", content="event 3")], scope=Scope(user_id="u1"))  # a later commit
    assert memory.count(Scope(user_id="u1")) == 2
    memory.close()
    reopened = Memory.from_text(PIPELINE.replace("{type: memory}", "{type: lancedb}"),
                                data_dir=tmp_path / "disk")  # fmt: skip
    reopened.use_event_log()  # recovery replays the half-written add
    assert sorted(n.content for n in reopened.list(Scope(user_id="u1")).notes) == [
        "event 1", "event 2", "event 3"]  # fmt: skip
    reopened.close()


def test_stop_drains_queued_writes_then_refuses_new_ones(memory: Memory) -> None:
    writer = GroupCommitter(memory).start()
    writer.call(lambda: time.sleep(0.2))
    futures = [writer.add(_request(i)) for i in range(5)]
    writer.stop()
    assert all(f.done() and not f.exception() for f in futures)
    with pytest.raises(EvolveLabError, match="shutting down"):
        writer.add(_request(9))


def test_reads_wait_while_the_writer_commits(memory: Memory) -> None:
    writer = GroupCommitter(memory).start()
    started = threading.Event()
    order: list[str] = []

    def slow_write() -> None:
        started.set()
        time.sleep(0.2)
        order.append("write")

    writer.call(slow_write)
    started.wait(5)
    writer.lock.reading(lambda: order.append("read"))
    writer.stop()
    assert order == ["write", "read"]


def test_stateful_retrievers_make_searches_run_one_at_a_time(memory: Memory, tmp_path: Path) -> None:
    assert MemoryService(memory).concurrent_reads
    assert not MemoryService(memory, concurrent_reads=False).concurrent_reads
    cached = PIPELINE.replace("{type: none}", "{type: hashing}").replace(
        "- {type: bm25, k: 20}", "- {type: lsh, k: 10}")
    assert not MemoryService(Memory.from_text(cached, data_dir=tmp_path / "lsh")).concurrent_reads


def test_the_tenant_is_folded_into_every_scope_and_taken_off_answers() -> None:
    acme = Tenant("acme")
    inside = acme.inside(Scope(user_id="ana", agent_id="bot", session_id="s1"))
    assert inside == Scope(user_id="acme/ana", agent_id="bot", session_id="s1")
    assert acme.inside(Scope()).user_id == "acme/"
    assert acme.outside(inside) == Scope(user_id="ana", agent_id="bot", session_id="s1")
    assert acme.outside(Scope(user_id="acme/")).user_id is None
    pattern = acme.owners(None, "bot")
    assert pattern.matches(Scope(user_id="acme/ana", agent_id="bot"))
    assert not pattern.matches(Scope(user_id="globex/ana", agent_id="bot"))
    assert Tenant(None).inside(Scope(user_id="ana")) == Scope(user_id="ana")


def test_a_write_after_shutdown_is_a_503_to_retry_not_a_client_error(memory: Memory) -> None:
    import asyncio

    import httpx

    from evolvelab.server.app import create_app

    app = create_app(MemoryService(memory), mcp=False)  # lifespan not run: no writer

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/v1/events", json={"events": [{"content": "late"}]})

    response = asyncio.run(post())
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "shutting_down"


def test_a_search_never_blocks_the_event_loop_while_the_log_is_rewritten(memory: Memory) -> None:
    import asyncio

    import httpx

    from evolvelab.server.app import create_app

    service = MemoryService(memory)
    app = create_app(service, mcp=False)
    rewriting = threading.Event()

    def long_rewrite() -> None:  # an erasure rewriting a large log holds the log's lock
        with memory.log._lock:  # type: ignore[union-attr]
            rewriting.set()
            time.sleep(1.5)

    async def main() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            thread = threading.Thread(target=long_rewrite)
            thread.start()
            rewriting.wait()
            start = time.perf_counter()
            search = asyncio.create_task(client.post("/v1/search", json={"query": "x"}))
            await asyncio.sleep(0.2)  # the search has run and is logging its query
            assert (await client.get("/healthz")).status_code == 200
            waited = time.perf_counter() - start
            assert (await search).status_code == 200
            thread.join()
            return waited

    assert asyncio.run(main()) < 1.0  # not the 1.5 s the rewrite holds the log


def test_searches_of_a_snapshot_store_do_not_wait_for_a_running_commit(tmp_path: Path) -> None:
    import asyncio

    lance = Memory.from_text(PIPELINE.replace("{type: memory}", "{type: lancedb}"),
                             data_dir=tmp_path / "lance")  # fmt: skip
    lance.use_event_log()
    lance.add([Event(id="e1", content="my cat is called Miso")], scope={"user_id": "ana"})
    service = MemoryService(lance)
    assert service.reads_during_commits
    assert not MemoryService(lance, concurrent_reads=False).reads_during_commits
    service.start()
    committing, release = threading.Event(), threading.Event()

    def long_commit() -> None:  # the writer holds the stores for as long as this runs
        committing.set()
        release.wait(10)

    busy = service.writer.call(long_commit)
    committing.wait(5)
    try:
        _, hits = asyncio.run(asyncio.wait_for(
            service.search(Tenant(), Scope(user_id="ana"), "cat", 5, None), timeout=5))  # fmt: skip
        assert not busy.done()  # answered while the commit was still running
        assert [h.note.content for h in hits] == ["my cat is called Miso"]
    finally:
        release.set()
        service.stop()


def test_an_in_process_store_keeps_reads_out_of_commits(memory: Memory) -> None:
    assert not MemoryService(memory).reads_during_commits


def test_stopping_waits_for_the_running_commit_before_closing_the_memory(memory: Memory) -> None:
    service = MemoryService(memory)
    service.start()
    committing, release = threading.Event(), threading.Event()

    def long_commit() -> str:
        committing.set()
        release.wait(10)
        memory.search("x", 1, Scope())  # fails if the stores were closed meanwhile
        return "stores still open"

    busy = service.writer.call(long_commit)
    committing.wait(5)
    service.stop(timeout=0.2)  # gives up waiting: the stores must stay open under the commit
    assert memory._opened and memory.log is not None and not busy.done()
    stopper = threading.Thread(target=service.stop)  # no timeout: waits as long as it runs
    stopper.start()
    time.sleep(0.3)
    assert stopper.is_alive() and memory._opened
    release.set()
    stopper.join(10)
    assert busy.result(1) == "stores still open"
    assert not memory._opened and memory.log is None  # closed once the commit was done


def test_the_log_fsync_overlaps_the_read_and_ends_before_the_store_write(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from evolvelab.group_commit import commit_adds

    order: list[str] = []
    real_fsync, real_read, real_write = os.fsync, memory._stored_versions, memory._call_write

    def slow_fsync(fd: int) -> None:  # a disk that takes its time
        time.sleep(0.2)
        real_fsync(fd)
        order.append("fsync")

    monkeypatch.setattr(os, "fsync", slow_fsync)
    monkeypatch.setattr(memory, "_stored_versions", lambda notes: (order.append("read"), real_read(notes))[1])
    monkeypatch.setattr(memory, "_call_write", lambda *a: (order.append("write"), real_write(*a))[1])
    [result] = commit_adds(memory, [_request(1)])
    assert order == ["read", "fsync", "write"]  # read while syncing; written only once durable
    assert result[0].content == "event 1"


def _lancedb_memory(tmp_path: Path) -> Memory:
    memory = Memory.from_text(PIPELINE.replace("{type: memory}", "{type: lancedb}"), data_dir=tmp_path / "data")
    memory.use_event_log()
    return memory


def test_deferred_store_upkeep_runs_once_no_write_comes(tmp_path: Path) -> None:
    memory = _lancedb_memory(tmp_path)
    writer = GroupCommitter(memory, idle_wait=0.05).start()
    writer.call(lambda: time.sleep(0.3))  # busy: the adds of three users form one group
    for future in [writer.add(_request(i)) for i in range(6)]:
        future.result(30)
    store = memory.store
    deadline = time.monotonic() + 20
    while store._waiting and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    assert not store._waiting  # type: ignore[attr-defined]  # every owner's index caught up
    assert writer.stats.seconds["idle"] > 0
    writer.stop()
    hits = memory.search("event 4", k=3, scope=Scope(user_id="u1"))
    assert hits and hits[0].note.content == "event 4"


def test_stopping_finishes_the_deferred_store_upkeep(tmp_path: Path) -> None:
    memory = _lancedb_memory(tmp_path)
    writer = GroupCommitter(memory, idle_wait=60).start()  # never idle during the test
    writer.add(_request(0)).result(30)
    assert memory.store._waiting  # type: ignore[attr-defined]
    writer.stop()
    assert not memory.store._waiting  # type: ignore[attr-defined]
