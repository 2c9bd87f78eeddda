"""``type: neighbours`` — spread relevance to the turns around each hit.

In a conversation the words of a question are often split between a turn and the turns
next to it (a question and its answer, a story told over several turns). This refiner
gives every note within ``window`` links of a hit (following ``prev`` and ``next`` links,
as the ``turn`` encoder writes them) a share of the hit's score::

    score(n) += weight * decay ** (d - 1) * score(hit)      for d = 1 .. window

summed over every hit that reaches ``n``, then re-ranks. Notes that were not hits enter
the list this way. On LoCoMo dev (turn-level notes, score-fused BM25 + MiniLM, window 2,
weight 0.4, decay 0.7) it lifts recall@10 on a turn budget from 0.65 to about 0.72.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.stages import Retriever
from evolvelab.types import Hit, Note, Query

__all__ = ["NeighboursConfig", "NeighboursRetriever"]


class NeighboursConfig(RetrieverConfig):
    """Give the turns around each hit a share of its score, then re-rank.

    Example:
        ```yaml
        retrieve:
          - {type: hybrid, channels: [bm25, vector], fusion: score, weights: [1.0, 0.3], k: 30}
          - {type: neighbours, window: 2, weight: 0.4, decay: 0.7, k: 20}
        ```
    """

    type: Literal["neighbours"] = "neighbours"
    window: Annotated[int, Tunable(1, 4)] = Field(
        2, ge=1, le=10, description="How many links away from a hit to spread its score."
    )
    weight: Annotated[float, Tunable(0.05, 1.0)] = Field(
        0.4, ge=0.0, le=2.0, description="Share of a hit's score its direct neighbours get."
    )
    decay: Annotated[float, Tunable(0.3, 1.0)] = Field(
        0.7, gt=0.0, le=1.0, description="Factor applied per further link."
    )
    kinds: list[str] = Field(
        default_factory=lambda: ["prev", "next"], min_length=1, description="Link kinds to follow."
    )
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many notes to keep after re-ranking."
    )


class NeighboursRetriever(Retriever):
    """Follow sequence links from the hits and smooth scores over them."""

    config_model: ClassVar[type[NeighboursConfig]] = NeighboursConfig
    config: NeighboursConfig
    source = False

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        if not previous:
            return previous
        cfg = self.config
        known: dict[str, Note] = {hit.note.id: hit.note for hit in previous}
        scores: dict[str, float] = {hit.note.id: hit.score for hit in previous}
        base = dict(scores)
        seeds: dict[str, dict[str, float]] = {}
        # walk each direction separately: frontier entries are (note id, seed id, kind)
        frontier = [(hit.note.id, hit.note.id, kind) for hit in previous for kind in cfg.kinds]
        for step in range(1, cfg.window + 1):
            share = cfg.weight * cfg.decay ** (step - 1)
            targets = [
                (link.target, seed, kind)
                for note_id, seed, kind in frontier
                for link in known[note_id].links
                if link.kind == kind
            ]
            missing = list(dict.fromkeys(t for t, _, _ in targets if t not in known))
            if missing:
                for note in self.resources.store.get(missing, query.scope):
                    known[note.id] = note
            frontier = []
            for target, seed, kind in targets:
                if target not in known or not query.where.matches(known[target]):
                    continue
                gain = share * base[seed]
                scores[target] = scores.get(target, 0.0) + gain
                seeds.setdefault(target, {})[seed] = seeds.get(target, {}).get(seed, 0.0) + gain
                frontier.append((target, seed, kind))
        ranked = sorted(scores, key=lambda nid: -scores[nid])[: cfg.k]
        previous_by_id = {hit.note.id: hit for hit in previous}
        hits = []
        for note_id in ranked:
            explain = {f"from:{seed}": gain for seed, gain in seeds.get(note_id, {}).items()}
            if note_id in previous_by_id:
                hit = previous_by_id[note_id]
                explain = {**hit.explain, "base": base[note_id], **explain}
                hits.append(hit.model_copy(update={"score": scores[note_id], "explain": explain}))
            else:
                hits.append(
                    Hit(note=known[note_id], score=scores[note_id], channel="neighbours", explain=explain)
                )
        return hits
