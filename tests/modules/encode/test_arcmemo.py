"""``type: arcmemo`` and its retriever: concepts abstracted from finished episodes."""

from __future__ import annotations

from pathlib import Path

from evolvelab import Event, Memory, Scope
from evolvelab.modules.encode.arcmemo import ConceptDraft, Concepts
from evolvelab.modules.encode.experience import experience_id
from evolvelab.registry import Registry
from evolvelab.testing import FakeLLM

PIPELINE = """\
version: 1
name: arcmemo
embedder: {type: hashing, dim: 128}
llm: {type: none}
encode:
  - {type: experience}
  - {type: arcmemo, abstraction: %s, min_support: 2}
store: {type: memory}
retrieve:
  - {type: arcmemo, k: 5}
"""

AGENT = Scope(agent_id="solver")
HEAT = [("go to the microwave", "heat/microwave"), ("open the microwave", "heat/microwave")]
PLACE = [("open the cabinet", "place/closed"), ("put the mug in the cabinet", "place/closed")]


def episode(task_id: str, goal: str, steps: list[tuple[str, str]], failed_at: str | None = None) -> list[Event]:
    events = [Event(id=task_id, content=goal, kind="task", session_id=task_id)]
    for n, (text, label) in enumerate(steps, start=1):
        events.append(Event(id=f"{task_id}:{n}", content=text, kind="action", session_id=task_id,
                            metadata={"subproblem": label}))  # fmt: skip
    meta: dict[str, str | bool] = {"success": failed_at is None}
    if failed_at:
        meta["failed_at"] = failed_at
    text = "success" if failed_at is None else "failed: the door was closed"
    events.append(Event(id=f"{task_id}:end", content=text, kind="outcome", session_id=task_id, metadata=meta))
    return events


def memory(tmp_path: Path, registry: Registry, abstraction: str = "offline", llm: FakeLLM | None = None) -> Memory:
    return Memory.from_text(PIPELINE % abstraction, registry=registry, data_dir=tmp_path, llm=llm)


def test_a_concept_is_retrievable_once_enough_episodes_support_it(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry) as mem:
        mem.add(episode("T1", "heat the mug and store it", HEAT + PLACE), scope=AGENT)
        assert mem.search("heat a cup", scope=AGENT) == []  # drafts only: one supporting episode
        mem.add(episode("T2", "heat the cup and store it", HEAT + PLACE), scope=AGENT)
        hits = mem.search("heat a cup in the microwave", scope=AGENT)
    assert {h.note.metadata["name"] for h in hits} == {"heat/microwave", "place/closed"}
    heat = next(h.note for h in hits if h.note.metadata["name"] == "heat/microwave")
    assert heat.kind == "concept" and heat.metadata["support"] == 2
    assert heat.content.splitlines() == [
        "Concept: heat/microwave",
        "When it applies: tasks like: heat the mug and store it | heat the cup and store it",
        "Takeaway: go to the microwave; open the microwave",
    ]
    assert heat.source_ids == ["T1:1", "T1:2", "T2:1", "T2:2"]  # the steps, not whole episodes
    assert {(link.target, link.kind) for link in heat.links} == {
        (experience_id(AGENT, "T1"), "derived_from"), (experience_id(AGENT, "T2"), "derived_from")}


def test_a_failure_adds_a_pitfall_cited_by_link_not_as_a_source(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry) as mem:
        mem.add(episode("T1", "heat the mug", HEAT), scope=AGENT)
        mem.add(episode("T2", "heat the cup", HEAT), scope=AGENT)
        mem.add(episode("T3", "heat the bowl", HEAT[:1], failed_at="heat/microwave"), scope=AGENT)
        [hit] = mem.search("heat the bowl", scope=AGENT)
    assert hit.note.content.splitlines()[-1] == "Pitfall: the door was closed"
    assert hit.note.metadata["failures"] == 1 and "T3:1" not in hit.note.source_ids
    assert (experience_id(AGENT, "T3"), "pitfall_from") in {(l.target, l.kind) for l in hit.note.links}


def test_the_llm_path_uses_the_abstraction_prompt_and_merges_by_name(tmp_path: Path, registry: Registry) -> None:
    llm = FakeLLM().queue(
        Concepts(concepts=[ConceptDraft(name="Open before use", situation="a closed appliance",
                                        takeaway="open the door first", steps=[2])]),
        Concepts(concepts=[ConceptDraft(name="open before use", situation="a closed appliance or box",
                                        takeaway="open it, then put the item in", steps=[])]),
    )  # fmt: skip
    with memory(tmp_path, registry, "auto", llm) as mem:
        mem.add(episode("T1", "heat the mug", HEAT), scope=AGENT)
        mem.add(episode("T2", "heat the cup", HEAT), scope=AGENT)
        [hit] = mem.search("a closed box", scope=AGENT)
    llm.assert_empty()
    messages, model = llm.calls[1]
    assert model is Concepts and "Known concepts:\n- Open before use" in messages[-1]["content"]
    assert "Trace:\n1. go to the microwave\n2. open the microwave" in messages[-1]["content"]
    assert hit.note.metadata["support"] == 2
    assert "Takeaway: open it, then put the item in" in hit.note.content
    assert hit.note.source_ids == ["T1:2", "T2:1", "T2:2"]
