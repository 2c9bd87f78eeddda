"""Several processes on one LanceDB store: no error, no lost row, no doubled row.

Real processes, started together on an empty folder, so they race to create the tables,
upsert the same note ids and run maintenance (compaction) over each other's commits.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.modules.store._lancedb_schema import owner_key
from evolvelab.testing.contracts import make_note, store_resources
from evolvelab.types import Scope, Where

ROOT = Path(__file__).parents[2]
SHARED = Scope(user_id="shared")

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
    from evolvelab.testing.contracts import make_note, store_resources
    from evolvelab.types import Scope, Where

    folder, name, role, rounds, go = sys.argv[1:6]
    rounds = int(rounds)
    while not Path(go).exists():
        time.sleep(0.005)
    config = LanceDBStoreConfig(path=folder, reindex_writes=3, reindex_rows=20)
    store = LanceDBStore(config)
    store.open(store_resources(store, Path(folder).parent))
    shared, own = Scope(user_id="shared"), Scope(user_id=name)
    if role == "write":
        for i in range(rounds):
            notes = [make_note(f"s{i}-{j}", f"shared note {i} {j} from {name}", shared)
                     for j in range(3)]
            notes += [make_note(f"{name}-{i}-{j}", f"own note {i} {j}", own) for j in range(2)]
            store.add(notes[:3])
            store.add(notes[3:])
            if i % 4 == 3:
                store.delete([f"{name}-{i}-0"], own)
    else:
        for i in range(rounds):
            store.search_text("shared note", 5, shared, Where())
            store.count(shared)
    print("done", name)
    """
)


def run_together(folder: Path, roles: list[tuple[str, str]], rounds: int) -> list[str]:
    """Start one process per (name, role), release them at once, return their outputs."""
    go = folder.parent / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(folder), name, role, str(rounds), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, role in roles
    ]
    time.sleep(1.5)  # let them import lancedb, then release them together
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err and "conflict" not in err.lower(), err[-3000:]
        outputs.append(out)
    return outputs


def open_store(folder: Path) -> LanceDBStore:
    store = LanceDBStore(LanceDBStoreConfig(path=str(folder)))
    store.open(store_resources(store, folder.parent))
    return store


@pytest.mark.slow
def test_writers_in_several_processes_lose_and_double_nothing(tmp_path: Path, tally) -> None:
    """Three writer processes upsert the same notes and their own into one empty folder."""
    folder, rounds, names = tmp_path / "db", 12, ["w0", "w1", "w2"]
    outputs = run_together(folder, [(name, "write") for name in names], rounds)
    assert sorted(o.strip() for o in outputs) == [f"done {n}" for n in names]
    tally(len(names), "writer processes")

    store = open_store(folder)
    shared = [n.id for n in store.scan(SHARED, Where(include_invalid=True))]
    assert sorted(shared) == sorted(f"s{i}-{j}" for i in range(rounds) for j in range(3))
    assert store.count(SHARED) == rounds * 3  # one row per id: no upsert doubled a row
    for name in names:
        own = Scope(user_id=name)
        deleted = {f"{name}-{i}-0" for i in range(rounds) if i % 4 == 3}
        wanted = {f"{name}-{i}-{j}" for i in range(rounds) for j in range(2)} - deleted
        ids = [n.id for n in store.scan(own, Where(include_invalid=True))]
        assert sorted(ids) == sorted(wanted)
        assert store.count(own) == len(wanted)


@pytest.mark.slow
def test_a_search_only_process_beside_writers_never_fails(tmp_path: Path, tally) -> None:
    """Two writers and two search-only processes share one store."""
    folder = tmp_path / "db"
    seed = open_store(folder)
    seed.add([make_note("seed", "shared note to find", SHARED)])
    roles = [("w0", "write"), ("w1", "write"), ("r0", "read"), ("r1", "read")]
    run_together(folder, roles, rounds=10)
    tally(len(roles), "processes (2 writers, 2 searchers)")


def test_searches_never_write_to_the_table(tmp_path: Path) -> None:
    """A text search on a table with rows the index has not seen commits nothing."""
    folder = tmp_path / "db"
    writer = LanceDBStore(
        LanceDBStoreConfig(path=str(folder), fts_fresh=False, reindex_writes=100)
    )
    writer.open(store_resources(writer, tmp_path))
    for i in range(3):
        writer.add([make_note(f"n{i}", f"note {i} about walruses", SHARED)])
    reader = open_store(folder)
    table = reader._owner_tables().find(owner_key(SHARED))
    before = table.version
    for _ in range(3):
        assert len(reader.search_text("walruses", 5, SHARED, Where())) == 3
        reader.search_vectors([1.0] + [0.0] * 63, 5, SHARED, Where())
    assert table.version == before


def test_reads_of_an_owner_without_notes_create_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "db")
    nobody = Scope(user_id="nobody")
    assert store.search_text("anything", 5, nobody, Where()) == []
    assert list(store.scan(nobody, Where())) == []
    assert store.count(nobody) == 0
    assert store._owner_tables().names() == []


def test_an_open_reader_sees_another_writers_new_notes(tmp_path: Path) -> None:
    """A reader that opened the store before a write sees it at once (refresh_seconds 0)."""
    folder = tmp_path / "db"
    writer, reader = open_store(folder), open_store(folder)
    writer.add([make_note("a", "first note about walruses", SHARED)])
    assert [h.note.id for h in reader.search_text("walruses", 5, SHARED, Where())] == ["a"]
    writer.add([make_note("b", "second note about walruses", SHARED)])
    assert reader.count(SHARED) == 2
    assert len(reader.search_text("walruses", 5, SHARED, Where())) == 2
