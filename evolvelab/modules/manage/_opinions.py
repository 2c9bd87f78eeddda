"""How evidence moves an opinion's confidence (Hindsight's opinion network).

An opinion note keeps ``metadata.confidence`` in [0, 1]. Evidence that supports it
moves confidence towards 1, evidence that contradicts it towards 0, each by a share
``rate`` of the distance::

    support:     c <- c + rate * (1 - c)
    contradict:  c <- c - rate * c

Without an LLM a statement's *stance* towards an opinion is read from its words: it must
share an entity with the opinion and at least ``min_overlap`` of the opinion's content
words (Jaccard over content words is not used: a long statement would never qualify);
it **contradicts** when its polarity differs (an odd number of negations — not, never,
no, n't — or a sentiment word of the opposite sign: love/like/great vs hate/dislike/
awful), and **supports** otherwise. With an LLM, :class:`StanceVerdicts` decides.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from evolvelab.text import STOP_WORDS, tokens
from evolvelab.types import Note

__all__ = [
    "Stance",
    "StanceVerdict",
    "StanceVerdicts",
    "confidence_of",
    "polarity",
    "rule_stance",
    "updated",
]

Stance = Literal["support", "contradict", "unrelated"]

_NEGATION = re.compile(r"\b(not|never|no|none|nobody|nothing|cannot|can't|won't|don't|doesn't|didn't|isn't|wasn't|aren't|weren't|shouldn't|wouldn't|hardly)\b", re.IGNORECASE)  # fmt: skip
_POSITIVE = {"love", "loved", "like", "liked", "enjoy", "enjoyed", "great", "good", "amazing", "best",
             "favourite", "favorite", "wonderful", "fun", "prefer", "happy", "awesome", "beautiful"}  # fmt: skip
_NEGATIVE = {"hate", "hated", "dislike", "disliked", "awful", "bad", "terrible", "worst", "boring",
             "horrible", "sad", "annoying", "ugly", "overrated"}  # fmt: skip


class StanceVerdict(BaseModel):
    """The LLM's reading of one piece of evidence."""

    label: str = Field(description="The evidence label, e.g. E2.")
    stance: Stance = Field(description="Whether the evidence supports or contradicts the opinion.")


class StanceVerdicts(BaseModel):
    """What the LLM returns for one opinion and its new evidence."""

    verdicts: list[StanceVerdict] = Field(default_factory=list)


def confidence_of(note: Note, default: float = 0.5) -> float:
    """Return an opinion note's confidence (``default`` when it has none)."""
    value = note.metadata.get("confidence")
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def polarity(text: str) -> int:
    """Return +1 or -1: the sign of ``text``'s stance (negations flip it)."""
    words = set(tokens(text))
    sign = -1 if (words & _NEGATIVE) and not (words & _POSITIVE) else 1
    if len(_NEGATION.findall(text)) % 2 == 1:
        sign = -sign
    return sign


def _content(text: str) -> set[str]:
    return {w for w in tokens(text) if w not in STOP_WORDS and len(w) > 2}


def rule_stance(opinion: Note, evidence: Note, *, min_overlap: float) -> Stance:
    """Return the stance of ``evidence`` towards ``opinion`` by the word rule above."""
    shared = set(opinion.keywords) & set(evidence.keywords)
    words = _content(opinion.content) - set(opinion.keywords)
    if not shared or not words:
        return "unrelated"
    overlap = len(words & _content(evidence.content)) / len(words)
    if overlap < min_overlap:
        return "unrelated"
    return "support" if polarity(opinion.content) == polarity(evidence.content) else "contradict"


def updated(confidence: float, stance: Stance, rate: float) -> float:
    """Return ``confidence`` after one piece of evidence of ``stance``."""
    if stance == "support":
        return confidence + rate * (1 - confidence)
    if stance == "contradict":
        return confidence - rate * confidence
    return confidence
