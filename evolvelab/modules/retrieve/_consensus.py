"""Consensus among retrieved memories: claim vectors, agreement clusters, the majority.

The A-MemGuard idea: memories retrieved for one query should support one line of
reasoning; a memory whose reasoning diverges from the group is suspect. This module
holds the arithmetic, independent of where the vectors come from (a note's embedding, or
the embedding of an LLM-written reasoning path):

1. **Claim vectors.** With ``relative=True`` each vector loses its component along the
   query, ``c = v - (v·q̂) q̂``, and is re-normalised: what is left is what the memory
   *asserts* beyond restating the question. Two notes that echo the question but name
   different answers then point in different directions; a note that merely repeats the
   question (a typical trigger-shaped poison) keeps almost nothing and joins no cluster.
2. **Agreement clusters.** Memories ``i`` and ``j`` agree when the cosine of their claim
   vectors is at least ``threshold``; clusters are the connected components of that
   agreement graph and singletons are noise. This is exactly what DBSCAN with
   ``min_samples=2`` and cosine ``eps = 1 - threshold`` computes (upstream:
   ``eps=0.5``, so ``threshold=0.5``), without needing scikit-learn.
3. **Consensus.** The largest cluster is the consensus when it holds at least
   ``quorum`` of the judged memories and no other cluster is as large. With no such
   cluster the guard abstains (upstream flags *every* memory when no cluster forms).
4. **Divergence.** A memory outside the consensus is divergent when even its best claim
   cosine to a consensus member is below ``divergence``. Memories between ``divergence``
   and ``threshold`` are undecided and left alone. Upstream flags every non-member; the
   gap keeps loosely related but compatible memories (most of a conversational set) from
   being thrown away. See docs/modules/amemguard.md for the measured effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Consensus", "agreement_clusters", "claim_vectors", "find_consensus"]

_TINY = 1e-6
"""Claim vectors shorter than this (before re-normalising) are treated as empty."""


@dataclass(frozen=True)
class Consensus:
    """The outcome of one consensus check over ``n`` memories (indices into the input).

    Attributes:
        members: indices in the consensus cluster, ascending.
        divergent: indices outside it whose best agreement with it is below the
            divergence bound, ascending.
        support: for every index, the highest claim cosine to a consensus member other
            than itself (how close a divergent memory came to agreeing).
    """

    members: tuple[int, ...]
    divergent: tuple[int, ...]
    support: tuple[float, ...]


def claim_vectors(vectors: np.ndarray, query: np.ndarray, *, relative: bool) -> np.ndarray:
    """Return one unit claim vector per row of ``vectors`` (a zero row when nothing is left).

    Args:
        vectors: ``(n, d)`` embeddings of the memories (or of their reasoning paths).
        query: ``(d,)`` embedding of the query.
        relative: remove each vector's component along the query before normalising.

    Returns:
        A float32 ``(n, d)`` array of unit rows, or zero rows for memories whose claim
        vanished (they agree with nothing).
    """
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    if relative:
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        q = q / max(float(np.linalg.norm(q)), _TINY)
        matrix = matrix - np.outer(matrix @ q, q)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.where(norms > _TINY, matrix / np.maximum(norms, _TINY), 0.0).astype(np.float32)


def agreement_clusters(claims: np.ndarray, threshold: float) -> list[list[int]]:
    """Return the connected components of the ``cosine >= threshold`` graph, largest first.

    Ties in size keep the order of their smallest index (best-ranked memory first).
    Singletons are included (as one-element lists) so callers see every index once.
    """
    import numpy as np

    n = len(claims)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    similarity = claims @ claims.T if n else np.zeros((0, 0), dtype=np.float32)
    for i in range(n):
        for j in range(i + 1, n):
            if similarity[i, j] >= threshold:
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def find_consensus(
    claims: np.ndarray, *, threshold: float, quorum: float, divergence: float
) -> Consensus | None:
    """Return the majority cluster of ``claims`` and the memories that diverge from it.

    Args:
        claims: ``(n, d)`` unit claim vectors (zero rows agree with nothing).
        threshold: cosine at which two claims agree (builds the clusters).
        quorum: the share of the ``n`` memories the consensus must hold.
        divergence: a non-member is divergent when its best cosine to a member is below this.

    Returns:
        ``None`` (abstain) when no cluster of two or more reaches the quorum, when two
        clusters tie for largest, or when nothing diverges.
    """
    clusters = agreement_clusters(claims, threshold)
    if not clusters or len(clusters[0]) < 2:
        return None
    largest = clusters[0]
    if len(largest) < quorum * len(claims):
        return None
    if len(clusters) > 1 and len(clusters[1]) == len(largest):
        return None
    similarity = claims @ claims[largest].T
    support = []
    for i in range(len(claims)):
        others = [float(s) for s, m in zip(similarity[i], largest, strict=True) if m != i]
        support.append(max(others))
    members = set(largest)
    divergent = tuple(
        i for i in range(len(claims)) if i not in members and support[i] < divergence
    )
    if not divergent:
        return None
    return Consensus(members=tuple(sorted(members)), divergent=divergent, support=tuple(support))
