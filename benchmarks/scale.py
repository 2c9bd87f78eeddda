"""Build memories of 10k, 100k (and optionally 1M) notes and measure what size costs.

For each size and each pipeline (``lexical`` = pipelines/bm25.yaml, ``vector`` =
pipelines/vector.yaml, ``hybrid`` = pipelines/hybrid.yaml, all on LanceDB), a child
process ingests a synthetic conversation stream — many users, sessions of alternating
turns about everyday topics, written by this script — in adds of ``--batch`` events,
one user's turns per add, users taking turns. Reported per (size, pipeline):

- ingest events/s, and per-add time: median of the first and of the last tenth of adds
  (the issue's goal: last within 1.5x of first);
- peak RSS of the child process (``ru_maxrss``);
- disk bytes right after ingest and after a cleanup of old versions (window 0);
- ``links`` / ``links-sweep`` (extra, not by default): a ``zettelkasten_link`` manager
  after every add, reading just the new notes / rescanning the scope each run (the
  behaviour before), to show the per-add cost of a manager of new notes as memory grows;
- index build time: the full-text index (lexical) or the ANN index (vector, hybrid)
  built from scratch over the largest user's table;
- search p50/p95 over ``--queries`` queries in the users' own scopes (query embedding
  included);
- vector pipelines: ANN recall@10 against exact (flat) search over the largest user's
  table, and exact numpy cosine over the same vectors in the same run (p50/p95, query
  embedding excluded; the embedding time is reported beside it).

Every number is from this run on this machine; the data are synthetic sentences.

Usage::

    python benchmarks/scale.py [--sizes 10000,100000] [--pipelines lexical,vector,hybrid]
        [--users 10] [--batch 32] [--queries 100] [--out scale.json]
    python benchmarks/scale.py --sizes 1000000 --pipelines lexical   # 1M: hours
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = {"lexical": "bm25.yaml", "vector": "vector.yaml", "hybrid": "hybrid.yaml"}
LINKS = """
version: 1
name: links
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn, speaker: true, link_turns: false}
store: {type: lancedb}
graph: {type: kuzu}
retrieve:
  - {type: vector, k: 10}
manage:
  - {type: zettelkasten_link, neighbours: 5, every: 1}
"""
"""``links``: a manager of new notes after every add (A-MEM's linking, rule path, hashing
vectors so the manager's own cost shows, not the embedding model's)."""
SPEAKERS = ("Ana", "Ben", "Caro", "Dev", "Eli", "Fay", "Gus", "Hana")
TOPICS = {
    "food": "bakery bread tuna mango soup curry pasta breakfast dinner recipe oven".split(),
    "travel": "lisbon porto train flight harbour river museum hotel beach mountain".split(),
    "music": "cello piano jazz concert orchestra guitar choir album lesson song".split(),
    "family": "sister brother mother daughter cousin wedding birthday grandma nephew".split(),
    "work": "meeting deadline project manager office report client laptop promotion".split(),
    "sport": "football marathon bicycle swimming tennis gym yoga climbing match".split(),
    "home": "garden kitchen cat dog flat neighbour sofa balcony plants painting".split(),
}
TEMPLATES = (
    "I {verb} the {a} with my {b} last {when}.",
    "Did you ever try the {a}? My {b} says it is great.",
    "We talked about the {a} and the {b} for ages.",
    "Honestly the {a} was better than the {b} this {when}.",
    "My {b} wants to see the {a} again next {when}.",
    "I keep thinking about that {a}; maybe {b} next time?",
)
VERBS = ("loved", "visited", "cooked", "missed", "booked", "found", "watched", "fixed")
WHEN = ("week", "month", "weekend", "summer", "winter", "year", "spring")


def turns(size: int, users: int, seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    """Return ``size`` (user, event) pairs: sessions of 10–30 turns per user, in turn."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out: list[tuple[str, dict[str, Any]]] = []
    counters = [0] * users
    while len(out) < size:
        for user in range(users):
            topic = rng.choice(list(TOPICS))
            pair = rng.sample(SPEAKERS, 2)
            session = f"s{counters[user]}"
            for turn in range(rng.randint(10, 30)):
                words = TOPICS[topic]
                text = rng.choice(TEMPLATES).format(
                    verb=rng.choice(VERBS), a=rng.choice(words), b=rng.choice(words),
                    when=rng.choice(WHEN),
                )  # fmt: skip
                counters[user] += 1
                when = start + timedelta(minutes=counters[user])
                out.append((f"user{user}", {
                    "id": f"u{user}-{counters[user]}", "content": text,
                    "speaker": pair[turn % 2], "timestamp": when.isoformat(),
                    "session_id": session,
                }))  # fmt: skip
                if len(out) == size:
                    return out
    return out


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ms(value: float) -> float:
    return round(value * 1000, 2)


