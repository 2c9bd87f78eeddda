"""Measure the LSH index (``type: lsh``) against exact cosine search.

Three measurements, printed as Markdown tables:

1. **LoCoMo**: every dialogue turn of a LoCoMo JSON file embedded with MiniLM (the
   pipeline default), queried with the file's QA questions; recall@k of the LSH top-k
   against the exact top-k, per (tables, bits, probe radius) setting. Pools: all turns
   of the file together, and each conversation alone (the size of one user's scope).
2. **Synthetic**: unit vectors scattered around random cluster centres, queried with
   fresh points from the same clusters.
3. **Pipeline**: the cost of building a scope's index from a LanceDB note store (scan +
   hashing) and of a search through the retriever, next to ``type: vector``.

Times are the mean per query (and the build time per pool, summed) of the fastest of
three passes. ``candidates`` is the mean number of notes scored exactly per query.

Usage::

    python benchmarks/lsh_recall.py ../shared/data/locomo/locomo-dev.json \
        [--cache /tmp/locomo-minilm.npz] [--synthetic 20000 100000] [--k 10]

The data file is only read; embeddings may be cached outside the repository. BLAS runs
on one thread (set ``OPENBLAS_NUM_THREADS`` to change that), so query times compare the
algorithms rather than the machine's idle cores.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread: stable timings on a shared machine

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evolvelab.modules.retrieve._lsh_index import LSHIndex

SETTINGS = [(1, 8, 0), (1, 8, 1), (4, 8, 1), (8, 10, 0), (8, 10, 1), (16, 10, 1), (8, 12, 2), (16, 12, 2), (16, 8, 1), (32, 10, 1), (32, 12, 1)]


def load_locomo(path: Path) -> tuple[list[str], list[int], list[str], list[int]]:
    """Return turn texts, their conversation numbers, questions and theirs."""
    data = json.loads(path.read_text(encoding="utf-8"))
    turns, turn_conv, questions, question_conv = [], [], [], []
    for number, sample in enumerate(data):
        conversation = sample["conversation"]
        for key, value in conversation.items():
            if key.startswith("session_") and isinstance(value, list):
                for turn in value:
                    text = f"{turn['speaker']}: {turn['text']}"
                    if turn.get("blip_caption"):
                        text += f" (caption: {turn['blip_caption']})"
                    turns.append(text)
                    turn_conv.append(number)
        for qa in sample["qa"]:
            questions.append(qa["question"])
            question_conv.append(number)
    return turns, turn_conv, questions, question_conv


def embed(texts: list[str]) -> np.ndarray:
    """Embed with the pipeline's default MiniLM embedder."""
    from evolvelab.embed import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    embedder.open(None)
    return np.asarray(embedder.embed(texts), dtype=np.float32)


