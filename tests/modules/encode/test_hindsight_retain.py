"""Hindsight's retain: networks, entities and links, offline and through the LLM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evolvelab import Event, Memory, Scope
from evolvelab.modules.encode._entities import (
    PhraseCounter,
    entities,
    noun_phrases,
    opinion_confidence,
)
from evolvelab.modules.encode.hindsight_retain import RetainedFact, RetainResult
from evolvelab.testing import FakeLLM
from evolvelab.types import Note, Where

ANA = Scope(user_id="ana")
T0 = datetime(2023, 5, 8, 10, 0, tzinfo=UTC)


def event(i: int, speaker: str, text: str, session: str = "s1", kind: str = "turn") -> Event:
    return Event(id=f"e{i}", content=text, speaker=speaker, session_id=session, kind=kind,
                 timestamp=T0 + timedelta(minutes=i))  # fmt: skip


def memory(llm: FakeLLM | None = None, **retain: Any) -> Memory:
    spec = {"version": 1, "name": "retain-test", "embedder": {"type": "hashing", "dim": 128},
            "encode": [{"type": "hindsight_retain", **retain}], "store": {"type": "memory"},
            "retrieve": [{"type": "bm25"}]}  # fmt: skip
    return Memory.from_dict(spec, **({"llm": llm} if llm else {})).open()


def stored(mem: Memory) -> list[Note]:
    notes = mem.store.scan(ANA, Where(kind=["world", "experience", "opinion"]))  # type: ignore[attr-defined]
    return sorted(notes, key=lambda n: n.event_time)


def test_entities_from_capitals_quotes_and_repeated_phrases() -> None:
    assert entities('Caroline joined the LGBTQ support group. I read "Charlotte\'s Web".') == [
        "caroline", "lgbtq", "charlotte's web",
    ]  # fmt: skip
    # a capitalised common word opening a sentence is not a name; a title-cased span is one
    assert entities("Yesterday I went to New York with Jon.") == ["new york", "jon"]
    assert entities("The Bank of America is here.") == ["bank of america"]
    # a noun phrase counts only once the memory repeats it
    assert "support group" in entities("the support group met", ["support group"])
    assert noun_phrases("the support group met again") == [
        "support group",
        "group met",
    ]  # "again": stop word
    counter = PhraseCounter(min_repeats=2)
    counter.add("the support group")
    assert counter.repeated() == set()
    counter.add("a support group too")
    assert counter.repeated() == {"support group"}
    assert counter.repeated_in("our support group met") == ["support group"]


def test_opinion_confidence_reads_belief_markers_and_hedges() -> None:
    assert opinion_confidence("I think the lake is too cold.", 0.6) == 0.6
    assert opinion_confidence("Maybe I like jazz.", 0.6) == 0.45
    assert opinion_confidence("I'm sure I love this town, definitely.", 0.6) == 0.75
    assert opinion_confidence("I went to the lake.", 0.6) is None


def test_offline_retain_sorts_events_into_networks() -> None:
    events = [
        event(1, "Ana", "I went to Lisbon with Ben."),
        event(2, "assistant", "I booked the Lisbon hotel for you."),
        event(3, "Ana", "I think Lisbon is the best city."),
        event(4, "tool", "search results", kind="tool"),
    ]
    with memory() as mem:
        mem.add(events, scope=ANA)
        notes = stored(mem)
    assert [n.kind for n in notes] == ["world", "experience", "opinion", "experience"]
    assert notes[2].metadata["confidence"] == 0.6 and "confidence" not in notes[0].metadata
    assert notes[0].content == "Ana: I went to Lisbon with Ben."
    assert notes[0].metadata["entities"] == "ana|lisbon|ben" and notes[0].keywords == [
        "ana",
        "lisbon",
        "ben",
    ]
    assert all(n.metadata["encoder"] == "hindsight_retain" for n in notes)
    assert [n.source_ids for n in notes] == [["e1"], ["e2"], ["e3"], ["e4"]]


def test_links_by_entity_time_and_cause() -> None:
    events = [
        event(1, "Ana", "Ben moved to Porto."),
        event(2, "Ana", "I stayed home because it rained."),
        event(3, "Ana", "Ben likes Porto a lot.", session="s2"),
    ]
    with memory(entity_links=2, speaker=False) as mem:
        written = mem.add(events, scope=ANA)
    first, second, third = written
    links = {(link.kind, link.target) for link in second.links}
    assert ("temporal", first.id) in links and ("causal", first.id) in links
    assert {(link.kind, link.target) for link in third.links} >= {("entity", first.id)}
    # a new session starts without a temporal link
    assert not any(link.kind == "temporal" for link in third.links)
    assert first.links == []  # the first note has nothing earlier to point back to


@pytest.mark.slow
def test_reopening_links_to_notes_stored_before(tmp_path: Any) -> None:
    spec = {"version": 1, "name": "retain-reopen", "embedder": {"type": "hashing", "dim": 64},
            "encode": [{"type": "hindsight_retain"}], "store": {"type": "lancedb"},
            "retrieve": [{"type": "bm25"}]}  # fmt: skip
    with Memory.from_dict(spec, data_dir=tmp_path) as mem:
        [old] = mem.add([event(1, "Ana", "Ben moved to Porto.")], scope=ANA)
    with Memory.from_dict(spec, data_dir=tmp_path) as mem:
        [new] = mem.add([event(2, "Ana", "Porto is sunny.")], scope=ANA)
    assert ("entity", old.id) in {(link.kind, link.target) for link in new.links}
    assert ("temporal", old.id) in {(link.kind, link.target) for link in new.links}


def test_context_indexes_earlier_notes_of_the_session() -> None:
    with memory(context=1) as mem:
        first, second = mem.add(
            [event(1, "Ana", "Do you swim?"), event(2, "Ben", "Every day.")], scope=ANA
        )
    assert first.index_text is None
    assert second.index_text == "Ana: Do you swim? Ben: Every day."
    assert second.content == "Ben: Every day."


def test_llm_retain_writes_extracted_facts() -> None:
    llm = FakeLLM().queue(RetainResult(facts=[
        RetainedFact(statement="Ana moved to Porto in May 2023.", network="world",
                     entities=["Ana", "Porto"], sources=["E1"]),
        RetainedFact(statement="Ana believes Porto is sunnier than Lisbon.", network="opinion",
                     confidence=0.8, entities=["Ana", "Porto", "Lisbon"], sources=["E2", "E9"],
                     caused_by=[0]),
    ]))  # fmt: skip
    with memory(llm=llm) as mem:
        written = mem.add([event(1, "Ana", "I moved to Porto!"), event(2, "Ana", "It's sunnier than Lisbon.")],
                          scope=ANA)  # fmt: skip
    llm.assert_empty()
    assert "[E1] (2023-05-08) Ana: I moved to Porto!" in llm.calls[0][0][-1]["content"]
    moved, belief = written
    assert (moved.kind, moved.source_ids, moved.keywords) == ("world", ["e1"], ["ana", "porto"])
    assert belief.kind == "opinion" and belief.metadata["confidence"] == 0.8
    assert belief.source_ids == ["e2"]  # unknown label E9 is ignored
    assert ("causal", moved.id) in {(link.kind, link.target) for link in belief.links}
    assert ("entity", moved.id) in {(link.kind, link.target) for link in belief.links}
