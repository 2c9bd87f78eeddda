"""``type: memory``: an in-process store for tests and tiny demos.

Notes live in Python dicts and vanish with the process. Vector search is exact cosine
similarity with numpy; text search is BM25 over lower-cased alphanumeric tokens, with
statistics per owner (the tenancy unit); links are the notes' own ``links`` lists,
walked breadth-first.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import StoreConfig, Tunable
from evolvelab.errors import EvolveLabError
from evolvelab.stages import Neighbour, Resources, Store, TextField
from evolvelab.types import Hit, Link, Note, Scope, Where

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MemoryStore", "MemoryStoreConfig"]

_TOKEN = re.compile(r"[^\W_]+")

_TIMES = ("created_at", "valid_from", "invalid_at", "last_accessed")

_Key = tuple[str | None, str | None, str]
"""A note's identity: (user_id, agent_id, id). Ids are unique within an owner."""


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lower-cased alphanumeric tokens (the BM25 vocabulary)."""
    return _TOKEN.findall(text.lower())


class MemoryStoreConfig(StoreConfig):
    """Keep notes in memory (lost when the process ends).

    Example:
        ```yaml
        store: {type: memory, bm25_k1: 1.2, bm25_b: 0.75}
        ```
    """

    type: Literal["memory"] = "memory"
    bm25_k1: Annotated[float, Tunable(0.5, 2.0)] = Field(
        1.2, ge=0.0, description="BM25 term-frequency saturation (k1)."
    )
    bm25_b: Annotated[float, Tunable(0.0, 1.0)] = Field(
        0.75, ge=0.0, le=1.0, description="BM25 document-length normalisation (b)."
    )


class MemoryStore(Store):
    """Notes in dicts: vector search, BM25 text search, scanning and graph links.

    Every method copies notes in and out, so callers never share state with the store.
    """

    config_model: ClassVar[type[MemoryStoreConfig]] = MemoryStoreConfig
    config: MemoryStoreConfig
    keeps_data: ClassVar[bool] = False

    def __init__(self, config: MemoryStoreConfig) -> None:
        super().__init__(config)
        self._notes: dict[_Key, Note] = {}
        self._tokens: dict[_Key, Counter[str]] = {}
        self._content_tokens: dict[_Key, Counter[str]] = {}

    def open(self, resources: Resources) -> None:
        """Keep ``resources``; the embedder fills in missing embeddings on ``add``."""
        super().open(resources)

    # ------------------------------------------------------------------ Store

    def add(self, notes: Sequence[Note]) -> None:
        """Insert or replace ``notes`` by (owner, id).

        Args:
            notes: the notes; those without an embedding are embedded here.

        Raises:
            EvolveLabError: if an embedding has the wrong dimension.
        """
        notes = [_in_utc(note) for note in notes]
        missing = [note for note in notes if note.embedding is None]
        if missing:
            vectors = self.resources.embedder.embed([note.search_text for note in missing])
            for note, vector in zip(missing, vectors, strict=True):
                note.embedding = [float(x) for x in vector]
        dim = self.resources.embedder.dim
        for note in notes:
            assert note.embedding is not None
            if len(note.embedding) != dim:
                raise EvolveLabError(
                    f"note {note.id!r} has a {len(note.embedding)}-dimensional embedding; "
                    f"this store holds {dim}-dimensional vectors of "
                    f"{self.resources.embedder.model_id}"
                )
        for note in notes:
            key = _key(note.scope, note.id)
            self._notes[key] = note
            self._tokens[key] = Counter(tokenize(note.search_text))
            self._content_tokens[key] = (
                self._tokens[key] if note.index_text is None else Counter(tokenize(note.content))
            )

    def get(self, ids: Sequence[str], scope: Scope) -> list[Note]:
        """Return the notes with these ids in ``scope``, in the order asked.

        Args:
            ids: note ids; unknown ids and ids outside ``scope`` are skipped.
            scope: whose notes to read.

        Returns:
            Copies of the notes found.
        """
        found = [self._visible(_key(scope, id), scope) for id in dict.fromkeys(ids)]
        return [note.model_copy(deep=True) for note in found if note is not None]

    def delete(self, ids: Sequence[str], scope: Scope) -> int:
        """Delete the notes with these ids in ``scope`` and the links pointing to them.

        Args:
            ids: note ids to delete.
            scope: whose notes to delete.

        Returns:
            How many notes were deleted.
        """
        gone = {id for id in dict.fromkeys(ids) if self._visible(_key(scope, id), scope)}
        for id in gone:
            key = _key(scope, id)
            del self._notes[key]
            del self._tokens[key]
            del self._content_tokens[key]
        owner = (scope.user_id, scope.agent_id)
        for key, note in self._notes.items():
            if key[:2] == owner and any(link.target in gone for link in note.links):
                note.links = [link for link in note.links if link.target not in gone]
        return len(gone)

    def count(self, scope: Scope) -> int:
        """Return how many notes ``scope`` holds, valid or not."""
        return sum(1 for _ in self._in_scope(scope))

    # ------------------------------------------------------------------ capabilities

    def scan(self, scope: Scope, where: Where) -> Iterator[Note]:
        """Yield a copy of every note in ``scope`` passing ``where``."""
        for _, note in self._candidates(scope, where):
            yield note.model_copy(deep=True)

    def search_vectors(
        self, vector: Sequence[float] | np.ndarray, k: int, scope: Scope, where: Where
    ) -> list[Hit]:
        """Return the ``k`` notes most cosine-similar to ``vector``, best first.

        Args:
            vector: the query vector (need not be normalised).
            k: how many hits at most.
            scope: whose notes to search.
            where: filters applied before ranking.

        Returns:
            Hits on channel ``vector``; ``score`` is cosine similarity in [-1, 1].

        Raises:
            EvolveLabError: if ``vector`` has the wrong dimension.
        """
        import numpy as np

        query = self.resources.query_vector(vector)
        candidates = [note for _, note in self._candidates(scope, where)]
        if not candidates:
            return []
        matrix = np.asarray([note.embedding for note in candidates], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
        scores = matrix @ query / np.maximum(norms, 1e-12)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            Hit(note=candidates[i].model_copy(deep=True), score=float(scores[i]), channel="vector")
            for i in order
        ]

    def search_text(
        self, text: str, k: int, scope: Scope, where: Where, field: TextField = "index"
    ) -> list[Hit]:
        """Return the ``k`` best BM25 matches for ``text``, best first.

        Collection statistics (document count, average length, document frequency)
        come from every note of the scope's owner (``user_id`` + ``agent_id``, the
        tenancy unit), as in the LanceDB store's per-owner tables: another owner's notes
        never change a score, and a session or ``where`` narrows which notes are ranked,
        not the statistics.

        Args:
            text: the query; its tokens are OR-ed, query syntax is treated as words.
            k: how many hits at most.
            scope: whose notes to search.
            where: filters applied before ranking.
            field: ``index`` searches each note's ``search_text``, ``content`` its content.

        Returns:
            Hits on channel ``bm25`` with positive scores; notes sharing no token are left out.
        """
        terms = set(tokenize(text))
        candidates = list(self._candidates(scope, where))
        if not terms or not candidates:
            return []
        k1, b = self.config.bm25_k1, self.config.bm25_b
        index = self._content_tokens if field == "content" else self._tokens
        owner = (scope.user_id, scope.agent_id)
        corpus = [index[key] for key in self._notes if key[:2] == owner]
        avgdl = max(sum(sum(c.values()) for c in corpus) / len(corpus), 1e-9)
        df = Counter(term for counts in corpus for term in terms & counts.keys())
        n = len(corpus)
        scored = []
        for key, note in candidates:
            counts = index[key]
            length = sum(counts.values())
            score = 0.0
            for term in terms & counts.keys():
                idf = math.log(1.0 + (n - df[term] + 0.5) / (df[term] + 0.5))
                tf = counts[term]
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))
            if score > 0:
                scored.append((score, note))
        scored.sort(key=lambda pair: -pair[0])
        return [
            Hit(note=note.model_copy(deep=True), score=score, channel="bm25")
            for score, note in scored[:k]
        ]

    def link(self, source: str, links: Sequence[Link], scope: Scope) -> None:
        """Add links from ``source``, replacing any link to the same target of the same kind.

        Args:
            source: id of the note the links start from.
            links: the links to add.
            scope: the scope both ends must be in.

        Raises:
            EvolveLabError: if ``source`` or a target is not a note in ``scope``.
        """
        note = self._visible(_key(scope, source), scope)
        if note is None:
            raise EvolveLabError(f"cannot link from {source!r}: no such note in {scope!r}")
        for link in links:
            if self._visible(_key(scope, link.target), scope) is None:
                raise EvolveLabError(
                    f"cannot link {source!r} to {link.target!r}: no such note in {scope!r}"
                )
        new = {(link.target, link.kind): link for link in links}
        kept = [link for link in note.links if (link.target, link.kind) not in new]
        note.links = kept + [link.model_copy() for link in new.values()]

    def unlink(self, source: str, targets: Sequence[str], scope: Scope) -> int:
        """Remove every link from ``source`` to ``targets``; return how many were removed."""
        note = self._visible(_key(scope, source), scope)
        if note is None:
            return 0
        drop = set(targets)
        kept = [link for link in note.links if link.target not in drop]
        removed = len(note.links) - len(kept)
        if removed:
            note.links = kept
        return removed

    def neighbours(
        self,
        ids: Sequence[str],
        scope: Scope,
        hops: int = 1,
        kinds: Sequence[str] | None = None,
        direction: Literal["out", "in", "both"] = "both",
    ) -> list[Neighbour]:
        """Walk links breadth-first from ``ids`` within ``scope``.

        Args:
            ids: the seed note ids (never returned themselves).
            scope: only notes in this scope are walked through or returned.
            hops: how many links away to go.
            kinds: follow only links of these kinds (default: all).
            direction: follow links outwards, inwards, or both.

        Returns:
            Each reachable note once, by fewest hops, then strongest link, then id.
        """
        visible = {note.id: note for note in self._in_scope(scope)}
        edges: dict[str, list[tuple[str, Link]]] = {id: [] for id in visible}
        for note in visible.values():
            for link in note.links:
                if link.target not in visible or (kinds is not None and link.kind not in kinds):
                    continue
                if direction in ("out", "both"):
                    edges[note.id].append((link.target, link))
                if direction in ("in", "both"):
                    edges[link.target].append((note.id, link))
        seeds = [id for id in dict.fromkeys(ids) if id in visible]
        seen = set(seeds)
        frontier = deque((id, id, 0) for id in seeds)
        found: list[Neighbour] = []
        while frontier:
            node, seed, depth = frontier.popleft()
            if depth == hops:
                continue
            for other, link in sorted(edges[node], key=lambda e: (-e[1].weight, e[0])):
                if other in seen:
                    continue
                seen.add(other)
                found.append(Neighbour(other, seed, depth + 1, link.kind, link.weight))
                frontier.append((other, seed, depth + 1))
        found.sort(key=lambda n: (n.hops, -n.weight, n.id))
        return found

    # ------------------------------------------------------------------ internals

    def _visible(self, key: _Key, scope: Scope) -> Note | None:
        note = self._notes.get(key)
        if note is None or not _in_session(note, scope):
            return None
        return note

    def _in_scope(self, scope: Scope) -> Iterator[Note]:
        for _, note in self._in_scope_keyed(scope):
            yield note

    def _in_scope_keyed(self, scope: Scope) -> Iterator[tuple[_Key, Note]]:
        owner = (scope.user_id, scope.agent_id)
        for key, note in self._notes.items():
            if key[:2] == owner and _in_session(note, scope):
                yield key, note

    def _candidates(self, scope: Scope, where: Where) -> Iterator[tuple[_Key, Note]]:
        for key, note in self._in_scope_keyed(scope):
            if where.matches(note):
                yield key, note


def _in_utc(note: Note) -> Note:
    """Return a deep copy of ``note`` with every datetime converted to UTC."""
    times = {
        name: value.astimezone(UTC)
        for name in _TIMES
        if (value := getattr(note, name)) is not None
    }
    return note.model_copy(update=times, deep=True)


def _in_session(note: Note, scope: Scope) -> bool:
    return scope.session_id is None or note.scope.session_id == scope.session_id


def _key(scope: Scope, id: str) -> _Key:
    return (scope.user_id, scope.agent_id, id)
