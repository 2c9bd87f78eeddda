"""``type: lancedb``: notes, vectors and full text in embedded LanceDB tables.

One table per memory owner (``user_id`` + ``agent_id``, see
:mod:`evolvelab.modules.store._lancedb_tables`), one row per note keyed by owner and id.
BM25 statistics are therefore per owner: another owner's notes never change a score.
Vector search is exact (flat) until an owner's table holds ``index_threshold`` rows,
then an ANN index answers with a refine step. Full text uses LanceDB's native BM25
index. A note is findable as soon as ``add`` returns (rows the index has not seen yet
are searched without it); ``fts_fresh`` keeps the index covering all of a small table
after every write, so scores there never depend on when it was updated, and all but
``reindex_fraction`` of a bigger one, so the update's cost per written row stays flat.
A served memory's writer defers those updates to its idle moments (:meth:`defer_upkeep`).

Reads never write: compaction and index maintenance run on the write path only, so a
search-only process never conflicts with a writer. Writes from several processes are
safe; LanceDB's commit conflicts are retried. Scope is also enforced on every read and
delete through hashed key columns (see :mod:`evolvelab.modules.store._lancedb_schema`).
lancedb and pyarrow are imported in ``open()``, never when this module is imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import StoreConfig, Tunable
from evolvelab.errors import EvolveLabError
from evolvelab.modules.store import _lancedb_index as lancedb_index
from evolvelab.modules.store import _lancedb_schema as rows
from evolvelab.modules.store import _lancedb_search as search
from evolvelab.modules.store._lancedb_inserts import KnownKeys, insert_count, insert_lock
from evolvelab.modules.store._lancedb_tables import OwnerTables, retry_commit
from evolvelab.modules.store._lancedb_upkeep import Upkeep, ann_upkeep, due
from evolvelab.stages import Resources, Store, TextField
from evolvelab.types import Hit, Note, Scope, Where

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LanceDBStore", "LanceDBStoreConfig"]

_log = logging.getLogger(__name__)

_SCALAR = ("_key", "_session")
"""Columns with a B-tree index from the start: note look-ups and session scans."""
_KNOWN_TABLES = 256
"""Owner tables whose keys this process keeps in memory (the most recently used)."""
_RELOAD_READS = 8
"""Reads of a table another process inserted into before its keys are read again
(until then each read asks LanceDB)."""


class LanceDBStoreConfig(StoreConfig):
    """Keep notes in LanceDB tables, one per owner (a directory on disk, or ``s3://…``).

    Example:
        ```yaml
        store:
          type: lancedb
          path: .evolvelab/zettelkasten     # default: <data dir>/lancedb
          table: notes                      # tables are notes-<owner key>
          index_threshold: 20000            # rows of one owner before an ANN index
        ```
    """

    type: Literal["lancedb"] = "lancedb"
    path: str | None = Field(
        None, description="Database directory or URI; default: `<data dir>/lancedb`."
    )
    table: str = Field(
        "notes",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.]*$",
        description="Name prefix of the tables inside the database (one table per owner, "
        "named `<table>-<owner key>`).",
    )
    fts_stem: bool = Field(True, description="Stem words in the full-text index.")
    fts_remove_stop_words: bool = Field(
        True, description="Leave stop words out of the full-text index."
    )
    fts_ascii_folding: bool = Field(
        True, description="Fold accented letters to ASCII in the full-text index."
    )
    fts_with_position: bool = Field(
        False, description="Keep word positions (needed only for phrase queries)."
    )
    fts_language: str = Field("English", description="Language for stemming and stop words.")
    fts_fresh: bool = Field(
        True,
        description="Keep the full-text index up to date as notes are written. LanceDB "
        "scores rows it has not indexed against other corpus statistics, so a note's score "
        "depends on how much of its table the index covers; with this the index covers "
        "all of a small table (`fts_fresh_rows`) after every write, and all but "
        "`reindex_fraction` of a bigger one.",
    )
    fts_fresh_rows: int = Field(
        256,
        ge=0,
        description="Largest owner table `fts_fresh` keeps exact on every write (an index "
        "rebuild whose cost grows with the table); a bigger one lets up to "
        "`reindex_fraction` of its rows wait for the next update, so an update's cost is "
        "spread over rows in proportion to it and ingest cost stays flat.",
    )
    reindex_rows: int = Field(
        2048,
        ge=1,
        description="Rows written to an owner's table that trigger maintenance (compaction, "
        "index updates, pruning of old versions), at least; see `reindex_fraction`.",
    )
    reindex_writes: int = Field(
        16,
        ge=1,
        description="Writes to an owner's table that trigger maintenance, at least: each "
        "write is a new data file, and searches slow down as files pile up; see "
        "`reindex_fraction`.",
    )
    reindex_fraction: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="Share of an owner's table that may wait for maintenance: compaction "
        "rewrites the whole table, so past `reindex_rows / reindex_fraction` rows both "
        "triggers grow with the table (maintenance cost per written row stays flat); past "
        "`fts_fresh_rows` it is also the most of the table the full-text index lags by.",
    )
    keep_versions_minutes: float = Field(
        5.0,
        ge=0.0,
        description="Maintenance (on the `reindex_rows` / `reindex_writes` schedule) deletes "
        "table versions and index files older than this; readers in other processes need "
        "the version they are reading, so keep it above your longest read. Every write "
        "leaves a version behind, so disk holds the data plus this window's commits.",
    )
    refresh_seconds: float = Field(
        0.0,
        ge=0.0,
        description="How stale a read may be: check for other processes' writes at most "
        "this often (0: before every read).",
    )
    write_threads: int = Field(
        8,
        ge=1,
        le=64,
        description="Owner tables one add writes at the same time (a group commit of "
        "several users' adds writes one table each); 1: one after another. Each owner's "
        "write is still durable and searchable before `add` returns.",
    )
    index_cache_mb: int = Field(
        64,
        ge=0,
        le=1_000_000,
        description="Memory for LanceDB's cache of opened indexes (all of this store's "
        "tables together). LanceDB's own default is 6 GB: every text-index update is a "
        "new index, and the old ones stay cached, so a long ingest grows by hundreds of MB.",
    )
    metadata_cache_mb: int = Field(
        32,
        ge=0,
        le=1_000_000,
        description="Memory for LanceDB's cache of table metadata (manifests, file "
        "footers) of all this store's tables; LanceDB's own default is 1 GB.",
    )
    commit_retries: int = Field(
        12,
        ge=1,
        le=100,
        description="Tries per write when concurrent writers conflict (jittered backoff).",
    )
    index_threshold: int = Field(
        20_000,
        ge=1,
        description="Rows of one owner before an ANN vector index is built; exact below. "
        "Never built when the embedder stores placeholders (`embedder: none`).",
    )
    index_max_segments: int = Field(
        2,
        ge=1,
        description="Segments the ANN index may keep after maintenance. Each maintenance "
        "adds the rows written since the last one as another segment, and LanceDB cannot "
        "compact data files of different segments: each one makes every vector search "
        "slower. Past this many, maintenance retrains the index over every row, in one "
        "segment (a cost that follows the table, paid once per a share of it written: "
        "about 4 s at 100k rows). A retrain is also due when the table has doubled since "
        "the index was trained.",
    )
    num_partitions: int | None = Field(
        None, ge=1, description="IVF partitions of the ANN index; default: from the row count."
    )
    nprobes: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20,
        ge=1,
        description="IVF partitions an ANN search probes, per vector query (one that finds "
        "fewer than k rows there is redone over every partition). More: higher recall, "
        "slower; at 100k rows, 20 gave recall@10 0.95 by id (1.0 counting tied notes).",
    )
    refine_factor: Annotated[int, Tunable(1, 20, log=True)] = Field(
        5, ge=1, description="Re-rank k × this many ANN candidates with exact distances."
    )


class LanceDBStore(Store):
    """Notes in LanceDB: vector search, BM25 full-text search and scanning."""

    config_model: ClassVar[type[LanceDBStoreConfig]] = LanceDBStoreConfig
    config: LanceDBStoreConfig

    def __init__(self, config: LanceDBStoreConfig) -> None:
        super().__init__(config)
        self._tables: OwnerTables | None = None
        self._schema: Any = None
        self._path = ""
        self._upkeep: dict[str, Upkeep] = {}
        self._pool: Any = None
        """Threads writing (and reading) several owners' tables at once; made when needed."""
        self._known: OrderedDict[str, KnownKeys] = OrderedDict()
        """Per table (the most recently used ones): the keys it may hold, and as of when."""
        self._known_lock = threading.Lock()
        self._defer = False
        """Whether text-index updates wait for :meth:`idle_upkeep` (see :meth:`defer_upkeep`)."""
        self._waiting: dict[str, Any] = {}
        """Tables whose text index waits for :meth:`idle_upkeep`, by name."""

    # ------------------------------------------------------------------ lifecycle

    def open(self, resources: Resources) -> None:
        """Connect to the database and check its tables fit the embedder.

        Raises:
            EvolveLabError: if the tables were built with another embedder or dimension,
                in another layout, or the database cannot be opened.
        """
        super().open(resources)
        # lance logs a warning for every compaction that lost a race with another
        # process's commit, although the store redoes it; set LANCEDB_LOG to see them.
        os.environ.setdefault("LANCEDB_LOG", "error")
        import lancedb

        embedder = resources.embedder
        self._path = self.config.path or str(Path(resources.data_dir) / "lancedb")
        self._schema = rows.schema(embedder.dim, embedder.model_id)
        refresh = timedelta(seconds=self.config.refresh_seconds)
        try:
            session = lancedb.Session(  # bounded caches: see index_cache_mb
                index_cache_size_bytes=self.config.index_cache_mb * 2**20,
                metadata_cache_size_bytes=self.config.metadata_cache_mb * 2**20,
            )
            db = lancedb.connect(self._path, read_consistency_interval=refresh, session=session)
            self._tables = OwnerTables(db, self.config.table, self._schema, self._setup)
            old = rows.one_table_layout(db, self.config.table, self._path, embedder)
            if old is not None:  # written before one table per owner: move its rows
                for table in self._tables.adopt(old, self._path):
                    self._optimize(table, self._state(table))
            for name in self._tables.names(limit=1):
                rows.check_table(db.open_table(name), self._path, embedder)
        except EvolveLabError:
            self._tables = None
            raise
        except Exception as err:
            self._tables = None
            raise EvolveLabError(
                f"cannot open LanceDB tables {self.config.table!r} at {self._path}: {err}"
            ) from err

    def close(self) -> None:
        """Drop the table handles and the worker threads (safe to call twice)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._tables = None
        self._upkeep = {}
        self._known = OrderedDict()
        self._waiting = {}

    # ------------------------------------------------------------------ Store

    def add(self, notes: Sequence[Note]) -> None:
        """Insert or replace ``notes`` by (owner, id); durable and searchable on return.

        Each owner's notes are one atomic upsert into that owner's table; a concurrent
        writer's conflicting commit makes it redo the upsert, never fail or double a row.
        The owners of one call are written side by side (``write_threads``); the call
        returns when every one of them is committed and searchable, its text index updated
        as ``fts_fresh`` says (or left for :meth:`idle_upkeep` after :meth:`defer_upkeep`).
        If one owner's write fails, the others still finish, and the first error is raised.

        Args:
            notes: the notes; those without an embedding are embedded here.

        Raises:
            EvolveLabError: if an embedding has the wrong dimension.
        """
        if not notes:
            return
        by_owner: dict[str, list[Note]] = {}
        for note in self._embedded(notes):
            by_owner.setdefault(rows.owner_key(note.scope), []).append(note)
        # tables are opened (or created) here, one by one; the writes then run side by side
        work = [(self._owner_tables().ensure(owner), group) for owner, group in by_owner.items()]
        self._side_by_side(self._write_owner, work)

    def get_many(self, requests: Sequence[tuple[Sequence[str], Scope]]) -> list[list[Note]]:
        """Answer several :meth:`get` calls with one read per owner's table.

        Requests of one owner (one add's notes fall into one request per session) are
        answered by one look-up of all their ids; different owners' tables are read side
        by side, except those whose known keys say none of the ids is stored (nearly
        every owner of a group commit): they are answered here, with no thread hop.
        Each request still sees only its own scope.
        """
        by_owner: dict[str, list[int]] = {}
        for position, (_, scope) in enumerate(requests):
            by_owner.setdefault(rows.owner_key(scope), []).append(position)
            self._table_of(scope)  # open the tables here, not on the worker threads
        calls = []
        for positions in by_owner.values():
            first = requests[positions[0]][1]
            owner = Scope(user_id=first.user_id, agent_id=first.agent_id)
            ids = [id for position in positions for id in requests[position][0]]
            calls.append((ids, owner))
        asked = [i for i, (ids, owner) in enumerate(calls) if not self._none_stored(ids, owner)]
        found: list[list[Note]] = [[] for _ in calls]
        for i, notes in zip(
            asked, self._side_by_side(self.get, [calls[i] for i in asked]), strict=True
        ):
            found[i] = notes
        answers: list[list[Note]] = [[] for _ in requests]
        for positions, notes in zip(by_owner.values(), found, strict=True):
            by_id = {note.id: note for note in notes}
            for position in positions:
                ids, scope = requests[position]
                answers[position] = [
                    by_id[id]
                    for id in dict.fromkeys(ids)
                    if id in by_id
                    and (scope.session_id is None or by_id[id].scope.session_id == scope.session_id)
                ]
        return answers

    def _side_by_side(self, action: Any, calls: list[tuple[Any, Any]]) -> list[Any]:
        """Run ``action(*call)`` for each call, on up to ``write_threads`` threads.

        Every call runs to its end even if another fails (a committed write stays
        committed); then the first error is raised.
        """
        if len(calls) <= 1 or self.config.write_threads == 1:
            return [action(*call) for call in calls]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(
                self.config.write_threads, thread_name_prefix="lancedb-owner"
            )
        futures = [self._pool.submit(action, *call) for call in calls]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]

    def _write_owner(self, table: Any, group: list[Note]) -> None:
        """Upsert one owner's notes, then the upkeep that keeps them searchable.

        Runs on a worker thread when one add writes several owners: the tables are
        independent, and LanceDB does the work outside the GIL.
        """
        data = rows.notes_to_table(group, self._schema)
        keys = data.column("_key").to_pylist()
        unique = len(set(keys)) == len(keys)

        def upsert(append: bool) -> None:
            if append:  # a merge joins the rows against the table first: twice the work
                table.add(data)
                return
            merge = table.merge_insert("_key").when_matched_update_all()
            merge.when_not_matched_insert_all().execute(data)

        what = f"writing notes of {group[0].scope!r}"
        with insert_lock(self._path, table.name) as count:
            if count is None:  # a URI database: no lock, so no append without a merge
                self._commit(lambda: upsert(False), what)
            else:
                # with the lock held no other insert is under way: keys that are not in
                # the table now cannot be in it when this append commits
                known = self._current_keys(table, count.value)
                if known is not None:
                    append = unique and not known.holds_any(keys)
                else:
                    self._latest(table)
                    append = unique and not self._stored_keys(table, keys)
                after = count.bump()  # before the commit: see _lancedb_inserts
                self._commit(lambda: upsert(append), what)
                if known is not None:
                    known.add(keys, after)
        self._maintain(table, data.num_rows)

    def _latest(self, table: Any) -> None:
        """Bring ``table``'s handle to its newest version (call it with the insert lock held).

        With ``refresh_seconds`` above 0 the handle may not have looked for other
        processes' commits yet; keys read from it for an insert decision (or for the known
        keys, which then count as complete) would miss theirs, and a key missed is a key
        appended twice.
        """
        if self.config.refresh_seconds > 0:
            table.checkout_latest()

    @staticmethod
    def _stored_keys(table: Any, keys: list[str]) -> bool:
        """Return whether ``table`` holds a row with any of these ``_key`` values."""
        listed = ", ".join(f"'{key}'" for key in keys)  # hex digests: nothing to quote
        query = table.search().where(f"_key IN ({listed})").select(["_key"]).limit(1)
        return query.to_arrow().num_rows > 0

    def get(self, ids: Sequence[str], scope: Scope) -> list[Note]:
        """Return the notes with these ids in ``scope``, in the order asked.

        Args:
            ids: note ids; unknown ids and ids outside ``scope`` are skipped.
            scope: whose notes to read.

        Returns:
            The notes found.
        """
        table = self._table_of(scope)
        if not ids or table is None or self._none_stored(ids, scope):
            return []  # new notes, as nearly every added one is: no query
        sql = rows.key_filter(ids, scope)
        found = {n.id: n for n in map(rows.row_to_note, self._read(table, sql))}
        return [found[id] for id in dict.fromkeys(ids) if id in found]

    def _none_stored(self, ids: Sequence[str], scope: Scope) -> bool:
        """Return whether ``scope``'s owner surely holds none of ``ids`` (no query)."""
        table = self._table_of(scope)
        if table is None:
            return True
        known = self._known_keys(table)
        return known is not None and not known.holds_any(rows.note_key(scope, id) for id in ids)

    def _known_keys(self, table: Any) -> KnownKeys | None:
        """Return the keys ``table`` may hold, read once and then kept up to date.

        ``None`` for a URI database (no insert count), and when another process inserted
        into this table since: its keys are read again on every ``_RELOAD_READS``-th
        read only, so a table another process keeps writing is asked per read (as
        without known keys) instead of being re-read whole each time.
        """
        count = insert_count(self._path, table.name)
        if count is None:
            return None
        known = self._current_keys(table, count)
        if known is not None:
            return known
        with self._known_lock:
            stale = self._known.get(table.name)
        if stale is not None and stale.stale_reads < _RELOAD_READS:
            stale.stale_reads += 1
            return None
        return self._read_keys(table)

    def _read_keys(self, table: Any, created: bool = False) -> KnownKeys | None:
        """Read every key of ``table`` (its insert lock held, so none is on its way in).

        A table this process just ``created`` is counted instead: empty unless another
        process was quick to write it, and then read as any other. ``None`` where the lock
        cannot be opened (a reader on a read-only mount): every read then asks LanceDB.
        """
        with contextlib.ExitStack() as stack:
            try:
                held = stack.enter_context(insert_lock(self._path, table.name))
            except OSError as err:
                _log.debug("keys of %s not kept: no insert lock (%s)", table.name, err)
                return None
            if held is None:
                return None
            self._latest(table)
            if created and not table.count_rows():
                known = KnownKeys(held.value)
            else:
                known = KnownKeys.read(table, held.value)
        with self._known_lock:
            self._known[table.name] = known
            self._known.move_to_end(table.name)
            while len(self._known) > _KNOWN_TABLES:
                self._known.popitem(last=False)
        return known

    def _current_keys(self, table: Any, count: int) -> KnownKeys | None:
        """Return the kept keys of ``table`` if they are complete at insert count ``count``."""
        with self._known_lock:
            known = self._known.get(table.name)
            if known is None or known.count != count:
                return None
            self._known.move_to_end(table.name)
            return known

    @staticmethod
    def _read(table: Any, sql: str) -> list[dict[str, Any]]:
        """Return every column of the rows matching ``sql``, in two steps.

        A filtered read of every column pays for every column of each data file the
        indexes do not cover yet (the files written since the last maintenance): about
        twice the cost of finding the rows by their key column and then taking just those
        rows by row id (none found, as for new notes: one cheap step). If the table was
        compacted between the two steps, row ids moved; the taken rows then do not match
        the keys found, and the rows are read the plain way instead.
        """
        found = table.search().where(sql).select(["_key"]).with_row_id(True).limit(None)
        hits = found.to_arrow()
        if hits.num_rows == 0:
            return []
        try:
            taken = table.take_row_ids(hits.column("_rowid").to_pylist()).to_arrow()
        except Exception:  # noqa: BLE001 - ids moved by a compaction: read the plain way
            taken = None
        if taken is None or sorted(taken.column("_key").to_pylist()) != sorted(
            hits.column("_key").to_pylist()
        ):
            return table.search().where(sql).limit(None).to_arrow().to_pylist()
        return taken.to_pylist()

    def delete(self, ids: Sequence[str], scope: Scope) -> int:
        """Delete the notes with these ids in ``scope``.

        Args:
            ids: note ids to delete.
            scope: whose notes to delete.

        Returns:
            How many notes were deleted.
        """
        table = self._table_of(scope)
        if not ids or table is None:
            return 0
        sql = rows.key_filter(ids, scope)
        result = self._commit(lambda: table.delete(sql), f"deleting notes of {scope!r}")
        self._maintain(table, 0)
        return int(result.num_deleted_rows)

    def count(self, scope: Scope) -> int:
        """Return how many notes ``scope`` holds, valid or not."""
        table = self._table_of(scope)
        return 0 if table is None else int(table.count_rows(rows.scope_filter(scope)))

    # ------------------------------------------------------------------ capabilities

    def scan(self, scope: Scope, where: Where) -> Iterator[Note]:
        """Yield every note in ``scope`` passing ``where`` (streamed in batches)."""
        table = self._table_of(scope)
        if table is None:
            return
        if scope.session_id is not None:  # a session is small: find, then take (see _read)
            yield from map(rows.row_to_note, self._read(table, rows.where_filter(scope, where)))
            return
        query = table.search().where(rows.where_filter(scope, where)).limit(None)
        for batch in query.to_batches(1024):
            for row in batch.to_pylist():
                yield rows.row_to_note(row)

    def search_vectors(
        self, vector: Sequence[float] | np.ndarray, k: int, scope: Scope, where: Where
    ) -> list[Hit]:
        """Return the ``k`` notes most cosine-similar to ``vector``, best first.

        Filters are applied before the nearest-neighbour search (prefilter).

        Args:
            vector: the query vector.
            k: how many hits at most.
            scope: whose notes to search.
            where: filters applied before ranking.

        Returns:
            Hits on channel ``vector``; ``score`` is cosine similarity (1 - distance).

        Raises:
            EvolveLabError: if ``vector`` has the wrong dimension.
        """
        query_vector = self.resources.query_vector(vector)
        table = self._table_of(scope)
        if table is None:
            return []
        return search.vector_hits(
            table,
            query_vector,
            k,
            rows.where_filter(scope, where),
            nprobes=self.config.nprobes,
            refine_factor=self.config.refine_factor,
            table_rows=self._state(table).size,
        )

    def search_text(
        self, text: str, k: int, scope: Scope, where: Where, field: TextField = "index"
    ) -> list[Hit]:
        """Return the ``k`` best BM25 matches for ``text``, best first.

        The query's words are OR-ed; query syntax (quotes, operators, fields) is read as
        plain words. Filters are applied before ranking (prefilter). Statistics come from
        the owner's notes only. The ``content`` field gets its own full-text index the
        first time it is searched (a one-time index build, not maintenance).

        Args:
            text: the query.
            k: how many hits at most.
            scope: whose notes to search.
            where: filters applied before ranking.
            field: ``index`` searches each note's ``search_text``, ``content`` its content.

        Returns:
            Hits on channel ``bm25``; ``score`` is LanceDB's BM25 score.
        """
        table = self._table_of(scope)
        if table is None or not any(char.isalnum() for char in text):
            return []
        column = rows.CONTENT if field == "content" else rows.SEARCH_TEXT
        state = self._state(table)
        if field == "content" and column not in state.text_columns:
            if lancedb_index.find(table, column) is None:
                self._commit(lambda: self._text_index(table, column), "building the content index")
            state.text_columns = (*state.text_columns, column)
        return search.text_hits(table, text, column, k, rows.where_filter(scope, where))

    # ------------------------------------------------------------------ internals

    def _owner_tables(self) -> OwnerTables:
        if self._tables is None:
            raise EvolveLabError("LanceDBStore used before open() or after close()")
        return self._tables

    def _table_of(self, scope: Scope) -> Any | None:
        return self._owner_tables().find(rows.owner_key(scope))

    def _commit(self, action: Any, what: str) -> Any:
        return retry_commit(action, what, attempts=self.config.commit_retries)

    def _state(self, table: Any) -> Upkeep:
        return self._upkeep.setdefault(table.name, Upkeep())

    def _embedded(self, notes: Sequence[Note]) -> list[Note]:
        """Return ``notes`` with embeddings filled in and checked against the embedder."""
        embedder = self.resources.embedder
        out = self.resources.embed_missing(notes)
        for note in out:
            assert note.embedding is not None
            if len(note.embedding) != embedder.dim:
                raise EvolveLabError(
                    f"note {note.id!r} has a {len(note.embedding)}-dimensional embedding; "
                    f"this store holds {embedder.dim}-dimensional vectors of "
                    f"{embedder.model_id}"
                )
        return out

    def _setup(self, table: Any, created: bool) -> None:
        """Check a table this process opens first; give it its indexes if it lacks them."""
        state = self._state(table)
        if created:  # no index to look for: build them, and know it is empty
            self._commit(lambda: self._text_index(table, rows.SEARCH_TEXT), "text index")
            for column in _SCALAR:
                self._commit(lambda c=column: lancedb_index.btree(table, c), "key index")
            state.text_columns = (rows.SEARCH_TEXT,)
            known = self._read_keys(table, created=True)
            state.size = len(known) if known is not None else int(table.count_rows())
            return
        rows.check_table(table, self._path, self.resources.embedder)
        state.vector_index = lancedb_index.find(table, rows.VECTOR) is not None
        wanted = lancedb_index.text_settings(self.config)
        index = lancedb_index.find(table, rows.SEARCH_TEXT)
        if index is None or not lancedb_index.has_settings(index, wanted):
            self._commit(lambda: self._text_index(table, rows.SEARCH_TEXT), "text index")
        for column in _SCALAR:  # missing only if its creator died before adding them
            if lancedb_index.find(table, column) is None:
                self._commit(lambda c=column: lancedb_index.btree(table, c), "key index")
        self._look(table, state)

    def _look(self, table: Any, state: Upkeep) -> None:
        """Count the table's rows and list its full-text indexes into ``state``."""
        state.size = int(table.count_rows())
        state.text_columns = tuple(
            column
            for column in (rows.SEARCH_TEXT, rows.CONTENT)
            if lancedb_index.find(table, column) is not None
        )

    def _text_index(self, table: Any, column: str) -> None:
        lancedb_index.build_text(table, column, self.config)

    def _maintain(self, table: Any, written: int) -> None:
        """Upkeep after a committed write; if it keeps conflicting, defer it to the next.

        The write is durable already, so upkeep that other writers starve (every retry
        lost a commit race) must not fail it: it is logged and tried again next write.
        """
        state = self._state(table)
        state.wrote(written)
        try:
            self._upkeep_after_write(table, state, written)
        except EvolveLabError as err:
            _log.warning("upkeep of LanceDB table %s deferred to the next write: %s",
                         table.name, err)  # fmt: skip

    def _upkeep_after_write(self, table: Any, state: Upkeep, written: int) -> None:
        """Keep indexes current; compact on a schedule; build the ANN index when due.

        Costs that grow with the table run once per a share of it written, so their cost
        per written row stays flat as it grows (see :mod:`._lancedb_upkeep`).
        """
        embedder = self.resources.embedder
        if (
            not state.vector_index
            and written
            and embedder.vector_search
            and state.size >= self.config.index_threshold
        ):
            state.size = int(table.count_rows())  # the estimate is an upper bound
            config = lancedb_index.vector_config(embedder, state.size, self.config)
            if config is not None:
                self._commit(lambda: lancedb_index.build_vector(table, config), "ANN index")
                state.vector_index = True
                state.trained = state.size
                self._optimize(table, state)
                return
        upkeep = due(state, self.config)
        if upkeep == "maintain":
            self._waiting.pop(table.name, None)  # maintenance folds the rows in
            self._optimize(table, state)
        elif upkeep == "text" and self._defer:
            self._waiting[table.name] = table
        elif upkeep == "text":
            self._update_text(table, state)

    def _update_text(self, table: Any, state: Upkeep) -> None:
        for column in state.text_columns:
            self._commit(lambda c=column: self._text_index(table, c), "text index")
        state.unindexed = 0

    # ------------------------------------------------------------------ IdleUpkeep

    def defer_upkeep(self) -> None:
        """Leave the text-index updates due after writes for :meth:`idle_upkeep`.

        A served memory's writer calls this: an index update per owner table and commit
        is about as much CPU as the write itself, and the writer has idle moments to
        spend instead. Until an update runs, a note is still found as soon as ``add``
        returns: LanceDB searches the rows its index has not seen without the index
        (their scores are exact; those of the indexed rows leave the unseen rows out of
        the corpus statistics, a difference of a few percent at most for a few writes).
        Maintenance still runs on its schedule in the write (``reindex_writes``), which
        folds every row into the index, so the lag stays bounded under endless load.
        """
        self._defer = True

    def idle_upkeep(self) -> bool:
        """Update the text index of one table that waits for it; return whether more wait."""
        if not self._waiting:
            return False
        name = next(iter(self._waiting))
        table = self._waiting.pop(name)
        state = self._state(table)
        if state.unindexed:  # maintenance may have folded the rows in since
            try:
                self._update_text(table, state)
            except EvolveLabError as err:  # conflicts starved it: the next write retries
                _log.warning("text index update of %s deferred: %s", name, err)
        return bool(self._waiting)

    def _optimize(self, table: Any, state: Upkeep) -> None:
        """Compact files, fold new rows into every index, prune old versions.

        Then keep the ANN index in one piece (see :func:`._lancedb_upkeep.ann_upkeep`):
        retrain it when its segments pile up or the table has doubled, so that the next
        compaction can merge every data file it covers.
        """
        keep = timedelta(minutes=self.config.keep_versions_minutes)
        self._commit(lambda: table.optimize(cleanup_older_than=keep), "compacting")
        state.rows = state.writes = state.unindexed = 0
        self._look(table, state)
        if state.vector_index:
            self._keep_ann_index(table, state)

    def _keep_ann_index(self, table: Any, state: Upkeep) -> None:
        """Retrain ``table``'s ANN index where its upkeep is due.

        Raises:
            EvolveLabError: if that failed; :meth:`_maintain` defers it to the next
                maintenance (the write is durable already, and the index still serves).
        """
        index = lancedb_index.find(table, rows.VECTOR)
        if index is None:  # dropped by another process: the threshold builds it again
            state.vector_index = False
            return
        state.trained = state.trained or state.size  # built before this process saw it
        segments = getattr(index, "num_segments", None) or 1
        if not ann_upkeep(segments, state.size, state.trained, self.config):
            return
        config = lancedb_index.vector_config(self.resources.embedder, state.size, self.config)
        judged = getattr(index, "index_uuid", None)

        def retrain() -> None:
            # first, and on every retry after a conflict: another process may have
            # retrained the index since it was judged (a new index has a new id; the
            # segments maintenance adds keep the first one's): then that one serves
            self._latest(table)
            now = lancedb_index.find(table, rows.VECTOR)
            if now is not None and getattr(now, "index_uuid", None) == judged:
                lancedb_index.build_vector(table, config)

        try:
            if config is not None:  # None: shrunk below the threshold; keep the index
                self._commit(retrain, "ANN index")
                state.trained = state.size
        except EvolveLabError:
            raise
        except Exception as err:  # any failure: never fail the committed write
            raise EvolveLabError(f"upkeep of the ANN index of {table.name}: {err}") from err
