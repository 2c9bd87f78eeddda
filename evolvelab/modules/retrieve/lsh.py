"""``type: lsh`` — Think-in-Memory retrieval: hash the query, rank only its buckets' notes.

The index is a random-hyperplane LSH (:mod:`evolvelab.modules.retrieve._lsh_index`) built
per scope from the note store's embeddings the first time the scope is searched, and
rebuilt whenever the scope's note count has changed since (``refresh: count``) or on
every search (``refresh: always``). Candidates from the probed buckets are ranked by
exact cosine similarity, then read back from the store so that scores, filters and
validity always reflect the current notes. A candidate that vanished or whose text
changed since the build triggers one rebuild and a second try, so edits that keep the
count unchanged heal on the first search that meets them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.modules.retrieve._lsh_index import LSHIndex
from evolvelab.stages import Resources, Retriever, Scannable, Store
from evolvelab.types import Hit, Query, Scope, Where

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LSHConfig", "LSHRetriever"]


class LSHConfig(RetrieverConfig):
    """Retrieve by locality-sensitive hashing, then exact cosine within the buckets.

    Example:
        ```yaml
        retrieve:
          - {type: lsh, kinds: [thought], tables: 16, bits: 10, probe_radius: 1, k: 10}
        ```
    """

    type: Literal["lsh"] = "lsh"
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many notes to return."
    )
    tables: Annotated[int, Tunable(1, 32, log=True)] = Field(
        16, ge=1, le=64, description="Number of hash tables L; more tables, more recall."
    )
    bits: Annotated[int, Tunable(4, 16)] = Field(
        10, ge=1, le=32, description="Hyperplanes per table K (2**K buckets); more bits, fewer candidates."
    )
    probe_radius: Annotated[int, Tunable(0, 2)] = Field(
        1, ge=0, le=3,
        description="Multi-probe: also probe every bucket within this Hamming distance of the query's.",
    )  # fmt: skip
    seed: int = Field(0, ge=0, description="Seeds the random hyperplanes; same seed, same buckets.")
    kinds: list[str] | None = Field(
        None, description="Note kinds to index, e.g. [thought]; null: every kind."
    )
    min_score: Annotated[float, Tunable(-0.1, 0.6)] = Field(
        -1.0, ge=-1.0, le=1.0, description="Drop hits whose cosine similarity is below this."
    )
    refresh: Literal["count", "always"] = Field(
        "count",
        description="Rebuild a scope's index when its note count changed (count) or on every search (always).",
    )


@dataclass
class _ScopeIndex:
    """One scope's index and what it was built from."""

    index: LSHIndex
    ids: list[str]
    contents: list[str]
    count: int


class LSHRetriever(Retriever):
    """Probe the query's LSH buckets in every table and rank the notes found exactly.

    Attributes:
        builds: how many scope indexes were built since ``open``.
        build_seconds: time spent building them (scan + hashing).
    """

    config_model: ClassVar[type[LSHConfig]] = LSHConfig
    config: LSHConfig
    requires = (Scannable,)

    def open(self, resources: Resources) -> None:
        """Start with no index; each scope's is built on its first search."""
        super().open(resources)
        self._indexes: dict[str, _ScopeIndex] = {}
        self.builds = 0
        self.build_seconds = 0.0

    def close(self) -> None:
        """Drop every cached index."""
        self._indexes = {}

    def invalidate(self, scope: Scope | None = None) -> None:
        """Forget the index of ``scope`` (or of every scope) so the next search rebuilds it."""
        if scope is None:
            self._indexes.clear()
        else:
            self._indexes.pop(scope.model_dump_json(), None)

    def index_for(self, scope: Scope, *, force: bool = False) -> _ScopeIndex:
        """Return the scope's index, building it if missing, stale or ``force``d."""
        store: Store = self.resources.find(Scannable)
        key = scope.model_dump_json()
        count = store.count(scope)
        cached = self._indexes.get(key)
        fresh = cached is not None and cached.count == count and self.config.refresh == "count"
        if fresh and not force:
            assert cached is not None
            return cached
        start = time.perf_counter()
        where = Where(kind=self.config.kinds, include_invalid=True)
        notes = [n for n in store.scan(scope, where) if n.embedding is not None]  # type: ignore[attr-defined]
        index = LSHIndex(
            self.resources.embedder.dim,
            tables=self.config.tables,
            bits=self.config.bits,
            seed=self.config.seed,
        )
        index.build([n.embedding for n in notes])
        entry = _ScopeIndex(index, [n.id for n in notes], [n.content for n in notes], count)
        self._indexes[key] = entry
        self.builds += 1
        self.build_seconds += time.perf_counter() - start
        return entry

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        """Append the best ``k`` notes found in the query's probed buckets."""
        kinds = self.config.kinds
        if kinds is not None and query.where.kind is not None:
            if not set(kinds) & set(query.where.kind):
                return previous
        vector = self.resources.embedder.embed([query.text])[0]
        hits, stale = self._search(query, vector, force=False)
        if stale:
            hits, _ = self._search(query, vector, force=True)
        return self.extend(previous, hits)

    def _search(self, query: Query, vector: np.ndarray, *, force: bool) -> tuple[list[Hit], bool]:
        entry = self.index_for(query.scope, force=force)
        rows, scores = entry.index.search(vector, len(entry.index), self.config.probe_radius)
        store: Store = self.resources.find(Scannable)
        hits: list[Hit] = []
        stale = False
        explain = {"candidates": float(len(rows))}
        start, size = 0, self.config.k  # read k notes back, then twice as many each round
        while start < len(rows):
            part = [int(r) for r in rows[start : start + size]]
            fresh = {n.id: n for n in store.get([entry.ids[r] for r in part], query.scope)}
            for row, score in zip(part, scores[start : start + size], strict=True):
                note = fresh.get(entry.ids[row])
                if note is None or note.content != entry.contents[row]:
                    stale = True
                    continue
                if float(score) < self.config.min_score:
                    return hits, stale
                if self.config.kinds is not None and note.kind not in self.config.kinds:
                    continue
                if query.where.matches(note):
                    hits.append(
                        Hit(note=note, score=float(score), channel="lsh", explain=dict(explain))
                    )
                    if len(hits) == self.config.k:
                        return hits, stale
            start, size = start + size, 2 * size
        return hits, stale
