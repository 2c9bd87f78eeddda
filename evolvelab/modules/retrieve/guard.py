"""``type: guard`` — A-MemGuard consensus validation of the retrieved set, with lessons.

A refining stage: it judges the hits of the stages before it. For the first ``window``
hits it derives one reasoning path per memory (an LLM-written entity-relation chain, or
without an LLM the note's claim embedding), finds the consensus (the largest agreement
cluster, :mod:`~evolvelab.modules.retrieve._consensus`), and drops or marks the divergent
memories. Each flagged memory leaves a lesson note
(:mod:`~evolvelab.modules.retrieve._guard_lessons`); when a similar query comes again the
lesson is shown at the top as a ``guard_lesson`` hit and the memories it names are
flagged again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from evolvelab.config import RetrieverConfig, StageConfig, Tunable
from evolvelab.llm import NoLLMError, llm_available
from evolvelab.modules.retrieve._consensus import Consensus, claim_vectors, find_consensus
from evolvelab.modules.retrieve._guard_lessons import (
    LESSON_KIND,
    Recalled,
    lesson_note,
    names,
    recall_lessons,
    warning_hit,
)
from evolvelab.modules.retrieve._reasoning_paths import request_paths
from evolvelab.stages import Resources, Retriever, TypeLookup, VectorSearch
from evolvelab.types import Hit, Note, Query

if TYPE_CHECKING:
    import numpy as np

__all__ = ["GuardConfig", "GuardRetriever"]


class GuardConfig(RetrieverConfig):
    """Flag retrieved memories that diverge from the consensus of the retrieved set.

    Put it after the stages that find notes. Without an LLM (or with
    ``paths: embedding``) each memory's reasoning path is its claim embedding; with one,
    a single structured request writes an entity-relation chain per memory.

    Example:
        ```yaml
        retrieve:
          - {type: hybrid, channels: [bm25, vector], k: 20}
          - {type: guard, action: drop, threshold: 0.5, divergence: 0.1, quorum: 0.5}
        ```
    """

    type: Literal["guard"] = "guard"
    action: Annotated[Literal["drop", "mark"], Tunable(choices=("drop", "mark"))] = Field(
        "drop",
        description="drop: keep flagged memories out of the hits; mark: keep them with "
        "explain.guard_flagged = 1 and a lowered score.",
    )
    paths: Literal["auto", "llm", "embedding"] = Field(
        "auto",
        description="How reasoning paths are derived: llm (one structured request per set; "
        "fails to open without an LLM), embedding (claim embeddings, no LLM), auto (llm "
        "when one is configured).",
    )
    claim: Annotated[Literal["relative", "note"], Tunable(choices=("relative", "note"))] = Field(
        "relative",
        description="relative: compare what each path says beyond the query (its vector "
        "minus its component along the query); note: compare the vectors as they are.",
    )
    window: Annotated[int, Tunable(4, 30)] = Field(
        10, ge=2, le=200, description="How many leading hits form the judged set."
    )
    min_set: Annotated[int, Tunable(3, 8)] = Field(
        4, ge=2, le=200, description="Judge only sets of at least this many memories."
    )
    threshold: Annotated[float, Tunable(0.3, 0.9)] = Field(
        0.5,
        ge=-1.0,
        le=1.0,
        description="Claim cosine at which two memories agree (upstream DBSCAN eps 0.5 "
        "is threshold 0.5).",
    )
    divergence: Annotated[float, Tunable(-0.1, 0.4)] = Field(
        0.1,
        ge=-1.0,
        le=1.0,
        description="A memory outside the consensus is flagged when its best claim cosine "
        "to a consensus member is below this; between this and threshold it is kept.",
    )
    quorum: Annotated[float, Tunable(0.3, 0.8)] = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Share of the judged memories the consensus cluster must hold; "
        "below it the guard flags nothing.",
    )
    penalty: Annotated[float, Tunable(0.0, 1.0, when={"action": "mark"})] = Field(
        0.5, ge=0.0, le=1.0, description="mark: multiply a flagged hit's score by this."
    )
    demote: bool = Field(True, description="mark: move flagged hits below the unflagged ones.")
    lessons: bool = Field(
        True,
        description="Write a lesson per flagged memory and recall lessons for similar queries.",
    )
    lesson_threshold: Annotated[float, Tunable(0.6, 0.98, when={"lessons": True})] = Field(
        0.85, ge=-1.0, le=1.0, description="Query-to-lesson cosine at which a lesson applies."
    )
    lesson_k: int = Field(5, ge=1, le=100, description="How many lessons to look up per query.")
    lesson_hits: Annotated[int, Tunable(0, 3, when={"lessons": True})] = Field(
        1, ge=0, le=20, description="How many applicable lessons to put at the top as warnings."
    )
    lesson_marks: bool = Field(
        True, description="Flag hits an applicable lesson names (same note or source event)."
    )

    @model_validator(mode="after")
    def _set_fits_window(self) -> Self:
        if self.min_set > self.window:
            raise ValueError(f"min_set ({self.min_set}) must not exceed window ({self.window})")
        if self.divergence > self.threshold:
            raise ValueError(
                f"divergence ({self.divergence}) must not exceed threshold ({self.threshold})"
            )
        return self


class GuardRetriever(Retriever):
    """Validate the retrieved set by consensus; drop or mark divergent memories."""

    config_model: ClassVar[type[GuardConfig]] = GuardConfig
    reads_query_time: ClassVar[bool] = True
    config: GuardConfig
    source = False

    @classmethod
    def capabilities_needed(cls, config: StageConfig, registry: TypeLookup) -> tuple[type[Any], ...]:
        assert isinstance(config, GuardConfig)
        return (VectorSearch,) if config.lessons else ()

    def open(self, resources: Resources) -> None:
        super().open(resources)
        if self.config.paths == "llm" and not llm_available(resources.llm):
            raise NoLLMError("retrieve (guard, paths: llm)", "ReasoningPaths")

    def _use_llm(self) -> bool:
        if self.config.paths == "embedding":
            return False
        return self.config.paths == "llm" or llm_available(self.resources.llm)

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        """Return the warnings of applicable lessons, then the hits with divergent ones handled.

        A query that asks for lessons (``where.kind`` includes ``lesson``) is a look-up of
        the guard's own records, not context to validate: its hits pass unchanged.
        """
        cfg = self.config
        if LESSON_KIND in (query.where.kind or ()):
            return previous
        hits = [h for h in previous if h.note.kind != LESSON_KIND]
        query_vector = self.resources.embedder.embed([query.text])[0]
        recalled: list[Recalled] = []
        if cfg.lessons:
            store = self.resources.find(VectorSearch)
            recalled = recall_lessons(
                store, query, query_vector, k=cfg.lesson_k, threshold=cfg.lesson_threshold
            )
        flags: dict[str, dict[str, float]] = {}
        if cfg.lesson_marks:
            for hit in hits:
                named = [r.similarity for r in recalled if names(r.note, hit.note)]
                similarity = max(named, default=None)
                if similarity is not None:
                    flags[hit.note.id] = {"guard_flagged": 1.0, "guard_lesson": similarity}
        lessons = self._judge(query, query_vector, hits[: cfg.window], flags, recalled)
        if lessons:
            self.resources.write(lessons)
        warnings = [warning_hit(r) for r in recalled[: cfg.lesson_hits]]
        return warnings + self._apply(hits, flags)

    def _judge(
        self,
        query: Query,
        query_vector: np.ndarray,
        window: list[Hit],
        flags: dict[str, dict[str, float]],
        recalled: list[Recalled],
    ) -> list[Note]:
        """Flag the window's divergent memories in ``flags``; return the lessons to write."""
        cfg = self.config
        if len(window) < cfg.min_set:
            return []
        notes = [hit.note for hit in window]
        paths: dict[int, str] = {}
        if self._use_llm():
            paths = request_paths(self.resources.llm, query.text, notes)  # type: ignore[arg-type]
            judged = sorted(paths)
            vectors = self.resources.embedder.embed([paths[i] for i in judged]) if judged else []
        else:
            judged = list(range(len(notes)))
            vectors = [note.embedding for note in self.resources.embed_missing(notes)]
        if len(judged) < cfg.min_set:
            return []
        import numpy as np

        claims = claim_vectors(np.asarray(vectors), query_vector, relative=cfg.claim == "relative")
        consensus = find_consensus(
            claims, threshold=cfg.threshold, quorum=cfg.quorum, divergence=cfg.divergence
        )
        if consensus is None:
            return []
        return self._flag(query, query_vector, notes, judged, paths, consensus, flags, recalled)

    def _flag(
        self,
        query: Query,
        query_vector: np.ndarray,
        notes: list[Note],
        judged: list[int],
        paths: dict[int, str],
        consensus: Consensus,
        flags: dict[str, dict[str, float]],
        recalled: list[Recalled],
    ) -> list[Note]:
        at = query.at or self.resources.clock.now()
        agreeing = notes[judged[consensus.members[0]]]
        lessons = []
        for index in consensus.divergent:
            note = notes[judged[index]]
            support = consensus.support[index]
            flags.setdefault(note.id, {}).update(
                {
                    "guard_flagged": 1.0,
                    "guard_support": support,
                    "guard_consensus": float(len(consensus.members)),
                }
            )
            known = any(r.note.metadata.get("guard_note") == note.id for r in recalled)
            if not self.config.lessons or known:
                continue
            lessons.append(
                lesson_note(
                    query,
                    query_vector,
                    note,
                    agreeing=agreeing,
                    consensus=len(consensus.members),
                    judged=len(judged),
                    support=support,
                    path=paths.get(judged[index]),
                    at=at,
                )
            )
        return lessons

    def _apply(self, hits: list[Hit], flags: dict[str, dict[str, float]]) -> list[Hit]:
        """Drop or mark the flagged hits."""
        if self.config.action == "drop":
            return [hit for hit in hits if hit.note.id not in flags]
        kept, marked = [], []
        for hit in hits:
            extra = flags.get(hit.note.id)
            if extra is None:
                kept.append(hit)
                continue
            explain = {**hit.explain, **extra}
            score = hit.score * self.config.penalty
            marked.append(hit.model_copy(update={"score": score, "explain": explain}))
        if self.config.demote:
            return kept + marked
        by_id = {hit.note.id: hit for hit in marked}
        return [by_id.get(hit.note.id, hit) for hit in hits]
