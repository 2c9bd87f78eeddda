"""LanceDB searches: one trip per query, rows to notes by column, the same hits as before.

The search path builds its queries on the table's async handle and converts result
columns without validating notes again (see ``_lancedb_search``). These tests hold it to
the plain way: LanceDB's synchronous query builder and ``row_to_note`` per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evolvelab.modules.store import _lancedb_index as lancedb_index
from evolvelab.modules.store import _lancedb_schema as rows
from evolvelab.modules.store._lancedb_search import (
    in_owner_table,
    rows_to_notes,
    text_hits,
    vector_hits,
)
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.testing.contracts import embed, full_note, make_note, store_resources
from evolvelab.types import Hit, Link, Scope, Where

ALICE = Scope(user_id="alice")
SESSION = Scope(user_id="alice", session_id="s2")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LanceDBStore]:
    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db")))
    store.open(store_resources(store, tmp_path))
    topics = ["cello lesson", "bakery bread", "harbour walk", "marathon training"]
    notes = [
        full_note("full"),
        full_note("closed").model_copy(update={"invalid_at": datetime(2024, 1, 1, tzinfo=UTC)}),
    ]
    notes += [
        make_note(
            f"n{i}",
            f"Ana talked about the {topics[i % 4]} again, time {i}.",
            SESSION if i % 3 == 0 else ALICE,
            kind="fact" if i % 2 else "turn",
            tags=["music"] if i % 4 == 0 else [],
            links=[Link(target=f"n{i - 1}", kind="next", weight=1.0)] if i else [],
            metadata={"turn": i, "speaker": "Ana"},
        )
        for i in range(40)
    ]
    store.add(notes)
    yield store
    store.close()


def table(store: LanceDBStore) -> Any:
    found = store._table_of(ALICE)
    assert found is not None
    return found


def plain_vector_hits(tbl: Any, vector: list[float], k: int, sql: str) -> list[Hit]:
    """The search as LanceDB's synchronous builder runs it, row by row."""
    query = (
        tbl.search(vector, vector_column_name=rows.VECTOR)
        .distance_type("cosine")
        .where(sql, prefilter=True)
        .minimum_nprobes(20)
        .maximum_nprobes(0)
        .refine_factor(5)
        .limit(k)
    )
    return [
        Hit(note=rows.row_to_note(row), score=1.0 - float(row["_distance"]), channel="vector")
        for row in query.to_arrow().to_pylist()
    ]


def plain_text_hits(tbl: Any, text: str, k: int, sql: str) -> list[Hit]:
    from lancedb.query import MatchQuery

    query = tbl.search(MatchQuery(text, rows.SEARCH_TEXT), query_type="fts").where(
        sql, prefilter=True
    )
    return [
        Hit(note=rows.row_to_note(row), score=float(row["_score"]), channel="bm25")
        for row in query.limit(k).to_arrow().to_pylist()
    ]


def test_notes_by_column_equal_notes_by_row(store: LanceDBStore) -> None:
    data = table(store).search().limit(None).to_arrow()
    expected = [rows.row_to_note(row) for row in data.to_pylist()]
    got = rows_to_notes(data)
    assert got == expected
    full = next(note for note in got if note.id == "full")
    assert full == full_note("full")  # every field, times in UTC, links and metadata back
    assert all(type(x) is float for x in full.embedding or [])


def test_a_result_without_the_vector_column_gives_notes_without_embeddings(
    store: LanceDBStore,
) -> None:
    data = table(store).search().limit(None).to_arrow().drop_columns([rows.VECTOR])
    got = rows_to_notes(data)
    assert len(got) == 42
    assert all(note.embedding is None for note in got)
    assert got == [rows.row_to_note(row) for row in data.to_pylist()]


def test_an_empty_result_gives_no_notes(store: LanceDBStore) -> None:
    data = table(store).search().where("id = 'none such'").limit(None).to_arrow()
    assert rows_to_notes(data) == []


@pytest.mark.parametrize(
    ("scope", "where"),
    [
        (ALICE, Where()),
        (SESSION, Where()),
        (ALICE, Where(kind=["fact"])),
        (ALICE, Where(tags=["music"], include_invalid=True)),
        (ALICE, Where(kind=[])),
    ],
)
def test_searches_return_what_the_synchronous_builder_returns(
    store: LanceDBStore, scope: Scope, where: Where
) -> None:
    tbl = table(store)
    sql = rows.where_filter(scope, where)
    for k in (1, 5, 50):
        vector = embed("Ana talked about the cello lesson")
        got = vector_hits(tbl, vector, k, sql, nprobes=20, refine_factor=5)
        assert got == plain_vector_hits(tbl, vector, k, sql)
        for text in ("cello lesson", "bakery harbour", "LGBTQ support group"):
            assert text_hits(tbl, text, rows.SEARCH_TEXT, k, sql) == plain_text_hits(
                tbl, text, k, sql
            )
    assert plain_vector_hits(tbl, vector, 50, sql) or where.kind == []  # the cases find notes


