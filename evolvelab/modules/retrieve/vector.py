"""``type: vector`` — nearest notes by embedding cosine similarity."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.stages import Retriever, VectorSearch
from evolvelab.types import Hit, Query

__all__ = ["VectorConfig", "VectorRetriever"]


class VectorConfig(RetrieverConfig):
    """Find notes whose embedding is closest to the query's.

    Example:
        ```yaml
        retrieve:
          - {type: vector, k: 20}
        ```
    """

    type: Literal["vector"] = "vector"
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many notes to fetch."
    )
    min_score: Annotated[float, Tunable(-0.1, 0.6)] = Field(
        -1.0, ge=-1.0, le=1.0, description="Drop hits whose cosine similarity is below this."
    )


class VectorRetriever(Retriever):
    """Embed the query and ask the store's vector index."""

    config_model: ClassVar[type[VectorConfig]] = VectorConfig
    config: VectorConfig
    requires = (VectorSearch,)

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        store = self.resources.find(VectorSearch)
        vector = self.resources.embedder.embed([query.text])[0]
        hits = store.search_vectors(vector, self.config.k, query.scope, query.where)
        kept = [
            hit.model_copy(update={"channel": "vector"})
            for hit in hits
            if hit.score >= self.config.min_score
        ]
        return self.extend(previous, kept)
