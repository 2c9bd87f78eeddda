"""``gmemory_task``: tasks become query notes, steps interaction notes, similar queries get linked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from gmemory_fixtures import ANA, TASKS, qid, task_events

from evolvelab import Event, Memory, Scope
from evolvelab.modules._gmemory_graph import GMemoryError, graph_store, interaction_id

Make = Callable[..., Memory]


def add_task(memory: Memory, key: str, start: int, scope: Scope = ANA, **meta: object) -> None:
    text, steps = TASKS[key]
    memory.add(task_events(key, text, steps, start, **meta), scope=scope)


def similar(memory: Memory, key: str, scope: Scope = ANA) -> dict[str, float]:
    [note] = memory.store.get([qid(key, scope)], scope)
    return {link.target: round(link.weight, 4) for link in note.links if link.kind == "similar"}


def test_a_task_becomes_a_query_note_with_its_trajectory(make_memory: Make) -> None:
    memory = make_memory()
    add_task(memory, "A", 0)
    [query] = memory.store.get([qid("A")], ANA)
    assert (query.kind, query.content, query.source_ids) == ("query", "pack a tent", ["A"])
    assert query.metadata == {"task": "A", "status": "open", "session": "s-A"}
    assert query.scope == ANA  # owner level: no session, so tasks of any session can link
    steps = [interaction_id(ANA, f"A:{i}") for i in (1, 2, 3)]
    assert [x.target for x in query.links if x.kind == "trajectory"] == steps
    notes = memory.store.get(steps, ANA)
    assert [n.content for n in notes] == [
        "agent: fold the tent poles",
        "agent: check the tent pegs",
        "agent: roll the tent",
    ]
    assert {n.kind for n in notes} == {"interaction"} and notes[0].metadata["query_id"] == qid("A")
    walked = graph_store(memory.resources).neighbours(
        [qid("A")], ANA, kinds=["trajectory"], direction="out"
    )
    assert sorted(n.id for n in walked) == sorted(steps)


@pytest.mark.parametrize("one_batch", [False, True], ids=["batch-per-task", "one-batch"])
def test_new_queries_link_to_similar_past_queries(make_memory: Make, one_batch: bool) -> None:
    memory = make_memory()
    if one_batch:
        events = [e for i, k in enumerate("ABDC") for e in task_events(k, *TASKS[k], start=i)]
        memory.add(events, scope=ANA)
    else:
        for i, key in enumerate("ABDC"):
            add_task(memory, key, i)
    assert similar(memory, "A") == {}  # nothing was there before it
    assert similar(memory, "B") == {qid("A"): 0.8}  # cos(A, B) = 0.8
    assert similar(memory, "D") == {qid("B"): 0.8}  # cos(B, D) = 0.8; cos(A, D) = 0.28
    assert similar(memory, "C") == {}


def test_the_similarity_threshold_is_inclusive(make_memory: Make) -> None:
    memory = make_memory(encode={"similarity": 0.7})
    for i, text in enumerate(
        ["pack a tent", "exactly at the threshold", "just below the threshold"]
    ):
        memory.add([Event(id=f"t{i}", content=text, kind="task")], scope=ANA)
    assert similar(memory, "t1") == {qid("t0"): 0.7}
    assert qid("t0") not in similar(memory, "t2")  # 0.69 < 0.7


def test_neighbours_caps_the_links_strongest_first(make_memory: Make) -> None:
    memory = make_memory(encode={"neighbours": 1, "similarity": 0.2})
    for i, key in enumerate("ABD"):
        add_task(memory, key, i)
    assert similar(memory, "D") == {qid("B"): 0.8}  # A (0.28) would pass 0.2 but only one is kept


def test_readding_a_task_changes_nothing(make_memory: Make) -> None:
    memory = make_memory()
    add_task(memory, "A", 0)
    add_task(memory, "B", 1)
    before = memory.store.get([qid("B")], ANA)[0]
    add_task(memory, "B", 1)
    after = memory.store.get([qid("B")], ANA)[0]
    assert after.links == before.links and after.version == before.version
    assert memory.count(ANA) == 1 + 3 + 1 + 2


def test_steps_join_their_task_by_metadata_or_session(make_memory: Make) -> None:
    memory = make_memory()
    add_task(memory, "A", 0)
    memory.add([Event(id="late", content="pack the mallet", kind="action", metadata={"task_id": "A"}),
                Event(id="more", content="zip the bag", session_id="s-A")], scope=ANA)  # fmt: skip
    [query] = memory.store.get([qid("A")], ANA)
    targets = [x.target for x in query.links if x.kind == "trajectory"]
    assert targets[-2:] == [interaction_id(ANA, "late"), interaction_id(ANA, "more")]
    assert query.version == 2


def test_a_step_naming_an_unknown_task_is_refused(make_memory: Make) -> None:
    memory = make_memory()
    with pytest.raises(GMemoryError, match="names task 'ghost'"):
        memory.add([Event(id="x", content="?", metadata={"task_id": "ghost"})], scope=ANA)
    assert memory.count(ANA) == 0


def test_status_comes_from_the_task_event_or_an_outcome_event(make_memory: Make) -> None:
    memory = make_memory()
    add_task(memory, "A", 0, success=True)
    add_task(memory, "B", 1)
    memory.add([Event(id="B:end", content="done, it failed", kind="outcome",
                      session_id="s-B", metadata={"success": False})], scope=ANA)  # fmt: skip
    a, b = memory.store.get([qid("A"), qid("B")], ANA)
    assert a.metadata["status"] == "resolved" and b.metadata["status"] == "failed"


def test_a_conversation_becomes_an_implicit_session_task(make_memory: Make) -> None:
    memory = make_memory(encode={"implicit_turns": 2})
    turns = [
        Event(id=f"S1:{i}", content=f"turn {i}", speaker="Ana", session_id="S1") for i in (1, 2, 3)
    ]
    memory.add(turns[:2], scope=ANA)
    memory.add(turns[2:], scope=ANA)
    [query] = memory.store.get([qid("session:S1")], ANA)
    assert query.content == "Ana: turn 1\nAna: turn 2" and query.source_ids == ["S1:1", "S1:2"]
    assert [x.target for x in query.links] == [interaction_id(ANA, f"S1:{i}") for i in (1, 2, 3)]


def test_implicit_skip_drops_steps_without_a_task(make_memory: Make) -> None:
    memory = make_memory(encode={"implicit": "skip"})
    memory.add([Event(id="1", content="hello", session_id="S1")], scope=ANA)
    assert memory.count(ANA) == 0


def test_queries_never_link_across_owners(make_memory: Make) -> None:
    memory = make_memory()
    ben = Scope(user_id="ben")
    add_task(memory, "A", 0, scope=ANA)
    add_task(memory, "B", 1, scope=ben)
    assert similar(memory, "B", ben) == {}
    assert memory.store.get([qid("A")], ben) == []
