"""``insight_refine``: the exact LLM request, how ADD / EDIT / REMOVE / AGREE change the store,
and the shared-steps rule without an LLM.

Setup: D "pack a stove" (failed), then A "pack a tent" (resolved), then B "pack a sleeping
bag" (resolved), an hour apart; B links to A and D (cosine 0.8 each). B is the newest
labelled task, so it is the first anchor; the tasks shown are B and A (resolved) and D
(failed). Insights: ins-1 supports A and B (score 2), ins-2 supports D (1), ins-3 supports A (4).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from gmemory_fixtures import ANA, T0, TASKS, qid, task_events

from evolvelab import Link, Memory, Note
from evolvelab.modules._gmemory_graph import SUPPORTS, insight_id
from evolvelab.modules.manage.insight_refine import SYSTEM, InsightOperation, InsightOperations
from evolvelab.testing import FakeLLM

Make = Callable[..., Memory]
LAST_EVENT = T0 + timedelta(hours=2, minutes=2)  # B's second step: the pipeline clock

EXPECTED_REQUEST = """\
Current insights:
[ins-3] (score 4) rule ins-3
[ins-1] (score 2) rule ins-1
[ins-2] (score 1) rule ins-2

Successful tasks:
Task: pack a sleeping bag
  1. agent: fold the sleeping bag
  2. agent: check the bag straps
Task: pack a tent
  1. agent: fold the tent poles
  2. agent: check the tent pegs
  3. agent: roll the tent

