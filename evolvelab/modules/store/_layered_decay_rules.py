"""The rules of the layered-decay store, as pure functions of a note and a time.

Two systems, one module of arithmetic (no I/O; :mod:`~evolvelab.modules.store.layered_decay`
applies these rules to stored notes):

* **FinMem** (TradingGPT's successor): layers ``short``, ``mid``, ``long`` and
  ``reflection``. A note's recency is ``exp(-δ / Q_layer)`` with ``δ`` the days since it
  entered its layer; its importance shrinks by ``α_layer`` per day. A decay step deletes
  notes below the recency or importance threshold, then moves notes between layers by
  importance (up: recency restarts; down: recency keeps counting). Retrieval ranks by
  ``similarity + recency + min(importance, 100) / 100``.
* **MemoryBank**: retention ``R = exp(-t / (unit · S))`` with ``t`` the days since the
  note was learned or last recalled and ``S`` its strength; recall adds 1 to ``S`` and
  restarts ``t``. A note is forgotten once ``R`` falls below its forgetting point: the
  configured threshold, or (stochastic forgetting) a seeded uniform draw per recall epoch,
  which makes ``R(t)`` exactly the probability that the note is still remembered at ``t``.

Time is in days, measured between datetimes the caller supplies (the pipeline clock or a
query's time), never the wall clock. The per-note state the rules need beyond the
:class:`~evolvelab.types.Note` fields lives in ``metadata`` under the keys below; a note
without them counts from its event time.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from evolvelab.types import Note

if TYPE_CHECKING:
    from evolvelab.modules.store.layered_decay import LayeredDecayConfig

__all__ = [
    "CREDIT",
    "IMPORTANCE_AT",
    "IMPORTANCE_LEVELS",
    "IMPORTANCE_WEIGHTS",
    "LAYERS",
    "LAYER_SINCE",
    "ImportanceRating",
    "ImportanceRatings",
    "Layer",
    "StepResult",
    "compound",
    "compound_score",
    "credit",
    "days_between",
    "finmem_importance",
    "finmem_recency",
    "finmem_step",
    "finmem_sweep",
    "forget_sweep",
    "forgetting_point",
    "initial_importance",
    "layer_of",
    "rated_levels",
    "rating_messages",
    "recall",
    "retention",
    "stamp",
    "unit_draw",
]

Layer = Literal["short", "mid", "long", "reflection"]
LAYERS: tuple[Layer, ...] = ("short", "mid", "long", "reflection")

LAYER_SINCE = "decay_since"
"""Metadata key: when the note entered its current layer (ISO-8601); FinMem's δ counts from it."""
IMPORTANCE_AT = "decay_at"
"""Metadata key: the time ``Note.importance`` refers to (ISO-8601)."""
CREDIT = "decay_credit"
"""Metadata key: FinMem's cumulative feedback counter (+1 per success, -1 per failure)."""

IMPORTANCE_LEVELS: dict[Layer, tuple[float, float, float]] = {
    "short": (50.0, 70.0, 90.0),
    "mid": (40.0, 60.0, 80.0),
    "long": (40.0, 60.0, 80.0),
    "reflection": (40.0, 60.0, 80.0),
}
"""Initial importance values per layer (low, medium, high), as in FinMem's code."""
IMPORTANCE_WEIGHTS: dict[Layer, tuple[float, float, float]] = {
    "short": (0.50, 0.45, 0.05),
    "mid": (0.05, 0.80, 0.15),
    "long": (0.05, 0.15, 0.80),
    "reflection": (0.05, 0.15, 0.80),
}
"""Probabilities FinMem's code samples those values with."""

_DAY = 86400.0


def days_between(start: datetime, end: datetime) -> float:
    """Return the days from ``start`` to ``end`` (0 when ``end`` is earlier)."""
    return max(0.0, (end - start).total_seconds() / _DAY)


def unit_draw(*parts: object) -> float:
    """Return a uniform number in [0, 1) determined by ``parts`` (a seeded, order-free draw)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def stamp(when: datetime) -> str:
    """Return ``when`` as the ISO-8601 UTC text kept in metadata."""
    return when.astimezone(UTC).isoformat()


def _time(note: Note, key: str) -> datetime:
    value = note.metadata.get(key)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return note.event_time


def layer_of(note: Note) -> Layer:
    """Return the note's FinMem layer (a note not yet placed counts as ``short``)."""
    return note.layer if note.layer in LAYERS else "short"  # type: ignore[return-value]


# ---------------------------------------------------------------------------- FinMem


