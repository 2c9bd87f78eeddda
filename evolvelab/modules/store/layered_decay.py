"""``type: layered_decay``: a LanceDB note store whose notes fade (FinMem or MemoryBank).

Everything :class:`~evolvelab.modules.store.lancedb.LanceDBStore` does (vector, BM25 and
scan; scope on every read), plus forgetting, in one of two modes:

* ``finmem``: new notes enter the ``short`` layer (or the layer ``kind_layers`` names
  for their kind) with FinMem's initial importance; vector search ranks by
  ``similarity + recency + importance/100`` computed at query time; a decay step
  (:meth:`LayeredDecayStore.decay`, driven by the ``decay`` manager) deletes faded notes
  and moves the rest between layers; feedback raises or lowers importance.
* ``memorybank``: retention ``exp(-t / (unit · S))``; every note a search returns among
  its first ``recall_k`` is recalled (strength + 1, ``t`` restarts); a decay step forgets
  notes whose retention fell below their forgetting point.

The rules themselves are in :mod:`evolvelab.modules.store._layered_decay_rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import Field, model_validator

from evolvelab.config import Tunable
from evolvelab.modules.store import _layered_decay_rules as rules
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.modules.store._layered_decay_rules import ImportanceRating, ImportanceRatings
from evolvelab.stages import ManageReport, TextField
from evolvelab.types import Hit, Note, Outcome, Scope, Where

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Decaying",
    "ImportanceRating",
    "ImportanceRatings",
    "LayeredDecayConfig",
    "LayeredDecayStore",
]

_FINMEM_ONLY = (
    "recency_days_short", "recency_days_mid", "recency_days_long", "recency_days_reflection",
    "importance_decay_short", "importance_decay_mid", "importance_decay_long",
    "importance_decay_reflection", "promote_short", "promote_mid", "demote_mid", "demote_long",
    "recency_threshold", "importance_threshold", "jump_passes", "initial_importance",
    "importance_from_llm", "feedback_step", "kind_layers", "candidates",
)  # fmt: skip
_MEMORYBANK_ONLY = (
    "strength_unit_days", "retention_threshold", "forgetting", "recall_on", "recall_k",
)  # fmt: skip
_IN_FINMEM = {"mode": "finmem"}
"""Condition of a finmem-only tunable: the evolver searches it only in finmem mode."""
_IN_MEMORYBANK = {"mode": "memorybank"}
"""Condition of a memorybank-only tunable."""


class LayeredDecayConfig(LanceDBStoreConfig):
    """Keep notes in LanceDB and let them fade, FinMem-style (layers) or MemoryBank-style.

    Fields of the other mode are refused, so a pipeline says only what applies to it.

    Example:
        ```yaml
        store:
          type: layered_decay
          mode: finmem                 # or memorybank
          recency_days_short: 3        # Q per layer: 3 / 90 / 365 days
          importance_decay_short: 0.92 # α per layer and day: 0.92 / 0.967 / 0.988
          initial_importance: mode     # 50 in short; mean: 61; sample: seeded draw
        manage:
          - {type: decay, every: 1}
        ```
    """

    type: Literal["layered_decay"] = "layered_decay"  # type: ignore[assignment]
    mode: Literal["finmem", "memorybank"] = Field(
        "finmem",
        description="finmem: layers with recency and importance decay; "
        "memorybank: the Ebbinghaus curve with strength that grows on recall.",
    )
    # -- finmem
    recency_days_short: Annotated[float, Tunable(1, 30, log=True, when=_IN_FINMEM)] = Field(
        3.0, gt=0, description="Q of the short layer: recency is exp(-days in layer / Q)."
    )
    recency_days_mid: Annotated[float, Tunable(14, 365, log=True, when=_IN_FINMEM)] = Field(
        90.0, gt=0, description="Q of the mid layer, in days."
    )
    recency_days_long: Annotated[float, Tunable(60, 1000, log=True, when=_IN_FINMEM)] = Field(
        365.0, gt=0, description="Q of the long layer, in days."
    )
    recency_days_reflection: Annotated[float, Tunable(60, 1000, log=True, when=_IN_FINMEM)] = Field(
        365.0, gt=0, description="Q of the reflection layer, in days."
    )
    importance_decay_short: Annotated[float, Tunable(0.8, 1.0, when=_IN_FINMEM)] = Field(
        0.92, gt=0, le=1, description="α of the short layer: importance × α per day."
    )
    importance_decay_mid: Annotated[float, Tunable(0.9, 1.0, when=_IN_FINMEM)] = Field(
        0.967, gt=0, le=1, description="α of the mid layer, per day."
    )
    importance_decay_long: Annotated[float, Tunable(0.95, 1.0, when=_IN_FINMEM)] = Field(
        0.988, gt=0, le=1, description="α of the long layer, per day."
    )
    importance_decay_reflection: Annotated[float, Tunable(0.95, 1.0, when=_IN_FINMEM)] = Field(
        0.988, gt=0, le=1, description="α of the reflection layer, per day."
    )
    promote_short: Annotated[float, Tunable(60, 90, when=_IN_FINMEM)] = Field(
        60.0, description="Short notes with importance at least this move up to mid."
    )
    promote_mid: Annotated[float, Tunable(80, 100, when=_IN_FINMEM)] = Field(
        80.0, description="Mid notes with importance at least this move up to long."
    )
    demote_mid: float = Field(
        60.0, description="Mid notes with importance below this move down to short."
    )
    demote_long: float = Field(
        80.0, description="Long notes with importance below this move down to mid."
    )
    recency_threshold: Annotated[float, Tunable(0.005, 0.3, log=True, when=_IN_FINMEM)] = Field(
        0.05, ge=0, le=1, description="A decay step deletes notes whose recency is below this."
    )
    importance_threshold: Annotated[float, Tunable(1, 30, log=True, when=_IN_FINMEM)] = Field(
        5.0, ge=0, description="A decay step deletes notes whose importance is below this."
    )
    jump_passes: int = Field(
        2, ge=0, le=10, description="Promotion/demotion sweeps per decay step."
    )
    initial_importance: Literal["mode", "mean", "sample"] = Field(
        "mode",
        description="Importance of a new note without an LLM: the most likely upstream "
        "value (short 50, mid 60, long 80), the expected value (61 / 62 / 75), or a seeded draw.",
    )
    importance_from_llm: bool = Field(
        False,
        description="With an LLM, rate each new note low / medium / high (one call per "
        "add) and take the layer's value for it; without one, `initial_importance` applies.",
    )
    feedback_step: Annotated[float, Tunable(0, 20, when=_IN_FINMEM)] = Field(
        5.0, ge=0, description="On feedback: counter += ±1, then importance += counter × this."
    )
    kind_layers: dict[str, rules.Layer] = Field(
        default_factory=lambda: {"reflection": "reflection"},
        description="Layer new notes of a kind enter (others enter short).",
    )
    candidates: Annotated[int, Tunable(10, 500, log=True, when=_IN_FINMEM)] = Field(
        100,
        ge=1,
        le=10_000,
        description="Nearest notes re-ranked by the compound score per "
        "vector search (exact when at least the notes in scope).",
    )
    # -- memorybank
    strength_unit_days: Annotated[float, Tunable(0.5, 30, log=True, when=_IN_MEMORYBANK)] = Field(
        5.0,
        gt=0,
        description="Days one unit of strength lasts: R = exp(-t / (this × S)). "
        "5 is upstream's scale; 1 gives the paper's bare exp(-t/S) with t in days.",
    )
    retention_threshold: Annotated[
        float, Tunable(0.05, 0.9, when={"mode": "memorybank", "forgetting": "threshold"})
    ] = Field(
        0.5, gt=0, lt=1, description="Threshold forgetting: a note is forgotten once R < this."
    )
    forgetting: Literal["threshold", "stochastic"] = Field(
        "threshold",
        description="threshold: deterministic; stochastic: a seeded draw u per "
        "note and recall, forgotten once R < u (survives to t with probability R(t)).",
    )
    recall_on: Literal["search", "feedback", "none"] = Field(
        "search",
        description="What counts as a recall: being among a search's first "
        "`recall_k` hits (upstream), being reported as used in feedback, or nothing.",
    )
    recall_k: Annotated[int, Tunable(1, 20, when={"mode": "memorybank", "recall_on": "search"})] = (
        Field(
            6, ge=1, le=1000, description="How many of a search's hits are recalled (upstream: 6)."
        )
    )
    # -- both
    keep_kinds: list[str] = Field(
        default_factory=list, description="Kinds never deleted by decay (e.g. summary)."
    )
    seed: int = Field(
        0, description="Seed of every random draw (sampled importance, stochastic forgetting)."
    )

    @model_validator(mode="after")
    def _fits_mode(self) -> LayeredDecayConfig:
        other = _MEMORYBANK_ONLY if self.mode == "finmem" else _FINMEM_ONLY
        stray = [name for name in other if name in self.model_fields_set]
        if stray:
            wanted = "memorybank" if self.mode == "finmem" else "finmem"
            raise ValueError(
                f"only for mode {wanted} (this store is {self.mode}): {', '.join(stray)}"
            )
        if self.demote_mid > self.promote_short or self.demote_long > self.promote_mid:
            raise ValueError(
                "thresholds would bounce notes between layers: need demote_mid <= "
                "promote_short and demote_long <= promote_mid"
            )
        return self

    def recency_days(self, layer: rules.Layer) -> float:
        """Return Q of ``layer``."""
        return float(getattr(self, f"recency_days_{layer}"))

    def importance_decay(self, layer: rules.Layer) -> float:
        """Return α of ``layer``."""
        return float(getattr(self, f"importance_decay_{layer}"))


@runtime_checkable
class Decaying(Protocol):
    """A store whose notes fade with time (what the ``decay`` manager drives)."""

    def decay(self, scope: Scope, now: datetime, *, scope_clock: bool = False) -> ManageReport:
        """Run one decay step over ``scope``; report what was deleted, moved or forgotten.

        The step happens at ``now``, or with ``scope_clock`` at the newest event time
        among the scope's notes when that is earlier.
        """

    def reinforce(self, notes: Sequence[Note], outcome: Outcome, now: datetime) -> ManageReport:
        """Apply feedback: ``notes`` were used for a task that ended in ``outcome``."""


class LayeredDecayStore(LanceDBStore):
    """LanceDB notes that fade: FinMem's layers or MemoryBank's forgetting curve."""

    config_model: ClassVar[type[LayeredDecayConfig]] = LayeredDecayConfig
    config: LayeredDecayConfig

    # ------------------------------------------------------------------ writing

    def add(self, notes: Sequence[Note]) -> None:
        """Upsert ``notes``; in finmem mode, place those without a layer first.

        A note without a layer enters ``kind_layers[kind]`` or ``short`` with the initial
        importance of that layer (unless it carries a positive importance already).
        Notes with a layer are kept exactly as given.
        """
        if self.config.mode == "finmem":
            notes = self._place(notes)
        super().add(notes)

    def _place(self, notes: Sequence[Note]) -> list[Note]:
        new = [i for i, n in enumerate(notes) if n.layer is None]
        if not new:
            return list(notes)
        levels = self._rate([notes[i] for i in new]) if self.config.importance_from_llm else {}
        out = list(notes)
        for j, i in enumerate(new):
            note = notes[i]
            layer = self.config.kind_layers.get(note.kind, "short")
            importance = note.importance
            if importance <= 0:
                if j in levels:
                    importance = rules.IMPORTANCE_LEVELS[layer][levels[j]]
                else:
                    key = f"{note.scope.user_id}|{note.scope.agent_id}|{note.id}"
                    importance = rules.initial_importance(
                        layer, self.config.initial_importance, self.config.seed, key
                    )
            out[i] = note.model_copy(update={"layer": layer, "importance": importance})
        return out

    def _rate(self, notes: list[Note]) -> dict[int, int]:
        """Ask the LLM (one call) for low / medium / high per note; return index → 0, 1 or 2."""
        from evolvelab.llm import llm_available

        llm = self.resources.llm
        if not llm_available(llm):
            return {}
        assert llm is not None
        answer = llm.extract(rules.rating_messages(notes), ImportanceRatings)
        return rules.rated_levels(answer, len(notes))

    def _write(self, notes: list[Note]) -> None:
        """Write through the resources when this is the note store (the graph stays in step)."""
        if not notes:
            return
        if self.resources.store is self:
            self.resources.write(notes)
        else:
            self.add(notes)

    def _remove(self, ids: list[str], scope: Scope) -> int:
        if not ids:
            return 0
        if self.resources.store is self:
            return self.resources.remove(ids, scope)
        return self.delete(ids, scope)

    # ------------------------------------------------------------------ reading

    def decay_state(self, note: Note, at: datetime | None = None) -> dict[str, float]:
        """Return the note's decay state at ``at`` (default: the pipeline clock).

        finmem: ``recency`` and ``importance`` (its current value, not divided by 100);
        memorybank: ``retention`` and ``strength``.
        """
        now = at or self.resources.clock.now()
        if self.config.mode == "finmem":
            return {
                "recency": rules.finmem_recency(note, self.config, now),
                "importance": rules.finmem_importance(note, self.config, now),
            }
        return {"retention": rules.retention(note, self.config, now), "strength": note.strength}

    def search_vectors(
        self,
        vector: Sequence[float] | np.ndarray,
        k: int,
        scope: Scope,
        where: Where,
        at: datetime | None = None,
    ) -> list[Hit]:
        """Return up to ``k`` hits; finmem ranks by the compound score, memorybank recalls.

        ``score`` stays the cosine similarity (what ``VectorSearch`` promises, and what
        ``vector``'s ``min_score`` filters on). In finmem mode the ``candidates`` nearest
        notes are re-ranked by ``similarity + recency + min(importance, 100)/100`` at
        ``at`` (default: the pipeline clock), and ``explain`` holds ``similarity``,
        ``recency``, ``importance`` (the /100 part) and ``compound``.

        Raises:
            EvolveLabError: if ``vector`` has the wrong dimension.
        """
        now = at or self.resources.clock.now(scope)
        if self.config.mode == "memorybank":
            hits = super().search_vectors(vector, k, scope, where)
            return self._recalled(hits, now, "similarity")
        pool = super().search_vectors(vector, max(k, self.config.candidates), scope, where)
        ranked = [
            hit.model_copy(
                update={"explain": rules.compound(hit.note, hit.score, self.config, now)}
            )
            for hit in pool
        ]
        ranked.sort(key=lambda h: (-h.explain["compound"], -h.score))
        return ranked[:k]

    def search_text(
        self,
        text: str,
        k: int,
        scope: Scope,
        where: Where,
        field: TextField = "index",
        at: datetime | None = None,
    ) -> list[Hit]:
        """Return the ``k`` best BM25 matches (memorybank: the first ``recall_k`` are recalled)."""
        hits = super().search_text(text, k, scope, where, field)
        if self.config.mode == "memorybank":
            return self._recalled(hits, at or self.resources.clock.now(scope), "bm25")
        return hits

    def _recalled(self, hits: list[Hit], now: datetime, name: str) -> list[Hit]:
        """Explain retention; recall the first ``recall_k`` hits when searches count as recall."""
        recalled = self.config.recall_on == "search"
        out, written = [], []
        for i, hit in enumerate(hits):
            explain = {name: hit.score, "retention": rules.retention(hit.note, self.config, now),
                       "strength": hit.note.strength}  # fmt: skip
            note = hit.note
            if recalled and i < self.config.recall_k:
                note = rules.recall(note, now)
                written.append(note)
            out.append(hit.model_copy(update={"note": note, "explain": explain}))
        self._write(written)
        return out

    # ------------------------------------------------------------------ Decaying

    def decay(self, scope: Scope, now: datetime, *, scope_clock: bool = False) -> ManageReport:
        """Run one decay step over the valid notes of ``scope`` at ``now``.

        finmem: delete notes whose current recency or importance is below its threshold,
        then promote and demote (``jump_passes`` sweeps); only notes that move are
        rewritten. memorybank: forget
        notes whose retention is below their forgetting point. Kinds in ``keep_kinds``
        are never deleted.

        Args:
            scope: whose notes (a session in it narrows the step to that session).
            now: the time of the step.
            scope_clock: use the newest event time among the scope's notes instead of
                ``now`` when that is earlier (one user's replay does not age another's).

        Returns:
            A report: ``deleted``, ``updated`` and ``detail`` with the reasons, moves and
            the notes left per layer.
        """
        notes = list(self.scan(scope, Where()))
        if scope_clock and notes:
            now = min(now, max(n.event_time for n in notes))
        report = ManageReport(
            stage="decay", detail={"mode": self.config.mode, "at": rules.stamp(now)}
        )
        if self.config.mode == "finmem":
            doomed, kept, detail = rules.finmem_sweep(notes, self.config, now)
        else:
            doomed, kept, detail = rules.forget_sweep(notes, self.config, now)
        report.detail.update(detail)
        report.deleted = self._remove(doomed, scope)
        self._write(kept)
        report.updated = len(kept)
        return report

    def reinforce(self, notes: Sequence[Note], outcome: Outcome, now: datetime) -> ManageReport:
        """Apply feedback on the notes that were used.

        finmem: FinMem's access counter moves by +1 (success) or -1 (failure), then
        importance grows by counter × ``feedback_step``. memorybank with
        ``recall_on: feedback``: each used note is recalled. Otherwise nothing changes.
        """
        report = ManageReport(stage="decay")
        if self.config.mode == "finmem":
            signal = 1 if outcome.success else -1
            changed = [rules.credit(n, self.config, signal, now) for n in notes]
        elif self.config.recall_on == "feedback":
            changed = [rules.recall(n, now) for n in notes]
        else:
            changed = []
        self._write(changed)
        report.updated = len(changed)
        return report