def test_store_searches_keep_embeddings_for_callers_that_read_them(store: LanceDBStore) -> None:
    hits = store.search_vectors(embed("bakery bread"), 3, ALICE, Where())
    assert [len(hit.note.embedding or []) for hit in hits] == [len(embed("x"))] * 3
    hits = store.search_text("bakery bread", 3, ALICE, Where())
    assert hits and all(hit.note.embedding is not None for hit in hits)


def test_an_indexed_search_finds_k_hits_outside_the_partitions_it_asks_first(
    tmp_path: Path,
) -> None:
    # the default filter is tried after the search first (nearly every row passes it);
    # when its exclusions leave fewer than k hits, the search is redone filtering first,
    # and a selective filter on an index asked for 1 of 16 partitions still finds all
    store = LanceDBStore(
        LanceDBStoreConfig(path=str(tmp_path / "db"), index_threshold=1000,
                           num_partitions=16, nprobes=1, refine_factor=1)
    )  # fmt: skip
    store.open(store_resources(store, tmp_path))
    notes = [make_note(f"n{i}", f"note {i} on topic {i % 53} and thing {i % 7}", ALICE)
             for i in range(1000)]  # fmt: skip
    facts = [3, 333, 666, 999]
    for i in facts:
        notes[i] = notes[i].model_copy(update={"kind": "fact"})
    store.add(notes)
    assert lancedb_index.find(table(store), rows.VECTOR) is not None
    query = embed("note 500 on topic 23 and thing 3")
    found = store.search_vectors(query, 10, ALICE, Where(kind=["fact"]))
    assert sorted(hit.note.id for hit in found) == [f"n{i}" for i in facts]
    everything = store.search_vectors(query, 10, ALICE, Where())
    assert len(everything) == 10 and everything[0].note.id == "n500"
    closed = [n.model_copy(update={"invalid_at": datetime(2024, 1, 1, tzinfo=UTC)})
              for n in notes[:990]]  # fmt: skip
    store.add(closed)  # the default filter now keeps 10 notes of 1,000
    valid = store.search_vectors(query, 10, ALICE, Where())
    assert sorted(hit.note.id for hit in valid) == sorted(f"n{i}" for i in range(990, 1000))
    store.close()


def test_the_owner_condition_is_left_out_and_the_rest_kept() -> None:
    name = f"notes-{rows.owner_key(ALICE)}"  # ALICE's table (SESSION has the same owner)
    sql = rows.where_filter(SESSION, Where(kind=["fact"]))
    kept = in_owner_table(sql, name)
    assert kept is not None and "_owner" not in kept
    assert kept.startswith(f"(_session = '{rows.session_key('s2')}')")
    assert "kind IN ('fact')" in kept
    everything = rows.where_filter(ALICE, Where(include_invalid=True, hidden_kinds=[]))
    assert in_owner_table(everything, name) is None
    assert in_owner_table("kind = 'x'", name) == "kind = 'x'"  # not the store's filter: kept


def test_a_filter_naming_another_owner_keeps_its_owner_condition(store: LanceDBStore) -> None:
    # the owner condition is left out only where it names the table's own owner: a
    # filter for anyone else (a caller's mistake) finds nothing, never this table's notes
    bob = Scope(user_id="bob")
    tbl = table(store)
    for scope in (bob, Scope(user_id="bob", session_id="s2")):
        sql = rows.where_filter(scope, Where())
        assert in_owner_table(sql, tbl.name) == sql
        vector = embed("Ana talked about the cello lesson")
        assert vector_hits(tbl, vector, 5, sql, nprobes=20, refine_factor=5) == []
        assert text_hits(tbl, "cello lesson", rows.SEARCH_TEXT, 5, sql) == []
    own = rows.where_filter(ALICE, Where())
    assert in_owner_table(own, tbl.name) == own.split(" AND ", 1)[1]
    assert len(vector_hits(tbl, embed("cello"), 5, own, nprobes=20, refine_factor=5)) == 5


def test_an_owner_condition_followed_by_anything_but_and_is_kept() -> None:
    owner = rows.owner_key(ALICE)
    name = f"notes-{owner}"
    for sql in (f"(_owner = '{owner}') OR (kind = 'x')", f"(_owner = '{owner}')x"):
        assert in_owner_table(sql, name) == sql


def test_a_memory_of_at_most_k_notes_is_searched_with_one_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every cheaper try would come back short of k (a new user's memory, a candidate
    # list longer than the memory): the search goes straight to the sure one
    from evolvelab.modules.store import _lancedb_search as search

    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db")))
    store.open(store_resources(store, tmp_path))
    store.add([make_note(f"n{i}", f"note {i} on the cello", ALICE) for i in range(5)])
    queries: list[Any] = []
    run = search._run

    def counted(query: Any) -> Any:
        queries.append(query)
        return run(query)

    monkeypatch.setattr(search, "_run", counted)
    for where in (Where(), Where(kind=["fact", "turn"])):
        queries.clear()
        hits = store.search_vectors(embed("note 3 on the cello"), 10, ALICE, where)
        assert len(queries) == 1
        assert sorted(hit.note.id for hit in hits) == [f"n{i}" for i in range(5)]
    queries.clear()
    assert len(store.search_vectors(embed("cello"), 3, ALICE, Where())) == 3
    assert len(queries) == 1  # more notes than k: the default filter after the search
    store.close()
