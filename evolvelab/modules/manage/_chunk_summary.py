"""Coarse chunk summaries for HCAM: an extractive one without an LLM, a written one with.

The **extractive summary** keeps what makes a chunk different from the rest of its
owner's memory: the chunk's ``terms`` most distinctive words, weighted by
tf-idf against every turn of the scope (``tf(t, chunk) * ln(1 + N / df(t))``, N turns,
``df(t)`` turns holding ``t``), and the ``sentences`` sentences that carry most of that
weight, in their original order. It reads::

    [8 May 2023] adoption, agencies, lgbtq, ... | Caroline: I'm looking into adoption
    agencies. | Melanie: ...

With an LLM one :class:`ChunkSummary` request per chunk writes the summary and its
keywords instead.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from evolvelab.text import STOP_WORDS, tokens
from evolvelab.types import Note

__all__ = ["ChunkSummary", "document_frequency", "extractive_summary", "summary_messages"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class ChunkSummary(BaseModel):
    """What the LLM returns for one chunk."""

    summary: str = Field(
        description="Two to four sentences: who did what, when, with names and dates."
    )
    keywords: list[str] = Field(default_factory=list, description="Up to ten distinctive keywords.")


def _terms(text: str) -> list[str]:
    return [w for w in tokens(text) if w not in STOP_WORDS and len(w) > 2 and not w.isdigit()]


def document_frequency(notes: Sequence[Note]) -> tuple[Counter[str], int]:
    """Return how many of ``notes`` hold each term, and how many notes there are."""
    df: Counter[str] = Counter()
    for note in notes:
        df.update(set(_terms(note.content)))
    return df, len(notes)


def extractive_summary(
    members: Sequence[Note], df: Counter[str], total: int, *, terms: int, sentences: int
) -> tuple[str, list[str]]:
    """Return the extractive summary of a chunk and its distinctive terms.

    Args:
        members: the chunk's notes in order.
        df: document frequency of each term over the scope's notes.
        total: how many notes ``df`` counts.
        terms: how many distinctive terms to keep.
        sentences: how many sentences to keep.

    Example:
        A chunk of two turns, weighed against its owner's four turns:

        >>> from datetime import UTC, datetime
        >>> from evolvelab.types import Note
        >>> may = datetime(2023, 5, 8, tzinfo=UTC)
        >>> chunk = [Note(id="t1", valid_from=may,
        ...               content="Ana: I started pottery classes. The teacher is great."),
        ...          Note(id="t2", valid_from=may, content="Ben: Pottery? Show me a bowl!")]
        >>> rest = [Note(id="t3", content="Ana: The bus was late again."),
        ...         Note(id="t4", content="Ben: My teacher moved to Leeds.")]
        >>> df, total = document_frequency(chunk + rest)
        >>> summary, words = extractive_summary(chunk, df, total, terms=3, sentences=2)
        >>> summary
        '[8 May 2023] pottery, started, classes | Ana: I started pottery classes. | Ben: Pottery?'
    """
    tf = Counter(t for note in members for t in _terms(note.content))
    weight = {t: n * math.log(1 + total / max(df.get(t, 0), 1)) for t, n in tf.items()}
    first = {}
    for i, t in enumerate(t for note in members for t in _terms(note.content)):
        first.setdefault(t, i)
    top = sorted(weight, key=lambda t: (-weight[t], first[t]))[:terms]
    chosen = set(top)
    candidates: list[tuple[float, int, str]] = []
    for note in members:
        for sentence in _SENTENCE.split(note.content.strip()):
            words = set(_terms(sentence)) & chosen
            if words:
                candidates.append(
                    (sum(weight[w] for w in words), len(candidates), sentence.strip())
                )
    best = sorted(candidates, key=lambda c: (-c[0], c[1]))[:sentences]
    kept = [text for _, _, text in sorted(best, key=lambda c: c[1])]
    start = members[0].event_time if members else None
    date = f"[{start.day} {start:%B %Y}] " if start is not None else ""
    return date + ", ".join(top) + (" | " + " | ".join(kept) if kept else ""), top


def summary_messages(members: Sequence[Note]) -> list[dict[str, str]]:
    """Return the LLM request that summarises one chunk."""
    lines = [f"({n.event_time:%Y-%m-%d}) {n.content}" for n in members]
    return [
        {
            "role": "system",
            "content": "You summarise one chunk of a long conversation for a memory index. "
            "Write two to four sentences saying who did what and when, keeping names, "
            "places, dates and numbers, then up to ten distinctive keywords. The summary "
            "is used to decide whether the chunk is worth reading in detail.",
        },
        {"role": "user", "content": "Chunk:\n" + "\n".join(lines) + "\n\nSummarise it."},
    ]