Failed tasks:
Task: pack a stove
  1. agent: check the gas
  2. agent: pack the stove"""


def build(make_memory: Make, llm: FakeLLM | None = None, **config: object) -> Memory:
    memory = make_memory(llm=llm, manage=[{"type": "insight_refine", "min_tasks": 3, **config}])
    for start, (key, success) in enumerate([("D", False), ("A", True), ("B", True)]):
        memory.add(task_events(key, *TASKS[key], start=start, success=success), scope=ANA)
    memory.resources.write([
        Note(id=f"ins-{n}", content=f"rule ins-{n}", kind="insight", scope=ANA, importance=score,
             links=[Link(target=qid(k), kind=SUPPORTS) for k in keys])
        for n, keys, score in ((1, "AB", 2), (2, "D", 1), (3, "A", 4))
    ])  # fmt: skip
    return memory


def get(memory: Memory, nid: str) -> Note:
    return memory.store.get([nid], ANA)[0]


def supports(note: Note) -> list[str]:
    return sorted(link.target for link in note.links if link.kind == SUPPORTS)


def test_the_request_shows_insights_by_id_and_the_trajectories(make_memory: Make) -> None:
    llm = FakeLLM().queue(InsightOperations(operations=[]))
    memory = build(make_memory, llm)
    memory.manage(ANA)
    [(messages, model)] = llm.calls
    assert model is InsightOperations
    assert messages == [
        {"role": "system", "content": SYSTEM.format(n=4)},
        {"role": "user", "content": EXPECTED_REQUEST},
    ]
    assert get(memory, qid("B")).metadata["refined"] is True
    assert not get(memory, qid("A")).metadata.get("refined")


def test_operations_change_the_store(make_memory: Make) -> None:
    added = "Check the weather, because rain ruins a tent."
    llm = FakeLLM().queue(InsightOperations(operations=[
        InsightOperation(op="ADD", text=added),
        InsightOperation(op="EDIT", insight_id="ins-1", text="Pack poles first, because they are longest."),
        InsightOperation(op="REMOVE", insight_id="ins-2"),
        InsightOperation(op="AGREE", insight_id="ins-3"),
        InsightOperation(op="AGREE", insight_id="ins-1"),  # fifth: over max_operations (4)
    ]))  # fmt: skip
    memory = build(make_memory, llm)
    [report] = memory.manage(ANA)
    assert (report.added, report.updated, report.deleted) == (1, 2, 1)
    shown = sorted(qid(k) for k in "BAD")
    new = get(memory, insight_id(ANA, added.lower()))
    assert (new.content, new.kind, new.importance, new.version) == (added, "insight", 2.0, 1)
    assert supports(new) == shown and new.source_ids == ["B", "A", "D"]
    edited = get(memory, "ins-1")
    assert (edited.content, edited.version, edited.importance) == (
        "Pack poles first, because they are longest.", 2, 3.0)  # fmt: skip
    assert supports(edited) == shown
    removed = get(memory, "ins-2")
    assert removed.invalid_at == LAST_EVENT and removed.importance == 1.0
    assert get(memory, "ins-3").importance == 5.0
    llm.assert_empty()


def test_unknown_ids_are_ignored_and_reported(make_memory: Make) -> None:
    llm = FakeLLM().queue(
        InsightOperations(
            operations=[
                InsightOperation(op="AGREE", insight_id="nope"),
                InsightOperation(op="EDIT", insight_id=qid("A"), text="x"),
            ]
        )
    )
    memory = build(make_memory, llm)
    [report] = memory.manage(ANA)
    assert report.detail["ignored"] == ["AGREE nope", f"EDIT {qid('A')}"]
    assert (report.added, report.updated, report.deleted) == (0, 0, 0)
    assert get(memory, qid("A")).content == "pack a tent"


def test_adding_a_known_insight_agrees_with_it(make_memory: Make) -> None:
    llm = FakeLLM().queue(
        InsightOperations(operations=[InsightOperation(op="ADD", text="  Rule  X ")])
    )
    memory = build(make_memory, llm)
    memory.resources.write([Note(id=insight_id(ANA, "rule x"), content="rule x", kind="insight",
                                 scope=ANA, importance=2)])  # fmt: skip
    [report] = memory.manage(ANA)
    assert report.updated == 1 and get(memory, insight_id(ANA, "rule x")).importance == 3.0


def test_remove_penalty_lowers_the_score_instead(make_memory: Make) -> None:
    llm = FakeLLM().queue(
        InsightOperations(operations=[InsightOperation(op="REMOVE", insight_id="ins-3")])
    )
    memory = build(make_memory, llm, remove_penalty=3)
    memory.manage(ANA)
    note = get(memory, "ins-3")
    assert note.importance == 1.0 and note.invalid_at is None


def test_a_full_list_asks_to_prefer_edits(make_memory: Make) -> None:
    llm = FakeLLM().queue(InsightOperations(operations=[]))
    memory = build(make_memory, llm, full=3)
    memory.manage(ANA)
    content = llm.calls[0][0][1]["content"]
    assert (
        content == EXPECTED_REQUEST + "\n\nThe list is full: prefer EDIT, REMOVE or AGREE to ADD."
    )


def test_nothing_happens_before_min_tasks(make_memory: Make) -> None:
    llm = FakeLLM()  # nothing queued: any request would fail the test
    memory = build(make_memory, llm, min_tasks=4)
    [report] = memory.manage(ANA)
    assert report.detail["labelled_tasks"] == 3 and report.detail["anchors"] == [] and not llm.calls


def test_without_an_llm_resolved_neighbours_share_their_steps(make_memory: Make) -> None:
    memory = build(make_memory)
    [report] = memory.manage(ANA)
    # B: bag, sleeping, straps, check, fold; A: tent, poles, check, fold, pegs, roll
    note = get(memory, insight_id(ANA, f"derived:{qid('B')}"))
    assert (
        note.content
        == 'Tasks like "pack a sleeping bag" were resolved with steps about: check, fold.'
    )
    assert note.importance == 2.0 and supports(note) == sorted([qid("A"), qid("B")])
    assert report.added == 1 and report.detail["anchors"] == [qid("B")]
    [again] = memory.manage(ANA)  # next anchor: A, whose resolved neighbour is B
    assert again.added == 1 and again.detail["anchors"] == [qid("A")]
    [last] = memory.manage(ANA)  # D failed: no rule
    assert last.added == 0 and last.detail["anchors"] == [qid("D")]


def test_derive_none_writes_nothing(make_memory: Make) -> None:
    memory = build(make_memory, derive="none")
    [report] = memory.manage(ANA)
    assert report.added == 0 and report.detail["anchors"] == [qid("B")]
