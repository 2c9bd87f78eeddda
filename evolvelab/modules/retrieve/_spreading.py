"""Spreading activation over the links notes keep (Hindsight's graph channel).

A per-scope adjacency of every note's links, in both directions, is built from a scan of
the store and rebuilt when the scope's note count changes (as the ``lsh`` index is).
Activation starts at the seed notes (``1 / rank``) and spreads for ``hops`` steps: a
note passes ``activation * weight(kind) * decay`` along each link, and what a note
receives from several paths adds up. Link kinds weigh differently: Hindsight gives
causal and entity edges more than 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from evolvelab.stages import Scannable, Store
from evolvelab.types import Note, Scope, Where

__all__ = ["Adjacency", "LinkGraph", "spread"]


@dataclass
class Adjacency:
    """One scope's links both ways, and the count it was built at."""

    count: int
    edges: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """note id → [(neighbour id, link kind)], out- and in-links alike."""
    notes: dict[str, Note] = field(default_factory=dict)


class LinkGraph:
    """Cache each scope's adjacency; rebuild it when the scope's note count changed."""

    def __init__(self) -> None:
        self._scopes: dict[str, Adjacency] = {}
        self.builds = 0

    def adjacency(self, store: Store, scope: Scope, kinds: Sequence[str] | None) -> Adjacency:
        """Return the adjacency of ``scope`` (notes of ``kinds``; all when None)."""
        key = scope.model_dump_json() + repr(kinds)
        count = store.count(scope)
        cached = self._scopes.get(key)
        if cached is not None and cached.count == count:
            return cached
        assert isinstance(store, Scannable)
        built = Adjacency(count)
        for note in store.scan(scope, Where(kind=list(kinds) if kinds else None)):
            built.notes[note.id] = note
        for note in built.notes.values():
            for link in note.links:
                if link.target in built.notes:
                    built.edges.setdefault(note.id, []).append((link.target, link.kind))
                    built.edges.setdefault(link.target, []).append((note.id, link.kind))
        self._scopes[key] = built
        self.builds += 1
        return built


def spread(
    graph: Adjacency, seeds: Sequence[str], weights: Mapping[str, float], *, hops: int, decay: float
) -> dict[str, float]:
    """Return the activation each non-seed note reached from ``seeds`` (best first).

    Args:
        graph: the scope's adjacency.
        seeds: note ids, best first; seed ``i`` starts with ``1 / (i + 1)``.
        weights: per link kind; kinds missing here are not followed.
        hops: how many steps to spread.
        decay: factor applied per step.
    """
    start = {s: 1.0 / (i + 1) for i, s in enumerate(dict.fromkeys(seeds)) if s in graph.notes}
    reached: dict[str, float] = {}
    frontier = dict(start)
    for _ in range(hops):
        nxt: dict[str, float] = {}
        for node, energy in frontier.items():
            for neighbour, kind in graph.edges.get(node, ()):
                weight = weights.get(kind)
                if weight is None or neighbour in start:
                    continue
                nxt[neighbour] = nxt.get(neighbour, 0.0) + energy * weight * decay
        for node, energy in nxt.items():
            reached[node] = reached.get(node, 0.0) + energy
        frontier = nxt
    return dict(sorted(reached.items(), key=lambda item: -item[1]))
