"""Retrieval metrics computed from hits and gold evidence ids.

Recall is measured on a *turn budget*: the ranked hits are expanded into their source
event ids in rank order, de-duplicated, and cut at ``k`` ids. A note built from many
turns therefore spends as much of the budget as it covers and cannot win by covering a
whole session.

Every metric comes in two forms: one taking the hits a search returned, and one taking
the ranked source ids (``*_ids``), which is what an evaluation report keeps per query so
that scores can be recomputed without searching again.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from evolvelab.errors import EvolveLabError
from evolvelab.types import HIDDEN_KINDS, Hit

__all__ = [
    "evidence_rank",
    "hit_at_k",
    "hit_at_k_ids",
    "mean",
    "percentile",
    "rank_ids",
    "ranked_sources",
    "recall_at_k",
    "recall_at_k_ids",
    "reciprocal_rank_ids",
]


def ranked_sources(hits: Sequence[Hit]) -> list[str]:
    """Return the hits' source event ids in rank order, de-duplicated.

    Hits of hidden kinds (lessons: warnings about other notes) spend no budget.
    """
    return list(
        dict.fromkeys(
            source
            for hit in hits
            if hit.note.kind not in HIDDEN_KINDS
            for source in hit.note.source_ids
        )
    )


def recall_at_k_ids(ranked: Sequence[str], gold: Iterable[str], k: int) -> float | None:
    """Return the share of ``gold`` ids among the first ``k`` distinct ``ranked`` ids.

    Args:
        ranked: source event ids in rank order (duplicates are dropped before the cut).
        gold: the question's evidence ids (duplicates count once).
        k: the turn budget.

    Returns:
        A share in [0, 1], or ``None`` when there is no gold evidence (not scorable).

    Example:
        >>> recall_at_k_ids(["D1:1", "D1:1", "D2:7", "D3:1"], ["D2:7", "D9:9"], k=2)
        0.5
    """
    wanted = set(gold)
    if not wanted:
        return None
    budget = set(list(dict.fromkeys(ranked))[:k])
    return len(wanted & budget) / len(wanted)


def recall_at_k(hits: Sequence[Hit], gold: Iterable[str], k: int) -> float | None:
    """Return the share of ``gold`` ids among the first ``k`` ranked source ids.

    Returns ``None`` when there is no gold evidence (the question is not scorable).

    Example:
        A session summary covering two turns, then one turn (the summary spends two ids):

        >>> from evolvelab.types import Hit, Note
        >>> summary = Note(id="n1", content="...", kind="summary", source_ids=["D1:1", "D1:3"])
        >>> turn = Note(id="n2", content="...", source_ids=["D2:7"])
        >>> hits = [Hit(note=summary, score=0.9, channel="vector"),
        ...         Hit(note=turn, score=0.8, channel="vector")]
        >>> recall_at_k(hits, ["D1:3", "D2:7"], k=2), recall_at_k(hits, ["D1:3", "D2:7"], k=3)
        (0.5, 1.0)
    """
    return recall_at_k_ids(ranked_sources(hits), gold, k)


def rank_ids(ranked: Sequence[str], gold: Iterable[str]) -> int | None:
    """Return the 1-based position of the first gold id among the distinct ranked ids."""
    wanted = set(gold)
    for position, source in enumerate(dict.fromkeys(ranked), start=1):
        if source in wanted:
            return position
    return None


def evidence_rank(hits: Sequence[Hit], gold: Iterable[str]) -> int | None:
    """Return the 1-based position of the first gold id among the ranked source ids."""
    return rank_ids(ranked_sources(hits), gold)


def hit_at_k_ids(ranked: Sequence[str], gold: Iterable[str], k: int) -> float | None:
    """Return 1.0 if any gold id is within the first ``k`` distinct ids, else 0.0.

    Returns ``None`` when there is no gold evidence.
    """
    wanted = set(gold)
    if not wanted:
        return None
    rank = rank_ids(ranked, wanted)
    return 1.0 if rank is not None and rank <= k else 0.0


def hit_at_k(hits: Sequence[Hit], gold: Iterable[str], k: int) -> float | None:
    """Return 1.0 if any gold id is within the turn budget ``k`` of ``hits``, else 0.0."""
    return hit_at_k_ids(ranked_sources(hits), gold, k)


def reciprocal_rank_ids(ranked: Sequence[str], gold: Iterable[str], k: int) -> float | None:
    """Return 1/rank of the first gold id within the turn budget ``k`` (0.0 if none).

    Averaged over questions this is MRR@k. Returns ``None`` when there is no gold evidence.

    Example:
        >>> reciprocal_rank_ids(["a", "b", "c"], ["c"], k=10)
        0.3333333333333333
    """
    wanted = set(gold)
    if not wanted:
        return None
    rank = rank_ids(ranked, wanted)
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the ``q``-th percentile of ``values``, interpolating linearly between ranks.

    Args:
        values: the sample (any order).
        q: the percentile, in [0, 100].

    Returns:
        The percentile, or ``None`` for an empty sample.

    Raises:
        EvolveLabError: if ``q`` is outside [0, 100].

    Example:
        >>> percentile([10.0, 20.0, 30.0, 40.0], 50)
        25.0
    """
    if not 0 <= q <= 100:
        raise EvolveLabError(f"percentile must be within [0, 100], got {q}")
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    if q == 0:
        return float(min(values))
    if q == 100:
        return float(max(values))
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Iterable[float]) -> float | None:
    """Return the arithmetic mean, or ``None`` for no values."""
    values = list(values)
    return statistics.fmean(values) if values else None
