"""Does a LanceDB store's per-batch ingest cost grow with the notes already stored?

    python benchmarks/lancedb_ingest.py [--notes 20000] [--batch 100] [--dim 64]

One owner, ``notes`` synthetic conversational notes added in batches of ``batch``; each
batch first reads 13 of the batch's ids back (what ``Memory.add`` does to keep memory
state), then adds. Reported per setting: notes/s, and the median per-batch time of the
first and last tenth of the batches (their ratio is the figure that survives a noisy
machine). Settings: ``fts_fresh`` on (the default: the text index is brought up to date on
every write while the table holds at most ``--fts-fresh-rows`` rows) and off (index
updates and compaction every ``reindex_rows`` rows / ``reindex_writes`` writes). Disk use
is measured after the run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.stages import Resources
from evolvelab.types import Note, Scope

WORDS = ("i we you went saw said think walk dog cat piano lisbon trip alps june sister "
         "coffee work meeting book movie garden rain paint class hike friend call").split()


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(notes: int, batch: int, dim: int, fts_fresh: bool, fresh_rows: int) -> None:
    rng = random.Random(3)
    root = Path(tempfile.mkdtemp())
    embedder = HashingEmbedder(HashingEmbedderConfig(dim=dim))
    config = LanceDBStoreConfig(
        path=str(root / "db"), fts_fresh=fts_fresh, fts_fresh_rows=fresh_rows
    )
    store = LanceDBStore(config)
    store.open(Resources(embedder=embedder, store=store, data_dir=root))
    scope = Scope(user_id="u", session_id="s")
    times = []
    start_all = time.perf_counter()
    for start in range(0, notes, batch):
        group = [
            Note(id=f"n{i}", content=" ".join(rng.choices(WORDS, k=14)), scope=scope)
            for i in range(start, start + batch)
        ]
        begin = time.perf_counter()
        store.get([n.id for n in group[:13]], scope)
        store.add(group)
        times.append(time.perf_counter() - begin)
    total = time.perf_counter() - start_all
    tenth = max(1, len(times) // 10)
    first, last = statistics.median(times[:tenth]), statistics.median(times[-tenth:])
    shown = f"fts_fresh={fts_fresh}" + (f" (to {fresh_rows} rows)" if fts_fresh else "")
    print(f"  {shown:32s} {notes / total:7.0f} notes/s   per batch: first "
          f"tenth {first * 1000:6.1f} ms, last tenth {last * 1000:6.1f} ms "
          f"(×{last / first:.2f})   disk {disk_bytes(root / 'db') / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--fts-fresh-rows", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{args.notes} notes of one owner, batches of {args.batch}, {args.dim}-d hashing "
          "vectors (2 shared cores, loaded machine)")
    for fresh in (True, False):
        run(args.notes, args.batch, args.dim, fresh, args.fts_fresh_rows)


if __name__ == "__main__":
    main()
