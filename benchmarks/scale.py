"""Build memories of 10k, 100k and 1M notes and measure what size costs (issue 12.5).

For each size and pipeline (``lexical`` = pipelines/bm25.yaml, ``vector`` =
pipelines/vector.yaml, ``hybrid`` = pipelines/hybrid.yaml, all on LanceDB), a child
process ingests a synthetic conversation stream — many users, sessions of alternating
turns about everyday topics, generated on the fly by this script — in adds of
``--batch`` events, one user's turns per add, users taking turns. Reported per run:

- ingest events/s, and per-add time: median of the first and of the last tenth of adds
  (the issue's goal: last within 1.5x of first); RSS at every tenth. The time of the
  ``--progress`` lines (each walks the store's files for its disk figure: about 0.1 s at
  10k notes, 50 times a run) is this script's, not ingest's: it is left out of events/s
  and reported as ``progress_s``;
- peak RSS of the child process (``ru_maxrss``);
- disk bytes right after ingest and after a cleanup of old versions (window 0);
- index build time: the full-text index (lexical) or the ANN index (vector, hybrid)
  built from scratch over the largest user's table;
- search p50/p95 over ``--queries`` queries, each in a random user's own scope (query
  embedding included);
- with several users (``--scope``): the same queries in user 0's scope, alternating
  between this store and a store holding only user 0's notes (built in the same
  process), so both see the same machine load; the ratio is the per-scope cost of
  sharing a database with other users;
- vector pipelines: ANN recall@10 against exact numpy cosine over the same vectors in
  the same run, with the ANN, LanceDB flat and numpy times (query embedding excluded;
  the embedding time is reported beside them);
- ``links`` / ``links-sweep`` (extra, not by default): a ``zettelkasten_link`` manager
  after every add, reading just the new notes / rescanning the scope each run.

``--progress FILE`` appends a line (rate, RSS, disk) every 2% of each run's adds, so a
run stopped early still says how far it got. ``--reuse DIR`` keeps each run's store and
searches a copy of it on the next run; with ``--regrow`` the next run instead grows a
fresh store through its own ``add`` with the kept notes and vectors (the store's write
path and upkeep, no embedding model), then searches that. Every number is from this run on this
machine; the data are synthetic sentences, no dataset split is involved.

Usage::

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--max-size 100000]
        [--pipelines lexical,vector,hybrid] [--users 100] [--vector-users 1]
        [--out scale.json] [--markdown scale.md] [--plot docs/img/scale.png]
        [--progress scale.progress.jsonl] [--plot-progress scale.progress.jsonl]
    python benchmarks/scale.py --max-size 10000 --queries 20      # a quick run
    python benchmarks/scale.py --from-json a.json b.json --plot docs/img/scale.png
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
from collections.abc import Iterator
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


def user_turns(user: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Yield ``user``'s turns forever: sessions of 10–30 alternating turns on one topic.

    Each user has a generator of its own (seeded by ``seed`` and the user), so user 0's
    turns are the same whether the memory holds 1 user or 100.
    """
    rng = random.Random(seed * 1_000_003 + user)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    count = 0
    session = 0
    while True:
        topic = rng.choice(list(TOPICS))
        pair = rng.sample(SPEAKERS, 2)
        for turn in range(rng.randint(10, 30)):
            words = TOPICS[topic]
            text = rng.choice(TEMPLATES).format(
                verb=rng.choice(VERBS), a=rng.choice(words), b=rng.choice(words),
                when=rng.choice(WHEN),
            )  # fmt: skip
            count += 1
            when = start + timedelta(minutes=count)
            yield {
                "id": f"u{user}-{count}", "content": text, "speaker": pair[turn % 2],
                "timestamp": when.isoformat(), "session_id": f"s{session}",
            }  # fmt: skip
        session += 1


