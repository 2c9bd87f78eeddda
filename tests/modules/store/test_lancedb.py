"""The LanceDB store: the store contract on a real on-disk table, plus what only it does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.errors import EvolveLabError
from evolvelab.modules.store import _lancedb_index as lancedb_index
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.modules.store._lancedb_schema import owner_key
from evolvelab.stages import Resources, Scannable, TextSearch, VectorSearch
from evolvelab.testing.contracts import (
    DurableStoreContract,
    ScanContract,
    TextSearchContract,
    VectorSearchContract,
    embed,
    make_note,
    store_resources,
)
from evolvelab.types import Scope, Where

ALICE = Scope(user_id="alice")


def open_store(tmp_path: Path, **fields: object) -> LanceDBStore:
    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db"), **fields))
    store.open(store_resources(store, tmp_path))
    return store


def table_of(store: LanceDBStore, scope: Scope) -> Any:
    return store._owner_tables().find(owner_key(scope))


class TestLanceDBStore(DurableStoreContract, ScanContract, VectorSearchContract, TextSearchContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[LanceDBStore]:
        store = open_store(tmp_path)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], LanceDBStore]:
        return lambda: open_store(tmp_path)


def test_offers_vector_text_and_scan(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for capability in (VectorSearch, TextSearch, Scannable):
        assert isinstance(store, capability)


def test_importing_the_module_does_not_import_lancedb() -> None:
    code = "import sys, evolvelab.modules.store.lancedb; print('lancedb' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[3],
    )
    assert result.stdout.strip() == "False"


def test_default_path_is_under_the_data_dir(tmp_path: Path) -> None:
    store = LanceDBStore(LanceDBStoreConfig())
    store.open(store_resources(store, tmp_path))
    store.add([make_note("a")])
    assert (tmp_path / "lancedb" / f"notes-{owner_key(ALICE)}.lance").is_dir()


@pytest.mark.slow
def test_notes_are_durable_for_another_process(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.add([make_note("a", "written by the parent", ALICE)])
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
        from evolvelab.testing.contracts import store_resources
        from evolvelab.types import Scope
        store = LanceDBStore(LanceDBStoreConfig(path={str(tmp_path / "db")!r}))
        store.open(store_resources(store, Path({str(tmp_path)!r})))
        print([n.content for n in store.get(["a"], Scope(user_id="alice"))])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[3]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['written by the parent']"


def test_a_table_built_with_another_embedder_is_refused(tmp_path: Path) -> None:
    open_store(tmp_path).add([make_note("a")])
    other = HashingEmbedder(HashingEmbedderConfig(dim=32))
    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db")))
    with pytest.raises(EvolveLabError, match="hashing-64.*hashing-32"):
        store.open(Resources(embedder=other, store=store, data_dir=tmp_path))


def test_another_table_in_the_same_database_may_use_another_embedder(tmp_path: Path) -> None:
    open_store(tmp_path).add([make_note("a")])
    other = HashingEmbedder(HashingEmbedderConfig(dim=32))
    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db"), table="notes_32"))
    store.open(Resources(embedder=other, store=store, data_dir=tmp_path))
    store.add([make_note("b", embedding=None)])
    assert store.count(ALICE) == 1


@pytest.mark.parametrize("reindex_rows", [1, 10_000])
@pytest.mark.parametrize("fts_fresh", [True, False])
def test_text_search_sees_rows_before_and_after_the_index_update(
    tmp_path: Path, reindex_rows: int, fts_fresh: bool
) -> None:
    store = open_store(tmp_path, reindex_rows=reindex_rows, fts_fresh=fts_fresh)
    for i in range(5):
        store.add([make_note(f"n{i}", f"batch {i} mentions walrus{i}")])
        assert [h.note.id for h in store.search_text(f"walrus{i}", 3, ALICE, Where())] == [
            f"n{i}"
        ]
    store.add([make_note("n0", "rewritten without the word")])
    assert store.search_text("walrus0", 3, ALICE, Where()) == []
    assert len(store.search_text("batch", 10, ALICE, Where())) == 4


TEXTS = [
    "the walrus sang by the sea", "a walrus and a carpenter walked", "sea shells on the sea shore",
    "the carpenter built a boat", "walrus walrus walrus", "nothing to see here at all",
]  # fmt: skip


def text_scores(store: LanceDBStore, query: str) -> dict[str, float]:
    return {h.note.id: round(h.score, 5) for h in store.search_text(query, 10, ALICE, Where())}


def test_text_scores_do_not_depend_on_when_the_index_was_updated(tmp_path: Path) -> None:
    # LanceDB scores rows it has not indexed yet against other corpus statistics, and a
    # prefiltered search mixing both kinds moves the indexed rows' scores too; fts_fresh
    # (the default) brings the index up to date on every write, so it never mixes them.
    bob = Scope(user_id="bob")
    notes = [make_note(f"n{i}", text) for i, text in enumerate(TEXTS)]
    others = [make_note(f"b{i}", text, scope=bob) for i, text in enumerate(TEXTS * 3)]
    lazy = open_store(tmp_path / "a", reindex_rows=10_000, reindex_writes=10_000)
    lazy.add(others + notes[:2])
    for note in notes[2:]:
        lazy.add([note])  # four writes the index has not seen
    at_once = open_store(tmp_path / "b")
    at_once.add(others + notes)
    for query in ("walrus sea", "carpenter", "sea shore boat"):
        assert text_scores(lazy, query) == text_scores(at_once, query)


def test_every_reindex_writes_writes_fold_new_rows_into_the_index(tmp_path: Path) -> None:
    store = open_store(tmp_path, reindex_rows=10_000, reindex_writes=3, fts_fresh=False)
    for i, text in enumerate(TEXTS[:5]):
        store.add([make_note(f"n{i}", text)])
        table = table_of(store, ALICE)
        index = lancedb_index.find(table, "search_text")
        unindexed = table.index_stats(index.name).num_unindexed_rows
        assert unindexed == (i + 1) % 3, f"after write {i + 1}"


@pytest.mark.parametrize(
    "value", ["back\\slash", "a\\'b", "it's", "x') OR ('1'='1", "%", "_", "línea\nnueva", "🙂"]
)
def test_hostile_kinds_layers_and_tags_match_only_themselves(
    tmp_path: Path, value: str
) -> None:
    store = open_store(tmp_path)
    store.add(
        [
            make_note("hostile", "hostile note", kind=value, layer=value, tags=[value]),
            make_note("plain", "plain note", kind="turn", layer="short", tags=["x"]),
        ]
    )
    for where in (Where(kind=value), Where(layer=value), Where(tags=[value])):
        assert [n.id for n in store.scan(ALICE, where)] == ["hostile"]
        hits = store.search_vectors(embed("note"), 5, ALICE, where)
        assert [h.note.id for h in hits] == ["hostile"]


def test_ann_index_is_built_past_the_threshold_of_one_owner_and_still_scoped(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path, index_threshold=600, num_partitions=4, nprobes=2)
    users = [Scope(user_id=f"u{i}") for i in range(3)]
    notes = [
        make_note(f"n{i}", f"note {i} about topic {i % 37} and thing {i % 11}", users[0])
        for i in range(600)
    ]
    notes[6] = make_note("n6", "the only lesson of user zero", users[0], kind="lesson")
    for start in range(0, 600, 100):
        store.add(notes[start : start + 100])
    for user in users[1:]:  # small owners keep exact search, in tables of their own
        store.add([make_note(f"n{i}", f"note {i} of {user.user_id}", user) for i in range(50)])
    assert lancedb_index.find(table_of(store, users[0]), "vector") is not None
    assert lancedb_index.find(table_of(store, users[1]), "vector") is None
    target = notes[123]
    hits = store.search_vectors(embed(target.content), 5, target.scope, Where())
    assert hits[0].note.id == "n123"
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert all(h.note.scope == target.scope for h in hits)
    store.add([make_note("late", "a late arrival about zeppelins", users[0])])
    late = store.search_vectors(embed("a late arrival about zeppelins"), 1, users[0], Where())
    assert late[0].note.id == "late"
    assert len(list(store.scan(users[0], Where()))) == 600  # the lesson is hidden
    assert len(list(store.scan(users[0], Where(hidden_kinds=[])))) == 601
    assert len(store.get([f"n{i}" for i in range(0, 600, 6)], users[0])) == 100
    lesson = store.search_vectors(embed(target.content), 5, users[0], Where(kind="lesson"))
    assert [h.note.id for h in lesson] == ["n6"]
    reopened = open_store(tmp_path)  # another process sees the index and uses it
    hits = reopened.search_vectors(embed(target.content), 1, target.scope, Where())
    assert [h.note.id for h in hits] == ["n123"]


def test_config_is_strict() -> None:
    with pytest.raises(ValueError):
        LanceDBStoreConfig(type="lancedb", tabel="x")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        LanceDBStoreConfig(table="../escape")


def test_changed_text_settings_rebuild_the_index(tmp_path: Path) -> None:
    open_store(tmp_path).add([make_note("a", "the walruses were swimming")])
    assert open_store(tmp_path).search_text("walrus", 1, ALICE, Where()) != []
    exact = open_store(tmp_path, fts_stem=False)
    assert exact.search_text("walrus", 1, ALICE, Where()) == []
    assert [h.note.id for h in exact.search_text("walruses", 1, ALICE, Where())] == ["a"]


def open_with(tmp_path: Path, embedder: Any, **fields: object) -> LanceDBStore:
    store = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "db"), **fields))
    store.open(Resources(embedder=embedder, store=store, data_dir=tmp_path))
    return store


def test_placeholder_vectors_of_embedder_none_never_get_an_ann_index(tmp_path: Path) -> None:
    # embedder: none stores a one-number placeholder; LanceDB refuses IVF-RQ over it
    # ("vector dimension must be divisible by 8"), which used to fail every add past it.
    from evolvelab.embed import NoEmbedder, NoEmbedderConfig

    store = open_with(tmp_path, NoEmbedder(NoEmbedderConfig()), index_threshold=40)
    for start in range(0, 120, 30):
        store.add([make_note(f"n{i}", f"turn {i} about walruses", embedding=None)
                   for i in range(start, start + 30)])  # fmt: skip
    assert lancedb_index.find(table_of(store, ALICE), "vector") is None
    assert len(store.search_text("walruses", 200, ALICE, Where())) == 120


def test_an_ann_index_fits_a_dimension_ivf_rq_cannot_take(tmp_path: Path) -> None:
    odd = HashingEmbedder(HashingEmbedderConfig(dim=36))  # not a multiple of 8
    store = open_with(tmp_path, odd, index_threshold=100, num_partitions=1000)
    notes = [make_note(f"n{i}", f"note {i} on topic {i % 13}", embedding=None) for i in range(120)]
    store.add(notes)  # 1000 partitions asked for 120 rows: derived down, not refused
    index = lancedb_index.find(table_of(store, ALICE), "vector")
    assert index is not None and "SQ" in str(index.index_type).upper()
    query = odd.embed([notes[7].content])[0]
    assert store.search_vectors(query, 1, ALICE, Where())[0].note.id == "n7"


def test_partitions_follow_the_rows() -> None:
    assert lancedb_index.partitions(20_000, None) == 5  # one per 4,096 rows
    assert lancedb_index.partitions(100_000, None) == 25
    assert lancedb_index.partitions(120, 1000) == 1
    assert lancedb_index.partitions(100_000, 64) == 64
    assert lancedb_index.partitions(10, None) == 1


def test_key_and_session_columns_have_b_trees_from_the_start(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.add([make_note("a", "first note")])
    indexes = {tuple(i.columns): i.index_type for i in table_of(store, ALICE).list_indices()}
    assert indexes[("_key",)] == indexes[("_session",)] == "BTree"


def test_fts_fresh_keeps_the_index_exact_up_to_fts_fresh_rows_then_within_a_fraction(
    tmp_path: Path,
) -> None:
    store = open_store(
        tmp_path, fts_fresh_rows=4, reindex_fraction=0.5, reindex_rows=10_000, reindex_writes=10_000
    )
    unindexed = []
    for i in range(10):
        store.add([make_note(f"n{i}", f"note {i} about walruses")])
        table = table_of(store, ALICE)
        index = lancedb_index.find(table, "search_text")
        unindexed.append(table.index_stats(index.name).num_unindexed_rows)
    # exact up to 4 rows; then at most half the table waits for the index (an update
    # as soon as more would): the index is rebuilt once per rows in proportion to it
    assert unindexed == [0, 0, 0, 0, 1, 2, 3, 4, 0, 1]
    assert all(count <= 0.5 * (i + 1) for i, count in enumerate(unindexed))
    assert len(store.search_text("walruses", 10, ALICE, Where())) == 10


def test_maintenance_waits_for_a_share_of_a_big_table(tmp_path: Path) -> None:
    # compaction rewrites the whole table: past reindex_rows / reindex_fraction rows the
    # writes between two compactions grow with it, so its cost per written row stays flat
    store = open_store(tmp_path, reindex_rows=4, reindex_writes=2, reindex_fraction=0.5)
    store.add([make_note(f"seed{i}", "seed") for i in range(16)])  # compacted: 16 rows
    table = table_of(store, ALICE)
    state = store._state(table)
    assert (state.rows, state.writes, state.size) == (0, 0, 16)
    writes = 0
    while writes < 10:
        writes += 1
        store.add([make_note(f"n{writes}", "one more")])
        if state.writes == 0:
            break
    # the write trigger (2) is scaled by rows x 0.5 / 4: after write k, 2 x (16 + k) / 8
    # writes are due, which k first reaches at 6 (2 x 22 / 8 = 5.5)
    assert writes == 6 and state.size == 22


def test_upkeep_that_keeps_conflicting_never_fails_a_committed_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path, reindex_writes=1, commit_retries=2)
    store.add([make_note("a", "first")])
    table = table_of(store, ALICE)

    def always_conflicting(**_: object) -> None:
        raise RuntimeError("lance error: Retryable commit conflict for version 9. Please retry.")

    monkeypatch.setattr(table, "optimize", always_conflicting)
    store.add([make_note("b", "second")])  # its compaction loses every race
    assert [n.id for n in store.get(["a", "b"], ALICE)] == ["a", "b"]
    assert "deferred to the next write" in caplog.text


def test_a_one_table_store_of_the_former_layout_is_moved_into_owner_tables(
    tmp_path: Path,
) -> None:
    import lancedb
    import pyarrow as pa

    from evolvelab.modules.store import _lancedb_schema as layout

    bob = Scope(user_id="bob")
    notes = [make_note(f"a{i}", f"alice note {i} about walruses", ALICE) for i in range(5)]
    notes += [make_note(f"b{i}", f"bob note {i} about walruses", bob) for i in range(3)]
    new = layout.schema(64, "hashing-64")
    old_schema = pa.schema(
        [f.remove_metadata() for f in new],
        metadata={**new.metadata, layout.LAYOUT: b"2"},
    )
    db = lancedb.connect(str(tmp_path / "db"))
    db.create_table("notes", data=layout.notes_to_table(notes, old_schema))

    store = open_store(tmp_path)
    assert "notes" not in db.list_tables().tables
    assert store.count(ALICE) == 5 and store.count(bob) == 3
    fresh = open_store(tmp_path / "fresh")
    fresh.add(notes)
    assert text_scores(store, "walruses") == text_scores(fresh, "walruses")
    assert table_of(store, ALICE).index_stats("search_text_idx").num_unindexed_rows == 0


def test_a_store_of_an_unknown_older_layout_is_refused(tmp_path: Path) -> None:
    import lancedb
    import pyarrow as pa

    db = lancedb.connect(str(tmp_path / "db"))
    db.create_table("notes", schema=pa.schema([("id", pa.string())]))
    with pytest.raises(EvolveLabError, match="layout 1.*Re-ingest"):
        open_store(tmp_path)


def test_get_finds_rows_by_key_then_takes_them_and_survives_moved_row_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # get finds the rows' ids reading only the key column, then takes those rows; a
    # compaction in between moves row ids, and then it reads the rows the plain way
    store = open_store(tmp_path)
    store.add([make_note(f"n{i}", f"note {i}") for i in range(6)])
    table = table_of(store, ALICE)
    real_take = table.take_row_ids
    taken: list[list[int]] = []

    def take(ids: list[int]) -> Any:
        taken.append(ids)
        return real_take(ids)

    monkeypatch.setattr(table, "take_row_ids", take)
    assert [n.id for n in store.get(["n3", "n1", "nope"], ALICE)] == ["n3", "n1"]
    assert len(taken) == 1 and len(taken[0]) == 2
    assert store.get(["nope"], ALICE) == [] and len(taken) == 1  # nothing found: no take

    monkeypatch.setattr(table, "take_row_ids", lambda ids: real_take([i + 1 for i in ids]))
    assert [n.id for n in store.get(["n2", "n4"], ALICE)] == ["n2", "n4"]  # other rows taken

    def gone(ids: list[int]) -> Any:
        raise RuntimeError("row ids not found")

    monkeypatch.setattr(table, "take_row_ids", gone)
    assert [n.id for n in store.get(["n5"], ALICE)] == ["n5"]


def test_new_notes_seen_missing_by_a_get_are_appended_without_a_second_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    store.add([make_note("a", "first")])
    table = table_of(store, ALICE)
    looks: list[list[str]] = []
    real = LanceDBStore._stored_keys
    monkeypatch.setattr(
        LanceDBStore, "_stored_keys", staticmethod(lambda t, k: looks.append(k) or real(t, k))
    )
    assert store.get(["b", "c"], ALICE) == []  # what the pipeline reads before a write
    store.add([make_note("b", "second"), make_note("c", "third")])
    assert looks == []  # appended: nothing was committed since the get saw them missing
    # another writer commits the same new key between the get and the add: the version
    # moved, so the add looks again and upserts instead of doubling the row
    assert store.get(["d"], ALICE) == []
    other = open_store(tmp_path)
    other.add([make_note("d", "from another process")])
    store.add([make_note("d", "from this one")])
    assert len(looks) == 2  # the other store's own look, then this one's
    assert table.count_rows("id = 'd'") == 1
    assert [n.content for n in store.get(["d"], ALICE)] == ["from this one"]
    # a get in one session does not vouch for keys another session may hold
    in_session = Scope(user_id="alice", session_id="s1")
    assert store.get(["a"], in_session) == []
    store.add([make_note("a", "first, again")])
    assert table.count_rows("id = 'a'") == 1
