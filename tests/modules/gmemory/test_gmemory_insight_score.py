"""``insight_score``: +1 on success, -2 on failure, closed at <= 0; tasks labelled from outcomes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from gmemory_fixtures import ANA, TASKS, qid, task_events

from evolvelab import Link, Memory, Note, Outcome
from evolvelab.modules._gmemory_graph import SUPPORTS

Make = Callable[..., Memory]
DAY = datetime(2024, 2, 1, tzinfo=UTC)


def with_insight(make_memory: Make, score: float = 2.0, **config: object) -> Memory:
    memory = make_memory(manage=[{"type": "insight_score", **config}])
    memory.add(task_events("A", *TASKS["A"], start=0), scope=ANA)
    memory.resources.write([Note(id="I1", content="pack poles first, because they are long",
                                 kind="insight", scope=ANA, importance=score,
                                 links=[Link(target=qid("A"), kind=SUPPORTS)])])  # fmt: skip
    return memory


def outcome(success: bool, day: int, task: str | None = None) -> Outcome:
    return Outcome(task_id=task, success=success, scope=ANA, at=DAY + timedelta(days=day))


def insight(memory: Memory) -> Note:
    return memory.store.get(["I1"], ANA)[0]


def test_success_success_failure_failure_closes_exactly_at_zero(make_memory: Make) -> None:
    memory = with_insight(make_memory)
    seen = []
    for day, success in enumerate([True, True, False, False], start=1):
        [report] = memory.feedback(outcome(success, day), ["I1"])
        note = insight(memory)
        seen.append((note.importance, note.invalid_at is not None, report.updated, report.deleted))
    assert seen == [(3.0, False, 1, 0), (4.0, False, 1, 0), (2.0, False, 1, 0), (0.0, True, 0, 1)]
    note = insight(memory)
    assert note.invalid_at == DAY + timedelta(days=4)  # closed at the outcome's time
    assert (note.success_count, note.failure_count) == (2, 2)


@pytest.mark.parametrize(
    "start,outcomes,scores,closed_after",
    [
        (2.0, [False], [0.0], 1),  # the initial score 2 dies with one failure
        (3.0, [False, False], [1.0, -1.0], 2),
        (2.0, [True, False, True, False], [3.0, 1.0, 2.0, 0.0], 4),
    ],
)
def test_scores_after_sequences(
    make_memory: Make, start: float, outcomes: list[bool], scores: list[float], closed_after: int
) -> None:
    memory = with_insight(make_memory, start)
    got, closed = [], None
    for day, success in enumerate(outcomes, start=1):
        memory.feedback(outcome(success, day), ["I1"])
        note = insight(memory)
        got.append(note.importance)
        if closed is None and note.invalid_at is not None:
            closed = day
    assert got == scores and closed == closed_after


def test_a_closed_insight_is_not_scored_again(make_memory: Make) -> None:
    memory = with_insight(make_memory)
    memory.feedback(outcome(False, 1), ["I1"])
    [report] = memory.feedback(outcome(True, 2), ["I1"])
    assert insight(memory).importance == 0.0 and report.updated == 0


def test_rewards_are_tunable(make_memory: Make) -> None:
    memory = with_insight(make_memory, success_reward=0.5, failure_penalty=1.0, drop_at=1.0)
    memory.feedback(outcome(True, 1), ["I1"])
    assert insight(memory).importance == 2.5
    memory.feedback(outcome(False, 2), ["I1"])
    memory.feedback(outcome(False, 3), ["I1"])
    assert insight(memory).importance == 0.5 and insight(memory).invalid_at is not None


def test_outcome_labels_the_task_and_extends_support(make_memory: Make) -> None:
    memory = with_insight(make_memory)
    memory.add(task_events("B", *TASKS["B"], start=1), scope=ANA)
    memory.feedback(outcome(True, 1, task="B"), ["I1"])
    assert memory.store.get([qid("B")], ANA)[0].metadata["status"] == "resolved"
    targets = [x.target for x in insight(memory).links if x.kind == SUPPORTS]
    assert targets == [qid("A"), qid("B")]
    memory.feedback(outcome(False, 2, task="A"), ["I1"])
    assert memory.store.get([qid("A")], ANA)[0].metadata["status"] == "failed"
    assert [x.target for x in insight(memory).links if x.kind == SUPPORTS] == [qid("A"), qid("B")]


def test_other_notes_only_get_their_counts(make_memory: Make) -> None:
    memory = with_insight(make_memory)
    memory.feedback(outcome(False, 1), [qid("A")])
    task = memory.store.get([qid("A")], ANA)[0]
    assert task.importance == 0.0 and task.invalid_at is None and task.failure_count == 1


def test_closed_insights_leave_retrieval_but_not_history(make_memory: Make) -> None:
    memory = make_memory(retrieve={"queries": 1, "trajectories": 0},
                         manage=[{"type": "insight_score"}])  # fmt: skip
    memory.add(task_events("A", *TASKS["A"], start=0), scope=ANA)
    memory.resources.write([Note(id="I1", content="r", kind="insight", scope=ANA, importance=2,
                                 links=[Link(target=qid("A"), kind=SUPPORTS)])])  # fmt: skip
    assert [h.note.id for h in memory.search("how do I pack a tent?", scope=ANA)] == ["I1"]
    memory.feedback(outcome(False, 1), ["I1"])
    assert memory.search("how do I pack a tent?", scope=ANA) == []
    past = memory.search("how do I pack a tent?", scope=ANA, where={"valid_at": DAY})
    assert [h.note.id for h in past] == ["I1"]
