"""``type: case_policy`` and ``type: case_q``: AgentFly's kernel Q policy learned from rewards."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolvelab import Event, Memory, Outcome, Scope
from evolvelab.modules.encode.experience import experience_id
from evolvelab.modules.manage.case_q import reward_of
from evolvelab.modules.retrieve.case_policy import Q_LINK, kernel_q, q_samples
from evolvelab.registry import Registry

PIPELINE = """\
version: 1
name: agentfly
embedder: {type: hashing, dim: 256}
encode:
  - {type: experience, index: task}
store: {type: memory}
retrieve:
  - {type: case_policy, k: 5, pool: 10, weight: %(weight)s, temperature: %(temperature)s, prior_source: constant}
manage:
  - {type: case_q, reward: success}
"""

AGENT = Scope(agent_id="solver")


def episode(task_id: str, goal: str, success: bool = True) -> list[Event]:
    return [Event(id=task_id, content=goal, kind="task", session_id=task_id),
            Event(id=f"{task_id}:1", content="step", kind="action", session_id=task_id),
            Event(id=f"{task_id}:end", content="done", kind="outcome", session_id=task_id,
                  metadata={"success": success})]  # fmt: skip


def memory(tmp_path: Path, registry: Registry, weight: float = 0.9, temperature: float = 0.0) -> Memory:
    text = PIPELINE % {"weight": weight, "temperature": temperature}
    return Memory.from_text(text, registry=registry, data_dir=tmp_path)


def test_kernel_q_shrinks_towards_the_prior_and_weights_near_states_more() -> None:
    assert kernel_q([1.0, 0.0], [], bandwidth=0.1, prior=0.5, prior_weight=1.0) == (0.5, 0.0)
    near, _ = kernel_q([1.0, 0.0], [([1.0, 0.0], 0.0, 1.0), ([0.0, 1.0], 1.0, 1.0)],
                       bandwidth=0.1, prior=0.5, prior_weight=1.0)  # fmt: skip
    assert near < 0.3  # the failure at the same state outweighs the success far away


def test_feedback_records_state_and_reward_on_the_cases_used(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry) as mem:
        mem.add(episode("T1", "heat the mug in the microwave"), scope=AGENT)
        mem.add(episode("T2", "heat the cup in the microwave"), scope=AGENT)
        case = experience_id(AGENT, "T1")
        reports = mem.feedback(Outcome(task_id="T2", success=False, scope=AGENT), [case])
        [stored] = mem.store.get([case], AGENT)
    assert q_samples(stored) == [(experience_id(AGENT, "T2"), 0.0)]
    assert reports[0].updated == 1 and stored.failure_count == 1


def test_an_outcome_for_an_unknown_task_teaches_nothing(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry) as mem:
        mem.add(episode("T1", "heat the mug"), scope=AGENT)
        [report] = mem.feedback(Outcome(task_id="T9", success=True, scope=AGENT), [experience_id(AGENT, "T1")])
    assert report.detail == {"unmatched": "T9"} and report.updated == 0


def test_rewards_reorder_cases_for_similar_states(tmp_path: Path, registry: Registry) -> None:
    goal = "heat the mug in the microwave then put it on the shelf"
    with memory(tmp_path, registry) as mem:
        mem.add(episode("A", goal + " quickly"), scope=AGENT)
        mem.add(episode("B", goal + " slowly"), scope=AGENT)
        before = [h.note.metadata["task_id"] for h in mem.search(goal, k=2, scope=AGENT)]
        first = experience_id(AGENT, before[0])
        for n in range(3):  # the first case keeps preceding failures on this kind of task
            mem.add(episode(f"S{n}", goal), scope=AGENT)
            mem.feedback(Outcome(task_id=f"S{n}", success=False, scope=AGENT), [first])
        hits = [h for h in mem.search(goal, k=5, scope=AGENT) if h.note.metadata["task_id"] in ("A", "B")]
    assert [h.note.metadata["task_id"] for h in hits] == before[::-1]
    assert hits[1].explain["q"] < 0.3 and hits[0].explain["q"] == 0.5


def test_weight_zero_is_plain_similarity(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry, weight=0.0) as mem:
        mem.add(episode("A", "heat the mug"), scope=AGENT)
        mem.add(episode("B", "solve the jug puzzle"), scope=AGENT)
        [top, _] = mem.search("heat the mug", k=2, scope=AGENT)
    assert top.note.metadata["task_id"] == "A" and top.score == pytest.approx(top.explain["similarity"])


def test_soft_selection_is_reproducible(tmp_path: Path, registry: Registry) -> None:
    with memory(tmp_path, registry, temperature=1.0) as mem:
        for n in range(6):
            mem.add(episode(f"E{n}", f"heat item {n} in the microwave"), scope=AGENT)
        first = [h.note.id for h in mem.search("heat an item", scope=AGENT)]
        again = [h.note.id for h in mem.search("heat an item", scope=AGENT)]
    assert first == again


def test_rewards_come_from_success_or_the_graded_score() -> None:
    outcome = Outcome(task_id="t", success=True, score=0.25)
    assert reward_of(outcome, "success") == 1.0 and reward_of(outcome, "score") == 0.25
    assert reward_of(Outcome(task_id="t", success=False), "score") == 0.0
    assert Q_LINK == "q"


def test_difference_credit_does_not_reward_a_case_for_its_companions(tmp_path: Path, registry: Registry) -> None:
    text = (PIPELINE % {"weight": 0.5, "temperature": 0.0}).replace(
        "{type: case_q, reward: success}", "{type: case_q, reward: score, credit: difference}")
    with Memory.from_text(text, registry=registry, data_dir=tmp_path) as mem:
        mem.add(episode("GOOD", "heat the mug in the microwave"), scope=AGENT)
        mem.add(episode("BAD", "heat the mug on the stove", success=False), scope=AGENT)
        mem.add(episode("T", "heat the cup in the microwave"), scope=AGENT)
        good, bad = experience_id(AGENT, "GOOD"), experience_id(AGENT, "BAD")
        # the agent's score is the mean worth of the two cases: 1 (good) and 0 (bad)
        mem.feedback(Outcome(task_id="T", success=True, score=0.5, scope=AGENT), [good, bad])
        credit = {n.id: q_samples(n)[0][1] for n in mem.store.get([good, bad], AGENT)}
    # priors are the cases' own rewards (1 and 0): each gets 2 * 0.5 minus the other's estimate
    assert credit == {good: 1.0, bad: 0.0}


@pytest.mark.slow
def test_the_policy_beats_similarity_on_the_bundled_task_stream(tmp_path: Path) -> None:
    from evolvelab.datasets.tasks import load_tasks, tasks_sample_path
    from evolvelab.evaluation import evaluate_pipeline

    text = """version: 1
name: af
embedder: {type: hashing, dim: 256}
encode:
  - {type: experience, index: task}
store: {type: memory}
retrieve:
  - {type: case_policy, k: 10, pool: 30, weight: %s}
manage:
  - {type: case_q, reward: score}
"""
    data = load_tasks(tasks_sample_path())
    reports = {}
    for weight in ("0.5", "0.0"):  # the learned policy; similarity over the same case bank
        path = tmp_path / f"af{weight}.yaml"
        path.write_text(text % weight, encoding="utf-8")
        reports[weight] = evaluate_pipeline(path, data, ks=(1, 5), order="tasks")
    policy, similarity = reports["0.5"], reports["0.0"]
    assert policy.helpful_recall and similarity.helpful_recall
    assert policy.misleading_rate and similarity.misleading_rate
    assert policy.helpful_recall["1"] > similarity.helpful_recall["1"]
    assert policy.helpful_recall["5"] > similarity.helpful_recall["5"]
    assert policy.misleading_rate["5"] < similarity.misleading_rate["5"]
    later = zip(policy.experience.curve[1:], similarity.experience.curve[1:], strict=True)  # type: ignore[union-attr]
    assert all(p.misleading_rate["5"] < s.misleading_rate["5"] for p, s in later)  # with experience