def adds(size: int, users: int, batch: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Yield ``size`` turns as adds of ``batch`` turns of one user, users taking turns.

    Generated on the fly: the benchmark never holds the stream (at 1M turns a list of
    them alone would be most of a gigabyte of Python objects).
    """
    streams = [user_turns(user) for user in range(users)]
    left = size
    while left > 0:
        for user, stream in enumerate(streams):
            take = min(batch, left)
            if take <= 0:
                return
            yield f"user{user}", [next(stream) for _ in range(take)]
            left -= take


def rss_mb() -> float:
    """Return this process's resident set size now, in MB (Linux; else the peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """Return this process's peak resident set size so far, in MB (``ru_maxrss``)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ms(value: float) -> float:
    return round(value * 1000, 2)


class Run:
    """What one child measures: the (size, pipeline, users) and how to report progress."""

    def __init__(self, args: argparse.Namespace, size: int, pipeline: str, users: int) -> None:
        self.size, self.pipeline, self.users = size, pipeline, users
        self.batch, self.queries = args.batch, args.queries
        self.progress = args.progress
        self.rss_limit_mb = args.rss_limit_mb
        self.scope = args.scope
        self.tag = f"{size}:{pipeline}:{users}"
        self.reuse: Path | None = args.reuse
        self.regrow: bool = args.regrow

    def report(self, line: dict[str, Any]) -> None:
        """Append one progress line (JSON) to the progress file, if there is one."""
        if self.progress is not None:
            with open(self.progress, "a", encoding="utf-8") as out:
                out.write(json.dumps({"run": self.tag, **line}) + "\n")


def ingest(run: Run, memory: Any, folder: Path) -> dict[str, Any]:
    """Ingest the stream; return rates, per-add times by tenth, RSS by tenth, texts asked."""
    from evolvelab import Event, Scope

    total_adds = -(-run.size // run.batch)
    every = max(1, total_adds // 50)
    times: list[float] = []
    rss_by_tenth: list[float] = []
    asked: list[str] = []  # reservoir of user 0's turns: the search queries
    rng = random.Random(5)
    seen0 = done = 0
    stopped = None
    measuring = 0.0  # seconds spent on this benchmark's own progress lines, not ingest
    started = window = time.perf_counter()
    for number, (user, chunk) in enumerate(adds(run.size, run.users, run.batch), 1):
        if user == "user0":
            for event in chunk:
                seen0 += 1
                if len(asked) < run.queries:
                    asked.append(event["content"])
                elif (slot := rng.randrange(seen0)) < run.queries:
                    asked[slot] = event["content"]
        t = time.perf_counter()
        memory.add([Event.model_validate(e) for e in chunk], scope=Scope(user_id=user))
        times.append(time.perf_counter() - t)
        done += len(chunk)
        if number * 10 // total_adds > len(rss_by_tenth):
            rss_by_tenth.append(rss_mb())
        if number % every == 0 or number == total_adds:
            now = time.perf_counter()
            rss = rss_mb()
            run.report({
                "notes": done, "elapsed_s": round(now - started, 1),
                "events_per_s": round(done / (now - started - measuring), 1),
                "window_events_per_s": round(every * run.batch / (now - window), 1),
                "add_median_ms": ms(statistics.median(times[-every:])),
                "rss_mb": rss, "peak_rss_mb": peak_rss_mb(), "disk_mb": round(du(folder) / 1e6, 1),
                "at": datetime.now(UTC).strftime("%H:%M:%S"),
            })  # fmt: skip
            window = time.perf_counter()
            measuring += window - now  # walking the store's files takes ~0.1 s at 10k
            if run.rss_limit_mb and rss > run.rss_limit_mb:
                stopped = f"RSS {rss} MB over --rss-limit-mb after {done} notes"
                break
    seconds = time.perf_counter() - started - measuring
    tenth = max(1, len(times) // 10)
    first, last = statistics.median(times[:tenth]), statistics.median(times[-tenth:])
    return {
        "notes": done, "events_per_s": round(done / seconds, 1), "ingest_s": round(seconds, 1),
        "progress_s": round(measuring, 1),
        "adds": len(times), "add_first_decile_ms": ms(first), "add_last_decile_ms": ms(last),
        "last_over_first": round(last / first, 2), "rss_mb_by_tenth": rss_by_tenth,
        "peak_rss_mb_ingest": peak_rss_mb(), "stopped": stopped, "asked": asked,
    }  # fmt: skip


def run_one(run: Run) -> dict[str, Any]:
    """Ingest, measure and search one (size, pipeline, users) in this process."""
    from evolvelab import Memory, Scope

    folder = Path(tempfile.mkdtemp(prefix=f"scale-{run.pipeline}-{run.size}-"))
    if run.pipeline in ("links", "links-sweep"):
        memory = Memory.from_text(LINKS, data_dir=folder)
        if run.pipeline == "links-sweep":  # the behaviour before issue 12.2: rescan every run
            for manager in memory.managers:
                manager.manage_after_add = manager.manage  # type: ignore[method-assign]
    else:
        memory = Memory.from_yaml(ROOT / "pipelines" / PIPELINES[run.pipeline], data_dir=folder)
    saved = run.reuse / run.tag.replace(":", "-") if run.reuse is not None else None
    kept = saved is not None and (saved / "ingest.json").is_file()
    if kept and not run.regrow:  # searches only, on a copy
        shutil.copytree(saved / "store", folder, dirs_exist_ok=True)
    memory.open()
    result: dict[str, Any] = {"size": run.size, "pipeline": run.pipeline, "users": run.users,
                              "batch": run.batch, "rss_mb_open": rss_mb()}  # fmt: skip
    if kept and run.regrow:
        assert saved is not None
        result.update(json.loads((saved / "ingest.json").read_text()), reused=str(saved))
        result.update(regrow(run, memory, saved / "store"))
    elif kept:
        assert saved is not None
        result.update(json.loads((saved / "ingest.json").read_text()), reused=str(saved))
    else:
        result.update(ingest(run, memory, folder))
        if saved is not None:  # keep the store as ingest left it, for --reuse runs
            shutil.copytree(folder, saved / "store")
            (saved / "ingest.json").write_text(json.dumps(result))
    asked = result.pop("asked")
    result["disk_bytes_after_ingest"] = du(folder)
    store = memory.store
    owner_tables = store._tables  # type: ignore[attr-defined]
    tables = [owner_tables.find(name.rsplit("-", 1)[1]) for name in owner_tables.names(10_000)]
    for table in tables:
        table.optimize(cleanup_older_than=timedelta(0))
    result["disk_bytes_after_cleanup"] = du(folder)
    biggest = max(tables, key=lambda t: t.count_rows())
    result["largest_user_rows"] = biggest.count_rows()
    rng = random.Random(3)
    searches = []
    for text in asked:
        user = f"user{rng.randrange(run.users)}"
        t = time.perf_counter()
        memory.search(text, k=10, scope=Scope(user_id=user))
        searches.append(time.perf_counter() - t)
    result.update(search_p50_ms=ms(pct(searches, 0.5)), search_p95_ms=ms(pct(searches, 0.95)),
                  searches=len(searches))  # fmt: skip
    if run.pipeline in ("vector", "hybrid"):
        result.update(search_parts(memory, asked, Scope(user_id="user0")))
    from evolvelab.modules.store import _lancedb_index as lancedb_index
    from evolvelab.modules.store import _lancedb_schema as rows

    if run.scope and run.users > 1 and run.pipeline in PIPELINES:
        result.update(scope_alone(run, memory, asked))
    if run.pipeline.startswith("links"):
        pass
    elif run.pipeline == "lexical":
        t = time.perf_counter()
        lancedb_index.build_text(biggest, rows.SEARCH_TEXT, store.config)
        result["index_build_s"] = round(time.perf_counter() - t, 3)
        result["index"] = f"full text, {result['largest_user_rows']} rows (largest user)"
    else:
        result.update(ann_against_exact(memory, biggest, asked, Scope(user_id="user0")))
    memory.close()
    shutil.rmtree(folder, ignore_errors=True)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def regrow(run: Run, memory: Any, kept: Path) -> dict[str, Any]:
    """Grow this (empty) store through its own ``add`` with a kept store's notes.

    The kept store's rows are read in their order and written back as notes, embeddings
    included, in adds of ``--batch`` notes of one owner: the store's write path and its
    upkeep (compaction, index updates, the ANN index's merges and retrains) run as in an
    ingest, without the pipeline's encoders and the embedding model. The table it leaves
    is what the searches then measure. Reported as ``regrow_*``, next to the kept
    store's own ingest figures.
    """
    import lancedb
    import pyarrow as pa

    from evolvelab.modules.store._lancedb_search import rows_to_notes

    store = memory.store
    maintained: list[float] = []
    optimize = store._optimize

    def timed(table: Any, state: Any) -> None:
        t = time.perf_counter()
        optimize(table, state)
        maintained.append(time.perf_counter() - t)

    store._optimize = timed
    source = lancedb.connect(kept / "lancedb")
    times: list[float] = []
    written = 0
    started = time.perf_counter()
    for name in source.list_tables().tables:
        for batch in source.open_table(name).search().limit(None).to_batches(run.batch):
            data = pa.Table.from_batches([batch])
            for offset in range(0, data.num_rows, run.batch):
                notes = rows_to_notes(data.slice(offset, run.batch))
                t = time.perf_counter()
                store.add(notes)
                times.append(time.perf_counter() - t)
                written += len(notes)
    seconds = time.perf_counter() - started
    store._optimize = optimize
    tenth = max(1, len(times) // 10)
    first, last = statistics.median(times[:tenth]), statistics.median(times[-tenth:])
    return {
        "regrow_notes": written, "regrow_adds": len(times),
        "regrow_s": round(seconds, 1), "regrow_add_mean_ms": ms(statistics.mean(times)),
        "regrow_add_first_decile_ms": ms(first), "regrow_add_last_decile_ms": ms(last),
        "regrow_maintenance": len(maintained), "regrow_maintenance_s": round(sum(maintained), 1),
        "regrow_maintenance_max_s": round(max(maintained, default=0.0), 2),
    }  # fmt: skip


def scope_alone(run: Run, memory: Any, asked: list[str]) -> dict[str, Any]:
    """Search user 0's scope here and in a store of user 0's notes alone, alternating.

    User 0's notes in the shared store are the first ``size / users`` turns of its
    stream; the store alone gets exactly those, the same way (adds of ``--batch``).
    """
    from evolvelab import Event, Memory, Scope

    folder = Path(tempfile.mkdtemp(prefix=f"scale-alone-{run.pipeline}-"))
    alone = Memory.from_yaml(ROOT / "pipelines" / PIPELINES[run.pipeline], data_dir=folder)
    alone.open()
    notes = run.size // run.users
    for user, chunk in adds(notes, 1, run.batch):
        alone.add([Event.model_validate(e) for e in chunk], scope=Scope(user_id=user))
    shared_ms, alone_ms = [], []
    scope = Scope(user_id="user0")
    for text in asked:
        for store, times in ((memory, shared_ms), (alone, alone_ms)):
            t = time.perf_counter()
            store.search(text, k=10, scope=scope)
            times.append(time.perf_counter() - t)
    alone.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "scope_notes": notes,
        "scope_shared_p50_ms": ms(pct(shared_ms, 0.5)), "scope_shared_p95_ms": ms(pct(shared_ms, 0.95)),
        "scope_alone_p50_ms": ms(pct(alone_ms, 0.5)), "scope_alone_p95_ms": ms(pct(alone_ms, 0.95)),
    }  # fmt: skip


def search_parts(memory: Any, asked: list[str], scope: Any) -> dict[str, Any]:
    """Time what one ``Memory.search`` is made of, on the store as ingest left it.

    For each query: the whole search (its query embedding not cached), then each
    channel's retrieve on its own (the embedding now cached, so this is the store's
    search alone), then the fusion of the channels' hits. The embedding's own cost is
    ``query_embed_ms`` (measured in :func:`ann_against_exact`).
    """
    from evolvelab import Query
    from evolvelab.modules.retrieve._fusion import fuse

    retriever = memory.retrievers[0]
    channels = getattr(retriever, "_channels", None) or [retriever]
    names = getattr(retriever.config, "channels", None) or [retriever.config.type]
    total: list[float] = []
    parts: dict[str, list[float]] = {name: [] for name in names}
    fusing: list[float] = []
    for text in asked:
        text = f"{text} (parts)"  # not in the embedder's cache yet
        t = time.perf_counter()
        memory.search(text, k=10, scope=scope)
        total.append(time.perf_counter() - t)
        query = Query(text=text, k=10, scope=scope)
        results = []
        for name, channel in zip(names, channels, strict=True):
            t = time.perf_counter()
            hits = channel.retrieve(query, [])
            parts[name].append(time.perf_counter() - t)
            results.append((name, 1.0, hits))
        t = time.perf_counter()
        fuse(results, fusion="score", channel="hybrid")
        fusing.append(time.perf_counter() - t)
    out = {"parts_search_p50_ms": ms(pct(total, 0.5)), "parts_fuse_p50_ms": ms(pct(fusing, 0.5)),
           "parts_k": getattr(retriever.config, "candidates", retriever.config.k)}  # fmt: skip
    out.update({f"parts_{name}_p50_ms": ms(pct(times, 0.5)) for name, times in parts.items()})
    return out


def layout(table: Any) -> dict[str, Any]:
    """Return the table's data fragments and the vector index's segments (deltas)."""
    from evolvelab.modules.store import _lancedb_index as lancedb_index
    from evolvelab.modules.store import _lancedb_schema as rows

    index = lancedb_index.find(table, rows.VECTOR)
    return {"fragments": table.stats()["fragment_stats"]["num_fragments"],
            "vector_index_segments": getattr(index, "num_segments", None)}  # fmt: skip


def ann_against_exact(memory: Any, table: Any, asked: list[str], scope: Any) -> dict[str, Any]:
    """Time the store's vector search and exact numpy over the same vectors, same queries.

    Exact numpy: cosine over the table's vectors held as one normalised float32 matrix,
    top 10 by ``argpartition`` — the physical limit a store search is compared with.
    Both searches get the same query vectors; the embedding time is reported apart.

    Three states of the table, in this order:

    - **as ingest left it** (``store_as_left_*``): the store's own search
      (``search_vectors``, every column, notes built) on the ANN index the store built
      and extended while it grew — one index segment per extension, and data files the
      compaction cannot merge across segments;
    - **index rebuilt** over every row (``ann_*``, ``store_ann_*``): a single segment,
      the data files as they were;
    - **rebuilt and compacted** (``compact_*``): then a compaction, which can now merge
      the data files.

    In the last two, numpy, LanceDB's ANN asked for ids only (``ann``) and the store's
    search run side by side, query by query, so they see the same machine load.
    Recall@10 is against numpy by note id; ``_ties`` counts a hit as right when it is at
    least as similar as numpy's 10th (the synthetic turns repeat, so many notes tie);
    ``lance_flat_recall_at_10`` is LanceDB's exact search by id, the most ties allow.
    """
    import numpy as np

    from evolvelab import Where
    from evolvelab.modules.store import _lancedb_index as lancedb_index
    from evolvelab.modules.store import _lancedb_schema as rows

    store = memory.store
    embedder = memory.resources.embedder
    data = table.search().select(["_key", "id", rows.VECTOR]).limit(None).to_arrow()
    keys = data.column("_key").to_pylist()
    key_of_id = dict(zip(data.column("id").to_pylist(), keys, strict=True))
    flat = data.column(rows.VECTOR).combine_chunks().flatten().to_numpy()
    matrix = np.array(flat.reshape(len(keys), -1), dtype=np.float32)  # a writable copy
    del data, flat
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    t = time.perf_counter()
    vectors = np.asarray(embedder.embed([f"{text} (asked again)" for text in asked]),
                         dtype=np.float32)  # not cached  # fmt: skip
    embed_each = (time.perf_counter() - t) / len(asked)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    row_of = {key: i for i, key in enumerate(keys)}
    exact_top, tenth_best = [], []
    for vector in vectors:
        scores = matrix @ vector
        top = np.argpartition(-scores, 10)[:10]
        exact_top.append({keys[i] for i in top})
        tenth_best.append(float(scores[top].min()))

    def numpy_search(i: int) -> list[str]:
        scores = matrix @ vectors[i]
        return [keys[j] for j in np.argpartition(-scores, 10)[:10]]

    def ann_search(i: int) -> list[str]:
        return (
            table.search(vectors[i], vector_column_name=rows.VECTOR).distance_type("cosine")
            .minimum_nprobes(store.config.nprobes).refine_factor(store.config.refine_factor)
            .select(["_key", "_distance"]).limit(10).to_arrow().column("_key").to_pylist()
        )  # fmt: skip

    def store_search(i: int) -> list[str]:
        hits = store.search_vectors(vectors[i], 10, scope, Where())
        return [key_of_id[hit.note.id] for hit in hits]

    def flat_search(i: int) -> list[str]:
        return (
            table.search(vectors[i], vector_column_name=rows.VECTOR).distance_type("cosine")
            .bypass_vector_index().select(["_key", "_distance"]).limit(10).to_arrow()
            .column("_key").to_pylist()
        )  # fmt: skip

    def side_by_side(searches: dict[str, Any], count: int) -> dict[str, Any]:
        times: dict[str, list[float]] = {name: [] for name in searches}
        recalls: dict[str, list[float]] = {name: [] for name in searches}
        tied: dict[str, list[float]] = {name: [] for name in searches}
        for search in searches.values():  # warm: the first call opens files and caches
            search(0)
        for i in range(count):
            for name, search in searches.items():
                t = time.perf_counter()
                found = search(i)
                times[name].append(time.perf_counter() - t)
                recalls[name].append(len(exact_top[i] & set(found)) / 10)
                bar = tenth_best[i] - 1e-5
                tied[name].append(sum(float(matrix[row_of[k]] @ vectors[i]) >= bar for k in found) / 10)
        out: dict[str, Any] = {}
        for name in searches:
            out[f"{name}_p50_ms"] = ms(pct(times[name], 0.5))
            out[f"{name}_p95_ms"] = ms(pct(times[name], 0.95))
            if name != "numpy_exact":
                out[f"{name}_recall_at_10"] = round(statistics.mean(recalls[name]), 3)
                out[f"{name}_recall_at_10_ties"] = round(statistics.mean(tied[name]), 3)
        return out

    result: dict[str, Any] = {"query_embed_ms": ms(embed_each)}
    as_left = {f"as_left_{k}": v for k, v in layout(table).items()}
    if as_left["as_left_vector_index_segments"] is not None:
        found = side_by_side({"numpy_exact": numpy_search, "store": store_search}, len(vectors))
        as_left.update({f"as_left_{k}": v for k, v in found.items()})
    result.update(as_left)
    flat_part = side_by_side({"lance_flat": flat_search}, min(20, len(vectors)))
    result.update(lance_flat_p50_ms=flat_part["lance_flat_p50_ms"],
                  lance_flat_recall_at_10=flat_part["lance_flat_recall_at_10"])  # fmt: skip
    config = store.config.model_copy(update={"index_threshold": 1})
    index_config = lancedb_index.vector_config(embedder, len(keys), config)
    t = time.perf_counter()
    lancedb_index.build_vector(table, index_config)
    result["index_build_s"] = round(time.perf_counter() - t, 3)
    result["index"] = f"{type(index_config).__name__}, {len(keys)} rows (largest user)"
    searches = {"numpy_exact": numpy_search, "ann": ann_search, "store_ann": store_search}
    result.update(side_by_side(searches, len(vectors)))
    result.update({f"rebuilt_{k}": v for k, v in layout(table).items()})
    t = time.perf_counter()
    table.optimize()
    result["compact_s"] = round(time.perf_counter() - t, 3)
    result.update({f"compact_{k}": v for k, v in layout(table).items()})
    found = side_by_side(searches, len(vectors))
    result.update({f"compact_{k}": v for k, v in found.items()})
    return result


def child(args: argparse.Namespace, size: int, pipeline: str, users: int) -> dict[str, Any] | None:
    """Run one (size, pipeline, users) in a fresh process; return its result or ``None``."""
    command = [sys.executable, __file__, "--one", f"{size}:{pipeline}:{users}",
               "--batch", str(args.batch), "--queries", str(args.queries),
               "--rss-limit-mb", str(args.rss_limit_mb),
               "--scope" if args.scope else "--no-scope"]  # fmt: skip
    if args.progress is not None:
        command += ["--progress", str(args.progress)]
    if args.reuse is not None:
        command += ["--reuse", str(args.reuse)]
    if args.regrow:
        command += ["--regrow"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"{size} {pipeline} ({users} users): failed\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="Note counts, comma-separated.")  # fmt: skip
    parser.add_argument("--max-size", type=int, default=1_000_000,
                        help="Skip sizes above this (a quick run: --max-size 10000).")  # fmt: skip
    parser.add_argument("--pipelines", default="lexical,vector,hybrid")
    parser.add_argument("--vector-max-size", type=int, default=100_000,
                        help="Skip the vector and hybrid pipelines above this size.")  # fmt: skip
    parser.add_argument("--users", type=int, default=100,
                        help="Users the lexical pipeline's turns are spread over.")  # fmt: skip
    parser.add_argument("--vector-users", type=int, default=1,
                        help="Users of the vector and hybrid runs (1: one table of the whole "
                        "size, so the ANN index and numpy search cover every note).")  # fmt: skip
    parser.add_argument("--scope", action=argparse.BooleanOptionalAction, default=True,
                        help="In each run with several users, also build a store of user 0's "
                        "notes alone and time user 0's searches in both, alternating.")  # fmt: skip
    parser.add_argument("--batch", type=int, default=32, help="Events per add.")
    parser.add_argument("--queries", type=int, default=100, help="Searches per run.")
    parser.add_argument("--rss-limit-mb", type=float, default=6000,
                        help="Stop a run's ingest when its RSS passes this (0: never).")  # fmt: skip
    parser.add_argument("--progress", type=Path,
                        help="Append a JSON progress line here every 2%% of each run's adds.")  # fmt: skip
    parser.add_argument("--reuse", type=Path,
                        help="Keep each run's store, as ingest left it, under this folder; a "
                        "later run with the same flag searches a copy of it instead of "
                        "ingesting again (ingest numbers are the first run's).")  # fmt: skip
    parser.add_argument("--regrow", action="store_true",
                        help="With --reuse and a kept store: grow a fresh store through its "
                        "own add with the kept store's notes and vectors (the write path and "
                        "its upkeep, no model), then search it (regrow_* figures).")  # fmt: skip
    parser.add_argument("--out", type=Path, help="Write the results as JSON here.")
    parser.add_argument("--markdown", type=Path, help="Write the results table here.")
    parser.add_argument("--plot", type=Path, help="Plot cost against size into this PNG.")
    parser.add_argument("--plot-progress", type=Path, nargs="*", default=[],
                        help="Progress files whose add times the plot also shows.")  # fmt: skip
    parser.add_argument("--from-json", type=Path, nargs="*", default=[],
                        help="Report (table, plot) results of earlier runs instead of running.")  # fmt: skip
    parser.add_argument("--one", help=argparse.SUPPRESS)  # size:pipeline:users, in a child
    args = parser.parse_args()
    if args.one:
        size, pipeline, users = args.one.split(":")
        print(json.dumps(run_one(Run(args, int(size), pipeline, int(users)))))
        return
    from _scale_report import plot, table  # noqa: PLC0415  (beside this script)

    loaded = [json.loads(path.read_text()) for path in args.from_json]
    results = [r for data in loaded for r in (data if isinstance(data, list) else [data])]
    if not args.from_json:
        results = measure(args)
    if args.markdown:
        args.markdown.write_text(table(results))
    else:
        print(table(results))
    if args.plot:
        progress = [json.loads(line) for path in args.plot_progress
                    for line in path.read_text().splitlines() if line.strip()]  # fmt: skip
        plot(results, args.plot, progress)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run every (size, pipeline) the flags ask for, each in a child; save as it goes."""
    results: list[dict[str, Any]] = []
    for size in (int(s) for s in args.sizes.split(",")):
        if size > args.max_size:
            continue
        for pipeline in args.pipelines.split(","):
            lexical = pipeline not in ("vector", "hybrid")
            if not lexical and size > args.vector_max_size:
                continue
            users = args.users if lexical else args.vector_users
            result = child(args, size, pipeline, users)
            if result is None:
                continue
            results.append(result)
            print(json.dumps(result), flush=True)
            if args.out:
                args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
