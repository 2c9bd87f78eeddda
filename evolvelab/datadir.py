"""Data folders: EvolveLab marks the folders it creates, and deletes only marked ones.

A pipeline keeps its stores in a data folder: ``$EVOLVELAB_HOME/<name>`` by default, or
whatever ``--data-dir`` / ``data_dir=`` says. That path comes from user input, so nothing
may delete it on trust. :func:`prepare` (called by ``Memory.open()``) creates the folder
and drops a marker file, :data:`MARKER`, inside it; :func:`wipe` (``evolvelab run
--fresh``) and :func:`remove` (temporary folders of evaluations and evolver trials) refuse
any folder without that marker, with a message saying what to do instead.

A folder that already exists is marked only if it is empty, since then everything that
ends up inside it is EvolveLab's. A folder that already holds files and has no marker is
used as it is, and never deleted.

Example:
    >>> import tempfile
    >>> parent = Path(tempfile.mkdtemp())
    >>> folder = prepare(parent / "demo")               # created and marked
    >>> is_marked(folder)
    True
    >>> _ = (folder / "notes.jsonl").write_text("{}")
    >>> wipe(folder)                                    # contents gone, folder kept
    True
    >>> [p.name for p in folder.iterdir()]
    ['.evolvelab-data']
    >>> remove(folder)                                  # ours: deleted
    >>> mine = parent / "mine"                          # a user's folder, never ours
    >>> mine.mkdir(); _ = (mine / "thesis.tex").write_text("...")
    >>> remove(mine)
    Traceback (most recent call last):
        ...
    evolvelab.errors.ConfigError: .../mine: refusing to remove this folder: EvolveLab did not create it ...
    >>> import shutil; shutil.rmtree(parent)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from evolvelab.errors import ConfigError, Problem

__all__ = [
    "MARKER",
    "in_use",
    "is_empty",
    "is_marked",
    "make_temporary",
    "prepare",
    "remove",
    "temporary",
    "wipe",
]

MARKER = ".evolvelab-data"
"""The marker file's name inside a data folder EvolveLab created."""

_SIGNATURE = "EvolveLab data folder"
_TEXT = (
    f"{_SIGNATURE}: created by EvolveLab, which may delete everything in it "
    "(evolvelab run --fresh). Do not keep other files here.\n"
)


def _refuse(folder: Path, message: str, *hints: str) -> ConfigError:
    return ConfigError([Problem(str(folder), (), message, hints=hints)])


def is_marked(folder: Path) -> bool:
    """Whether ``folder`` holds EvolveLab's marker (a regular file, not a link)."""
    marker = Path(folder) / MARKER
    try:
        if marker.is_symlink() or not marker.is_file():
            return False
        with marker.open(encoding="utf-8", errors="replace") as handle:
            return handle.read(len(_SIGNATURE)) == _SIGNATURE
    except OSError:
        return False


def is_empty(folder: Path) -> bool:
    """Whether ``folder`` is missing or holds nothing but EvolveLab's marker."""
    folder = Path(folder)
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    return all(entry.name == MARKER for entry in folder.iterdir())


def _mark(folder: Path) -> None:
    try:
        with (folder / MARKER).open("x", encoding="utf-8") as handle:
            handle.write(_TEXT)
    except FileExistsError:
        pass


def prepare(folder: Path) -> Path:
    """Create ``folder`` (and its parents) for a pipeline's data; mark it if it is new.

    An existing empty folder is marked too; one that holds files is left unmarked.

    Returns:
        ``folder``.

    Raises:
        ConfigError: if the path is a file, or the folder cannot be created.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=False)
        _mark(folder)
        return folder
    except FileExistsError:
        pass
    except OSError as err:
        raise _refuse(folder, f"cannot create the data folder: {err.strerror}") from err
    if not folder.is_dir():
        raise _refuse(folder, "the data folder is not a folder (a file has this name)")
    try:
        if not any(folder.iterdir()):
            _mark(folder)
    except OSError as err:
        raise _refuse(folder, f"cannot use the data folder: {err.strerror}") from err
    return folder


_LOCKS = ("*/writer.lock", "intents/*.log")
"""Files a live process holds a ``flock`` on while it writes a data folder: the event log's
writer lock (``evolvelab serve``, ``Memory.use_event_log``) and each open pipeline's intent
file (pipelines with a graph store)."""


def in_use(folder: Path) -> str | None:
    """Say which process writes ``folder`` right now (e.g. ``"pid 4242"``), or ``None``.

    A process that keeps an event log or an intent file holds a lock on it; a lock that
    cannot be taken is a live writer. (A pipeline with neither leaves no trace to test.)
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no flock to test
        return None
    for pattern in _LOCKS:
        for lock in Path(folder).glob(pattern):
            try:
                with lock.open("rb") as handle:
                    try:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                    except OSError:
                        if lock.name != "writer.lock":  # intents/<pid>-<random>.log
                            return f"pid {lock.name.split('-', 1)[0]}"
                        return handle.read(64).decode("utf-8", "replace").strip() or "a process"
            except OSError:
                continue
    return None


