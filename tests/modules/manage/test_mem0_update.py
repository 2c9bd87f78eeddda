"""``type: mem0_update``: ADD / UPDATE / DELETE / NOOP, closing not erasing, history by date."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from evolvelab import ConfigError, Event, Link, Memory, Note, Scope, Where
from evolvelab.modules.encode.fact import ExtractedFact, ExtractedFacts
from evolvelab.modules.manage.mem0_update import UpdateDecision
from evolvelab.registry import Registry
from evolvelab.testing import FakeLLM, HashingEmbedder, HashingEmbedderConfig

PIPELINE = """\
version: 1
name: updates
embedder: {type: hashing, dim: 256}
encode:
  - {type: fact}
store: %(store)s
retrieve:
  - {type: vector, k: 10}
manage:
  - {type: mem0_update, every: %(every)s}
"""

ANA = Scope(user_id="ana")
JAN, MAR, JUN = (datetime(2023, m, d, tzinfo=UTC) for m, d in ((1, 14), (3, 1), (6, 13)))
LEEDS = Event(id="e1", content="I live in a flat in Leeds.", speaker="Ana", timestamp=JAN)
BRISTOL = Event(id="e2", content="I live in a flat in Bristol now.", speaker="Ana", timestamp=JUN)
CELLO = Event(id="e3", content="I play the cello in an orchestra.", speaker="Ana", timestamp=JAN)
NO_CELLO = Event(id="e4", content="I no longer play the cello in an orchestra.", speaker="Ana",
                 timestamp=JUN)  # fmt: skip
CAT = Event(id="e5", content="My cat Pepper sleeps on the radiator.", speaker="Ana", timestamp=JAN)
CAT_AGAIN = CAT.model_copy(update={"id": "e6", "timestamp": JUN})
SISTER = Event(
    id="e7", content="My sister Lucia is a nurse in Lisbon.", speaker="Ana", timestamp=JUN
)


@pytest.fixture(params=["memory", "lancedb"])
def store_yaml(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (
        "{type: memory}" if request.param == "memory" else f"{{type: lancedb, path: {tmp_path}/db}}"
    )


def build(
    registry: Registry, store: str = "{type: memory}", every: int = 1, **kw: object
) -> Memory:
    return Memory.from_text(PIPELINE % {"store": store, "every": every}, registry=registry, **kw)


def all_notes(memory: Memory) -> dict[str, Note]:
    """Every note in Ana's scope, closed ones included, by its first source id."""
    notes = memory.store.scan(ANA, Where(include_invalid=True))  # type: ignore[attr-defined]
    return {n.source_ids[0]: n for n in notes}


def contents(memory: Memory, **where: object) -> list[str]:
    return [
        h.note.content for h in memory.search("where Ana lives and plays", scope=ANA, where=where)
    ]


def test_update_closes_the_old_fact_and_history_stays_queryable(
    registry: Registry, store_yaml: str
) -> None:
    with build(registry, store_yaml) as memory:
        memory.add([LEEDS], scope=ANA)
        memory.add([BRISTOL], scope=ANA)
        notes = all_notes(memory)
        old, new = notes["e1"], notes["e2"]
        assert (old.content, new.content) == (
            "Ana lives in a flat in Leeds.",
            "Ana lives in a flat in Bristol now.",
        )
        assert old.invalid_at == JUN and old.version == 2
        assert old.metadata["closed_by"] == "UPDATE" and old.metadata["invalidated_by"] == new.id
        assert new.invalid_at is None and new.version == 2 and new.source_ids == ["e2", "e1"]
        assert new.links == [Link(target=old.id, kind="supersedes")]
        assert new.metadata["supersedes"] == old.id and new.metadata["update_op"] == "UPDATE"
        assert contents(memory) == [new.content]
        assert contents(memory, valid_at=MAR) == [old.content]
        assert sorted(contents(memory, include_invalid=True)) == sorted([old.content, new.content])


def test_delete_closes_the_contradicted_fact(registry: Registry, store_yaml: str) -> None:
    with build(registry, store_yaml) as memory:
        memory.add([CELLO], scope=ANA)
        memory.add([NO_CELLO], scope=ANA)
        notes = all_notes(memory)
        old, new = notes["e3"], notes["e4"]
        assert old.invalid_at == JUN and old.metadata["closed_by"] == "DELETE"
        assert new.invalid_at is None and new.links == [Link(target=old.id, kind="contradicts")]
        assert new.source_ids == ["e4"] and new.metadata["update_op"] == "DELETE"
        assert contents(memory) == ["Ana no longer plays the cello in an orchestra."]
        assert contents(memory, valid_at=MAR) == ["Ana plays the cello in an orchestra."]


