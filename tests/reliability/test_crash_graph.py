"""A crash between the note-store write and the graph write is repaired on reopen.

The pipeline writes LanceDB first, then the graph; the intent log (evolvelab.intents)
records each batch's ids before either write, and opening the data folder again replays
what a dead process left. Real processes, killed with SIGKILL.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evolvelab import Memory, Scope
from evolvelab.intents import IntentLog
from evolvelab.modules.store.memory import MemoryStore, MemoryStoreConfig
from evolvelab.testing.contracts import make_note, store_resources
from evolvelab.types import Where

ROOT = Path(__file__).parents[2]
OWNER = Scope(user_id="ana")

PIPELINE = """\
version: 1
name: crash
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn}
store: {type: lancedb, path: %(root)s/notes}
graph: {type: kuzu, path: %(root)s/graph}
retrieve:
  - {type: bm25, k: 5}
"""

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from evolvelab import Memory, Scope
    root, mode, start = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    memory = Memory.from_text(sys.argv[4], data_dir=root / "data").open()
    scope = Scope(user_id="ana", session_id="s")

    def batch(k):
        return [{"id": f"e{k}-{i}", "content": f"turn {i} of batch {k} about walruses"}
                for i in range(4)]

    if mode == "die-before-graph":
        memory.add(batch(start), scope)
        memory.graph.add = lambda notes: os.kill(os.getpid(), signal.SIGKILL)
        memory.add(batch(start + 1), scope)
    else:
        print("ready", flush=True)
        k = start
        while True:
            memory.add(batch(k), scope)
            print(k, flush=True)
            k += 1
    """
)


def pipeline(root: Path) -> str:
    return PIPELINE % {"root": root}


def ids_in_both(root: Path) -> tuple[set[str], set[str], set[str]]:
    """Open the folder as a user would (which repairs it): note ids, graph ids, event ids."""
    with Memory.from_text(pipeline(root), data_dir=root / "data") as memory:
        every = Where(include_invalid=True, hidden_kinds=[])
        notes = list(memory.store.scan(OWNER, every))  # type: ignore[attr-defined]
        graph = {n.id for n in memory.graph.scan(OWNER, every)}  # type: ignore[union-attr]
    return {n.id for n in notes}, graph, {e for n in notes for e in n.source_ids}


def start_child(root: Path, mode: str, start: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), mode, str(start), pipeline(root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_kill_between_the_two_writes_is_repaired_on_reopen(tmp_path: Path, tally) -> None:
    """SIGKILL right after the note-store write, before the graph write."""
    child = start_child(tmp_path, "die-before-graph", 0)
    _, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err[-2000:]
    assert list((tmp_path / "data" / "intents").glob("*.log")), "the intent was not on disk"
    notes, graph, events = ids_in_both(tmp_path)
    assert len(notes) == 8 and len(events) == 8  # both batches reached the note store
    assert graph == notes
    assert not list((tmp_path / "data" / "intents").glob("*.log"))  # replayed and removed
    tally(1, "kill points (between the two writes)")


@pytest.mark.slow
def test_random_sigkills_during_ingest_leave_both_stores_consistent(
    tmp_path: Path, tally
) -> None:
    """SIGKILL at random moments of a running ingest, then reopen: the stores agree."""
    rng = random.Random(9)
    acked: set[int] = set()
    left_intents = 0
    kills = 10
    for round_ in range(kills):
        child = start_child(tmp_path, "loop", 1000 * round_)
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline().strip() == "ready", child.stderr.read()[-2000:]
        time.sleep(rng.uniform(0.05, 1.5))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=60)
        acked.update(int(line) for line in out.split())
        logs = (tmp_path / "data" / "intents").glob("*.log")
        left_intents += any(log.stat().st_size for log in logs)  # killed inside a write
        notes, graph, events = ids_in_both(tmp_path)
        assert graph == notes, f"after kill {round_ + 1}"
        wanted = {f"e{k}-{i}" for k in acked for i in range(4)}
        assert wanted <= events, "an acknowledged add was lost"
    assert acked, "no batch was acknowledged before the kills"
    tally(kills, f"kill points ({left_intents} inside a two-store write)")


def test_a_torn_record_and_a_live_file_are_left_alone(tmp_path: Path) -> None:
    store, graph = MemoryStore(MemoryStoreConfig()), MemoryStore(MemoryStoreConfig())
    for s in (store, graph):
        s.open(store_resources(s, tmp_path))
    store.add([make_note("a", "only in the note store", OWNER)])
    graph.add([make_note("gone", "only in the graph", OWNER)])
    live = IntentLog(tmp_path / "intents")
    live.open()
    folder = tmp_path / "intents"
    dead = folder / "1-dead.log"
    dead.write_text(
        '{"scope": {"user_id": "ana"}, "ids": ["a", "gone"]}\n{"scope": {"user_id": "an'
    )
    with live.intent(OWNER, ["x"]):  # in flight in a live process: never replayed
        assert IntentLog(folder).replay(store, graph) == 1
    assert {n.id for n in graph.scan(OWNER, Where())} == {"a"}
    assert not dead.exists()
    assert live._file is not None
    assert [p.name for p in folder.iterdir()] == [Path(live._file.name).name]
    live.close()
    assert list(folder.iterdir()) == []  # a clean close leaves nothing behind


def test_a_failed_graph_write_is_settled_at_once_not_left_for_the_next_open(
    tmp_path: Path,
) -> None:
    from evolvelab.errors import EvolveLabError

    with Memory.from_text(pipeline(tmp_path), data_dir=tmp_path / "data") as memory:
        graph_add = memory.graph.add  # type: ignore[union-attr]

        def failing(notes: object) -> None:
            raise RuntimeError("graph disk full")

        memory.graph.add = failing  # type: ignore[union-attr, method-assign]
        with pytest.raises(EvolveLabError):
            memory.add([{"id": "e1", "content": "a turn about walruses"}], OWNER)
        memory.graph.add = graph_add  # type: ignore[union-attr, method-assign]
        log = memory.resources.intents
        assert log is not None and log._file is not None
        assert Path(log._file.name).stat().st_size == 0  # repaired: nothing left to replay
        memory.add([{"id": "e2", "content": "another turn"}], OWNER)
        assert Path(log._file.name).stat().st_size == 0
    assert not list((tmp_path / "data" / "intents").glob("*.log"))
