"""The ``decay`` manager: what it needs from the store, when it runs, which clock it uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evolvelab import ConfigError, Event, Memory, Outcome, Scope
from evolvelab.modules.store.layered_decay import ImportanceRating, ImportanceRatings
from evolvelab.registry import Registry
from evolvelab.testing import FakeLLM
from evolvelab.types import Where

ANA, BEN = Scope(user_id="ana"), Scope(user_id="ben")
T0 = datetime(2023, 3, 1, 9, 0, tzinfo=UTC)


def pipeline(
    tmp_path: Path, registry: Registry, store: dict[str, Any], manager: dict[str, Any], **kw: Any
) -> Memory:
    spec = {
        "version": 1,
        "name": "decay-test",
        "embedder": {"type": "hashing", "dim": 64},
        "encode": [{"type": "turn", "speaker": False}],
        "store": {"type": "layered_decay", "path": str(tmp_path / "notes"), **store},
        "retrieve": [{"type": "vector", "k": 10}],
        "manage": [{"type": "decay", **manager}],
    }
    return Memory.from_dict(spec, registry=registry, data_dir=tmp_path / "data", **kw)


def event(id: str, text: str, days: float) -> Event:
    return Event(id=id, content=text, timestamp=T0 + timedelta(days=days))


def ids(memory: Memory, scope: Scope) -> set[str]:
    notes = memory.store.scan(scope, Where())  # type: ignore[attr-defined]
    return {n.source_ids[0] for n in notes}


def test_decay_over_a_store_that_cannot_decay_is_refused(registry: Registry) -> None:
    text = """\
version: 1
name: no-decay
embedder: {type: hashing, dim: 64}
encode: [{type: turn}]
store: {type: lancedb}
retrieve: [{type: vector}]
manage:
  - {type: decay, every: 1}
"""
    with pytest.raises(ConfigError) as err:
        Memory.from_text(text, registry=registry)
    message = str(err.value)
    assert "manager 'decay' needs decaying, which no store here offers" in message
    assert "stores with decaying: layered_decay" in message
    assert "layered_decay" in message


def test_every_add_runs_a_step_on_the_pipeline_clock(tmp_path: Path, registry: Registry) -> None:
    with pipeline(tmp_path, registry, {"mode": "finmem"}, {"every": 1}) as memory:
        memory.add([event("d0", "we adopted a cat", 0)], scope=ANA)
        memory.add([event("d8", "the cat likes tuna", 8)], scope=ANA)
        assert ids(memory, ANA) == {"d0", "d8"}  # exp(-8/3) = 0.069 >= 0.05
        memory.add([event("d9", "the cat sleeps a lot", 9.5)], scope=ANA)
        assert ids(memory, ANA) == {"d8", "d9"}  # exp(-9.5/3) = 0.042 < 0.05: d0 is deleted


def test_manage_reports_what_the_step_did(tmp_path: Path, registry: Registry) -> None:
    with pipeline(tmp_path, registry, {"mode": "finmem"}, {}) as memory:
        memory.add([event("a", "alpha", 0), event("b", "bravo", 0)], scope=ANA)
        memory.add([event("c", "charlie", 10)], scope=ANA.narrowed("s2"))
        [report] = memory.manage(ANA.narrowed("s2"))  # the owner's every session decays
    assert (report.stage, report.deleted, report.updated) == ("decay", 2, 0)
    assert report.detail["deleted_recency"] == 2
    assert report.detail["layers"] == {"short": 1, "mid": 0, "long": 0, "reflection": 0}


@pytest.mark.parametrize(("clock", "kept"), [("pipeline", {"b1"}), ("scope", {"b1"})])
def test_one_owners_replay_never_ages_another(
    tmp_path: Path, registry: Registry, clock: str, kept: set[str]
) -> None:
    with pipeline(tmp_path, registry, {"mode": "finmem"}, {"every": 1, "clock": clock}) as memory:
        memory.add([event("a1", "ana in autumn", 200)], scope=ANA)
        memory.add([event("b1", "ben in spring", 0)], scope=BEN)  # ben's clock is at day 0
        assert ids(memory, BEN) == kept
        assert ids(memory, ANA) == {"a1"}


def test_feedback_raises_importance_of_the_used_notes(tmp_path: Path, registry: Registry) -> None:
    with pipeline(tmp_path, registry, {"mode": "finmem"}, {}) as memory:
        [note] = memory.add([event("a", "the cat is called Miso", 0)], scope=ANA)
        memory.feedback(Outcome(success=True, scope=ANA, at=T0), [note.id])
        memory.feedback(Outcome(success=True, scope=ANA, at=T0), [note.id])
        [after] = memory.store.get([note.id], ANA)
    assert (after.importance, after.metadata["decay_credit"], after.success_count) == (65.0, 2, 2)


def test_memorybank_forgets_what_is_not_recalled(tmp_path: Path, registry: Registry) -> None:
    # the store recalls the first recall_k hits it returns (the vector stage asks for 10)
    with pipeline(
        tmp_path, registry, {"mode": "memorybank", "recall_k": 1}, {"every": 1}
    ) as memory:
        memory.add(
            [event("cat", "my cat is called Miso", 0), event("job", "I work as a baker", 0)],
            scope=ANA,
        )
        memory.add([event("d3", "it rained all day", 3)], scope=ANA)
        hits = memory.search("what is my cat called", k=1, scope=ANA)  # recalled at day 3: S = 2
        assert hits[0].note.source_ids == ["cat"]
        memory.add([event("d5", "we went to the beach", 5)], scope=ANA)
        # day 5: job R = exp(-5/5) = 0.37 < 0.5, forgotten; cat R = exp(-2/10) = 0.82
        assert ids(memory, ANA) == {"cat", "d3", "d5"}


def test_llm_rates_importance_through_the_pipeline(tmp_path: Path, registry: Registry) -> None:
    llm = FakeLLM().queue(ImportanceRatings(ratings=[ImportanceRating(index=1, level="medium")]))
    store = {"mode": "finmem", "importance_from_llm": True}
    with pipeline(tmp_path, registry, store, {"every": 1}, llm=llm) as memory:
        [note] = memory.add([event("a", "I am moving to Lisbon in May", 0)], scope=ANA)
        [after] = memory.store.get([note.id], ANA)
    llm.assert_empty()
    assert (
        len(llm.calls) == 1 and "1. I am moving to Lisbon in May" in llm.calls[0][0][1]["content"]
    )
    # short layer, medium: 70; the step at day 0 promotes it (70 >= 60) to mid
    assert (after.importance, after.layer) == (70.0, "mid")


@pytest.mark.parametrize("name", ["finmem", "memorybank"])
def test_reproduction_pipelines_run_without_an_llm(tmp_path: Path, name: str) -> None:
    from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig

    path = Path(__file__).resolve().parents[3] / "pipelines" / f"{name}.yaml"
    embedder = HashingEmbedder(HashingEmbedderConfig(dim=64))
    with Memory.from_yaml(path, embedder=embedder, data_dir=tmp_path) as memory:
        memory.add([event("old", "my cat is called Miso", 0)], scope=ANA)
        memory.add([event("new", "my dog is called Rex", 30)], scope=ANA)
        hits = memory.search("what is my dog called", k=5, scope=ANA)
    assert [h.note.source_ids for h in hits] == [["new"]]  # the 30-day-old turn was forgotten
