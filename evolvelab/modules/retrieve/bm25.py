"""``type: bm25`` — full-text search over the store's text index.

Two options change what is searched, both off by default:

- ``drop_stop_words`` takes common English words (question words, pronouns, auxiliaries:
  :data:`evolvelab.text.STOP_WORDS`) out of the query before it reaches the store. The
  store's own stop list is short (LanceDB's drops ``the``, ``is``, ``of`` but keeps
  ``how``, ``what``, ``does``), so a question like "How does John feel while surfing?"
  otherwise matches every turn that asks "how". A query made only of stop words is sent
  as it is.
- ``content_weight`` blends a second search over each note's *content* into the search
  over its *index text*. The two differ when an encoder indexes more than it shows (the
  ``turn`` encoder's ``context``: a turn indexed with the turns before it). A note then
  scores ``index / max index + content_weight * content / max content`` — each search's
  scores divided by its best, as in ``hybrid``'s score fusion — so a turn that matches the
  question by itself beats a neighbour that only borrows its words. The second search is
  a second read: a store that counts recalls (``layered_decay`` in ``memorybank`` mode)
  counts both, as it does for each channel of ``hybrid``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.modules.retrieve._fusion import fuse
from evolvelab.stages import Retriever, TextSearch
from evolvelab.text import STOP_WORDS, tokens
from evolvelab.types import Hit, Query

__all__ = ["BM25Config", "BM25Retriever", "without_stop_words"]


class BM25Config(RetrieverConfig):
    """Rank notes by BM25 over their text (LanceDB's native full-text index).

    Example:
        ```yaml
        retrieve:
          - {type: bm25, k: 20}
          - {type: bm25, k: 20, drop_stop_words: true, content_weight: 0.3}
        ```
    """

    type: Literal["bm25"] = "bm25"
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many notes to fetch."
    )
    drop_stop_words: Annotated[bool, Tunable(choices=(False, True))] = Field(
        False,
        description="Take common English words (how, what, does, you...) out of the query "
        "before searching.",
    )
    content_weight: Annotated[float, Tunable(0.0, 1.0)] = Field(
        0.0,
        ge=0.0,
        le=10.0,
        description="Weight of a second search over each note's content, blended into the "
        "search over its index text by max-normalised score (0: off).",
    )


def without_stop_words(text: str) -> str:
    """Return the words of ``text`` that are not stop words, or ``text`` if none are left.

    Example:
        >>> without_stop_words("How does John feel while surfing?")
        'john feel surfing'
    """
    kept = [word for word in tokens(text) if word not in STOP_WORDS]
    return " ".join(kept) if kept else text


class BM25Retriever(Retriever):
    """Ask the store's full-text index."""

    config_model: ClassVar[type[BM25Config]] = BM25Config
    config: BM25Config
    requires = (TextSearch,)

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        store = self.resources.find(TextSearch)
        text = without_stop_words(query.text) if self.config.drop_stop_words else query.text
        k = self.config.k
        hits = store.search_text(text, k, query.scope, query.where)
        if self.config.content_weight > 0:
            content = store.search_text(text, k, query.scope, query.where, field="content")
            blended = [("index", 1.0, hits), ("content", self.config.content_weight, content)]
            hits = fuse(blended, fusion="score", channel="bm25")[:k]
        return self.extend(previous, [h.model_copy(update={"channel": "bm25"}) for h in hits])

