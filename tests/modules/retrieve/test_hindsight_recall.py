"""Hindsight's recall (four channels, RRF, token budget) and reflect (LLM, disposition, opinions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evolvelab import Event, Memory, Query, Scope
from evolvelab.modules.retrieve._spreading import Adjacency, spread
from evolvelab.modules.retrieve.hindsight_recall import (
    HindsightRecallConfig,
    HindsightRecallRetriever,
    token_cost,
)
from evolvelab.modules.retrieve.hindsight_reflect import FormedOpinion, Reflection
from evolvelab.registry import Registry
from evolvelab.stages import Scannable, TextSearch, VectorSearch
from evolvelab.testing import FakeLLM
from evolvelab.types import Note, Where

ANA = Scope(user_id="ana")
T0 = datetime(2023, 5, 1, 10, 0, tzinfo=UTC)
TEXTS = [
    (0, "Ben moved to Porto."),
    (1, "Porto has a famous bridge."),
    (2, "The bridge was designed by Eiffel's company."),
    (40, "I adopted a cat called Miso."),
    (41, "Miso sleeps all day."),
]


def events() -> list[Event]:
    return [Event(id=f"e{i}", content=text, speaker="Ana", session_id=f"s{day // 30}",
                  timestamp=T0 + timedelta(days=day, minutes=i))
            for i, (day, text) in enumerate(TEXTS)]  # fmt: skip


def memory(
    llm: FakeLLM | None = None, reflect: dict[str, Any] | None = None, **recall: Any
) -> Memory:
    retrieve: list[dict[str, Any]] = [{"type": "hindsight_recall", **recall}]
    if reflect is not None:
        retrieve.append({"type": "hindsight_reflect", **reflect})
    spec = {"version": 1, "name": "recall-test", "embedder": {"type": "hashing", "dim": 256},
            "encode": [{"type": "hindsight_retain", "speaker": False, "use_llm": False}], "store": {"type": "memory"},
            "retrieve": retrieve}  # fmt: skip
    return Memory.from_dict(spec, **({"llm": llm} if llm else {})).open()


def test_spreading_activation_walks_links_both_ways_with_decay() -> None:
    graph = Adjacency(count=3, edges={"a": [("b", "entity")], "b": [("a", "entity"), ("c", "causal")],
                                      "c": [("b", "causal")]},
                      notes={n: Note(id=n, content=n) for n in "abc"})  # fmt: skip
    reached = spread(graph, ["a"], {"entity": 1.0, "causal": 2.0}, hops=2, decay=0.5)
    assert reached == {
        "b": pytest.approx(0.5),
        "c": pytest.approx(0.5),
    }  # c: 1 * 1.0 * 0.5 * 2.0 * 0.5
    assert spread(graph, ["a"], {"entity": 1.0}, hops=2, decay=0.5) == {"b": pytest.approx(0.5)}
    assert spread(graph, ["zzz"], {"entity": 1.0}, hops=2, decay=0.5) == {}


def test_capabilities_follow_the_channels(registry: Registry) -> None:
    needed = HindsightRecallRetriever.capabilities_needed
    assert needed(HindsightRecallConfig(), registry) == (VectorSearch, TextSearch, Scannable)
    assert needed(HindsightRecallConfig(channels=["bm25"]), registry) == (TextSearch,)


def test_token_cost() -> None:
    assert token_cost("one two three") == 4 and token_cost("") == 0


def test_the_graph_channel_reaches_what_no_word_matches() -> None:
    with memory(channels=["bm25", "graph"], seeds=1, hops=2) as mem:
        mem.add(events(), scope=ANA)
        hits = mem.search("Where did Ben move?", k=5, scope=ANA)
    found = [h.note.source_ids[0] for h in hits]
    assert found[0] == "e0"
    # e1 shares the entity Porto with e0 (and follows it in the session); e2 follows e1
    assert "e1" in found and "e2" in found
    graph_only = next(h for h in hits if h.note.source_ids == ["e2"])
    assert "graph" in graph_only.explain and "bm25" not in graph_only.explain


def test_the_temporal_channel_finds_notes_in_the_named_window() -> None:
    with memory(channels=["temporal"]) as mem:
        mem.add(events(), scope=ANA)
        query = Query(text="What happened in June 2023 with Miso?", scope=ANA, k=5)
        hits = mem.search(query)
    assert [h.note.source_ids[0] for h in hits] == ["e4", "e3"]  # Miso first, both in June
    assert all("temporal" in h.explain for h in hits)


def test_rrf_fuses_channels_by_weighted_rank() -> None:
    with memory(
        channels=["semantic", "bm25"], semantic_weight=1.0, bm25_weight=2.0, rrf_k=10
    ) as mem:
        mem.add(events(), scope=ANA)
        hits = mem.search("Miso the cat", k=5, scope=ANA)
    for hit in hits:
        expected = sum(
            w / (10 + hit.explain[c])
            for c, w in (("semantic", 1.0), ("bm25", 2.0))
            if c in hit.explain
        )
        assert hit.score == pytest.approx(expected)
        assert hit.channel == "hindsight"


def test_the_token_budget_cuts_the_list() -> None:
    with memory(channels=["bm25"], max_tokens=12) as mem:
        mem.add(events(), scope=ANA)
        hits = mem.search("Porto bridge Miso", k=10, scope=ANA)
    with memory(channels=["bm25"]) as mem:
        mem.add(events(), scope=ANA)
        unbounded = mem.search("Porto bridge Miso", k=10, scope=ANA)
    assert sum(token_cost(h.note.content) for h in hits) <= 12
    assert 1 <= len(hits) < len(unbounded)
    assert [h.note.id for h in hits] == [h.note.id for h in unbounded[: len(hits)]]
    with memory(channels=["bm25"], max_tokens=1) as mem:
        mem.add(events(), scope=ANA)
        assert len(mem.search("Porto bridge Miso", k=10, scope=ANA)) == 1  # at least one is kept


def test_networks_restrict_what_is_searched() -> None:
    with memory(channels=["bm25"], networks=["opinion"]) as mem:
        mem.add(events(), scope=ANA)
        assert mem.search("Porto", scope=ANA) == []


def test_reflect_without_an_llm_passes_hits_through() -> None:
    with memory(channels=["bm25"], reflect={}) as mem:
        mem.add(events(), scope=ANA)
        hits = mem.search("Porto", scope=ANA)
    assert hits and all(h.channel == "hindsight" for h in hits)


def test_reflect_answers_with_a_disposition_and_forms_opinions() -> None:
    answer = Reflection(answer="Ben lives in Porto.", cited=["M1", "M7"], opinions=[
        FormedOpinion(statement="Porto suits Ben.", confidence=0.7, entities=["Ben", "Porto"], sources=["M1"]),
    ])  # fmt: skip
    llm = FakeLLM().queue(answer, answer.model_copy(update={"opinions": [
        FormedOpinion(statement="Porto suits Ben.", confidence=0.3, sources=["M2"])]}))  # fmt: skip
    with memory(llm=llm, channels=["bm25"], reflect={"skepticism": 5, "bias_strength": 0.2}) as mem:
        mem.add(events(), scope=ANA)
        first = mem.search("Where does Ben live? Porto?", k=3, scope=ANA)
        [opinion] = mem.store.scan(ANA, Where(kind=["opinion"]))  # type: ignore[attr-defined]
        mem.search("Where does Ben live? Porto?", k=3, scope=ANA)
        [again] = mem.store.scan(ANA, Where(kind=["opinion"]))  # type: ignore[attr-defined]
    system = llm.calls[0][0][0]["content"]
    assert "skepticism 5/5" in system and "strength 0.20" in system
    top = first[0]
    assert top.channel == "reflect" and top.note.content == "Ben lives in Porto."
    assert top.note.source_ids == [] and top.score > first[1].score
    assert top.note.metadata["cited"] == first[1].note.id  # M7 does not exist
    assert opinion.content == "Porto suits Ben." and opinion.metadata["confidence"] == 0.7
    assert opinion.source_ids == [first[1].note.source_ids[0]]
    # restated at 0.3: the stored 0.7 moves half way (rate 0.5)
    assert again.id == opinion.id and again.metadata["confidence"] == pytest.approx(0.5)
    assert again.version == 2
