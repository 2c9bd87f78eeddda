"""``evolvelab run``: replay a stream through a pipeline and show what it retrieves.

Events are ingested scope by scope in batches (progress bar), then every query is asked
and scored against its gold evidence with recall on a turn budget
(:mod:`evolvelab.metrics`). The whole stream is validated before anything is written.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evolvelab.metrics import evidence_rank, recall_at_k
from evolvelab.pipeline import Memory
from evolvelab.stream import QueryRecord, read_stream

__all__ = ["QueryResult", "RunSummary", "run_stream"]


@dataclass
class QueryResult:
    """One answered query."""

    id: str
    text: str
    category: str | None
    evidence: list[str] | None
    recall: float | None
    rank: int | None
    seconds: float
    hits: list[dict[str, object]] = field(default_factory=list)


@dataclass
class RunSummary:
    """What a run measured."""

    pipeline: str
    stream: str
    k: int
    events: int
    ingest_seconds: float
    queries: int
    scorable: int
    recall: float | None
    search_ms_p50: float | None
    search_ms_p95: float | None
    results: list[QueryResult]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _ask(memory: Memory, record: QueryRecord, k: int) -> QueryResult:
    start = time.perf_counter()
    hits = memory.search(record.to_query(k=k))
    seconds = time.perf_counter() - start
    gold = record.evidence or []
    return QueryResult(
        id=record.id,
        text=record.text,
        category=record.category,
        evidence=record.evidence,
        recall=recall_at_k(hits, gold, k),
        rank=evidence_rank(hits, gold) if gold else None,
        seconds=seconds,
        hits=[
            {"id": h.note.id, "score": round(h.score, 4), "channel": h.channel,
             "sources": h.note.source_ids, "content": h.note.content}
            for h in hits
        ],
    )  # fmt: skip


def run_stream(
    pipeline: Path,
    stream_path: Path,
    *,
    k: int = 10,
    batch_size: int = 32,
    data_dir: Path | None = None,
    fresh: bool = False,
    show: int = 10,
    json_out: Path | None = None,
    quiet: bool = False,
) -> RunSummary:
    """Ingest a stream into a pipeline, ask its queries, print and return the results.

    Raises:
        ConfigError: for problems in the pipeline file.
        StreamError: for malformed stream lines (nothing is ingested then).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(quiet=quiet)
    memory = Memory.from_yaml(pipeline, data_dir=data_dir)
    stream = read_stream(stream_path)
    for warning in stream.warnings:
        console.print(f"[yellow]warning[/yellow] {warning.render()}")
    if fresh and memory.data_dir.exists():
        shutil.rmtree(memory.data_dir)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    events = stream.events
    results: list[QueryResult] = []
    with memory, Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"ingest {len(events)} events", total=len(events))
        start = time.perf_counter()
        for scope, batch in stream.event_batches(batch_size):
            memory.add(batch, scope=scope)
            progress.advance(task, len(batch))
        ingest_seconds = time.perf_counter() - start
        asking = progress.add_task(f"ask {len(stream.queries)} queries", total=len(stream.queries))
        for record in stream.queries:
            results.append(_ask(memory, record, k))
            progress.advance(asking)
    scored = [r.recall for r in results if r.recall is not None]
    latencies = [r.seconds * 1000 for r in results]
    summary = RunSummary(
        pipeline=memory.name,
        stream=str(stream_path),
        k=k,
        events=len(events),
        ingest_seconds=ingest_seconds,
        queries=len(results),
        scorable=len(scored),
        recall=sum(scored) / len(scored) if scored else None,
        search_ms_p50=_percentile(latencies, 50),
        search_ms_p95=_percentile(latencies, 95),
        results=results,
    )
    _render(console, summary, show)
    if json_out is not None:
        json_out.write_text(json.dumps(asdict(summary), indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}")
    return summary


def _render(console: object, summary: RunSummary, show: int) -> None:
    from rich.console import Console
    from rich.table import Table

    assert isinstance(console, Console)
    table = Table(title=f"{summary.pipeline}: first {min(show, summary.queries)} of {summary.queries} queries")
    for column in ("query", "category", "question", "evidence", "top hit"):
        table.add_column(column, overflow="fold")
    for result in summary.results[:show]:
        if not result.evidence:
            found = "-"
        elif result.rank is not None and result.rank <= summary.k:
            found = f"[green]found @{result.rank}[/green]"
        else:
            found = "[red]missed[/red]"
        top = str(result.hits[0]["content"]) if result.hits else ""
        top = top if len(top) <= 70 else top[:67] + "..."
        table.add_row(result.id, result.category or "", result.text, found, top)
    console.print(table)
    rate = summary.events / summary.ingest_seconds if summary.ingest_seconds else 0.0
    recall = "n/a" if summary.recall is None else f"{summary.recall:.3f}"
    p50 = "n/a" if summary.search_ms_p50 is None else f"{summary.search_ms_p50:.1f}"
    p95 = "n/a" if summary.search_ms_p95 is None else f"{summary.search_ms_p95:.1f}"
    console.print(
        f"ingested {summary.events} events in {summary.ingest_seconds:.1f}s ({rate:.0f}/s); "
        f"recall@{summary.k} (turn budget) {recall} over {summary.scorable} scorable queries; "
        f"search p50 {p50} ms, p95 {p95} ms"
    )
