"""Which indexes a LanceDB note table gets, with parameters derived from its data.

* **Scalar**: B-tree indexes on ``_key`` (note look-ups) and ``_session`` (session
  scans) from the moment a table is created, so filtered reads stay cheap as it grows.
* **Full text**: LanceDB's BM25 index, built with the store's text settings.
* **Vectors**: an ANN index once an owner's table holds ``index_threshold`` rows — and
  only when the notes carry real embeddings. A store fed by ``embedder: none`` holds a
  one-number placeholder per note; indexing it is meaningless and LanceDB refuses it.
  The index type and partition count follow the data: IVF-RQ (4-bit codes) needs a
  dimension divisible by 8, other dimensions get IVF-SQ; partitions default to one per
  ``PARTITION_ROWS`` rows and never exceed the rows there are.
* **Vector index segments**: LanceDB's maintenance adds the rows written since the last
  one to the ANN index as another segment; :func:`build_vector` retrains the index over
  every row, in one segment (LanceDB 0.40's own API cannot merge segments; the ``lance``
  package of its optional ``pylance`` extra could, but the store does not depend on it).

lancedb is imported inside functions only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evolvelab.modules.store.lancedb import LanceDBStoreConfig
    from evolvelab.stages import Embedder

__all__ = [
    "MIN_DIM", "PARTITION_ROWS", "btree", "build_text", "build_vector", "find",
    "has_settings", "partitions", "text_settings", "vector_config",
]  # fmt: skip

MIN_DIM = 8
"""Fewer dimensions than this are not embeddings worth an ANN index."""
_RQ_MULTIPLE = 8
"""IVF-RQ needs the dimension to be a multiple of this (LanceDB refuses others)."""
_ROWS_PER_PARTITION = 64
"""The fewest rows per IVF partition that train a useful centroid."""
PARTITION_ROWS = 4096
"""Rows per IVF partition by default. LanceDB's maintenance re-balances partitions it
finds too small: at 100k rows it merged √rows partitions (316 of about 300 rows) into 7,
so training that many was wasted (15 s against 7 s for 24 partitions on a loaded
2-core machine); partitions of this size it kept."""


def find(table: Any, column: str) -> Any | None:
    """Return the index on ``column`` of ``table``, or ``None``."""
    for index in table.list_indices():
        if column in index.columns:
            return index
    return None


def has_settings(index: Any, wanted: dict[str, Any]) -> bool:
    """Return whether a full-text ``index`` was built with the ``wanted`` settings."""
    details = getattr(index, "index_details", None) or {}
    return all(details.get(name, value) == value for name, value in wanted.items())


def text_settings(config: LanceDBStoreConfig) -> dict[str, Any]:
    """Return the full-text index settings a store's config asks for."""
    return {
        "with_position": config.fts_with_position,
        "stem": config.fts_stem,
        "remove_stop_words": config.fts_remove_stop_words,
        "ascii_folding": config.fts_ascii_folding,
        "language": config.fts_language,
    }


def build_text(table: Any, column: str, config: LanceDBStoreConfig) -> None:
    """Build (or rebuild over every row) the full-text index on ``column``."""
    from lancedb.index import FTS

    table.create_index(column, config=FTS(**text_settings(config)), replace=True)


def btree(table: Any, column: str) -> None:
    """Create (or replace) a B-tree index on ``column``."""
    from lancedb.index import BTree

    table.create_index(column, config=BTree(), replace=True)


def partitions(rows: int, wanted: int | None) -> int:
    """Return the IVF partition count for ``rows`` rows: ``wanted`` or one per
    ``PARTITION_ROWS``, kept valid.

    Every partition gets at least ``_ROWS_PER_PARTITION`` rows where there are that many,
    and there is at least one.
    """
    most = max(1, rows // _ROWS_PER_PARTITION)
    chosen = wanted if wanted is not None else math.ceil(rows / PARTITION_ROWS)
    return max(1, min(chosen, most))


def vector_config(embedder: Embedder, rows: int, config: LanceDBStoreConfig) -> Any | None:
    """Return the ANN index config for a table of ``rows`` rows, or ``None`` for none yet.

    ``None`` while the table is below ``index_threshold``, and always when the embedder
    stores placeholders (``embedder: none``) or vectors too short to quantise.
    """
    from lancedb.index import IvfRq, IvfSq

    if rows < config.index_threshold or rows < 2:
        return None
    if not embedder.vector_search or embedder.dim < MIN_DIM:
        return None
    count = partitions(rows, config.num_partitions)
    if embedder.dim % _RQ_MULTIPLE == 0:
        return IvfRq(distance_type="cosine", num_bits=4, num_partitions=count)
    return IvfSq(distance_type="cosine", num_partitions=count)


def build_vector(table: Any, index_config: Any) -> None:
    """Build (or replace) the ANN index on the vector column."""
    from evolvelab.modules.store._lancedb_schema import VECTOR

    table.create_index(VECTOR, config=index_config, replace=True)
