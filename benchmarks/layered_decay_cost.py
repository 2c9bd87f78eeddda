"""Measure the layered-decay store: what a decay step and a search cost, and what decay does
to recall on a stream.

Cost: ``--notes`` synthetic notes (hashing embedder, 64 dimensions, one user) are written
to a fresh ``layered_decay`` store in each mode and to a plain ``lancedb`` store; the
script reports search latency p50 over 20 vector searches (k = 10) and the time of one
decay step a day later.

Recall: ``pipelines/finmem.yaml`` and ``pipelines/memorybank.yaml`` are run on a stream
(default: the bundled sample) as written and with variants (FinMem with Q_short = 14,
without the decay manager; MemoryBank with a 30-day strength unit, without decay and
k = 20), next to ``pipelines/vector.yaml``; each reports recall@10 on the turn budget and
the notes left per user after ingestion.

Usage::

    python benchmarks/layered_decay_cost.py                  # cost for 1000 and 5000 notes
    python benchmarks/layered_decay_cost.py --notes 20000
    python benchmarks/layered_decay_cost.py --recall         # also the sample stream runs
    python benchmarks/layered_decay_cost.py --recall --stream my.jsonl
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.modules.store.layered_decay import LayeredDecayConfig, LayeredDecayStore
from evolvelab.stages import Clock, Store
from evolvelab.testing.contracts import embed, make_note, store_resources
from evolvelab.types import Scope, Where

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
ALICE = Scope(user_id="alice")


def cost(count: int, mode: str, root: Path) -> str:
    """Return one line: search p50 and (for layered_decay) one decay step, over ``count`` notes."""
    path = str(root / f"{mode}-{count}")
    store: Store
    if mode == "lancedb":
        store = LanceDBStore(LanceDBStoreConfig(path=path))
    else:
        store = LayeredDecayStore(LayeredDecayConfig(path=path, mode=mode))
    resources = store_resources(store, root)
    resources.clock = Clock(T0 + timedelta(days=1))
    store.open(resources)
    notes = [
        make_note(f"n{i}", f"note {i} about topic {i % 37}", created_at=T0 + timedelta(minutes=i))
        for i in range(count)
    ]
    for start in range(0, count, 1000):
        store.add(notes[start : start + 1000])
    query, times = embed("a note about topic 5"), []
    for _ in range(20):
        start = time.perf_counter()
        store.search_vectors(query, 10, ALICE, Where())  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    line = f"{mode:>10} {count:>6} notes: search p50 {statistics.median(times) * 1000:6.1f} ms"
    if isinstance(store, LayeredDecayStore):
        start = time.perf_counter()
        report = store.decay(ALICE, T0 + timedelta(days=2))
        took = time.perf_counter() - start
        line += f"; decay step {took * 1000:7.1f} ms (rewrote {report.updated})"
    store.close()
    return line


def variant(name: str, store: dict[str, Any], retrieve: Any = None, manage: Any = "keep") -> dict:
    """Return pipeline ``name`` with store fields added and retrieve / manage replaced."""
    spec = yaml.safe_load((ROOT / "pipelines" / f"{name}.yaml").read_text(encoding="utf-8"))
    spec["store"].update(store)
    if retrieve is not None:
        spec["retrieve"] = retrieve
    if manage != "keep":
        spec["manage"] = manage
    return spec


def recall(stream: Path, root: Path) -> None:
    """Run the pipelines and variants on ``stream``; print recall@10 and notes left."""
    from evolvelab.pipeline import Memory
    from evolvelab.evaluation.runner import run_stream
    from evolvelab.stream import read_stream

    runs = {
        "vector": variant("vector", {}),
        "finmem": variant("finmem", {}),
        "finmem, recency_days_short 14": variant("finmem", {"recency_days_short": 14}),
        "finmem, no decay manager": variant("finmem", {}, manage=[]),
        "memorybank": variant("memorybank", {}),
        "memorybank, strength_unit_days 30": variant("memorybank", {"strength_unit_days": 30}),
        "memorybank, no decay, k 20": variant(
            "memorybank", {}, retrieve=[{"type": "vector", "k": 20}], manage=[]
        ),
    }
    users = sorted({(e.user_id, e.agent_id) for e in read_stream(stream).events}, key=str)
    for label, spec in runs.items():
        path = root / f"{len(label)}-{abs(hash(label))}.yaml"
        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        summary = run_stream(path, stream, k=10, data_dir=root / path.stem, quiet=True)
        with Memory.from_yaml(path, data_dir=root / path.stem) as memory:
            left = [memory.count(Scope(user_id=u, agent_id=a)) for u, a in users]
        print(f"{label:<36} recall@10 {summary.recall:.3f}   notes left {left}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--recall", action="store_true", help="Also run the stream variants.")
    parser.add_argument("--stream", type=Path, default=ROOT / "evolvelab" / "data" / "sample.jsonl")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for count in args.notes:
            for mode in ("finmem", "memorybank", "lancedb"):
                print(cost(count, mode, root), flush=True)
        if args.recall:
            recall(args.stream, root)


if __name__ == "__main__":
    main()