def _check(folder: Path, action: str) -> None:
    holder = in_use(folder) if folder.is_dir() and not folder.is_symlink() else None
    if holder is not None:
        raise _refuse(folder, f"refusing to {action} this folder: it is in use by {holder}",
                      "stop that process first (e.g. the `evolvelab serve` of this folder)")  # fmt: skip
    if folder.is_symlink():
        raise _refuse(folder, f"refusing to {action} a symbolic link",
                      "give the folder it points to, if EvolveLab created that")  # fmt: skip
    if not folder.is_dir():
        raise _refuse(folder, f"refusing to {action} it: it is not a folder")
    if not is_marked(folder):
        raise _refuse(
            folder,
            f"refusing to {action} this folder: EvolveLab did not create it "
            f"(it has no {MARKER} marker)",
            "EvolveLab deletes only data folders it created; delete this one yourself if it "
            "holds nothing you need, or use another --data-dir",
        )


def wipe(folder: Path, *, store_paths: Sequence[Path] = ()) -> bool:
    """Delete everything in the data folder ``folder`` but its marker.

    The folder itself stays (it may be a mount point, or one the user made). Stores with
    an explicit ``path`` outside ``folder`` are not EvolveLab data folders: if one holds
    data, nothing is deleted and the wipe is refused, rather than starting "fresh" on old
    data.

    Args:
        folder: the pipeline's data folder.
        store_paths: explicit ``path`` settings of the pipeline's stores.

    Returns:
        Whether anything was deleted.

    Raises:
        ConfigError: if ``folder`` (or a store path outside it) holds data and was not
            created by EvolveLab; nothing is deleted then.
    """
    folder = Path(folder)
    for path in map(Path, store_paths):
        inside = path.resolve().is_relative_to(folder.resolve())
        if not inside and path.exists() and not is_empty(path):
            raise _refuse(path, f"refusing to start fresh: a store keeps data here, outside "
                          f"the data folder {folder}, which --fresh does not clear",
                          "delete it yourself, or run without --fresh")  # fmt: skip
    if not os.path.lexists(folder) or (not folder.is_symlink() and is_empty(folder)):
        return False
    _check(folder, "wipe")
    for entry in folder.iterdir():
        if entry.name == MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return True


def remove(folder: Path) -> None:
    """Delete the data folder ``folder`` itself, if it is there and EvolveLab created it.

    Raises:
        ConfigError: if it exists and was not created by EvolveLab.
    """
    folder = Path(folder)
    if not os.path.lexists(folder):
        return
    _check(folder, "remove")
    shutil.rmtree(folder)


def make_temporary(prefix: str = "evolvelab-") -> Path:
    """Create a new, marked data folder in the system's temporary directory.

    Remove it with :func:`remove` when done (or use :func:`temporary`).
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _mark(folder)
    return folder


@contextmanager
def temporary(prefix: str = "evolvelab-") -> Iterator[Path]:
    """Create a marked temporary data folder; remove it on exit.

    Example:
        >>> with temporary("evolvelab-trial-") as folder:
        ...     print(folder.name.startswith("evolvelab-trial-"), is_marked(folder))
        True True
        >>> folder.exists()
        False

        A trial passes the folder on as ``Memory(spec, data_dir=folder)``.
    """
    folder = make_temporary(prefix)
    try:
        yield folder
    finally:
        if is_marked(folder):
            shutil.rmtree(folder, ignore_errors=True)
