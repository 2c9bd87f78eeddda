"""Counted inserts and known keys: an add of new notes asks LanceDB nothing before writing.

Every add reads the stored versions of its notes, and an append must not double a key.
A process that knows every key of an owner table (and that no other process inserted
since: the insert count beside the table says so) answers both from memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evolvelab.modules.store import lancedb as lancedb_module
from evolvelab.modules.store._lancedb_inserts import KnownKeys, insert_count, insert_lock
from evolvelab.modules.store._lancedb_schema import note_key, owner_key
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.testing.contracts import make_note, store_resources
from evolvelab.types import Scope

ALICE = Scope(user_id="alice")


def open_store(tmp_path: Path, **config: Any) -> LanceDBStore:
    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db"), **config))
    store.open(store_resources(store, tmp_path))
    return store


def key(id: str) -> str:
    return note_key(ALICE, id)


def test_known_keys_never_miss_a_key_they_were_given() -> None:
    known = KnownKeys(0, [key(f"old{i}") for i in range(3000)])
    for round in range(5):  # enough additions to merge the newest into the sorted array
        known.add([key(f"r{round}-{i}") for i in range(400)], count=round + 1)
    assert known.count == 5 and len(known) == 5000
    assert all(known.holds_any([key(f"old{i}")]) for i in range(0, 3000, 7))
    assert all(known.holds_any([key(f"r{r}-{i}")]) for r in range(5) for i in range(0, 400, 3))
    assert not any(known.holds_any([key(f"new{i}")]) for i in range(2000))
    assert known.holds_any([key("new1"), key("old5")])  # any one is enough
    assert not known.holds_any([])


def test_the_insert_count_lives_beside_the_table_and_counts_every_insert(tmp_path: Path) -> None:
    database = str(tmp_path / "db")
    assert insert_count(database, "notes-x") == 0  # never inserted into: no file yet
    for expected in (1, 2, 3):
        with insert_lock(database, "notes-x") as count:
            assert count is not None and count.value == expected - 1
            assert count.bump() == expected
    assert insert_count(database, "notes-x") == 3  # read without the lock
    assert insert_count(database, "notes-y") == 0  # per table


def test_a_database_behind_a_uri_has_no_count_to_keep() -> None:
    with insert_lock("s3://bucket/db", "notes-x") as count:
        assert count is None
    assert insert_count("s3://bucket/db", "notes-x") is None


def count_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every read of stored notes and every look for stored keys."""
    asked: list[str] = []
    read, look = LanceDBStore._read, LanceDBStore._stored_keys
    monkeypatch.setattr(
        LanceDBStore, "_read", staticmethod(lambda t, sql: asked.append("read") or read(t, sql))
    )
    monkeypatch.setattr(
        LanceDBStore, "_stored_keys", staticmethod(lambda t, k: asked.append("look") or look(t, k))
    )
    return asked


def test_reading_and_writing_new_notes_asks_lancedb_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    asked = count_queries(monkeypatch)
    for round in range(3):  # what the pipeline does per add: read, then write
        ids = [f"n{round}-{i}" for i in range(4)]
        assert store.get(ids, ALICE) == []
        store.add([make_note(id, f"note {id}") for id in ids])
    assert asked == []
    # a stored note is read for real, and rewriting it merges instead of doubling it
    assert [n.content for n in store.get(["n1-2"], ALICE)] == ["note n1-2"]
    store.add([make_note("n1-2", "corrected")])
    assert asked == ["read"]
    assert [n.content for n in store.get(["n1-2"], ALICE)] == ["corrected"]
    assert store.count(ALICE) == 12


def test_another_process_insert_makes_the_known_keys_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    store.add([make_note("a", "first")])
    assert store.get(["b"], ALICE) == []  # the keys are known from here on
    other = open_store(tmp_path)  # another writer: its own known keys, same insert count
    other.add([make_note("b", "from the other writer")])
    assert [n.content for n in store.get(["b"], ALICE)] == ["from the other writer"]
    store.add([make_note("b", "from this one")])  # upserted, not appended twice
    table = store._table_of(ALICE)
    assert table.count_rows("id = 'b'") == 1
    assert [n.content for n in other.get(["b"], ALICE)] == ["from this one"]


