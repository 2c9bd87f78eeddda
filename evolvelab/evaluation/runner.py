"""``evolvelab run``: replay a stream through a pipeline and show what it retrieves.

Events are ingested scope by scope in batches (progress bar), then every query is asked
and scored against its gold evidence with recall on a turn budget
(:mod:`evolvelab.evaluation.metrics`). The whole stream is validated before anything is written.
The ingest/ask loop is the one ``evolvelab eval`` uses (:mod:`evolvelab.evaluation.replay`);
``eval`` adds the full report (several budgets, categories, hit rate, MRR, QA).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evolvelab.datadir import prepare, wipe
from evolvelab.evaluation.metrics import evidence_rank, percentile, recall_at_k
from evolvelab.evaluation.replay import Asked, replay
from evolvelab.eventlog import take_writer_lock
from evolvelab.pipeline import Memory
from evolvelab.rebuild import log_dir
from evolvelab.stream import read_stream

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
    dropped: int = 0
    """Items the encoders received but could not keep (reasons in ``warnings``)."""
    warnings: list[str] = field(default_factory=list)


def _result(asked: Asked, k: int) -> QueryResult:
    """Score one asked query the way ``run`` reports it."""
    record, hits = asked.record, asked.hits
    gold = record.evidence or []
    return QueryResult(
        id=record.id,
        text=record.text,
        category=record.category,
        evidence=record.evidence,
        recall=recall_at_k(hits, gold, k),
        rank=evidence_rank(hits, gold) if gold else None,
        seconds=asked.seconds,
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

    Events go in scope by scope, in batches; then every query is asked (the shared loop
    of :func:`evolvelab.evaluation.replay`, in ``end`` order, without outcomes or extra
    manage runs). The data folder's writer lock is held from the (optional) wipe's end
    to the last write, so no server writes beside the run.

    Raises:
        ConfigError: for problems in the pipeline file, or when ``fresh`` would have to
            delete data EvolveLab did not create (see :mod:`evolvelab.datadir`).
        EvolveLabError: another process (``evolvelab serve``) writes the data folder.
        StreamError: for malformed stream lines (nothing is ingested then).
        IngestError: an ``add`` failed; it says what is stored (see
            :mod:`evolvelab.evaluation.replay`).
    """
    from rich.console import Console
    from rich.markup import escape

    console = Console(quiet=quiet)
    memory = Memory.from_yaml(pipeline, data_dir=data_dir)
    stream = read_stream(stream_path)
    for warning in stream.warnings:
        console.print(f"[yellow]warning[/yellow] {escape(warning.render())}")
    if stream.outcomes:  # never silently skipped
        console.print(
            f"note: {len(stream.outcomes)} outcome record{'s' * (len(stream.outcomes) != 1)} "
            "not used: run ingests events and asks queries (`evolvelab eval --dataset tasks` "
            "feeds outcomes back)"
        )
    if fresh:
        spec: Any = memory.spec
        paths = [Path(c.path) for c in (spec.store, spec.graph) if getattr(c, "path", None)]
        wipe(memory.data_dir, store_paths=paths)  # only a folder EvolveLab created and marked
    prepare(Path(memory.data_dir))  # a new folder is marked while it is still empty
    # the one writer of the folder from here on: a server started meanwhile stops at once
    with take_writer_lock(log_dir(memory.data_dir)), memory:
        done = replay(memory, stream.records, k=k, order="end", batch_size=batch_size,
                      manage="none", feedback=False, progress=True, console=console)  # fmt: skip
    results = [_result(asked, k) for asked in done.asked]
    scored = [r.recall for r in results if r.recall is not None]
    latencies = [r.seconds * 1000 for r in results]
    summary = RunSummary(
        pipeline=memory.name,
        stream=str(stream_path),
        k=k,
        events=done.events,
        ingest_seconds=done.ingest_seconds,
        queries=len(results),
        scorable=len(scored),
        recall=sum(scored) / len(scored) if scored else None,
        search_ms_p50=percentile(latencies, 50),
        search_ms_p95=percentile(latencies, 95),
        results=results,
        dropped=done.dropped_count,
        warnings=done.warnings,
    )
    _render(console, summary, show)
    if json_out is not None:
        json_out.write_text(json.dumps(asdict(summary), indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}")
    return summary


def _render(console: object, summary: RunSummary, show: int) -> None:
    from rich.console import Console
    from rich.markup import escape
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
        table.add_row(escape(result.id), escape(result.category or ""), escape(result.text), found,
                      escape(top))  # text from the stream is not markup  # fmt: skip
    console.print(table)
    rate = summary.events / summary.ingest_seconds if summary.ingest_seconds else 0.0
    recall = "n/a" if summary.recall is None else f"{summary.recall:.3f}"
    p50 = "n/a" if summary.search_ms_p50 is None else f"{summary.search_ms_p50:.1f}"
    p95 = "n/a" if summary.search_ms_p95 is None else f"{summary.search_ms_p95:.1f}"
    for warning in summary.warnings:
        console.print(f"[yellow]warning[/yellow] {escape(warning)}")
    dropped = f" ({summary.dropped} item(s) dropped, see the warning)" if summary.dropped else ""
    console.print(
        f"ingested {summary.events} events{dropped} in {summary.ingest_seconds:.1f}s ({rate:.0f}/s); "
        f"recall@{summary.k} (turn budget) {recall} over {summary.scorable} scorable queries; "
        f"search p50 {p50} ms, p95 {p95} ms"
    )
