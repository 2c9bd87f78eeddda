"""Entities and opinions in plain text, without a model (Hindsight's offline retain).

Entities, in order of first appearance, lower-cased and de-duplicated:

- **capitalised spans**: one or more capitalised words (``Caroline``, ``New York``,
  ``LGBTQ``) — at the start of a sentence only when the word is not a common word
  (``The``, ``Yesterday`` and ``I`` are not names);
- **quoted names**: text in double or curly quotes of one to six words
  (``"Charlotte's Web"``);
- **repeated noun phrases**: two adjacent content words (``support group``, ``adoption
  agency``) that the owner's memory already holds at least ``min_repeats`` times
  (:class:`PhraseCounter` keeps the counts).

Opinions: a sentence in the first person with a belief marker ("I think", "I believe",
"I feel", "in my opinion", "I love", "my favourite", …) is an opinion. Its initial
confidence starts at ``base`` and moves down for hedges ("maybe", "probably", "I guess")
and up for boosters ("definitely", "I'm sure", "absolutely").
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable

from evolvelab.text import STOP_WORDS, tokens
from evolvelab.types import Note

__all__ = ["PhraseCounter", "entities", "note_entities", "noun_phrases", "opinion_confidence"]

_CAPS = re.compile(r"\b[A-Z][A-Za-z0-9'&-]*(?:\s+(?:of\s+|the\s+)?[A-Z][A-Za-z0-9'&-]*)*")
_QUOTED = re.compile(r"[\"“]([^\"“”]{2,60})[\"”]")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n)\s*$")
_COMMON = STOP_WORDS | {
    "yesterday", "today", "tomorrow", "hey", "hi", "hello", "thanks", "thank", "wow", "yes",
    "sure", "great", "awesome", "cool", "nice", "good", "sorry", "haha", "lol", "omg", "definitely",
    "absolutely", "totally", "maybe", "btw", "anyway", "glad", "last", "next", "also", "plus",
}  # fmt: skip
_BELIEF = re.compile(
    r"\b(i think|i believe|i feel|i felt|i guess|i reckon|i suppose|in my opinion|i'd say|"
    r"i love|i loved|i hate|i hated|i like|i prefer|i enjoy|my favou?rite|i'm convinced|"
    r"i am convinced|i doubt|i'm not sure|seems to me)\b", re.IGNORECASE)  # fmt: skip
_HEDGE = re.compile(
    r"\b(maybe|perhaps|probably|i guess|i suppose|not sure|might|kind of|sort of)\b", re.IGNORECASE
)
_BOOST = re.compile(
    r"\b(definitely|absolutely|certainly|i'm sure|i am sure|convinced|always|totally)\b",
    re.IGNORECASE,
)


def _clean(span: str) -> str:
    return re.sub(r"'s$", "", span.strip(" .,!?;:'\"")).lower()


def entities(text: str, phrases: Iterable[str] = ()) -> list[str]:
    """Return the entities of ``text``: capitalised spans, quoted names, known repeated phrases.

    Args:
        text: the statement.
        phrases: noun phrases that count as entities when ``text`` holds them (see
            :class:`PhraseCounter`).

    Example:
        >>> entities('Caroline joined the LGBTQ support group. I read "Charlotte\\'s Web".')
        ['caroline', 'lgbtq', "charlotte's web"]
    """
    found: dict[str, None] = {}
    for match in _CAPS.finditer(text):
        words = match.group(0).split()
        if _SENTENCE_START.search(text[: match.start()]) and words[0].lower() in _COMMON:
            words = words[1:]
        while words and words[0].lower() in _COMMON:
            words = words[1:]
        if words and not (len(words) == 1 and words[0].lower() in _COMMON):
            name = _clean(" ".join(words))
            if len(name) > 1:
                found.setdefault(name, None)
    for match in _QUOTED.finditer(text):
        name = _clean(match.group(1))
        if name and len(name.split()) <= 6:
            found.setdefault(name, None)
    held = set(noun_phrases(text))
    for phrase in phrases:
        if phrase in held:
            found.setdefault(phrase, None)
    return list(found)


def noun_phrases(text: str) -> list[str]:
    """Return the adjacent content-word pairs of ``text`` (candidate noun phrases), in order."""
    words = tokens(text)
    out = []
    for a, b in itertools.pairwise(words):
        if (
            a in STOP_WORDS
            or b in STOP_WORDS
            or len(a) < 3
            or len(b) < 3
            or a.isdigit()
            or b.isdigit()
        ):
            continue
        out.append(f"{a} {b}")
    return out


class PhraseCounter:
    """Count noun phrases per owner; a phrase seen ``min_repeats`` times becomes an entity."""

    def __init__(self, min_repeats: int) -> None:
        self.min_repeats = min_repeats
        self.counts: Counter[str] = Counter()

    def add(self, text: str) -> None:
        """Count the noun phrases of one statement (each once)."""
        self.counts.update(set(noun_phrases(text)))

    def repeated(self) -> set[str]:
        """Return the phrases seen at least ``min_repeats`` times."""
        return {p for p, n in self.counts.items() if n >= self.min_repeats}

    def repeated_in(self, text: str) -> list[str]:
        """Return the noun phrases of ``text`` seen at least ``min_repeats`` times."""
        return [p for p in noun_phrases(text) if self.counts[p] >= self.min_repeats]


def opinion_confidence(text: str, base: float) -> float | None:
    """Return the initial confidence of ``text`` as an opinion, or ``None`` if it states none.

    Example:
        >>> opinion_confidence("I think the lake is too cold.", 0.6)
        0.6
        >>> opinion_confidence("Maybe I like jazz.", 0.6)
        0.45
    """
    if not _BELIEF.search(text):
        return None
    confidence = base
    if _HEDGE.search(text):
        confidence -= 0.15
    if _BOOST.search(text):
        confidence += 0.15
    return round(min(max(confidence, 0.05), 0.95), 3)


def note_entities(note: Note) -> list[str]:
    """Return the entities a note carries in ``metadata.entities`` (``|``-separated)."""
    raw = note.metadata.get("entities")
    return [e for e in raw.split("|") if e] if isinstance(raw, str) else []