def test_keys_stale_again_and_again_are_read_again_only_now_and_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    other = open_store(tmp_path)
    store.add([make_note("seed", "seed")])
    assert store.get(["x"], ALICE) == []
    reads: list[int] = []
    real = KnownKeys.read
    monkeypatch.setattr(
        KnownKeys, "read", staticmethod(lambda t, c, **kw: reads.append(c) or real(t, c, **kw))
    )
    asked = count_queries(monkeypatch)
    other.add([make_note("o1", "elsewhere")])
    for i in range(lancedb_module._RELOAD_READS + 1):
        assert store.get([f"new{i}"], ALICE) == []
    # stale: each get asks LanceDB, until the keys are read again once
    assert asked.count("read") == lancedb_module._RELOAD_READS and len(reads) == 1
    assert store.get(["new-after"], ALICE) == [] and asked.count("read") == 8


def test_a_store_opened_later_reads_the_keys_once_per_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store(tmp_path).add([make_note(f"n{i}", f"note {i}") for i in range(5)])
    reopened = open_store(tmp_path)
    asked = count_queries(monkeypatch)
    assert reopened.get(["new"], ALICE) == []
    assert [n.id for n in reopened.get(["n3", "new"], ALICE)] == ["n3"]
    assert asked == ["read"]  # only the stored one is asked for
    known = reopened._known[f"notes-{owner_key(ALICE)}"]
    assert len(known) == 5


def test_a_group_reads_only_the_owners_that_may_hold_its_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owners = [Scope(user_id=f"u{i}") for i in range(3)]
    store = open_store(tmp_path)
    store.add([make_note("old", f"stored for {s.user_id}", s) for s in owners])
    sent: list[list[Any]] = []
    real = store._side_by_side
    monkeypatch.setattr(
        store, "_side_by_side", lambda action, calls: sent.append(calls) or real(action, calls)
    )
    asked = [(["new1", "new2"], owners[0]), (["new3"], owners[1]), (["old", "new4"], owners[2])]
    answers = store.get_many(asked)
    assert [[n.id for n in found] for found in answers] == [[], [], ["old"]]
    assert sent == [[(["old", "new4"], owners[2])]]  # one owner's table read; two answered here


@pytest.mark.parametrize("swap_after", [0, 1, 2, 3, 4])
def test_known_keys_answer_from_one_look_while_another_thread_merges(swap_after: int) -> None:
    """A served memory reads while its writer adds: a merge may replace the sorted array
    in the middle of a question, which must still be answered from one array."""
    import numpy as np

    old = [key(f"old{i}") for i in range(8)]
    before = KnownKeys(0, old)._sorted
    after = np.union1d(before, KnownKeys(0, [key(f"new{i}") for i in range(64)])._sorted)

    class Merging(KnownKeys):
        looks = 0

        @property  # type: ignore[override]
        def _sorted(self) -> Any:  # the array before the merge, then the merged one
            self.looks += 1
            return before if self.looks <= swap_after else after

        @_sorted.setter
        def _sorted(self, value: Any) -> None:
            pass

    for k in old:
        assert Merging(0, old).holds_any([k])


def test_a_writer_whose_reads_may_be_stale_never_doubles_a_key(tmp_path: Path) -> None:
    """``refresh_seconds`` lets reads lag; the insert decision must not (it is made once)."""
    store = open_store(tmp_path, refresh_seconds=3600)
    store.add([make_note("a", "first")])
    assert store.get(["b"], ALICE) == []  # the table handle is open, its keys known
    assert store.count(ALICE) == 1  # a read: the handle looked for new versions just now
    other = open_store(tmp_path)
    other.add([make_note("b", "from the other writer")])
    store.add([make_note("b", "from this one")])  # stale keys: looked up, then merged
    assert other.count(ALICE) == 2
    assert store.count(ALICE) == 2
    other.add([make_note("c", "from the other writer")])
    for i in range(lancedb_module._RELOAD_READS + 1):  # until the keys are read again
        store.get([f"new{i}"], ALICE)
    store.add([make_note("c", "from this one")])  # the keys read again must hold c
    assert other.count(ALICE) == 3
    assert [n.content for n in other.get(["b", "c"], ALICE)] == ["from this one"] * 2


def test_a_reader_that_may_not_write_the_folder_still_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica on a read-only mount cannot open the insert lock: it asks LanceDB instead."""
    import contextlib
    import errno

    open_store(tmp_path).add([make_note(f"n{i}", f"note {i}") for i in range(3)])
    reader = open_store(tmp_path)

    @contextlib.contextmanager
    def read_only(database: str, table: str) -> Any:
        raise OSError(errno.EROFS, "Read-only file system", database)
        yield  # pragma: no cover

    monkeypatch.setattr(lancedb_module, "insert_lock", read_only)
    assert [n.content for n in reader.get(["n1", "new"], ALICE)] == ["note 1"]
    assert [[n.id for n in found] for found in reader.get_many([(["n2"], ALICE)])] == [["n2"]]
