"""``gmemory`` retriever: similar past queries, upward to insights, downward to trajectories.

The hand-built graph (vectors in gmemory_fixtures): tasks A, B, D, C with similarity
edges B→A (0.8) and D→B (0.8); the question "how do I pack a tent?" has A's vector, so
A is the one seed (cosine 1), B is one hop away (0.8) and D two hops (0.28).

Insights: I1 supports A and B (score 2), I2 supports D (score 5), I3 supports C (score 9),
I4 supports A but was closed on 1 March 2024.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from gmemory_fixtures import ANA, TASKS, qid, task_events

from evolvelab import Event, Hit, Link, Memory, Note, Scope
from evolvelab.modules._gmemory_graph import interaction_id

Make = Callable[..., Memory]
QUESTION = "how do I pack a tent?"
CLOSED = datetime(2024, 3, 1, tzinfo=UTC)


def insight(
    nid: str, supports: str, score: float, scope: Scope = ANA, closed: bool = False
) -> Note:
    links = [Link(target=qid(k, scope), kind="supports") for k in supports]
    return Note(id=nid, content=f"rule {nid}", kind="insight", scope=scope, importance=score,
                links=links, created_at=datetime(2024, 2, 1, tzinfo=UTC),
                invalid_at=CLOSED if closed else None)  # fmt: skip


def build(memory: Memory, scope: Scope = ANA) -> None:
    for i, key in enumerate("ABDC"):
        text, steps = TASKS[key]
        memory.add(task_events(key, text, steps, i), scope=scope)
    memory.resources.write([
        insight("I1", "AB", 2, scope), insight("I2", "D", 5, scope),
        insight("I3", "C", 9, scope), insight("I4", "A", 7, scope, closed=True),
    ])  # fmt: skip


def ids(hits: list[Hit]) -> list[str]:
    return [h.note.id for h in hits]


def steps(key: str, *n: int) -> list[str]:
    return [interaction_id(ANA, f"{key}:{i}") for i in n]


@pytest.mark.parametrize(
    "hops,expected",
    [(0, [("I1", 1.0)]), (1, [("I1", 2.0)]), (2, [("I1", 2.0), ("I2", 1.0)])],
    ids=["seed-only", "one-hop", "two-hops"],
)
def test_upward_finds_the_insights_supporting_the_similar_queries(
    make_memory: Make, hops: int, expected: list[tuple[str, float]]
) -> None:
    memory = make_memory(retrieve={"queries": 1, "hops": hops, "trajectories": 0})
    build(memory)
    hits = memory.search(QUESTION, scope=ANA)
    assert [(h.note.id, h.score) for h in hits] == expected  # score: supported queries in Q^S
    assert {h.channel for h in hits} == {"gmemory.upward"}


def test_insights_rank_by_support_then_score(make_memory: Make) -> None:
    memory = make_memory(retrieve={"queries": 1, "hops": 2, "trajectories": 0, "insights": 1})
    build(memory)
    assert ids(memory.search(QUESTION, scope=ANA)) == ["I1"]  # I1 supports 2, I2 (score 5) only 1


def test_downward_returns_the_trajectories_of_the_most_similar_queries(make_memory: Make) -> None:
    memory = make_memory(retrieve={"queries": 1, "hops": 1, "insights": 0, "trajectories": 2})
    build(memory)
    hits = memory.search(QUESTION, scope=ANA)
    assert ids(hits) == [qid("A"), *steps("A", 1, 2, 3), qid("B"), *steps("B", 1, 2)]
    assert {h.channel for h in hits} == {"gmemory.downward"}
    assert [round(h.score, 4) for h in hits] == [1.0] * 4 + [0.8] * 3
    assert hits[4].explain["hops"] == 1.0


def test_trajectories_are_condensed_to_the_steps_nearest_the_question(make_memory: Make) -> None:
    table = {"pack a tent": [1, 0, 0], "pack a sleeping bag": [0.8, 0.6, 0], "pack a stove": [0.28, 0.96, 0],
             "bake bread": [0, 0, 1], QUESTION: [1, 0, 0], "agent: roll the tent": [1, 0, 0.1]}  # fmt: skip
    memory = make_memory(table=table, retrieve={"queries": 1, "insights": 0, "trajectories": 1,
                                                "steps": 2, "include_queries": False})  # fmt: skip
    build(memory)
    # step 3 is the nearest; step 1 wins the tie with step 2 (all others 0) by time
    assert ids(memory.search(QUESTION, scope=ANA)) == steps("A", 1, 3)
    memory2 = make_memory(table=table, retrieve={"queries": 1, "insights": 0, "trajectories": 1, "steps": 2,
                                                 "include_queries": False, "step_order": "similarity"})  # fmt: skip
    build(memory2)
    assert ids(memory2.search(QUESTION, scope=ANA)) == steps("A", 3, 1)


def test_steps_with_negative_reward_are_dropped(make_memory: Make) -> None:
    memory = make_memory(retrieve={"queries": 1, "hops": 0, "insights": 0, "trajectories": 1})
    build(memory)
    memory.add(
        [Event(id="bad", content="Nothing happens.", metadata={"task_id": "A", "reward": -1})],
        scope=ANA,
    )
    assert interaction_id(ANA, "bad") not in ids(memory.search(QUESTION, scope=ANA))


def test_up_then_down_with_scores_never_increasing(make_memory: Make) -> None:
    memory = make_memory(retrieve={"queries": 1, "hops": 1, "trajectories": 1})
    build(memory)
    hits = memory.search(QUESTION, scope=ANA)
    assert ids(hits) == ["I1", qid("A"), *steps("A", 1, 2, 3)]
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_match_steps_finds_a_task_by_its_best_step(make_memory: Make) -> None:
    table = {**{t: v for t, v in (("pack a tent", [1, 0, 0]), ("bake bread", [0, 1, 0]))},
             "agent: knead the dough": [0, 0, 1], "dough?": [0, 0, 1]}  # fmt: skip
    for match, found in (("query", []), ("steps", [qid("C")])):
        memory = make_memory(table=table, retrieve={"match": match, "queries": 1, "insights": 0,
                                                    "trajectories": 1, "steps": 1})  # fmt: skip
        for i, key in enumerate("AC"):
            memory.add(task_events(key, *TASKS[key], start=i), scope=ANA)
        hits = memory.search("dough?", scope=ANA)
        assert ids(hits)[:1] == found


def test_min_similarity_keeps_far_queries_out(make_memory: Make) -> None:
    memory = make_memory(retrieve={"min_similarity": 0.5, "hops": 0})
    build(memory)
    assert memory.search("something else entirely", scope=ANA) == []


def test_closed_insights_show_only_in_the_past(make_memory: Make) -> None:
    memory = make_memory(retrieve={"queries": 1, "hops": 0, "trajectories": 0})
    build(memory)
    assert ids(memory.search(QUESTION, scope=ANA)) == ["I1"]
    before = memory.search(
        QUESTION, scope=ANA, where={"valid_at": datetime(2024, 2, 15, tzinfo=UTC)}
    )
    assert ids(before) == ["I4", "I1"]  # same support (1); I4's score 7 > 2


def test_each_owner_sees_only_its_own_graph(make_memory: Make) -> None:
    ben = Scope(user_id="ben")
    memory = make_memory(retrieve={"queries": 2, "hops": 2, "trajectories": 4})
    build(memory, ANA)
    build(memory, ben)
    ana_hits = memory.search(QUESTION, scope=ANA)
    ben_hits = memory.search(QUESTION, scope=ben)
    assert ana_hits and all(h.note.scope.user_id == "ana" for h in ana_hits)
    assert all(h.note.scope.user_id == "ben" for h in ben_hits)
    assert not set(ids(ana_hits)) & {qid(k, ben) for k in "ABDC"}


def test_a_search_narrowed_to_a_session_sees_only_that_session(make_memory: Make) -> None:
    memory = make_memory(retrieve={"queries": 2, "hops": 2, "trajectories": 4})
    build(memory)
    owner_hits = memory.search(QUESTION, scope=ANA)
    assert {h.note.metadata.get("session") for h in owner_hits} > {"s-A"}  # B, D too
    session = memory.search(QUESTION, scope=Scope(user_id="ana", session_id="s-A"))
    assert ids(session) == [qid("A"), *steps("A", 1, 2, 3)]  # no insight: they have no session
    assert memory.search(QUESTION, scope=Scope(user_id="ana", session_id="s-none")) == []


def test_across_sessions_reads_the_owners_whole_graph(make_memory: Make) -> None:
    memory = make_memory(retrieve={"queries": 2, "hops": 2, "trajectories": 4,
                                   "across_sessions": True})  # fmt: skip
    build(memory)
    session = memory.search(QUESTION, scope=Scope(user_id="ana", session_id="s-A"))
    assert ids(session) == ids(memory.search(QUESTION, scope=ANA))
