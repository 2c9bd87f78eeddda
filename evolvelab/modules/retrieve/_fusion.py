"""Fuse ranked lists of hits into one: weighted max-normalised scores, or reciprocal rank.

A helper, not a stage type: ``hybrid`` fuses its channels with it, ``bm25`` blends its
index-text and content searches, ``hcam`` and ``hindsight_recall`` merge their paths.

- ``rrf`` (reciprocal rank): a note scores ``sum_c weight_c / (rrf_k + rank_c)``, ranks
  starting at 1;
- ``score``: a note scores ``sum_c weight_c * score_c / max score_c`` — each list's scores
  divided by that list's best, so BM25 and cosine land on one scale.

Notes a list did not return get nothing from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from evolvelab.types import Hit

__all__ = ["fuse"]


def fuse(
    results: Sequence[tuple[str, float, Sequence[Hit]]],
    *,
    fusion: Literal["rrf", "score"] = "score",
    rrf_k: float = 60.0,
    channel: str,
) -> list[Hit]:
    """Fuse ranked lists into one, best first (the formulas are in the module docstring).

    Args:
        results: ``(name, weight, hits)`` per list, each list best first.
        fusion: ``score`` (weighted max-normalised scores) or ``rrf`` (weighted reciprocal rank).
        rrf_k: the rank offset of reciprocal-rank fusion.
        channel: the channel the fused hits carry.

    Returns:
        One hit per note; ``explain`` keeps the note's first hit's explain and adds each
        list's raw score (``score``) or rank (``rrf``) under its name.
    """
    by_score = fusion == "score"
    fused: dict[str, float] = {}
    explain: dict[str, dict[str, float]] = {}
    notes = {}
    for name, weight, hits in results:
        best = max((h.score for h in hits), default=0.0)
        for rank, hit in enumerate(hits, start=1):
            note_id = hit.note.id
            notes.setdefault(note_id, hit.note)
            if by_score:
                gain = weight * hit.score / best if best > 0 else 0.0
            else:
                gain = weight / (rrf_k + rank)
            fused[note_id] = fused.get(note_id, 0.0) + gain
            explain.setdefault(note_id, dict(hit.explain))[name] = (
                hit.score if by_score else float(rank)
            )
    ranked = sorted(fused, key=lambda note_id: -fused[note_id])
    return [
        Hit(note=notes[nid], score=fused[nid], channel=channel, explain=explain[nid])
        for nid in ranked
    ]
