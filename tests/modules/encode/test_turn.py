"""The turn encoder: content rendering, stable ids, and prev/next links across batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
