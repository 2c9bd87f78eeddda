"""One add for several owners writes their tables side by side (the server's group commit).

Each owner has a table of its own, so a group commit of 16 users' adds is 16 table
writes (upsert, text-index upkeep). They run on ``write_threads`` threads; ``add`` still
returns only when every owner's notes are committed and searchable with their final
score, and one owner's failure neither stops nor undoes the others.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.testing.contracts import make_note, store_resources
from evolvelab.types import Scope, Where

pytestmark = pytest.mark.slow  # a few seconds each: six owner tables with text indexes

USERS = [Scope(user_id=f"u{i}") for i in range(6)]


def open_store(tmp_path: Path, **config: Any) -> LanceDBStore:
    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db"), **config))
    store.open(store_resources(store, tmp_path))
    return store


def notes_of_everyone(round: int = 0) -> list[Any]:
    return [
        make_note(f"{scope.user_id}-{round}-{j}", f"harbour cello note {j} of {scope.user_id}", scope)
        for scope in USERS
        for j in range(2)
    ]


class Overlap:
    """Wraps ``_write_owner`` and records how many owner writes ran at the same time."""

    def __init__(self, store: LanceDBStore, fail_for: str | None = None) -> None:
        self.most = self._now = 0
        self._lock = threading.Lock()
        self._inner = store._write_owner
        self._fail_for = fail_for
        store._write_owner = self  # type: ignore[method-assign]

    def __call__(self, table: Any, group: list[Any]) -> None:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        try:
            time.sleep(0.05)  # long enough for the others to start
            if group[0].scope.user_id == self._fail_for:
                raise RuntimeError("disk full")
            self._inner(table, group)
        finally:
            with self._lock:
                self._now -= 1


def test_owners_of_one_add_are_written_at_the_same_time(tmp_path: Path) -> None:
    store = open_store(tmp_path, write_threads=4)
    store.add(notes_of_everyone(0))  # tables created
    overlap = Overlap(store)
    store.add(notes_of_everyone(1))
    assert 2 <= overlap.most <= 4
    for scope in USERS:  # searchable on return, in every owner's table
        hits = store.search_text("harbour cello", 10, scope, Where())
        assert len(hits) == 4
        assert {h.note.scope.user_id for h in hits} == {scope.user_id}


def test_one_thread_writes_owners_one_after_another(tmp_path: Path) -> None:
    store = open_store(tmp_path, write_threads=1)
    overlap = Overlap(store)
    store.add(notes_of_everyone(0))
    assert overlap.most == 1
    assert all(store.count(scope) == 2 for scope in USERS)


def test_one_owners_failure_leaves_the_others_written(tmp_path: Path) -> None:
    store = open_store(tmp_path, write_threads=8)
    store.add(notes_of_everyone(0))
    Overlap(store, fail_for="u3")
    with pytest.raises(RuntimeError, match="disk full"):
        store.add(notes_of_everyone(1))
    for scope in USERS:
        assert store.count(scope) == (2 if scope.user_id == "u3" else 4)


def test_get_many_answers_each_scope_in_order(tmp_path: Path) -> None:
    store = open_store(tmp_path, write_threads=4)
    store.add(notes_of_everyone(0))
    asked = [([f"{s.user_id}-0-1", f"{s.user_id}-0-0", "u0-0-0"], s) for s in reversed(USERS)]
    answers = store.get_many(asked)
    assert [[n.id for n in found] for found in answers] == [
        [f"{s.user_id}-0-1", f"{s.user_id}-0-0"] for s in reversed(USERS)
    ]
    assert store.get_many([(["u1-0-0"], Scope(user_id="nobody"))]) == [[]]