def locomo_vectors(path: Path, cache: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return turn vectors, turn conversation ids, question vectors, question conversation ids."""
    turns, turn_conv, questions, question_conv = load_locomo(path)
    if cache is not None and cache.exists():
        saved = np.load(cache)
        if saved["turns"].shape[0] == len(turns) and saved["questions"].shape[0] == len(questions):
            return saved["turns"], np.asarray(turn_conv), saved["questions"], np.asarray(question_conv)
    start = time.perf_counter()
    turn_vectors, question_vectors = embed(turns), embed(questions)
    print(f"embedded {len(turns)} turns and {len(questions)} questions in {time.perf_counter() - start:.1f} s\n")
    if cache is not None:
        np.savez(cache, turns=turn_vectors, questions=question_vectors)
    return turn_vectors, np.asarray(turn_conv), question_vectors, np.asarray(question_conv)


def clustered(n: int, queries: int, dim: int = 384, clusters: int = 200, spread: float = 0.8, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` data and ``queries`` query unit vectors around shared random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(count: int) -> np.ndarray:
        points = centres[rng.integers(0, clusters, count)]
        points = points + float(spread / np.sqrt(dim)) * rng.standard_normal((count, dim)).astype(np.float32)
        return points / np.linalg.norm(points, axis=1, keepdims=True)

    return draw(n), draw(queries)


def best_of(passes: int, run: Callable[[], object]) -> float:
    """Return the fastest of ``passes`` timed runs, in seconds (the least disturbed by load)."""
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(pools: list[tuple[np.ndarray, np.ndarray]], k: int, passes: int = 3) -> list[dict[str, float]]:
    """Return one row per setting: recall@k, candidates, build and mean query times."""
    reference = []
    exact_s = 0.0
    for data, queries in pools:
        index = LSHIndex(data.shape[1], tables=1, bits=1, seed=0)
        index.build(data)
        reference.append([set(index.exact(q, k)[0].tolist()) for q in queries])
        exact_s += best_of(passes, lambda index=index, queries=queries: [index.exact(q, k) for q in queries])
    n_queries = sum(len(q) for _, q in pools)
    rows = []
    for tables, bits, radius in SETTINGS:
        recalls, candidates, lsh_s, build_s = [], [], 0.0, 0.0
        for (data, queries), truths in zip(pools, reference, strict=True):
            index = LSHIndex(data.shape[1], tables=tables, bits=bits, seed=0)
            build_s += best_of(passes, lambda index=index, data=data: index.build(data))
            for query, truth in zip(queries, truths, strict=True):
                found, _ = index.search(query, k, radius)
                candidates.append(len(index.candidates(query, radius)))
                recalls.append(len(set(found.tolist()) & truth) / max(len(truth), 1))
            lsh_s += best_of(passes, lambda index=index, queries=queries: [index.search(q, k, radius) for q in queries])
        rows.append({
            "tables": tables, "bits": bits, "radius": radius, "recall": float(np.mean(recalls)),
            "candidates": float(np.mean(candidates)), "build_s": build_s,
            "lsh_ms": lsh_s / n_queries * 1000, "exact_ms": exact_s / n_queries * 1000,
        })  # fmt: skip
    return rows


def table(title: str, rows: list[dict[str, float]], k: int) -> None:
    print(f"### {title}\n")
    print(f"| L (tables) | K (bits) | probe radius | recall@{k} | candidates | build | LSH query | exact query |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tables']} | {r['bits']} | {r['radius']} | {r['recall']:.3f} | {r['candidates']:.0f} | "
              f"{r['build_s'] * 1000:.1f} ms | {r['lsh_ms']:.2f} ms | {r['exact_ms']:.2f} ms |")  # fmt: skip
    print()


def pipeline_cost(vectors: np.ndarray, k: int) -> None:
    """Time index builds from a LanceDB store and searches through the retrievers."""
    from evolvelab import Memory
    from evolvelab.types import Note, Scope

    scope = Scope(user_id="bench")
    notes = [
        Note(id=f"n{i}", content=f"note {i}", kind="thought", scope=scope, embedding=v.tolist())
        for i, v in enumerate(vectors)
    ]
    spec = {
        "version": 1, "name": "lsh-bench", "embedder": {"type": "minilm"},
        "encode": [{"type": "turn"}], "store": {"type": "lancedb"},
        "retrieve": [{"type": "lsh", "k": k}],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        memory = Memory.from_dict(spec, data_dir=tmp).open()
        memory.resources.write(notes)
        lsh = memory.retrievers[0]
        vector_spec = {**spec, "retrieve": [{"type": "vector", "k": k}]}
        vector = Memory.from_dict(vector_spec, data_dir=tmp).open()
        questions = ["What did she paint last year?", "Where does he work now?", "Who adopted a dog?"]
        memory.search(questions[0], k=k, scope=scope)
        first = lsh.build_seconds
        lsh_ms, vector_ms = [], []
        for _ in range(10):
            for question in questions:
                start = time.perf_counter()
                memory.search(question, k=k, scope=scope)
                lsh_ms.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                vector.search(question, k=k, scope=scope)
                vector_ms.append((time.perf_counter() - start) * 1000)
        rebuilds = []
        for i in range(3):
            memory.resources.write([notes[i].model_copy(update={"id": f"extra{i}"})])
            start = time.perf_counter()
            memory.search(questions[0], k=k, scope=scope)
            rebuilds.append((time.perf_counter() - start) * 1000)
        memory.close()
        vector.close()
    print("### Pipeline (LanceDB store, default `lsh` settings)\n")
    print(f"- first search of a {len(notes)}-note scope builds its index: {first * 1000:.0f} ms (scan + hashing)")
    print(f"- later searches, index cached: p50 {np.median(lsh_ms):.1f} ms (`type: vector`: p50 {np.median(vector_ms):.1f} ms), embedding the query included")
    print(f"- a search right after an add (count changed, index rebuilt): p50 {np.median(rebuilds):.0f} ms\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("locomo", type=Path, help="LoCoMo JSON file (read only)")
    parser.add_argument("--cache", type=Path, help="npz file for the MiniLM vectors (outside the repo)")
    parser.add_argument("--synthetic", type=int, nargs="*", default=[20000], help="synthetic pool sizes")
    parser.add_argument("--k", type=int, default=10, help="recall@k")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipeline timings")
    parser.add_argument("--pipeline-only", action="store_true", help="only the pipeline timings")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {load:.1f}, numpy {np.__version__}, "
          f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}\n")
    turns, turn_conv, questions, question_conv = locomo_vectors(args.locomo, args.cache)
    k = args.k
    if args.pipeline_only:
        pipeline_cost(turns, k)
        return
    table(f"LoCoMo, all {len(turns)} turns in one pool, {len(questions)} QA questions as queries",
          measure([(turns, questions)], k), k)  # fmt: skip
    per_conv = [(turns[turn_conv == c], questions[question_conv == c]) for c in np.unique(turn_conv)]
    sizes = ", ".join(str(len(p[0])) for p in per_conv)
    table(f"LoCoMo, one pool per conversation ({sizes} turns), its own questions", measure(per_conv, k), k)
    for n in args.synthetic:
        data, queries = clustered(n, 500)
        table(f"Synthetic: {n} unit vectors, 384-d, 200 clusters, 500 queries", measure([(data, queries)], k), k)
    if not args.no_pipeline:
        pipeline_cost(turns, k)


if __name__ == "__main__":
    main()
