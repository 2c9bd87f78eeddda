"""The ANN index as a LanceDB owner table grows: kept in few segments, never failing a write.

LanceDB's maintenance folds new rows into the vector index as one more segment each
time; the store retrains the index, in one segment, once there are more than
``index_max_segments``, and when the table has doubled since training.
Small tables, hashing vectors and a low ``index_threshold`` stand in for 100k notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evolvelab.modules.store import _lancedb_index as lancedb_index
from evolvelab.modules.store._lancedb_schema import owner_key
from evolvelab.modules.store._lancedb_upkeep import ann_upkeep
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.testing.contracts import embed, make_note, store_resources
from evolvelab.types import Scope, Where

ALICE = Scope(user_id="alice")
CONFIG = LanceDBStoreConfig(index_max_segments=2)


def open_store(tmp_path: Path, **fields: object) -> LanceDBStore:
    settings: dict[str, Any] = {"index_threshold": 300, "reindex_rows": 10_000,
                                "reindex_writes": 2, "nprobes": 2, **fields}  # fmt: skip
    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db"), **settings))
    store.open(store_resources(store, tmp_path))
    return store


def notes(start: int, count: int) -> list[Any]:
    return [
        make_note(f"n{i}", f"note {i} about topic {i % 37} and thing {i % 11}", ALICE)
        for i in range(start, start + count)
    ]


def segments(store: LanceDBStore) -> int | None:
    index = lancedb_index.find(store._owner_tables().find(owner_key(ALICE)), "vector")
    return None if index is None else index.num_segments


def test_a_retrain_is_due_when_the_table_doubled_or_past_the_segments() -> None:
    assert not ann_upkeep(segments=2, size=30_000, trained=20_000, config=CONFIG)
    assert ann_upkeep(segments=3, size=30_000, trained=20_000, config=CONFIG)
    assert ann_upkeep(segments=1, size=40_000, trained=20_000, config=CONFIG)
    assert ann_upkeep(segments=9, size=40_000, trained=20_000, config=CONFIG)


def test_partitions_are_sized_for_what_maintenance_keeps() -> None:
    assert lancedb_index.partitions(4_096 * 3, None) == 3
    assert lancedb_index.partitions(100, None) == 1
    assert lancedb_index.partitions(100_000, 500) == 500  # asked for, and valid


def test_growing_past_the_threshold_keeps_the_index_in_few_segments(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.add(notes(0, 300))  # the threshold: the index is built
    assert segments(store) == 1
    seen = []
    for start in range(300, 700, 20):  # maintenance every 2 writes adds a segment
        store.add(notes(start, 20))
        seen.append(segments(store))
    assert max(count for count in seen if count is not None) <= 2
    table = store._owner_tables().find(owner_key(ALICE))
    assert store._state(table).trained >= 600  # doubled since 300: retrained
    target = notes(650, 1)[0]
    hits = store.search_vectors(embed(target.content), 3, ALICE, Where())
    assert hits[0].note.id == target.id
    assert len(store.search_vectors(embed("topic"), 10, ALICE, Where())) == 10


def test_segments_past_the_bound_are_retrained_into_one(tmp_path: Path) -> None:
    store = open_store(tmp_path, index_max_segments=1)
    store.add(notes(0, 300))
    table = store._owner_tables().find(owner_key(ALICE))
    trained = store._state(table).trained
    store.add(notes(300, 10))
    store.add(notes(310, 10))  # maintenance: a second segment, past index_max_segments
    assert segments(store) == 1  # retrained over every row
    assert store._state(table).trained == 320 > trained


def test_an_ann_upkeep_that_fails_never_fails_the_committed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path)
    store.add(notes(0, 300))

    def broken(table: Any, config: Any) -> None:
        raise RuntimeError("lance error: something unexpected")

    monkeypatch.setattr(lancedb_index, "build_vector", broken)
    for start in range(300, 700, 20):  # the doubling retrain fails at every maintenance
        store.add(notes(start, 20))
    assert len(store.get([f"n{i}" for i in range(700)], ALICE)) == 700
    assert "upkeep of the ANN index" in caplog.text
    assert "deferred to the next write" in caplog.text
    target = notes(690, 1)[0]  # the old index, and flat search over the rest, still serve
    assert store.search_vectors(embed(target.content), 1, ALICE, Where())[0].note.id == "n690"


def test_a_retrain_another_process_committed_meanwhile_is_not_done_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two stores on one path stand for two processes; both find the index due for a
    # retrain, and the other one commits its retrain first: this one sees the index was
    # replaced and does not train it again (at 100k rows a retrain is seconds of CPU)
    first = open_store(tmp_path, index_max_segments=1, reindex_writes=100)
    first.add(notes(0, 300))
    first.add(notes(300, 20))
    mine = first._owner_tables().find(owner_key(ALICE))
    mine.optimize()  # LanceDB's maintenance: the new rows become a second segment
    other = open_store(tmp_path, index_max_segments=1, reindex_writes=100)
    theirs = other._owner_tables().find(owner_key(ALICE))
    assert segments(first) == 2
    trainings: list[str] = []
    train, configure = lancedb_index.build_vector, lancedb_index.vector_config

    def counted(table: Any, config: Any) -> None:
        trainings.append("mine" if table is mine else "theirs")
        train(table, config)

    def other_first(*args: Any) -> Any:
        config = configure(*args)
        if not trainings:  # once this store has decided: the other retrains and commits
            counted(theirs, config)
        return config

    monkeypatch.setattr(lancedb_index, "build_vector", counted)
    monkeypatch.setattr(lancedb_index, "vector_config", other_first)
    state = first._state(mine)
    first._look(mine, state)
    first._keep_ann_index(mine, state)
    assert trainings == ["theirs"]
    assert segments(first) == 1
    assert state.trained == 320  # taken as trained now: no retrain at the next maintenance
