"""One LanceDB table per memory owner, opened or created safely from several processes.

A LanceDB store keeps each owner's notes (``user_id`` + ``agent_id``, the tenancy unit)
in a table of its own, named ``<table>-<owner key>``. Full-text statistics (document
count, average length, document frequency), index sizes and maintenance cost are then
per owner: one user's notes never move another user's BM25 scores, and a search in a
small memory never pays for a big one.

Several processes may write one database. Two things make that safe:

* **create-or-open**: a table that does not exist yet is created with its primary key
  (``_key``) and its full-text index; a process that loses the race to create it opens
  the winner's table instead of failing with "already exists".
* **commit retries**: LanceDB commits optimistically and reports a conflicting concurrent
  commit as ``Retryable commit conflict ... Please retry``. Every write here (upserts,
  deletes, index updates, compaction) is idempotent and is retried with jittered
  exponential backoff, so conflicts never reach the caller. The unenforced primary key
  makes concurrent upserts of the same note see each other (without it two processes
  inserting one id both insert it).
* **one insert at a time per table** on a local disk
  (:func:`~evolvelab.modules.store._lancedb_inserts.insert_lock`): the primary key alone
  still let two processes inserting the same new id both keep it, so inserts into one
  owner's table take an exclusive file lock beside the database, which also counts them.

lancedb is never imported here; the caller hands in the connection.
"""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from evolvelab.errors import EvolveLabError
from evolvelab.modules.store._lancedb_inserts import insert_lock

__all__ = ["OwnerTables", "fixed_schema", "is_retryable", "retry_commit"]

T = TypeVar("T")

_RETRYABLE = ("Retryable commit conflict", "commit conflict", "Please retry")
"""Phrases LanceDB (lance) uses for a commit that lost a race and may simply be redone."""
_EXISTS = ("already exists",)


_FIXED: dict[type, type] = {}


def fixed_schema(table: Any) -> Any:
    """Make ``table`` fetch its schema once, not on every query (returns ``table``).

    LanceDB 0.40 asks the dataset for its schema (the latest version's manifest) two or
    three times while it builds each query (``_blob_auto_row_id_enabled`` and the blob
    projection checks): about 0.3 ms of CPU each on a small table, some 5 % of a served
    memory's time under load. An owner table's schema never changes once created (the
    store adds no columns, and :func:`~._lancedb_schema.check_table` refuses a table of
    another layout when it is opened), so the first answer is kept on the table handle.
    """
    cls = type(table)
    if cls in _FIXED.values():
        return table
    fixed = _FIXED.get(cls)
    if fixed is None:
        fetch = cls.schema.fget

        def schema(self: Any) -> Any:
            kept = self.__dict__.get("_evolvelab_schema")
            if kept is None:
                kept = self.__dict__["_evolvelab_schema"] = fetch(self)
            return kept

        fixed = _FIXED[cls] = type(cls.__name__, (cls,), {"schema": property(schema)})
    table.__class__ = fixed
    return table


def is_retryable(err: BaseException) -> bool:
    """Return whether ``err`` is a commit conflict that redoing the write resolves."""
    text = str(err)
    return any(phrase in text for phrase in _RETRYABLE)


