"""``type: gmemory`` — G-Memory's bi-directional traversal of the three-tier graph.

For a query:

1. **Coarse**: the past query notes most similar to the query (cosine of embeddings;
   ``match: steps`` scores a task by its most similar interaction step instead, ``both``
   takes the larger of the two), at most ``queries`` with cosine >= ``min_similarity``,
   expanded by ``hops`` along ``similar`` edges. This set is Q^S; each member keeps its
   own cosine to the query.
2. **Upward**: the valid insights with a ``supports`` link into Q^S, ranked by how many
   members of Q^S they support, then by insight score, then id; the first ``insights``
   are returned on channel ``gmemory.upward`` with ``score`` = that support count.
3. **Downward**: the ``trajectories`` members of Q^S most similar to the query; for each,
   its query note (``include_queries``) and its trajectory condensed to the ``steps``
   interaction notes most similar to the query (steps whose ``metadata.reward`` is
   negative are dropped first, as G-Memory's sparsifier does), in time order or by
   similarity. They come on channel ``gmemory.downward`` with ``score`` = the task's cosine.

Upward hits come first (their score is a support count, at least 1), then downward hits
task by task: scores never increase down the list. G-Memory notes live at the owner
level, so the query's ``session_id`` is ignored; of its ``where`` filters only
``valid_at`` applies (every tier is read as it was at that time).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.modules.gmemory_graph import (
    INTERACTION,
    QUERY,
    SIMILAR,
    TOLERANCE,
    cosine,
    graph_store,
    note_store,
    owner,
    supporting_insights,
    trajectories,
)
from evolvelab.stages import GraphLinks, Retriever, VectorSearch
from evolvelab.types import Hit, Note, Query, Scope, Where

__all__ = ["GMemoryConfig", "GMemoryRetriever"]

UPWARD, DOWNWARD = "gmemory.upward", "gmemory.downward"
"""Channels of insight hits and of trajectory hits."""

Related = dict[str, tuple[Note, float, int]]
"""Q^S: query id -> (query note, cosine to the question, hops from a seed)."""


class GMemoryConfig(RetrieverConfig):
    """Find similar past tasks, then their insights (upward) and trajectories (downward).

    Example:
        ```yaml
        retrieve:
          - {type: gmemory, queries: 3, hops: 1, insights: 3, trajectories: 2, steps: 8}
        ```
    """

    type: Literal["gmemory"] = "gmemory"
    k: Annotated[int, Tunable(5, 50, log=True)] = Field(
        20, ge=1, le=1000, description="Most hits returned (insights and trajectory notes)."
    )
    queries: Annotated[int, Tunable(1, 20)] = Field(
        3, ge=1, le=200, description="Past queries taken as seeds before expansion."
    )
    min_similarity: Annotated[float, Tunable(0.0, 0.8)] = Field(
        0.3, ge=-1.0, le=1.0, description="Least cosine for a past query to be a seed."
    )
    hops: Annotated[int, Tunable(0, 3)] = Field(
        1, ge=0, le=5, description="Steps along 'similar' edges from the seeds."
    )
    match: Literal["query", "steps", "both"] = Field(
        "query",
        description="Score past tasks by their statement, by their best step, or by the larger.",
    )
    candidates: Annotated[int, Tunable(10, 200, log=True)] = Field(
        50, ge=1, le=2000, description="Interaction notes fetched when match uses steps."
    )
    insights: Annotated[int, Tunable(0, 10)] = Field(
        3, ge=0, le=100, description="Most insights returned (upward)."
    )
    trajectories: Annotated[int, Tunable(0, 10)] = Field(
        2, ge=0, le=100, description="Most similar tasks whose trajectories are returned."
    )
    steps: Annotated[int, Tunable(1, 50, log=True)] = Field(
        8, ge=1, le=1000, description="Steps kept per trajectory (the most similar to the query)."
    )
    step_order: Literal["time", "similarity"] = Field(
        "time", description="Order of the kept steps within a trajectory."
    )
    include_queries: bool = Field(
        True, description="Return each chosen task's query note before its steps."
    )


def _negative_reward(note: Note) -> bool:
    reward = note.metadata.get("reward")
    return isinstance(reward, int | float) and not isinstance(reward, bool) and reward < 0


class GMemoryRetriever(Retriever):
    """Walk the query tier, then up to insights and down to trajectories."""

    config_model: ClassVar[type[GMemoryConfig]] = GMemoryConfig
    config: GMemoryConfig
    requires = (VectorSearch, GraphLinks)

    def _seeds(
        self, vector: list[float], scope: Scope, where: Where
    ) -> dict[str, tuple[Note, float]]:
        """Return the seed query notes with their cosine to the query."""
        cfg, store = self.config, note_store(self.resources)
        found: dict[str, tuple[Note, float]] = {}
        if cfg.match in ("query", "both"):
            kind = where.model_copy(update={"kind": [QUERY]})
            for hit in store.search_vectors(vector, cfg.queries, scope, kind):
                found[hit.note.id] = (hit.note, cosine(vector, hit.note.embedding))
        if cfg.match in ("steps", "both"):
            kind = where.model_copy(update={"kind": [INTERACTION]})
            best: dict[str, float] = {}
            for hit in store.search_vectors(vector, cfg.candidates, scope, kind):
                qid = hit.note.metadata.get("query_id")
                if isinstance(qid, str):
                    best[qid] = max(best.get(qid, -1.0), cosine(vector, hit.note.embedding))
            tasks = {n.id: n for n in store.get(list(best), scope) if self._usable(n, where)}
            for qid, sim in best.items():
                if qid in tasks and sim > found.get(qid, (None, -2.0))[1]:
                    found[qid] = (tasks[qid], sim)
        ranked = sorted(found.items(), key=lambda item: (-item[1][1], item[0]))
        kept = [item for item in ranked if item[1][1] >= cfg.min_similarity - TOLERANCE]
        return dict(kept[: cfg.queries])

    @staticmethod
    def _usable(note: Note, where: Where) -> bool:
        return note.kind == QUERY and note.is_valid_at(where.valid_at)

    def _expand(
        self, seeds: dict[str, tuple[Note, float]], vector: list[float], scope: Scope, where: Where
    ) -> Related:
        """Return Q^S: the seeds (hops 0) and the queries ``hops`` similar-edges away."""
        related: Related = {
            qid: (note, sim, 0) for qid, (note, sim) in seeds.items()
        }
        if not seeds or self.config.hops == 0:
            return related
        walked = graph_store(self.resources).neighbours(
            list(seeds), scope, hops=self.config.hops, kinds=[SIMILAR], direction="both"
        )
        hops = {n.id: n.hops for n in walked}
        for note in note_store(self.resources).get(list(hops), scope):
            if self._usable(note, where):
                related[note.id] = (note, cosine(vector, note.embedding), hops[note.id])
        return related

    def _upward(self, related: Related, scope: Scope, where: Where) -> list[Hit]:
        if self.config.insights == 0 or not related:
            return []
        pairs = supporting_insights(self.resources, list(related), scope, where.valid_at)
        pairs.sort(key=lambda pair: (-len(pair[1]), -pair[0].importance, pair[0].id))
        hits = []
        for insight, supported in pairs[: self.config.insights]:
            lead = max(related[qid][1] for qid in supported)
            explain = {"support": float(len(supported)), "insight_score": insight.importance,
                       "similarity": lead}  # fmt: skip
            score = float(len(supported))
            hits.append(Hit(note=insight, score=score, channel=UPWARD, explain=explain))
        return hits

    def _downward(
        self, related: Related, vector: list[float], scope: Scope, where: Where
    ) -> list[Hit]:
        cfg = self.config
        if cfg.trajectories == 0 or not related:
            return []
        chosen = sorted(related, key=lambda qid: (-related[qid][1], qid))[: cfg.trajectories]
        steps_of = trajectories(self.resources, chosen, scope, where.valid_at)
        hits = []
        for qid in chosen:
            task, sim, hops = related[qid]
            score = min(sim, 1.0)
            explain = {"similarity": sim, "hops": float(hops)}
            if cfg.include_queries:
                hits.append(Hit(note=task, score=score, channel=DOWNWARD, explain=explain))
            steps = [s for s in steps_of[qid] if not _negative_reward(s)]
            scored = [(cosine(vector, s.embedding), i, s) for i, s in enumerate(steps)]
            kept = sorted(scored, key=lambda t: (-t[0], t[1]))[: cfg.steps]
            if cfg.step_order == "time":
                kept.sort(key=lambda t: t[1])
            for step_sim, _, step in kept:
                hits.append(Hit(note=step, score=score, channel=DOWNWARD,
                                explain={**explain, "step_similarity": step_sim}))  # fmt: skip
        return hits

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        """Append insight hits, then trajectory hits, for the tasks most like ``query``."""
        scope = owner(query.scope)
        where = Where(valid_at=query.where.valid_at)
        vector = [float(x) for x in self.resources.embedder.embed([query.text])[0]]
        related = self._expand(self._seeds(vector, scope, where), vector, scope, where)
        hits = self._upward(related, scope, where) + self._downward(related, vector, scope, where)
        return self.extend(previous, hits[: self.config.k])
