"""The experiential replay: search, supply, ingest, feed back; helpful recall and misleading rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolvelab.cli import cli
from evolvelab.datasets import load_dataset
from evolvelab.evaluation import evaluate_pipeline
from evolvelab.evaluation._task_scores import score_task, simulated_outcome, spread
from evolvelab.evaluation.experiential import (
    TaskSettings,
    evaluate_tasks,
    evaluate_tasks_pipeline,
    experience_metric,
)
from evolvelab.pipeline import Memory
from evolvelab.types import Scope, Where
from evolvelab.evaluation.schema import EvalReport, OrderScores
from evolvelab.errors import EvolveLabError

CASES = """\
version: 1
name: cases
embedder: {type: hashing, dim: 64}
encode:
  - {type: experience, index: task}
store: {type: memory}
retrieve:
  - {type: vector, k: 10}
"""


def _stream(tmp_path: Path) -> Path:
    """Three tasks: the second is helped by the first; the third is misled by the second."""
    lines = []
    tasks = [
        ("T1", "heat the mug in the microwave", True, []),
        ("T2", "heat the mug in the microwave again", False, []),
        ("T3", "heat a cup in the microwave", True, []),
    ]
    annotations = {"T1": ([], []), "T2": (["T1:1"], []), "T3": (["T1:1"], ["T2:end"])}
    for task_id, goal, success, _ in tasks:
        helpful, misleading = annotations[task_id]
        lines.append({"type": "query", "id": task_id, "text": goal, "evidence": helpful,
                      "misleading": misleading, "agent_id": "a"})  # fmt: skip
        lines.append({"type": "event", "id": task_id, "content": goal, "kind": "task",
                      "session_id": task_id, "agent_id": "a"})  # fmt: skip
        lines.append({"type": "event", "id": f"{task_id}:1", "content": "open the microwave",
                      "kind": "action", "session_id": task_id, "agent_id": "a"})  # fmt: skip
        lines.append({"type": "event", "id": f"{task_id}:end", "content": "done" if success else "failed",
                      "kind": "outcome", "session_id": task_id, "agent_id": "a",
                      "metadata": {"success": success}})  # fmt: skip
        lines.append({"type": "outcome", "query_id": task_id, "success": success, "agent_id": "a"})
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "cases.yaml"
    path.write_text(CASES, encoding="utf-8")
    return path


def test_helpful_recall_is_normalised_by_what_the_budget_can_hold() -> None:
    row = score_task(1, ["E1", "E2", "E3"], {"E2", "E9"}, {"E1"}, [1, 2, 3])
    assert row.helpful_recall == {"1": 0.0, "2": 0.5, "3": 0.5}
    assert row.misleading_rate == {"1": 1.0, "2": 0.5, "3": pytest.approx(1 / 3)}


def test_tasks_without_annotated_episodes_are_not_scored() -> None:
    row = score_task(1, ["E1"], set(), set(), [1])
    assert row.helpful_recall is None and row.misleading_rate is None


def test_an_empty_budget_misleads_nobody() -> None:
    assert score_task(1, [], set(), {"E1"}, [5]).misleading_rate == {"5": 0.0}


def test_the_simulated_agent_succeeds_when_help_outweighs_harm() -> None:
    assert simulated_outcome(["H", "N"], {"H"}, {"M"}) == (True, 0.75)
    assert simulated_outcome(["H", "M"], {"H"}, {"M"}) == (False, 0.5)
    assert simulated_outcome([], {"H"}, set()) == (False, 0.5)
    assert simulated_outcome(["HM"], {"HM"}, {"HM"}) == (True, 1.0)


def test_spread_over_orders() -> None:
    orders = [OrderScores(seed=None, helpful_recall={"5": 0.4}, misleading_rate={"5": 0.2}),
              OrderScores(seed=1, helpful_recall={"5": 0.6}, misleading_rate={"5": 0.2})]  # fmt: skip
    result = spread(orders)
    assert result["helpful_recall"]["5"].model_dump() == {"mean": 0.5, "std": 0.1, "min": 0.4, "max": 0.6}
    assert result["misleading_rate"]["5"].std == 0.0


def test_a_replay_scores_only_episodes_already_in_memory(tmp_path: Path, pipeline: Path) -> None:
    data = load_dataset("tasks", _stream(tmp_path))
    report = evaluate_pipeline(pipeline, data, ks=(1, 2), order="tasks")
    assert report.experience is not None and report.experience.tasks == 3
    assert report.experience.helpful_tasks == 2 and report.experience.misleading_tasks == 1
    # T2 finds T1 (the only episode); T3 finds T2 or T1 first, both within a budget of 2
    assert report.helpful_recall is not None and report.helpful_recall["2"] == 1.0
    assert report.misleading_rate is not None and report.misleading_rate["2"] == 0.5
    assert report.recall["2"] == 1.0  # step-level recall of the helpful steps
    assert report.order == "tasks" and report.ingest.events == 9


def test_feedback_credits_the_notes_that_were_supplied(tmp_path: Path, pipeline: Path) -> None:
    data = load_dataset("tasks", _stream(tmp_path))
    memory = Memory.from_yaml(pipeline, data_dir=tmp_path / "d")
    with memory:
        evaluate_tasks(memory, data, ks=(1, 2), settings=TaskSettings(context=1))
        notes = {n.metadata["task_id"]: n for n in memory.store.scan(Scope(agent_id="a"), Where())}
    # T1 was supplied to T2 (helpful: success) and one of T1/T2 to T3
    assert notes["T1"].success_count >= 1
    assert sum(n.success_count + n.failure_count for n in notes.values()) == 2


def test_a_second_replay_into_the_same_memory_is_named_in_the_warnings(tmp_path: Path, pipeline: Path) -> None:
    data = load_dataset("tasks", _stream(tmp_path))
    with Memory.from_yaml(pipeline, data_dir=tmp_path / "d") as memory:
        first = evaluate_tasks(memory, data, ks=(1,))
        again = evaluate_tasks(memory, data, ks=(1,))
    assert first.warnings == []
    assert again.warnings == ["scope user_id=None agent_id='a' already held 3 notes before ingestion; "
                              "scores mix with an earlier run (use a fresh data dir)"]  # fmt: skip


def test_recorded_feedback_feeds_the_streams_own_outcomes(tmp_path: Path, pipeline: Path) -> None:
    data = load_dataset("tasks", _stream(tmp_path))
    report = evaluate_pipeline(pipeline, data, ks=(1,), order="tasks",
                               tasks=TaskSettings(feedback="recorded"))  # fmt: skip
    assert report.experience is not None and report.experience.success_rate == pytest.approx(2 / 3)


def test_order_robustness_replays_permutations_on_fresh_memories(tmp_path: Path, pipeline: Path) -> None:
    data = load_dataset("tasks", _stream(tmp_path))
    report = evaluate_tasks_pipeline(pipeline, data, permutations=2, ks=(1, 2))
    assert report.experience is not None
    assert [o.seed for o in report.experience.orders] == [None, 1, 2]
    assert set(report.experience.robustness) == {"helpful_recall", "misleading_rate"}
    assert experience_metric(report, "helpful_recall@2") == report.helpful_recall["2"]  # type: ignore[index]
    with pytest.raises(EvolveLabError, match="no misleading_rate@7"):
        experience_metric(report, "misleading_rate@7")


def test_experiential_metrics_need_a_task_stream() -> None:
    bare = EvalReport.model_validate({"pipeline": "p", "dataset": "d", "questions": 0, "skipped": 0,
                                      "recall": {}, "by_category": {}, "search_ms": {"p50": None, "p95": None},
                                      "ingest": {"events": 0, "seconds": 0.0, "per_second": None},
                                      "llm": {}})  # fmt: skip
    with pytest.raises(EvolveLabError, match="needs an experiential task stream"):
        experience_metric(bare, "helpful_recall@5")


def test_eval_command_on_the_bundled_task_stream(tmp_path: Path, pipeline: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["eval", str(pipeline), "--dataset", "tasks", "--sample",
                                      "--limit", "12", "--permutations", "1", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "helpful recall" in result.output and "misleading rate" in result.output
    data = json.loads(out.read_text())
    assert set(data["helpful_recall"]) == {"1", "5", "10"} == set(data["misleading_rate"])
    assert data["experience"]["curve"][0]["start"] == 1 and len(data["experience"]["orders"]) == 2


def test_eval_command_wants_data_or_sample(pipeline: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", str(pipeline), "--dataset", "tasks"])
    assert result.exit_code == 2 and "exactly one of --data FILE or --sample" in result.output
    result = CliRunner().invoke(cli, ["eval", str(pipeline), "--dataset", "locomo", "--sample"])
    assert result.exit_code == 2 and "--sample is offered for --dataset tasks and jsonl" in result.output


def test_users_of_a_task_stream_are_replayed_apart(tmp_path: Path, pipeline: Path) -> None:
    from evolvelab.datasets.tasks_generate import write_tasks

    data = load_dataset("tasks", write_tasks(tmp_path / "three.jsonl", 8, seed=4, users=3))
    one = evaluate_pipeline(pipeline, data, ks=(1, 5), order="tasks", scopes=["user2"])
    assert one.experience is not None and one.experience.tasks == 8 and one.scopes == ["user2"]
    assert {r.user_id for r in one.results or []} == {"user2"}


def test_eval_command_refuses_an_order_for_task_streams(pipeline: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", str(pipeline), "--dataset", "tasks", "--sample",
                                      "--order", "end"])  # fmt: skip
    assert result.exit_code == 2 and "--order does not apply to --dataset tasks" in result.output
