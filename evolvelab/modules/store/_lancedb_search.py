"""Vector and full-text queries against one owner's LanceDB note table.

:class:`~evolvelab.modules.store.lancedb.LanceDBStore` finds the owner's table and the
filter; the functions here run the query and turn its rows into hits. They never
write: building an index the query needs is the caller's business.

Two costs are kept down here, because at 100k notes they were a large part of a search
(issue 12; numbers in docs/benchmarks.md, "Scale"):

- **One trip to LanceDB per query.** LanceDB's synchronous query builder asks the table
  for its schema (another round trip to LanceDB's background event loop, and with
  ``refresh_seconds: 0`` another look for a newer version) before it runs the query.
  The query is built here on the table's asynchronous handle and run with one trip;
  the query itself (filter, vector options, limit) is the same.
- **Rows to notes by column.** A search returns whole notes, embedding included
  (``gmemory`` and ``case_policy`` read hits' embeddings). Arrow's row-by-row
  conversion and a validated :class:`~evolvelab.types.Note` per row cost about as much
  as the query itself for 50 rows, most of it in the 384 floats of each embedding.
  :func:`rows_to_notes` converts column by column (the vector column through numpy)
  and builds notes without validating them again: every row was written from a
  validated note (:func:`~evolvelab.modules.store._lancedb_schema.notes_to_table`).
  It gives notes equal to :func:`~evolvelab.modules.store._lancedb_schema.row_to_note`'s
  (tests/modules/store/test_lancedb_search.py checks every column).

lancedb is imported inside functions only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from evolvelab.modules.store import _lancedb_schema as rows
from evolvelab.types import Hit, Link, Note, Scope, Where

__all__ = ["rows_to_notes", "text_hits", "vector_hits"]

_TIMES = ("created_at", "valid_from", "invalid_at", "last_accessed")
_SCOPE = ("user_id", "agent_id", "session_id")
_NOTE_COLUMNS = (
    *(name for name in Note.model_fields if name not in ("scope", "embedding")),
    *_SCOPE,
    rows.VECTOR,
)
"""The columns a note is rebuilt from (the key columns and ``search_text`` are not read)."""
_OWNER = re.compile(
    r"\(_owner = '(?P<owner>[0-9a-f]{32})'"
    r"(?: AND (?P<session>_session = '[0-9a-f]{32}'))?\)(?= AND |$)"
)
"""The owner condition :func:`~._lancedb_schema.where_filter` puts first (then `` AND ``
and the note filters, or nothing)."""
_LISTS = ("source_ids", "keywords", "tags")


def vector_hits(
    table: Any,
    vector: Sequence[float],
    k: int,
    sql: str,
    *,
    nprobes: int,
    refine_factor: int,
    table_rows: int | None = None,
) -> list[Hit]:
    """Return the ``k`` rows of ``table`` passing ``sql`` nearest ``vector`` (cosine).

    The hits are those of a prefiltered search (the ``k`` nearest among the rows passing
    ``sql``; with an ANN index, among those its ``nprobes`` nearest partitions hold, as
    approximate as the index), found the cheapest way that gives them (see the module
    docstring): the default filter is tried after the search first, an ANN index is
    asked for exactly ``nprobes`` partitions first, and each try that comes back with
    fewer than ``k`` rows is done again the next, surer way. ``nprobes`` and ``refine_factor`` apply
    once an ANN index exists (perhaps built by another process since this one opened
    the table); a flat search ignores them.

    Args:
        table_rows: the caller's count of the table's rows, if it keeps one. At most
            ``k`` rows, every cheaper try would come back short (a new memory, a
            candidate list longer than the memory), so only the sure one is run; a count
            that is wrong costs time, never hits.

    Returns:
        Hits on channel ``vector``, best first; ``score`` is 1 - cosine distance.
    """
    sql = in_owner_table(sql, table.name)
    tries = [("bounded", True)] if sql == _DEFAULT_FILTER else []
    tries += [("bounded", False), ("every", False)]
    if table_rows is not None and table_rows <= k:
        tries = tries[-1:]
    for probes, post in tries:
        query = (
            table._table.vector_search(vector)  # the table's async handle
            .column(rows.VECTOR)
            .distance_type("cosine")
            .maximum_nprobes(0)  # first: LanceDB checks minimum <= maximum on each call
            .minimum_nprobes(nprobes)
            .maximum_nprobes(nprobes if probes == "bounded" else 0)
            .refine_factor(refine_factor)
            .select([*_NOTE_COLUMNS, "_distance"])
            .limit(k)
        )
        if sql is not None:
            query = query.where(sql)  # async queries prefilter unless told otherwise
            if post:
                query = query.postfilter()
        data = _run(query)
        if data.num_rows >= k:
            break
    distances = data.column("_distance").to_pylist()
    return [
        Hit(note=note, score=1.0 - float(distance), channel="vector")
        for note, distance in zip(rows_to_notes(data), distances, strict=True)
    ]


def in_owner_table(sql: str, table: str) -> str | None:
    """Return ``sql`` without its owner condition (``None`` if nothing else is left).

    ``sql`` is :func:`~._lancedb_schema.where_filter`'s: ``(_owner = '…')`` or
    ``(_owner = '…' AND _session = '…')`` first, then the note filters, each in
    parentheses, joined by ``AND``. A search runs on one owner's table, which holds that
    owner's rows only (:class:`~._lancedb_tables.OwnerTables`: rows are written to the
    table named by their owner key), so the owner condition holds for every row; left in,
    it is a string comparison on every row of the table before each search. The session
    condition, and any other, stays.

    The condition is left out only where it names the owner of ``table`` (the table's
    name ends in ``-<owner key>``) and is followed by `` AND `` or nothing; any other
    ``sql`` is returned whole, so a filter meant for another owner's table finds nothing
    here instead of this owner's notes.

    Example:
        >>> owner = "a" * 32
        >>> in_owner_table("(_owner = '" + owner + "') AND (invalid_at IS NULL)", "notes-" + owner)
        '(invalid_at IS NULL)'
        >>> in_owner_table(
        ...     "(_owner = '" + owner + "' AND _session = '" + "b" * 32 + "')", "notes-" + owner
        ... )
        "(_session = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')"
        >>> in_owner_table("(_owner = '" + owner + "')", "notes-" + "c" * 32)  # not this table's
        "(_owner = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')"
    """
    match = _OWNER.match(sql)
    if match is None or not table.endswith(f"-{match['owner']}"):
        return sql  # not the store's filter, or not for this table's owner: keep it whole
    session, rest = match.group("session"), sql[match.end() :]
    parts = [f"({session})"] if session else []
    if rest:
        parts.append(rest.removeprefix(" AND "))
    return " AND ".join(parts) or None


_ANYONE = Scope(user_id="any")
_DEFAULT_FILTER = in_owner_table(rows.where_filter(_ANYONE, Where()), f"-{rows.owner_key(_ANYONE)}")
"""A search's filter in an owner's table when it asks for nothing but the defaults
(hidden kinds left out, only valid notes): nearly every row passes it."""


def text_hits(table: Any, text: str, column: str, k: int, sql: str) -> list[Hit]:
    """Return the ``k`` best BM25 matches for ``text`` in ``column`` of rows passing ``sql``.

    The query's words are OR-ed; query syntax is read as plain words (a match query).
    Filters are applied before ranking (prefilter). ``column`` must have a full-text
    index.

    Returns:
        Hits on channel ``bm25``, best first; ``score`` is LanceDB's BM25 score.
    """
    from lancedb.query import MatchQuery

    query = (
        table._table.query()  # the table's async handle
        .nearest_to_text(MatchQuery(text, column))
        .select([*_NOTE_COLUMNS, "_score"])
        .limit(k)
    )
    sql = in_owner_table(sql, table.name)
    if sql is not None:
        query = query.where(sql)
    data = _run(query)
    scores = data.column("_score").to_pylist()
    return [
        Hit(note=note, score=float(score), channel="bm25")
        for note, score in zip(rows_to_notes(data), scores, strict=True)
    ]


def _run(query: Any) -> Any:
    """Run an async LanceDB query on LanceDB's own background loop; return an Arrow table."""
    from lancedb.background_loop import LOOP

    return LOOP.run(query.to_arrow())


