"""Selection: which finalist wins, and how much it gains on users it was not chosen on.

The finalists are the base pipeline(s) and the ``select.top`` best trials on the search
users. One split decides:

- **train / validation**: the finalist best on the validation users wins;
- **folds** (``split: {folds: k}``): only finalists at least as good as the base on
  *every* fold qualify (a winner must hold across users, not on one lucky user); the
  best mean over folds among them wins.

Scores within ``select.tolerance`` of the best are a tie, broken toward the cheaper
pipeline: each cost metric of the objectives table (ingest time, search time, LLM
tokens), measured for every finalist on the same users with nothing cached, relative
to the base, averaged. So a pipeline 2.4x slower with no held-out gain loses to the base.

The honest held-out number (:func:`held_out`): a test split when there is one (touched
once, at the end); with folds, the cross-validated gain: for each fold, the rule above
picks a winner from the *other* folds' scores, and its gain over the base is read on
that fold; the mean over folds is what the choice is worth on unseen users.

With folds, a trial better on average but worse than the base on one fold does not
qualify:

    >>> rule = Rule("recall@10", "maximize", tolerance=0.0)
    >>> def folds(*recalls): return [{"recall@10": r} for r in recalls]
    >>> base = Finalist(0, "base", "...", train={}, folds=folds(0.60, 0.50))
    >>> lucky = Finalist(7, "best", "...", train={}, folds=folds(0.80, 0.45))   # mean 0.625
    >>> steady = Finalist(9, "best", "...", train={}, folds=folds(0.65, 0.55))  # mean 0.600
    >>> pick([base, lucky, steady], rule, folds=[0, 1]).number
    9

Within the tolerance, the cheaper pipeline wins (costs relative to the base's):

    >>> rule = Rule("recall@10", "maximize", tolerance=0.02, costs=("search_p95",))
    >>> base = Finalist(0, "base", "...", train={}, validation={"recall@10": 0.60},
    ...                 costs={"search_p95": 10.0})
    >>> slow = Finalist(3, "best", "...", train={}, validation={"recall@10": 0.61},
    ...                 costs={"search_p95": 24.0})
    >>> relative_costs([base, slow], rule.costs)
    {0: 1.0, 3: 2.4}
    >>> pick([base, slow], rule).role
    'base'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Finalist", "HeldOut", "Measure", "Rule", "held_out", "pick", "relative_costs"]


@dataclass
class Finalist:
    """A base pipeline or one of the best trials, with its scores on every split.

    ``train`` holds the search scores (with folds: the mean over folds), ``folds`` the
    per-fold scores, ``costs`` the cost metrics measured for selection.
    """

    number: int
    role: Literal["base", "trial", "best", "pareto"]
    yaml: str
    train: dict[str, float]
    folds: list[dict[str, float]] = field(default_factory=list)
    validation: dict[str, float] | None = None
    test: dict[str, float] | None = None
    costs: dict[str, float] = field(default_factory=dict)
    file: str | None = None
    error: str | None = None
    by_task: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Several datasets: per side (train, validation, test), each dataset's own metrics."""

    @property
    def is_base(self) -> bool:
        """Whether this is a base pipeline."""
        return self.role == "base"


Measure = Callable[[Finalist], None]
"""Fills a finalist's ``costs`` (measured only when a tie needs them)."""


@dataclass(frozen=True)
class Rule:
    """What selection compares: one metric, its direction, the tie tolerance, the costs."""

    metric: str
    goal: Literal["maximize", "minimize"]
    tolerance: float = 0.0
    costs: tuple[str, ...] = ()

    def better(self, a: float, b: float) -> float:
        """Return how much ``a`` beats ``b`` (positive: better)."""
        return a - b if self.goal == "maximize" else b - a


def relative_costs(finalists: Sequence[Finalist], costs: Sequence[str]) -> dict[int, float]:
    """Return each finalist's cost relative to the base's: 1.0 costs as much as the base.

    Each cost metric is divided by the base's value (by the largest value when the base
    spent none: tokens of a pipeline without an LLM) and the ratios are averaged over the
    metrics somebody spent anything on.
    """
    if not finalists:
        return {}
    base = next((f for f in finalists if f.is_base), finalists[0])
    used = [c for c in costs if any(f.costs.get(c, 0.0) > 0 for f in finalists)]
    out = {}
    for finalist in finalists:
        ratios = []
        for cost in used:
            scale = base.costs.get(cost, 0.0) or max(f.costs.get(cost, 0.0) for f in finalists)
            ratios.append(finalist.costs.get(cost, 0.0) / scale)
        out[finalist.number] = sum(ratios) / len(ratios) if ratios else 1.0
    return out


