"""The neighbours refiner: score spreading over prev/next links, with hand-checked numbers."""

from __future__ import annotations

import pytest

from evolvelab import Hit, Link, Note, Query, Resources, Scope
from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.modules.retrieve.neighbours import NeighboursConfig, NeighboursRetriever
from evolvelab.modules.store.memory import MemoryStore, MemoryStoreConfig

SCOPE = Scope(user_id="u", session_id="s")


def chain_of(n: int) -> list[Note]:
    """Notes t0..t(n-1) linked prev/next in order."""
    notes = []
    for i in range(n):
        links = ([Link(target=f"t{i - 1}", kind="prev")] if i else []) + (
            [Link(target=f"t{i + 1}", kind="next")] if i < n - 1 else []
        )
        notes.append(Note(id=f"t{i}", content=f"turn {i}", source_ids=[f"e{i}"], scope=SCOPE, links=links))
    return notes


@pytest.fixture
def refiner() -> NeighboursRetriever:
    store = MemoryStore(MemoryStoreConfig())
    resources = Resources(embedder=HashingEmbedder(HashingEmbedderConfig(dim=16)), store=store)
    store.open(resources)
    store.add(chain_of(7))
    retriever = NeighboursRetriever(NeighboursConfig(window=2, weight=0.5, decay=0.5, k=10))
    retriever.open(resources)
    return retriever


def hit(store_note: str, score: float) -> Hit:
    note = next(n for n in chain_of(7) if n.id == store_note)
    return Hit(note=note, score=score, channel="bm25")


def test_scores_spread_by_distance(refiner: NeighboursRetriever) -> None:
    hits = refiner.retrieve(Query(text="q", scope=SCOPE), [hit("t3", 1.0)])
    scores = {h.note.id: round(h.score, 4) for h in hits}
    # direct neighbours get 0.5 * 1.0, two links away 0.5 * 0.5 * 1.0
    assert scores == {"t3": 1.0, "t2": 0.5, "t4": 0.5, "t1": 0.25, "t5": 0.25}
    assert hits[0].note.id == "t3" and {h.channel for h in hits[1:]} == {"neighbours"}


def test_shared_neighbours_add_up_and_can_overtake(refiner: NeighboursRetriever) -> None:
    hits = refiner.retrieve(Query(text="q", scope=SCOPE), [hit("t2", 0.6), hit("t4", 0.6)])
    scores = {h.note.id: round(h.score, 4) for h in hits}
    assert scores["t3"] == 0.6  # 0.5*0.6 from each side
    assert scores["t2"] == round(0.6 + 0.25 * 0.6, 4)  # t4 reaches t2 two links away
    assert hits[0].note.id in {"t2", "t4"}
    assert hits[2].note.id == "t3" and hits[2].explain == {"from:t2": 0.3, "from:t4": 0.3}


def test_window_and_k_limit_the_result(refiner: NeighboursRetriever) -> None:
    refiner.config = NeighboursConfig(window=1, weight=0.5, k=2)
    hits = refiner.retrieve(Query(text="q", scope=SCOPE), [hit("t0", 1.0)])
    assert [h.note.id for h in hits] == ["t0", "t1"]


def test_other_scopes_are_not_reached(refiner: NeighboursRetriever) -> None:
    hits = refiner.retrieve(Query(text="q", scope=Scope(user_id="intruder")), [hit("t3", 1.0)])
    assert [h.note.id for h in hits] == ["t3"]


def test_nothing_in_nothing_out(refiner: NeighboursRetriever) -> None:
    assert refiner.retrieve(Query(text="q", scope=SCOPE), []) == []
