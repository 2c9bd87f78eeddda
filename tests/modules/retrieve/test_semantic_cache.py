"""The category-aware semantic cache: hits, thresholds, TTLs, quotas, invalidation, classifiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from evolvelab import Event, Memory, Query, Scope
from evolvelab.errors import ConfigError, EvolveLabError
from evolvelab.modules.retrieve._query_classifier import (
    CentroidClassifierConfig,
    KeywordClassifierConfig,
    QueryClassifier,
)
from evolvelab.modules.retrieve.semantic_cache import SemanticCacheRetriever, lexical_vectors

ANA, BEN = Scope(user_id="ana"), Scope(user_id="ben")
T0 = datetime(2023, 5, 1, 10, 0, tzinfo=UTC)
TEXTS = ["Ana adopted a grey cat called Miso.", "Ana hiked the volcano trail in Madeira.",
         "Ana moved to Porto in May.", "Ben plays the piano every night."]  # fmt: skip


def events(prefix: str = "e") -> list[Event]:
    return [Event(id=f"{prefix}{i}", content=t, timestamp=T0 + timedelta(minutes=i))
            for i, t in enumerate(TEXTS)]  # fmt: skip


def memory(embedder: str = "none", **cache: Any) -> Memory:
    settings = {
        "type": "semantic_cache",
        "similarity": "lexical",
        "stages": [{"type": "bm25", "k": 5}],
    }
    settings.update(cache)
    spec = {"version": 1, "name": "cache-test", "embedder": {"type": embedder},
            "encode": [{"type": "turn", "speaker": False}], "store": {"type": "memory"},
            "retrieve": [settings]}  # fmt: skip
    return Memory.from_dict(spec).open()


def cache_of(mem: Memory) -> SemanticCacheRetriever:
    [cache] = mem.retrievers
    assert isinstance(cache, SemanticCacheRetriever)
    return cache


def test_lexical_vectors_ignore_stop_words_and_case() -> None:
    a, b, c = lexical_vectors(["Where did Ana move?", "ana MOVE where", "What did Ben play?"])
    assert float(a @ b) == pytest.approx(1.0)
    assert float(a @ c) == pytest.approx(0.0)
    assert float(np.linalg.norm(a)) == pytest.approx(1.0)


def test_a_repeated_question_is_served_from_the_cache() -> None:
    with memory() as mem:
        mem.add(events(), scope=ANA)
        cache = cache_of(mem)
        first = mem.search("Where did Ana move?", k=3, scope=ANA)
        assert cache.last is not None and not cache.last.hit
        again = mem.search("where did ana move", k=3, scope=ANA)
    assert cache.last.hit and cache.last.matched == "Where did Ana move?"
    assert cache.last.similarity == pytest.approx(1.0)
    assert [h.note.id for h in again] == [h.note.id for h in first]
    assert again[0].explain["cache_similarity"] == pytest.approx(1.0)
    assert cache.stats == {"lookups": 2, "hits": 1, "invalidations": 0}


def test_the_threshold_decides_what_counts_as_the_same_question() -> None:
    with memory(threshold=0.9) as mem:
        mem.add(events(), scope=ANA)
        mem.search("Where did Ana move?", scope=ANA)
        mem.search("Can you remind me where Ana moved to?", scope=ANA)  # 'remind', 'moved'
        assert not cache_of(mem).last.hit
    with memory(threshold=0.3) as mem:
        mem.add(events(), scope=ANA)
        mem.search("Where did Ana move?", scope=ANA)
        mem.search("Can you remind me where Ana moved to?", scope=ANA)
        assert cache_of(mem).last.hit


def test_categories_have_their_own_threshold_ttl_and_entries() -> None:
    classifier = {"type": "keywords", "rules": {"temporal": ["when"]}, "default": "other"}
    policies = {"temporal": {"threshold": 0.99, "ttl_seconds": 10}}
    with memory(classifier=classifier, threshold=0.5, categories=policies) as mem:
        mem.add(events(), scope=ANA)
        cache = cache_of(mem)
        assert cache.policy("temporal") == (0.99, 10, 500)
        assert cache.policy("other") == (0.5, 3600.0, 500)
        now = [0.0]
        cache.clock = lambda: now[0]
        mem.search("When did Ana move to Porto?", scope=ANA)
        assert cache.last.category == "temporal"
        mem.search("When did Ana move to Porto in May?", scope=ANA)  # similar, below 0.99
        assert not cache.last.hit
        mem.search("When did Ana move to Porto?", scope=ANA)
        assert cache.last.hit
        now[0] = 11.0  # past the temporal TTL
        mem.search("When did Ana move to Porto?", scope=ANA)
        assert not cache.last.hit
        # an 'other' question never matches a cached 'temporal' one, however similar
        mem.search("Did Ana move to Porto?", scope=ANA)
        assert cache.last.category == "other" and not cache.last.hit


def test_the_quota_evicts_the_least_recently_used_entry() -> None:
    with memory(quota=2) as mem:
        mem.add(events(), scope=ANA)
        cache = cache_of(mem)
        ticks = iter(range(100))
        cache.clock = lambda: float(next(ticks))
        mem.search("Miso the cat", scope=ANA)
        mem.search("volcano trail", scope=ANA)
        mem.search("Miso the cat", scope=ANA)  # hit: Miso is now the most recently used
        mem.search("piano nights", scope=ANA)  # full: evicts 'volcano trail'
        mem.search("Miso the cat", scope=ANA)
        assert cache.last.hit
        mem.search("volcano trail", scope=ANA)
        assert not cache.last.hit


def test_a_write_to_the_scope_invalidates_its_entries_only() -> None:
    with memory() as mem:
        mem.add(events(), scope=ANA)
        mem.add(events("b"), scope=BEN)
        cache = cache_of(mem)
        mem.search("Where did Ana move?", scope=ANA)
        mem.search("Where did Ana move?", scope=BEN)
        mem.add([Event(id="new", content="Ana moved again, to Braga.", timestamp=T0 + timedelta(days=9))],
                scope=ANA)  # fmt: skip
        hits = mem.search("Where did Ana move?", scope=ANA)
        assert not cache.last.hit and cache.last.invalidated
        assert "Braga" in hits[0].note.content  # the new note is found
        mem.search("Where did Ana move?", scope=BEN)
        assert cache.last.hit  # Ben's memory did not change
    assert cache.stats["invalidations"] == 1


def test_verify_catches_a_changed_note_with_the_same_count() -> None:
    with memory(verify=True) as mem:
        written = mem.add(events(), scope=ANA)
        cache = cache_of(mem)
        mem.search("Where did Ana move?", scope=ANA)
        porto = next(n for n in written if "Porto" in n.content)
        mem.resources.write([porto.model_copy(update={"content": "Ana moved to Lisbon in May.",
                                                      "version": 2})])  # fmt: skip
        hits = mem.search("Where did Ana move?", scope=ANA)
    assert not cache.last.hit and cache.last.invalidated
    assert hits[0].note.content == "Ana moved to Lisbon in May."


def test_invalidate_drops_an_owners_entries_or_one_sessions() -> None:
    with memory() as mem:
        mem.add(events(), scope=ANA)
        mem.add(events("b"), scope=BEN)
        cache = cache_of(mem)
        in_session = Scope(user_id="ana", session_id="s9")
        for scope in (ANA, in_session, BEN):
            mem.search("Where did Ana move?", scope=scope)
        cache.invalidate(Scope(user_id="ana", session_id="s9"))  # that session only
        mem.search("Where did Ana move?", scope=ANA)
        assert cache.last.hit
        mem.search("Where did Ana move?", scope=in_session)
        assert not cache.last.hit
        cache.invalidate(ANA)  # the owner: every scope of ana, sessions included
        for scope in (ANA, in_session):
            mem.search("Where did Ana move?", scope=scope)
            assert not cache.last.hit
        mem.search("Where did Ana move?", scope=BEN)
        assert cache.last.hit


def test_scopes_never_share_entries() -> None:
    with memory() as mem:
        mem.add(events(), scope=ANA)
        mem.search("Where did Ana move?", scope=ANA)
        assert mem.search("Where did Ana move?", scope=BEN) == []
        assert not cache_of(mem).last.hit


def test_embedding_similarity_needs_an_embedder() -> None:
    with pytest.raises(EvolveLabError, match="needs an embedder"):
        memory(similarity="embedding")
    with memory(embedder="hashing", similarity="embedding") as mem:
        mem.add(events(), scope=ANA)
        mem.search("Where did Ana move?", scope=ANA)
        mem.search("Where did Ana move?", scope=ANA)
        assert cache_of(mem).last.hit


def test_inner_stages_are_validated_with_their_place() -> None:
    with pytest.raises(ConfigError) as err:
        memory(stages=[{"type": "bm25", "kk": 3}, {"type": "bm52"}])
    text = str(err.value)
    assert "retrieve[0].stages[0].kk: unknown field for retriever 'bm25'" in text
    assert "did you mean 'k'?" in text
    assert "retrieve[0].stages[1].type: unknown retriever type 'bm52'" in text


def test_keyword_classifier_first_rule_wins() -> None:
    config = KeywordClassifierConfig(
        rules={"temporal": ["when", "what year"], "who": ["who", "name"]}
    )
    classifier = QueryClassifier(config, lexical_vectors)
    assert classifier.classify("When did Ana move?") == "temporal"
    assert classifier.classify("What year did she leave, and who drove?") == "temporal"
    assert classifier.classify("Who is Ben?") == "who"
    assert classifier.classify("Whenever it rains") == "other"  # whole words only
    assert classifier.categories() == ["temporal", "who", "other"]


def test_centroid_classifier_picks_the_nearest_labelled_examples() -> None:
    config = CentroidClassifierConfig(
        examples={"pets": ["What is the cat called?", "Does the dog bark?"],
                  "travel": ["Where did she travel?", "Which city did he visit on the trip?"]},
        min_similarity=0.2,
    )  # fmt: skip
    classifier = QueryClassifier(config, lexical_vectors)
    assert classifier.classify("What colour is the cat?") == "pets"
    assert classifier.classify("Which city was the trip to?") == "travel"
    assert classifier.classify("How is the weather?") == "other"  # near no centroid


def test_stages_that_read_the_query_time_get_entries_per_time() -> None:
    with memory(stages=[{"type": "recency", "k": 2}]) as mem:
        mem.add(events(), scope=ANA)
        cache = cache_of(mem)
        assert cache.time_dependent
        day1 = Query(text="What did Ana do lately?", scope=ANA, k=2, at=T0 + timedelta(days=1))
        mem.search(day1)
        mem.search(day1)
        assert cache.last.hit  # the same question at the same moment
        mem.search(day1.model_copy(update={"at": T0 + timedelta(days=300)}))
        assert not cache.last.hit  # scores depend on the query's time: never reused across it


def test_time_free_stages_share_entries_across_query_times() -> None:
    with memory() as mem:  # bm25 only
        mem.add(events(), scope=ANA)
        cache = cache_of(mem)
        assert not cache.time_dependent
        mem.search(Query(text="Where did Ana move?", scope=ANA, at=T0 + timedelta(days=1)))
        mem.search(Query(text="Where did Ana move?", scope=ANA, at=T0 + timedelta(days=300)))
        assert cache.last.hit


def test_keys_are_bounded_least_recently_used_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from evolvelab.modules.retrieve import semantic_cache

    monkeypatch.setattr(semantic_cache, "MAX_KEYS", 3)
    with memory(stages=[{"type": "recency", "k": 2}]) as mem:
        mem.add(events(), scope=ANA)
        cache = cache_of(mem)
        first = Query(text="What did Ana do lately?", scope=ANA, k=2, at=T0 + timedelta(days=1))
        mem.search(first)
        for day in range(2, 5):  # three more moments: the first one's key is the oldest
            mem.search(first.model_copy(update={"at": T0 + timedelta(days=day)}))
        assert len(cache._scopes) == 3
        mem.search(first)
        assert not cache.last.hit  # evicted
