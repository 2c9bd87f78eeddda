"""The event log: what a served memory lived through, append-only, the source of truth.

Notes are what one pipeline derives from events; the log keeps the events themselves
(and the queries, outcomes, corrections, deletions and erasures that followed), so any
other pipeline can be rebuilt from it and evolution can train on it. One log per memory,
a JSON-lines file under ``<data dir>/eventlog/``::

    {"seq": 1, "at": "...", "op": "add", "scope": {"user_id": "ana"}, "events": [...]}
    {"seq": 2, "at": "...", "op": "query", "scope": {...}, "id": "q_...", "text": "..."}
    {"seq": 3, "at": "...", "op": "delete", "scope": {...}, "note_ids": [...], "source_ids": [...]}

Durability: :meth:`EventLog.append` writes and ``fsync``\\ s before it returns, so an
entry that was acknowledged survives a crash (a new log's name is made durable too, by an
``fsync`` of its folder when it is created); a torn last line (a crash mid-write, never
acknowledged) is cut off when the log is opened. The ``applied`` file next to the log
records the last entry the stores have absorbed; entries after it are replayed on open.

Erasure really erases: :meth:`EventLog.rewrite` writes the log again without the erased
content (into a temporary file, ``fsync``, atomic rename), keeping only a content-free
record that the erasure happened.

The entries themselves (one model per ``op``) are defined in :mod:`evolvelab._log_entries`
and exported from here.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Self

from pydantic import ValidationError

from evolvelab._log_entries import (
    ENTRY,
    AddEntry,
    DeleteEntry,
    Entry,
    ForgetEntry,
    LogEntry,
    LogFailure,
    NoteVersion,
    OutcomeEntry,
    OwnerPattern,
    QueryEntry,
    UpdateEntry,
    VoidEntry,
)
from evolvelab.errors import EvolveLabError
from evolvelab.types import Scope

__all__ = [
    "AddEntry", "DeleteEntry", "EventLog", "ForgetEntry", "LogEntry", "LogFailure", "LogSnapshot", "NoteVersion",
    "OutcomeEntry", "OwnerPattern", "QueryEntry", "UpdateEntry", "VoidEntry", "take_writer_lock",
]  # fmt: skip

LOG_FILE = "log.jsonl"
APPLIED_FILE = "applied"
LOCK_FILE = "writer.lock"




def _fsync_dir(directory: Path) -> None:
    """Make the names in ``directory`` (a new or renamed file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def take_writer_lock(directory: Path) -> Any:
    """Lock ``directory/writer.lock`` for this process (the one writer of a data folder).

    ``evolvelab serve`` and ``mcp`` hold it through their event log; ``evolvelab run``
    holds it while it writes, so neither writes a folder the other is writing.

    Returns:
        The open lock file: closing it lets another process write.

    Raises:
        EvolveLabError: naming the process that holds the lock.
    """
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    handle = (directory / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise EvolveLabError(
            f"the event log in {directory} is in use by {holder}: one process writes "
            "a data folder (stop it, or serve another folder)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def _update_key(entry: UpdateEntry) -> tuple[str | None, str | None, str]:
    return entry.scope.user_id, entry.scope.agent_id, entry.note_id


class EventLog:
    """An append-only, fsync-on-append JSON-lines log in a directory.

    Thread-safe: appends, rewrites and reads may come from several threads.

    Args:
        directory: where ``log.jsonl`` and ``applied`` live (created on open).
        fsync: ``False`` only for tests that measure without durability.
    """

    def __init__(self, directory: str | Path, *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOG_FILE
        self._fsync = fsync
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()
        """Held while fsyncing, and while the file is swapped or closed, never with an fsync
        under ``_lock``: a query appended while a commit's fsync runs does not wait for it."""
        self._file: object | None = None
        self._next = 1
        self._applied = 0
        self._applied_fd: int | None = None
        self._unapplied: int | None = None
        self._updates: dict[tuple[str | None, str | None, str], list[UpdateEntry]] | None = None
        self.torn_bytes = 0
        """Bytes of a torn last line cut off when the log was opened (0: none)."""

    # lifecycle -----------------------------------------------------------------------

    def open(self) -> EventLog:
        """Create or open the log; cut off a torn last line; return ``self``.

        Raises:
            EvolveLabError: if the directory cannot be created or a complete line is corrupt.
        """
        with self._lock:
            if self._file is not None:
                return self
            try:
                created = not self.directory.exists()
                self.directory.mkdir(parents=True, exist_ok=True)
                self._take_writer_lock()
                if not self.path.exists():
                    self.path.touch()
                    created = True
                if created and self._fsync:  # the new file's name must survive a crash too
                    _fsync_dir(self.directory)
                    _fsync_dir(self.directory.parent)
                self._cut_torn_tail()
                self._next = self._last_seq() + 1
                self._applied = self._read_applied()
                self._applied_fd = os.open(self.directory / APPLIED_FILE, os.O_RDWR | os.O_CREAT, 0o644)
                self._file = self.path.open("ab", buffering=0)  # each append: one write
            except OSError as err:
                self._release_writer_lock()
                raise EvolveLabError(f"cannot open the event log in {self.directory}: {err}") from err
            except BaseException:
                self._release_writer_lock()
                raise
            return self

    def close(self) -> None:
        """Close the file and let another process write (idempotent)."""
        with self._lock, self._sync_lock:
            if self._file is not None:
                self._file.close()  # type: ignore[attr-defined]
                self._file = None
            self._release_writer_lock()

    def _read_applied(self) -> int:
        """Return the ``seq`` in the ``applied`` file (0: none, or unreadable).

        The mark is written in place without ``fsync``; if a crash left it unreadable,
        every entry is replayed, which is safe because replay is idempotent.
        """
        try:
            text = (self.directory / APPLIED_FILE).read_bytes().decode("ascii").strip()
            return min(int(text or 0), self._next - 1)
        except FileNotFoundError:
            return 0
        except (UnicodeDecodeError, ValueError):
            return 0

    def _take_writer_lock(self) -> None:
        """Hold an exclusive lock on ``writer.lock``: one writing process per log.

        Raises:
            EvolveLabError: naming the process that holds it.
        """
        self._lock_handle = take_writer_lock(self.directory)

    def _release_writer_lock(self) -> None:
        if self._applied_fd is not None:  # opened after the lock (a failed open leaves it)
            os.close(self._applied_fd)
            self._applied_fd = None
        handle = getattr(self, "_lock_handle", None)
        if handle is not None:
            handle.close()  # closing drops the flock
            self._lock_handle = None

    def _last_seq(self) -> int:
        """Return the ``seq`` of the last line, reading the file backwards (0: empty)."""
        with self.path.open("rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            tail, position = b"", end
            while position > 0:
                step = min(65536, position)
                position -= step
                handle.seek(position)
                tail = handle.read(step) + tail
                start = tail.rstrip(b"\n").rfind(b"\n")
                if start >= 0 or position == 0:
                    line = tail[start + 1 :].strip()
                    break
            else:
                return 0
        if not line:
            return 0
        try:
            return int(json.loads(line)["seq"])
        except (ValueError, KeyError, TypeError) as err:
            raise EvolveLabError(f"{self.path}: corrupt last event log entry: {err}") from err

    def _cut_torn_tail(self) -> None:
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        self.torn_bytes = len(data) - keep
        with self.path.open("r+b") as handle:
            handle.truncate(keep)
            os.fsync(handle.fileno())

    # writing ---------------------------------------------------------------------------

    def append(self, entries: Sequence[Entry], *, durable: bool = True) -> list[Entry]:
        """Assign sequence numbers, write ``entries`` and (``durable``) fsync before returning.

        Returns:
            The entries as written, with their ``seq``.

        Raises:
            LogFailure: the file could not be written (a full disk, say); whatever part of
                the entries reached it is cut off again, so the log stays readable and
                the next append follows the last whole entry.
        """
        if not entries:
            return []
        with self._lock:
            if self._file is None:
                raise EvolveLabError("event log used before open() or after close()")
            first = self._next
            written = []
            lines = []
            for entry in entries:
                entry = entry.model_copy(update={"seq": self._next})
                self._next += 1
                written.append(entry)
                lines.append(entry.model_dump_json(exclude_defaults=False) + "\n")
            self._write_whole("".join(lines).encode("utf-8"), first)
            if self._updates is not None:
                for entry in written:
                    if isinstance(entry, UpdateEntry):
                        self._updates.setdefault(_update_key(entry), []).append(entry)
        if durable:
            self.sync()
        return written

    def _write_whole(self, payload: bytes, first: int) -> None:
        """Write ``payload`` at the end of the log, all of it or none (under ``_lock``)."""
        handle: Any = self._file
        fd = handle.fileno()
        start = os.lseek(fd, 0, os.SEEK_END)
        view = memoryview(payload)
        try:
            while view:
                view = view[handle.write(view) :]  # a full disk may take only a part
        except OSError as err:
            self._next = first  # nothing of these entries is in the log
            try:
                os.ftruncate(fd, start)
            except OSError as again:
                raise LogFailure(
                    f"cannot append to {self.path} ({err}), nor cut off the part written "
                    f"({again})"
                ) from err
            raise LogFailure(f"cannot append to {self.path} ({err}); the log is unchanged") from err

    def sync(self) -> None:
        """Make every appended entry durable (for entries appended with ``durable=False``).

        Runs outside the append lock: other appends go on while the disk syncs. The file
        it syncs holds every entry appended before the call (a rewrite swaps in a file
        that is synced already, and cannot swap while this runs).
        """
        if not self._fsync:
            return
        with self._sync_lock:
            handle = self._file
            if handle is None:
                raise EvolveLabError("event log used before open() or after close()")
            os.fsync(handle.fileno())  # type: ignore[attr-defined]

    @property
    def applied(self) -> int:
        """The last ``seq`` the stores have absorbed."""
        return self._applied

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the newest entry (0: empty log)."""
        return self._next - 1

    def keep_unapplied(self, seq: int) -> None:
        """Never mark entry ``seq`` (or any later one) applied while this log stays open.

        For an entry the stores absorbed only in part (an erasure whose log rewrite
        failed): the next open replays it, and everything after it, again.
        """
        with self._lock:
            self._unapplied = seq if self._unapplied is None else min(self._unapplied, seq)

    def mark_applied(self, seq: int) -> None:
        """Record that the stores hold everything up to ``seq`` (no fsync: replay is idempotent).

        One fixed-width write in place (no new file, no rename): it costs microseconds on
        every commit, and a crash leaves the old mark or the new one (a mark that is
        too old only replays entries again).
        """
        with self._lock:
            if self._unapplied is not None:
                seq = min(seq, self._unapplied - 1)
            if seq <= self._applied:
                return
            self._applied = seq
            if self._applied_fd is None:
                raise EvolveLabError("event log used before open() or after close()")
            os.pwrite(self._applied_fd, f"{seq:>20}\n".encode("ascii"), 0)

    def rewrite(self, change: Callable[[Entry], Entry | None]) -> int:
        """Write the log again with ``change`` applied to every entry (``None`` drops it).

        Used for erasure: the new file is written beside the old one, fsynced, renamed over
        it, and the directory is fsynced, so a crash leaves either the old or the new log.

        Returns:
            How many entries were dropped or changed.

        Raises:
            LogFailure: the copy could not be written or renamed (the log is unchanged and
                still open), or the rename could not be made durable.
        """
        with self._lock:
            if self._file is None:
                raise EvolveLabError("event log used before open() or after close()")
            self._file.flush()  # type: ignore[attr-defined]
            tmp = self.directory / (LOG_FILE + ".tmp")
            touched = 0
            try:
                with tmp.open("wb") as out:
                    for entry in self._read():
                        new = change(entry)
                        if new is not entry:
                            touched += 1
                        if new is not None:
                            out.write((new.model_dump_json() + "\n").encode("utf-8"))
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as err:  # a full disk fails here, before the rename
                tmp.unlink(missing_ok=True)
                raise LogFailure(
                    f"cannot write the rewritten copy of {self.path} ({err}); the log "
                    "is unchanged and still open for appends"
                ) from err
            if not touched:
                tmp.unlink()
                return 0
            with self._sync_lock:  # a durable append returns only once the rename is durable
                self._swap_in(tmp)
            self._updates = None  # rebuilt on next use
            return touched

    def _swap_in(self, tmp: Path) -> None:
        """Rename ``tmp`` over the log, append to it from now on, make the rename durable."""
        try:
            new = tmp.open("ab", buffering=0)  # opened before the rename: appends always have a file
            try:
                os.replace(tmp, self.path)
            except OSError:
                new.close()
                raise
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise LogFailure(
                f"cannot replace {self.path} with its rewritten copy ({err}); the log "
                "is unchanged and still open for appends"
            ) from err
        old, self._file = self._file, new
        old.close()  # type: ignore[attr-defined]
        try:
            _fsync_dir(self.directory)
        except OSError as err:
            raise LogFailure(f"cannot make the rewritten {self.path} durable: {err}") from err

    # reading ---------------------------------------------------------------------------

    def snapshot(self) -> LogSnapshot:
        """Return the log as it is now, to read once or several times (close it after).

        Appends and rewrites that follow do not change what the snapshot reads.
        """
        with self._lock:  # fix the end of what is read; appends go on meanwhile
            if self._file is not None:
                self._file.flush()  # type: ignore[attr-defined]
            if not self.path.exists():  # read-only use before any writer created it
                return LogSnapshot(self, None, 0)
            handle = self.path.open("rb")
            return LogSnapshot(self, handle, os.fstat(handle.fileno()).st_size)

    def entries(self, after: int = 0) -> Iterator[Entry]:
        """Yield the entries with ``seq > after`` in order, leaving out voided ones.

        Streamed: one entry is in memory at a time, whatever the size of the log.
        """
        with self.snapshot() as snapshot:
            yield from snapshot.entries(after)

    def updates(self, scope: Scope, note_id: str) -> list[UpdateEntry]:
        """Return the corrections of note ``note_id`` of ``scope``'s owner, oldest first.

        Served from an index built on first use and kept up to date by appends.
        """
        with self._lock:
            updates = self._updates
            if updates is None:
                updates = {}
                for entry in self.entries():
                    if isinstance(entry, UpdateEntry):
                        updates.setdefault(_update_key(entry), []).append(entry)
                if self._file is not None:  # not opened: another process appends; no cache
                    self._updates = updates
            return list(updates.get((scope.user_id, scope.agent_id, note_id), ()))

    def owners(self) -> list[Scope]:
        """Return every (user, agent) owner that has events in the log, in order of first use."""
        seen: dict[tuple[str | None, str | None], Scope] = {}
        for entry in self.entries():
            if isinstance(entry, AddEntry):
                key = (entry.scope.user_id, entry.scope.agent_id)
                seen.setdefault(key, Scope(user_id=key[0], agent_id=key[1]))
        return list(seen.values())

    def _read(self, handle: BinaryIO | None = None, end: int | None = None) -> Iterable[Entry]:
        """Parse the entries of ``handle`` (default: the log file) up to byte ``end``.

        An open handle keeps reading the file it was opened on even if a rewrite renames
        a new log over it, so a reader sees one consistent version.
        """
        if handle is None:
            with self.path.open("rb") as own:
                yield from self._read(own, end)
            return
        offset = 0
        for number, raw in enumerate(handle, start=1):
            offset += len(raw)
            if (end is not None and offset > end) or not raw.endswith(b"\n"):
                return  # appended after the snapshot, or still being written
            if raw.strip():
                yield self._parse_line(raw, number)

    def _parse_line(self, raw: bytes, number: int) -> Entry:
        """Return the entry on line ``number`` (``raw``), or raise naming the line."""
        try:
            return ENTRY.validate_python(json.loads(raw))
        except (ValueError, ValidationError) as err:
            where = f"{self.path}:{number}" if number else str(self.path)
            raise EvolveLabError(f"{where}: corrupt event log entry: {str(err)[:200]}") from err


_VOID_OP = b'"void"'  # in every void entry's line (then parsed to be sure)


class LogSnapshot:
    """The event log up to one moment, read from one open file (see :meth:`EventLog.snapshot`).

    The open file keeps the version it was opened on even if an erasure renames a new log
    over it, so every pass reads the same entries. Passes run one at a time; close the
    snapshot (or use it in a ``with`` block) when done.
    """

    def __init__(self, log: EventLog, handle: BinaryIO | None, end: int) -> None:
        self._log = log
        self._handle = handle
        self._end = end
        self._voided: set[int] | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def entries(self, after: int = 0) -> Iterator[Entry]:
        """Yield the entries with ``seq > after`` in order, leaving out voided ones."""
        voided = self._voided_seqs()
        for entry in self._parse():
            if entry.seq > after and entry.seq not in voided and not isinstance(entry, VoidEntry):
                yield entry

    def _voided_seqs(self) -> set[int]:
        """Return the seqs that void entries name (a first pass parsing only those lines)."""
        if self._voided is None:
            self._voided = set()
            for _, raw in self._lines():
                if _VOID_OP in raw:
                    entry = self._log._parse_line(raw, 0)
                    if isinstance(entry, VoidEntry):
                        self._voided.update(entry.seqs)
        return self._voided

    def _parse(self) -> Iterator[Entry]:
        for number, raw in self._lines():
            yield self._log._parse_line(raw, number)

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        if self._handle is None:
            return
        self._handle.seek(0)
        offset = 0
        for number, raw in enumerate(self._handle, start=1):
            offset += len(raw)
            if offset > self._end or not raw.endswith(b"\n"):
                return  # appended after the snapshot, or still being written
            if raw.strip():
                yield number, raw
