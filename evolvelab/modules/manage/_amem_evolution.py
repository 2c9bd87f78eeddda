"""The A-MEM evolution decision: the LLM schema, the prompt, and turning answers into plans.

A-MEM asks one question per new note: given its nearest notes, should memory evolve, and
how — ``strengthen`` (link the new note to some neighbours and retag it) and/or
``update_neighbor`` (rewrite neighbours' context and tags). Upstream answers with parallel
arrays ordered like the neighbour list and applies them by position; here every
neighbour is named by its stable note id, in the prompt and in the answer, and the ids
that come back are checked against the neighbours that were shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evolvelab.types import Note

__all__ = [
    "Candidate",
    "EvolutionDecision",
    "NeighbourUpdate",
    "Plan",
    "SYSTEM_PROMPT",
    "evolution_messages",
    "plan_from_decision",
]


class NeighbourUpdate(BaseModel):
    """New context and tags for one neighbour, named by its id."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Id of the neighbour to rewrite, exactly as listed.")
    context: str = Field(description="Its new one-sentence context.")
    tags: list[str] = Field(description="Its complete new tag list (replaces the old one).")


class EvolutionDecision(BaseModel):
    """The LLM's answer for one new note (A-MEM's evolution decision, addressed by ids)."""

    model_config = ConfigDict(extra="forbid")

    should_evolve: bool = Field(
        description="Whether memory should change because of the new note."
    )
    actions: list[Literal["strengthen", "update_neighbor"]] = Field(
        description="What to do: strengthen (link the new note), update_neighbor "
        "(rewrite neighbours)."
    )
    suggested_connections: list[str] = Field(
        description="For strengthen: ids of the neighbours the new note should link to."
    )
    tags_to_update: list[str] = Field(
        description="For strengthen: the new note's complete new tag list."
    )
    neighbour_updates: list[NeighbourUpdate] = Field(
        description="For update_neighbor: one entry per neighbour to rewrite; omit the others."
    )


@dataclass(frozen=True)
class Candidate:
    """A neighbour of the new note: its current state and its cosine similarity."""

    note: Note
    similarity: float


@dataclass
class Plan:
    """What to change for one new note, every neighbour named by id."""

    connect: list[str] = field(default_factory=list)
    """Ids of the neighbours to link to, in the order decided."""
    note_tags: list[str] | None = None
    """New tags of the new note (``None``: keep its tags)."""
    updates: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    """Neighbour id → (new context, new tags)."""
    invalid_ids: list[str] = field(default_factory=list)
    """Ids the answer named that were not among the neighbours (ignored)."""


SYSTEM_PROMPT = (
    "You maintain a Zettelkasten-style long-term memory for an assistant. A note was just "
    "added. Compare it with its nearest existing notes and decide whether memory should "
    "evolve: link the new note to the notes it relates to, and rewrite the context and tags "
    "of notes that the new one clarifies or extends. Every note is named by an id; refer to "
    "notes only by those ids, copied exactly, never by position or number."
)

_TASK = (
    "Decide:\n"
    "1. should_evolve: true if the new note relates to any of these notes.\n"
    '2. actions: any of "strengthen" (link the new note to related notes) and '
    '"update_neighbor" (rewrite notes that the new one sheds light on).\n'
    "3. For strengthen: suggested_connections, the ids of the notes to link to; "
    "tags_to_update, the new note's complete new tag list.\n"
    "4. For update_neighbor: neighbour_updates, one entry per note to rewrite with its id, a "
    "new one-sentence context and its complete new tag list; leave unchanged notes out.\n"
    "Use only these ids: {ids}."
)


def _describe(note: Note) -> str:
    return (
        f"time: {note.event_time.isoformat()}\n"
        f"content: {note.content}\n"
        f"context: {note.context}\n"
        f"keywords: {', '.join(note.keywords)}\n"
        f"tags: {', '.join(note.tags)}"
    )


def evolution_messages(note: Note, candidates: list[Candidate]) -> list[dict[str, str]]:
    """Return the chat messages asking for the evolution decision of ``note``.

    The user message shows the new note, then each neighbour under ``[id: …]`` with its
    similarity, most similar first, then the task and the list of allowed ids.
    """
    blocks = [f"New note [id: {note.id}]\n{_describe(note)}"]
    blocks.append(f"Its {len(candidates)} nearest notes, most similar first:")
    for c in candidates:
        blocks.append(f"[id: {c.note.id}] similarity {c.similarity:.3f}\n{_describe(c.note)}")
    blocks.append(_TASK.format(ids=", ".join(c.note.id for c in candidates)))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(blocks)},
    ]


def _clean(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def plan_from_decision(
    note: Note, candidates: list[Candidate], decision: EvolutionDecision
) -> Plan:
    """Turn the LLM's decision into a plan, keeping only ids among ``candidates``.

    Nothing changes unless ``should_evolve``. ``strengthen`` links to the valid
    ``suggested_connections`` and, when ``tags_to_update`` is not empty, retags the new
    note. ``update_neighbor`` rewrites each valid neighbour once (its first entry wins); a
    blank context or an empty tag list keeps the old value. Ids not among the candidates
    (the new note's own id included) are collected in ``invalid_ids``.
    """
    plan = Plan()
    if not decision.should_evolve:
        return plan
    by_id = {c.note.id: c.note for c in candidates}
    if "strengthen" in decision.actions:
        for target in _clean(decision.suggested_connections):
            (plan.connect if target in by_id else plan.invalid_ids).append(target)
        plan.note_tags = _clean(decision.tags_to_update) or None
    if "update_neighbor" in decision.actions:
        for update in decision.neighbour_updates:
            target = update.id.strip()
            if target not in by_id:
                plan.invalid_ids.append(target)
                continue
            if target in plan.updates:
                continue
            old = by_id[target]
            context = update.context.strip() or old.context
            plan.updates[target] = (context, _clean(update.tags) or list(old.tags))
    return plan
