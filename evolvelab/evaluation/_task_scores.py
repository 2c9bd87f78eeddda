"""The experiential metrics: episode budgets, helpful recall, misleading rate, curves, spread.

A search's hits are expanded into their source event ids in rank order, each id is
mapped to its episode, and the distinct episodes are cut at ``k``: the **episode
budget**. Against the task's helpful episodes ``H`` and misleading episodes ``M`` (those
already in memory when the task is asked):

- ``helpful_recall@k = |H ∩ budget| / min(|H|, k)``: 1 when the budget is as full of
  helpful episodes as it can be (scored for tasks with ``H`` non-empty);
- ``misleading_rate@k = |M ∩ budget| / |budget|``: the share of supplied episodes that
  mislead, 0 when nothing was supplied (scored for tasks with ``M`` non-empty).

The simulated outcome (``feedback: simulated``) is an agent that reads the episodes of
the hits it was supplied: it succeeds when more of them help than mislead, and its
graded score is the mean worth of the supplied episodes (helpful 1, other 0.5,
misleading 0).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from evolvelab.evaluation.metrics import mean, ranked_sources
from evolvelab.evaluation.schema import CurvePoint, OrderScores, Spread
from evolvelab.types import Hit

__all__ = ["TaskScore", "curve", "episode_budget", "order_scores", "simulated_outcome", "spread"]


def episode_budget(hits: Sequence[Hit], episodes: dict[str, str], k: int | None = None) -> list[str]:
    """Return the first ``k`` (all, for ``None``) distinct episodes behind ``hits``.

    A source id that ``episodes`` does not map is an episode of its own.
    """
    out = list(dict.fromkeys(episodes.get(source, source) for source in ranked_sources(hits)))
    return out[:k]


def simulated_outcome(
    supplied: Sequence[str], helpful: set[str], misleading: set[str]
) -> tuple[bool, float]:
    """Return ``(success, score)`` of an agent given the episodes in ``supplied``.

    It succeeds when more supplied episodes help than mislead. The score grades the
    supplied set: each helpful episode counts 1, each misleading one 0, any other 0.5,
    averaged (0.5 when nothing was supplied); an episode that both helps and misleads
    counts as helpful.
    """
    given = list(dict.fromkeys(supplied))
    h = sum(e in helpful for e in given)
    x = sum(e in misleading and e not in helpful for e in given)
    neutral = len(given) - h - x
    return h > x, ((h + 0.5 * neutral) / len(given) if given else 0.5)


@dataclass
class TaskScore:
    """One replayed task's experiential scores (``None`` where the task is not scored)."""

    position: int
    helpful_recall: dict[str, float] | None
    misleading_rate: dict[str, float] | None
    success: bool | None = None
    supplied: list[str] = field(default_factory=list)


def score_task(position: int, budget: list[str], helpful: set[str], misleading: set[str],
               ks: Sequence[int]) -> TaskScore:  # fmt: skip
    """Score the task at ``position`` from its widest episode budget (the first ``max(ks)`` episodes)."""
    recall = None
    if helpful:
        recall = {str(k): len(helpful & set(budget[:k])) / min(len(helpful), k) for k in ks}
    rate = None
    if misleading:
        rate = {str(k): (len(misleading & set(budget[:k])) / len(budget[:k]) if budget[:k] else 0.0)
                for k in ks}  # fmt: skip
    return TaskScore(position, recall, rate)


def _means(rows: Sequence[TaskScore], ks: Sequence[int], attr: str) -> dict[str, float]:
    scored = [getattr(r, attr) for r in rows if getattr(r, attr) is not None]
    return {str(k): round(mean(s[str(k)] for s in scored) or 0.0, 6) for k in ks}


def _success(rows: Sequence[TaskScore]) -> float | None:
    fed = [r.success for r in rows if r.success is not None]
    return round(sum(fed) / len(fed), 6) if fed else None


def order_scores(rows: Sequence[TaskScore], ks: Sequence[int], seed: int | None) -> OrderScores:
    """Return the headline scores of one replay."""
    return OrderScores(seed=seed, helpful_recall=_means(rows, ks, "helpful_recall"),
                       misleading_rate=_means(rows, ks, "misleading_rate"),
                       success_rate=_success(rows))  # fmt: skip


def curve(rows: Sequence[TaskScore], ks: Sequence[int], window: int) -> list[CurvePoint]:
    """Return the scores over consecutive stretches of ``window`` task positions."""
    points = []
    for start in range(0, len(rows), window):
        part = rows[start : start + window]
        points.append(CurvePoint(
            start=part[0].position, end=part[-1].position,
            helpful_tasks=sum(r.helpful_recall is not None for r in part),
            misleading_tasks=sum(r.misleading_rate is not None for r in part),
            helpful_recall=_means(part, ks, "helpful_recall"),
            misleading_rate=_means(part, ks, "misleading_rate"),
            success_rate=_success(part),
        ))  # fmt: skip
    return points


def spread(orders: Sequence[OrderScores]) -> dict[str, dict[str, Spread]]:
    """Return each metric's spread over replay orders, per k."""
    out: dict[str, dict[str, Spread]] = {}
    for metric in ("helpful_recall", "misleading_rate"):
        by_k: dict[str, Spread] = {}
        for k in getattr(orders[0], metric):
            values = [getattr(o, metric)[k] for o in orders]
            by_k[k] = Spread(mean=round(statistics.fmean(values), 6),
                             std=round(statistics.pstdev(values), 6),
                             min=min(values), max=max(values))  # fmt: skip
        out[metric] = by_k
    return out
