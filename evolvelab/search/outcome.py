"""The outcome of a search: :class:`EvolveResult` (``OUT/result.json``) and its headline.

The headline is the one line a search prints last and its report shows first: what the
winner gained over the base on users the choice never saw, and which users those were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evolvelab.search.selection import Finalist, HeldOut

if TYPE_CHECKING:
    from evolvelab.search.context import Context

__all__ = ["EvolveResult", "headline"]


@dataclass
class EvolveResult:
    """The outcome of a search, as ``result.json`` holds it."""

    out: str
    study: str
    storage: str
    budget: int
    complete: int
    failed: int
    running: int
    waiting: int
    objectives: list[str]
    train_users: list[str]
    validation_users: list[str]
    test_users: list[str] = field(default_factory=list)
    folds: list[list[str]] = field(default_factory=list)
    best: list[Finalist] = field(default_factory=list)
    base: list[Finalist] = field(default_factory=list)
    held_out: HeldOut | None = None
    headline: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def winner(self) -> Finalist | None:
        """The selected pipeline (single objective): a trial, or the base if none beat it."""
        return next((f for f in self.best if f.role == "best"), None)



def headline(ctx: Context, result: EvolveResult) -> str:
    """Return the one line that says what the search gained on held-out users."""
    winner, compared = result.winner, result.held_out
    if len(ctx.spec.objectives) > 1:
        return (
            f"{len(result.best)} pipelines on the Pareto front of "
            f"{', '.join(ctx.objective_names)}; their held-out scores are in the table"
        )
    if winner is None:
        return "no winner: no trial finished"
    if compared is None:
        metric = ctx.objective_names[0]
        base = result.base[0].train.get(metric) if result.base else None
        against = f" (base {base:.4f})" if base is not None else ""
        return (
            f"no held-out users: trial {winner.number} is the best on train, {metric} "
            f"{winner.train.get(metric, float('nan')):.4f}{against}; nothing here says it "
            "generalises (add validation or test users, or split: {folds: k})"
        )
    where = {
        "test": f"test users ({', '.join(ctx.users('test'))}), never used to search or select",
        "cross-validation": f"{len(ctx.folds)}-fold cross-validation over users, each fold "
        "scored with the pipeline picked on the other folds",
        "validation": f"validation users ({', '.join(ctx.users('validation'))}), which also chose "
        "the winner, so this is optimistic (add a test split)",
    }[compared.split]
    kept = "the base pipeline is kept" if winner.number in {b.number for b in result.base} else (
        f"trial {winner.number} is the winner"
    )
    return (
        f"held-out gain {compared.gain:+.4f} {compared.metric} on {where}: "
        f"{compared.winner:.4f} against the base's {compared.base:.4f}; {kept}"
    )
