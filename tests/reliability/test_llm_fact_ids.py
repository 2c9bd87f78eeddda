"""The fact encoder keeps what the LLM found, whatever form its source ids take.

Models copy ids loosely: with brackets, in another case, with spaces, several in one
string, as numbers, or ids the request never contained. Every fact with text becomes a
note; only a fact without text is dropped, and the add's report counts it.
"""

from __future__ import annotations

from typing import Any

import pytest

from evolvelab import AddResult, Event, Memory, Scope
from evolvelab.modules.encode.fact import (
    EMPTY_FACT,
    ExtractedFact,
    ExtractedFacts,
    resolve_source_ids,
)
from evolvelab.registry import Registry
from evolvelab.testing import FakeLLM

PIPELINE = """\
version: 1
name: fact-ids
embedder: {type: hashing, dim: 64}
encode:
  - {type: fact}
store: {type: memory}
retrieve:
  - {type: vector, k: 10}
"""

ANA = Scope(user_id="ana")
EVENTS = [
    Event(id="e0", content="I moved to Porto.", speaker="Ana"),
    Event(id="e1", content="I adopted a dog called Rex.", speaker="Ana"),
    Event(id="D1:3", content="Rex hates the rain.", speaker="Ana"),
]


def add_with(registry: Registry, answer: ExtractedFacts) -> AddResult:
    llm = FakeLLM().queue(answer)
    with Memory.from_text(PIPELINE, registry=registry, llm=llm) as memory:
        result = memory.add(EVENTS, scope=ANA)
        assert memory.count(ANA) == len(result)
    llm.assert_empty()
    return result


@pytest.mark.parametrize(
    "written,sources",
    [
        (["e0"], ["e0"]),
        (["[e0]"], ["e0"]),
        (["E0"], ["e0"]),
        ([" e0 "], ["e0"]),
        (["[ E1 ]"], ["e1"]),
        (["'e1'"], ["e1"]),
        (["e0, e1"], ["e0", "e1"]),
        (["[e0][e1]"], ["e0", "e1"]),
        (["e0 and e1"], ["e0", "e1"]),
        (["id: e1"], ["e1"]),
        (["[D1:3]"], ["D1:3"]),
        (["d1 : 3"], ["D1:3"]),
        (["e0", "e9"], ["e0"]),
        (["e9", "E1", "e0", "e1"], ["e1", "e0"]),
    ],
)
def test_source_ids_in_the_forms_models_write(
    registry: Registry, written: list[str], sources: list[str]
) -> None:
    """Fact source ids written loosely by a model resolve to the request's events."""
    result = add_with(registry, ExtractedFacts(facts=[ExtractedFact(text="Ana has a dog.", source_ids=written)]))
    [note] = result
    assert note.source_ids == sources
    assert "sources" not in note.metadata and result.dropped == []


@pytest.mark.parametrize("written", [["e9"], [], ["message 7"], ["E"]])
def test_a_fact_whose_ids_resolve_to_nothing_is_kept_for_its_whole_request(
    registry: Registry, written: list[str]
) -> None:
    """A fact with unknown or missing source ids is tied to every event of its request."""
    result = add_with(registry, ExtractedFacts(facts=[ExtractedFact(text="Ana lives in Porto.", source_ids=written)]))
    [note] = result
    assert note.content == "Ana lives in Porto."
    assert note.source_ids == ["e0", "e1", "D1:3"]
    assert note.metadata["sources"] == "request"
    assert result.dropped == []


def test_ids_as_numbers_a_single_string_or_null_validate() -> None:
    """The answer schema takes the id shapes models produce besides a list of strings."""
    raw: list[dict[str, Any]] = [
        {"text": "a", "source_ids": [0, 1]},
        {"text": "b", "source_ids": "e0"},
        {"text": "c", "source_ids": None},
    ]
    facts = ExtractedFacts.model_validate({"facts": raw}).facts
    assert [f.source_ids for f in facts] == [["0", "1"], ["e0"], []]


def test_only_facts_without_text_are_dropped_and_they_are_counted(registry: Registry) -> None:
    """Empty facts are the only loss, and the add's report says how many and why."""
    answer = ExtractedFacts(facts=[
        ExtractedFact(text="Ana moved to Porto.", source_ids=["[e0]"]),
        ExtractedFact(text="   ", source_ids=["e1"]),
        ExtractedFact(text="", source_ids=[]),
        ExtractedFact(text="Rex hates rain.", source_ids=["e9", "D1:3"]),
    ])  # fmt: skip
    result = add_with(registry, answer)
    assert isinstance(result, AddResult) and isinstance(result, list)
    assert [n.content for n in result] == ["Ana moved to Porto.", "Rex hates rain."]
    assert [n.source_ids for n in result] == [["e0"], ["D1:3"]]
    assert result.dropped_count == 2
    [dropped] = result.dropped
    assert (dropped.stage, dropped.reason, dropped.count) == ("encode[0] (fact)", EMPTY_FACT, 2)
    assert result.summary() == (
        "2 notes written; 2 dropped (encode[0] (fact) dropped 2: LLM fact with empty text)"
    )


def test_ambiguous_loose_forms_resolve_to_neither() -> None:
    """When two ids differ only in case, a loosely written one picks neither."""
    assert resolve_source_ids(["e0"], ["E0", "e0"]) == (["e0"], 0)
    assert resolve_source_ids(["[e0]"], ["E0", "e0"]) == ([], 1)


def test_a_chunked_request_ties_unresolved_facts_to_its_own_chunk(registry: Registry) -> None:
    """With several requests, an unresolvable fact is tied to its own request's events only."""
    events = [Event(id=f"e{i}", content=f"Fact {i} about hiking.", speaker="Ana") for i in range(4)]

    def answer(messages: list[dict[str, str]], model: type) -> ExtractedFacts:
        first = messages[-1]["content"].split("Messages:\n[", 1)[1].split("]", 1)[0]
        return ExtractedFacts(facts=[ExtractedFact(text=f"Fact after {first}.", source_ids=["??"])])

    llm: FakeLLM = FakeLLM().always(ExtractedFacts, answer)
    text = PIPELINE.replace("{type: fact}", "{type: fact, chunk: 2}")
    with Memory.from_text(text, registry=registry, llm=llm) as memory:
        result = memory.add(events, scope=ANA)
    assert [n.source_ids for n in result] == [["e0", "e1"], ["e2", "e3"]]

