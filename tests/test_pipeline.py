"""The runtime: build without I/O, add / search / feedback / manage, scope, durability."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evolvelab import ConfigError, Event, EvolveLabError, Memory, Outcome, Scope, StageError
from evolvelab.registry import Registry

FAST = """\
version: 1
name: fast
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn}
store: {type: memory}
retrieve:
  - {type: hybrid, channels: [bm25, vector], k: 10}
manage:
  - {type: dedupe}
"""

ON_DISK = """\
version: 1
name: on-disk
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn}
store: {type: lancedb, path: %(root)s/notes}
graph: {type: kuzu, path: %(root)s/graph}
retrieve:
  - {type: hybrid, channels: [bm25, vector], k: 10}
"""

EVENTS = [
    Event(id="1", content="I adopted a grey cat called Miso last week.", speaker="ana"),
    Event(id="2", content="My sister lives in Lisbon and teaches piano.", speaker="ana"),
    Event(id="3", content="We are planning a hiking trip to the Alps in June.", speaker="ana"),
]


def test_build_opens_nothing(tmp_path: Path, registry: Registry) -> None:
    memory = Memory.from_text(ON_DISK % {"root": tmp_path}, registry=registry)
    assert not (tmp_path / "notes").exists() and not (tmp_path / "graph").exists()
    assert memory.name == "on-disk"


def test_add_then_search_finds_the_note(registry: Registry) -> None:
    with Memory.from_text(FAST, registry=registry) as memory:
        notes = memory.add(EVENTS, scope=Scope(user_id="ana"))
        hits = memory.search("what is the cat called", k=2, scope=Scope(user_id="ana"))
    assert len(notes) == 3 and all(n.embedding for n in notes)
    assert hits[0].note.source_ids == ["1"]
    assert hits[0].channel == "hybrid" and set(hits[0].explain) <= {"bm25", "vector"}


def test_readding_the_same_events_upserts(registry: Registry) -> None:
    with Memory.from_text(FAST, registry=registry) as memory:
        memory.add(EVENTS, scope={"user_id": "ana"})
        memory.add(EVENTS, scope={"user_id": "ana"})
        assert memory.count({"user_id": "ana"}) == 3


def test_scopes_are_isolated(registry: Registry) -> None:
    with Memory.from_text(FAST, registry=registry) as memory:
        memory.add(EVENTS, scope=Scope(user_id="ana"))
        assert memory.search("cat Miso", scope=Scope(user_id="ben")) == []
        assert memory.search("cat Miso") == []


def test_invalid_event_writes_nothing(registry: Registry) -> None:
    with Memory.from_text(FAST, registry=registry) as memory:
        with pytest.raises(EvolveLabError, match="invalid event"):
            memory.add([{"id": "ok", "content": "fine"}, {"id": "", "content": "bad"}])
        assert memory.count() == 0


def test_clock_follows_event_time(registry: Registry) -> None:
    when = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    with Memory.from_text(FAST, registry=registry) as memory:
        memory.add([Event(id="t", content="hello", timestamp=when)])
        assert memory.clock.now() == when


def test_feedback_credits_used_notes(registry: Registry) -> None:
    scope = Scope(user_id="ana")
    with Memory.from_text(FAST, registry=registry) as memory:
        notes = memory.add(EVENTS, scope=scope)
        memory.feedback(Outcome(success=True, scope=scope), [notes[0].id])
        memory.feedback(Outcome(success=False, scope=scope), [notes[0].id, notes[1].id])
        first, second = memory.store.get([notes[0].id, notes[1].id], scope)
    by_id = {n.id: n for n in (first, second)}
    assert (by_id[notes[0].id].success_count, by_id[notes[0].id].failure_count) == (1, 1)
    assert (by_id[notes[1].id].success_count, by_id[notes[1].id].failure_count) == (0, 1)


def test_manage_runs_on_written_scopes(registry: Registry) -> None:
    duplicate = Event(id="4", content="I adopted a grey cat called Miso last week!", speaker="ana")
    with Memory.from_text(FAST, registry=registry) as memory:
        memory.add([*EVENTS, duplicate], scope=Scope(user_id="ana"))
        [report] = memory.manage()
        assert (report.updated, report.deleted) == (1, 1)
        [hit] = memory.search("grey cat Miso", k=1, scope=Scope(user_id="ana"))
    assert hit.note.source_ids == ["1", "4"]


def test_missing_capability_fails_at_build(registry: Registry) -> None:
    text = FAST.replace("{type: memory}", "{type: kuzu}").replace(
        "{type: hybrid, channels: [bm25, vector], k: 10}", "{type: vector}"
    )
    with pytest.raises(ConfigError) as err:
        Memory.from_text(text, registry=registry)
    [problem] = err.value.problems
    assert problem.path == ("retrieve", 0, "type")
    assert "needs vector_search" in problem.message
    assert "lancedb" in problem.hints[0]


def test_stage_failures_name_the_stage(registry: Registry) -> None:
    with Memory.from_text(FAST, registry=registry) as memory:
        def broken(query, previous):  # noqa: ANN001, ANN202
            raise RuntimeError("index exploded")

        memory.retrievers[0].retrieve = broken  # type: ignore[method-assign]
        with pytest.raises(StageError, match=r"retrieve\[0\] \(hybrid\): retrieve failed: index exploded"):
            memory.search("anything")


def test_where_filter_errors_name_allowed_keys(registry: Registry) -> None:
    with Memory.from_text(FAST, registry=registry) as memory:
        with pytest.raises(EvolveLabError, match="allowed keys: kind, layer, tags"):
            memory.search("x", where={"colour": "red"})


HOSTILE = ["a' OR '1'='1", "a\" OR \"1\"=\"1", "%", "_", "a\\", "ünï'cødé", "'; DROP TABLE notes; --"]


@pytest.mark.parametrize("intruder", HOSTILE)
def test_hostile_user_ids_never_cross_scopes_on_disk(tmp_path: Path, registry: Registry, intruder: str) -> None:
    with Memory.from_text(ON_DISK % {"root": tmp_path}, registry=registry) as memory:
        memory.add([Event(id="secret", content="my bank pin is 4321")], scope=Scope(user_id="a"))
        memory.add([Event(id="mine", content="my bank is nearby")], scope=Scope(user_id=intruder))
        hits = memory.search("bank pin", scope=Scope(user_id=intruder))
        assert [h.note.source_ids for h in hits] == [["mine"]]
        assert memory.search("bank pin", scope=Scope(user_id="a"))[0].note.source_ids == ["secret"]


@pytest.mark.slow
def test_writes_are_durable_across_processes(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(ON_DISK % {"root": tmp_path}, encoding="utf-8")
    writer = textwrap.dedent(
        f"""
        from evolvelab import Memory, Event, Scope
        memory = Memory.from_yaml({str(pipeline)!r}).open()
        memory.add([Event(id="e1", content="The spare key is under the blue flowerpot.")],
                   scope=Scope(user_id="ana"))
        import os; os._exit(0)  # no close(): what add() wrote must already be on disk
        """
    )
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=120)
    with Memory.from_yaml(pipeline) as memory:
        hits = memory.search("where is the spare key", scope=Scope(user_id="ana"))
        assert hits and hits[0].note.source_ids == ["e1"]
        assert memory.graph is not None
        assert memory.graph.get([hits[0].note.id], Scope(user_id="ana"))


def test_reingest_keeps_what_memory_learned(registry: Registry) -> None:
    scope = Scope(user_id="ana")
    with Memory.from_text(FAST, registry=registry) as memory:
        [note, *_] = memory.add(EVENTS, scope=scope)
        memory.feedback(Outcome(success=True, scope=scope), [note.id])
        closed = memory.store.get([note.id], scope)[0].model_copy(
            update={"invalid_at": datetime(2024, 1, 1, tzinfo=UTC), "tags": ["evolved"]}
        )
        memory.store.add([closed])
        [again, *_] = memory.add(EVENTS, scope=scope)
    assert again.id == note.id
    assert (again.success_count, again.tags, again.invalid_at) == (1, ["evolved"], closed.invalid_at)
    assert again.embedding == note.embedding and again.version == closed.version


def test_each_owner_has_its_own_clock(registry: Registry) -> None:
    early, late = datetime(2020, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    with Memory.from_text(FAST, registry=registry) as memory:
        memory.add([Event(id="a", content="x", timestamp=late)], scope=Scope(user_id="ana"))
        memory.add([Event(id="b", content="y", timestamp=early)], scope=Scope(user_id="ben"))
        assert memory.clock.now(Scope(user_id="ben")) == early
        assert memory.clock.now(Scope(user_id="ana", session_id="s9")) == late
        assert memory.clock.now() == late


def test_embedder_none_skips_the_model_and_refuses_vector_stages(registry: Registry) -> None:
    lexical = FAST.replace("{type: hashing, dim: 64}", "{type: none}").replace(
        "{type: hybrid, channels: [bm25, vector], k: 10}", "{type: bm25}"
    )
    with Memory.from_text(lexical, registry=registry) as memory:
        memory.add(EVENTS, scope=Scope(user_id="ana"))
        [hit, *_] = memory.search("grey cat", scope=Scope(user_id="ana"))
    assert hit.note.source_ids == ["1"] and hit.note.embedding == [1.0]
    with pytest.raises(ConfigError, match="needs vector search, but the embedder is 'none'"):
        Memory.from_text(FAST.replace("{type: hashing, dim: 64}", "{type: none}"), registry=registry)
