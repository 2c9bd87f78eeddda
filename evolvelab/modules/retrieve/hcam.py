"""``type: hcam`` — two-level recall: rank chunk summaries, then search inside the best chunks.

HCAM (Lampinen et al., NeurIPS 2021) attends over coarse chunk summaries first and then,
in detail, only over the memories of the top chunks. Here the chunks are the notes of
kind ``chunk`` the ``hcam_chunk`` manager writes. A search:

1. ranks chunk summaries by full text (``rank_by: text``), by vector similarity
   (``vector``) or by both, fused by max-normalised score (as ``hybrid``'s ``score``
   fusion), and keeps the best ``chunks``;
2. searches in detail among their member notes: full text (``detail: text``; the
   store's BM25 over the member kinds, ``candidates`` deep, keeping members of the top
   chunks) or exact cosine against each member's stored embedding (``detail: vector``);
3. scores each member ``chunk_weight * chunk + (1 - chunk_weight) * detail`` (both
   divided by their best in this search) and returns the best ``k``; ``per_chunk`` caps
   how many come from one chunk.

Hits are the member notes themselves (turns), so a turn budget charges them per turn
like any retriever; chunk notes are never returned. A member the detail search did not
find is not returned (a full-text miss has no words of the question).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, StageConfig, Tunable
from evolvelab.modules.manage.hcam_chunk import CHUNK_KIND, chunk_members
from evolvelab.modules.retrieve._fusion import fuse
from evolvelab.modules.retrieve.bm25 import without_stop_words
from evolvelab.stages import Retriever, TextSearch, VectorSearch
from evolvelab.types import Hit, Query, Where

__all__ = ["HCAMConfig", "HCAMRetriever"]


class HCAMConfig(RetrieverConfig):
    """Rank chunk summaries, then search in detail inside the top chunks only.

    Example:
        ```yaml
        retrieve:
          - {type: hcam, chunks: 4, rank_by: text, detail: text, chunk_weight: 0.3, k: 20}
        ```
    """

    type: Literal["hcam"] = "hcam"
    chunks: Annotated[int, Tunable(1, 12)] = Field(
        4, ge=1, le=200, description="How many top chunks are searched in detail."
    )
    # rank_by and detail are not Tunable: their vector options need an embedder, which a
    # text-only base pipeline does not have (a spec's `space` can still search them)
    rank_by: Literal["text", "vector", "both"] = Field(
        "text", description="How chunk summaries are ranked: full text, vectors, or both fused."
    )
    vector_weight: Annotated[float, Tunable(0.0, 1.0, when={"rank_by": "both"})] = Field(
        0.3, ge=0.0, le=10.0, description="Weight of the vector ranking with `rank_by: both`."
    )
    detail: Literal["text", "vector"] = Field(
        "text", description="How members of the top chunks are searched: full text or exact cosine."
    )
    candidates: Annotated[int, Tunable(50, 1000, log=True, when={"detail": "text"})] = Field(
        300, ge=1, le=10000, description="Depth of the full-text detail search."
    )
    chunk_weight: Annotated[float, Tunable(0.0, 0.8)] = Field(
        0.3, ge=0.0, le=1.0, description="Share of a member's score that comes from its chunk's."
    )
    per_chunk: Annotated[int, Tunable(0, 20)] = Field(
        0, ge=0, description="Most hits from one chunk; 0: no cap."
    )
    drop_stop_words: Annotated[bool, Tunable(choices=(False, True))] = Field(
        False, description="Take common English words out of the query before full-text searches."
    )
    kinds: list[str] = Field(
        default_factory=lambda: ["turn"], min_length=1, description="Member note kinds returned."
    )
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many notes to return."
    )


class HCAMRetriever(Retriever):
    """Two-level recall over ``hcam_chunk`` summaries."""

    config_model: ClassVar[type[HCAMConfig]] = HCAMConfig
    config: HCAMConfig

    @classmethod
    def capabilities_needed(cls, config: StageConfig, registry: Any) -> tuple[type[Any], ...]:
        assert isinstance(config, HCAMConfig)
        needed: list[type[Any]] = []
        if config.rank_by in ("text", "both") or config.detail == "text":
            needed.append(TextSearch)
        if config.rank_by in ("vector", "both"):
            needed.append(VectorSearch)
        return tuple(needed)

    def _rank_chunks(self, query: Query, text: str) -> list[Hit]:
        cfg = self.config
        where = Where(kind=[CHUNK_KIND])
        lists: list[tuple[str, float, list[Hit]]] = []
        if cfg.rank_by in ("text", "both"):
            store = self.resources.find(TextSearch)
            lists.append(("text", 1.0, store.search_text(text, cfg.chunks, query.scope, where)))
        if cfg.rank_by in ("vector", "both"):
            store = self.resources.find(VectorSearch)
            vector = self.resources.embedder.embed([query.text])[0]
            lists.append(("vector", cfg.vector_weight if cfg.rank_by == "both" else 1.0,
                          store.search_vectors(vector, cfg.chunks, query.scope, where)))  # fmt: skip
        return fuse(lists, fusion="score", channel="hcam")[: cfg.chunks]

    def _detail(self, query: Query, text: str, members: dict[str, str]) -> dict[str, Hit]:
        cfg = self.config
        where = (
            query.where.model_copy(update={"kind": cfg.kinds})
            if query.where.kind is None
            else query.where
        )
        if cfg.detail == "text":
            store = self.resources.find(TextSearch)
            hits = store.search_text(text, cfg.candidates, query.scope, where)
            return {h.note.id: h for h in hits if h.note.id in members}
        import numpy as np

        vector = self.resources.query_vector(self.resources.embedder.embed([query.text])[0])
        found: dict[str, Hit] = {}
        for note in self.resources.store.get(list(members), query.scope):
            if note.embedding is None or not where.matches(note):
                continue
            score = float(np.dot(np.asarray(note.embedding, dtype=np.float32), vector))
            found[note.id] = Hit(note=note, score=score, channel="hcam")
        return found

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        cfg = self.config
        text = without_stop_words(query.text) if cfg.drop_stop_words else query.text
        chunks = self._rank_chunks(query, text)
        if not chunks:
            return previous
        best_chunk = max(c.score for c in chunks) or 1.0
        members: dict[str, str] = {}
        chunk_score: dict[str, float] = {}
        chunk_rank: dict[str, int] = {}
        for rank, chunk in enumerate(chunks, start=1):
            chunk_score[chunk.note.id] = chunk.score / best_chunk
            chunk_rank[chunk.note.id] = rank
            for member in chunk_members(chunk.note):
                members.setdefault(member, chunk.note.id)
        found = self._detail(query, text, members)
        best = max((h.score for h in found.values()), default=0.0)
        scored: list[Hit] = []
        for note_id, hit in found.items():
            chunk = members[note_id]
            detail = hit.score / best if best > 0 else 0.0
            score = cfg.chunk_weight * chunk_score[chunk] + (1 - cfg.chunk_weight) * detail
            explain = {
                "chunk": chunk_score[chunk],
                "chunk_rank": float(chunk_rank[chunk]),
                "detail": detail,
            }
            scored.append(Hit(note=hit.note, score=score, channel="hcam", explain=explain))
        scored.sort(key=lambda h: -h.score)
        if cfg.per_chunk:
            taken: dict[str, int] = {}
            capped = []
            for hit in scored:
                chunk = members[hit.note.id]
                if taken.get(chunk, 0) < cfg.per_chunk:
                    taken[chunk] = taken.get(chunk, 0) + 1
                    capped.append(hit)
            scored = capped
        return self.extend(previous, scored[: cfg.k])
