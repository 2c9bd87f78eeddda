"""``type: hindsight_recall`` — Hindsight's four-channel recall (TEMPR) fused by RRF.

Four channels run over the notes of the chosen ``networks`` (note kinds):

- ``semantic``: vector search (the store's cosine);
- ``bm25``: the store's full-text search;
- ``graph``: spreading activation (:mod:`~evolvelab.modules.retrieve._spreading`) from
  the ``seeds`` best notes of the semantic and BM25 channels along the links
  ``hindsight_retain`` writes, both ways: ``entity`` (weight ``entity_weight``),
  ``causal`` (``causal_weight``), ``temporal`` (``temporal_link_weight``) and the
  ``prev``/``next`` links of ``turn`` notes (``temporal_link_weight``);
- ``temporal``: the question's time expression parsed into a window
  (:mod:`~evolvelab.modules.retrieve._temporal`); notes whose event time falls in it,
  ranked by the question words they hold (nothing when the question names no time).

Each channel fetches ``candidates`` notes; the lists are fused by weighted reciprocal
rank (``sum_c weight_c / (rrf_k + rank_c)``), and the fused list is cut to what fits in
``max_tokens`` (a note costs ``ceil(4/3 * words)`` tokens; at least one note is kept)
and to ``k``. ``explain`` holds each channel's rank of the note. Hindsight also
re-ranks with a cross-encoder; that step is left out here (no model offline).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, StageConfig, Tunable
from evolvelab.modules.retrieve._spreading import LinkGraph, spread
from evolvelab.modules.retrieve.bm25 import without_stop_words
from evolvelab.modules.retrieve._fusion import fuse
from evolvelab.modules.retrieve.temporal import query_window, rank_in_window
from evolvelab.stages import Resources, Retriever, Scannable, TextSearch, VectorSearch
from evolvelab.types import Hit, Query

__all__ = ["HindsightRecallConfig", "HindsightRecallRetriever", "token_cost"]

Channel = Literal["semantic", "bm25", "graph", "temporal"]


class HindsightRecallConfig(RetrieverConfig):
    """Run semantic, BM25, graph and temporal channels; fuse by RRF within a token budget.

    Example:
        ```yaml
        retrieve:
          - {type: hindsight_recall, channels: [semantic, bm25, graph, temporal], max_tokens: 2048, k: 20}
        ```
    """

    type: Literal["hindsight_recall"] = "hindsight_recall"
    channels: list[Channel] = Field(
        default_factory=lambda: ["semantic", "bm25", "graph", "temporal"],
        min_length=1,
        description="Channels to run and fuse.",
    )
    networks: list[str] = Field(
        default_factory=lambda: ["world", "experience", "opinion", "observation"],
        min_length=1,
        description="Note kinds (networks) searched.",
    )
    semantic_weight: Annotated[float, Tunable(0.0, 2.0, when={"channels": "semantic"})] = Field(
        1.0, ge=0.0, description="RRF weight of the semantic channel."
    )
    bm25_weight: Annotated[float, Tunable(0.0, 2.0, when={"channels": "bm25"})] = Field(
        1.0, ge=0.0, description="RRF weight of the BM25 channel."
    )
    graph_weight: Annotated[float, Tunable(0.0, 2.0, when={"channels": "graph"})] = Field(
        0.5, ge=0.0, description="RRF weight of the graph channel."
    )
    temporal_weight: Annotated[float, Tunable(0.0, 2.0, when={"channels": "temporal"})] = Field(
        1.0, ge=0.0, description="RRF weight of the temporal channel."
    )
    rrf_k: Annotated[float, Tunable(1, 120, log=True)] = Field(
        60.0, gt=0, description="Rank offset of reciprocal-rank fusion."
    )
    candidates: Annotated[int, Tunable(10, 200, log=True)] = Field(
        50, ge=1, le=1000, description="How many notes each channel fetches."
    )
    seeds: Annotated[int, Tunable(1, 20, when={"channels": "graph"})] = Field(
        5, ge=1, le=200, description="Graph channel: notes spreading starts from."
    )
    hops: Annotated[int, Tunable(1, 3, when={"channels": "graph"})] = Field(
        2, ge=1, le=5, description="Graph channel: steps of spreading."
    )
    decay: Annotated[float, Tunable(0.2, 1.0, when={"channels": "graph"})] = Field(
        0.5, gt=0.0, le=1.0, description="Graph channel: factor per step."
    )
    entity_weight: Annotated[float, Tunable(0.5, 2.0, when={"channels": "graph"})] = Field(
        1.2, ge=0.0, description="Spreading weight of entity links."
    )
    causal_weight: Annotated[float, Tunable(0.5, 2.0, when={"channels": "graph"})] = Field(
        1.5, ge=0.0, description="Spreading weight of causal links."
    )
    temporal_link_weight: Annotated[float, Tunable(0.0, 2.0, when={"channels": "graph"})] = Field(
        0.8, ge=0.0, description="Spreading weight of temporal (and prev/next) links."
    )
    slack_days: Annotated[float, Tunable(0.0, 14.0, when={"channels": "temporal"})] = Field(
        1.0,
        ge=0.0,
        le=365.0,
        description="Temporal channel: widen the window by this many days each side.",
    )
    drop_stop_words: Annotated[bool, Tunable(choices=(False, True), when={"channels": "bm25"})] = (
        Field(False, description="Take common English words out of the BM25 query.")
    )
    max_tokens: Annotated[int, Tunable(256, 8192, log=True)] = Field(
        4096, ge=1, description="Token budget of the returned notes (ceil(4/3 * words) each)."
    )
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="Most notes returned."
    )


def token_cost(text: str) -> int:
    """Return the estimated tokens of ``text``: ``ceil(4/3 * words)``."""
    return math.ceil(len(text.split()) * 4 / 3)


class HindsightRecallRetriever(Retriever):
    """Four channels, reciprocal rank fusion, a token budget."""

    config_model: ClassVar[type[HindsightRecallConfig]] = HindsightRecallConfig
    config: HindsightRecallConfig

    @classmethod
    def capabilities_needed(cls, config: StageConfig, registry: Any) -> tuple[type[Any], ...]:
        assert isinstance(config, HindsightRecallConfig)
        needed: list[type[Any]] = []
        if "semantic" in config.channels:
            needed.append(VectorSearch)
        if "bm25" in config.channels:
            needed.append(TextSearch)
        if "graph" in config.channels or "temporal" in config.channels:
            needed.append(Scannable)
        return tuple(needed)

    def open(self, resources: Resources) -> None:
        super().open(resources)
        self._graph = LinkGraph()

    def _weights(self) -> dict[str, float]:
        cfg = self.config
        return {"entity": cfg.entity_weight, "causal": cfg.causal_weight, "temporal": cfg.temporal_link_weight,
                "prev": cfg.temporal_link_weight, "next": cfg.temporal_link_weight}  # fmt: skip

    def channel_hits(self, query: Query) -> dict[str, list[Hit]]:
        """Return each configured channel's ranked hits for ``query`` (before fusion)."""
        cfg = self.config
        where = (
            query.where.model_copy(update={"kind": cfg.networks})
            if query.where.kind is None
            else query.where
        )
        scoped = query.model_copy(update={"where": where})
        out: dict[str, list[Hit]] = {}
        if "semantic" in cfg.channels:
            vector = self.resources.embedder.embed([query.text])[0]
            out["semantic"] = self.resources.find(VectorSearch).search_vectors(
                vector, cfg.candidates, query.scope, where
            )
        if "bm25" in cfg.channels:
            text = without_stop_words(query.text) if cfg.drop_stop_words else query.text
            out["bm25"] = self.resources.find(TextSearch).search_text(
                text, cfg.candidates, query.scope, where
            )
        if "graph" in cfg.channels:
            out["graph"] = self._graph_channel(scoped, out)
        if "temporal" in cfg.channels:
            window = query_window(scoped, self)
            slack = timedelta(days=cfg.slack_days)
            out["temporal"] = (
                []
                if window is None
                else rank_in_window(self, scoped, window, cfg.candidates, slack=slack)
            )
        return out

    def _graph_channel(self, query: Query, found: dict[str, list[Hit]]) -> list[Hit]:
        cfg = self.config
        entry = fuse(
            [(name, 1.0, hits) for name, hits in found.items()],
            fusion="rrf",
            rrf_k=cfg.rrf_k,
            channel="seed",
        )
        seeds = [h.note.id for h in entry[: cfg.seeds]]
        if not seeds:
            return []
        store = self.resources.find(Scannable)
        graph = self._graph.adjacency(store, query.scope, query.where.kind)
        reached = spread(graph, seeds, self._weights(), hops=cfg.hops, decay=cfg.decay)
        top = list(reached)[: cfg.candidates]
        fresh = {n.id: n for n in self.resources.store.get(top, query.scope)}
        return [
            Hit(note=fresh[nid], score=reached[nid], channel="graph")
            for nid in top
            if nid in fresh and query.where.matches(fresh[nid])
        ]

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        cfg = self.config
        weights = {"semantic": cfg.semantic_weight, "bm25": cfg.bm25_weight, "graph": cfg.graph_weight,
                   "temporal": cfg.temporal_weight}  # fmt: skip
        lists = [(name, weights[name], hits) for name, hits in self.channel_hits(query).items()]
        fused = fuse(lists, fusion="rrf", rrf_k=cfg.rrf_k, channel="hindsight")
        kept: list[Hit] = []
        spent = 0
        for hit in fused:
            cost = token_cost(hit.note.content)
            if kept and spent + cost > cfg.max_tokens:
                break
            kept.append(hit)
            spent += cost
            if len(kept) == cfg.k:
                break
        return self.extend(previous, kept)