def run_one(size: int, pipeline: str, users: int, batch: int, queries: int) -> dict[str, Any]:
    """Ingest, measure and search one (size, pipeline) in this process."""
    import numpy as np

    from evolvelab import Event, Memory, Scope

    folder = Path(tempfile.mkdtemp(prefix=f"scale-{pipeline}-{size}-"))
    if pipeline in ("links", "links-sweep"):
        memory = Memory.from_text(LINKS, data_dir=folder)
        if pipeline == "links-sweep":  # the behaviour before issue 12.2: rescan every run
            for manager in memory.managers:
                manager.manage_after_add = manager.manage  # type: ignore[method-assign]
    else:
        memory = Memory.from_yaml(ROOT / "pipelines" / PIPELINES[pipeline], data_dir=folder)
    memory.open()
    stream = turns(size, users)
    by_user: dict[str, list[dict[str, Any]]] = {}
    for user, event in stream:
        by_user.setdefault(user, []).append(event)
    adds: list[tuple[str, list[dict[str, Any]]]] = []
    cursors = dict.fromkeys(by_user, 0)
    while any(cursors[u] < len(by_user[u]) for u in by_user):
        for user in by_user:
            chunk = by_user[user][cursors[user] : cursors[user] + batch]
            if chunk:
                adds.append((user, chunk))
                cursors[user] += len(chunk)
    times: list[float] = []
    started = time.perf_counter()
    for user, chunk in adds:
        t = time.perf_counter()
        memory.add([Event.model_validate(e) for e in chunk], scope=Scope(user_id=user))
        times.append(time.perf_counter() - t)
    ingest = time.perf_counter() - started
    tenth = max(1, len(times) // 10)
    first, last = statistics.median(times[:tenth]), statistics.median(times[-tenth:])
    result: dict[str, Any] = {
        "size": size, "pipeline": pipeline, "users": users, "batch": batch,
        "events_per_s": round(size / ingest, 1), "adds": len(times),
        "add_first_decile_ms": ms(first), "add_last_decile_ms": ms(last),
        "last_over_first": round(last / first, 2),
        "disk_bytes_after_ingest": du(folder),
    }  # fmt: skip
    store = memory.store
    tables = [store._tables.find(name.rsplit("-", 1)[1])  # type: ignore[attr-defined]
              for name in store._tables.names(limit=10_000)]  # type: ignore[attr-defined]
    for table in tables:
        table.optimize(cleanup_older_than=timedelta(0))
    result["disk_bytes_after_cleanup"] = du(folder)
    biggest = max(tables, key=lambda t: t.count_rows())
    result["largest_user_rows"] = biggest.count_rows()
    big_user = max(by_user, key=lambda u: len(by_user[u]))
    rng = random.Random(3)
    texts = [e["content"] for e in rng.sample(by_user[big_user], min(queries, len(by_user[big_user])))]
    searches = []
    for text in texts:
        user = rng.choice(list(by_user))
        t = time.perf_counter()
        memory.search(text, k=10, scope=Scope(user_id=user))
        searches.append(time.perf_counter() - t)
    result.update(search_p50_ms=ms(pct(searches, 0.5)), search_p95_ms=ms(pct(searches, 0.95)))
    from evolvelab.modules.store import _lancedb_index as lancedb_index
    from evolvelab.modules.store import _lancedb_schema as rows

    if pipeline.startswith("links"):
        pass
    elif pipeline == "lexical":
        t = time.perf_counter()
        lancedb_index.build_text(biggest, rows.SEARCH_TEXT, store.config)
        result["index_build_s"] = round(time.perf_counter() - t, 3)
        result["index"] = "full text (largest user)"
    else:
        embedder = memory.resources.embedder
        data = biggest.search().select(["_key", rows.VECTOR]).limit(None).to_arrow()
        keys = data.column("_key").to_pylist()
        matrix = np.asarray(data.column(rows.VECTOR).to_pylist(), dtype=np.float32)
        t = time.perf_counter()
        vectors = embedder.embed([f"{text} (asked again)" for text in texts])  # not cached
        embed_each = (time.perf_counter() - t) / len(texts)
        exact_ms, exact_top = [], []
        for vector in vectors:
            t = time.perf_counter()
            top = np.argsort(-(matrix @ vector))[:10]
            exact_ms.append(time.perf_counter() - t)
            exact_top.append({keys[i] for i in top})
        config = store.config.model_copy(update={"index_threshold": 1})
        index_config = lancedb_index.vector_config(embedder, len(keys), config)
        t = time.perf_counter()
        lancedb_index.build_vector(biggest, index_config)
        result["index_build_s"] = round(time.perf_counter() - t, 3)
        result["index"] = f"{type(index_config).__name__} on {len(keys)} rows (largest user)"
        ann_ms, recalls = [], []
        for vector, truth in zip(vectors, exact_top, strict=True):
            t = time.perf_counter()
            found = (
                biggest.search(vector, vector_column_name=rows.VECTOR).distance_type("cosine")
                .minimum_nprobes(store.config.nprobes).refine_factor(store.config.refine_factor)
                .select(["_key"]).limit(10).to_arrow().column("_key").to_pylist()
            )  # fmt: skip
            ann_ms.append(time.perf_counter() - t)
            recalls.append(len(truth & set(found)) / 10)
        result.update(
            query_embed_ms=ms(embed_each),
            ann_p50_ms=ms(pct(ann_ms, 0.5)), ann_p95_ms=ms(pct(ann_ms, 0.95)),
            ann_recall_at_10=round(statistics.mean(recalls), 3),
            numpy_exact_p50_ms=ms(pct(exact_ms, 0.5)), numpy_exact_p95_ms=ms(pct(exact_ms, 0.95)),
        )  # fmt: skip
    memory.close()
    shutil.rmtree(folder, ignore_errors=True)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="Note counts, comma-separated.")
    parser.add_argument("--pipelines", default="lexical,vector,hybrid")
    parser.add_argument("--users", type=int, default=10, help="Users the turns are spread over.")
    parser.add_argument("--batch", type=int, default=32, help="Events per add.")
    parser.add_argument("--queries", type=int, default=100, help="Searches per size and pipeline.")
    parser.add_argument("--out", type=Path, help="Write the results as JSON here.")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # size:pipeline, in a child
    args = parser.parse_args()
    if args.one:
        size, pipeline = args.one.split(":")
        print(json.dumps(run_one(int(size), pipeline, args.users, args.batch, args.queries)))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        for pipeline in args.pipelines.split(","):
            child = subprocess.run(
                [sys.executable, __file__, "--one", f"{size}:{pipeline}", "--users",
                 str(args.users), "--batch", str(args.batch), "--queries", str(args.queries)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if child.returncode != 0:
                print(f"{size} {pipeline}: failed\n{child.stderr[-2000:]}", file=sys.stderr)
                continue
            result = json.loads(child.stdout.strip().splitlines()[-1])
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
