"""``type: semantic_cache`` — answer a query seen before (or a paraphrase of it) from a cache.

The cache wraps the retrieve stages it is given (``stages``: the same entries a
pipeline's ``retrieve`` list holds) and sits in front of them:

1. the question is put in a category by the ``classifier``
   (:mod:`~evolvelab.modules.retrieve._query_classifier`: keyword rules or the nearest
   centroid of labelled examples);
2. its vector (the pipeline's embedder with ``similarity: embedding``; a hashed bag of
   content words with ``similarity: lexical``, no model) is compared by cosine with the
   cached questions of the **same scope, filters and category**;
3. the best one at or above that category's ``threshold``, younger than its
   ``ttl_seconds``, is a **hit**: its hits are returned (with ``explain.cache_similarity``)
   and the inner stages do not run. Otherwise the inner stages run and their hits are
   cached, the oldest-used entry of the category making room when its ``quota`` is full.

**Invalidation.** Every entry records its scope's note count when it was written; a
lookup whose scope now counts differently (a write added or removed notes) drops every
entry of the scope first. On a hit the cached notes are read back from the store; if one
is gone or changed (its ``version`` or text differ) the scope's entries are dropped and
the query runs. An update that keeps the count and touches no cached note (a manager
rewriting another note in place) is not seen. :meth:`SemanticCacheRetriever.invalidate`
drops entries explicitly.

**Time.** When a wrapped stage's hits depend on when the query is asked (``recency``,
``temporal``, ``guard``, ``hindsight_reflect``: their class sets ``reads_query_time``),
entries are kept per query time ``at``: a question asked at another ``at`` is never
answered with hits ranked for a different moment. A query without ``at`` means "now";
its entries live for ``ttl_seconds``.

Per-category policies (``categories``) override the defaults ``threshold``,
``ttl_seconds`` and ``quota``: a temporal question whose answer depends on a date may
want a higher threshold than a question about someone's hobby. Time for TTLs is the
machine's monotonic clock (the cache is an operational device, not part of the
replayed memory). :attr:`SemanticCacheRetriever.last` describes the latest lookup, and
``stats`` counts lookups, hits and invalidations.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError

from evolvelab.config import RetrieverConfig, StageConfig, StrictModel, Tunable
from evolvelab.errors import EvolveLabError, closest
from evolvelab.modules.retrieve._query_classifier import (
    CentroidClassifierConfig,
    KeywordClassifierConfig,
    QueryClassifier,
)
from evolvelab.stages import Issue, Resources, Retriever
from evolvelab.text import STOP_WORDS, tokens
from evolvelab.types import Hit, Query, Scope

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MAX_KEYS", "CachePolicy", "Lookup", "SemanticCacheConfig", "SemanticCacheRetriever"]

_LEXICAL_DIM = 4096

MAX_KEYS = 4096
"""Cache keys (scope, filters, ``k`` and, for time-dependent stages, the query time) kept at
most; the least recently used key goes first. A replay whose queries each carry their own
``at`` makes a key per query, and gets no hits: its hits are ranked for that moment."""


class CachePolicy(StrictModel):
    """Cache settings of one category; unset fields take the cache's defaults.

    Example:
        ```yaml
        categories: {temporal: {threshold: 0.97, ttl_seconds: 600, quota: 100}}
        ```
    """

    threshold: float | None = Field(
        None, ge=-1.0, le=1.0, description="Cosine a cached question needs."
    )
    ttl_seconds: float | None = Field(None, gt=0, description="How long an entry is served.")
    quota: int | None = Field(None, ge=1, description="Entries kept per scope for this category.")


class SemanticCacheConfig(RetrieverConfig):
    """Serve repeated and paraphrased questions from a cache in front of the given stages.

    Example:
        ```yaml
        retrieve:
          - type: semantic_cache
            classifier: {type: keywords, rules: {temporal: [when, what year]}}
            threshold: 0.92
            categories: {temporal: {threshold: 0.97}}
            stages:
              - {type: bm25, k: 20}
        ```
    """

    type: Literal["semantic_cache"] = "semantic_cache"
    stages: list[dict[str, Any]] = Field(
        min_length=1,
        description="The retrieve stages the cache fronts, as in a pipeline's retrieve list.",
    )
    similarity: Literal["embedding", "lexical"] = Field(  # not Tunable: embedding needs an embedder
        "embedding",
        description="embedding: the pipeline's embedder; lexical: a hashed bag of content words (no model).",
    )
    classifier: KeywordClassifierConfig | CentroidClassifierConfig = Field(
        default_factory=KeywordClassifierConfig,
        discriminator="type",
        description="How questions are put in categories (keyword rules or nearest centroid).",
    )
    threshold: Annotated[float, Tunable(0.8, 0.99)] = Field(
        0.92, ge=-1.0, le=1.0, description="Default cosine a cached question needs to be served."
    )
    ttl_seconds: Annotated[float, Tunable(60, 86400, log=True)] = Field(
        3600.0, gt=0, description="Default time an entry is served, in seconds."
    )
    quota: Annotated[int, Tunable(10, 1000, log=True)] = Field(
        500, ge=1, description="Default entries kept per scope and category."
    )
    categories: dict[str, CachePolicy] = Field(
        default_factory=dict, description="Per-category threshold, ttl_seconds and quota."
    )
    verify: bool = Field(
        True,
        description="On a hit, read the cached notes back and drop the scope's entries if one changed.",
    )


@dataclass
class _Entry:
    text: str
    vector: np.ndarray
    hits: list[Hit]
    created: float
    used: float
    count: int


@dataclass
class _ScopeCache:
    scope: Scope
    count: int
    entries: dict[str, list[_Entry]] = field(default_factory=dict)


@dataclass(frozen=True)
class Lookup:
    """What the latest lookup did: ``hit``, the question's ``category``, the cached question
    served (``matched``) and its ``similarity``, whether the scope was ``invalidated``."""

    hit: bool
    category: str
    matched: str | None = None
    similarity: float | None = None
    invalidated: bool = False


def lexical_vectors(texts: Sequence[str]) -> np.ndarray:
    """Return unit vectors of hashed content-word counts (stable across processes)."""
    import numpy as np

    out = np.zeros((len(texts), _LEXICAL_DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in tokens(text):
            if word not in STOP_WORDS:
                out[row, zlib.crc32(word.encode("utf-8")) % _LEXICAL_DIM] += 1.0
        norm = float(np.linalg.norm(out[row]))
        if norm > 0:
            out[row] /= norm
    return out


class SemanticCacheRetriever(Retriever):
    """A category-aware semantic cache in front of retrieve stages."""

    config_model: ClassVar[type[SemanticCacheConfig]] = SemanticCacheConfig
    config: SemanticCacheConfig
    source = False  # it needs its stages: not a hybrid channel
    refiner = False  # it finds notes (through its stages): no refiner slot, no refiner swap
    clock: Callable[[], float] = staticmethod(time.monotonic)  # type: ignore[assignment]
    """Seconds for TTLs; tests replace it."""

    @classmethod
    def _inner(cls, config: SemanticCacheConfig, registry: Any) -> tuple[list[Any], list[Issue]]:
        built, issues = [], []
        names = [n for n in registry.names("retriever") if n != "semantic_cache"]
        for i, entry in enumerate(config.stages):
            name = entry.get("type")
            if not isinstance(name, str) or name not in names:
                issues.append(Issue(("stages", i, "type"), f"unknown retriever type {name!r}",
                                    allowed=tuple(names), suggestion=closest(str(name), names)))  # fmt: skip
                continue
            cls_ = registry.get("retriever", name).cls
            try:
                stage_config = cls_.config_model.model_validate(entry)
            except ValidationError as err:
                fields = tuple(cls_.config_model.model_fields)
                for problem in err.errors(include_url=False):
                    where = ("stages", i, *problem["loc"])
                    if problem["type"] == "extra_forbidden":
                        wrong = str(problem["loc"][-1])
                        issues.append(Issue(where, f"unknown field for retriever '{name}'",
                                            allowed=fields, suggestion=closest(wrong, fields)))  # fmt: skip
                    else:
                        issues.append(Issue(where, problem["msg"]))
                continue
            issues.extend(Issue(("stages", i, *p.field), p.message, p.allowed, p.suggestion)
                          for p in cls_.check(stage_config, registry))  # fmt: skip
            built.append((cls_, stage_config))
        return built, issues

    def __init__(self, config: StageConfig, stages: Sequence[Retriever] | None = None) -> None:
        super().__init__(config)
        self._stages: list[Retriever] | None = None if stages is None else list(stages)

    @property
    def time_dependent(self) -> bool:
        return any(stage.time_dependent for stage in self._stages or [])

    @classmethod
    def build(cls, config: StageConfig, registry: Any) -> SemanticCacheRetriever:
        """Build the cache and the stages it wraps (bad entries are left to :meth:`check`)."""
        assert isinstance(config, SemanticCacheConfig)
        built, _ = cls._inner(config, registry)
        return cls(
            config, [stage_cls.build(stage_config, registry) for stage_cls, stage_config in built]
        )

    @classmethod
    def check(cls, config: StageConfig, registry: Any) -> list[Issue]:
        assert isinstance(config, SemanticCacheConfig)
        return cls._inner(config, registry)[1]

    @classmethod
    def capabilities_needed(cls, config: StageConfig, registry: Any) -> tuple[type[Any], ...]:
        assert isinstance(config, SemanticCacheConfig)
        needed: list[type[Any]] = []
        for stage_cls, stage_config in cls._inner(config, registry)[0]:
            needed.extend(stage_cls.capabilities_needed(stage_config, registry))
        return tuple(dict.fromkeys(needed))

    def open(self, resources: Resources) -> None:
        super().open(resources)
        if self.config.similarity == "embedding" and not resources.embedder.vector_search:
            raise EvolveLabError(
                "semantic_cache with similarity: embedding needs an embedder; this pipeline has "
                "embedder: none (set `embedder: {type: minilm}` or use `similarity: lexical`)"
            )
        if self._stages is None or len(self._stages) != len(self.config.stages):
            raise EvolveLabError(
                "semantic_cache has no stages to wrap: build it with "
                "SemanticCacheRetriever.build(config, registry), as the pipeline does"
            )
        for stage in self._stages:
            stage.open(resources)
        self._classifier = QueryClassifier(self.config.classifier, self._vectors)
        self._scopes: dict[str, _ScopeCache] = {}
        self.last: Lookup | None = None
        self.stats = {"lookups": 0, "hits": 0, "invalidations": 0}

    def close(self) -> None:
        for stage in self._stages or []:
            stage.close()

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        if self.config.similarity == "lexical":
            return lexical_vectors(texts)
        import numpy as np

        return np.asarray(self.resources.embedder.embed(list(texts)), dtype=np.float32)

    def policy(self, category: str) -> tuple[float, float, int]:
        """Return ``(threshold, ttl_seconds, quota)`` for ``category``."""
        cfg = self.config
        own = cfg.categories.get(category, CachePolicy())
        return (own.threshold if own.threshold is not None else cfg.threshold,
                own.ttl_seconds if own.ttl_seconds is not None else cfg.ttl_seconds,
                own.quota if own.quota is not None else cfg.quota)  # fmt: skip

    def invalidate(self, scope: Scope | None = None) -> None:
        """Drop cached entries: of every scope within ``scope``'s owner (user and agent), or
        only of ``scope`` itself when it names a session; every entry when ``None``."""
        if scope is None:
            self._scopes.clear()
            return

        def covered(cached: Scope) -> bool:
            same_owner = (cached.user_id, cached.agent_id) == (scope.user_id, scope.agent_id)
            return same_owner and (
                scope.session_id is None or cached.session_id == scope.session_id
            )

        self._scopes = {k: v for k, v in self._scopes.items() if not covered(v.scope)}

    def _fresh(self, entry: _Entry, query: Query) -> bool:
        if not self.config.verify:
            return True
        ids = [h.note.id for h in entry.hits if h.note.id]
        now = {n.id: n for n in self.resources.store.get(ids, query.scope)}
        return all(
            h.note.id in now and now[h.note.id].version == h.note.version
            and now[h.note.id].content == h.note.content
            for h in entry.hits
        )  # fmt: skip

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        import numpy as np

        self.stats["lookups"] += 1
        key = query.scope.model_dump_json() + query.where.model_dump_json() + f"|k={query.k}"
        if query.at is not None and self.time_dependent:
            key += f"|at={query.at.isoformat()}"
        count = self.resources.store.count(query.scope)
        cache = self._scopes.pop(key, None)  # re-inserted last: the dict is kept in LRU order
        invalidated = cache is not None and cache.count != count
        if cache is None or invalidated:
            cache = _ScopeCache(query.scope, count)
        self._scopes[key] = cache
        while len(self._scopes) > MAX_KEYS:
            del self._scopes[next(iter(self._scopes))]
        vector = self._vectors([query.text])[0]
        category = self._classifier.classify(query.text, vector)
        threshold, ttl, quota = self.policy(category)
        now = self.clock()
        entries = [e for e in cache.entries.get(category, []) if now - e.created <= ttl]
        cache.entries[category] = entries
        if entries:
            scores = np.stack([e.vector for e in entries]) @ vector
            best = int(scores.argmax())
            similarity = float(scores[best])
            if similarity >= threshold:
                entry = entries[best]
                if self._fresh(entry, query):
                    entry.used = now
                    self.stats["hits"] += 1
                    self.last = Lookup(True, category, entry.text, similarity, invalidated)
                    served = [h.model_copy(update={"explain": {**h.explain, "cache_similarity": similarity}})
                              for h in entry.hits]  # fmt: skip
                    return self.extend(previous, served)
                cache = self._scopes[key] = _ScopeCache(query.scope, count)
                invalidated = True
        if invalidated:
            self.stats["invalidations"] += 1
        hits: list[Hit] = []
        for stage in self._stages:
            hits = stage.retrieve(query, hits)
        bucket = cache.entries.setdefault(category, [])
        if len(bucket) >= quota:
            bucket.remove(min(bucket, key=lambda e: e.used))
        bucket.append(_Entry(query.text, vector, list(hits), now, now, count))
        self.last = Lookup(False, category, None, None, invalidated)
        return self.extend(previous, hits)
