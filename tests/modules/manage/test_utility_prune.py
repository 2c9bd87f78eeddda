"""``type: utility_prune``: ReMe's rule on feedback counts, on feedback and on manage()."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from evolvelab import Event, Memory, Note, Outcome, Scope, Where
from evolvelab.modules.manage.utility_prune import UtilityPruneConfig, UtilityPruneManager, utility
from evolvelab.registry import Registry

PIPELINE = """\
version: 1
name: prune
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn}
store: %(store)s
retrieve:
  - {type: vector, k: 10}
manage:
  - {type: utility_prune, %(options)s}
"""

ANA = Scope(user_id="ana")
WRITTEN, APRIL, AT = (datetime(2023, m, 1, tzinfo=UTC) for m in (3, 4, 5))
EVENTS = [
    Event(id="bad", content="The shortcut through the car park saves time.", timestamp=WRITTEN),
    Event(id="new", content="Ask the pharmacist before mixing remedies.", timestamp=WRITTEN),
    Event(id="good", content="Book the table a week ahead on Fridays.", timestamp=WRITTEN),
]


def note(success: int, failure: int, access: int = 0) -> Note:
    return Note(
        id="n", content="x", success_count=success, failure_count=failure, access_count=access
    )


def test_utility_is_uses_and_success_ratio() -> None:
    assert utility(note(1, 4)) == (5, 0.2)
    assert utility(note(0, 0)) == (0, None)
    assert utility(note(3, 1, access=6), "access") == (6, 0.5)


@pytest.mark.parametrize(
    "success,failure,min_uses,threshold,pruned",
    [
        (1, 4, 5, 0.3, True),  # used 5 times, ratio 0.2 < 0.3
        (1, 4, 5, 0.1, False),  # ratio 0.2 is not below 0.1
        (1, 4, 6, 0.3, False),  # only 5 uses
        (0, 2, 3, 0.5, False),  # used 2 times: spared at N=3
        (0, 3, 3, 0.5, True),  # third failure: ratio 0
        (5, 5, 5, 0.5, False),  # ratio 0.5 is not below 0.5 (ReMe's defaults)
        (4, 6, 5, 0.5, True),
    ],
)
def test_the_rule(
    success: int, failure: int, min_uses: int, threshold: float, pruned: bool
) -> None:
    manager = UtilityPruneManager(UtilityPruneConfig(min_uses=min_uses, threshold=threshold))
    assert manager.should_prune(note(success, failure)) is pruned


def test_kinds_limit_what_is_pruned() -> None:
    manager = UtilityPruneManager(UtilityPruneConfig(min_uses=1, threshold=0.5, kinds=["fact"]))
    assert not manager.should_prune(note(0, 3))
    assert manager.should_prune(note(0, 3).model_copy(update={"kind": "fact"}))


@pytest.fixture(params=["memory", "lancedb"])
def store_yaml(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (
        "{type: memory}" if request.param == "memory" else f"{{type: lancedb, path: {tmp_path}/db}}"
    )


def build(registry: Registry, store: str, options: str) -> Memory:
    return Memory.from_text(PIPELINE % {"store": store, "options": options}, registry=registry)


def ids(memory: Memory) -> dict[str, str]:
    """Map source event id to note id."""
    notes = memory.store.scan(ANA, Where(include_invalid=True))  # type: ignore[attr-defined]
    return {n.source_ids[0]: n.id for n in notes}


def visible(memory: Memory) -> set[str]:
    return {h.note.source_ids[0] for h in memory.search("table car park pharmacist", scope=ANA)}


def give(memory: Memory, note_id: str, successes: int, failures: int) -> list[list[int]]:
    """Send feedback outcomes for one note; return each call's pruned counts per manager."""
    deleted = []
    for success in [True] * successes + [False] * failures:
        reports = memory.feedback(Outcome(success=success, scope=ANA, at=AT), [note_id])
        deleted.append([r.deleted for r in reports])
    return deleted


def test_feedback_prunes_the_note_that_keeps_failing(registry: Registry, store_yaml: str) -> None:
    with build(registry, store_yaml, "min_uses: 5, threshold: 0.3") as memory:
        memory.add(EVENTS, scope=ANA)
        by_source = ids(memory)
        assert give(memory, by_source["bad"], 1, 4) == [[0], [0], [0], [0], [1]]
        assert give(memory, by_source["new"], 0, 2) == [[0], [0]]  # 2 uses < 5: spared
        assert give(memory, by_source["good"], 4, 2) == [[0]] * 6  # ratio 4/6 >= 0.3
        assert visible(memory) == {"new", "good"}
        [closed] = memory.store.get([by_source["bad"]], ANA)
        assert closed.invalid_at == AT and closed.metadata["pruned_by"] == "utility_prune"
        assert (closed.success_count, closed.failure_count) == (1, 4)
        assert memory.count(ANA) == 3  # closed, not erased
        before = memory.search("car park", scope=ANA, where={"valid_at": APRIL})
        assert "bad" in {h.note.source_ids[0] for h in before}


def test_delete_action_removes_the_note(registry: Registry, store_yaml: str) -> None:
    with build(registry, store_yaml, "min_uses: 3, threshold: 0.5, action: delete") as memory:
        memory.add(EVENTS, scope=ANA)
        assert give(memory, ids(memory)["bad"], 1, 2) == [[0], [0], [1]]
        assert memory.count(ANA) == 2 and visible(memory) == {"new", "good"}


def test_feedback_every_n_checks_the_whole_scope(registry: Registry) -> None:
    with build(
        registry, "{type: memory}", "min_uses: 2, threshold: 0.5, feedback_every: 3"
    ) as memory:
        memory.add(EVENTS, scope=ANA)
        by_source = ids(memory)
        assert give(memory, by_source["bad"], 0, 2) == [[0], [0]]  # qualifies, not checked yet
        assert give(memory, by_source["good"], 1, 0) == [[1]]  # third feedback: scope checked
        assert visible(memory) == {"new", "good"}


def test_manage_prunes_without_feedback_hook(registry: Registry, store_yaml: str) -> None:
    with build(registry, store_yaml, "min_uses: 2, threshold: 0.5, feedback_every: 0") as memory:
        memory.add(EVENTS, scope=ANA)
        by_source = ids(memory)
        assert give(memory, by_source["bad"], 0, 2) == [[0], [0]]
        assert visible(memory) == {"bad", "new", "good"}
        [report] = memory.manage(ANA)
        assert report.deleted == 1 and report.detail == {"pruned": [by_source["bad"]]}
        assert visible(memory) == {"new", "good"}
        [again] = memory.manage(ANA)
        assert again.deleted == 0  # already closed
