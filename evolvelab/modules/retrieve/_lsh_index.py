"""Random-hyperplane LSH over dense vectors: seeded tables, multi-probe, exact re-ranking.

Each of ``tables`` hash tables draws ``bits`` random Gaussian hyperplanes from a seeded
generator. A vector's code in a table is the integer whose bit ``j`` says on which side
of hyperplane ``j`` the vector lies (SimHash, Charikar 2002): two unit vectors at angle
θ agree on one bit with probability ``1 - θ/π``. A query probes, in every table, its own
bucket and every bucket within Hamming distance ``radius`` of it (multi-probe), unions
the rows found and ranks those candidates by exact cosine similarity.

The index is a pure in-memory structure rebuilt from vectors: nothing is persisted,
because the hyperplanes follow from ``(dim, tables, bits, seed)`` alone.

Example:
    >>> import numpy as np
    >>> index = LSHIndex(dim=4, tables=2, bits=3, seed=7)
    >>> index.build(np.eye(4, dtype=np.float32))
    >>> rows, scores = index.search(np.array([1, 0.1, 0, 0], dtype=np.float32), k=1, radius=1)
    >>> int(rows[0])
    0
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

from evolvelab.errors import EvolveLabError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LSHError", "LSHIndex", "probe_masks"]

MAX_BITS = 32
"""Codes are int64; 32 bits per table is far beyond what recall tolerates anyway."""


class LSHError(EvolveLabError):
    """An LSH index was given vectors it cannot hold (wrong shape or dimension)."""


def probe_masks(bits: int, radius: int) -> np.ndarray:
    """Return the XOR masks of every bucket within Hamming distance ``radius``.

    The masks are ordered by distance, then by value; the first is always ``0`` (the
    query's own bucket). With ``bits = K`` there are ``sum(C(K, r) for r ≤ radius)``.

    Example:
        >>> probe_masks(3, 1).tolist()
        [0, 1, 2, 4]
    """
    import numpy as np

    masks = [0]
    for distance in range(1, min(radius, bits) + 1):
        masks.extend(sum(1 << b for b in flip) for flip in combinations(range(bits), distance))
    return np.asarray(masks, dtype=np.int64)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Return the positions of the ``k`` highest scores, best first (ties: lower position)."""
    import numpy as np

    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.argsort(-scores, kind="stable")


class LSHIndex:
    """Random-hyperplane LSH over unit vectors, rows addressed by position.

    Args:
        dim: vector dimension.
        tables: number of hash tables ``L``.
        bits: hyperplanes (code bits) per table ``K``; buckets per table ``2**K``.
        seed: seeds the hyperplanes; the same seed gives the same codes.

    Raises:
        LSHError: if ``bits`` or ``tables`` are out of range.
    """

    def __init__(self, dim: int, *, tables: int, bits: int, seed: int) -> None:
        import numpy as np

        if not 1 <= bits <= MAX_BITS:
            raise LSHError(f"bits must be between 1 and {MAX_BITS}, got {bits}")
        if tables < 1 or dim < 1:
            raise LSHError(f"tables and dim must be at least 1, got tables={tables}, dim={dim}")
        self.dim, self.tables, self.bits, self.seed = dim, tables, bits, seed
        rng = np.random.default_rng(seed)
        self.planes = rng.standard_normal((tables * bits, dim), dtype=np.float32)
        self._weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
        self._masks: dict[int, np.ndarray] = {}
        self._tables = np.left_shift(np.arange(tables, dtype=np.int64), bits)[:, None]
        self.build(np.zeros((0, dim), dtype=np.float32))

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def _unit(self, vectors: np.ndarray | list[list[float]]) -> np.ndarray:
        import numpy as np

        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise LSHError(f"expected vectors of dimension {self.dim}, got shape {matrix.shape}")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        # keep float32: dividing by a float32 array never upcasts (NumPy 2, NEP 50)
        return matrix / np.maximum(norms, np.float32(1e-12))

    def hash(self, vectors: np.ndarray | list[list[float]]) -> np.ndarray:
        """Return the ``(n, tables)`` int64 bucket codes of ``vectors``.

        Bit ``j`` of a code is 1 when the vector has a positive dot product with
        hyperplane ``j`` of that table (a zero dot product counts as 0).

        Raises:
            LSHError: if the vectors have the wrong dimension.
        """
        matrix = self._unit(vectors)
        signs = (matrix @ self.planes.T) > 0
        return signs.reshape(len(matrix), self.tables, self.bits).astype("int64") @ self._weights

    def build(self, vectors: np.ndarray | list[list[float]]) -> None:
        """Replace the index contents with ``vectors`` (row ``i`` is vector ``i``).

        All tables share one sorted key array: key = ``table << bits | code``, so a query
        finds every probed bucket of every table with a single ``searchsorted``.

        Raises:
            LSHError: if the vectors have the wrong dimension.
        """
        import numpy as np

        matrix = self._unit(vectors) if len(vectors) else np.zeros((0, self.dim), np.float32)
        self.vectors = matrix
        self.codes = self.hash(matrix) if len(matrix) else np.zeros((0, self.tables), np.int64)
        keys = (self.codes | self._tables.T).reshape(-1)  # row i, table l at i * tables + l
        order = np.argsort(keys, kind="stable")
        self._keys, self._rows = keys[order], order // self.tables

    def probes(self, vector: np.ndarray, radius: int) -> np.ndarray:
        """Return the ``(tables, n_probes)`` bucket codes a query probes, own bucket first."""
        masks = self._masks.get(radius)
        if masks is None:
            masks = self._masks[radius] = probe_masks(self.bits, radius)
        return self.hash(vector)[0][:, None] ^ masks[None, :]

    def candidates(self, vector: np.ndarray, radius: int = 1) -> np.ndarray:
        """Return the sorted rows sharing a probed bucket with ``vector`` in any table.

        Args:
            vector: the query vector (need not be normalised).
            radius: Hamming radius of the multi-probe (0: own bucket only).
        """
        import numpy as np

        if not len(self):
            return np.zeros(0, dtype=np.int64)
        keys = (self.probes(vector, radius) | self._tables).reshape(-1)
        lo = np.searchsorted(self._keys, keys, side="left")
        sizes = np.searchsorted(self._keys, keys, side="right") - lo
        total = int(sizes.sum())
        if not total:
            return np.zeros(0, dtype=np.int64)
        # positions lo[j], lo[j] + 1, …, lo[j] + sizes[j] - 1 for every probed bucket j
        starts = np.repeat(lo - np.cumsum(sizes) + sizes, sizes)
        hit = np.zeros(len(self), dtype=bool)
        hit[self._rows[starts + np.arange(total)]] = True
        return np.flatnonzero(hit)

    def search(
        self, vector: np.ndarray, k: int, radius: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``k`` best candidate rows and their cosine similarities, best first.

        Only rows that share a probed bucket with the query are scored, so a true
        neighbour in no probed bucket is missed (that is what recall measures).
        Ties keep row order.
        """
        import numpy as np

        rows = self.candidates(vector, radius)
        if not len(rows):
            return rows, np.zeros(0, dtype=np.float32)
        scores = self.vectors[rows] @ self._unit(vector)[0]
        order = _top(scores, k)
        return rows[order], scores[order]

    def exact(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the true ``k`` nearest rows by cosine similarity (the recall reference)."""
        import numpy as np

        if not len(self):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self.vectors @ self._unit(vector)[0]
        order = _top(scores, k)
        return order.astype(np.int64), scores[order]
