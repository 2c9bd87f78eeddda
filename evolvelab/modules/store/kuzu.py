"""The graph store: notes as nodes, links as edges, in an embedded Kuzu-lineage database.

It keeps structure only. Every field of a :class:`~evolvelab.types.Note` is a column
except ``embedding`` (vectors live in LanceDB; ``get`` returns ``embedding=None``), and
``links`` are ``LINK`` edges. The backend is ``ladybug`` (Kuzu's maintained fork), or
``kuzu`` when only that is installed; both speak the same Cypher.

Scope is enforced here, never by the caller. A node's primary key is the JSON triple
``[user_id, agent_id, id]``, so the same note id in two scopes names two nodes and one
user's ``add`` can never overwrite another's note; ``session_id`` is a column that
narrows reads when a scope gives it. Links never cross scopes: a target must be visible
from the scope the link is written in, and walks only pass through visible nodes.

Every query is parameterised (``conn.execute(query, params)``); user strings never enter
the query text.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import StoreConfig
from evolvelab.errors import EvolveLabError, PluginError
from evolvelab.stages import Neighbour, Resources, Store
from evolvelab.types import Link, Note, Scope, Where

__all__ = ["KuzuStore", "KuzuStoreConfig", "SCHEMA_VERSION"]

SCHEMA_VERSION = "1"
"""Version of the node and edge layout; a database written with another one is refused."""

_COLUMNS: dict[str, str] = dict(
    column.split(" ")
    for column in (
        "key STRING, id STRING, owner STRING, user_id STRING, agent_id STRING, "
        "session_id STRING, content STRING, index_text STRING, kind STRING, source_ids STRING[], "
        "created_at TIMESTAMP, valid_from TIMESTAMP, invalid_at TIMESTAMP, keywords STRING[], "
        "tags STRING[], context STRING, importance DOUBLE, layer STRING, strength DOUBLE, "
        "access_count INT64, last_accessed TIMESTAMP, success_count INT64, failure_count INT64, "
        "version INT64, metadata STRING"
    ).split(", ")
)
"""Node columns: every Note field but ``embedding`` and ``links``, plus the scope key."""
_TIMES = ("created_at", "valid_from", "invalid_at", "last_accessed")

_SCHEMA = (
    "CREATE NODE TABLE IF NOT EXISTS Note("
    + ", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
    + ", PRIMARY KEY (key))",
    "CREATE REL TABLE IF NOT EXISTS LINK(FROM Note TO Note, kind STRING, weight DOUBLE, seq INT64)",
    "CREATE NODE TABLE IF NOT EXISTS StoreInfo(name STRING, value STRING, PRIMARY KEY (name))",
)
_RETURN_NOTE = ", ".join(f"n.{name}" for name in _COLUMNS)
# Query plans matter here: ladybug turns ``UNWIND $rows MATCH (a {key: ..}), (b {key: ..})``
# or ``MATCH (a {key: ..})-[r]->(b)`` after an UNWIND into hash joins over the whole table
# (tens of ms per call at 30k notes). Separate MATCH clauses and OPTIONAL MATCH for the
# edge step keep every step a primary-key lookup, so cost follows the batch, not the graph.
_CREATE = "UNWIND $rows AS r CREATE (n:Note {%s})" % ", ".join(
    f"{name}: CAST(r.{name} AS {kind})" for name, kind in _COLUMNS.items()
)
_UPDATE = "UNWIND $rows AS r MATCH (n:Note {key: r.key}) SET " + ", ".join(
    f"n.{name} = CAST(r.{name} AS {kind})" for name, kind in _COLUMNS.items() if name != "key"
)
_CREATE_LINKS = (
    "UNWIND $rows AS e MATCH (a:Note {key: e.src}) MATCH (b:Note {key: e.dst}) "
    "WHERE CAST(e.session AS STRING) IS NULL OR b.session_id = CAST(e.session AS STRING) "
    "CREATE (a)-[:LINK {kind: e.kind, weight: e.weight, seq: e.seq}]->(b)"
)
_REWEIGH_ONE = (
    "MATCH (a:Note {key: $src})-[r:LINK]->(b:Note) WHERE b.key = $dst AND r.kind = $kind "
    "SET r.weight = $weight"
)
_REWEIGH_MANY = (
    "UNWIND $rows AS e MATCH (a:Note {key: e.src}) OPTIONAL MATCH (a)-[r:LINK]->(b:Note) "
    "WHERE b.key = e.dst AND r.kind = e.kind SET r.weight = e.weight"
)
_REWEIGH_BATCH = 64
"""From this many changed weights on, one batched statement beats one statement each."""
_EDGE = {
    "out": "(a)-[r:LINK]->(b:Note)",
    "in": "(a)<-[r:LINK]-(b:Note)",
    "both": "(a)-[r:LINK]-(b:Note)",
}


class KuzuStoreConfig(StoreConfig):
    """Keep links and tiers in an embedded graph database (ladybug, Kuzu's fork).

    Use it as the pipeline's ``graph`` store next to a vector store; it does not keep
    embeddings.

    Example:
        ```yaml
        store: {type: lancedb, path: .evolvelab/notes}
        graph:
          type: kuzu
          path: .evolvelab/graph      # a directory; the database file lives inside
          buffer_pool_mb: 512
        ```
    """

    type: Literal["kuzu"] = "kuzu"
    path: str | None = Field(
        None,
        description="Directory holding the database; default: the pipeline's data dir / graph.",
    )
    buffer_pool_mb: int | None = Field(
        None,
        ge=16,
        description="Memory the database may cache pages in, in MiB; default: the engine's.",
    )


def _scope_key(scope: Scope, note_id: str) -> str:
    return json.dumps([scope.user_id, scope.agent_id, note_id], ensure_ascii=False)


def _owner(scope: Scope) -> str:
    return json.dumps([scope.user_id, scope.agent_id], ensure_ascii=False)


def _visible(var: str, scope: Scope) -> tuple[str, dict[str, Any]]:
    """Return a Cypher condition keeping ``var`` inside ``scope``, and its parameters."""
    clause, params = f"{var}.owner = $owner", {"owner": _owner(scope)}
    if scope.session_id is not None:
        clause += f" AND {var}.session_id = $session"
        params["session"] = scope.session_id
    return clause, params


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _note_row(note: Note) -> dict[str, Any]:
    scope = note.scope
    row = note.model_dump(exclude={"embedding", "links", "scope", "metadata"})
    row.update(
        key=_scope_key(scope, note.id),
        owner=_owner(scope),
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        session_id=scope.session_id,
        importance=float(note.importance),
        strength=float(note.strength),
        metadata=json.dumps(note.metadata, sort_keys=True, ensure_ascii=False),
    )
    for name in _TIMES:
        row[name] = _naive_utc(row[name])
    return row


def _note_from(values: Sequence[Any], links: list[Link]) -> Note:
    row = dict(zip(_COLUMNS, values, strict=True))
    scope = Scope(user_id=row["user_id"], agent_id=row["agent_id"], session_id=row["session_id"])
    for name in ("key", "owner", "user_id", "agent_id", "session_id"):
        del row[name]
    row["metadata"] = json.loads(row["metadata"] or "{}")
    for name in _TIMES:
        if row[name] is not None and row[name].tzinfo is None:
            row[name] = row[name].replace(tzinfo=UTC)
    # NULL means "the field's default": a column added after the note was written is NULL.
    fields = {name: value for name, value in row.items() if value is not None}
    return Note(scope=scope, links=links, **fields)


def _open_error(path: Path, err: BaseException) -> str:
    """Explain why the database at ``path`` cannot be opened, and what to do about it."""
    text = str(err)
    if "Could not set lock" not in text:
        return f"kuzu store: cannot open {path}: {text}"
    holder = re.search(r"held by PID (\d+)", text)
    who = f"process {holder.group(1)}" if holder else "another process"
    return (
        f"kuzu store: the graph database {path} is open in {who}. The graph database "
        "allows one process per folder, and its lock also keeps out processes that only "
        "search. Close the other process (or its Memory), or give this pipeline a graph "
        "folder of its own (`graph: {path: ...}` or another data folder). "
        "docs/stores.md lists what each store allows."
    )


def _import_backend() -> Any:
    """Return the ``ladybug`` module, or ``kuzu`` when only that is installed."""
    try:
        import ladybug as backend

        if hasattr(backend, "Database"):
            return backend
    except ImportError:
        pass
    try:
        import kuzu as backend
    except ImportError as err:
        raise PluginError(
            "store 'kuzu' needs the graph database: pip install ladybug==0.22.0 "
            "(if `import ladybug` finds Ladybug Tools' weather library instead, "
            "the two cannot share one environment)"
        ) from err
    return backend


class KuzuStore(Store):
    """Keep notes as graph nodes and their links as typed, weighted edges.

    Offers ``scan`` and ``graph_links``; not vector or text search. Writes are durable
    when ``add``/``link``/``unlink``/``delete`` return. One process at a time may open a
    database for writing: ``close()`` releases it.
    """

    config_model: ClassVar[type[KuzuStoreConfig]] = KuzuStoreConfig
    config: KuzuStoreConfig
    keeps_embeddings: ClassVar[bool] = False
    """``get`` and ``scan`` return notes with ``embedding=None``."""

    def __init__(self, config: KuzuStoreConfig) -> None:
        super().__init__(config)
        self._db: Any = None
        self._conn: Any = None
        self._next_seq = 0
        self.path: Path | None = None

    # lifecycle -------------------------------------------------------------------------

    def open(self, resources: Resources) -> None:
        """Open (or create) the database and its schema.

        Args:
            resources: the pipeline's resources; ``data_dir`` places the default path.

        Raises:
            PluginError: if neither ladybug nor kuzu is installed.
            EvolveLabError: if the database cannot be opened or has another schema version.
        """
        super().open(resources)
        self.close()
        backend = _import_backend()
        folder = Path(self.config.path) if self.config.path else resources.data_dir / "graph"
        suffix = "lbug" if backend.__name__ == "ladybug" else "kuzu"
        self.path = folder / f"graph.{suffix}"
        options: dict[str, Any] = {}
        if self.config.buffer_pool_mb is not None:
            options["buffer_pool_size"] = self.config.buffer_pool_mb * 1024 * 1024
        if "throw_on_wal_replay_failure" in inspect.signature(backend.Database).parameters:
            # A process killed while appending to the WAL leaves a torn last record: the
            # transaction it belongs to never committed (a commit returns only once its
            # record is synced). Replay up to it instead of refusing to open; the intent
            # log (evolvelab.intents) then redoes the batch that was being written.
            options["throw_on_wal_replay_failure"] = False
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = backend.Database(str(self.path), **options)
            self._conn = backend.Connection(self._db)
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except (OSError, RuntimeError) as err:
            self.close()
            raise EvolveLabError(_open_error(self.path, err)) from err
        self._check_schema_version()
        # Note fields added since the database was made become new (NULL) columns.
        present = {row[1] for row in self._rows("CALL table_info('Note') RETURN *")}
        for name, kind in _COLUMNS.items():
            if name not in present:
                self._rows(f"ALTER TABLE Note ADD {name} {kind}")
        rows = self._rows("MATCH ()-[r:LINK]->() RETURN max(r.seq)")
        self._next_seq = (rows[0][0] or 0) + 1

    def close(self) -> None:
        """Release the database so another process may open it (safe to call twice)."""
        conn, db = self._conn, self._db
        self._conn = self._db = None
        if conn is not None:
            conn.close()
        if db is not None:
            db.close()

    def _check_schema_version(self) -> None:
        rows = self._rows("MATCH (i:StoreInfo {name: 'schema_version'}) RETURN i.value")
        if not rows:
            self._rows(
                "CREATE (:StoreInfo {name: 'schema_version', value: $v})", {"v": SCHEMA_VERSION}
            )
        elif rows[0][0] != SCHEMA_VERSION:
            found = rows[0][0]
            self.close()
            raise EvolveLabError(
                f"kuzu store: {self.path} has schema version {found}; "
                f"this EvolveLab writes version {SCHEMA_VERSION}"
            )

    # query plumbing ----------------------------------------------------------------------

    def _rows(self, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        if self._conn is None:
            raise EvolveLabError("kuzu store used before open() or after close()")
        try:
            return self._conn.execute(query, params or {}).get_all()
        except RuntimeError as err:
            raise EvolveLabError(f"kuzu store at {self.path}: {err}") from err

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._rows("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            # A failed statement has already rolled the transaction back; only an error
            # raised on the Python side leaves one open.
            with suppress(EvolveLabError):
                self._rows("ROLLBACK")
            raise
        self._rows("COMMIT")

    def _take_seq(self) -> int:
        self._next_seq += 1
        return self._next_seq - 1

    # Store -------------------------------------------------------------------------------

    def add(self, notes: Sequence[Note]) -> None:
        """Insert or replace ``notes`` by (scope, id) in one transaction.

        The embedding is not kept. ``note.links`` are added as edges or update the edge
        of the same target and kind; links the note no longer lists stay until
        :meth:`unlink` (so re-adding a note from a store that does not know the graph
        never erases its links). Links to notes that do not exist or are not visible from
        the note's scope are skipped.

        Args:
            notes: the notes to write; later duplicates in the batch win.

        Raises:
            EvolveLabError: if a note carries an embedding of the wrong dimension (it is
                not kept, but a wrong size is a bug upstream worth stopping at).
        """
        if not notes:
            return
        dim = self.resources.embedder.dim
        for note in notes:
            if note.embedding is not None and len(note.embedding) != dim:
                raise EvolveLabError(
                    f"kuzu store: note {note.id!r} has a {len(note.embedding)}-d embedding; "
                    f"the pipeline's embedder makes {dim}-d vectors"
                )
        rows = list({_scope_key(n.scope, n.id): _note_row(n) for n in notes}.values())
        wanted = {
            (_scope_key(note.scope, note.id), link.target, link.kind): (note.scope, note.id, link)
            for note in notes
            for link in note.links
            if link.target != note.id
        }
        edges = [self._edge_row(*args) for args in wanted.values()]
        with self._transaction():
            known = self._rows(
                "UNWIND $keys AS k MATCH (n:Note {key: k}) RETURN n.key",
                {"keys": [row["key"] for row in rows]},
            )
            known_keys = {row[0] for row in known}
            fresh = [row for row in rows if row["key"] not in known_keys]
            if fresh:
                self._rows(_CREATE, {"rows": fresh})
            if known_keys:
                update = [row for row in rows if row["key"] in known_keys]
                self._rows(_UPDATE, {"rows": update})
            if edges:
                self._write_links(edges)

    def _write_links(self, edges: list[dict[str, Any]]) -> None:
        """Create the edges that do not exist yet and re-weigh those that changed."""
        sources = list(dict.fromkeys(edge["src"] for edge in edges))
        if len(sources) == 1:  # the direct pattern plans as a key lookup plus one step
            query = "MATCH (a:Note {key: $src})-[r:LINK]->(b:Note) "
            params: dict[str, Any] = {"src": sources[0]}
        else:
            query = f"UNWIND $keys AS k MATCH (a:Note {{key: k}}) OPTIONAL MATCH {_EDGE['out']} "
            params = {"keys": sources}
        existing: dict[tuple[str, str, str], float] = {}
        for src, dst, kind, weight in self._rows(
            query + "RETURN a.key, b.key, r.kind, r.weight", params
        ):
            if dst is not None:
                existing[(src, dst, kind)] = weight
        fresh, changed = [], []
        for edge in edges:
            old = existing.get((edge["src"], edge["dst"], edge["kind"]))
            if old is None:
                fresh.append({**edge, "seq": self._take_seq()})
            elif old != edge["weight"]:
                changed.append(edge)
        if fresh:
            self._rows(_CREATE_LINKS, {"rows": fresh})
        if len(changed) >= _REWEIGH_BATCH:
            self._rows(_REWEIGH_MANY, {"rows": changed})
        else:
            for edge in changed:
                self._rows(_REWEIGH_ONE, {k: edge[k] for k in ("src", "dst", "kind", "weight")})

    @staticmethod
    def _edge_row(scope: Scope, source: str, link: Link) -> dict[str, Any]:
        return {
            "src": _scope_key(scope, source),
            "dst": _scope_key(scope, link.target),
            "kind": link.kind,
            "weight": float(link.weight),
            "session": scope.session_id,
        }

    def get(self, ids: Sequence[str], scope: Scope) -> list[Note]:
        """Return the notes with these ids in ``scope``, in the order asked for.

        Args:
            ids: note ids; unknown ids and ids of other scopes are skipped.
            scope: whose notes to read.

        Returns:
            The notes, with ``embedding=None`` and ``links`` read from the edges.
        """
        keys = list(dict.fromkeys(_scope_key(scope, i) for i in ids))
        if not keys:
            return []
        where, params = _visible("n", scope)
        rows = self._rows(
            f"UNWIND $keys AS k MATCH (n:Note {{key: k}}) WHERE {where} RETURN {_RETURN_NOTE}",
            {"keys": keys, **params},
        )
        return self._assemble(rows, scope, keys)

    def scan(self, scope: Scope, where: Where) -> Iterator[Note]:
        """Yield every note in ``scope`` that passes ``where``, ordered by id.

        Args:
            scope: whose notes to list.
            where: extra filters (kind, layer, tags, validity).
        """
        clause, params = _visible("n", scope)
        if where.kind is not None:
            clause += " AND n.kind IN $kinds"
            params["kinds"] = where.kind
        if where.layer is not None:
            clause += " AND n.layer IN $layers"
            params["layers"] = where.layer
        rows = self._rows(
            f"MATCH (n:Note) WHERE {clause} RETURN {_RETURN_NOTE} ORDER BY n.id", params
        )
        notes = self._assemble(rows, scope, None)
        yield from (note for note in notes if where.matches(note))

    def _assemble(self, rows: list[list[Any]], scope: Scope, keys: list[str] | None) -> list[Note]:
        """Attach out-links (targets visible from ``scope``) to node rows and build notes."""
        if not rows:
            return []
        found = [row[0] for row in rows]
        where, params = _visible("b", scope)
        edges = self._rows(
            f"UNWIND $keys AS k MATCH (a:Note {{key: k}}) OPTIONAL MATCH {_EDGE['out']} "
            f"WHERE {where} RETURN a.key, b.id, r.kind, r.weight, r.seq",
            {"keys": found, **params},
        )
        links: dict[str, list[Link]] = {key: [] for key in found}
        for src, target, kind, weight, _ in sorted(edges, key=lambda e: e[4] or 0):
            if target is not None:
                links[src].append(Link(target=target, kind=kind, weight=weight))
        notes = {row[0]: _note_from(row, links[row[0]]) for row in rows}
        order = keys if keys is not None else found
        return [notes[key] for key in order if key in notes]

    def delete(self, ids: Sequence[str], scope: Scope) -> int:
        """Delete the notes with these ids in ``scope`` and every edge touching them.

        Args:
            ids: note ids; ids not in ``scope`` are left alone.
            scope: whose notes to delete.

        Returns:
            How many notes were deleted.
        """
        keys = list(dict.fromkeys(_scope_key(scope, i) for i in ids))
        if not keys:
            return 0
        where, params = _visible("n", scope)
        rows = self._rows(
            f"UNWIND $keys AS k MATCH (n:Note {{key: k}}) WHERE {where} "
            "DETACH DELETE n RETURN count(*)",
            {"keys": keys, **params},
        )
        return int(rows[0][0]) if rows else 0

    def count(self, scope: Scope) -> int:
        """Return how many notes ``scope`` holds, valid or not."""
        where, params = _visible("n", scope)
        return int(self._rows(f"MATCH (n:Note) WHERE {where} RETURN count(*)", params)[0][0])

    # GraphLinks --------------------------------------------------------------------------

    def link(self, source: str, links: Sequence[Link], scope: Scope) -> None:
        """Add links from ``source``, replacing the weight of a same-target, same-kind link.

        Args:
            source: id of the note the links start from.
            links: the links to add or update (a link to ``source`` itself is skipped).
            scope: the scope both ends must be visible from.

        Raises:
            EvolveLabError: if ``source`` or a target is not a note visible from ``scope``;
                nothing is written then.
        """
        unique = {(link.target, link.kind): link for link in links if link.target != source}
        wanted = [source, *dict.fromkeys(target for target, _ in unique)]
        missing = sorted(set(wanted) - set(self._present(wanted, scope)))
        if missing:
            raise EvolveLabError(
                f"kuzu store: cannot link {source!r}: no note {', '.join(map(repr, missing))} "
                f"in scope {scope!r} (links never cross scopes)"
            )
        if unique:
            with self._transaction():
                self._write_links([self._edge_row(scope, source, x) for x in unique.values()])

    def unlink(self, source: str, targets: Sequence[str], scope: Scope) -> int:
        """Remove every link (of any kind) from ``source`` to ``targets``.

        Args:
            source: id of the note the links start from.
            targets: ids of the linked notes.
            scope: the scope ``source`` must be visible from.

        Returns:
            How many edges were removed.
        """
        if not targets:
            return 0
        where, params = _visible("a", scope)
        rows = self._rows(
            f"MATCH (a:Note {{key: $src}})-[r:LINK]->(b:Note) WHERE {where} "
            "AND b.key IN $dsts DELETE r RETURN count(*)",
            {
                "src": _scope_key(scope, source),
                "dsts": [_scope_key(scope, t) for t in targets],
                **params,
            },
        )
        return int(rows[0][0]) if rows else 0

    def neighbours(
        self,
        ids: Sequence[str],
        scope: Scope,
        hops: int = 1,
        kinds: Sequence[str] | None = None,
        direction: Literal["out", "in", "both"] = "both",
    ) -> list[Neighbour]:
        """Walk links breadth-first from ``ids`` and return the notes reached, nearest first.

        Each note is reported once, at its smallest hop count, with the seed it was
        reached from and the kind and weight of the last edge on the way (the strongest
        edge when several reach it at the same depth). Only notes visible from ``scope``
        are entered; seeds are never returned.

        Args:
            ids: seed note ids (seeds outside ``scope`` are ignored).
            scope: the scope every note on a path must be visible from.
            hops: the most links to follow (0 returns nothing).
            kinds: follow only edges of these kinds (``None``: every kind).
            direction: follow edges ``out`` of, ``in`` to, or ``both`` ways from a note.

        Returns:
            Neighbours sorted by hops, then weight (strongest first), then id.

        Raises:
            EvolveLabError: if ``hops`` is negative or ``direction`` is unknown.
        """
        if direction not in _EDGE:
            raise EvolveLabError(
                f"kuzu store: unknown direction {direction!r}; allowed: out, in, both"
            )
        if hops < 0:
            raise EvolveLabError(f"kuzu store: hops must be >= 0, got {hops}")
        seeds = list(dict.fromkeys(ids))
        rank = {seed: i for i, seed in enumerate(seeds)}
        visited = {_scope_key(scope, seed) for seed in seeds}
        frontier = {_scope_key(scope, s): s for s in self._present(seeds, scope)}
        where, params = _visible("b", scope)
        if kinds is not None:
            where += " AND r.kind IN $kinds"
            params["kinds"] = list(kinds)
        query = (
            f"UNWIND $frontier AS f MATCH (a:Note {{key: f}}) OPTIONAL MATCH {_EDGE[direction]} "
            f"WHERE {where} RETURN a.key, b.key, b.id, r.kind, r.weight"
        )
        found: list[Neighbour] = []
        for depth in range(1, hops + 1):
            if not frontier:
                break
            best: dict[str, tuple[tuple[float, int, str], Neighbour]] = {}
            for src, dst, dst_id, kind, weight in self._rows(
                query, {"frontier": list(frontier), **params}
            ):
                if dst is None or dst in visited:
                    continue
                seed = frontier[src]
                order = (-weight, rank[seed], kind)
                if dst not in best or order < best[dst][0]:
                    best[dst] = (order, Neighbour(dst_id, seed, depth, kind, weight))
            visited.update(best)
            found.extend(n for _, n in best.values())
            frontier = {dst: n.seed for dst, (_, n) in best.items()}
        return sorted(found, key=lambda n: (n.hops, -n.weight, n.id))

    def _present(self, ids: Sequence[str], scope: Scope) -> list[str]:
        """Return the ids among ``ids`` that name notes visible from ``scope``."""
        keys = [_scope_key(scope, i) for i in ids]
        if not keys:
            return []
        where, params = _visible("n", scope)
        rows = self._rows(
            f"UNWIND $keys AS k MATCH (n:Note {{key: k}}) WHERE {where} RETURN n.id",
            {"keys": keys, **params},
        )
        return [row[0] for row in rows]
