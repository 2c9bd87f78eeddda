"""``dedupe``, ``hcam_chunk`` and ``opinion_update`` after adds work on the add's notes.

Each of them, scheduled with ``every: N``, sweeps the scope on its first run in a
process; after that it reads the notes added since its last run by id and touches only
what they can change (issue 12, item 2):

* ``dedupe`` compares each new note with its nearest stored notes (text and vector
  search), not every pair of the scope;
* ``hcam_chunk`` re-cuts only the new notes' sessions;
* ``opinion_update`` weighs the new notes against the owner's opinions.

Each test checks both halves: what the batch run reads, and that it leaves memory as the
sweep after every add (the behaviour before) does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evolvelab import Event, Memory, Note, Scope, Where
from evolvelab.modules.manage.hcam_chunk import CHUNK_KIND
from evolvelab.registry import Registry

ANA = Scope(user_id="ana")
T0 = datetime(2023, 5, 1, 10, 0, tzinfo=UTC)


def spec(manager: dict[str, Any], encoder: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": 1, "name": "batch-managers", "embedder": {"type": "hashing", "dim": 64},
        "encode": [encoder or {"type": "turn", "speaker": False, "link_turns": False}],
        "store": {"type": "memory"}, "retrieve": [{"type": "bm25", "k": 5}],
        "manage": [{"every": 1, **manager}],
    }  # fmt: skip


def build(registry: Registry, manager: dict[str, Any], *, sweep: bool = False,
          encoder: dict[str, Any] | None = None) -> Memory:  # fmt: skip
    """A memory with ``manager``; ``sweep``: it sweeps after every add (the old way)."""
    memory = Memory.from_dict(spec(manager, encoder), registry=registry).open()
    if sweep:
        for stage in memory.managers:
            stage.manage_added = lambda scope, ids, s=stage: s.manage(scope)  # type: ignore[method-assign]
    return memory


class CountingScans:
    """Wraps a store's ``scan``; counts the rows it yields and the kinds asked for."""

    def __init__(self, store: Any) -> None:
        self.rows = 0
        self.calls: list[tuple[Scope, list[str] | None]] = []
        self._scan = store.scan
        store.scan = self

    def __call__(self, scope: Scope, where: Where) -> Iterator[Note]:
        self.calls.append((scope, where.kind))
        for note in self._scan(scope, where):
            self.rows += 1
            yield note


def everything(memory: Memory) -> list[Note]:
    where = Where(include_invalid=True, hidden_kinds=[])
    return sorted(memory.store.scan(ANA, where), key=lambda n: n.id)  # type: ignore[attr-defined]


def event(i: int, text: str, session: str = "s1", speaker: str = "Ana") -> Event:
    return Event(id=f"e{i}", content=text, speaker=speaker, session_id=session,
                 timestamp=T0 + timedelta(hours=i))  # fmt: skip


TEXTS = ["I adopted a grey cat.", "My sister plays the cello.", "We flew to Lisbon.",
         "i adopted a GREY cat!", "The cello concert was loud.", "We flew to Lisbon",
         "My sister plays the cello", "Pepper the cat sleeps all day."]  # fmt: skip


# ------------------------------------------------------------------ dedupe


@pytest.mark.parametrize("similarity", [1.0, 0.8])
def test_dedupe_after_adds_merges_like_the_sweep_without_scanning(
    registry: Registry, similarity: float
) -> None:
    manager = {"type": "dedupe", "similarity": similarity}
    batch, swept = build(registry, manager), build(registry, manager, sweep=True)
    batch.add([event(0, "Filler about the weather.")], scope=ANA)  # the first run sweeps
    swept.add([event(0, "Filler about the weather.")], scope=ANA)
    scans = CountingScans(batch.store)
    for i, text in enumerate(TEXTS, start=1):
        batch.add([event(i, text)], scope=ANA)
        swept.add([event(i, text)], scope=ANA)
    assert scans.rows == 0
    kept = [(n.content, n.source_ids) for n in everything(batch)]
    assert kept == [(n.content, n.source_ids) for n in everything(swept)]
    assert ("I adopted a grey cat.", ["e1", "e4"]) in kept


def test_dedupe_merges_duplicates_inside_one_add_into_the_oldest(registry: Registry) -> None:
    memory = build(registry, {"type": "dedupe"})
    memory.add([event(0, "Filler.")], scope=ANA)
    memory.add([event(1, "We flew to Lisbon."), event(2, "we flew to lisbon"),
                event(3, "WE FLEW TO LISBON!")], scope=ANA)  # fmt: skip
    lisbon = [n for n in everything(memory) if "isbon" in n.content.lower()]
    assert [(n.id, n.source_ids) for n in lisbon] == [(lisbon[0].id, ["e1", "e2", "e3"])]


# ------------------------------------------------------------------ hcam_chunk


