"""Hybrid fusion: reciprocal-rank and max-normalised score fusion, with hand-checked numbers."""

from __future__ import annotations

import pytest

from evolvelab import Event, Memory, Scope
from evolvelab.errors import ConfigError
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


def test_a_channel_runs_with_its_settings(registry: Registry) -> None:
    from evolvelab.modules.retrieve.bm25 import BM25Retriever
    from evolvelab.modules.retrieve.hybrid import HybridConfig, HybridRetriever

    config = HybridConfig(
        channels=["bm25", "vector"], candidates=7, settings={"bm25": {"content_weight": 0.3}}
    )
    hybrid = HybridRetriever.build(config, registry)
    bm25, vector = hybrid._channels
    assert isinstance(bm25, BM25Retriever)
    assert (bm25.config.content_weight, bm25.config.k) == (0.3, 7)
    assert vector.config.k == 7  # a channel without settings: its defaults, k = candidates


def test_settings_change_what_a_channel_finds(registry: Registry) -> None:
    # "how" is in every event but the query's only content word is in one: with stop
    # words dropped, BM25 ranks just that one
    events = [
        Event(id="a", content="how was the bicycle ride"),
        Event(id="b", content="how was the movie"),
        Event(id="c", content="how was dinner"),
    ]
    text = PIPELINE % "candidates: 3, weights: [1.0, 0.0], settings: {bm25: {drop_stop_words: %s}}"
    found = {}
    for drop in ("false", "true"):
        with Memory.from_text(text % drop, registry=registry) as memory:
            memory.add(events, scope=Scope(user_id="u"))
            hits = memory.search("how was the ride", k=3, scope=Scope(user_id="u"))
            found[drop] = [hit.note.source_ids[0] for hit in hits if hit.explain.get("bm25")]
    assert found["true"] == ["a"]
    assert set(found["false"]) == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("{bm25: {k: 4}}", "settings.bm25 cannot set k: candidates sets every channel's k"),
        ("{recency: {}}", "settings for 'recency', which is not a channel (channels: bm25, vector)"),
        ("{bm25: {content_weight: 20}}", "retrieve[0].settings.bm25.content_weight: channel bm25: "
         "Input should be less than or equal to 10"),
        ("{bm25: {drop_stop_word: true}}", "retrieve[0].settings.bm25.drop_stop_word: unknown "
         "field for channel bm25"),
    ],
)
def test_bad_settings_are_located_errors(settings: str, message: str, registry: Registry) -> None:
    with pytest.raises(ConfigError) as caught:
        Memory.from_text(PIPELINE % f"settings: {settings}", registry=registry)
    assert message in str(caught.value)
    if "drop_stop_word:" in settings:
        assert "did you mean 'drop_stop_words'?" in str(caught.value)
