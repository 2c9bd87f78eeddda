"""``type: temporal`` — read a time expression in the question and keep to its window.

"What did Ana do last summer?", "in May 2023", "two weeks before 9 June 2023": the parser
(:mod:`~evolvelab.modules.retrieve._temporal`) turns the expression into a window
``[start, end)`` relative to the query's time (``Query.at``, else the pipeline clock of
the scope's owner). A note is *in the window* when its event time (``valid_from``, else
``created_at``) falls inside it, widened by ``slack_days`` on each side. Questions
without a time expression pass through untouched. Three modes:

- ``source``: find notes in the window (a scan of the scope) and rank them by how many
  of the question's content words they hold (time words taken out), ties broken by the
  newest first; they are appended after ``previous``. Usable as a ``hybrid`` channel.
- ``boost``: multiply the score of hits in the window by ``1 + boost`` and re-rank.
- ``filter``: drop hits outside the window.

Every hit it returns or changes carries ``explain.window_days`` (the window's length).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.modules.retrieve._temporal import TimeWindow, parse_window
from evolvelab.stages import Retriever, Scannable
from evolvelab.text import STOP_WORDS, tokens
from evolvelab.types import Hit, Query

__all__ = ["TemporalConfig", "TemporalRetriever", "query_window", "rank_in_window"]


class TemporalConfig(RetrieverConfig):
    """Restrict or favour notes inside the time window a question names.

    Example:
        ```yaml
        retrieve:
          - {type: bm25, k: 40}
          - {type: temporal, mode: boost, boost: 0.5, slack_days: 3}
        ```
    """

    type: Literal["temporal"] = "temporal"
    mode: Annotated[Literal["source", "boost", "filter"], Tunable(choices=("source", "boost", "filter"))] = Field(
        "source",
        description="source: append notes found in the window; boost: favour hits in it; "
        "filter: drop hits outside it.",
    )  # fmt: skip
    boost: Annotated[float, Tunable(0.0, 2.0, when={"mode": "boost"})] = Field(
        0.5,
        ge=0.0,
        le=10.0,
        description="With mode boost: a hit in the window scores x (1 + boost).",
    )
    slack_days: Annotated[float, Tunable(0.0, 14.0)] = Field(
        1.0, ge=0.0, le=365.0, description="Widen the window by this many days on each side."
    )
    kinds: list[str] | None = Field(
        None, description="With mode source: note kinds searched; null: every kind."
    )
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many notes to return (source) or keep (boost, filter)."
    )


def query_window(query: Query, retriever: Retriever) -> TimeWindow | None:
    """Return the window ``query`` names, relative to its time or the owner's clock."""
    now = query.at or retriever.resources.clock.now(query.scope)
    return parse_window(query.text, now)


def _content_words(text: str, drop: str = "") -> set[str]:
    skip = set(tokens(drop))
    return {w for w in tokens(text) if w not in STOP_WORDS and w not in skip and len(w) > 1}


def rank_in_window(
    retriever: Retriever, query: Query, window: TimeWindow, k: int, *,
    kinds: list[str] | None = None, slack: timedelta = timedelta(0),
) -> list[Hit]:  # fmt: skip
    """Return up to ``k`` notes of the query's scope whose event time is in ``window``.

    Ranked by the number of the question's content words (time words left out) a note
    holds, then newest first; score = that count + a fraction for recency.
    """
    store = retriever.resources.find(Scannable)
    where = query.where.model_copy(update={"kind": kinds}) if kinds is not None else query.where
    wanted = _content_words(query.text, window.expression)
    span = max((window.end - window.start).total_seconds(), 1.0)
    found: list[Hit] = []
    for note in store.scan(query.scope, where):
        if not window.contains(note.event_time, slack):
            continue
        overlap = len(wanted & _content_words(note.search_text))
        recency = (note.event_time - window.start + slack).total_seconds() / (
            span + 2 * slack.total_seconds()
        )
        found.append(Hit(note=note, score=overlap + 0.1 * min(max(recency, 0.0), 1.0), channel="temporal",
                         explain={"overlap": float(overlap), "window_days": span / 86400}))  # fmt: skip
    found.sort(key=lambda h: -h.score)
    return found[:k]


class TemporalRetriever(Retriever):
    """Parse the question's time expression; find, favour or keep notes in its window."""

    config_model: ClassVar[type[TemporalConfig]] = TemporalConfig
    reads_query_time: ClassVar[bool] = True
    config: TemporalConfig
    requires = (Scannable,)

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        cfg = self.config
        window = query_window(query, self)
        if window is None:
            return previous
        slack = timedelta(days=cfg.slack_days)
        days = (window.end - window.start).total_seconds() / 86400
        if cfg.mode == "source":
            return self.extend(
                previous, rank_in_window(self, query, window, cfg.k, kinds=cfg.kinds, slack=slack)
            )
        out = []
        for hit in previous:
            inside = window.contains(hit.note.event_time, slack)
            if cfg.mode == "filter" and not inside:
                continue
            if cfg.mode == "boost" and inside:
                factor = 1.0 + cfg.boost
                score = hit.score * factor if hit.score >= 0 else hit.score / factor
                hit = hit.model_copy(
                    update={"score": score, "explain": {**hit.explain, "window_days": days}}
                )
            out.append(hit)
        if cfg.mode == "boost":
            out.sort(key=lambda h: -h.score)
        return out[: cfg.k]
