"""``type: utility_prune`` — drop notes that keep being used in failed tasks (ReMe).

ReMe's utility-based refinement: every note supplied to a task counts one use
(``freq``), and one success when the task succeeded (``utility``). A note is pruned once

    uses >= min_uses   and   successes / uses < threshold

(ReMe's defaults: ``freq_threshold`` 5, ``utility_threshold`` 0.5). Here uses are
``success_count + failure_count``, the counts :meth:`evolvelab.Memory.feedback` keeps,
or ``access_count`` with ``uses: access``.

Pruning *closes* a note by default (``invalid_at`` = the feedback's time or the pipeline
clock; ``metadata.pruned_by = "utility_prune"``): it leaves every search, but
``where={"valid_at": t}`` still shows it for times before. ``action: delete`` removes it
from the stores, as ReMe does.

The manager runs on ``manage()`` (over the whole scope) and after feedback: with
``feedback_every: 1`` the notes just used are checked right away (they are the only
ones whose counts changed); with ``feedback_every: N`` the whole scope is checked after
every N-th feedback call (ReMe checks every 10 tasks). The feedback counter lives in the
process; counts live in the notes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.stages import ManageReport, Manager, Scannable
from evolvelab.types import Note, Outcome, Scope, Where

__all__ = ["UtilityPruneConfig", "UtilityPruneManager", "utility"]


class UtilityPruneConfig(ManagerConfig):
    """Prune notes used at least ``min_uses`` times whose success ratio is below ``threshold``.

    Example:
        ```yaml
        manage:
          - {type: utility_prune, min_uses: 5, threshold: 0.5, feedback_every: 10}
        ```
    """

    type: Literal["utility_prune"] = "utility_prune"
    min_uses: Annotated[int, Tunable(2, 20, log=True)] = Field(
        5, ge=1, description="Uses a note needs before it can be pruned (ReMe freq_threshold)."
    )
    threshold: Annotated[float, Tunable(0.1, 0.8)] = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Prune when successes / uses is below this (ReMe utility_threshold).",
    )
    uses: Literal["outcomes", "access"] = Field(
        "outcomes",
        description="What counts as a use: success + failure counts (outcomes) or access_count.",
    )
    action: Literal["close", "delete"] = Field(
        "close", description="Close the note's validity (kept for history) or delete it."
    )
    feedback_every: int = Field(
        1, ge=0, description="Check after every N feedback calls (1: the notes just used); 0: off."
    )
    kinds: list[str] | None = Field(
        None, description="Only prune notes of these kinds; null: every kind."
    )


def utility(
    note: Note, uses: Literal["outcomes", "access"] = "outcomes"
) -> tuple[int, float | None]:
    """Return a note's use count and success ratio (``None`` when it was never used).

    Example:
        >>> utility(Note(id="n", content="x", success_count=1, failure_count=4))
        (5, 0.2)
    """
    count = note.success_count + note.failure_count if uses == "outcomes" else note.access_count
    return count, (note.success_count / count if count else None)


class UtilityPruneManager(Manager):
    """ReMe's utility pruning over feedback counts."""

    config_model: ClassVar[type[UtilityPruneConfig]] = UtilityPruneConfig
    config: UtilityPruneConfig
    requires = (Scannable,)

    def __init__(self, config: UtilityPruneConfig) -> None:
        super().__init__(config)
        self._feedbacks = 0

    def should_prune(self, note: Note) -> bool:
        """Return whether ``note`` meets the pruning rule."""
        if self.config.kinds is not None and note.kind not in self.config.kinds:
            return False
        count, ratio = utility(note, self.config.uses)
        return count >= self.config.min_uses and ratio is not None and ratio < self.config.threshold

    def _prune(self, notes: Iterable[Note], when: datetime) -> ManageReport:
        doomed = [n for n in notes if n.invalid_at is None and self.should_prune(n)]
        report = ManageReport(stage="utility_prune", detail={"pruned": [n.id for n in doomed]})
        if not doomed:
            return report
        if self.config.action == "delete":
            by_owner: dict[tuple[str | None, str | None], list[str]] = {}
            for note in doomed:
                by_owner.setdefault((note.scope.user_id, note.scope.agent_id), []).append(note.id)
            for (user_id, agent_id), ids in by_owner.items():
                owner = Scope(user_id=user_id, agent_id=agent_id)
                report.deleted += self.resources.remove(ids, owner)
            return report
        closed = [
            n.model_copy(
                update={
                    "invalid_at": max(when, n.valid_from or when),
                    "version": n.version + 1,
                    "metadata": {**n.metadata, "pruned_by": "utility_prune"},
                }
            )
            for n in doomed
        ]
        self.resources.write(closed)
        report.deleted = len(closed)
        return report

    def manage(self, scope: Scope) -> ManageReport:
        store = self.resources.find(Scannable)
        return self._prune(store.scan(scope, Where()), self.resources.clock.now(scope))

    def on_feedback(self, outcome: Outcome, notes: Sequence[Note]) -> ManageReport:
        """Check the pruning rule after a task outcome (see ``feedback_every``)."""
        every = self.config.feedback_every
        if not every:
            return ManageReport(stage="utility_prune")
        self._feedbacks += 1
        if self._feedbacks % every:
            return ManageReport(stage="utility_prune")
        when = outcome.at or self.resources.clock.now(outcome.scope)
        if every == 1:
            return self._prune(notes, when)
        return self._prune(self.resources.find(Scannable).scan(outcome.scope, Where()), when)
