"""Keep the note store and the graph store consistent across crashes: an intent log.

A pipeline with a graph store writes every note twice: the note store first, then the
graph. A crash between the two (SIGKILL, power loss, OOM killer) would leave notes
without graph nodes — or, for a delete, graph nodes whose notes are gone — and nothing
would ever notice. So before either write, the ids about to change are appended to an
intent file and flushed to disk (``fsync``); once both stores hold the change, the file
is emptied again.

When a pipeline opens, intent files left behind by processes that died are replayed:
for every recorded ``(scope, ids)`` the graph is brought to what the note store holds —
notes the note store has are written to the graph again, ids it lacks are deleted from
the graph. The note store is the reference because it is written first and each of its
writes is atomic; replaying is idempotent, so a crash during a replay is repaired by the
next one.

Each open pipeline has its own file, ``<data dir>/intents/<pid>-<random>.log``, locked
with ``flock`` while it is open, so a replay never touches a live process's file.

A replay costs one read of the recorded notes and one graph write per recorded batch; a
clean shutdown leaves no file, so opening after one costs a directory listing. Each write
costs one small append, one ``fsync`` and one truncate.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from evolvelab.types import Scope

if TYPE_CHECKING:
    from evolvelab.stages import Store

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one process per data folder
    fcntl = None  # type: ignore[assignment]

__all__ = ["IntentLog"]


class IntentLog:
    """A per-process file of note ids whose two-store write may not have finished.

    Args:
        folder: where the intent files live (created on :meth:`open`).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._file: IO[bytes] | None = None
        self._busy = 0
        self._unfinished = False
        self._mutex = threading.Lock()

    def open(self) -> None:
        """Create and lock this process's intent file."""
        if self._file is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{os.getpid()}-{secrets.token_hex(4)}.log"
        handle = path.open("a+b")
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file = handle

    def close(self) -> None:
        """Release the file; remove it when every write it recorded finished."""
        handle, self._file = self._file, None
        if handle is None:
            return
        path = Path(handle.name)
        empty = handle.seek(0, os.SEEK_END) == 0
        handle.close()  # closing releases the lock
        if empty and not self._unfinished:
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def intent(self, scope: Scope, ids: Sequence[str]) -> Iterator[None]:
        """Record that ``ids`` in ``scope`` are about to change in both stores.

        The record is on disk before the block runs. When the block returns and no other
        write is in flight, the file is emptied; when it raises, the record stays, to be
        replayed when the data folder is next opened.
        """
        if self._file is None:
            yield
            return
        line = json.dumps({"scope": scope.model_dump(mode="json"), "ids": list(ids)})
        with self._mutex:
            self._file.write(line.encode("utf-8") + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._busy += 1
        try:
            yield
        except BaseException:
            self._unfinished = True
            raise
        finally:
            with self._mutex:
                self._busy -= 1
                if self._busy == 0 and not self._unfinished:
                    self._file.truncate(0)

    def settle(self, store: Store, graph: Store) -> bool:
        """Repair this process's own unfinished records now (after a write raised).

        Without this, one failed write would keep every later record in the file until
        the next open. Best effort: if the repair fails too, the records stay for it.

        Returns:
            Whether the file is clean again.
        """
        with self._mutex:
            if self._file is None or not self._unfinished:
                return True
            if self._busy:
                return False
            try:
                self._file.seek(0)
                for scope, ids in _records(self._file.read()):
                    _repair(store, graph, scope, ids)
            except Exception:
                return False
            self._file.truncate(0)
            self._unfinished = False
            return True

    def replay(self, store: Store, graph: Store) -> int:
        """Repair what crashed processes left: bring ``graph`` in line with ``store``.

        Only files no live process holds are read; each is removed once replayed.

        Returns:
            How many recorded batches were replayed.
        """
        if not self.folder.is_dir():
            return 0
        mine = Path(self._file.name) if self._file is not None else None
        replayed = 0
        for path in sorted(self.folder.glob("*.log")):
            if path == mine:
                continue
            with path.open("rb") as handle:
                if fcntl is not None:
                    try:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # a live process holds it
                for scope, ids in _records(handle.read()):
                    _repair(store, graph, scope, ids)
                    replayed += 1
            path.unlink(missing_ok=True)
        return replayed


def _records(data: bytes) -> Iterator[tuple[Scope, list[str]]]:
    """Yield the complete records of an intent file (a torn last line is skipped).

    A torn line was being written when the process died, before its fsync returned and
    so before either store was touched: there is nothing to repair for it.
    """
    for line in data.splitlines():
        try:
            record = json.loads(line)
            yield Scope.model_validate(record["scope"]), [str(i) for i in record["ids"]]
        except (ValueError, KeyError, TypeError):
            continue


def _repair(store: Store, graph: Store, scope: Scope, ids: list[str]) -> None:
    """Make the graph hold exactly what the note store holds for ``ids`` in ``scope``."""
    present = store.get(ids, scope)
    if present:
        graph.add(present)
    kept = {note.id for note in present}
    gone = [i for i in dict.fromkeys(ids) if i not in kept]
    if gone:
        graph.delete(gone, scope)
