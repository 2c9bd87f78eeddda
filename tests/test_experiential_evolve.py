"""The evolver optimises experiential objectives on a task stream split by user."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolvelab.datasets.tasks_generate import write_tasks
from evolvelab.search.evolve import evolve

CASES = """\
version: 1
name: cases
embedder: {type: hashing, dim: 64}
encode:
  - {type: experience, index: task}
store: {type: memory}
retrieve:
  - {type: case_policy, k: 10, pool: 20, weight: 0.5}
manage:
  - {type: case_q, reward: score}
"""

SPEC = """\
version: 1
name: tasks-quick
base: [cases.yaml]
dataset:
  type: tasks
  path: tasks.jsonl
  train: {users: [user1, user2]}
  validation: {users: [user3]}
objectives:
  - {metric: helpful_recall@5}
  - {metric: misleading_rate@5}
sampler: {type: nsga2, seed: 1}
trials: 3
space:
  retrieve[0].weight: {low: 0.0, high: 1.0}
"""


@pytest.mark.slow
def test_evolve_scores_trials_on_helpful_recall_and_misleading_rate(tmp_path: Path) -> None:
    write_tasks(tmp_path / "tasks.jsonl", 10, seed=5, users=3)
    (tmp_path / "cases.yaml").write_text(CASES, encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    result = evolve(tmp_path / "spec.yaml", out=tmp_path / "out", progress=False)
    assert result.complete == 3 and result.failed == 0
    base = result.base[0]
    assert set(base.train) >= {"helpful_recall@5", "misleading_rate@5", "task_success"}
    assert 0.0 <= base.train["misleading_rate@5"] <= 1.0
    assert base.validation is not None and "helpful_recall@5" in base.validation
