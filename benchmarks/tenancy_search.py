"""Search cost of one small scope inside a many-owner store: per-owner tables vs one table.

    python benchmarks/tenancy_search.py [--owners 20] [--notes 1000] [--queries 200]

Builds, in a temporary folder: (a) the LanceDB store (one table per owner) holding
``owners`` owners × ``notes`` notes, (b) the same store holding one owner only, and
(c) the layout before per-owner tables — every owner in one table, the scope as a
prefilter — built with LanceDB directly from the same rows. Times BM25 searches in one
owner's scope in each (p50/p95 over ``queries`` queries, interleaved so machine load hits
all alike) and checks whether the scope's scores depend on the other owners' notes.
Synthetic notes: 12 words drawn from a 2,000-word Zipf vocabulary; hashing embedder, 64-d.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from evolvelab.modules.store import _lancedb_schema as rows
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.testing.contracts import store_resources
from evolvelab.types import Note, Scope, Where


def notes_for(owner: int, count: int, rng: random.Random, vocab: list[str]) -> list[Note]:
    weights = [1 / (i + 1) for i in range(len(vocab))]
    scope = Scope(user_id=f"user{owner}")
    return [
        Note(id=f"n{i}", content=" ".join(rng.choices(vocab, weights, k=12)), scope=scope)
        for i in range(count)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=20)
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(2000)]
    root = Path(tempfile.mkdtemp())
    many = LanceDBStore(LanceDBStoreConfig(path=str(root / "many")))
    many.open(store_resources(many, root))
    single = LanceDBStore(LanceDBStoreConfig(path=str(root / "single")))
    single.open(store_resources(single, root))
    everyone = [notes_for(o, args.notes, rng, vocab) for o in range(args.owners)]
    start = time.perf_counter()
    for owner_notes in everyone:
        for i in range(0, len(owner_notes), 200):
            many.add(owner_notes[i : i + 200])
    ingest = time.perf_counter() - start
    for i in range(0, args.notes, 200):
        single.add(everyone[0][i : i + 200])

    import lancedb
    from lancedb.index import FTS
    from lancedb.query import MatchQuery

    shared = lancedb.connect(str(root / "shared")).create_table(
        "notes", schema=rows.schema(64, "hashing-64")
    )
    embedded = [many.resources.embed_missing(owner_notes) for owner_notes in everyone]
    for owner_notes in embedded:
        shared.add(rows.notes_to_table(owner_notes, shared.schema))
    shared.create_index(rows.SEARCH_TEXT, config=FTS(), replace=True)
    scope = everyone[0][0].scope
    sql = rows.where_filter(scope, Where())

    def shared_search(text: str) -> list[float]:
        query = shared.search(MatchQuery(text, rows.SEARCH_TEXT), query_type="fts")
        return [r["_score"] for r in query.where(sql, prefilter=True).limit(10).to_list()]

    def store_search(store: LanceDBStore, text: str) -> list[float]:
        return [h.score for h in store.search_text(text, 10, scope, Where())]

    runs = {
        "per-owner tables, 1 of %d owners" % args.owners: lambda t: store_search(many, t),
        "per-owner tables, 1 owner only": lambda t: store_search(single, t),
        "one shared table (before), scope prefilter": shared_search,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    queries = [" ".join(rng.choices(vocab[:300], k=3)) for _ in range(args.queries)]
    for text in queries:
        for name, run in runs.items():
            begin = time.perf_counter()
            run(text)
            times[name].append(time.perf_counter() - begin)
    print(f"{args.owners} owners × {args.notes} synthetic notes; BM25 top-10 in one owner's "
          f"scope, {args.queries} queries (2 shared cores, loaded machine)")
    for name, values in times.items():
        print(f"  {name:45s} p50 {statistics.median(values) * 1000:6.1f} ms   "
              f"p95 {percentile(values, 0.95) * 1000:6.1f} ms")
    same = sum(
        store_search(many, t) == store_search(single, t) for t in queries[:50]
    )
    moved = sum(
        [round(s, 4) for s in shared_search(t)] != [round(s, 4) for s in store_search(single, t)]
        for t in queries[:50]
    )
    print(f"  scores identical to the 1-owner store: per-owner tables {same}/50 queries; "
          f"one shared table differs in {moved}/50")
    print(f"  ingest into per-owner tables: {args.owners * args.notes / ingest:.0f} notes/s "
          f"(batches of 200, fts_fresh on)")


if __name__ == "__main__":
    main()
