"""How notes map onto a LanceDB table: columns, rows, scope keys and SQL filters.

Scope is enforced with hashed key columns: ``_owner`` (user and agent), ``_session`` and
``_key`` (owner and note id) hold blake2b hex digests, so no user, agent, session or
note id string ever reaches a SQL filter. The few user strings that must (kinds, layers,
tags in :class:`~evolvelab.types.Where`) go through :func:`sql_string`.

pyarrow is imported inside functions only, so importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from evolvelab.errors import EvolveLabError
from evolvelab.types import Link, Note, Scope, Where

if TYPE_CHECKING:
    import pyarrow as pa

    from evolvelab.stages import Embedder

__all__ = [
    "EMBEDDER_DIM",
    "EMBEDDER_MODEL",
    "LAYOUT",
    "LAYOUT_VERSION",
    "PRIMARY_KEY",
    "CONTENT",
    "check_table",
    "one_table_layout",
    "SEARCH_TEXT",
    "VECTOR",
    "key_filter",
    "note_key",
    "owner_key",
    "notes_to_table",
    "row_to_note",
    "schema",
    "scope_filter",
    "sql_string",
    "where_filter",
]

VECTOR = "vector"
"""Name of the embedding column."""

EMBEDDER_MODEL = b"evolvelab.embedder.model_id"
EMBEDDER_DIM = b"evolvelab.embedder.dim"
"""Schema metadata keys recording which embedder built the table."""
LAYOUT = b"evolvelab.layout"
LAYOUT_VERSION = "3"
"""Schema metadata key and value naming the column layout; other layouts are refused.

Layout 3 keeps one table per owner (``<table>-<owner key>``) with ``_key`` as the
table's primary key; layout 2 kept every owner in one table."""
PRIMARY_KEY = {b"lance-schema:unenforced-primary-key:position": b"1"}
"""Field metadata marking ``_key`` as the table's (unenforced) primary key: concurrent
upserts of one key from several processes then conflict and are redone, not doubled."""
SEARCH_TEXT = "search_text"
"""The column the full-text index covers: ``index_text`` when set, else ``content``."""
CONTENT = "content"
"""The note's content; it gets a second full-text index once a search asks for it."""

_TIMES = ("created_at", "valid_from", "invalid_at", "last_accessed")


def _digest(value: object) -> str:
    """Hash a JSON-encodable value; JSON keeps ``None`` apart from ``""`` and separators."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def owner_key(scope: Scope) -> str:
    """Return the hex key of a scope's owner (``user_id`` and ``agent_id``)."""
    return _digest(["owner", scope.user_id, scope.agent_id])


def session_key(session_id: str | None) -> str:
    """Return the hex key of a session (``None`` has its own key)."""
    return _digest(["session", session_id])


def note_key(scope: Scope, id: str) -> str:
    """Return the row key of note ``id`` held by ``scope``'s owner (the upsert key)."""
    return _digest(["note", scope.user_id, scope.agent_id, id])


