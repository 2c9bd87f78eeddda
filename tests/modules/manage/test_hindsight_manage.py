"""Hindsight's managers: opinion confidence updates and entity observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evolvelab import Event, Memory, Scope
from evolvelab.modules.manage._opinions import (
    StanceVerdict,
    StanceVerdicts,
    polarity,
    rule_stance,
    updated,
)
from evolvelab.modules.manage.entity_observe import Observation
from evolvelab.testing import FakeLLM
from evolvelab.types import Note, Where

ANA = Scope(user_id="ana")
T0 = datetime(2023, 5, 1, 10, 0, tzinfo=UTC)


def event(i: int, text: str, speaker: str = "Ana") -> Event:
    return Event(id=f"e{i}", content=text, speaker=speaker, session_id="s1",
                 timestamp=T0 + timedelta(hours=i))  # fmt: skip


def memory(llm: FakeLLM | None = None, **manage: Any) -> Memory:
    spec = {"version": 1, "name": "hs-manage-test", "embedder": {"type": "hashing", "dim": 128},
            "encode": [{"type": "hindsight_retain", "speaker": False, "use_llm": False}],
            "store": {"type": "memory"}, "retrieve": [{"type": "bm25"}],
            "manage": [manage]}  # fmt: skip
    return Memory.from_dict(spec, **({"llm": llm} if llm else {})).open()


def notes(mem: Memory, kind: str, **where: Any) -> list[Note]:
    return list(mem.store.scan(ANA, Where(kind=[kind], **where)))  # type: ignore[attr-defined]


def test_confidence_moves_by_a_share_of_the_distance() -> None:
    assert updated(0.6, "support", 0.5) == pytest.approx(0.8)
    assert updated(0.6, "contradict", 0.5) == pytest.approx(0.3)
    assert updated(0.6, "unrelated", 0.5) == 0.6


def test_polarity_and_stance_rule() -> None:
    assert polarity("I love the Porto bridge") == 1
    assert polarity("I hate the Porto bridge") == -1
    assert polarity("The Porto bridge is not great") == -1
    opinion = Note(id="o", content="I think the Porto bridge is great", keywords=["porto"])
    agree = Note(id="a", content="The Porto bridge is great at night", keywords=["porto"])
    disagree = Note(id="d", content="The Porto bridge is not great at all", keywords=["porto"])
    other = Note(id="x", content="Porto has good wine", keywords=["porto"])
    elsewhere = Note(id="y", content="The Lisbon bridge is great", keywords=["lisbon"])
    assert rule_stance(opinion, agree, min_overlap=0.5) == "support"
    assert rule_stance(opinion, disagree, min_overlap=0.5) == "contradict"
    assert rule_stance(opinion, other, min_overlap=0.5) == "unrelated"  # too few shared words
    assert rule_stance(opinion, elsewhere, min_overlap=0.5) == "unrelated"  # no shared entity


def test_offline_evidence_reinforces_and_weakens_opinions() -> None:
    with memory(type="opinion_update", rate=0.5, close_below=0.2) as mem:
        mem.add([event(0, "I think the Porto bridge is great.")], scope=ANA)
        [opinion] = notes(mem, "opinion")
        assert opinion.metadata["confidence"] == 0.6
        mem.add([event(1, "Ben says the Porto bridge is great at night.")], scope=ANA)
        report = mem.manage(ANA)[0]
        [supported] = notes(mem, "opinion")
        assert report.updated == 1 and supported.metadata["confidence"] == pytest.approx(0.8)
        assert supported.metadata["supported"] == 1
        # reviewed evidence is not counted again
        assert mem.manage(ANA)[0].updated == 0
        mem.add([event(2, "The Porto bridge is not great, it is rusty."),
                 event(3, "Honestly the Porto bridge is not great.")], scope=ANA)  # fmt: skip
        report = mem.manage(ANA)[0]
        [weakened] = notes(mem, "opinion", include_invalid=True)
    # two contradictions at rate 0.5: 0.8 -> 0.4 -> 0.2; below 0.2? no: exactly 0.2 stays open
    assert weakened.metadata["confidence"] == pytest.approx(0.2)
    assert weakened.metadata["contradicted"] == 2 and weakened.invalid_at is None
    assert report.closed == 0


def test_an_opinion_below_the_floor_is_closed_not_deleted() -> None:
    with memory(type="opinion_update", rate=0.9, close_below=0.3) as mem:
        mem.add([event(0, "I think the Porto bridge is great.")], scope=ANA)
        mem.add([event(1, "The Porto bridge is not great.")], scope=ANA)
        report = mem.manage(ANA)[0]
        assert notes(mem, "opinion") == []
        [closed] = notes(mem, "opinion", include_invalid=True)
    assert report.closed == 1 and closed.invalid_at is not None
    assert closed.metadata["confidence"] == pytest.approx(0.06)


def test_the_llm_judges_stance() -> None:
    llm = FakeLLM().queue(StanceVerdicts(verdicts=[StanceVerdict(label="E1", stance="contradict"),
                                                   StanceVerdict(label="E5", stance="support")]))  # fmt: skip
    with memory(llm=llm, type="opinion_update", rate=0.5) as mem:
        mem.add([event(0, "I think jazz is overrated.")], scope=ANA)
        mem.add([event(1, "Ben played a jazz record all evening and Ana danced.")], scope=ANA)
        mem.manage(ANA)
        [opinion] = notes(mem, "opinion")
    llm.assert_empty()
    assert "Opinion: I think jazz is overrated." in llm.calls[0][0][-1]["content"]
    assert opinion.metadata["confidence"] == pytest.approx(0.3)  # E5 does not exist


def test_observations_summarise_often_named_entities() -> None:
    texts = [
        "Ben moved to Porto.",
        "Porto is sunny.",
        "We love Porto food.",
        "Lisbon is far.",
        "Porto again!",
    ]
    with memory(type="entity_observe", min_mentions=3, statements=2) as mem:
        mem.add([event(i, t) for i, t in enumerate(texts)], scope=ANA)
        report = mem.manage(ANA)[0]
        [porto] = notes(mem, "observation")
        again = mem.manage(ANA)[0]
    assert report.added == 1 and again.added == again.updated == 0
    assert (
        porto.content == "porto: We love Porto food. | Porto again!"
    )  # the 2 most recent, oldest first
    assert porto.source_ids == ["e2", "e4"] and porto.metadata["mentions"] == 4
    assert porto.keywords == ["porto"]  # "ana" (the speaker) is left out


def test_observations_with_an_llm() -> None:
    llm = FakeLLM().always(Observation, Observation(summary="A sunny city Ben moved to."))
    texts = ["Ben moved to Porto.", "Porto is sunny.", "Porto food."]
    with memory(llm=llm, type="entity_observe", min_mentions=3) as mem:
        mem.add([event(i, t) for i, t in enumerate(texts)], scope=ANA)
        mem.manage(ANA)
        [porto] = notes(mem, "observation")
    assert (
        porto.content == "porto: A sunny city Ben moved to." and porto.metadata["summary"] == "llm"
    )
    assert "Entity: porto" in llm.calls[0][0][-1]["content"]
