"""One tenant's notes never change another tenant's scores.

The tenancy unit is the owner (``user_id`` + ``agent_id``): BM25 statistics (document
count, average length, document frequency) come from the owner's notes only, in every
store with full-text search. The test measures B's scores, lets A write 200 notes full
of B's query words, and measures again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.modules.store.layered_decay import LayeredDecayConfig, LayeredDecayStore
from evolvelab.modules.store.memory import MemoryStore, MemoryStoreConfig
from evolvelab.stages import Store
from evolvelab.testing.contracts import embed, make_note, store_resources
from evolvelab.types import Scope, Where

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")
ALICE_AGENT = Scope(user_id="bob", agent_id="helper")  # same user, another owner
B_TEXTS = [
    "the walrus sang by the sea", "a walrus and a carpenter walked on the shore",
    "sea shells on the sea shore", "the carpenter built a boat", "nothing to see here",
]  # fmt: skip
QUERIES = ["walrus", "walrus sea", "carpenter boat", "shore"]


def make_store(kind: str, tmp_path: Path) -> Store:
    if kind == "lancedb":
        store: Store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db")))
    elif kind == "layered_decay":
        store = LayeredDecayStore(LayeredDecayConfig(path=str(tmp_path / "db")))
    else:
        store = MemoryStore(MemoryStoreConfig())
    store.open(store_resources(store, tmp_path))
    return store


@pytest.fixture(params=["lancedb", "layered_decay", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = make_store(request.param, tmp_path)
    yield store
    store.close()


def scores(store: Store, scope: Scope) -> dict[tuple[str, str], float]:
    found = {}
    for query in QUERIES:
        for hit in store.search_text(query, 10, scope, Where()):  # type: ignore[attr-defined]
            found[(query, hit.note.id)] = hit.score
    return found


def test_another_owners_writes_leave_text_scores_unchanged(store: Store, tally) -> None:
    """B's BM25 scores are identical before and after A writes 200 notes with B's words."""
    store.add([make_note(f"b{i}", text, BOB) for i, text in enumerate(B_TEXTS)])
    before = scores(store, BOB)
    assert len(before) >= 6
    for start in range(0, 200, 50):  # four writes, as an ingest would make them
        store.add(
            [
                make_note(f"a{i}", f"walrus walrus sea shore carpenter boat note {i}", owner)
                for i in range(start, start + 50)
                for owner in (ALICE, ALICE_AGENT)
            ]
        )
    after = scores(store, BOB)
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert after[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    tally(400, "notes written by other owners")


def test_another_owners_writes_leave_vector_scores_unchanged(store: Store) -> None:
    store.add([make_note(f"b{i}", text, BOB) for i, text in enumerate(B_TEXTS)])
    query = embed("walrus by the sea")
    search = store.search_vectors  # type: ignore[attr-defined]
    before = [(h.note.id, h.score) for h in search(query, 5, BOB, Where())]
    store.add([make_note(f"a{i}", f"walrus by the sea {i}", ALICE) for i in range(50)])
    after = [(h.note.id, h.score) for h in search(query, 5, BOB, Where())]
    assert [i for i, _ in after] == [i for i, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before], rel=1e-6)
