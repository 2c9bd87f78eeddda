"""Text-index updates left for idle moments (``defer_upkeep``): what a served memory does.

An index update per owner table and write costs about as much CPU as the write. A writer
that has idle moments defers them: notes are still found the moment ``add`` returns
(LanceDB searches the rows its index has not seen without it), and the index catches up
when the writer is idle, or at the latest at the next maintenance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evolvelab.modules.store import _lancedb_index as lancedb_index
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.stages import IdleUpkeep
from evolvelab.testing.contracts import make_note, store_resources
from evolvelab.types import Scope, Where

ALICE, BOB = Scope(user_id="alice"), Scope(user_id="bob")


def open_store(tmp_path: Path, **config: Any) -> LanceDBStore:
    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db"), **config))
    store.open(store_resources(store, tmp_path))
    return store


def unindexed(store: LanceDBStore, scope: Scope) -> int:
    table = store._table_of(scope)
    index = lancedb_index.find(table, "search_text")
    return int(table.index_stats(index.name).num_unindexed_rows)


def test_deferred_updates_leave_notes_findable_and_catch_up_when_idle(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert isinstance(store, IdleUpkeep)
    store.defer_upkeep()
    for i in range(3):
        store.add([make_note(f"a{i}", f"alice saw walrus{i}"), make_note(f"b{i}", "bob", BOB)])
        hits = store.search_text(f"walrus{i}", 5, ALICE, Where())
        assert [h.note.id for h in hits] == [f"a{i}"]  # found at once, index or not
    assert unindexed(store, ALICE) == 3 and unindexed(store, BOB) == 3
    assert store.idle_upkeep() is True  # one table per step; the other still waits
    assert store.idle_upkeep() is False
    assert unindexed(store, ALICE) == unindexed(store, BOB) == 0
    assert store.idle_upkeep() is False  # nothing left: a step costs nothing


def test_caught_up_scores_equal_those_of_an_index_updated_on_every_write(tmp_path: Path) -> None:
    texts = ["the walrus sang by the sea", "a walrus and a carpenter", "sea shells on the shore"]
    lazy, eager = open_store(tmp_path / "lazy"), open_store(tmp_path / "eager")
    lazy.defer_upkeep()
    for i, text in enumerate(texts):
        lazy.add([make_note(f"n{i}", text)])
        eager.add([make_note(f"n{i}", text)])
    while lazy.idle_upkeep():
        pass

    def scores(store: LanceDBStore) -> dict[str, float]:
        return {
            h.note.id: round(h.score, 5) for h in store.search_text("walrus sea", 5, ALICE, Where())
        }

    assert scores(lazy) == scores(eager)


def test_maintenance_folds_waiting_rows_in_under_endless_writes(tmp_path: Path) -> None:
    store = open_store(tmp_path, reindex_writes=3, reindex_rows=10_000)
    store.defer_upkeep()
    lag = []
    for i in range(6):
        store.add([make_note(f"n{i}", f"note {i}")])
        lag.append(unindexed(store, ALICE))
    assert lag == [1, 2, 0, 1, 2, 0]  # never idle: maintenance every third write
    assert not store._waiting  # the last maintenance left nothing for idle time