def _score(finalist: Finalist, rule: Rule, folds: Sequence[int] | None) -> float | None:
    """The selection score: validation, or the mean over the given folds."""
    if folds is None:
        return (finalist.validation or {}).get(rule.metric)
    values = [finalist.folds[i].get(rule.metric) for i in folds if i < len(finalist.folds)]
    if not values or None in values:
        return None
    return sum(v for v in values if v is not None) / len(values)


def pick(
    finalists: Sequence[Finalist],
    rule: Rule,
    folds: Sequence[int] | None = None,
    measure: Measure | None = None,
) -> Finalist | None:
    """Return the winner among ``finalists`` (``None`` when none was scored).

    Args:
        finalists: the base(s) first, then the best trials.
        rule: what to compare.
        folds: compare the mean over these folds, qualifying only finalists at least as
            good as the base on each of them; ``None``: compare validation scores.
        measure: fills a finalist's ``costs`` when a tie needs them and it has none.
    """
    base = next((f for f in finalists if f.is_base), None)
    scored = [(f, s) for f in finalists if (s := _score(f, rule, folds)) is not None]
    if folds is not None and base is not None and base.folds:
        scored = [
            (f, s)
            for f, s in scored
            if f is base
            or all(
                rule.better(f.folds[i][rule.metric], base.folds[i][rule.metric])
                >= -rule.tolerance - 1e-12
                for i in folds
            )
        ]
    if not scored:
        return None
    best = max(scored, key=lambda pair: rule.better(pair[1], 0.0))[1]
    tied = [f for f, s in scored if rule.better(best, s) <= rule.tolerance + 1e-12]
    if len(tied) > 1 and measure is not None:
        for finalist in tied:
            if not finalist.costs:
                measure(finalist)
    cost = relative_costs(tied, rule.costs)
    return min(tied, key=lambda f: (cost[f.number], not f.is_base, f.number))


@dataclass
class HeldOut:
    """The winner's gain over the base on users selection never used.

    Attributes:
        split: ``test``, ``cross-validation`` or ``validation`` (biased: it also chose).
        winner: the winner's score there (cross-validation: the mean of each fold's pick).
        base: the base's score there.
        per_fold: per fold: (the trial picked from the other folds, its gain there).
    """

    split: str
    metric: str
    goal: Literal["maximize", "minimize"]
    winner: float
    base: float
    per_fold: list[tuple[int, float]] = field(default_factory=list)

    @property
    def gain(self) -> float:
        """Winner minus base (for a minimised metric: base minus winner), so up is better."""
        return self.winner - self.base if self.goal == "maximize" else self.base - self.winner


def held_out(
    finalists: Sequence[Finalist],
    winner: Finalist,
    rule: Rule,
    folds: int = 0,
    measure: Measure | None = None,
) -> HeldOut | None:
    """Return the honest held-out comparison of ``winner`` against the base.

    Prefers a test split; with ``folds``, the cross-validated gain; else the validation
    scores (marked as the split that chose).
    """
    base = next((f for f in finalists if f.is_base), None)
    if base is None:
        return None
    sign = 1.0 if rule.goal == "maximize" else -1.0
    if winner.test is not None and base.test is not None and rule.metric in winner.test:
        return HeldOut(
            "test", rule.metric, rule.goal, winner.test[rule.metric], base.test[rule.metric]
        )
    if folds and base.folds:
        per_fold, won, lost = [], [], []
        for i in range(folds):
            others = [j for j in range(folds) if j != i]
            chosen = pick(finalists, rule, others, measure) or base
            value, reference = chosen.folds[i][rule.metric], base.folds[i][rule.metric]
            per_fold.append((chosen.number, sign * (value - reference)))
            won.append(value)
            lost.append(reference)
        return HeldOut(
            "cross-validation", rule.metric, rule.goal, sum(won) / folds, sum(lost) / folds,
            per_fold,
        )
    if winner.validation and base.validation and rule.metric in winner.validation:
        return HeldOut(
            "validation",
            rule.metric,
            rule.goal,
            winner.validation[rule.metric],
            base.validation[rule.metric],
        )
    return None
