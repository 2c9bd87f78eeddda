"""``type: bm25`` — full-text search over the store's text index."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.stages import Retriever, TextSearch
from evolvelab.types import Hit, Query

__all__ = ["BM25Config", "BM25Retriever"]


class BM25Config(RetrieverConfig):
    """Rank notes by BM25 over their text (LanceDB's native full-text index).

    Example:
        ```yaml
        retrieve:
          - {type: bm25, k: 20}
        ```
    """

    type: Literal["bm25"] = "bm25"
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many notes to fetch."
    )


class BM25Retriever(Retriever):
    """Ask the store's full-text index."""

    config_model: ClassVar[type[BM25Config]] = BM25Config
    config: BM25Config
    requires = (TextSearch,)

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        store = self.resources.find(TextSearch)
        hits = store.search_text(query.text, self.config.k, query.scope, query.where)
        return self.extend(previous, [h.model_copy(update={"channel": "bm25"}) for h in hits])
