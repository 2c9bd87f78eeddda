"""The LSH index and ``type: lsh``: seeded codes, multi-probe, recall, scopes, freshness."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from evolvelab import Memory
from evolvelab.modules.retrieve.lsh import LSHRetriever
from evolvelab.modules.retrieve._lsh_index import LSHError, LSHIndex, probe_masks
from evolvelab.types import Note, Scope

ANA, BEN = Scope(user_id="ana"), Scope(user_id="ben")
BASIS = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0.5, -0.5, 0.5, -0.5]], np.float32)


def clustered(
    n: int, queries: int, dim: int = 64, clusters: int = 20, seed: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        points = centres[rng.integers(0, clusters, count)] + 0.8 * rng.standard_normal(
            (count, dim)
        ).astype(np.float32)
        return points / np.linalg.norm(points, axis=1, keepdims=True)

    return draw(n), draw(queries)


# ---------------------------------------------------------------------- the index


def test_codes_are_pinned_for_a_seed() -> None:
    index = LSHIndex(dim=4, tables=3, bits=4, seed=42)
    assert index.hash(BASIS).tolist() == [[11, 14, 11], [2, 7, 11], [2, 6, 0], [0, 12, 8]]
    again = LSHIndex(dim=4, tables=3, bits=4, seed=42)
    assert np.array_equal(again.planes, index.planes)
    assert (
        LSHIndex(dim=4, tables=3, bits=4, seed=43).hash(BASIS).tolist()
        != index.hash(BASIS).tolist()
    )


def test_code_bit_j_is_the_side_of_hyperplane_j() -> None:
    index = LSHIndex(dim=4, tables=3, bits=4, seed=42)
    # e0's code in table 0 is built from column 0 of hyperplanes 0..3
    signs = index.planes[0:4, 0] > 0
    assert sum(1 << j for j, up in enumerate(signs) if up) == index.hash(BASIS[:1])[0, 0] == 11


def test_probe_masks_cover_the_hamming_ball() -> None:
    assert probe_masks(4, 0).tolist() == [0]
    assert probe_masks(4, 1).tolist() == [0, 1, 2, 4, 8]
    assert len(probe_masks(10, 2)) == 1 + 10 + 45
    assert len(probe_masks(3, 3)) == 8


def test_multi_probe_finds_a_neighbour_one_bit_away() -> None:
    index = LSHIndex(dim=16, tables=1, bits=8, seed=5)
    rng = np.random.default_rng(0)
    query = rng.standard_normal(16).astype(np.float32)
    code = int(index.hash(query)[0, 0])
    for _ in range(1000):
        other = query + 0.3 * rng.standard_normal(16).astype(np.float32)
        if bin(code ^ int(index.hash(other)[0, 0])).count("1") == 1:
            break
    else:
        pytest.fail("no vector one bit away found")
    index.build(np.stack([other]))
    assert index.candidates(query, radius=0).tolist() == []
    assert index.candidates(query, radius=1).tolist() == [0]
    rows, scores = index.search(query, k=1, radius=1)
    expected = float(other @ query / np.linalg.norm(other) / np.linalg.norm(query))
    assert rows.tolist() == [0] and scores[0] == pytest.approx(expected, abs=1e-5)


def test_recall_against_exact_search_on_clustered_vectors() -> None:
    data, queries = clustered(2000, 100)
    index = LSHIndex(dim=64, tables=16, bits=8, seed=0)
    index.build(data)
    recall = []
    for query in queries:
        truth, _ = index.exact(query, 10)
        found, _ = index.search(query, 10, radius=1)
        recall.append(len(set(found.tolist()) & set(truth.tolist())) / 10)
    assert np.mean(recall) >= 0.9
    # one table, no probing: recall collapses, which is why the defaults probe several tables
    single = LSHIndex(dim=64, tables=1, bits=8, seed=0)
    single.build(data)
    lone = [
        len(set(single.search(q, 10, radius=0)[0].tolist()) & set(index.exact(q, 10)[0].tolist()))
        / 10
        for q in queries
    ]
    assert np.mean(lone) < 0.5


def test_probing_every_bucket_is_exact_search() -> None:
    data, queries = clustered(300, 10)
    index = LSHIndex(dim=64, tables=1, bits=3, seed=0)
    index.build(data)
    for query in queries:
        assert index.search(query, 10, radius=3)[0].tolist() == index.exact(query, 10)[0].tolist()


def test_float32_is_kept_for_float64_input() -> None:
    index = LSHIndex(dim=4, tables=1, bits=2, seed=0)
    index.build(BASIS.astype(np.float64))
    assert index.vectors.dtype == np.float32
    assert index.search(np.array([1.0, 0, 0, 0]), 1)[1].dtype == np.float32


def test_wrong_dimension_and_bits_are_errors() -> None:
    index = LSHIndex(dim=4, tables=1, bits=2, seed=0)
    with pytest.raises(LSHError, match="dimension 4"):
        index.build(np.zeros((2, 5), np.float32))
    with pytest.raises(LSHError, match="bits"):
        LSHIndex(dim=4, tables=1, bits=40, seed=0)


def test_empty_index_finds_nothing() -> None:
    index = LSHIndex(dim=4, tables=2, bits=2, seed=0)
    index.build(np.zeros((0, 4), np.float32))
    rows, scores = index.search(BASIS[0], 3)
    assert rows.tolist() == [] and scores.tolist() == []


# ---------------------------------------------------------------------- the retriever


def memory(store: str = "memory", **lsh: Any) -> Memory:
    spec = {
        "version": 1, "name": "lsh-test", "embedder": {"type": "hashing", "dim": 64},
        "encode": [{"type": "turn", "speaker": False}], "store": {"type": store},
        "retrieve": [{"type": "lsh", "tables": 8, "bits": 3, "probe_radius": 3, **lsh}],
    }  # fmt: skip
    return Memory.from_dict(spec).open()


def note(id: str, content: str, scope: Scope, kind: str = "thought", **extra: Any) -> Note:
    return Note(id=id, content=content, kind=kind, scope=scope, source_ids=[f"e-{id}"], **extra)


def exact_scores(mem: Memory, query: str, notes: list[Note]) -> dict[str, float]:
    q = mem.embedder.embed([query])[0]
    vectors = mem.embedder.embed([n.content for n in notes])
    return {n.id: float(v @ q) for n, v in zip(notes, vectors, strict=True)}


def test_retriever_ranks_probed_notes_by_exact_cosine_and_indexes_only_its_kinds() -> None:
    mem = memory(kinds=["thought"], k=3)
    notes = [note("t1", "Ana adopted a grey cat called Miso", ANA),
             note("t2", "Ana's sister teaches piano in Lisbon", ANA),
             note("t3", "Ana works as a pharmacist", ANA),
             note("turn1", "the grey cat called Miso sleeps", ANA, kind="turn")]  # fmt: skip
    mem.resources.write(notes)
    hits = mem.search("grey cat called Miso", scope=ANA)
    assert [h.note.id for h in hits][0] == "t1" and "turn1" not in {h.note.id for h in hits}
    exact = exact_scores(mem, "grey cat called Miso", notes)
    assert all(
        h.channel == "lsh" and h.score == pytest.approx(exact[h.note.id], abs=1e-5) for h in hits
    )
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert mem.search("cat", scope=ANA, where={"kind": "turn"}) == []


def test_scopes_never_leak() -> None:
    mem = memory()
    mem.resources.write(
        [note("a1", "my cat is called Miso", ANA), note("b1", "my cat is called Miso", BEN)]
    )
    assert [(h.note.id, h.note.scope.user_id) for h in mem.search("cat Miso", scope=ANA)] == [
        ("a1", "ana")
    ]
    assert [(h.note.id, h.note.scope.user_id) for h in mem.search("cat Miso", scope=BEN)] == [
        ("b1", "ben")
    ]
    assert mem.search("cat Miso", scope=Scope(user_id="eve")) == []
    retriever = mem.retrievers[0]
    assert isinstance(retriever, LSHRetriever)
    assert retriever.index_for(ANA).ids == ["a1"] and retriever.index_for(BEN).ids == ["b1"]


def test_index_follows_adds_and_is_reused_otherwise() -> None:
    mem = memory()
    retriever = mem.retrievers[0]
    assert isinstance(retriever, LSHRetriever)
    mem.resources.write([note("t1", "Ana adopted a grey cat", ANA)])
    assert [h.note.id for h in mem.search("grey cat", scope=ANA)] == ["t1"]
    mem.search("grey cat", scope=ANA)
    assert retriever.builds == 1
    mem.resources.write([note("t2", "Ana bought a grey cat tree", ANA)])
    assert {h.note.id for h in mem.search("grey cat", scope=ANA)} == {"t1", "t2"}
    assert retriever.builds == 2


def test_an_edit_that_keeps_the_count_heals_on_the_next_search() -> None:
    mem = memory()
    retriever = mem.retrievers[0]
    assert isinstance(retriever, LSHRetriever)
    mem.resources.write(
        [note("t1", "Ana adopted a grey cat", ANA), note("t2", "Ben plays the cello", ANA)]
    )
    mem.search("cello", scope=ANA)
    edited = note("t2", "Ben plays the violin in an orchestra", ANA)
    mem.resources.write([edited])
    hits = {h.note.id: h for h in mem.search("violin orchestra", scope=ANA)}
    assert hits["t2"].note.content == edited.content
    assert hits["t2"].score == pytest.approx(
        exact_scores(mem, "violin orchestra", [edited])["t2"], abs=1e-5
    )
    assert retriever.builds == 2


def test_refresh_always_rebuilds_on_every_search() -> None:
    mem = memory(refresh="always")
    mem.resources.write([note("t1", "Ana adopted a grey cat", ANA)])
    mem.search("cat", scope=ANA)
    mem.search("cat", scope=ANA)
    assert mem.retrievers[0].builds == 2  # type: ignore[attr-defined]


def test_filters_and_validity_come_from_the_current_notes() -> None:
    from datetime import UTC, datetime

    mem = memory()
    closed = note("t1", "Ana lives in Porto", ANA, invalid_at=datetime(2023, 6, 1, tzinfo=UTC))
    mem.resources.write([closed, note("t2", "Ana lives in Lisbon", ANA)])
    assert [h.note.id for h in mem.search("Ana lives", scope=ANA)] == ["t2"]
    assert {
        h.note.id for h in mem.search("Ana lives", scope=ANA, where={"include_invalid": True})
    } == {"t1", "t2"}


def test_min_score_drops_weak_hits() -> None:
    mem = memory(min_score=0.99)
    mem.resources.write(
        [note("t1", "Ana adopted a grey cat", ANA), note("t2", "Ben plays the cello", ANA)]
    )
    assert [h.note.id for h in mem.search("Ana adopted a grey cat", scope=ANA)] == ["t1"]


def test_works_over_lancedb() -> None:
    mem = memory("lancedb")
    mem.resources.write(
        [note("a1", "Ana adopted a grey cat", ANA), note("b1", "Ana adopted a grey cat", BEN)]
    )
    assert [h.note.id for h in mem.search("grey cat", scope=ANA)] == ["a1"]
    mem.close()
