"""``type: link_expand`` — add the notes linked to the hits so far (A-MEM's expansion).

The first ``seeds`` hits are walked in the graph store, one hop at a time up to ``hops``.
A note reached from a hit scoring ``s`` over a link of weight ``w`` scores
``s × decay × w``; one more hop multiplies again (``s × decay² × w₁ × w₂``). A note
reached several ways keeps its best score, from its fewest hops. Notes already among the
hits are not added again; the best ``max_added`` are fetched from the note store by id
and kept if they pass the query's filters (scope, kind, tags, validity).

``placement`` decides where they go: ``score`` (default) inserts each after its seed,
before the first later hit it outscores, never reordering the hits it was given;
``after_seed`` puts them right after their seed (A-MEM lists each hit followed by its
linked notes); ``end`` appends them.

Each added hit has channel ``link_expand`` and ``explain`` ``{"seed:<id>": seed score,
"link_weight": w, "hops": h}``, where ``w`` is the weight of the last link on the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.stages import GraphLinks, Retriever
from evolvelab.types import Hit, Query

__all__ = ["LinkExpandConfig", "LinkExpandRetriever"]


class LinkExpandConfig(RetrieverConfig):
    """Add notes linked to the hits found by the stages before.

    Example:
        ```yaml
        retrieve:
          - {type: vector, k: 10}
          - {type: link_expand, hops: 1, decay: 0.5, max_added: 10}
        ```
    """

    type: Literal["link_expand"] = "link_expand"
    hops: Annotated[int, Tunable(1, 3)] = Field(
        1, ge=1, le=5, description="How many links away from a hit to go."
    )
    kinds: list[str] | None = Field(
        None, description="Follow only links of these kinds, e.g. [related]; null: every kind."
    )
    direction: Annotated[
        Literal["out", "in", "both"], Tunable(choices=("out", "in", "both"))
    ] = Field(
        "both",
        description="Follow links out of a hit (A-MEM), into it, or both ways.",
    )
    decay: Annotated[float, Tunable(0.1, 1.0)] = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Score factor per hop: added score = seed score × decay × link weight.",
    )
    seeds: Annotated[int, Tunable(1, 20)] = Field(
        10, ge=1, le=1000, description="Expand only the first this many hits."
    )
    max_added: Annotated[int, Tunable(1, 20)] = Field(
        10, ge=0, le=1000, description="Most notes added (A-MEM: k)."
    )
    placement: Annotated[
        Literal["score", "after_seed", "end"], Tunable(choices=("score", "after_seed", "end"))
    ] = Field(
        "score",
        description="Where added notes go: by score after their seed, right after their "
        "seed (A-MEM), or at the end.",
    )


@dataclass(frozen=True)
class _Reach:
    """How an added note was reached: its score, seed, seed position, last link, hops."""

    score: float
    seed: str
    seed_score: float
    position: int
    weight: float
    hops: int


class LinkExpandRetriever(Retriever):
    """Walk the graph store's links from the hits and add what they reach."""

    config_model: ClassVar[type[LinkExpandConfig]] = LinkExpandConfig
    config: LinkExpandConfig
    requires = (GraphLinks,)
    source = False

    def _walk(self, query: Query, previous: list[Hit]) -> dict[str, _Reach]:
        cfg = self.config
        graph = self.resources.find(GraphLinks)
        present = {hit.note.id for hit in previous}
        frontier = {
            hit.note.id: _Reach(hit.score, hit.note.id, hit.score, i, 1.0, 0)
            for i, hit in enumerate(previous[: cfg.seeds])
        }
        reached: dict[str, _Reach] = {}
        for depth in range(1, cfg.hops + 1):
            found: dict[str, _Reach] = {}
            for node, via in frontier.items():
                for nb in graph.neighbours(
                    [node], query.scope, hops=1, kinds=cfg.kinds, direction=cfg.direction
                ):
                    if nb.id in present or nb.id in reached:
                        continue
                    score = via.score * cfg.decay * nb.weight
                    if nb.id not in found or score > found[nb.id].score:
                        found[nb.id] = _Reach(
                            score, via.seed, via.seed_score, via.position, nb.weight, depth
                        )
            reached.update(found)
            frontier = found
        return reached

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        """Return ``previous`` with the linked notes inserted as ``placement`` says."""
        cfg = self.config
        if not previous or cfg.max_added == 0:
            return list(previous)
        reached = self._walk(query, previous)
        order = sorted(reached, key=lambda nid: (-reached[nid].score, nid))
        notes = self.resources.store.get(order, query.scope)
        added: list[tuple[tuple[float, int, float], Hit]] = []
        for note in notes:
            if len(added) == cfg.max_added:
                break
            if not query.where.matches(note):
                continue
            via = reached[note.id]
            hit = Hit(
                note=note,
                score=via.score,
                channel="link_expand",
                explain={f"seed:{via.seed}": via.seed_score, "link_weight": via.weight,
                         "hops": float(via.hops)},
            )  # fmt: skip
            added.append((self._slot(previous, via), hit))
        keyed = [((float(i), 0, 0.0), hit) for i, hit in enumerate(previous)]
        keyed.extend(added)
        keyed.sort(key=lambda pair: pair[0])
        return [hit for _, hit in keyed]

    def _slot(self, previous: list[Hit], via: _Reach) -> tuple[float, int, float]:
        """Return the sort key placing an added hit among ``previous``."""
        if self.config.placement == "end":
            return (float(len(previous)), 1, -via.score)
        if self.config.placement == "after_seed":
            return (float(via.position), 1, -via.score)
        for i in range(via.position + 1, len(previous)):
            if previous[i].score < via.score:
                return (i - 0.5, 1, -via.score)
        return (float(len(previous)), 1, -via.score)
