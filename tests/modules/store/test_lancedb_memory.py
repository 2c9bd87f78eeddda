"""The LanceDB store bounds LanceDB's caches, so a long ingest's memory stays bounded.

LanceDB caches opened indexes (6 GB by default) and table metadata (1 GB) per
connection; every text-index update is a new index, and the old one stayed cached, so
RSS grew with every write (944 MB after 100k lexical notes). The store passes its own
limits (``index_cache_mb``, ``metadata_cache_mb``) when it connects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evolvelab import Event, Memory, Scope

ANA = Scope(user_id="ana")


def sessions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], Any]]:
    """Record every LanceDB session the store makes, with the limits it was given."""
    import lancedb

    made: list[tuple[dict[str, Any], Any]] = []
    real = lancedb.Session

    def record(**limits: Any) -> Any:
        session = real(**limits)
        made.append((limits, session))
        return session

    monkeypatch.setattr(lancedb, "Session", record)
    return made


def memory(tmp_path: Path, **store: Any) -> Memory:
    spec = {"version": 1, "name": "caches", "embedder": {"type": "none"},
            "encode": [{"type": "turn", "link_turns": False}],
            "store": {"type": "lancedb", **store}, "retrieve": [{"type": "bm25"}]}  # fmt: skip
    return Memory.from_dict(spec, data_dir=tmp_path).open()


def write_and_search(mem: Memory, writes: int) -> None:
    for i in range(writes):
        events = [Event(id=f"e{i}-{j}", content=f"the walrus {j} swims at {i}") for j in range(8)]
        mem.add(events, scope=ANA)
        assert mem.search("walrus", k=3, scope=ANA)


def test_the_default_limits_reach_lancedb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = sessions(monkeypatch)
    memory(tmp_path).close()
    [(limits, _)] = made
    assert limits == {"index_cache_size_bytes": 64 * 2**20, "metadata_cache_size_bytes": 32 * 2**20}


def test_caches_hold_no_more_than_their_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = sessions(monkeypatch)
    with memory(tmp_path / "none", index_cache_mb=0, metadata_cache_mb=0) as mem:
        write_and_search(mem, 4)
    with memory(tmp_path / "some", index_cache_mb=8, metadata_cache_mb=8) as mem:
        write_and_search(mem, 4)
    (_, nothing), (_, some) = made
    assert nothing.approx_num_items == 0 and nothing.size_bytes < 4096
    assert 4096 < some.size_bytes <= 16 * 2**20  # the same writes, with room to cache
