"""The G-Memory three-tier graph: what its nodes and edges are called, and how stages read it.

G-Memory (Zhang et al., 2025) keeps agent experience in three tiers of one graph. Here
every tier is a kind of note, and every relation a typed link:

- **query** (``kind: query``): one per task. ``content`` is the task statement;
  ``metadata.task`` the key the task is known by (the task event's id, or
  ``session:<session_id>`` for a session without a task event); ``metadata.status`` is
  ``open``, ``resolved`` or ``failed``.
- **interaction** (``kind: interaction``): one per step of a task's trajectory (an
  utterance, action or observation); ``metadata.query_id`` names its query note.
- **insight** (``kind: insight``): a rule learnt across tasks. Its score is the note's
  ``importance``; an insight whose score falls to 0 or below is closed
  (``invalid_at``), never erased, so the history of what was believed stays queryable.

Links: ``query -trajectory-> interaction``, ``insight -supports-> query`` and
``query -similar-> query`` (from the newer query to the older one; weight = cosine).

Every G-Memory note is written at the owner level (``user_id`` and ``agent_id``, no
``session_id``; the session is kept in ``metadata.session``): links never cross a
session, and the point of the query tier is to connect tasks of different sessions.
All links are written as part of the notes (``Note.links``), so the note store and the
graph store always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from evolvelab.errors import EvolveLabError
from evolvelab.stages import GraphLinks, Resources, VectorSearch
from evolvelab.types import Note, Scope, stable_id

__all__ = [
    "FAILED",
    "INSIGHT",
    "INTERACTION",
    "OPEN",
    "QUERY",
    "RESOLVED",
    "SIMILAR",
    "SUPPORTS",
    "TRAJECTORY",
    "GMemoryError",
    "cosine",
    "graph_store",
    "insight_id",
    "interaction_id",
    "note_store",
    "owner",
    "query_id",
    "rescore",
    "supporting_insights",
    "trajectories",
]

QUERY, INTERACTION, INSIGHT = "query", "interaction", "insight"
"""Note kinds of the query, interaction and insight tiers."""

TRAJECTORY, SUPPORTS, SIMILAR = "trajectory", "supports", "similar"
"""Link kinds: query→interaction, insight→query, query→query."""

OPEN, RESOLVED, FAILED = "open", "resolved", "failed"
"""Task statuses kept in a query note's ``metadata.status``."""

TOLERANCE = 1e-6
"""Slack on similarity thresholds, so a cosine of exactly the threshold survives float32."""


class GMemoryError(EvolveLabError):
    """A G-Memory stage was given events or a graph it cannot work with."""


def owner(scope: Scope) -> Scope:
    """Return ``scope`` without its session: the level every G-Memory note lives at."""
    return Scope(user_id=scope.user_id, agent_id=scope.agent_id)


def query_id(scope: Scope, task: str) -> str:
    """Return the stable id of the query note of ``task`` in ``scope``'s owner."""
    return stable_id("gq", scope.user_id, scope.agent_id, task)


def interaction_id(scope: Scope, event_id: str) -> str:
    """Return the stable id of the interaction note built from event ``event_id``."""
    return stable_id("gs", scope.user_id, scope.agent_id, event_id)


def insight_id(scope: Scope, key: str) -> str:
    """Return the stable id of an insight; ``key`` is its normalised text or anchor."""
    return stable_id("gi", scope.user_id, scope.agent_id, key)


def note_store(resources: Resources) -> Any:
    """Return the store G-Memory reads embeddings from (the first with vector search)."""
    return resources.find(VectorSearch)


def graph_store(resources: Resources) -> Any:
    """Return the store G-Memory walks: the graph store if set, else any with links."""
    if resources.graph is not None and isinstance(resources.graph, GraphLinks):
        return resources.graph
    return resources.find(GraphLinks)


def cosine(a: Sequence[float] | None, b: Sequence[float] | None) -> float:
    """Return the cosine similarity of two vectors in float64 (0.0 if either is missing)."""
    import numpy as np

    if a is None or b is None:
        return 0.0
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y / norm) if norm > 0 else 0.0


def rescore(note: Note, delta: float, *, now: datetime, drop_at: float = 0.0) -> Note:
    """Return ``note`` with ``delta`` added to its score; close it at ``now`` if <= ``drop_at``."""
    score = note.importance + delta
    update: dict[str, Any] = {"importance": score, "version": note.version + 1}
    if score <= drop_at and note.invalid_at is None:
        update["invalid_at"] = now
    return note.model_copy(update=update)


def trajectories(
    resources: Resources, query_ids: Sequence[str], scope: Scope, at: datetime | None = None
) -> dict[str, list[Note]]:
    """Return each query's interaction notes (with embeddings), in the order they happened.

    Args:
        resources: the pipeline's resources.
        query_ids: query notes whose trajectories to read.
        scope: the owner scope.
        at: keep steps valid at this time (``None``: valid now).

    Returns:
        ``{query_id: steps}`` for every asked id, steps sorted by time then id.
    """
    out: dict[str, list[Note]] = {qid: [] for qid in query_ids}
    if not query_ids:
        return out
    walked = graph_store(resources).neighbours(
        list(query_ids), scope, hops=1, kinds=[TRAJECTORY], direction="out"
    )
    seed = {n.id: n.seed for n in walked}
    for note in note_store(resources).get(list(seed), scope):
        if note.kind == INTERACTION and note.is_valid_at(at):
            out[seed[note.id]].append(note)
    for steps in out.values():
        steps.sort(key=lambda n: (n.event_time, n.id))
    return out


def supporting_insights(
    resources: Resources, query_ids: Iterable[str], scope: Scope, at: datetime | None = None
) -> list[tuple[Note, list[str]]]:
    """Return the valid insights supporting any of ``query_ids``, each with those queries.

    Insights are read from the graph store, whose links are authoritative.

    Returns:
        ``(insight, supported ids among query_ids)`` pairs in the order the walk found them.
    """
    wanted = list(dict.fromkeys(query_ids))
    if not wanted:
        return []
    graph = graph_store(resources)
    walked = graph.neighbours(wanted, scope, hops=1, kinds=[SUPPORTS], direction="in")
    asked = set(wanted)
    found = []
    for note in graph.get([n.id for n in walked], scope):
        if note.kind != INSIGHT or not note.is_valid_at(at):
            continue
        targets = [link.target for link in note.links if link.kind == SUPPORTS]
        found.append((note, [t for t in dict.fromkeys(targets) if t in asked]))
    return found
