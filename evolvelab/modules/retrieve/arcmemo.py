"""``type: arcmemo`` — select concepts for a new task (ArcMemo's retrieval).

ArcMemo retrieves **concepts**, not past solutions: the concepts whose situation
matches the new problem. This retriever ranks the notes of the concept kind by the
cosine similarity of their index text (``name: when it applies``) to the task and
returns the best ``k``; each hit is the concept (name, when it applies, takeaway,
pitfalls), and its ``derived_from`` / ``pitfall_from`` links and ``source_ids`` lead to
the episodes it came from. Drafts (concepts with too little support) are not returned.
ArcMemo's LLM-based selection, which reasons over the concept list, is not offered.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.stages import Retriever, VectorSearch
from evolvelab.types import Hit, Query

__all__ = ["ArcMemoRetrieverConfig", "ArcMemoRetriever"]


class ArcMemoRetrieverConfig(RetrieverConfig):
    """Return the concepts whose situation is closest to the task.

    Example:
        ```yaml
        retrieve:
          - {type: arcmemo, k: 5}
        ```
    """

    type: Literal["arcmemo"] = "arcmemo"
    k: Annotated[int, Tunable(1, 20)] = Field(5, ge=1, le=200, description="Concepts returned.")
    kind: str = Field("concept", min_length=1, description="Note kind of the concepts.")
    min_score: Annotated[float, Tunable(-0.1, 0.6)] = Field(
        -1.0, ge=-1.0, le=1.0, description="Drop concepts whose cosine similarity is below this."
    )


class ArcMemoRetriever(Retriever):
    """Concept selection by situation similarity."""

    config_model: ClassVar[type[ArcMemoRetrieverConfig]] = ArcMemoRetrieverConfig
    config: ArcMemoRetrieverConfig
    requires = (VectorSearch,)

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        store = self.resources.find(VectorSearch)
        vector = self.resources.embedder.embed([query.text])[0]
        where = query.where.model_copy(update={"kind": [self.config.kind]})
        hits = store.search_vectors(vector, self.config.k, query.scope, where)
        kept = [
            h.model_copy(update={"channel": "arcmemo"})
            for h in hits
            if h.score >= self.config.min_score
        ]
        return self.extend(previous, kept)