SESSIONS = [("s1", "Ana planned the Porto trip with Ben."), ("s2", "The cello lesson ran late."),
            ("s1", "Porto hotels were booked."), ("s3", "Pepper the cat knocked a vase."),
            ("s2", "Ben practised the cello scales."), ("s1", "The Porto train leaves at nine."),
            ("s3", "The vet checked Pepper.")]  # fmt: skip


@pytest.mark.parametrize("chunk", ["session", "turns"])
def test_hcam_chunk_after_adds_recuts_only_the_new_notes_sessions(
    registry: Registry, chunk: str
) -> None:
    manager = {"type": "hcam_chunk", "chunk": chunk, "size": 2, "terms": 4, "sentences": 1}
    batch, swept = build(registry, manager), build(registry, manager, sweep=True)
    for memory in (batch, swept):
        memory.add([event(0, "Ana said hello.", session="s0")], scope=ANA)
    scans = CountingScans(batch.store)
    for i, (session, text) in enumerate(SESSIONS, start=1):
        before = len(scans.calls)
        batch.add([event(i, text, session=session)], scope=ANA)
        swept.add([event(i, text, session=session)], scope=ANA)
        assert {scope.session_id for scope, _ in scans.calls[before:]} == {session}
    chunks = [n for n in everything(batch) if n.kind == CHUNK_KIND]
    assert len(chunks) >= 4
    same = [(n.id, n.content, n.metadata["members"]) for n in everything(swept)
            if n.kind == CHUNK_KIND]  # fmt: skip
    assert [(n.id, n.content, n.metadata["members"]) for n in chunks] == same


def test_hcam_chunk_counts_a_rewritten_note_once(registry: Registry) -> None:
    manager = {"type": "hcam_chunk", "chunk": "session", "terms": 4, "sentences": 1}
    memory = build(registry, manager)
    memory.add([event(0, "Ana adopted a grey cat.")], scope=ANA)  # the first run: a sweep
    memory.add([event(1, "Ana plays the cello.")], scope=ANA)
    memory.add([event(1, "Ana plays the cello in an orchestra.")], scope=ANA)  # a rewrite
    (stage,) = memory.managers
    df, total = stage._counts()[("ana", None)]
    assert total == 2  # two notes, not three documents
    assert df["cello"] == 1


def test_hcam_chunk_keeps_counts_for_the_owners_used_last(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evolvelab.modules.manage import hcam_chunk

    monkeypatch.setattr(hcam_chunk, "OWNERS_KEPT", 1)
    memory = build(registry, {"type": "hcam_chunk", "chunk": "session", "terms": 4})
    ben = Scope(user_id="ben")
    memory.add([event(0, "Ana adopted a grey cat.")], scope=ANA)
    memory.add([event(1, "Ben flew to Lisbon.")], scope=ben)
    (stage,) = memory.managers
    assert list(stage._counts()) == [("ben", None)]  # Ana's counts were dropped
    scans = CountingScans(memory.store)
    memory.add([event(2, "Ana plays the cello.", session="s2")], scope=ANA)
    assert (ANA, ["turn"]) in scans.calls  # so Ana's next run sweeps her notes again
    assert stage._counts()[("ana", None)][1] == 2


# ------------------------------------------------------------------ opinion_update


HINDSIGHT = {"type": "hindsight_retain", "speaker": False, "use_llm": False}
OPINIONS = ["I think the Porto bridge is great.", "Ben says the Porto bridge is great at night.",
            "We had soup for dinner.", "The Porto bridge is not great, it is rusty.",
            "I think the Lisbon tram is lovely.", "Honestly the Lisbon tram is lovely at dusk.",
            "The Porto bridge is great in the rain."]  # fmt: skip


def test_opinion_update_after_adds_reads_only_opinions_and_the_new_notes(
    registry: Registry,
) -> None:
    manager = {"type": "opinion_update", "rate": 0.5, "close_below": 0.05}
    batch = build(registry, manager, encoder=HINDSIGHT)
    swept = build(registry, manager, encoder=HINDSIGHT, sweep=True)
    for memory in (batch, swept):
        memory.add([event(0, "Filler about the weather.")], scope=ANA)
    scans = CountingScans(batch.store)
    for i, text in enumerate(OPINIONS, start=1):
        batch.add([event(i, text)], scope=ANA)
        swept.add([event(i, text)], scope=ANA)
    assert {tuple(kinds or ()) for _, kinds in scans.calls} == {("opinion",)}  # opinions only, and scanned
    opinions = [(n.content, n.metadata.get("confidence"), n.metadata.get("supported"),
                 n.metadata.get("contradicted")) for n in everything(batch) if n.kind == "opinion"]  # fmt: skip
    assert opinions == [(n.content, n.metadata.get("confidence"), n.metadata.get("supported"),
                         n.metadata.get("contradicted"))
                        for n in everything(swept) if n.kind == "opinion"]  # fmt: skip
    assert any(supported for *_, supported, _ in opinions)
