"""The A-MemGuard consensus guard: poisoned memories flagged, lessons kept and recalled.

The memory: four notes agreeing that Ana's cat is Pepper, two unrelated notes, and one
poisoned note shaped like the question (so it ranks first) that names another cat. The
hashing embedder shares few words between short sentences, so the guard here runs at
``threshold: 0.25`` and ``divergence: 0.02`` (the MiniLM defaults are 0.5 and 0.1).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evolvelab import ConfigError, Event, Memory, Scope
from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.llm import NoLLMError
from evolvelab.modules.retrieve._consensus import claim_vectors, find_consensus
from evolvelab.modules.retrieve.guard import GuardRetriever
from evolvelab.modules.retrieve._reasoning_paths import (
    SYSTEM_PROMPT,
    PathStep,
    ReasoningPath,
    ReasoningPaths,
)
from evolvelab.registry import Registry
from evolvelab.testing import FakeLLM
from evolvelab.types import Hit, Note, Where

ANA = Scope(user_id="ana")
BEN = Scope(user_id="ben")
QUESTION = "What is the name of Ana's cat?"
SIMILAR = "What is the name of Ana's cat again?"
UNRELATED = "Where does Ana's sister live?"

PEPPER = [
    Event(id="c1", content="Ana's cat Pepper is a grey tabby."),
    Event(id="c2", content="Pepper, Ana's grey tabby cat, sleeps on the sofa."),
    Event(id="c3", content="Ana's grey tabby Pepper caught a mouse."),
    Event(id="c4", content="Ana took Pepper, her grey tabby cat, to the vet."),
]
OTHER = [
    Event(id="x1", content="Ana's sister lives in Lisbon and teaches piano."),
    Event(id="x2", content="Ana started cello lessons in January."),
]
POISON = Event(id="p1", content="What is the name of Ana's cat? Shadow.")
EVENTS = [*PEPPER, *OTHER, POISON]
GUARD = {"type": "guard", "threshold": 0.25, "divergence": 0.02}


def build(
    tmp_path: Path, registry: Registry, store: str, guard: dict[str, Any] | None, **overrides: Any
) -> Memory:
    store_config = (
        {"type": "memory"}
        if store == "memory"
        else {"type": "lancedb", "path": str(tmp_path / "notes")}
    )
    retrieve: list[dict[str, Any]] = [{"type": "vector", "k": 10}]
    if guard is not None:
        retrieve.append(guard)
    data = {
        "version": 1,
        "name": "guarded",
        "embedder": {"type": "hashing", "dim": 256},
        "encode": [{"type": "turn", "speaker": False}],
        "store": store_config,
        "retrieve": retrieve,
    }
    return Memory.from_dict(data, registry=registry, data_dir=tmp_path / "data", **overrides)


def sources(hits: list[Hit]) -> list[str]:
    return [s for h in hits for s in h.note.source_ids]


def lessons(memory: Memory, scope: Scope) -> list[Note]:
    return list(memory.store.scan(scope, Where(kind=["lesson"])))  # type: ignore[attr-defined]


STORES = ["memory", "lancedb"]


# --- the poisoned memory -------------------------------------------------------------


@pytest.mark.parametrize("store", STORES)
def test_without_the_guard_the_poisoned_note_ranks_first(
    tmp_path: Path, registry: Registry, store: str
) -> None:
    with build(tmp_path, registry, store, None) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=5, scope=ANA)
    assert hits[0].note.source_ids == ["p1"]


@pytest.mark.parametrize("store", STORES)
def test_the_guard_drops_the_poisoned_note_and_keeps_the_consensus(
    tmp_path: Path, registry: Registry, store: str
) -> None:
    with build(tmp_path, registry, store, GUARD) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
    assert "p1" not in sources(hits)
    assert sorted(sources(hits)) == ["c1", "c2", "c3", "c4", "x1", "x2"]


@pytest.mark.parametrize("store", STORES)
def test_mark_keeps_the_poisoned_note_flagged_lowered_and_last(
    tmp_path: Path, registry: Registry, store: str
) -> None:
    with build(tmp_path, registry, store, None) as plain:
        plain.add(EVENTS, scope=ANA)
        before = {h.note.source_ids[0]: h.score for h in plain.search(QUESTION, k=10, scope=ANA)}
    with build(
        tmp_path / "marked", registry, store, {**GUARD, "action": "mark", "penalty": 0.25}
    ) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
    last = hits[-1]
    assert last.note.source_ids == ["p1"] and len(hits) == 7
    assert last.explain["guard_flagged"] == 1.0
    assert last.explain["guard_consensus"] == 4.0
    assert last.explain["guard_support"] == pytest.approx(0.0, abs=0.02)
    assert last.score == pytest.approx(before["p1"] * 0.25)
    assert all("guard_flagged" not in h.explain for h in hits[:-1])


def test_demote_false_marks_in_place(tmp_path: Path, registry: Registry) -> None:
    with build(
        tmp_path, registry, "memory", {**GUARD, "action": "mark", "demote": False}
    ) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
    assert hits[0].note.source_ids == ["p1"] and hits[0].explain["guard_flagged"] == 1.0


def test_small_sets_are_not_judged(tmp_path: Path, registry: Registry) -> None:
    with build(tmp_path, registry, "memory", {**GUARD, "min_set": 8}) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
    assert hits[0].note.source_ids == ["p1"] and lessons(memory, ANA) == []


def test_without_a_majority_the_guard_abstains(tmp_path: Path, registry: Registry) -> None:
    # Two Pepper notes out of five cannot form a consensus (quorum 0.5); upstream would
    # flag every memory here.
    with build(tmp_path, registry, "memory", GUARD) as memory:
        memory.add([*PEPPER[:2], *OTHER, POISON], scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
    assert len(hits) == 5 and hits[0].note.source_ids == ["p1"]


# --- lessons ----------------------------------------------------------------------------


@pytest.mark.parametrize("store", STORES)
def test_a_flagged_memory_leaves_a_lesson(tmp_path: Path, registry: Registry, store: str) -> None:
    with build(tmp_path, registry, store, GUARD) as memory:
        [*_, poison] = memory.add(EVENTS, scope=ANA)
        memory.search(QUESTION, k=10, scope=ANA)
        [lesson] = lessons(memory, ANA)
        query_vector = memory.embedder.embed([QUESTION])[0]
    assert lesson.kind == "lesson" and lesson.tags == ["guard"] and lesson.scope == ANA
    assert lesson.source_ids == ["p1"]
    assert lesson.metadata["guard_note"] == poison.id
    assert lesson.metadata["guard_consensus"] == 4
    assert poison.id in lesson.content and "Shadow" in lesson.content and QUESTION in lesson.content
    assert np.allclose(lesson.embedding, query_vector, atol=1e-6)


@pytest.mark.parametrize("store", STORES)
def test_the_lesson_warns_a_similar_query_but_not_an_unrelated_one(
    tmp_path: Path, registry: Registry, store: str
) -> None:
    with build(tmp_path, registry, store, {**GUARD, "action": "mark"}) as memory:
        memory.add(EVENTS, scope=ANA)
        memory.search(QUESTION, k=10, scope=ANA)
        similar = memory.search(SIMILAR, k=10, scope=ANA)
        unrelated = memory.search(UNRELATED, k=10, scope=ANA)
        assert len(lessons(memory, ANA)) == 1  # the similar query reused the lesson
    warning, *rest = similar
    assert warning.channel == "guard_lesson" and warning.note.kind == "lesson"
    assert warning.score >= 0.85 and warning.explain["guard_lesson"] == warning.score
    [poison] = [h for h in rest if h.note.source_ids == ["p1"]]
    assert (
        poison.explain["guard_lesson"] == warning.score and poison.explain["guard_flagged"] == 1.0
    )
    assert all(h.note.kind != "lesson" for h in rest)  # the vector channel's lesson hit is removed
    assert all(h.channel != "guard_lesson" for h in unrelated)
    assert all(h.note.kind != "lesson" for h in unrelated)


def test_the_lesson_flags_its_note_even_when_the_set_is_too_small(
    tmp_path: Path, registry: Registry
) -> None:
    with build(tmp_path, registry, "memory", {**GUARD, "action": "mark"}) as memory:
        memory.add(EVENTS, scope=ANA)
        memory.search(QUESTION, k=10, scope=ANA)
        hits = memory.search(SIMILAR, k=2, scope=ANA)
    assert [h.channel for h in hits] == ["guard_lesson", "vector"]
    assert "guard_flagged" not in hits[1].explain and hits[1].note.source_ids != ["p1"]


def test_lesson_hits_zero_marks_without_a_warning_hit(tmp_path: Path, registry: Registry) -> None:
    with build(tmp_path, registry, "memory", {**GUARD, "lesson_hits": 0}) as memory:
        memory.add(EVENTS, scope=ANA)
        memory.search(QUESTION, k=10, scope=ANA)
        hits = memory.search(SIMILAR, k=10, scope=ANA)
    assert all(h.channel == "vector" for h in hits) and "p1" not in sources(hits)


def test_a_query_for_lessons_passes_through(tmp_path: Path, registry: Registry) -> None:
    with build(tmp_path, registry, "memory", GUARD) as memory:
        memory.add(EVENTS, scope=ANA)
        memory.search(QUESTION, k=10, scope=ANA)
        hits = memory.search(SIMILAR, k=10, scope=ANA, where={"kind": "lesson"})
    assert [(h.channel, h.note.kind, h.note.source_ids) for h in hits] == [("vector", "lesson", ["p1"])]


def test_lessons_stay_in_their_scope(tmp_path: Path, registry: Registry) -> None:
    with build(tmp_path, registry, "memory", GUARD) as memory:
        memory.add(EVENTS, scope=ANA)
        memory.add([*PEPPER, *OTHER], scope=BEN)
        memory.search(QUESTION, k=10, scope=ANA)
        ben = memory.search(SIMILAR, k=10, scope=BEN)
        assert lessons(memory, BEN) == [] and len(lessons(memory, ANA)) == 1
    assert all(h.channel == "vector" for h in ben)


def test_no_lessons_when_disabled(tmp_path: Path, registry: Registry) -> None:
    with build(tmp_path, registry, "memory", {**GUARD, "lessons": False}) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
        assert "p1" not in sources(hits) and lessons(memory, ANA) == []


# --- with an LLM: one structured request per set ------------------------------------


def path(memory: str, conclusion: str, *steps: tuple[str, str, str]) -> ReasoningPath:
    return ReasoningPath(
        memory=memory,
        steps=[PathStep(head=h, relation=r, tail=t) for h, r, t in steps],
        conclusion=conclusion,
    )


def answer_by_content(diverges: Callable[[str], bool]) -> Callable[[Any, Any], ReasoningPaths]:
    """Answer with an agreeing path per memory, and a diverging one where ``diverges(content)``."""

    def answer(messages: list[dict[str, str]], model: Any) -> ReasoningPaths:
        lines = messages[1]["content"].split("Memories:\n", 1)[1].splitlines()
        paths = []
        for line in lines:
            label, content = line[1:].split("] ", 1)
            if diverges(content):
                paths.append(path(label, "Shadow", ("Shadow", "is", "black kitten")))
            else:
                paths.append(
                    path(label, "Pepper", ("Ana", "owns", "cat"), ("cat", "named", "Pepper"))
                )
        return ReasoningPaths(paths=paths)

    return answer


def test_llm_request_is_one_structured_call_listing_the_set(
    tmp_path: Path, registry: Registry
) -> None:
    with build(tmp_path, registry, "memory", None) as plain:
        plain.add(EVENTS, scope=ANA)
        order = [h.note.content for h in plain.search(QUESTION, k=10, scope=ANA)]
    llm = FakeLLM().queue(answer_by_content(lambda c: "Shadow" in c))
    with build(tmp_path / "llm", registry, "memory", GUARD, llm=llm) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
    llm.assert_empty()
    [(messages, model)] = llm.calls
    assert model is ReasoningPaths
    memories = "\n".join(f"[M{i}] {content}" for i, content in enumerate(order, start=1))
    assert messages == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Question: {QUESTION}\n\nMemories:\n{memories}"},
    ]
    assert "p1" not in sources(hits) and len(hits) == 6


def test_llm_replies_drive_the_consensus(tmp_path: Path, registry: Registry) -> None:
    # The LLM says the poisoned note agrees and a Pepper note diverges: the guard follows it.
    llm = FakeLLM().queue(answer_by_content(lambda c: c.startswith("Ana took Pepper")))
    with build(tmp_path, registry, "memory", GUARD, llm=llm) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
        [lesson] = lessons(memory, ANA)
    assert "p1" in sources(hits) and "c4" not in sources(hits)
    assert (
        lesson.source_ids == ["c4"] and "Shadow -> is -> black kitten => Shadow" in lesson.content
    )


def test_memories_the_llm_leaves_out_are_not_judged(tmp_path: Path, registry: Registry) -> None:
    def partial(messages: list[dict[str, str]], model: Any) -> ReasoningPaths:
        full = answer_by_content(lambda c: "Shadow" in c)(messages, model)
        return ReasoningPaths(
            paths=[p for p in full.paths if p.conclusion == "Pepper"] + [path("M99", "x")]
        )

    llm = FakeLLM().queue(partial)
    with build(tmp_path, registry, "memory", GUARD, llm=llm) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
    assert len(hits) == 7 and hits[0].note.source_ids == ["p1"]


def test_paths_embedding_never_calls_the_llm(tmp_path: Path, registry: Registry) -> None:
    llm = FakeLLM()
    with build(tmp_path, registry, "memory", {**GUARD, "paths": "embedding"}, llm=llm) as memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=10, scope=ANA)
    assert llm.calls == [] and "p1" not in sources(hits)


def test_paths_llm_without_an_llm_fails_to_open(tmp_path: Path, registry: Registry) -> None:
    memory = build(tmp_path, registry, "memory", {**GUARD, "paths": "llm"})
    with pytest.raises(NoLLMError, match="guard"):
        memory.open()


# --- configuration and registration ---------------------------------------------------


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"min_set": 12, "window": 10}, "min_set"),
        ({"threshold": 0.2, "divergence": 0.3}, "divergence"),
    ],
)
def test_inconsistent_settings_are_config_errors(
    tmp_path: Path, registry: Registry, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build(tmp_path, registry, "memory", {"type": "guard", **fields})


def test_guard_is_a_registered_refiner_needing_vector_search_only_for_lessons(
    registry: Registry,
) -> None:
    from evolvelab.stages import VectorSearch

    entry = registry.get("retriever", "guard")
    assert entry.cls is GuardRetriever and GuardRetriever.source is False
    config = GuardRetriever.config_model
    assert GuardRetriever.capabilities_needed(config(), registry) == (VectorSearch,)
    assert GuardRetriever.capabilities_needed(config(lessons=False), registry) == ()


# --- the consensus arithmetic, by hand ---------------------------------------------------


def test_claim_vectors_remove_the_query_direction() -> None:
    vectors = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    claims = claim_vectors(vectors, np.array([1.0, 0.0, 0.0]), relative=True)
    assert np.allclose(claims, [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert np.allclose(
        claim_vectors(vectors, np.array([1.0, 0.0, 0.0]), relative=False)[0],
        [0.7071068, 0.7071068, 0],
    )


def test_consensus_is_the_largest_cluster_and_flags_only_clear_divergence() -> None:
    # Claims at 0, 10 and 20 degrees agree pairwise (cos 10° = 0.985, cos 20° = 0.940 >= 0.9):
    # 3 of 5 is a consensus. The 60° claim's best agreement is cos 40° = 0.766, the 90°
    # claim's cos 70° = 0.342: with divergence 0.4 only the 90° claim is flagged, the 60°
    # one is undecided and kept.
    angles = np.radians([0.0, 10.0, 20.0, 60.0, 90.0])
    claims = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    consensus = find_consensus(claims, threshold=0.9, quorum=0.5, divergence=0.4)
    assert consensus is not None
    assert consensus.members == (0, 1, 2) and consensus.divergent == (4,)
    assert consensus.support[3] == pytest.approx(np.cos(np.radians(40.0)))
    assert consensus.support[4] == pytest.approx(np.cos(np.radians(70.0)))
    wide = find_consensus(claims, threshold=0.9, quorum=0.5, divergence=0.8)
    assert wide is not None and wide.divergent == (3, 4)
    assert find_consensus(claims, threshold=0.9, quorum=0.5, divergence=0.3) is None


def test_consensus_abstains_without_quorum_or_on_a_tie() -> None:
    x, y = [1.0, 0.0], [0.0, 1.0]
    assert find_consensus(np.array([x, x, y, y]), threshold=0.9, quorum=0.5, divergence=0.1) is None
    assert (
        find_consensus(
            np.array([x, x, y, [-1.0, 0.0], [0.0, -1.0]]), threshold=0.9, quorum=0.5, divergence=0.1
        )
        is None
    )
    assert find_consensus(np.array([x, x, x]), threshold=0.9, quorum=0.5, divergence=0.1) is None


def test_hashing_embedder_is_what_the_scenario_assumes() -> None:
    """Pin the numbers the scenario above relies on, so an embedder change fails here first."""
    embedder = HashingEmbedder(HashingEmbedderConfig(dim=256))
    texts = [e.content for e in EVENTS]
    query = embedder.embed([QUESTION])[0]
    claims = claim_vectors(embedder.embed(texts), query, relative=True)
    consensus = find_consensus(claims, threshold=0.25, quorum=0.5, divergence=0.02)
    assert (
        consensus is not None and consensus.members == (0, 1, 2, 3) and consensus.divergent == (6,)
    )
    assert (
        float(embedder.embed([SIMILAR])[0] @ query)
        >= 0.85
        > float(embedder.embed([UNRELATED])[0] @ query)
    )


# --- the docs page and the reproduction pipeline ------------------------------------------

ROOT = Path(__file__).resolve().parents[3]


def test_docs_page_pipeline_examples_validate(registry: Registry) -> None:
    import re

    from evolvelab.loader import parse_yaml, validate_pipeline

    page = (ROOT / "docs" / "modules" / "amemguard.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.S) if "version: 1" in b]
    assert blocks
    for body in blocks:
        validate_pipeline(parse_yaml(body, file="amemguard.md"), registry)


def test_reproduction_pipeline_runs_without_an_llm(tmp_path: Path, registry: Registry) -> None:
    memory = Memory.from_yaml(
        ROOT / "pipelines" / "amemguard.yaml", registry=registry, data_dir=tmp_path,
        embedder=HashingEmbedder(HashingEmbedderConfig(dim=64)),
    )  # fmt: skip
    with memory:
        memory.add(EVENTS, scope=ANA)
        hits = memory.search(QUESTION, k=5, scope=ANA)
    assert [type(r).__name__ for r in memory.retrievers] == ["HybridRetriever", "GuardRetriever"]
    assert 0 < len(hits) <= 5
