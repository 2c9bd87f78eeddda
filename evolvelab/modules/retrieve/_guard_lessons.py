"""Guard lessons: what the guard flagged, kept as notes and recalled for similar queries.

A-MemGuard's second memory. When the guard flags a memory it writes a note of kind
``lesson`` (tag ``guard``) in the query's scope. Its ``content`` says what was flagged
and why; its ``embedding`` is the *query's* embedding, so that a later query finds it by
cosine similarity of query to query; its ``source_ids`` are the flagged note's, so a hit
built from the same events can be recognised; ``metadata`` names the flagged note id.

Lessons are ordinary notes in the note store: a source retriever without a ``where``
filter can return them like any note. The guard removes ``lesson`` hits it receives from
earlier stages and surfaces lessons only through :func:`recall_lessons`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from evolvelab.stages import VectorSearch
from evolvelab.types import Hit, Note, Query, Where, stable_id

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "LESSON_KIND",
    "LESSON_TAG",
    "Recalled",
    "lesson_note",
    "names",
    "recall_lessons",
    "warning_hit",
]

LESSON_KIND = "lesson"
LESSON_TAG = "guard"
_SNIPPET = 160


@dataclass(frozen=True)
class Recalled:
    """A stored lesson whose query resembles the current one."""

    note: Note
    similarity: float


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def lesson_note(
    query: Query,
    query_vector: Sequence[float],
    flagged: Note,
    *,
    agreeing: Note,
    consensus: int,
    judged: int,
    support: float,
    path: str | None,
    at: datetime,
) -> Note:
    """Return the lesson recording that ``flagged`` diverged from the consensus for ``query``.

    Args:
        query: the query the set was retrieved for (its scope is the lesson's).
        query_vector: the query's embedding (the lesson's embedding).
        flagged: the divergent memory.
        agreeing: one memory of the consensus, quoted as the counter-example.
        consensus: how many memories formed the consensus.
        judged: how many memories were judged.
        support: the flagged memory's best claim cosine to a consensus member.
        path: the flagged memory's reasoning path, when an LLM wrote one.
        at: when the lesson is written (the query time or the pipeline clock).

    Returns:
        A ``lesson`` note with a stable id per (scope, query text, flagged note).
    """
    scope = query.scope
    asked = " ".join(query.text.split())
    content = (
        f'Memory guard warning: asked "{_snippet(asked)}", memory {flagged.id} said '
        f'"{_snippet(flagged.content)}", which disagreed with {consensus} of {judged} '
        "retrieved memories that agreed with each other "
        f'(for example "{_snippet(agreeing.content)}").'
    )
    if path:
        content += f" Its reasoning path was: {_snippet(path)}."
    content += " Treat that memory as suspect for similar questions."
    return Note(
        id=stable_id(
            "lesson", scope.user_id, scope.agent_id, scope.session_id, asked.lower(), flagged.id
        ),
        content=content,
        kind=LESSON_KIND,
        tags=[LESSON_TAG],
        source_ids=list(flagged.source_ids),
        scope=scope,
        created_at=at,
        embedding=[float(x) for x in query_vector],
        metadata={
            "guard_note": flagged.id,
            "guard_query": asked,
            "guard_support": round(support, 4),
            "guard_consensus": consensus,
        },
    )


def recall_lessons(
    store: VectorSearch, query: Query, query_vector: np.ndarray, *, k: int, threshold: float
) -> list[Recalled]:
    """Return up to ``k`` guard lessons in the query's scope whose query is similar enough.

    Lessons are found by vector search with ``Where(kind=["lesson"], tags=["guard"])``;
    a lesson counts when the cosine of the current query to its stored query embedding is
    at least ``threshold``. Best first.
    """
    where = Where(kind=[LESSON_KIND], tags=[LESSON_TAG])
    hits = store.search_vectors(query_vector, k, query.scope, where)
    return [Recalled(h.note, h.score) for h in hits if h.score >= threshold]


def names(lesson: Note, note: Note) -> bool:
    """Return whether ``lesson`` is about ``note`` (same note id, or a shared source event)."""
    if lesson.metadata.get("guard_note") == note.id:
        return True
    return bool(set(lesson.source_ids) & set(note.source_ids))


def warning_hit(recalled: Recalled) -> Hit:
    """Return the hit that shows ``recalled`` to the agent (channel ``guard_lesson``)."""
    return Hit(
        note=recalled.note,
        score=recalled.similarity,
        channel="guard_lesson",
        explain={"guard_lesson": recalled.similarity},
    )
