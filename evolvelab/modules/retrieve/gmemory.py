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
task by task: scores never increase down the list. Of the query's ``where`` filters only
``valid_at`` applies (every tier is read as it was at that time).

Sessions follow the rule every store keeps (docs/concepts.md, "Scopes"): a query that
names a ``session_id`` sees only that session's notes. G-Memory notes live at the owner
level with their session in ``metadata.session``, so a narrowed search keeps the query
and interaction notes of that session and leaves out insights (they belong to no
session). ``across_sessions: true`` is G-Memory's own design: the session is ignored and
the owner's whole graph is read.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.modules._gmemory_graph import (
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
    candidates: Annotated[int, Tunable(10, 200, log=True, when={"match": ["steps", "both"]})] = Field(
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
    across_sessions: bool = Field(
        False,
        description="Read the owner's notes of every session even when the query names one "
        "(G-Memory's design); false: a query's session_id narrows it like any search.",
    )


Session = str | None
"""The session a search is narrowed to; ``None``: the owner's whole graph."""


def _in_session(note: Note, session: Session) -> bool:
    """Whether ``note`` belongs to ``session`` (always, when the search is not narrowed)."""
    return session is None or note.metadata.get("session") == session


def _usable(note: Note, where: Where, session: Session) -> bool:
    """Whether ``note`` is a query note valid at the search's time and in its session."""
    return note.kind == QUERY and note.is_valid_at(where.valid_at) and _in_session(note, session)


def _negative_reward(note: Note) -> bool:
    reward = note.metadata.get("reward")
    return isinstance(reward, int | float) and not isinstance(reward, bool) and reward < 0


class GMemoryRetriever(Retriever):
    """Walk the query tier, then up to insights and down to trajectories."""

    config_model: ClassVar[type[GMemoryConfig]] = GMemoryConfig
    config: GMemoryConfig
    requires = (VectorSearch, GraphLinks)

    def _nearest(
        self, vector: list[float], count: int, scope: Scope, where: Where, session: Session
    ) -> list[Hit]:
        """Return the ``count`` nearest notes of the search's session (all: not narrowed).

        Notes of other sessions share the owner's scope, so a narrowed search widens the
        vector search until it holds ``count`` notes of the session or the store runs out.
        """
        store = note_store(self.resources)
        wanted = count
        while True:
            hits = store.search_vectors(vector, wanted, scope, where)
            kept = [h for h in hits if _in_session(h.note, session)]
            if len(kept) >= count or len(hits) < wanted:
                return kept[:count]
            wanted *= 4

    def _seeds(
        self, vector: list[float], scope: Scope, where: Where, session: Session
    ) -> dict[str, tuple[Note, float]]:
        """Return the seed query notes with their cosine to the query."""
        cfg, store = self.config, note_store(self.resources)
        found: dict[str, tuple[Note, float]] = {}
        if cfg.match in ("query", "both"):
            kind = where.model_copy(update={"kind": [QUERY]})
            for hit in self._nearest(vector, cfg.queries, scope, kind, session):
                found[hit.note.id] = (hit.note, cosine(vector, hit.note.embedding))
        if cfg.match in ("steps", "both"):
            kind = where.model_copy(update={"kind": [INTERACTION]})
            best: dict[str, float] = {}
            for hit in self._nearest(vector, cfg.candidates, scope, kind, session):
                qid = hit.note.metadata.get("query_id")
                if isinstance(qid, str):
                    best[qid] = max(best.get(qid, -1.0), cosine(vector, hit.note.embedding))
            tasks = {n.id: n for n in store.get(list(best), scope) if _usable(n, where, session)}
            for qid, sim in best.items():
                if qid in tasks and sim > found.get(qid, (None, -2.0))[1]:
                    found[qid] = (tasks[qid], sim)
        ranked = sorted(found.items(), key=lambda item: (-item[1][1], item[0]))
        kept = [item for item in ranked if item[1][1] >= cfg.min_similarity - TOLERANCE]
        return dict(kept[: cfg.queries])

    def _expand(
        self,
        seeds: dict[str, tuple[Note, float]],
        vector: list[float],
        scope: Scope,
        where: Where,
        session: Session,
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
            if _usable(note, where, session):
                related[note.id] = (note, cosine(vector, note.embedding), hops[note.id])
        return related

    def _upward(
        self, related: Related, scope: Scope, where: Where, session: Session
    ) -> list[Hit]:
        if self.config.insights == 0 or not related or session is not None:
            return []  # insights belong to no session: a narrowed search leaves them out
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
        self, related: Related, vector: list[float], scope: Scope, where: Where, session: Session
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
            steps = [
                s for s in steps_of[qid] if not _negative_reward(s) and _in_session(s, session)
            ]
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
        session = None if self.config.across_sessions else query.scope.session_id
        where = Where(valid_at=query.where.valid_at)
        vector = [float(x) for x in self.resources.embedder.embed([query.text])[0]]
        seeds = self._seeds(vector, scope, where, session)
        related = self._expand(seeds, vector, scope, where, session)
        hits = self._upward(related, scope, where, session)
        hits += self._downward(related, vector, scope, where, session)
        return self.extend(previous, hits[: self.config.k])
