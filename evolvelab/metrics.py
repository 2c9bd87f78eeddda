"""Retrieval metrics computed from hits and gold evidence ids.

Recall is measured on a *turn budget*: the ranked hits are expanded into their source
event ids in rank order, de-duplicated, and cut at ``k`` ids. A note built from many
turns therefore spends as much of the budget as it covers and cannot win by covering a
whole session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from evolvelab.types import Hit

__all__ = ["evidence_rank", "recall_at_k", "ranked_sources"]


def ranked_sources(hits: Sequence[Hit]) -> list[str]:
    """Return the hits' source event ids in rank order, de-duplicated."""
    return list(dict.fromkeys(source for hit in hits for source in hit.note.source_ids))


def recall_at_k(hits: Sequence[Hit], gold: Iterable[str], k: int) -> float | None:
    """Return the share of ``gold`` ids among the first ``k`` ranked source ids.

    Returns ``None`` when there is no gold evidence (the question is not scorable).

    Example:
        >>> recall_at_k(hits, ["D1:3", "D2:7"], k=10)
        0.5
    """
    wanted = set(gold)
    if not wanted:
        return None
    budget = set(ranked_sources(hits)[:k])
    return len(wanted & budget) / len(wanted)


def evidence_rank(hits: Sequence[Hit], gold: Iterable[str]) -> int | None:
    """Return the 1-based position of the first gold id among the ranked source ids."""
    wanted = set(gold)
    for position, source in enumerate(ranked_sources(hits), start=1):
        if source in wanted:
            return position
    return None
