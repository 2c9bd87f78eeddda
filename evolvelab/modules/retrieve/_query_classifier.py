"""Classify a question into a category for the semantic cache: keyword rules or centroids.

Two classifiers, chosen by ``type`` in the cache's ``classifier`` setting:

- ``keywords``: ``rules`` map a category to words or phrases; the first category (in the
  order written) one of whose entries appears in the question as whole words, in any
  case, wins; otherwise ``default``.
- ``centroid``: ``examples`` map a category to labelled example questions; each
  category's centroid is the normalised mean of its examples' vectors, and a question
  goes to the nearest centroid by cosine, or to ``default`` when even the nearest is
  below ``min_similarity``. Vectors are the cache's (the pipeline's embedder, or word
  counts with ``similarity: lexical``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from evolvelab.config import StrictModel

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CentroidClassifierConfig",
    "ClassifierConfig",
    "KeywordClassifierConfig",
    "QueryClassifier",
]

Vectorize = Callable[[Sequence[str]], "np.ndarray"]
"""Texts → an ``(n, dim)`` float32 array of unit vectors."""


class KeywordClassifierConfig(StrictModel):
    """Categories by keyword rules, first match wins.

    Example:
        ```yaml
        classifier: {type: keywords, rules: {temporal: [when, what year, how long ago]}}
        ```
    """

    type: Literal["keywords"] = "keywords"
    rules: dict[str, list[str]] = Field(
        default_factory=dict, description="Category → words or phrases that put a question in it."
    )
    default: str = Field(
        "other", min_length=1, description="Category of a question no rule matches."
    )


class CentroidClassifierConfig(StrictModel):
    """Categories by the nearest centroid of labelled example questions.

    Example:
        ```yaml
        classifier:
          type: centroid
          examples: {temporal: ["When did Ana move?"], preference: ["What does Ben like?"]}
        ```
    """

    type: Literal["centroid"] = "centroid"
    examples: dict[str, list[str]] = Field(
        default_factory=dict, description="Category → example questions (at least one each)."
    )
    min_similarity: float = Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description="Below this cosine to every centroid: the default category.",
    )
    default: str = Field(
        "other", min_length=1, description="Category when no centroid is near enough."
    )


ClassifierConfig = KeywordClassifierConfig | CentroidClassifierConfig


class QueryClassifier:
    """Put a question in a category; built from a classifier config and the cache's vectors."""

    def __init__(self, config: ClassifierConfig, vectorize: Vectorize) -> None:
        self.config = config
        self._vectorize = vectorize
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        self._names: list[str] = []
        self._centroids: np.ndarray | None = None
        if isinstance(config, KeywordClassifierConfig):
            for category, words in config.rules.items():
                options = "|".join(re.escape(w.strip()) for w in words if w.strip())
                if options:
                    self._patterns.append(
                        (category, re.compile(rf"(?<!\w)(?:{options})(?!\w)", re.IGNORECASE))
                    )
        else:
            import numpy as np

            rows = []
            for category, examples in config.examples.items():
                if not examples:
                    continue
                total = vectorize(examples).sum(axis=0)
                norm = float(np.linalg.norm(total))
                if norm > 0:
                    self._names.append(category)
                    rows.append(total / norm)
            if rows:
                self._centroids = np.stack(rows).astype(np.float32)

    def categories(self) -> list[str]:
        """Return every category this classifier can answer, the default last."""
        names = [c for c, _ in self._patterns] + self._names
        return [*dict.fromkeys(names), self.config.default]

    def classify(self, text: str, vector: np.ndarray | None = None) -> str:
        """Return the category of ``text`` (``vector``: its vector, if already computed)."""
        if isinstance(self.config, KeywordClassifierConfig):
            for category, pattern in self._patterns:
                if pattern.search(text):
                    return category
            return self.config.default
        if self._centroids is None:
            return self.config.default
        vector = vector if vector is not None else self._vectorize([text])[0]
        scores = self._centroids @ vector
        best = int(scores.argmax())
        return (
            self._names[best]
            if float(scores[best]) >= self.config.min_similarity
            else self.config.default
        )
