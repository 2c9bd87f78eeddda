"""Hybrid fusion: reciprocal-rank and max-normalised score fusion, with hand-checked numbers."""

from __future__ import annotations

from evolvelab import Event, Memory, Scope
from evolvelab.registry import Registry

PIPELINE = """\
version: 1
name: fusion
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn, speaker: false}
store: {type: memory}
retrieve:
  - {type: hybrid, channels: [bm25, vector], %s}
"""

EVENTS = [
    Event(id="a", content="red bicycle in the garage"),
    Event(id="b", content="blue car on the street"),
    Event(id="c", content="red apple on the table"),
]


def run(options: str, registry: Registry, query: str = "red bicycle"):  # noqa: ANN201
    with Memory.from_text(PIPELINE % options, registry=registry) as memory:
        memory.add(EVENTS, scope=Scope(user_id="u"))
        return memory.search(query, k=3, scope=Scope(user_id="u"))


def test_rrf_scores_are_weighted_reciprocal_ranks(registry: Registry) -> None:
    hits = run("fusion: rrf, rrf_k: 10, weights: [1.0, 0.5]", registry)
    top = hits[0]
    assert top.note.source_ids == ["a"] and top.explain == {"bm25": 1.0, "vector": 1.0}
    assert abs(top.score - (1.0 / 11 + 0.5 / 11)) < 1e-9


def test_score_fusion_divides_each_channel_by_its_best(registry: Registry) -> None:
    hits = run("fusion: score, weights: [1.0, 0.5]", registry)
    top = hits[0]
    assert top.note.source_ids == ["a"]
    assert abs(top.score - 1.5) < 1e-6  # best in both channels: 1.0 * 1 + 0.5 * 1
    second = hits[1]
    expected = 1.0 * second.explain["bm25"] / top.explain["bm25"] + 0.5 * second.explain["vector"] / top.explain["vector"]
    assert abs(second.score - expected) < 1e-6
