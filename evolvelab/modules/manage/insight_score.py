"""``type: insight_score`` — G-Memory's credit assignment for insights after a task outcome.

When ``feedback(outcome, used_ids)`` reports a task, every **valid insight** among the
used notes gets ``+success_reward`` (default +1) if the task succeeded and
``-failure_penalty`` (default -2) if it failed. An insight whose score ends at or below
``drop_at`` (default 0) is **closed**: ``invalid_at`` is set to the outcome's time (or the
pipeline clock), so it stops being retrieved while ``where: {valid_at: ...}`` still shows
it as it was. The score is the note's ``importance``; each change bumps ``version``.

Starting from G-Memory's initial score 2: success, success, failure, failure gives
3, 4, 2, 0 — closed by the fourth outcome; a single failure from 2 closes it at once.

With ``label_tasks``, the task's query note (``outcome.task_id`` is the task key: the task
event's id, or ``session:<id>``) gets ``metadata.status`` resolved or failed; with
``extend_support``, a success also links each used insight to that query (``supports``),
as the paper extends an insight's supporting set. ``manage()`` does nothing: this stage
acts on feedback only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.modules._gmemory_graph import (
    FAILED,
    INSIGHT,
    QUERY,
    RESOLVED,
    SUPPORTS,
    note_store,
    owner,
    query_id,
    rescore,
)
from evolvelab.stages import ManageReport, Manager, VectorSearch
from evolvelab.types import Link, Note, Outcome, Scope

__all__ = ["InsightScoreConfig", "InsightScoreManager"]


class InsightScoreConfig(ManagerConfig):
    """Reward used insights on success, punish them on failure, close them at the floor.

    Example:
        ```yaml
        manage:
          - {type: insight_score, success_reward: 1, failure_penalty: 2, drop_at: 0}
        ```
    """

    type: Literal["insight_score"] = "insight_score"
    success_reward: Annotated[float, Tunable(0.5, 3.0)] = Field(
        1.0, ge=0.0, description="Added to a used insight's score when the task succeeded."
    )
    failure_penalty: Annotated[float, Tunable(0.5, 4.0)] = Field(
        2.0, ge=0.0, description="Subtracted from a used insight's score when the task failed."
    )
    drop_at: float = Field(
        0.0, description="An insight whose score falls to or below this is closed (invalid_at)."
    )
    label_tasks: bool = Field(
        True, description="Mark the task's query note resolved or failed from the outcome."
    )
    extend_support: bool = Field(
        True, description="On success, link each used insight to the task's query note (supports)."
    )


class InsightScoreManager(Manager):
    """Score the insights a task used, from its outcome (a feedback-aware manager)."""

    config_model: ClassVar[type[InsightScoreConfig]] = InsightScoreConfig
    config: InsightScoreConfig
    requires = (VectorSearch,)

    def manage(self, scope: Scope) -> ManageReport:
        """Do nothing: scores change only on feedback."""
        return ManageReport(stage="insight_score")

    def on_feedback(self, outcome: Outcome, notes: Sequence[Note]) -> ManageReport:
        """Rescore the valid insights among ``notes``; label and link the outcome's task.

        Args:
            outcome: the task's outcome; ``task_id`` names the task, ``at`` its time.
            notes: the notes that were used (other kinds are left alone).

        Returns:
            ``updated``: insights rescored and tasks labelled; ``deleted``: insights closed.
        """
        cfg, report = self.config, ManageReport(stage="insight_score")
        now = outcome.at or self.resources.clock.now(outcome.scope)
        task = self._task(outcome)
        delta = cfg.success_reward if outcome.success else -cfg.failure_penalty
        written: list[Note] = []
        for note in notes:
            if note.kind != INSIGHT or note.invalid_at is not None:
                continue
            new = rescore(note, delta, now=now, drop_at=cfg.drop_at)
            if new.invalid_at is not None:
                report.deleted += 1
            else:
                report.updated += 1
            if task is not None and outcome.success and cfg.extend_support:
                if not any(x.target == task.id and x.kind == SUPPORTS for x in new.links):
                    new = new.model_copy(
                        update={"links": [*new.links, Link(target=task.id, kind=SUPPORTS)]}
                    )
            written.append(new)
        if task is not None and cfg.label_tasks:
            status = RESOLVED if outcome.success else FAILED
            if task.metadata.get("status") != status:
                metadata = {**task.metadata, "status": status}
                update = {"metadata": metadata, "version": task.version + 1}
                written.append(task.model_copy(update=update))
                report.updated += 1
        self.resources.write(written)
        report.detail = {"delta": delta, "task": task.id if task else None}
        return report

    def _task(self, outcome: Outcome) -> Note | None:
        """Return the query note of the outcome's task, if it is in memory."""
        if outcome.task_id is None:
            return None
        scope = owner(outcome.scope)
        found = note_store(self.resources).get([query_id(scope, outcome.task_id)], scope)
        return found[0] if found and found[0].kind == QUERY else None
