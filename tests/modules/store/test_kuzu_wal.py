"""A process killed while appending to the graph database's WAL leaves a torn last record;
the store still opens, with every transaction before it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from evolvelab.modules.store.kuzu import KuzuStore, KuzuStoreConfig
from evolvelab.testing.contracts import store_resources
from evolvelab.types import Scope

ANA = Scope(user_id="ana")

CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from evolvelab.modules.store.kuzu import KuzuStore, KuzuStoreConfig
    from evolvelab.testing.contracts import make_note, store_resources
    from evolvelab.types import Scope

    root = Path(sys.argv[1])
    store = KuzuStore(KuzuStoreConfig(path=str(root / "graph")))
    store.open(store_resources(store, root))
    store.add([make_note("first", scope=Scope(user_id="ana"))])
    store.add([make_note("second", scope=Scope(user_id="ana"))])
    os._exit(0)  # no checkpoint, no close: both transactions are only in the WAL
    """
)


def test_a_torn_last_wal_record_opens_with_the_transactions_before_it(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], check=True, timeout=120)
    [wal] = (tmp_path / "graph").glob("*.wal")
    data = wal.read_bytes()
    wal.write_bytes(data[:-40])  # what a SIGKILL in the middle of the last append leaves
    store = KuzuStore(KuzuStoreConfig(path=str(tmp_path / "graph")))
    store.open(store_resources(store, tmp_path))
    try:
        assert [n.id for n in store.get(["first", "second"], ANA)] == ["first"]
    finally:
        store.close()
