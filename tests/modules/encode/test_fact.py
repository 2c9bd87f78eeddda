"""``type: fact``: the sentence rule, the LLM request and its answers, stable ids, provenance."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evolvelab import Event, Memory, Scope
from evolvelab.modules.encode.fact import ExtractedFact, ExtractedFacts, facts_from_text
from evolvelab.registry import Registry
from evolvelab.testing import FakeLLM

PIPELINE = """\
version: 1
name: facts
embedder: {type: hashing, dim: 256}
encode:
  - {type: fact%(options)s}
store: {type: memory}
retrieve:
  - {type: vector, k: 10}
"""

ANA = Scope(user_id="ana")
T1 = datetime(2023, 1, 14, 10, 0, tzinfo=UTC)
T2 = datetime(2023, 1, 14, 10, 5, tzinfo=UTC)


def memory(registry: Registry, llm: FakeLLM | None = None, **options: object) -> Memory:
    text = "".join(f", {key}: {str(value).lower()}" for key, value in options.items())
    extra = {"llm": llm} if llm is not None else {}
    return Memory.from_text(PIPELINE % {"options": text}, registry=registry, **extra)


@pytest.mark.parametrize(
    "text,facts",
    [
        ("I moved to Porto last week. Isn't that mad?", ["Ana moved to Porto last week."]),
        ("I'm a pharmacist, so December is busy.", ["Ana is a pharmacist, so December is busy."]),
        (
            "I've also finally started cello lessons.",
            ["Ana has also finally started cello lessons."],
        ),
        (
            "I really love rooibos, my sister hates it.",
            ["Ana really loves rooibos, their sister hates it."],
        ),
        (
            "I don't think I'm going back to the choir.",
            ["Ana doesn't think they are going back to the choir."],
        ),
        (
            "We moved into our new flat in Bristol.",
            ["Ana and others moved into their new flat in Bristol."],
        ),
        ("Biscuit and Pepper called a truce. So good.", ["Biscuit and Pepper called a truce."]),
        ("Hi! How are you?", []),
    ],
)
def test_the_sentence_rule(text: str, facts: list[str]) -> None:
    assert [fact for fact, _ in facts_from_text(text, "Ana")] == facts


def test_first_person_only_and_min_words() -> None:
    text = "Biscuit and Pepper called a truce. I bought a kiln."
    assert facts_from_text(text, "Ana", first_person_only=True) == [("Ana bought a kiln.", True)]
    assert facts_from_text(text, "Ana", min_words=3) == [
        ("Biscuit and Pepper called a truce.", False)
    ]


def test_rule_notes_carry_sources_time_and_stable_ids(registry: Registry) -> None:
    event = Event(id="e1", content="I moved to Porto. I adopted a dog called Rex.", speaker="Ana",
                  timestamp=T1, session_id="s1")  # fmt: skip
    with memory(registry) as first:
        notes = first.add([event], scope=ANA)
    with memory(registry) as second:
        again = second.add([event], scope=ANA)
    assert [n.content for n in notes] == ["Ana moved to Porto.", "Ana adopted a dog called Rex."]
    assert all(n.kind == "fact" and n.source_ids == ["e1"] for n in notes)
    assert all(
        n.valid_from == T1 and n.scope == Scope(user_id="ana", session_id="s1") for n in notes
    )
    assert notes[0].metadata == {"speaker": "Ana", "subject": "Ana"}
    assert [n.id for n in notes] == [n.id for n in again] and notes[0].id != notes[1].id


def test_facts_already_stored_are_not_emitted_again(registry: Registry) -> None:
    event = Event(id="e1", content="I moved to Porto last spring.", speaker="Ana", timestamp=T1)
    with memory(registry) as mem:
        assert len(mem.add([event], scope=ANA)) == 1
        assert mem.add([event], scope=ANA) == []
        assert mem.count(ANA) == 1


def echo_facts(messages: list[dict[str, str]], model: type) -> ExtractedFacts:
    """Answer like an LLM that turns every message line into one fact."""
    facts = []
    for line in messages[-1]["content"].split("Messages:\n", 1)[1].splitlines():
        event_id, rest = line[1:].split("] ", 1)
        facts.append(ExtractedFact(text=rest.split(": ", 1)[1], source_ids=[event_id]))
    return ExtractedFacts(facts=facts)


def test_llm_request_lists_the_events_by_id(registry: Registry) -> None:
    llm = FakeLLM().queue(ExtractedFacts(facts=[
        ExtractedFact(text="Ana moved from Leeds to Porto.", source_ids=["e1", "e2"]),
        ExtractedFact(text="Ana has a dog.", source_ids=["e9"]),
        ExtractedFact(text="  ", source_ids=["e1"]),
    ]))  # fmt: skip
    events = [
        Event(id="e1", content="I lived in Leeds.", speaker="Ana", timestamp=T1, session_id="s1"),
        Event(id="e2", content="Now it's Porto!", speaker="Ana", timestamp=T2, session_id="s2"),
    ]
    with memory(registry, llm) as mem:
        notes = mem.add(events, scope=ANA)
    [(messages, model)] = llm.calls
    assert model is ExtractedFacts and len(messages) == 1
    assert messages[0]["content"].endswith(
        "Messages:\n[e1] 2023-01-14 Ana: I lived in Leeds.\n[e2] 2023-01-14 Ana: Now it's Porto!"
    )
    note, unsourced = notes
    assert note.content == "Ana moved from Leeds to Porto." and note.source_ids == ["e1", "e2"]
    assert note.valid_from == T2 and note.scope.session_id == "s2"
    # an unknown source id ties the fact to every event of its request; the empty fact is
    # dropped and counted, not lost silently
    assert unsourced.content == "Ana has a dog." and unsourced.source_ids == ["e1", "e2"]
    assert unsourced.metadata["sources"] == "request" and "sources" not in note.metadata
    assert [(d.stage, d.reason, d.count) for d in notes.dropped] == [
        ("encode[0] (fact)", "LLM fact with empty text", 1)
    ]
    llm.assert_empty()


def test_llm_requests_per_chunk_and_per_event(registry: Registry) -> None:
    events = [Event(id=f"e{i}", content=f"Fact number {i} about hiking.", speaker="Ana")
              for i in range(5)]  # fmt: skip
    chunked = FakeLLM().always(ExtractedFacts, echo_facts)
    with memory(registry, chunked, chunk=2) as mem:
        notes = mem.add(events, scope=ANA)
    assert len(chunked.calls) == 3 and [n.source_ids for n in notes] == [
        [f"e{i}"] for i in range(5)
    ]
    single = FakeLLM().always(ExtractedFacts, echo_facts)
    with memory(registry, single, per="event") as mem:
        mem.add(events, scope=ANA)
    assert len(single.calls) == 5
