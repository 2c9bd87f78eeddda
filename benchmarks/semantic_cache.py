"""Measure the semantic cache on a stream of repeated and paraphrased LoCoMo questions.

Usage::

    python benchmarks/semantic_cache.py ../shared/data/locomo/locomo-dev.json \
        [--cached pipelines/conversation-cached.yaml] [--base pipelines/conversation.yaml] \
        [--questions 60] [--repeats 2] [--seed 0] [--json out.json]

How the stream is built (deterministic for a seed):

1. from each conversation, ``--questions`` questions with evidence are drawn at random;
2. each drawn question is asked once as written (the *original*) and ``--repeats`` more
   times, each time either verbatim (a *repeat*, one time in three) or through one of the
   paraphrase templates below (a *paraphrase*); the templates change the words around the
   question and a few fixed phrasings ("What kind of" → "What type of", "favorite" →
   "favourite", "How many" → "What number of"), so the content words stay and the test is
   of phrasing, not of meaning-level paraphrase;
3. all asks of a conversation are shuffled, the first ask of each question being its
   original, and the conversations follow one another.

Each conversation is ingested into two fresh memories, the cached pipeline and the base
pipeline it fronts; every ask goes to both. A **hit** is an ask the cache answered; a
**false hit** is a hit whose served question belongs to another drawn question (its
hits answer something else). Recall@10 (turn budget) of what was served is compared
with the base pipeline's. Latency saved is the base pipeline's search time minus the
cached pipeline's, summed and per ask. After the stream one event is added to each
conversation and one repeat asked again, to check that the write invalidated the cache.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from evolvelab import Event, Memory, Scope
from evolvelab.datasets import load_dataset
from evolvelab.evaluation import environment
from evolvelab.evaluation.metrics import ranked_sources, recall_at_k_ids

ROOT = Path(__file__).resolve().parents[1]

TEMPLATES = [
    "Can you remind me: {q}",
    "{bare}, do you remember?",
    "Quick question - {lower}",
    "I was wondering, {lower}",
    "{q} Thanks!",
    "{swapped}",
]
SWAPS = [("What kind of", "What type of"), ("favorite", "favourite"), ("How many", "What number of"),
         ("What did", "What was it that"), ("Where did", "Where was it that")]  # fmt: skip


def paraphrase(question: str, rng: random.Random) -> str:
    """Return ``question`` through one template chosen by ``rng``."""
    bare = question.rstrip(" ?")
    lower = question[:1].lower() + question[1:]
    swapped = question
    for old, new in SWAPS:
        swapped = re.sub(re.escape(old), new, swapped)
    if swapped == question:
        swapped = f"Tell me again: {lower}"
    return rng.choice(TEMPLATES).format(q=question, bare=bare, lower=lower, swapped=swapped)


def build_stream(data: Any, questions: int, repeats: int, seed: int) -> list[dict[str, Any]]:
    """Return the asks: ``{scope, family, kind, text, gold, category}`` in stream order."""
    rng = random.Random(seed)
    by_scope: dict[str, list[Any]] = {}
    for query in data.stream.queries:
        if query.evidence:
            by_scope.setdefault(query.user_id, []).append(query)
    stream: list[dict[str, Any]] = []
    for scope, pool in by_scope.items():
        drawn = rng.sample(pool, min(questions, len(pool)))
        asks = []
        for query in drawn:
            base = {
                "scope": scope,
                "family": query.id,
                "gold": query.evidence,
                "category": query.category,
            }
            asks.append({**base, "kind": "original", "text": query.text})
            for _ in range(repeats):
                if rng.random() < 1 / 3:
                    asks.append({**base, "kind": "repeat", "text": query.text})
                else:
                    asks.append({**base, "kind": "paraphrase", "text": paraphrase(query.text, rng)})
        rng.shuffle(asks)
        first: dict[str, int] = {}
        for i, ask in enumerate(asks):
            first.setdefault(ask["family"], i)
        for family, i in first.items():  # each question's first ask is its original
            j = next(
                j for j, a in enumerate(asks) if a["family"] == family and a["kind"] == "original"
            )
            asks[i], asks[j] = asks[j], asks[i]
        stream.extend(asks)
    return stream


def _ingest(memory: Memory, data: Any, scope: str) -> float:
    events = [r for r in data.stream.events if r.user_id == scope]
    start = time.perf_counter()
    for i in range(0, len(events), 32):
        memory.add([e.to_event() for e in events[i : i + 32]], scope=Scope(user_id=scope))
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load_dataset("locomo", args.data)
    stream = build_stream(data, args.questions, args.repeats, args.seed)
    rows: list[dict[str, Any]] = []
    writes: list[bool] = []
    with tempfile.TemporaryDirectory() as tmp:
        cached = Memory.from_yaml(args.cached, data_dir=Path(tmp) / "cached").open()
        base = Memory.from_yaml(args.base, data_dir=Path(tmp) / "base").open()
        cache = next(r for r in cached.retrievers if r.config.type == "semantic_cache")
        for scope in dict.fromkeys(a["scope"] for a in stream):
            _ingest(cached, data, scope)
            _ingest(base, data, scope)
            asked: dict[str, str] = {}
            for ask in (a for a in stream if a["scope"] == scope):
                who = Scope(user_id=scope)
                start = time.perf_counter()
                served = cached.search(ask["text"], k=20, scope=who)
                cached_ms = (time.perf_counter() - start) * 1000
                lookup = cache.last
                start = time.perf_counter()
                fresh = base.search(ask["text"], k=20, scope=who)
                base_ms = (time.perf_counter() - start) * 1000
                matched = asked.get(lookup.matched) if lookup.hit else None
                asked.setdefault(ask["text"], ask["family"])
                rows.append({
                    **{k: ask[k] for k in ("scope", "family", "kind", "category")},
                    "hit": lookup.hit, "false_hit": lookup.hit and matched != ask["family"],
                    "cache_category": lookup.category, "cached_ms": cached_ms, "base_ms": base_ms,
                    "recall": recall_at_k_ids(ranked_sources(served)[:10], ask["gold"], 10) or 0.0,
                    "base_recall": recall_at_k_ids(ranked_sources(fresh)[:10], ask["gold"], 10) or 0.0,
                })  # fmt: skip
            # a write to the scope must empty its cache: the first ask again must miss
            first = next(a for a in stream if a["scope"] == scope)
            cached.add([Event(id=f"bench-write-{scope}", content="A new turn after the questions.")],
                       scope=Scope(user_id=scope))  # fmt: skip
            cached.search(first["text"], k=20, scope=Scope(user_id=scope))
            writes.append(not cache.last.hit)
        stats = dict(cache.stats)
        cached.close()
        base.close()
    return summarise(rows, writes, stats, args)


def _block(rows: list[dict[str, Any]]) -> dict[str, Any]:
    hits = [r for r in rows if r["hit"]]
    saved = [r["base_ms"] - r["cached_ms"] for r in rows]
    return {
        "asks": len(rows),
        "hit_rate": len(hits) / len(rows) if rows else None,
        "false_hit_rate": sum(r["false_hit"] for r in hits) / len(hits) if hits else None,
        "recall10_cached": statistics.fmean(r["recall"] for r in rows) if rows else None,
        "recall10_base": statistics.fmean(r["base_recall"] for r in rows) if rows else None,
        "cached_ms_p50": statistics.median(r["cached_ms"] for r in rows) if rows else None,
        "base_ms_p50": statistics.median(r["base_ms"] for r in rows) if rows else None,
        "saved_ms_mean": statistics.fmean(saved) if saved else None,
        "saved_s_total": sum(saved) / 1000,
        "hit_ms_p50": statistics.median(r["cached_ms"] for r in hits) if hits else None,
    }


def summarise(rows: list[dict[str, Any]], writes: list[bool], stats: dict[str, int],
              args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    kinds = {
        k: _block([r for r in rows if r["kind"] == k]) for k in ("original", "repeat", "paraphrase")
    }
    categories = {c: _block([r for r in rows if r["cache_category"] == c])
                  for c in sorted({r["cache_category"] for r in rows})}  # fmt: skip
    return {
        "data": str(args.data), "cached": str(args.cached), "base": str(args.base),
        "questions_per_conversation": args.questions, "repeats": args.repeats, "seed": args.seed,
        "overall": _block(rows), "by_kind": kinds, "by_cache_category": categories,
        "asks_by_kind": dict(Counter(r["kind"] for r in rows)),
        "write_invalidated": f"{sum(writes)}/{len(writes)}", "cache_stats": stats,
        "environment": environment().model_dump(),
    }  # fmt: skip


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render(report: dict[str, Any]) -> str:
    lines = ["| asks | n | hit rate | false-hit rate | recall@10 cached | recall@10 base | "
             "p50 ms cached | p50 ms base | saved ms/ask |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    blocks = [("all", report["overall"]), *report["by_kind"].items(),
              *((f"category {c}", b) for c, b in report["by_cache_category"].items())]  # fmt: skip
    for name, b in blocks:
        lines.append(f"| {name} | {b['asks']} | {_fmt(b['hit_rate'])} | {_fmt(b['false_hit_rate'])} | "
                     f"{_fmt(b['recall10_cached'])} | {_fmt(b['recall10_base'])} | {_fmt(b['cached_ms_p50'], 1)} | "
                     f"{_fmt(b['base_ms_p50'], 1)} | {_fmt(b['saved_ms_mean'], 1)} |")  # fmt: skip
    lines.append("")
    lines.append(f"- stream: {report['asks_by_kind']} from {report['data']} (LoCoMo dev), "
                 f"{report['questions_per_conversation']} questions per conversation, {report['repeats']} "
                 f"re-asks each, seed {report['seed']}")  # fmt: skip
    lines.append(
        f"- a write to the scope invalidated the cache: {report['write_invalidated']} conversations"
    )
    env = report["environment"]
    lines.append(f"- machine: {env['cpu']}, {env['cpus']} CPUs, Python {env['python']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="LoCoMo JSON (e.g. locomo-dev.json)")
    parser.add_argument(
        "--cached", type=Path, default=ROOT / "pipelines" / "conversation-cached.yaml"
    )
    parser.add_argument("--base", type=Path, default=ROOT / "pipelines" / "conversation.yaml")
    parser.add_argument(
        "--questions", type=int, default=60, help="questions drawn per conversation"
    )
    parser.add_argument("--repeats", type=int, default=2, help="re-asks per drawn question")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args()
    report = run(args)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