def test_noop_merges_sources_into_the_old_fact(registry: Registry, store_yaml: str) -> None:
    with build(registry, store_yaml) as memory:
        memory.add([CAT], scope=ANA)
        memory.add([CAT_AGAIN], scope=ANA)
        [note] = all_notes(memory).values()
        assert note.source_ids == ["e5", "e6"] and note.version == 2 and note.invalid_at is None
        assert memory.count(ANA) == 1


def test_add_keeps_unrelated_facts(registry: Registry, store_yaml: str) -> None:
    with build(registry, store_yaml) as memory:
        memory.add([LEEDS], scope=ANA)
        memory.add([SISTER], scope=ANA)
        notes = all_notes(memory)
        assert all(
            n.invalid_at is None and n.metadata["update_op"] == "ADD" for n in notes.values()
        )
        assert all(n.metadata["update_checked"] is True for n in notes.values())


def test_report_counts_each_operation(registry: Registry) -> None:
    with build(registry, every=0) as memory:
        memory.add([LEEDS, CELLO, CAT], scope=ANA)
        [first] = memory.manage(ANA)
        memory.add([BRISTOL, NO_CELLO, CAT_AGAIN, SISTER], scope=ANA)
        [second] = memory.manage(ANA)
        [third] = memory.manage(ANA)
    assert first.detail == {"ADD": 3, "UPDATE": 0, "DELETE": 0, "NOOP": 0, "invalid": 0, "asked": 0}
    assert second.detail == {
        "ADD": 1,
        "UPDATE": 1,
        "DELETE": 1,
        "NOOP": 1,
        "invalid": 0,
        "asked": 0,
    }
    assert (second.added, second.updated, second.deleted) == (1, 2, 1)
    assert third.detail["ADD"] == 0  # nothing is new any more


def test_decisions_are_durable_across_processes(registry: Registry, tmp_path: Path) -> None:
    store = f"{{type: lancedb, path: {tmp_path}/db}}"
    with build(registry, store, every=0) as memory:
        memory.add([LEEDS], scope=ANA)
        memory.manage(ANA)
    with build(registry, store, every=0) as memory:
        memory.add([BRISTOL], scope=ANA)
        [report] = memory.manage(ANA)
        assert report.detail["UPDATE"] == 1 and report.detail["ADD"] == 0
        memory.add([LEEDS], scope=ANA)  # re-ingesting does not reopen the closed fact
        assert contents(memory) == ["Ana lives in a flat in Bristol now."]


def test_facts_of_one_event_are_not_compared_with_each_other(registry: Registry) -> None:
    twice = Event(id="e9", content="I live in a flat in Leeds. I live in a small flat in Leeds.",
                  speaker="Ana", timestamp=JAN)  # fmt: skip
    with build(registry) as memory:
        memory.add([twice], scope=ANA)
        assert memory.count(ANA) == 2 and len(contents(memory)) == 2


def test_related_must_be_below_duplicate(registry: Registry) -> None:
    text = (PIPELINE % {"store": "{type: memory}", "every": 1}).replace(
        "every: 1}", "every: 1, related: 0.95, duplicate: 0.9}"
    )
    with pytest.raises(ConfigError, match=r"related \(0.95\) must be below duplicate \(0.9\)"):
        Memory.from_text(text, registry=registry)


# ---------------------------------------------------------------- with an LLM


def echo_facts(messages: list[dict[str, str]], model: type) -> ExtractedFacts:
    """Answer like an LLM that turns every message line into one fact, verbatim."""
    facts = []
    for line in messages[-1]["content"].split("Messages:\n", 1)[1].splitlines():
        event_id, rest = line[1:].split("] ", 1)
        facts.append(ExtractedFact(text=rest.split(": ", 1)[1], source_ids=[event_id]))
    return ExtractedFacts(facts=facts)


def with_llm(registry: Registry) -> tuple[Memory, FakeLLM]:
    llm = FakeLLM().always(ExtractedFacts, echo_facts)
    return build(registry, every=0, llm=llm), llm