def rows_to_notes(data: Any) -> list[Note]:
    """Rebuild the notes of a query result (a ``pyarrow.Table`` of note rows).

    Equal to ``[row_to_note(row) for row in data.to_pylist()]``, column by column.
    Columns that are not note fields (``_distance``, ``_score``, the key columns) are
    skipped; a result without the vector column gives notes without embeddings.
    """
    count = data.num_rows
    if count == 0:
        return []
    present = set(data.column_names)
    names = [name for name in Note.model_fields if name in present and name != "embedding"]
    columns = {name: data.column(name).to_pylist() for name in names}
    scopes = [data.column(name).to_pylist() for name in _SCOPE]
    vectors = _vectors(data.column(rows.VECTOR)) if rows.VECTOR in present else [None] * count
    notes = []
    for i in range(count):
        fields = {name: columns[name][i] for name in names}
        for name in _TIMES:
            value = fields.get(name)
            if value is not None:
                fields[name] = value.astimezone(UTC)
        fields["scope"] = Scope(
            user_id=scopes[0][i], agent_id=scopes[1][i], session_id=scopes[2][i]
        )
        fields["links"] = [Link(**link) for link in fields.get("links") or []]
        fields["metadata"] = json.loads(fields.get("metadata") or "{}")
        for name in _LISTS:
            fields[name] = fields.get(name) or []
        fields["embedding"] = vectors[i]
        # every stored row was written from a validated note: no second validation
        notes.append(Note.model_construct(**fields))
    return notes


def _vectors(column: Any) -> list[list[float] | None]:
    """Return a fixed-size-list column of floats as Python lists (``None`` for nulls)."""
    if column.null_count:
        return [None if v is None else [float(x) for x in v] for v in column.to_pylist()]
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(len(column), -1).astype("float64").tolist()