def initial_importance(layer: Layer, rule: str, seed: int, key: str) -> float:
    """Return the importance a new note starts with in ``layer``.

    Args:
        layer: the layer it enters.
        rule: ``mode`` (the most likely upstream value), ``mean`` (the expected value) or
            ``sample`` (upstream's distribution, drawn from ``seed`` and ``key``).
        seed: the sampling seed.
        key: what makes the draw differ between notes (their scope and id).
    """
    levels, weights = IMPORTANCE_LEVELS[layer], IMPORTANCE_WEIGHTS[layer]
    if rule == "mean":
        return round(sum(v * w for v, w in zip(levels, weights, strict=True)), 6)
    if rule == "sample":
        u, total = unit_draw("importance", seed, key), 0.0
        for value, weight in zip(levels, weights, strict=True):
            total += weight
            if u < total:
                return value
        return levels[-1]
    return levels[max(range(3), key=lambda i: weights[i])]


def finmem_recency(note: Note, config: LayeredDecayConfig, now: datetime) -> float:
    """Return ``exp(-δ / Q_layer)``, δ = days since the note entered its layer."""
    days = days_between(_time(note, LAYER_SINCE), now)
    return math.exp(-days / config.recency_days(layer_of(note)))


def finmem_importance(note: Note, config: LayeredDecayConfig, now: datetime) -> float:
    """Return the note's importance at ``now``: ``importance · α_layer ** days``."""
    days = days_between(_time(note, IMPORTANCE_AT), now)
    return note.importance * config.importance_decay(layer_of(note)) ** days


def compound_score(similarity: float, recency: float, importance: float) -> float:
    """Return FinMem's retrieval score ``similarity + recency + min(importance, 100) / 100``."""
    return similarity + recency + min(importance, 100.0) / 100.0


def compound(
    note: Note, similarity: float, config: LayeredDecayConfig, now: datetime
) -> dict[str, float]:
    """Return the parts of the note's retrieval score at ``now`` and their sum.

    Keys: ``similarity``, ``recency``, ``importance`` (the ``min(importance, 100)/100``
    part) and ``compound``.
    """
    recency = finmem_recency(note, config, now)
    importance = finmem_importance(note, config, now)
    return {
        "similarity": similarity,
        "recency": recency,
        "importance": min(importance, 100.0) / 100.0,
        "compound": compound_score(similarity, recency, importance),
    }


@dataclass
class StepResult:
    """What one decay step did to one note."""

    note: Note | None
    """The note after the step; ``None`` when it was deleted."""
    reason: str = "kept"
    """``kept``, ``recency`` or ``importance`` (why it was deleted)."""
    moves: list[tuple[Layer, Layer]] = field(default_factory=list)
    """Layer changes, in order."""


def _jumps(
    layer: Layer, importance: float, config: LayeredDecayConfig
) -> list[tuple[Layer, Layer]]:
    """Return the moves of a note with ``importance`` starting in ``layer``.

    Each pass visits short, mid and long in that order, as FinMem's step does, so a
    note promoted out of short can be promoted again out of mid in the same pass.
    """
    moves: list[tuple[Layer, Layer]] = []
    for _ in range(config.jump_passes):
        if layer == "short" and importance >= config.promote_short:
            moves.append(("short", "mid"))
            layer = "mid"
        if layer == "mid":
            if importance >= config.promote_mid:
                moves.append(("mid", "long"))
                layer = "long"
            elif importance < config.demote_mid:
                moves.append(("mid", "short"))
                layer = "short"
        if layer == "long" and importance < config.demote_long:
            moves.append(("long", "mid"))
            layer = "mid"
    return moves


def finmem_step(note: Note, config: LayeredDecayConfig, now: datetime) -> StepResult:
    """Apply one FinMem decay step at ``now``: decay, clean up, then move between layers.

    Importance is taken at ``now``; a note whose recency is below
    ``recency_threshold`` or whose importance is below ``importance_threshold`` is
    deleted (unless its kind is in ``keep_kinds``). Moving up restarts recency; moving
    down keeps the days already counted.

    A note that stays in its layer is returned as it was (the same object): its stored
    importance, read with ``decay_at``, already gives its value at any later time, so
    only notes that move are rewritten, with importance brought forward to ``now`` and
    their version raised.
    """
    layer = layer_of(note)
    recency = finmem_recency(note, config, now)
    importance = finmem_importance(note, config, now)
    if note.kind not in config.keep_kinds:
        if recency < config.recency_threshold:
            return StepResult(None, "recency")
        if importance < config.importance_threshold:
            return StepResult(None, "importance")
    moves = _jumps(layer, importance, config) if layer != "reflection" else []
    if not moves and note.layer == layer:
        return StepResult(note)
    metadata = dict(note.metadata)
    metadata[IMPORTANCE_AT] = stamp(now)
    metadata.setdefault(LAYER_SINCE, stamp(_time(note, LAYER_SINCE)))
    rank = {name: i for i, name in enumerate(LAYERS)}
    if any(rank[b] > rank[a] for a, b in moves):
        metadata[LAYER_SINCE] = stamp(now)
    update = {
        "importance": importance,
        "metadata": metadata,
        "layer": moves[-1][1] if moves else layer,
        "version": note.version + 1,
    }
    return StepResult(note.model_copy(update=update), "kept", moves)


