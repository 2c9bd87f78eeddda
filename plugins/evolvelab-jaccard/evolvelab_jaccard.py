"""An example EvolveLab plugin: ``type: jaccard``, a retriever ranking notes by word overlap.

Install it next to evolvelab (``pip install plugins/evolvelab-jaccard``) and use it in a
pipeline like any built-in::

    retrieve:
      - {type: jaccard, k: 10, min_overlap: 0.1}

It works on any store that can list a scope's notes (the ``scan`` capability), and it can
serve as a channel of ``type: hybrid``.
"""

from __future__ import annotations

import heapq
import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field

import evolvelab
from evolvelab import Hit, Query, Retriever, RetrieverConfig, Scannable, Tunable

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2}


class JaccardConfig(RetrieverConfig):
    """Rank notes by the Jaccard overlap of their words with the query's."""

    type: Literal["jaccard"] = "jaccard"
    k: Annotated[int, Tunable(5, 50, log=True)] = Field(
        10, ge=1, description="How many notes to return."
    )
    min_overlap: Annotated[float, Tunable(0.0, 0.3)] = Field(
        0.0, ge=0.0, le=1.0, description="Drop notes whose overlap is not above this."
    )


class JaccardRetriever(Retriever):
    """Score = |query words ∩ note words| / |query words ∪ note words|."""

    config_model: ClassVar[type[JaccardConfig]] = JaccardConfig
    config: JaccardConfig
    requires = (Scannable,)

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        store = self.resources.find(Scannable)
        asked = _words(query.text)
        scored = []
        for note in store.scan(query.scope, query.where):
            words = _words(note.content)
            union = asked | words
            score = len(asked & words) / len(union) if union else 0.0
            if score > self.config.min_overlap:
                scored.append((score, note.id, note))
        best = heapq.nlargest(self.config.k, scored, key=lambda t: (t[0], t[1]))
        hits = [Hit(note=n, score=s, channel="jaccard") for s, _, n in best]
        return self.extend(previous, hits)


@evolvelab.hookimpl
def register_retrievers():  # noqa: ANN201
    return [JaccardRetriever]
