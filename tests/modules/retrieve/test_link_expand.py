"""link_expand: linked notes join the hits with score = seed score × decay × link weight.

The graph used throughout (weights on the arrows)::

    a ──0.8──▶ c ──0.5──▶ e        g ──0.9──▶ a
    b ──0.4──▶ d                   a ──1.0 (kind: cites)──▶ h

Hits given to the stage: a (0.9), b (0.5), f (0.3). With decay 0.5:
c = 0.9 × 0.5 × 0.8 = 0.36, d = 0.5 × 0.5 × 0.4 = 0.10, e (2 hops) = 0.36 × 0.5 × 0.5 = 0.09,
g (in-link of a) = 0.9 × 0.5 × 0.9 = 0.405, h = 0.9 × 0.5 × 1.0 = 0.45.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.modules.retrieve.link_expand import LinkExpandConfig, LinkExpandRetriever
from evolvelab.modules.store.kuzu import KuzuStore, KuzuStoreConfig
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.modules.store.memory import MemoryStore, MemoryStoreConfig
from evolvelab.pipeline import Memory
from evolvelab.stages import Resources
from evolvelab.types import Event, Hit, Link, Note, Query, Scope

ANA = Scope(user_id="ana")
EMBEDDER = HashingEmbedder(HashingEmbedderConfig(dim=16))
LINKS = {
    "a": [Link(target="c", weight=0.8), Link(target="h", kind="cites", weight=1.0)],
    "b": [Link(target="d", weight=0.4)],
    "c": [Link(target="e", weight=0.5)],
    "g": [Link(target="a", weight=0.9)],
}


def note(id: str, **kw: Any) -> Note:
    return Note(id=id, content=f"note {id}", scope=ANA, **kw)


@pytest.fixture(params=["memory", "lancedb+kuzu"])
def resources(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Resources]:
    if request.param == "memory":
        store = MemoryStore(MemoryStoreConfig())
        res = Resources(embedder=EMBEDDER, store=store, data_dir=tmp_path)
        stores = [store]
    else:
        lance = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "lance")))
        graph = KuzuStore(KuzuStoreConfig(path=str(tmp_path / "graph")))
        res = Resources(embedder=EMBEDDER, store=lance, graph=graph, data_dir=tmp_path)
        stores = [lance, graph]
    for store in stores:
        store.open(res)
    res.write([note(id) for id in "abcdefgh"])
    res.write([note(id, links=links) for id, links in LINKS.items()])
    yield res
    for store in stores:
        store.close()


def expand(res: Resources, query: Query | None = None, **config: Any) -> list[Hit]:
    stage = LinkExpandRetriever(LinkExpandConfig(**config))
    stage.open(res)
    given = [
        Hit(note=note(id), score=score, channel="vector") for id, score in
        (("a", 0.9), ("b", 0.5), ("f", 0.3))
    ]  # fmt: skip
    return stage.retrieve(query or Query(text="q", scope=ANA), given)


def ids_scores(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(h.note.id, round(h.score, 6)) for h in hits]


def test_out_links_by_score_are_inserted_after_their_seed(resources: Resources) -> None:
    hits = expand(resources, direction="out", kinds=["related"])
    assert ids_scores(hits) == [("a", 0.9), ("b", 0.5), ("c", 0.36), ("f", 0.3), ("d", 0.1)]


def test_added_hits_name_their_seed_and_link(resources: Resources) -> None:
    hits = expand(resources, direction="out", kinds=["related"])
    c = next(h for h in hits if h.note.id == "c")
    assert c.channel == "link_expand"
    assert c.explain == pytest.approx({"seed:a": 0.9, "link_weight": 0.8, "hops": 1.0})
    assert c.note.content == "note c"  # fetched from the note store by id


def test_after_seed_placement_is_a_mem_order(resources: Resources) -> None:
    hits = expand(resources, direction="out", kinds=["related"], placement="after_seed")
    assert [h.note.id for h in hits] == ["a", "c", "b", "d", "f"]


def test_end_placement_appends(resources: Resources) -> None:
    hits = expand(resources, direction="out", kinds=["related"], placement="end")
    assert [h.note.id for h in hits] == ["a", "b", "f", "c", "d"]


def test_two_hops_multiply_decay_and_weights(resources: Resources) -> None:
    hits = expand(resources, direction="out", kinds=["related"], hops=2)
    assert dict(ids_scores(hits))["e"] == 0.09
    e = next(h for h in hits if h.note.id == "e")
    assert e.explain == pytest.approx({"seed:a": 0.9, "link_weight": 0.5, "hops": 2.0})


def test_direction_and_kinds(resources: Resources) -> None:
    both = dict(ids_scores(expand(resources)))
    assert both == {"a": 0.9, "b": 0.5, "f": 0.3, "h": 0.45, "g": 0.405, "c": 0.36, "d": 0.1}
    incoming = dict(ids_scores(expand(resources, direction="in")))
    assert set(incoming) == {"a", "b", "f", "g"}


def test_max_added_keeps_the_best(resources: Resources) -> None:
    hits = expand(resources, max_added=2)
    assert [h.note.id for h in hits] == ["a", "b", "h", "g", "f"]


def test_only_the_first_seeds_are_expanded(resources: Resources) -> None:
    hits = expand(resources, seeds=1, direction="out", kinds=["related"])
    assert [h.note.id for h in hits] == ["a", "b", "c", "f"]


def test_decay_scales_scores(resources: Resources) -> None:
    hits = expand(resources, direction="out", kinds=["related"], decay=1.0)
    assert dict(ids_scores(hits))["c"] == 0.72


def test_query_filters_apply_to_added_notes(resources: Resources) -> None:
    closed = note("c", invalid_at=datetime(2024, 1, 1, tzinfo=UTC), links=LINKS["c"])
    resources.write([closed])
    hits = expand(resources, direction="out", kinds=["related"])
    assert [h.note.id for h in hits] == ["a", "b", "f", "d"]


def test_hits_already_present_are_not_added_twice(resources: Resources) -> None:
    stage = LinkExpandRetriever(LinkExpandConfig(direction="out"))
    stage.open(resources)
    given = [Hit(note=note("a"), score=0.9, channel="vector"),
             Hit(note=note("c"), score=0.1, channel="vector")]  # fmt: skip
    hits = stage.retrieve(Query(text="q", scope=ANA), given)
    assert [h.note.id for h in hits] == ["a", "h", "c", "e"]
    assert [h.note.id for h in hits].count("c") == 1


def test_other_scopes_are_never_reached(resources: Resources) -> None:
    stage = LinkExpandRetriever(LinkExpandConfig())
    stage.open(resources)
    hits = stage.retrieve(Query(text="q", scope=Scope(user_id="bob")),
                          [Hit(note=note("a"), score=0.9, channel="vector")])  # fmt: skip
    assert [h.note.id for h in hits] == ["a"]


def test_no_hits_no_walk(resources: Resources) -> None:
    stage = LinkExpandRetriever(LinkExpandConfig())
    stage.open(resources)
    assert stage.retrieve(Query(text="q", scope=ANA), []) == []


def test_is_not_a_source_and_needs_graph_links() -> None:
    assert LinkExpandRetriever.source is False
    with pytest.raises(Exception, match="graph_links"):
        Memory.from_dict(
            {
                "version": 1,
                "name": "x",
                "encode": [{"type": "turn"}],
                "store": {"type": "lancedb"},
                "retrieve": [{"type": "vector"}, {"type": "link_expand"}],
            }
        )


def test_in_a_pipeline_after_vector(tmp_path: Path) -> None:
    memory = Memory.from_dict(
        {
            "version": 1,
            "name": "expand",
            "encode": [{"type": "turn", "speaker": False}],
            "store": {"type": "lancedb"},
            "graph": {"type": "kuzu"},
            "retrieve": [
                {"type": "vector", "k": 1},
                {"type": "link_expand", "decay": 0.5, "kinds": ["related"]},
            ],
        },
        embedder=EMBEDDER,
        data_dir=tmp_path,
    )
    with memory:
        cat, vet = memory.add(
            [
                Event(id="1", content="my cat is called miso"),
                Event(id="2", content="the vet on friday"),
            ],
            scope=ANA,
        )
        memory.graph.link(cat.id, [Link(target=vet.id, weight=0.6)], ANA)
        hits = memory.search("what is my cat called", k=5, scope=ANA)
    assert [h.note.source_ids for h in hits] == [["1"], ["2"]]
    assert hits[1].score == pytest.approx(hits[0].score * 0.5 * 0.6)
    assert hits[1].note.embedding is not None  # from the note store, not the graph
