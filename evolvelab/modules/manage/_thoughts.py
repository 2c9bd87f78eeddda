"""Think-in-Memory thoughts: what the LLM is asked, what it answers, and the rule without it.

A *thought* is a note of kind ``thought``: one short statement of a relation between two
entities (TiM's inductive thought, a ``(head, relation, tail)`` triple), whose
``source_ids`` are the events it was derived from, so evaluation maps a retrieved thought
back to its evidence. The triple is kept in ``metadata`` (``head``, ``relation``,
``tail``).

With an LLM, :func:`post_think_messages` asks for :class:`Thoughts` and
:func:`review_messages` for a :class:`ThoughtReview` (forget and merge decisions over
thoughts that share a bucket). Without one, :func:`salient_statements` is the
deterministic rule: a note's declarative first-person sentences with enough content
words, each attributed to the note's speaker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from evolvelab.types import Note, Outcome, Scope, stable_id

__all__ = [
    "THOUGHT",
    "MergeDecision",
    "Thought",
    "ThoughtReview",
    "Thoughts",
    "condensed_thought",
    "post_think_messages",
    "review_messages",
    "rule_thoughts",
    "salient_statements",
    "speaker_of",
    "thought_id",
    "thought_note",
]

THOUGHT = "thought"
"""The note kind thoughts are written with."""

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9']+")
_FIRST_PERSON = {"i", "i'm", "i've", "i'd", "i'll", "me", "my", "mine", "myself",
                 "we", "we're", "we've", "we'll", "our", "ours", "us"}  # fmt: skip
_STOP = {
    "a", "about", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "but", "by", "can", "could", "did", "do", "does", "for", "from", "get", "got", "had",
    "has", "have", "he", "her", "him", "his", "how", "if", "in", "is", "it", "it's", "its",
    "just", "like", "much", "no", "not", "of", "oh", "on", "or", "really", "she", "so",
    "some", "that", "the", "their", "them", "then", "there", "they", "this", "to", "too",
    "very", "was", "were", "what", "when", "which", "who", "will", "with", "would", "yeah",
    "yes", "you", "your", "that's", "don't", "it'll", "thanks", "wow", "great",
}  # fmt: skip


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thought(_Schema):
    """One inductive thought: a relation between two entities, with its sources."""

    head: str = Field(description="The entity the thought is about, by name (no pronouns).")
    relation: str = Field(description="How head relates to tail, e.g. 'works as', 'moved to'.")
    tail: str = Field(description="The other entity or value, e.g. 'pharmacist', 'Lisbon'.")
    statement: str = Field(description="One self-contained sentence stating the relation.")
    sources: list[str] = Field(
        default_factory=list, description="Labels of the memories it comes from, e.g. ['N2']."
    )


class Thoughts(_Schema):
    """The thoughts worth keeping from a conversation window or a task."""

    thoughts: list[Thought] = Field(
        default_factory=list, description="New thoughts; empty when nothing is worth keeping."
    )


class MergeDecision(_Schema):
    """Thoughts that say the same thing, and the one statement replacing them."""

    labels: list[str] = Field(description="Labels of the thoughts to merge, e.g. ['T1', 'T3'].")
    statement: str = Field(description="The merged statement.")


class ThoughtReview(_Schema):
    """What to do with thoughts that share a memory bucket."""

    forget: list[str] = Field(
        default_factory=list,
        description="Labels of thoughts contradicted by a newer one or not worth keeping.",
    )
    merge: list[MergeDecision] = Field(
        default_factory=list, description="Groups of thoughts that say the same thing."
    )


_POST_THINK = (
    "You keep an assistant's long-term memory as inductive thoughts (Think-in-Memory). "
    "A thought states one relation between two entities as a triple (head, relation, "
    "tail) plus one self-contained sentence, e.g. head 'Ana', relation 'works as', tail "
    "'pharmacist', statement 'Ana works as a pharmacist.' Name people instead of using "
    "pronouns, keep dates that matter, and write only what the memories state or "
    "clearly imply. Skip small talk. Cite the labels of the memories each thought comes "
    "from. Return an empty list when nothing is worth remembering."
)
_REVIEW = (
    "You organise an assistant's memory of inductive thoughts. The thoughts below hash "
    "to the same memory bucket and are listed oldest first. Forget a thought when a "
    "newer one contradicts or replaces it, or when it is not worth keeping. Merge "
    "thoughts that say the same thing into one statement. Leave every other thought "
    "alone: answer with empty lists when nothing needs to change."
)


def _line(label: str, note: Note) -> str:
    return f"[{label}] ({note.event_time:%Y-%m-%d}) {note.content}"


def post_think_messages(
    notes: Sequence[Note], labels: Sequence[str], outcome: Outcome | None = None
) -> list[dict[str, str]]:
    """Return the request for new thoughts from ``notes`` (labelled ``labels``).

    Args:
        notes: the memories to think over, oldest first.
        labels: one short label per note, which the answer cites.
        outcome: the task outcome when thinking after feedback; ``None`` after dialogue.
    """
    lines = "\n".join(_line(label, note) for label, note in zip(labels, notes, strict=True))
    if outcome is None:
        user = f"Conversation memories:\n{lines}\n\nWrite the thoughts worth keeping."
    else:
        verdict = "succeeded" if outcome.success else "failed"
        task = f"Task {outcome.task_id} {verdict}" if outcome.task_id else f"A task {verdict}"
        score = f" (score {outcome.score})" if outcome.score is not None else ""
        detail = f"\nOutcome detail: {outcome.detail}" if outcome.detail else ""
        user = (
            f"{task}{score}.{detail}\nMemories it used:\n{lines}\n\n"
            "Write the thoughts worth keeping for future tasks."
        )
    return [{"role": "system", "content": _POST_THINK}, {"role": "user", "content": user}]


def review_messages(thoughts: Sequence[Note], labels: Sequence[str]) -> list[dict[str, str]]:
    """Return the request for forget and merge decisions over bucket-mate ``thoughts``."""
    lines = "\n".join(_line(label, note) for label, note in zip(labels, thoughts, strict=True))
    return [
        {"role": "system", "content": _REVIEW},
        {"role": "user", "content": f"Thoughts in one bucket:\n{lines}"},
    ]


def speaker_of(note: Note) -> tuple[str, str]:
    """Return ``(speaker, text without the 'speaker: ' prefix)`` of a note ('' if unknown)."""
    speaker = note.metadata.get("speaker")
    text = note.content
    if isinstance(speaker, str) and speaker:
        prefix = f"{speaker}: "
        return speaker, text[len(prefix) :] if text.startswith(prefix) else text
    return "", text


def salient_statements(note: Note, *, min_words: int, limit: int) -> list[str]:
    """Return up to ``limit`` salient statements of ``note`` (the rule without an LLM).

    A sentence is salient when it is declarative (does not end in ``?``), speaks in the
    first person (I, my, we, our…) and has at least ``min_words`` content words (not
    stop words). Each becomes ``"<speaker>: <sentence>"``; longer sentences first.

    Example:
        >>> note = Note(id="n1", content="Ana: Hi! I'm a pharmacist in Porto. And you?",
        ...             metadata={"speaker": "Ana"})
        >>> salient_statements(note, min_words=2, limit=2)
        ["Ana: I'm a pharmacist in Porto."]
    """
    speaker, text = speaker_of(note)
    kept: list[tuple[int, int, str]] = []
    for position, sentence in enumerate(_SENTENCE.split(text.strip())):
        sentence = sentence.strip()
        words = _WORD.findall(sentence.lower())
        if not sentence or sentence.endswith("?") or not _FIRST_PERSON & set(words):
            continue
        content = [w for w in words if w not in _STOP and w not in _FIRST_PERSON]
        if len(content) >= min_words:
            kept.append((-len(content), position, sentence))
    best = sorted(kept)[:limit]
    return [f"{speaker}: {s}" if speaker else s for _, _, s in sorted(best, key=lambda t: t[1])]


def thought_id(scope: Scope, statement: str) -> str:
    """Return the stable id of a thought: the same statement in one scope, the same id."""
    normalised = " ".join(_WORD.findall(statement.lower()))
    return stable_id("th", scope.user_id, scope.agent_id, normalised)


def thought_note(
    statement: str,
    *,
    sources: Sequence[Note],
    scope: Scope,
    now: datetime,
    triple: tuple[str, str, str] = ("", "", ""),
    origin: str,
) -> Note:
    """Build a thought note from ``statement``, derived from the ``sources`` notes.

    Args:
        statement: the thought's text.
        sources: notes it came from; their ``source_ids`` (events) become its own.
        scope: whose memory it belongs to (a session only if every source shares it).
        now: the pipeline time, stored as ``created_at``.
        triple: ``(head, relation, tail)`` when known.
        origin: how it was made (``dialogue``, ``feedback``), kept in ``metadata``.
    """
    sessions = {n.scope.session_id for n in sources}
    session = sessions.pop() if len(sessions) == 1 else None
    owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id, session_id=session)
    events = list(dict.fromkeys(s for n in sources for s in (n.source_ids or [n.id])))
    head, relation, tail = triple
    return Note(
        id=thought_id(owner, statement),
        content=statement,
        kind=THOUGHT,
        source_ids=events,
        scope=owner,
        created_at=now,
        valid_from=max((n.event_time for n in sources), default=now),
        metadata={"head": head, "relation": relation, "tail": tail, "origin": origin},
    )


def rule_thoughts(notes: Sequence[Note], *, now: datetime, min_words: int, limit: int) -> list[Note]:
    """Return the thoughts the rule without an LLM derives from dialogue ``notes``.

    Each salient statement (:func:`salient_statements`) of a note becomes one thought
    with the note as its only source and the triple ``(speaker, "said", sentence)``.
    """
    thoughts = []
    for note in notes:
        speaker, _ = speaker_of(note)
        for statement in salient_statements(note, min_words=min_words, limit=limit):
            said = statement.removeprefix(f"{speaker}: ") if speaker else statement
            thoughts.append(
                thought_note(statement, sources=[note], scope=note.scope, now=now,
                             triple=(speaker, "said", said), origin="dialogue")
            )  # fmt: skip
    return thoughts


def condensed_thought(
    notes: Sequence[Note], *, scope: Scope, now: datetime, min_words: int, limit: int
) -> Note | None:
    """Return the rule's feedback thought: the used notes' salient statements in one note.

    The first salient statement of each used note that is not itself a thought, for at
    most ``limit`` notes, joined with ``"; "``; ``None`` when no note has one.
    """
    statements, sources = [], []
    for note in notes:
        found = salient_statements(note, min_words=min_words, limit=1) if note.kind != THOUGHT else []
        if found and len(statements) < limit:
            statements.append(found[0])
            sources.append(note)
    if not statements:
        return None
    return thought_note("; ".join(statements), sources=sources, scope=scope, now=now,
                        origin="feedback")  # fmt: skip