def sql_string(value: str) -> str:
    """Quote ``value`` as a SQL string literal (single quotes doubled; no escapes)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return "'" + value.replace("'", "''") + "'"


def _sql_time(value: datetime) -> str:
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return f"timestamp '{utc.replace(tzinfo=None).isoformat(timespec='microseconds')}Z'"


def scope_filter(scope: Scope) -> str:
    """Return the SQL condition selecting the rows ``scope`` may see."""
    sql = f"_owner = '{owner_key(scope)}'"
    if scope.session_id is not None:
        sql += f" AND _session = '{session_key(scope.session_id)}'"
    return sql


def key_filter(ids: Sequence[str], scope: Scope) -> str:
    """Return the SQL condition selecting notes ``ids`` within ``scope``."""
    keys = ", ".join(f"'{note_key(scope, id)}'" for id in dict.fromkeys(ids))
    return f"_key IN ({keys}) AND {scope_filter(scope)}"


def where_filter(scope: Scope, where: Where) -> str:
    """Return the SQL condition for ``scope`` plus every filter in ``where``.

    Mirrors :meth:`Where.matches`: an empty list matches nothing; a note without a layer
    matches no layer list; without ``include_invalid`` only notes valid at ``valid_at``
    (default: notes never closed) pass.
    """
    parts = [scope_filter(scope)]
    if where.kind is None and where.hidden_kinds:
        parts.append(f"kind NOT IN ({', '.join(sql_string(v) for v in where.hidden_kinds)})")
    for column, values in (("kind", where.kind), ("layer", where.layer)):
        if values is not None:
            literals = ", ".join(sql_string(v) for v in values)
            parts.append(f"{column} IN ({literals})" if values else "FALSE")
    if where.tags is not None:
        literals = ", ".join(sql_string(v) for v in where.tags)
        parts.append(f"array_has_any(tags, [{literals}])" if where.tags else "FALSE")
    if not where.include_invalid:
        if where.valid_at is None:
            parts.append("invalid_at IS NULL")
        else:
            at = _sql_time(where.valid_at)
            parts.append(f"(valid_from IS NULL OR valid_from <= {at})")
            parts.append(f"(invalid_at IS NULL OR invalid_at > {at})")
    return " AND ".join(f"({part})" for part in parts)


def schema(dim: int, model_id: str) -> pa.Schema:
    """Return the table schema for ``dim``-dimensional vectors of embedder ``model_id``."""
    import pyarrow as pa

    time = pa.timestamp("us", tz="UTC")
    strings = pa.list_(pa.string())
    link = pa.struct([("target", pa.string()), ("kind", pa.string()), ("weight", pa.float64())])
    fields = [
        pa.field("_key", pa.string(), nullable=False, metadata=PRIMARY_KEY),
        pa.field("_owner", pa.string(), nullable=False),
        pa.field("_session", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("user_id", pa.string()),
        pa.field("agent_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("content", pa.string()),
        pa.field("index_text", pa.string()),
        pa.field(SEARCH_TEXT, pa.string()),
        pa.field("kind", pa.string()),
        pa.field("source_ids", strings),
        pa.field("created_at", time),
        pa.field("valid_from", time),
        pa.field("invalid_at", time),
        pa.field("keywords", strings),
        pa.field("tags", strings),
        pa.field("context", pa.string()),
        pa.field(VECTOR, pa.list_(pa.float32(), dim)),
        pa.field("importance", pa.float64()),
        pa.field("layer", pa.string()),
        pa.field("strength", pa.float64()),
        pa.field("access_count", pa.int64()),
        pa.field("last_accessed", time),
        pa.field("success_count", pa.int64()),
        pa.field("failure_count", pa.int64()),
        pa.field("links", pa.list_(link)),
        pa.field("version", pa.int64()),
        pa.field("metadata", pa.string()),
    ]
    metadata = {
        EMBEDDER_MODEL: model_id.encode("utf-8"),
        EMBEDDER_DIM: str(dim).encode(),
        LAYOUT: LAYOUT_VERSION.encode(),
    }
    return pa.schema(fields, metadata=metadata)


def notes_to_table(notes: Sequence[Note], table_schema: pa.Schema) -> pa.Table:
    """Convert notes (embeddings filled in) to rows; the last note wins per key."""
    import pyarrow as pa

    rows: dict[str, dict[str, Any]] = {}
    for note in notes:
        row = note.model_dump(exclude={"scope", "embedding", "links", "metadata"})
        key = note_key(note.scope, note.id)
        row.update(
            _key=key,
            _owner=owner_key(note.scope),
            _session=session_key(note.scope.session_id),
            user_id=note.scope.user_id,
            agent_id=note.scope.agent_id,
            session_id=note.scope.session_id,
            links=[link.model_dump() for link in note.links],
            metadata=json.dumps(note.metadata, ensure_ascii=False),
        )
        row[SEARCH_TEXT] = note.search_text
        row[VECTOR] = note.embedding
        rows.pop(key, None)
        rows[key] = row
    return pa.Table.from_pylist(list(rows.values()), schema=table_schema)


def row_to_note(row: dict[str, Any]) -> Note:
    """Rebuild a note from a table row (as given by ``pyarrow.Table.to_pylist``)."""
    fields = {name: row[name] for name in Note.model_fields if name in row}
    for name in _TIMES:
        value = fields.get(name)
        if value is not None:
            fields[name] = value.astimezone(UTC)
    fields["scope"] = Scope(
        user_id=row["user_id"], agent_id=row["agent_id"], session_id=row["session_id"]
    )
    fields["links"] = [Link(**link) for link in row["links"] or []]
    fields["metadata"] = json.loads(row["metadata"] or "{}")
    for name in ("source_ids", "keywords", "tags"):
        fields[name] = fields.get(name) or []
    vector = row.get(VECTOR)
    fields["embedding"] = None if vector is None else [float(x) for x in vector]
    return Note(**fields)


def check_table(table: Any, path: str, embedder: Embedder, layout: str = LAYOUT_VERSION) -> None:
    """Refuse a table written in another column ``layout`` or with another embedder.

    Raises:
        EvolveLabError: naming what the table holds and what this pipeline would write.
    """
    metadata = table.schema.metadata or {}
    found = metadata.get(LAYOUT, b"1").decode()
    if found != layout:
        raise EvolveLabError(
            f"LanceDB table {table.name!r} at {path} was written with column layout "
            f"{found}; this version of evolvelab reads layout {layout}. "
            "Re-ingest into a new path (or delete the directory)."
        )
    found_model = metadata.get(EMBEDDER_MODEL, b"?").decode()
    found_dim = metadata.get(EMBEDDER_DIM, b"?").decode()
    if (found_model, found_dim) != (embedder.model_id, str(embedder.dim)):
        raise EvolveLabError(
            f"LanceDB table {table.name!r} at {path} holds vectors of embedder "
            f"{found_model!r} (dim {found_dim}); this pipeline's embedder is "
            f"{embedder.model_id!r} (dim {embedder.dim}). Use another path or table, "
            "or re-embed the notes into a new one."
        )


def one_table_layout(db: Any, name: str, path: str, embedder: Embedder) -> Any | None:
    """Return the table ``name`` if it holds every owner's notes (layout 2), else ``None``.

    Such a table was written by an EvolveLab before one table per owner; the store moves
    its rows into per-owner tables.

    Raises:
        EvolveLabError: if it was written with another embedder or an older layout.
    """
    try:
        old = db.open_table(name)
    except ValueError:  # no such table: nothing old here
        return None
    check_table(old, path, embedder, layout="2")
    return old
