"""``type: experience``: one note per episode (ExpRAG's experience, AgentFly's case)."""

from __future__ import annotations

from pathlib import Path

from evolvelab import Event, Memory, Scope
from evolvelab.modules.encode.experience import experience_id
from evolvelab.registry import Registry

PIPELINE = """\
version: 1
name: exp
embedder: {type: hashing, dim: 64}
encode:
  - {type: experience, index: %s}
store: {type: memory}
retrieve:
  - {type: vector, k: 5}
"""

AGENT = Scope(agent_id="solver")
EPISODE = [
    Event(id="T1", content="heat the mug", kind="task", session_id="T1"),
    Event(id="T1:1", content="open the microwave", kind="action", session_id="T1"),
    Event(id="T1:2", content="the mug is hot", kind="observation", session_id="T1"),
    Event(id="T1:end", content="success", kind="outcome", session_id="T1", metadata={"success": True}),
]


def memory(tmp_path: Path, registry: Registry, index: str = "episode") -> Memory:
    return Memory.from_text(PIPELINE % index, registry=registry, data_dir=tmp_path)


def test_an_episode_becomes_one_note_with_task_steps_and_outcome(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry) as mem:
        [note] = mem.add(EPISODE, scope=AGENT)
    assert note.id == experience_id(AGENT, "T1") and note.kind == "experience"
    assert note.content == ("Task: heat the mug\n[action] open the microwave\n"
                            "[observation] the mug is hot\nOutcome: success")  # fmt: skip
    assert note.source_ids == ["T1", "T1:1", "T1:2", "T1:end"]
    assert note.metadata["success"] is True and note.metadata["reward"] == 1.0
    assert note.index_text is None


def test_index_task_makes_searches_read_the_state_only(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry, "task") as mem:
        [note] = mem.add(EPISODE, scope=AGENT)
    assert note.index_text == "heat the mug" and note.search_text == "heat the mug"


def test_an_episode_split_over_adds_is_extended_not_duplicated(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry) as mem:
        mem.add(EPISODE[:2], scope=AGENT)
        [note] = mem.add(EPISODE[2:], scope=AGENT)
        assert mem.count(AGENT) == 1
    assert note.content.splitlines() == ["Task: heat the mug", "[action] open the microwave",
                                         "[observation] the mug is hot", "Outcome: success"]  # fmt: skip
    assert note.source_ids == ["T1", "T1:1", "T1:2", "T1:end"]


def test_events_of_no_episode_are_episodes_of_their_own(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry) as mem:
        notes = mem.add([Event(id="a", content="x"), Event(id="b", content="y")], scope=AGENT)
    assert [n.source_ids for n in notes] == [["a"], ["b"]]
