"""The turn encoder: content rendering, stable ids, and prev/next links across batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evolvelab import Event, Memory, Scope, Where
from evolvelab.registry import Registry

PIPELINE = """\
version: 1
name: turns
embedder: {type: hashing, dim: 32}
encode:
  - {type: turn, speaker: true, date: true, metadata: [caption]}
store: {type: memory}
retrieve:
  - {type: bm25}
"""

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def turns(n: int, start: int = 0, session: str = "s1") -> list[Event]:
    return [
        Event(id=f"{session}:{i}", content=f"turn number {i}", speaker="Ana", session_id=session,
              timestamp=T0 + timedelta(minutes=i))
        for i in range(start, start + n)
    ]  # fmt: skip


def chain(memory: Memory, scope: Scope) -> dict[str, tuple[list[str], list[str]]]:
    """Map event id -> (prev event ids, next event ids) through the stored links."""
    notes = {n.id: n for n in memory.store.scan(scope, Where())}  # type: ignore[attr-defined]
    out = {}
    for note in notes.values():
        prev = [notes[link.target].source_ids[0] for link in note.links if link.kind == "prev"]
        nxt = [notes[link.target].source_ids[0] for link in note.links if link.kind == "next"]
        out[note.source_ids[0]] = (prev, nxt)
    return out


def test_content_carries_speaker_date_and_caption(registry: Registry) -> None:
    event = Event(id="e", content="look at this", speaker="Ana", timestamp=T0, metadata={"caption": "a dog"})
    with Memory.from_text(PIPELINE, registry=registry) as memory:
        [note] = memory.add([event], scope=Scope(user_id="u"))
    assert note.content == "[8 May 2023] Ana: look at this (caption: a dog)"
    assert note.source_ids == ["e"] and note.valid_from == T0 and note.metadata["speaker"] == "Ana"


def test_turns_are_linked_both_ways_across_batches(registry: Registry) -> None:
    scope = Scope(user_id="u")
    with Memory.from_text(PIPELINE, registry=registry) as memory:
        memory.add(turns(3), scope=scope)
        written = memory.add(turns(2, start=3), scope=scope)
        links = chain(memory, scope)
    assert [n.source_ids[0] for n in written] == ["s1:3", "s1:4", "s1:2"]  # the old tail is rewritten
    assert links["s1:0"] == ([], ["s1:1"])
    assert links["s1:2"] == (["s1:1"], ["s1:3"])
    assert links["s1:4"] == (["s1:3"], [])


def test_reingesting_keeps_the_same_links(registry: Registry) -> None:
    scope = Scope(user_id="u")
    with Memory.from_text(PIPELINE, registry=registry) as memory:
        memory.add(turns(4), scope=scope)
        first = chain(memory, scope)
        memory.add(turns(2, start=1), scope=scope)
        assert chain(memory, scope) == first
        assert memory.count(scope) == 4


def test_sessions_are_separate_chains(registry: Registry) -> None:
    scope = Scope(user_id="u")
    with Memory.from_text(PIPELINE, registry=registry) as memory:
        memory.add(turns(2, session="a") + turns(2, session="b"), scope=scope)
        links = chain(memory, scope)
    assert links["a:1"] == (["a:0"], []) and links["b:0"] == ([], ["b:1"])


def test_linking_can_be_turned_off(registry: Registry) -> None:
    text = PIPELINE.replace("metadata: [caption]}", "metadata: [caption], link_turns: false}")
    with Memory.from_text(text, registry=registry) as memory:
        notes = memory.add(turns(3), scope=Scope(user_id="u"))
    assert all(not n.links for n in notes)


def test_context_indexes_previous_turns_but_shows_the_turn(registry: Registry) -> None:
    text = PIPELINE.replace("date: true, metadata: [caption]}", "date: false, context: 2}")
    scope = Scope(user_id="u")
    with Memory.from_text(text, registry=registry) as memory:
        memory.add(turns(2), scope=scope)
        [third, *_] = memory.add(turns(2, start=2), scope=scope)
        first = memory.store.get([memory.add(turns(1), scope=scope)[0].id], scope)[0]
    assert third.content == "Ana: turn number 2"
    assert third.index_text == "Ana: turn number 0 Ana: turn number 1 Ana: turn number 2"
    assert first.index_text is None  # nothing before the first turn


def test_equal_timestamps_keep_arrival_order(registry: Registry) -> None:
    scope = Scope(user_id="u")
    same = [Event(id=f"e{i}", content=f"t{i}", session_id="s", timestamp=T0) for i in range(4)]
    with Memory.from_text(PIPELINE, registry=registry) as memory:
        memory.add(same[:2], scope=scope)
        memory.add(same[2:], scope=scope)
        links = chain(memory, scope)
    assert links["e1"] == (["e0"], ["e2"]) and links["e3"] == (["e2"], [])


def context_pipeline(context: int, context_after: int) -> str:
    options = f"date: false, context: {context}, context_after: {context_after}}}"
    return PIPELINE.replace("date: true, metadata: [caption]}", options)


def index_texts(memory: Memory, scope: Scope) -> dict[str, str | None]:
    """Map event id -> stored index text."""
    notes = memory.store.scan(scope, Where())  # type: ignore[attr-defined]
    return {n.source_ids[0]: n.index_text for n in notes}


def said(*numbers: int) -> str:
    return " ".join(f"Ana: turn number {i}" for i in numbers)


def test_context_after_indexes_the_following_turns(registry: Registry) -> None:
    scope = Scope(user_id="u")
    with Memory.from_text(context_pipeline(0, 1), registry=registry) as memory:
        written = memory.add(turns(3), scope=scope)
        stored = index_texts(memory, scope)
    assert [n.content for n in written] == [said(0), said(1), said(2)]
    assert [n.index_text for n in written] == [said(0, 1), said(1, 2), None]  # last: nothing after
    assert stored == {"s1:0": said(0, 1), "s1:1": said(1, 2), "s1:2": None}


def test_context_before_and_after_together(registry: Registry) -> None:
    scope = Scope(user_id="u")
    with Memory.from_text(context_pipeline(1, 2), registry=registry) as memory:
        memory.add(turns(5), scope=scope)
        stored = index_texts(memory, scope)
    assert stored == {
        "s1:0": said(0, 1, 2),  # first: nothing before
        "s1:1": said(0, 1, 2, 3),
        "s1:2": said(1, 2, 3, 4),  # middle: one before, two after
        "s1:3": said(2, 3, 4),  # one after is left
        "s1:4": said(3, 4),  # last: nothing after
    }


def test_context_after_rewrites_stored_turns_across_batches(registry: Registry) -> None:
    scope = Scope(user_id="u")
    with Memory.from_text(context_pipeline(0, 1), registry=registry) as memory:
        first = memory.add(turns(2), scope=scope)
        assert [n.index_text for n in first] == [said(0, 1), None]
        written = memory.add(turns(2, start=2), scope=scope)
        stored = index_texts(memory, scope)
    # the new turns, then the old tail: its index text now takes in turn 2 (and it links to it)
    assert [(n.source_ids[0], n.index_text) for n in written] == [
        ("s1:2", said(2, 3)),
        ("s1:3", None),
        ("s1:1", said(1, 2)),
    ]
    assert written[2].content == said(1)  # what is shown stays the turn alone
    assert stored == {"s1:0": said(0, 1), "s1:1": said(1, 2), "s1:2": said(2, 3), "s1:3": None}


def test_context_after_reaches_back_over_several_stored_turns(registry: Registry) -> None:
    scope = Scope(user_id="u")
    with Memory.from_text(context_pipeline(0, 2), registry=registry) as memory:
        memory.add(turns(2), scope=scope)
        written = memory.add(turns(1, start=2), scope=scope)
        stored = index_texts(memory, scope)
    assert written[0].source_ids == ["s1:2"]
    assert sorted((n.source_ids[0], n.index_text) for n in written[1:]) == [
        ("s1:0", said(0, 1, 2)),
        ("s1:1", said(1, 2)),
    ]
    assert stored == {"s1:0": said(0, 1, 2), "s1:1": said(1, 2), "s1:2": None}


def test_rewritten_turns_are_embedded_with_their_new_index_text(registry: Registry) -> None:
    from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig

    embedder = HashingEmbedder(HashingEmbedderConfig(dim=32))  # the pipeline's embedder
    scope = Scope(user_id="u")
    with Memory.from_text(context_pipeline(0, 1), registry=registry) as memory:
        [_, tail] = memory.add(turns(2), scope=scope)
        [before] = memory.store.get([tail.id], scope)
        memory.add(turns(1, start=2), scope=scope)
        [after] = memory.store.get([tail.id], scope)
    assert before.index_text is None
    assert before.embedding == pytest.approx(embedder.embed([said(1)])[0].tolist(), abs=1e-6)
    assert after.index_text == said(1, 2)
    assert after.embedding == pytest.approx(embedder.embed([said(1, 2)])[0].tolist(), abs=1e-6)
    assert after.embedding != pytest.approx(before.embedding, abs=1e-6)
    assert after.version == before.version + 1


def test_context_after_reingesting_changes_nothing(registry: Registry) -> None:
    scope = Scope(user_id="u")
    with Memory.from_text(context_pipeline(1, 1), registry=registry) as memory:
        memory.add(turns(2), scope=scope)
        memory.add(turns(2, start=2), scope=scope)

        def snapshot() -> dict[str, dict[str, object]]:
            notes = memory.store.scan(scope, Where())  # type: ignore[attr-defined]
            return {n.id: n.model_dump() for n in notes}

        first = snapshot()
        memory.add(turns(4), scope=scope)
        assert snapshot() == first
        memory.add(turns(2, start=1), scope=scope)
        assert snapshot() == first
        memory.add(turns(1, start=3), scope=scope)
        assert snapshot() == first
        assert memory.count(scope) == 4
    assert {n["source_ids"][0]: n["index_text"] for n in first.values()} == {  # type: ignore[index]
        "s1:0": said(0, 1),
        "s1:1": said(0, 1, 2),
        "s1:2": said(1, 2, 3),
        "s1:3": said(2, 3),
    }


def test_context_after_rewrites_turns_stored_by_an_earlier_process(
    registry: Registry, tmp_path: Path
) -> None:
    from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig

    text = context_pipeline(0, 1).replace("store: {type: memory}", "store: {type: lancedb}")
    scope = Scope(user_id="u")
    with Memory.from_text(text, registry=registry, data_dir=tmp_path) as memory:
        memory.add(turns(2), scope=scope)
    with Memory.from_text(text, registry=registry, data_dir=tmp_path) as memory:
        written = memory.add(turns(1, start=2), scope=scope)
        notes = memory.store.scan(scope, Where())  # type: ignore[attr-defined]
        stored = {n.source_ids[0]: n for n in notes}
    assert [(n.source_ids[0], n.index_text) for n in written] == [
        ("s1:2", None),
        ("s1:1", said(1, 2)),
    ]
    assert {k: n.index_text for k, n in stored.items()} == {
        "s1:0": said(0, 1),
        "s1:1": said(1, 2),
        "s1:2": None,
    }
    vector = HashingEmbedder(HashingEmbedderConfig(dim=32)).embed([said(1, 2)])[0].tolist()
    assert stored["s1:1"].embedding == pytest.approx(vector, abs=1e-6)


def test_a_late_turn_rewrites_the_stored_turns_that_index_it(registry: Registry) -> None:
    text = PIPELINE.replace("date: true, metadata: [caption]}", "context: 1, context_after: 1}").replace(
        "speaker: true", "speaker: false")
    events = [Event(id=f"e{i}", content=str(i), session_id="s1", timestamp=T0 + timedelta(minutes=i))
              for i in range(3)]  # fmt: skip
    scope = Scope(user_id="u")
    with Memory.from_text(text, registry=registry) as memory:
        memory.add(events[1:], scope=scope)
        written = memory.add(events[:1], scope=scope)
        stored = {n.source_ids[0]: n.index_text for n in memory.store.scan(scope, Where())}  # type: ignore[attr-defined]
    assert [n.source_ids[0] for n in written] == ["e0", "e1"]
    assert stored == {"e0": "0 1", "e1": "0 1 2", "e2": "1 2"}
