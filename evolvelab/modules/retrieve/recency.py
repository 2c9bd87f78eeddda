"""``type: recency`` — the most recent notes, scored by an exponential recency decay."""

from __future__ import annotations

import heapq
import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.stages import Retriever, Scannable
from evolvelab.types import Hit, Query

__all__ = ["RecencyConfig", "RecencyRetriever"]


class RecencyConfig(RetrieverConfig):
    """Return the newest notes in scope, whatever the query says.

    The score is ``exp(-age_days / half_life_days * ln 2)``: 1.0 for a note written now,
    0.5 for one ``half_life_days`` old. Age is measured from the query time (or the
    pipeline clock), not the wall clock.

    Example:
        ```yaml
        retrieve:
          - {type: recency, k: 5, half_life_days: 7}
        ```
    """

    type: Literal["recency"] = "recency"
    k: Annotated[int, Tunable(1, 50, log=True)] = Field(
        10, ge=1, le=1000, description="How many notes to return."
    )
    half_life_days: Annotated[float, Tunable(0.5, 365, log=True)] = Field(
        30.0, gt=0, description="Age at which the score halves."
    )


class RecencyRetriever(Retriever):
    """Scan the scope and keep the ``k`` newest notes."""

    config_model: ClassVar[type[RecencyConfig]] = RecencyConfig
    reads_query_time: ClassVar[bool] = True
    config: RecencyConfig
    requires = (Scannable,)

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        store = self.resources.find(Scannable)
        now = query.at or self.resources.clock.now(query.scope)
        newest = heapq.nlargest(
            self.config.k, store.scan(query.scope, query.where), key=lambda n: n.event_time
        )
        rate = math.log(2) / self.config.half_life_days
        hits = []
        for note in newest:
            age_days = max(0.0, (now - note.event_time).total_seconds() / 86400)
            score = math.exp(-rate * age_days)
            hits.append(Hit(note=note, score=score, channel="recency", explain={"age_days": age_days}))
        return self.extend(previous, hits)
