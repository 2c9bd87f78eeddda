"""Measure what the A-MemGuard guard (``type: guard``) costs, and what it catches.

The pipeline ``pipelines/amemguard.yaml`` is run three ways over copies of one ingested
memory: with its ``guard`` stage removed (the baseline), as written (``action: drop``),
with ``action: mark``, and with ``lessons: false`` (which isolates what stored lessons do
to the other channels' rankings). Every query is asked of each, interleaved, in one process, so
latencies are comparable. Reported per variant: recall@k on the turn budget
(:mod:`evolvelab.evaluation.metrics`), search latency p50 / p95 and the guard stage's own share,
how many queries' hits differ from the baseline, lesson warnings shown, lessons stored,
and how many queries returned a poisoned hit that the guard did not flag. The queries are then asked a second time:
the lessons of the first pass now apply to the same questions.

With ``--poison`` one trigger-shaped poisoned event per query is added before the run:
the question itself followed by a wrong answer (the stream's distractor, else the answer
of a later query of the same user), so it ranks near the top for its question.

Usage::

    python benchmarks/amemguard_cost.py                      # the bundled sample stream
    python benchmarks/amemguard_cost.py --stream my.jsonl --k 10
    python benchmarks/amemguard_cost.py --locomo ../shared/data/locomo/locomo-dev.json \
        --conversations 2                                     # LoCoMo turns and QA
    python benchmarks/amemguard_cost.py --poison             # with poisoned events

LoCoMo is converted in memory (one user per conversation; category 5, adversarial, is
skipped); nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from evolvelab.evaluation.metrics import recall_at_k
from evolvelab.pipeline import Memory
from evolvelab.types import Event, Query, Scope

ROOT = Path(__file__).resolve().parents[1]


Loaded = tuple[list[tuple[Scope, list[Event]]], list[tuple[Query, list[str]]], list[str | None]]
"""Event batches, (query, gold evidence) pairs, and a wrong answer per query (or None)."""


def wrong_answers(queries: list[Query], answers: list[str | None], distractors: list[str | None]) -> list[str | None]:
    """Return the distractor of each query, else the answer of the next query in its scope."""
    out: list[str | None] = []
    for n, query in enumerate(queries):
        later = (answers[m] for m in range(n + 1, len(queries)) if queries[m].scope == query.scope)
        out.append(distractors[n] or next((a for a in later if a), None))
    return out


def load_stream(path: Path) -> Loaded:
    from evolvelab.stream import read_stream

    stream = read_stream(path)
    batches = list(stream.event_batches(64))
    queries = [(r.to_query(k=10), list(r.evidence or [])) for r in stream.queries]
    wrong = wrong_answers(
        [q for q, _ in queries], [r.answer for r in stream.queries], [r.distractor for r in stream.queries]
    )
    return batches, queries, wrong


def load_locomo(path: Path, conversations: int) -> Loaded:
    data = json.loads(path.read_text(encoding="utf-8"))[:conversations]
    batches, queries, answers = [], [], []
    for number, sample in enumerate(data):
        scope = Scope(user_id=f"conv{number}")
        events = []
        for key, turns in sample["conversation"].items():
            if key.startswith("session_") and isinstance(turns, list):
                for turn in turns:
                    caption = turn.get("blip_caption")
                    events.append(
                        Event(id=turn["dia_id"], content=turn["text"], speaker=turn["speaker"],
                              metadata={"caption": caption} if caption else {})
                    )  # fmt: skip
        for start in range(0, len(events), 64):
            batches.append((scope, events[start : start + 64]))
        for qa in sample["qa"]:
            if qa.get("category") != 5 and qa.get("evidence"):
                queries.append((Query(text=qa["question"], scope=scope), list(qa["evidence"])))
                answers.append(str(qa.get("answer", "")) or None)
    wrong = wrong_answers([q for q, _ in queries], answers, [None] * len(answers))
    return batches, queries, wrong


def poison(loaded: Loaded) -> Loaded:
    """Add one trigger-shaped poisoned event per query: the question, then a wrong answer.

    Poisoned events have ids ``poison:<n>`` (``n``: the query's position), so a hit built
    from one is recognised by its source id.
    """
    batches, queries, wrong = loaded
    extra: dict[str, list[Event]] = {}
    scopes = {scope.model_dump_json(): scope for scope, _ in batches}
    for n, (query, _) in enumerate(queries):
        if wrong[n]:
            key = query.scope.model_dump_json()
            extra.setdefault(key, []).append(Event(id=f"poison:{n}", content=f"{query.text} {wrong[n]}."))
    return batches + [(scopes[key], events) for key, events in extra.items()], queries, wrong


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def time_guard(memory: Memory, spent: list[float]) -> None:
    """Record the milliseconds the guard stage itself takes on each search."""
    for stage in memory.retrievers:
        if stage.config.type == "guard":
            retrieve = stage.retrieve

            def timed(query: Query, previous: list[Any], retrieve: Any = retrieve) -> Any:
                start = time.perf_counter()
                try:
                    return retrieve(query, previous)
                finally:
                    spent.append((time.perf_counter() - start) * 1000)

            stage.retrieve = timed  # type: ignore[method-assign]


def measure(
    memories: dict[str, Memory], queries: list[tuple[Query, list[str]]], k: int, guard_ms: dict[str, list[float]]
) -> dict[str, dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = {name: {"recall": [], "ms": [], "ids": [], "poisoned": []} for name in memories}
    for name in memories:
        guard_ms[name].clear()
        stats[name]["guard_ms"] = guard_ms[name]
    for query, gold in queries:
        query = query.model_copy(update={"k": k})
        for name, memory in memories.items():
            start = time.perf_counter()
            hits = memory.search(query)
            stats[name]["ms"].append((time.perf_counter() - start) * 1000)
            stats[name]["recall"].append(recall_at_k(hits, gold, k))
            stats[name]["ids"].append([(h.note.id, h.channel) for h in hits])
            stats[name]["poisoned"].append(
                any(
                    source.startswith("poison:")
                    for h in hits
                    if h.channel != "guard_lesson" and "guard_flagged" not in h.explain
                    for source in h.note.source_ids
                )
            )
    return stats


def report(title: str, stats: dict[str, dict[str, Any]], lessons: dict[str, int]) -> None:
    base_ids = stats["baseline"]["ids"]
    print(f"\n{title}\n")
    print(
        "| variant | recall@k | search p50 ms | p95 ms | guard stage p50 / p95 ms | queries changed "
        "| warnings shown | lessons stored | queries with a poisoned hit |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s in stats.items():
        scored = [r for r in s["recall"] if r is not None]
        changed = sum(1 for a, b in zip(s["ids"], base_ids, strict=True) if a != b)
        warnings = sum(1 for ids in s["ids"] if any(ch == "guard_lesson" for _, ch in ids))
        guard = f"{percentile(s['guard_ms'], 50):.1f} / {percentile(s['guard_ms'], 95):.1f}" if s["guard_ms"] else "-"
        print(
            f"| {name} | {sum(scored) / len(scored):.3f} | {percentile(s['ms'], 50):.1f} | "
            f"{percentile(s['ms'], 95):.1f} | {guard} | {changed} | {warnings} | {lessons.get(name, 0)} | "
            f"{sum(s['poisoned'])} |"
        )


def count_lessons(memory: Memory, scopes: list[Scope]) -> int:
    from evolvelab.types import Where

    return sum(1 for scope in scopes for _ in memory.store.scan(scope, Where(kind=["lesson"])))  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", type=Path, default=ROOT / "pipelines" / "amemguard.yaml")
    parser.add_argument("--stream", type=Path, help="a JSONL stream (default: the bundled sample)")
    parser.add_argument("--locomo", type=Path, help="a LoCoMo JSON file instead of a stream")
    parser.add_argument("--conversations", type=int, default=2, help="LoCoMo conversations to use")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--poison", action="store_true", help="inject one poisoned event per query")
    args = parser.parse_args()
    if args.locomo:
        loaded = load_locomo(args.locomo, args.conversations)
        source = f"{args.locomo} ({args.conversations} conversations)"
    else:
        from evolvelab.datasets.sample import sample_path

        path = args.stream or sample_path()
        loaded = load_stream(path)
        source = str(path)
    if args.poison:
        loaded = poison(loaded)
        source += ", one poisoned event per query"
    batches, queries, _ = loaded
    spec = yaml.safe_load(args.pipeline.read_text(encoding="utf-8"))
    guard = next(stage for stage in spec["retrieve"] if stage["type"] == "guard")
    variants = {
        "baseline": [s for s in spec["retrieve"] if s["type"] != "guard"],
        "guard (drop)": spec["retrieve"],
        "guard (mark)": [s if s is not guard else {**guard, "action": "mark"} for s in spec["retrieve"]],
        "guard (drop, no lessons)": [s if s is not guard else {**guard, "lessons": False} for s in spec["retrieve"]],
    }
    scopes = list({b[0].model_dump_json(): b[0] for b in batches}.values())
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "baseline"
        with Memory.from_dict({**spec, "retrieve": variants["baseline"]}, data_dir=first) as memory:
            start = time.perf_counter()
            for scope, events in batches:
                memory.add(events, scope=scope)
            ingest = time.perf_counter() - start
        memories = {}
        for name, retrieve in variants.items():
            data_dir = Path(tmp) / "".join(c if c.isalnum() else "_" for c in name)
            if data_dir != first:
                shutil.copytree(first, data_dir)
            memories[name] = Memory.from_dict({**spec, "retrieve": retrieve}, data_dir=data_dir).open()
        events = sum(len(b[1]) for b in batches)
        print(f"pipeline {args.pipeline.name}; data {source}: {events} events, {len(queries)} queries; "
              f"ingest {ingest:.1f}s; k={args.k}")  # fmt: skip
        guard_ms: dict[str, list[float]] = {name: [] for name in memories}
        for name, memory in memories.items():  # warm up (model, tables) in a scope with no notes
            memory.search(Query(text="warm up", scope=Scope(user_id="__warm_up__")))
            time_guard(memory, guard_ms[name])
        for title in ("first pass (no lessons yet)", "second pass (same queries again: lessons apply)"):
            stats = measure(memories, queries, args.k, guard_ms)
            lessons = {name: count_lessons(m, scopes) for name, m in memories.items()}
            report(title, stats, lessons)
        for memory in memories.values():
            memory.close()


if __name__ == "__main__":
    main()