def test_llm_request_names_candidates_by_stable_id(registry: Registry) -> None:
    memory, llm = with_llm(registry)
    with memory:
        memory.add([LEEDS], scope=ANA)
        memory.manage(ANA)  # no candidates yet: ADD without asking
        assert [model for _, model in llm.calls] == [ExtractedFacts]
        old = all_notes(memory)["e1"]
        memory.add([BRISTOL], scope=ANA)
        llm.queue(UpdateDecision(op="ADD"))  # queued answers go first: queue after encoding
        memory.manage(ANA)
    messages, model = llm.calls[-1]
    assert model is UpdateDecision and len(messages) == 1
    prompt = messages[0]["content"]
    assert prompt.startswith("You maintain a memory of facts.")
    assert prompt.endswith(
        f"Existing memories:\n[{old.id}] (since 2023-01-14) I live in a flat in Leeds.\n\n"
        "New fact (2023-06-13): I live in a flat in Bristol now."
    )
    llm.assert_empty()


@pytest.mark.parametrize(
    "op,text,old_closed,new_content,count",
    [
        ("ADD", None, False, "I live in a flat in Bristol now.", 2),
        ("UPDATE", "Ana moved from Leeds to Bristol.", True, "Ana moved from Leeds to Bristol.", 2),
        ("UPDATE", None, True, "I live in a flat in Bristol now.", 2),
        ("DELETE", None, True, "I live in a flat in Bristol now.", 2),
        ("NOOP", None, False, None, 1),
    ],
)
def test_llm_decision_changes_the_store(
    registry: Registry,
    op: str,
    text: str | None,
    old_closed: bool,
    new_content: str | None,
    count: int,
) -> None:
    memory, llm = with_llm(registry)
    with memory:
        memory.add([LEEDS], scope=ANA)
        memory.manage(ANA)
        old_id = all_notes(memory)["e1"].id
        memory.add([BRISTOL], scope=ANA)
        target = None if op == "ADD" else old_id
        llm.queue(UpdateDecision(op=op, target_id=target, text=text))  # type: ignore[arg-type]
        [report] = memory.manage(ANA)
        notes = {n.id: n for n in all_notes(memory).values()}
        embedded = memory.embedder.embed([new_content or ""])[0]
    assert report.detail[op] == 1 and report.detail["asked"] == 1 and report.detail["invalid"] == 0
    assert (notes[old_id].invalid_at == JUN) is old_closed and len(notes) == count
    if new_content is None:
        assert notes[old_id].source_ids == ["e1", "e2"]
        return
    [new] = [n for n in notes.values() if n.id != old_id]
    assert new.content == new_content and new.invalid_at is None
    assert new.embedding == pytest.approx([float(x) for x in embedded], abs=1e-6)


@pytest.mark.parametrize("target", ["f_not_a_candidate", None])
def test_llm_decision_with_an_unknown_id_is_applied_as_add(
    registry: Registry, target: str | None
) -> None:
    memory, llm = with_llm(registry)
    with memory:
        memory.add([LEEDS], scope=ANA)
        memory.manage(ANA)
        memory.add([BRISTOL], scope=ANA)
        llm.queue(UpdateDecision(op="DELETE", target_id=target))
        [report] = memory.manage(ANA)
        notes = all_notes(memory)
    assert (
        report.detail["invalid"] == 1 and report.detail["ADD"] == 1 and report.detail["DELETE"] == 0
    )
    assert all(n.invalid_at is None for n in notes.values())
    assert notes["e2"].metadata["update_op"] == "ADD"


def test_the_reproduction_pipeline_runs_with_an_llm(registry: Registry, tmp_path: Path) -> None:
    llm = FakeLLM().always(ExtractedFacts, echo_facts)
    llm.always(UpdateDecision, UpdateDecision(op="ADD"))
    pipeline = Path(__file__).resolve().parents[3] / "pipelines" / "mem0.yaml"
    embedder = HashingEmbedder(HashingEmbedderConfig(dim=64))
    with Memory.from_yaml(pipeline, registry=registry, llm=llm, embedder=embedder,
                          data_dir=tmp_path) as memory:  # fmt: skip
        memory.add([LEEDS], scope=ANA)
        memory.add([BRISTOL], scope=ANA)
        assert memory.count(ANA) == 2
    assert [model for _, model in llm.calls] == [ExtractedFacts, ExtractedFacts, UpdateDecision]