def finmem_sweep(
    notes: list[Note], config: LayeredDecayConfig, now: datetime
) -> tuple[list[str], list[Note], dict[str, object]]:
    """Apply :func:`finmem_step` to every note.

    Returns:
        The ids to delete, the notes to write back (those that moved), and counts:
        deletions by reason, promotions, demotions and the notes left per layer.
    """
    counts = {"deleted_recency": 0, "deleted_importance": 0, "promoted": 0, "demoted": 0}
    layers = dict.fromkeys(LAYERS, 0)
    rank = {name: i for i, name in enumerate(LAYERS)}
    doomed, kept = [], []
    for note in notes:
        result = finmem_step(note, config, now)
        if result.note is None:
            counts[f"deleted_{result.reason}"] += 1
            doomed.append(note.id)
            continue
        for a, b in result.moves:
            counts["promoted" if rank[b] > rank[a] else "demoted"] += 1
        layers[layer_of(result.note)] += 1
        if result.note is not note:
            kept.append(result.note)
    return doomed, kept, {**counts, "layers": layers}


def credit(note: Note, config: LayeredDecayConfig, signal: int, now: datetime) -> Note:
    """Return ``note`` after FinMem feedback: counter += signal; importance += counter · step."""
    counter = int(note.metadata.get(CREDIT) or 0) + signal
    importance = finmem_importance(note, config, now) + counter * config.feedback_step
    metadata = {**note.metadata, CREDIT: counter, IMPORTANCE_AT: stamp(now)}
    metadata.setdefault(LAYER_SINCE, stamp(_time(note, LAYER_SINCE)))
    return note.model_copy(
        update={"importance": importance, "metadata": metadata, "version": note.version + 1}
    )


# ---------------------------------------------------------------------------- MemoryBank


def retention(note: Note, config: LayeredDecayConfig, now: datetime) -> float:
    """Return ``exp(-t / (strength_unit_days · S))``, t = days since learned or last recalled."""
    if note.strength <= 0:
        return 0.0
    since = note.last_accessed or note.event_time
    return math.exp(-days_between(since, now) / (config.strength_unit_days * note.strength))


def forgetting_point(note: Note, config: LayeredDecayConfig) -> float:
    """Return the retention below which ``note`` is forgotten.

    ``threshold`` forgetting: ``retention_threshold`` for every note. ``stochastic``: a
    uniform draw fixed per note and recall epoch (seed, scope, id, last recall), so the
    note survives to time t with probability R(t) however often the step runs.
    """
    if config.forgetting == "threshold":
        return config.retention_threshold
    since = note.last_accessed or note.event_time
    scope = (note.scope.user_id, note.scope.agent_id)
    return unit_draw("forget", config.seed, scope, note.id, stamp(since))


def forget_sweep(
    notes: list[Note], config: LayeredDecayConfig, now: datetime
) -> tuple[list[str], list[Note], dict[str, object]]:
    """Return the ids of the notes forgotten at ``now``, no notes to write back, and counts."""
    doomed = [
        note.id
        for note in notes
        if note.kind not in config.keep_kinds
        and retention(note, config, now) < forgetting_point(note, config)
    ]
    return doomed, [], {"forgotten": len(doomed), "remembered": len(notes) - len(doomed)}


def recall(note: Note, now: datetime) -> Note:
    """Return ``note`` recalled at ``now``: strength + 1, the clock of ``t`` restarted."""
    return note.model_copy(
        update={
            "strength": note.strength + 1.0,
            "last_accessed": now,
            "access_count": note.access_count + 1,
        }
    )


# ---------------------------------------------------------------------------- LLM rating


class ImportanceRating(BaseModel):
    """The LLM's rating of one new memory."""

    index: int = Field(description="The memory's number in the list.")
    level: Literal["low", "medium", "high"] = Field(description="How much it will matter later.")


class ImportanceRatings(BaseModel):
    """The LLM's ratings of the new memories of one add."""

    ratings: list[ImportanceRating] = Field(description="One rating per numbered memory.")


_RATE_PROMPT = (
    "You keep the long-term memory of an assistant. Rate how much each numbered memory "
    "will matter in later conversations: low (small talk, passing detail), medium "
    "(useful context), or high (a lasting fact, preference, plan or event). Answer with "
    "one rating per number."
)
_LEVELS = {"low": 0, "medium": 1, "high": 2}


def rating_messages(notes: list[Note]) -> list[dict[str, str]]:
    """Return the request asking for one rating per note (numbered from 1)."""
    listing = "\n".join(f"{i + 1}. {note.content}" for i, note in enumerate(notes))
    return [
        {"role": "system", "content": _RATE_PROMPT},
        {"role": "user", "content": f"Memories:\n{listing}"},
    ]


def rated_levels(answer: ImportanceRatings, count: int) -> dict[int, int]:
    """Return note position → level (0 low, 1 medium, 2 high); unknown numbers are dropped."""
    return {r.index - 1: _LEVELS[r.level] for r in answer.ratings if 1 <= r.index <= count}
