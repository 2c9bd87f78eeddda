"""The graph store: the store contract plus walks, hostile strings and durability."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

import evolvelab
from evolvelab.errors import EvolveLabError, PluginError
from evolvelab.modules.store.kuzu import _COLUMNS, SCHEMA_VERSION, KuzuStore, KuzuStoreConfig
from evolvelab.stages import GraphLinks, Neighbour, Scannable, TextSearch, VectorSearch
from evolvelab.testing.contracts import (
    DurableStoreContract,
    GraphLinksContract,
    ScanContract,
    make_note,
    store_resources,
)
from evolvelab.types import Link, Note, Scope, Where

ALICE = Scope(user_id="alice")
HOSTILE = ["a' OR '1'='1", '"}) DETACH DELETE n //', "$owner", "` MATCH (n) DELETE n"]


def open_store(tmp_path: Path) -> KuzuStore:
    store = KuzuStore(KuzuStoreConfig(path=str(tmp_path / "graph")))
    store.open(store_resources(store, tmp_path))
    return store


@pytest.fixture
def kuzu_store(tmp_path: Path) -> Iterator[KuzuStore]:
    store = open_store(tmp_path)
    yield store
    store.close()


class TestKuzuStore(DurableStoreContract, ScanContract, GraphLinksContract):
    @pytest.fixture
    def store(self, kuzu_store: KuzuStore) -> KuzuStore:
        return kuzu_store

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], KuzuStore]:
        return lambda: open_store(tmp_path)


# ------------------------------------------------------------------------- shape


def test_offers_scan_and_graph_links_only(kuzu_store: KuzuStore) -> None:
    assert isinstance(kuzu_store, Scannable)
    assert isinstance(kuzu_store, GraphLinks)
    assert not isinstance(kuzu_store, VectorSearch | TextSearch)


def test_embeddings_are_not_kept(kuzu_store: KuzuStore) -> None:
    assert KuzuStore.keeps_embeddings is False
    kuzu_store.add([make_note("a", "has a vector")])
    [got] = kuzu_store.get(["a"], ALICE)
    assert got.embedding is None


def test_index_text_round_trips(kuzu_store: KuzuStore) -> None:
    kuzu_store.add([make_note("a", "shown", index_text="indexed"), make_note("b", "plain")])
    assert [n.index_text for n in kuzu_store.get(["a", "b"], ALICE)] == ["indexed", None]


def test_every_note_field_but_the_embedding_has_a_column() -> None:
    stored = set(_COLUMNS) - {"key", "owner", "user_id", "agent_id", "session_id"}
    assert stored == set(Note.model_fields) - {"embedding", "links", "scope"}


def test_config_is_strict_and_defaults_under_the_data_dir(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        KuzuStoreConfig(type="kuzu", pth="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        KuzuStoreConfig(buffer_pool_mb=1)
    store = KuzuStore(KuzuStoreConfig(buffer_pool_mb=64))
    store.open(store_resources(store, tmp_path / "data"))
    try:
        assert store.path is not None and store.path.parent == tmp_path / "data" / "graph"
    finally:
        store.close()


def test_missing_backend_raises_plugin_error_with_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ladybug", None)
    monkeypatch.setitem(sys.modules, "kuzu", None)
    store = KuzuStore(KuzuStoreConfig())
    with pytest.raises(PluginError, match="pip install ladybug"):
        store.open(store_resources(store, tmp_path))


# ------------------------------------------------------------------------- walks


@pytest.fixture
def graph(kuzu_store: KuzuStore) -> KuzuStore:
    """A hand-built graph.

    a -> b -> c -> d -> e,  a -> x (supports, 0.5),  x -> d (supports, 0.9),
    f -> a,  g (isolated),  bob's a -> b (never reachable from alice).
    """
    bob = Scope(user_id="bob")
    kuzu_store.add([make_note(i) for i in "abcdefgx"])
    kuzu_store.add([make_note("a", scope=bob), make_note("b", scope=bob)])
    kuzu_store.link("a", [Link(target="b"), Link(target="x", kind="supports", weight=0.5)], ALICE)
    kuzu_store.link("b", [Link(target="c")], ALICE)
    kuzu_store.link("c", [Link(target="d")], ALICE)
    kuzu_store.link("d", [Link(target="e")], ALICE)
    kuzu_store.link("x", [Link(target="d", kind="supports", weight=0.9)], ALICE)
    kuzu_store.link("f", [Link(target="a")], ALICE)
    kuzu_store.link("a", [Link(target="b", weight=0.3)], bob)
    return kuzu_store


def test_multi_hop_walk_reports_each_note_at_its_shortest_distance(graph: KuzuStore) -> None:
    found = graph.neighbours(["a"], ALICE, hops=4, direction="out")
    assert found == [
        Neighbour("b", "a", 1, "related", 1.0),
        Neighbour("x", "a", 1, "supports", 0.5),
        Neighbour("c", "a", 2, "related", 1.0),
        Neighbour("d", "a", 2, "supports", 0.9),
        Neighbour("e", "a", 3, "related", 1.0),
    ]


def test_walk_both_ways_and_in(graph: KuzuStore) -> None:
    both = graph.neighbours(["c"], ALICE, hops=2)
    assert {(n.id, n.hops) for n in both} == {("b", 1), ("d", 1), ("a", 2), ("e", 2), ("x", 2)}
    inward = graph.neighbours(["d"], ALICE, hops=3, direction="in")
    assert [(n.id, n.hops) for n in inward] == [("c", 1), ("x", 1), ("b", 2), ("a", 2), ("f", 3)]


def test_walk_from_several_seeds_names_the_nearest_seed(graph: KuzuStore) -> None:
    found = graph.neighbours(["e", "a"], ALICE, hops=1, direction="both")
    assert {(n.id, n.seed) for n in found} == {("d", "e"), ("b", "a"), ("x", "a"), ("f", "a")}


def test_walk_kinds_hops_and_unknown_seeds(graph: KuzuStore) -> None:
    assert [n.id for n in graph.neighbours(["a"], ALICE, hops=3, kinds=["supports"])] == [
        "x",
        "d",
    ]
    assert graph.neighbours(["a"], ALICE, hops=0) == []
    assert graph.neighbours(["g", "missing"], ALICE, hops=3) == []
    assert graph.neighbours(["a"], ALICE, kinds=[]) == []


def test_walk_refuses_bad_arguments(graph: KuzuStore) -> None:
    with pytest.raises(EvolveLabError, match="hops"):
        graph.neighbours(["a"], ALICE, hops=-1)
    with pytest.raises(EvolveLabError, match="allowed: out, in, both"):
        graph.neighbours(["a"], ALICE, direction="sideways")  # type: ignore[arg-type]


def test_readding_a_note_keeps_links_made_with_link(graph: KuzuStore) -> None:
    graph.add([make_note("a", "a new version", version=2)])
    [note] = graph.get(["a"], ALICE)
    assert [(x.target, x.kind) for x in note.links] == [("b", "related"), ("x", "supports")]


def test_delete_removes_the_node_and_its_edges(graph: KuzuStore) -> None:
    assert graph.delete(["d"], ALICE) == 1
    assert {n.id for n in graph.neighbours(["c", "x"], ALICE, hops=3, direction="out")} == set()
    [x] = graph.get(["x"], ALICE)
    assert x.links == []


def test_add_skips_links_to_missing_or_foreign_notes(kuzu_store: KuzuStore) -> None:
    kuzu_store.add([make_note("t", scope=Scope(user_id="bob"))])
    kuzu_store.add([make_note("s", links=[Link(target="t"), Link(target="nowhere")])])
    [s] = kuzu_store.get(["s"], ALICE)
    assert s.links == []
    assert kuzu_store.neighbours(["s"], ALICE) == []


# ------------------------------------------------------------------------- hostile strings


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_stay_data(kuzu_store: KuzuStore, hostile: str) -> None:
    victim = Scope(user_id="victim")
    kuzu_store.add([make_note("v1", scope=victim), make_note("v2", scope=victim)])
    kuzu_store.link("v1", [Link(target="v2")], victim)
    evil = Scope(user_id=hostile, agent_id=hostile, session_id=hostile)
    evil_note = make_note(hostile, hostile, evil, kind=hostile, tags=[hostile])
    kuzu_store.add([evil_note, make_note("x", scope=evil)])
    kuzu_store.link(hostile, [Link(target="x", kind=hostile)], evil)
    assert [n.content for n in kuzu_store.get([hostile], evil)] == [hostile]
    assert [n.id for n in kuzu_store.scan(evil, Where(kind=hostile, tags=[hostile]))] == [hostile]
    assert [(n.id, n.kind) for n in kuzu_store.neighbours([hostile], evil, kinds=[hostile])] == [
        ("x", hostile)
    ]
    assert kuzu_store.get(["v1", "v2"], evil) == []
    assert kuzu_store.delete(["v1", "v2", hostile], evil) == 1
    assert kuzu_store.unlink("v1", ["v2"], evil) == 0
    assert kuzu_store.count(victim) == 2
    assert [n.id for n in kuzu_store.neighbours(["v1"], victim)] == ["v2"]


# ------------------------------------------------------------------------- lifecycle


def test_close_is_idempotent_and_use_after_close_is_an_error(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.close()
    store.close()
    with pytest.raises(EvolveLabError, match="after close"):
        store.count(ALICE)


def test_reopen_keeps_links_and_their_order(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.add([make_note(i) for i in "abcd"])
    store.link("a", [Link(target="c", kind="k1"), Link(target="b", weight=0.5)], ALICE)
    store.close()
    store = open_store(tmp_path)
    try:
        store.link("a", [Link(target="d")], ALICE)
        [a] = store.get(["a"], ALICE)
        assert [(x.target, x.kind, x.weight) for x in a.links] == [
            ("c", "k1", 1.0),
            ("b", "related", 0.5),
            ("d", "related", 1.0),
        ]
        assert {n.id for n in store.neighbours(["b"], ALICE, direction="in")} == {"a"}
    finally:
        store.close()


@pytest.mark.slow
def test_writes_are_durable_for_another_process(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.add([make_note("a", "written by the parent"), make_note("b")])
    store.link("a", [Link(target="b", kind="supports")], ALICE)
    store.close()
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from evolvelab.modules.store.kuzu import KuzuStore, KuzuStoreConfig
        from evolvelab.testing.contracts import store_resources
        from evolvelab.types import Scope
        store = KuzuStore(KuzuStoreConfig(path={str(tmp_path / "graph")!r}))
        store.open(store_resources(store, Path({str(tmp_path)!r})))
        [a] = store.get(["a"], Scope(user_id="alice"))
        print(a.content, [(x.target, x.kind) for x in a.links], store.count(Scope(user_id="alice")))
        store.close()
        """
    )
    root = str(Path(evolvelab.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "written by the parent [('b', 'supports')] 2"


def test_a_database_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store._rows("MATCH (i:StoreInfo {name: 'schema_version'}) SET i.value = '0'")
    store.close()
    with pytest.raises(EvolveLabError, match=f"schema version 0.*version {SCHEMA_VERSION}"):
        open_store(tmp_path)


@pytest.mark.parametrize("count", [3, 70])
def test_readding_with_new_weights_reweighs_in_place(kuzu_store: KuzuStore, count: int) -> None:
    targets = [make_note(f"t{i:02d}") for i in range(count)]
    links = [Link(target=t.id, weight=1.0) for t in targets]
    kuzu_store.add([*targets, make_note("hub", links=links)])
    heavier = [link.model_copy(update={"weight": 2.0}) for link in links]
    kuzu_store.add([make_note("hub", links=heavier)])
    [hub] = kuzu_store.get(["hub"], ALICE)
    assert hub.links == heavier


def test_a_failed_add_writes_nothing(
    kuzu_store: KuzuStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    kuzu_store.add([make_note("t")])

    def broken(edges: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(kuzu_store, "_write_links", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        kuzu_store.add([make_note("s", links=[Link(target="t")]), make_note("t", "changed")])
    assert kuzu_store.get(["s"], ALICE) == []
    assert [n.content for n in kuzu_store.get(["t"], ALICE)] == ["note t"]


def test_a_statement_error_inside_add_is_reported_as_is(
    kuzu_store: KuzuStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("evolvelab.modules.store.kuzu._CREATE", "CREATE (n:Nope {x: 1})")
    with pytest.raises(EvolveLabError, match="Nope"):
        kuzu_store.add([make_note("a")])
    monkeypatch.undo()
    kuzu_store.add([make_note("a")])
    assert kuzu_store.count(ALICE) == 1


def test_a_database_missing_a_newer_note_field_gains_the_column(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.add([make_note("old", strength=3.0)])
    store._rows("ALTER TABLE Note DROP strength")
    store.close()
    store = open_store(tmp_path)
    try:
        [old] = store.get(["old"], ALICE)
        assert old.strength == Note.model_fields["strength"].default
        store.add([make_note("new", strength=2.5)])
        assert [n.strength for n in store.get(["new"], ALICE)] == [2.5]
    finally:
        store.close()


def test_a_folder_held_by_another_process_says_what_to_do(tmp_path: Path) -> None:
    holder = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from evolvelab.modules.store.kuzu import KuzuStore, KuzuStoreConfig
        from evolvelab.testing.contracts import store_resources
        store = KuzuStore(KuzuStoreConfig(path={str(tmp_path / "graph")!r}))
        store.open(store_resources(store, Path({str(tmp_path)!r})))
        print("open", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).parents[3],
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "open"
        with pytest.raises(EvolveLabError) as caught:
            open_store(tmp_path)
    finally:
        child.kill()
        child.wait()
    message = str(caught.value)
    assert f"open in process {child.pid}" in message
    assert "one process per folder" in message and "docs/stores.md" in message