def retry_commit(
    action: Callable[[], T],
    what: str,
    *,
    attempts: int = 12,
    first_delay: float = 0.005,
    max_delay: float = 0.5,
) -> T:
    """Run ``action``, redoing it after retryable commit conflicts (jittered backoff).

    Args:
        action: an idempotent write (upsert, delete, index update, compaction).
        what: what it does, for the error message.
        attempts: tries in all.
        first_delay: upper bound of the first sleep in seconds; it doubles per try.
        max_delay: the most one sleep may last.

    Returns:
        What ``action`` returned.

    Raises:
        EvolveLabError: if every try conflicted (other errors pass through unchanged).
    """
    for attempt in range(attempts):
        try:
            return action()
        except Exception as err:
            if not is_retryable(err):
                raise
            if attempt == attempts - 1:
                raise EvolveLabError(
                    f"{what}: LanceDB commit still conflicting after {attempts} tries; "
                    "other processes keep writing this table — retry later"
                ) from err
            time.sleep(random.uniform(0.0, min(max_delay, first_delay * 2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


class OwnerTables:
    """Open, create and cache the per-owner tables of one LanceDB database.

    Args:
        db: a LanceDB connection.
        prefix: the store's ``table`` setting; tables are ``<prefix>-<owner key>``.
        schema: the schema new tables get (primary key and metadata included).
        setup: called on every table when this process first opens or creates it
            (checks the embedder, creates missing indexes); it may raise.
        cache_size: how many open table handles to keep.
    """

    def __init__(
        self,
        db: Any,
        prefix: str,
        schema: Any,
        setup: Callable[[Any, bool], None],
        cache_size: int = 256,
    ) -> None:
        self._db = db
        self._prefix = prefix
        self._schema = schema
        self._setup = setup
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size
        self._owned = re.compile(re.escape(prefix) + "-[0-9a-f]{32}")

    def name(self, owner: str) -> str:
        """Return the table name of ``owner`` (its hex owner key)."""
        return f"{self._prefix}-{owner}"

    def find(self, owner: str) -> Any | None:
        """Return ``owner``'s table, or ``None`` if it has none yet (never creates one)."""
        table = self._cached(owner)
        if table is not None:
            return table
        try:
            table = self._db.open_table(self.name(owner))
        except ValueError:  # lancedb: "Table ... was not found"
            return None
        return self._remember(owner, table, created=False)

    def ensure(self, owner: str) -> Any:
        """Return ``owner``'s table, creating it (idempotently) if it does not exist."""
        table = self.find(owner)
        if table is not None:
            return table
        name = self.name(owner)
        try:
            table = self._db.create_table(name, schema=self._schema)
        except Exception as err:
            if not any(phrase in str(err) for phrase in _EXISTS) and not is_retryable(err):
                raise
            table = self._db.open_table(name)  # another process created it first
            return self._remember(owner, table, created=False)
        return self._remember(owner, table, created=True)

    def names(self, limit: int = 64) -> list[str]:
        """Return up to ``limit`` names of this store's owner tables."""
        found: list[str] = []
        token: str | None = None
        while len(found) < limit:
            page = self._db.list_tables(page_token=token, limit=1000)
            found += [n for n in page.tables if self._owned.fullmatch(n)]
            token = page.page_token
            if not token:
                break
        return found[:limit]

    def adopt(self, old: Any, database: str, batch_rows: int = 4096) -> list[Any]:
        """Move the rows of a one-table store (layout 2) into per-owner tables; drop it.

        Rows are streamed, never loaded whole, and upserted by key, so a migration that
        is interrupted (or run by two processes at once) is finished by the next open
        without doubling a row. Each owner's table gets its indexes as usual.

        Args:
            old: the old table; its columns must be this store's columns.
            database: the database directory or URI (for the tables' insert locks).
            batch_rows: rows read per step.

        Returns:
            The owner tables that received rows (their indexes need an update).
        """
        import pyarrow as pa

        moved: dict[str, Any] = {}
        for batch in old.search().limit(None).to_batches(batch_rows):
            owners = batch.column("_owner").to_pylist()
            for owner in dict.fromkeys(owners):
                keep = pa.array([o == owner for o in owners])
                part = pa.Table.from_batches([batch.filter(keep)])
                data = pa.Table.from_arrays(
                    [part.column(f.name) for f in self._schema], schema=self._schema
                )
                table = self.ensure(owner)
                with insert_lock(database, table.name) as count:
                    if count is not None:
                        count.bump()  # other processes' known keys are out of date
                    retry_commit(
                        lambda t=table, d=data: (
                            t.merge_insert("_key")
                            .when_matched_update_all()
                            .when_not_matched_insert_all()
                            .execute(d)
                        ),
                        f"moving notes into {table.name}",
                    )
                moved[table.name] = table
        with contextlib.suppress(ValueError, FileNotFoundError):
            self._db.drop_table(old.name)
        return list(moved.values())

    def _cached(self, owner: str) -> Any | None:
        table = self._cache.get(owner)
        if table is not None:
            self._cache.move_to_end(owner)
        return table

    def _remember(self, owner: str, table: Any, *, created: bool) -> Any:
        table = fixed_schema(table)
        self._setup(table, created)
        self._cache[owner] = table
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return table
