"""Inserts into an owner table: one at a time across processes, and counted.

Two things a write to an owner table needs to know cheaply:

* **no two inserts of one key at once**: LanceDB's unenforced primary key alone still let
  two processes inserting the same new id both keep it (about one run in four of the
  three-writer test), so inserts into one table take an exclusive file lock beside the
  database (:func:`insert_lock`). Other writes, reads and other owners' tables never wait.
* **which keys the table holds**: every add reads the stored versions of its notes (to
  keep what memory learned about a re-ingested one) and must not append a key that is
  there already. Asking LanceDB costs a query per owner table and add (about 6 ms of CPU
  at a few hundred rows, growing with the files written since the last compaction),
  although nearly every added note is new. A process that knows every key it and the
  others inserted answers "none of these is stored" from memory (:class:`KnownKeys`).

The lock file holds an **insert count**: every insert under the lock adds one to it
*before* it commits. A process's :class:`KnownKeys` records the count it is complete for;
while the file still holds that count, no other process inserted since, so a key it does
not know is not in the table. Bumping before the commit errs the safe way: a writer that
dies between the two leaves a count that only makes others look again. A key the set
holds may still be absent (deleted since, or a hash collision): that only costs the look
it would have cost anyway. A database behind a URI (``s3://…``) has no local file to lock
or count: there the primary key, commit retries and a look per add are all there is.

numpy is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["InsertCount", "KnownKeys", "insert_count", "insert_lock"]

_COUNT_BYTES = 8


def _lock_path(database: str, table: str) -> Path:
    return Path(database) / ".locks" / f"{table}.lock"


class InsertCount:
    """The insert count of one table, read and bumped while its insert lock is held."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.value = _read_count(fd)
        """The count when the lock was taken (inserts that ever began on this table)."""

    def bump(self) -> int:
        """Count one insert about to be committed; return the new count."""
        self.value += 1
        os.pwrite(self._fd, self.value.to_bytes(_COUNT_BYTES, "little"), 0)
        return self.value


def _read_count(fd: int) -> int:
    data = os.pread(fd, _COUNT_BYTES, 0)
    return int.from_bytes(data, "little") if len(data) == _COUNT_BYTES else 0


@contextlib.contextmanager
def insert_lock(database: str, table: str) -> Iterator[InsertCount | None]:
    """Hold an exclusive lock on ``table``'s inserts across processes (local paths only).

    The lock is ``<database>/.locks/<table>.lock`` (``flock``, released when the holder
    exits, however it exits); its first bytes are the table's insert count.

    Args:
        database: the database directory or URI.
        table: the table whose inserts are serialised.

    Yields:
        The table's :class:`InsertCount` (``None`` for a URI database: nothing to lock).
    """
    if "://" in database:
        yield None
        return
    import fcntl

    path = _lock_path(database, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield InsertCount(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def insert_count(database: str, table: str) -> int | None:
    """Return ``table``'s insert count without locking (``None`` for a URI database).

    An insert under way elsewhere has bumped it already if it has committed.
    """
    if "://" in database:
        return None
    try:
        fd = os.open(_lock_path(database, table), os.O_RDONLY)
    except FileNotFoundError:
        return 0
    try:
        return _read_count(fd)
    finally:
        os.close(fd)


def _hash(key: str) -> int:
    """The first 64 bits of a hex row key (keys are blake2b digests: evenly spread)."""
    return int(key[:16], 16)


class KnownKeys:
    """Every key an owner table may hold, as of one insert count.

    Hashes are kept (8 bytes a key in a sorted array, plus a small set of the newest), so
    a table of a million notes costs about 8 MB. May hold keys the table no longer has;
    never misses one it has while ``count`` is current.

    Args:
        count: the table's insert count the keys are complete for.
        keys: the table's keys (hex digests) at that count.

    Example:
        >>> known = KnownKeys(3, ["0f" * 16])
        >>> known.holds_any(["0f" * 16, "a0" * 16]), known.holds_any(["a0" * 16])
        (True, False)
        >>> known.add(["a0" * 16], count=4); known.holds_any(["a0" * 16]), known.count
        (True, 4)
    """

    _MERGE_AT = 1024
    """Newest hashes kept in a set before they are merged into the sorted array."""

    def __init__(self, count: int, keys: Iterable[str] = ()) -> None:
        import numpy as np

        self.count = count
        hashes = np.fromiter((_hash(key) for key in keys), dtype=np.uint64)
        self._sorted = np.unique(hashes)
        self._recent: set[int] = set()
        self.stale_reads = 0
        """Reads answered without these keys since another process's insert (the
        store's business: when to read them again)."""

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def holds_any(self, keys: Iterable[str]) -> bool:
        """Return whether the table may hold any of ``keys``."""
        import numpy as np

        hashes = [_hash(key) for key in keys]
        if not hashes:
            return False
        # one look at each: a reader thread may ask while the writer's add merges (it
        # replaces the array before it empties the set, so no key is ever out of both)
        recent, ordered = self._recent, self._sorted
        if not recent.isdisjoint(hashes):
            return True
        if not len(ordered):
            return False
        wanted = np.array(hashes, dtype=np.uint64)
        at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
        return bool((ordered[at] == wanted).any())

    def add(self, keys: Iterable[str], count: int) -> None:
        """Record keys inserted by this process's insert that made the count ``count``."""
        import numpy as np

        self._recent.update(_hash(key) for key in keys)
        self.count = count
        if len(self._recent) > max(self._MERGE_AT, len(self._sorted) // 8):
            merged = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
            self._sorted = np.union1d(self._sorted, merged)
            self._recent = set()

    @staticmethod
    def read(table: Any, count: int, batch_rows: int = 65536) -> KnownKeys:
        """Read every key of ``table`` (one column, streamed) as of insert count ``count``.

        Call it with the table's insert lock held, so no insert is under way.
        """
        keys: list[str] = []
        query = table.search().select(["_key"]).limit(None)
        for batch in query.to_batches(batch_rows):
            keys.extend(batch.column("_key").to_pylist())
        return KnownKeys(count, keys)
