"""Vector and full-text queries against one owner's LanceDB note table.

:class:`~evolvelab.modules.store.lancedb.LanceDBStore` finds the owner's table and the
filter; the functions here run the query and turn its rows into hits. They never
write: building an index the query needs is the caller's business.

lancedb is imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evolvelab.modules.store import _lancedb_schema as rows
from evolvelab.types import Hit

__all__ = ["text_hits", "vector_hits"]


def vector_hits(
    table: Any,
    vector: Sequence[float],
    k: int,
    sql: str,
    *,
    nprobes: int,
    refine_factor: int,
) -> list[Hit]:
    """Return the ``k`` rows of ``table`` passing ``sql`` nearest ``vector`` (cosine).

    Filters are applied before the nearest-neighbour search (prefilter). ``nprobes``
    and ``refine_factor`` apply once an ANN index exists (perhaps built by another
    process since this one opened the table); a flat search ignores them.

    Returns:
        Hits on channel ``vector``, best first; ``score`` is 1 - cosine distance.
    """
    query = (
        table.search(vector, vector_column_name=rows.VECTOR)
        .distance_type("cosine")
        .where(sql, prefilter=True)
        .minimum_nprobes(nprobes)
        .maximum_nprobes(0)
        .refine_factor(refine_factor)
        .limit(k)
    )
    return [
        Hit(note=rows.row_to_note(row), score=1.0 - float(row["_distance"]), channel="vector")
        for row in query.to_arrow().to_pylist()
    ]


def text_hits(table: Any, text: str, column: str, k: int, sql: str) -> list[Hit]:
    """Return the ``k`` best BM25 matches for ``text`` in ``column`` of rows passing ``sql``.

    The query's words are OR-ed; query syntax is read as plain words (a match query).
    Filters are applied before ranking (prefilter). ``column`` must have a full-text
    index.

    Returns:
        Hits on channel ``bm25``, best first; ``score`` is LanceDB's BM25 score.
    """
    from lancedb.query import MatchQuery

    query = table.search(MatchQuery(text, column), query_type="fts").where(sql, prefilter=True)
    return [
        Hit(note=rows.row_to_note(row), score=float(row["_score"]), channel="bm25")
        for row in query.limit(k).to_arrow().to_pylist()
    ]
