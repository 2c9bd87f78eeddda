"""Score a pipeline on a dataset: recall on a turn budget, hit rate, MRR, latency, QA.

:func:`evaluate` replays a dataset through an opened :class:`~evolvelab.Memory` and
returns an :class:`~evolvelab.evaluation.schema.EvalReport`; :func:`evaluate_pipeline`
does the same for a pipeline file on a fresh, temporary memory, so numbers never mix
with an earlier run.
"""

from __future__ import annotations

import bisect
import os
import platform
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evolvelab import __version__, datadir
from evolvelab.datasets import Dataset
from evolvelab.errors import EvolveLabError
from evolvelab.evaluation.metrics import (
    hit_at_k_ids,
    mean,
    percentile,
    rank_ids,
    ranked_sources,
    recall_at_k_ids,
    reciprocal_rank_ids,
)
from evolvelab.evaluation.qa import QASettings, answer_question
from evolvelab.evaluation.replay import Asked, Manage, replay, select_records
from evolvelab.evaluation.schema import (
    CategoryScore,
    Environment,
    EvalReport,
    Histogram,
    HitRecord,
    Ingest,
    Latency,
    LLMCounts,
    QACategory,
    QAReport,
    QueryResult,
)
from evolvelab.llm import llm_available
from evolvelab.stages import LLM, LLMUsage
from evolvelab.stream import Stream

if TYPE_CHECKING:
    from rich.console import Console

    from evolvelab.evaluation.experiential import TaskSettings
    from evolvelab.pipeline import Memory

__all__ = ["DEFAULT_KS", "environment", "evaluate", "evaluate_pipeline"]

DEFAULT_KS = (1, 5, 10, 20)
"""The turn budgets reported by default."""


def _as_dataset(data: Dataset | Stream) -> Dataset:
    if isinstance(data, Dataset):
        return data
    name = data.header.name if data.header is not None else "jsonl"
    return Dataset(name=name, source=data.source, stream=data, notes=data.warnings)


def _usage(llm: LLM | None) -> LLMUsage:
    usage = getattr(llm, "usage", None)
    if usage is None:
        return LLMUsage()
    return LLMUsage(usage.calls, usage.prompt_tokens, usage.completion_tokens, usage.seconds)


def _spent(llm: LLM | None, before: LLMUsage) -> LLMCounts:
    now = _usage(llm)
    return LLMCounts(
        calls=now.calls - before.calls,
        prompt_tokens=now.prompt_tokens - before.prompt_tokens,
        completion_tokens=now.completion_tokens - before.completion_tokens,
        seconds=round(now.seconds - before.seconds, 3),
    )


def _add(a: LLMCounts, b: LLMCounts) -> LLMCounts:
    return LLMCounts(calls=a.calls + b.calls, prompt_tokens=a.prompt_tokens + b.prompt_tokens,
                     completion_tokens=a.completion_tokens + b.completion_tokens,
                     seconds=round(a.seconds + b.seconds, 3))  # fmt: skip


def environment() -> Environment:
    """Describe this machine and the versions in use, for reports."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cpus: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count()
    return Environment(evolvelab=__version__, python=platform.python_version(),
                       platform=f"{platform.system()} {platform.machine()}", cpu=cpu or "unknown",
                       cpus=cpus)  # fmt: skip


def _histogram(values: Sequence[float], bins: int = 20) -> Histogram | None:
    """Count ``values`` in ``bins`` log-spaced bins from the smallest to the largest.

    Latencies have a long right tail: equal-width bins up to one slow outlier put nearly
    every query in the first bar, while log-spaced bins keep the body of the distribution
    readable and still show the tail.
    """
    if not values:
        return None
    low, high = max(min(values), 1e-3), max(max(values), 1e-3)
    if high <= low:
        return Histogram(edges=[round(low, 4), round(low + 1.0, 4)], counts=[len(values)])
    ratio = (high / low) ** (1.0 / bins)
    edges = [low * ratio**i for i in range(bins + 1)]
    edges[-1] = high
    counts = [0] * bins
    for value in values:
        index = bisect.bisect_right(edges, max(value, low)) - 1
        counts[min(max(index, 0), bins - 1)] += 1
    return Histogram(edges=[round(edge, 4) for edge in edges], counts=counts)


def _check_ks(ks: Iterable[int]) -> list[int]:
    chosen = sorted(set(ks))
    if not chosen or chosen[0] < 1:
        raise EvolveLabError(f"turn budgets k must be whole numbers of at least 1, got {list(ks)}")
    return chosen


class _Scorer:
    """Turn asked queries into per-query results."""

    def __init__(self, data: Dataset, ks: list[int], qa: QASettings | None, llm: LLM | None) -> None:
        self.data, self.ks, self.qa, self.llm = data, ks, qa, llm
        self.known: dict[tuple[str | None, str | None], set[str]] = {}
        for event in data.stream.events:
            self.known.setdefault((event.user_id, event.agent_id), set()).add(event.id)
        self.results: list[QueryResult] = []

    def __call__(self, asked: Asked) -> None:
        record = asked.record
        valid = self.known.get((record.user_id, record.agent_id), set())
        gold = [g for g in dict.fromkeys(record.evidence or []) if g in valid]
        ranked = ranked_sources(asked.hits)[: self.ks[-1]]
        result = QueryResult(
            id=record.id, user_id=record.user_id, category=record.category,
            question=record.text, gold=gold, answer=record.answer, ranked=ranked,
            hits=[HitRecord(id=h.note.id, score=h.score, channel=h.channel,
                            sources=list(h.note.source_ids), content=h.note.content)
                  for h in asked.hits],
            recall={str(k): recall_at_k_ids(ranked, gold, k) or 0.0 for k in self.ks} if gold else None,
            rank=rank_ids(ranked, gold) if gold else None,
            search_ms=asked.seconds * 1000,
        )  # fmt: skip
        if self.qa is not None and self.llm is not None:
            outcome = answer_question(
                self.llm, query_id=record.id, question=record.text, hits=asked.hits,
                gold=record.answer, category=self.data.category_name(record.category),
                distractor=record.distractor, settings=self.qa,
            )  # fmt: skip
            result.prediction, result.f1, result.judge = outcome.prediction, outcome.f1, outcome.judge
        self.results.append(result)


def _category_key(code: str) -> tuple[int, Any]:
    return (0, int(code)) if code.isdigit() else (1, code)


def _scores(results: list[QueryResult], ks: list[int]) -> dict[str, Any]:
    scored = [r for r in results if r.recall is not None]
    largest = ks[-1]
    return {
        "questions": len(scored),
        "skipped": len(results) - len(scored),
        "recall": {str(k): mean(r.recall[str(k)] for r in scored) or 0.0 for k in ks},  # type: ignore[index]
        "hit": {str(k): mean(hit_at_k_ids(r.ranked, r.gold, k) or 0.0 for r in scored) or 0.0
                for k in ks},  # fmt: skip
        "mrr": mean(reciprocal_rank_ids(r.ranked, r.gold, largest) or 0.0 for r in scored),
    }


def _score_fields(results: list[QueryResult], ks: list[int], names: dict[str, str]) -> dict[str, Any]:
    """The :class:`EvalReport` fields every replay fills alike: scores, per category, latency.

    ``names`` maps category codes to their names (the dataset's ``categories``).
    """
    codes = sorted({r.category for r in results if r.category is not None}, key=_category_key)
    latencies = [r.search_ms for r in results]
    return {
        **_scores(results, ks),
        "by_category": {
            code: CategoryScore(name=names.get(code),
                                **_scores([r for r in results if r.category == code], ks))
            for code in codes
        },
        "search_ms": Latency(p50=percentile(latencies, 50), p95=percentile(latencies, 95),
                             mean=mean(latencies), max=max(latencies, default=None),
                             histogram=_histogram(latencies)),
        "ks": ks,
        "asked": len(results),
        "categories": {c: names[c] for c in codes if c in names},
    }  # fmt: skip


def _qa_report(results: list[QueryResult], settings: QASettings, spent: LLMCounts) -> QAReport:
    def block(rows: list[QueryResult]) -> dict[str, Any]:
        judged = [r.judge for r in rows if r.judge is not None]
        return {"questions": len(rows), "f1": mean(r.f1 for r in rows if r.f1 is not None),
                "judge": mean(float(j) for j in judged) if judged else None}  # fmt: skip

    answered = [r for r in results if r.f1 is not None]
    codes = sorted({r.category for r in answered if r.category is not None}, key=_category_key)
    by_category = {c: QACategory(**block([r for r in answered if r.category == c])) for c in codes}
    return QAReport(**block(answered), notes=settings.notes, by_category=by_category, llm=spent)


def evaluate(
    memory: Memory,
    data: Dataset | Stream,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    limit: int | None = None,
    scopes: Iterable[str] | None = None,
    order: Literal["end", "stream", "tasks"] | None = None,
    batch_size: int = 32,
    manage: Manage = "end",
    qa: QASettings | None = None,
    qa_llm: LLM | None = None,
    tasks: TaskSettings | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> EvalReport:
    """Replay ``data`` through ``memory`` and score every question.

    Each question's hits are expanded into source event ids in rank order, de-duplicated
    and cut at ``k`` ids (the turn budget); recall@k is the share of its valid gold ids
    (those naming an event of its scope) inside the budget, averaged over questions with
    at least one valid id. The others are counted in ``skipped``.

    Args:
        memory: the pipeline; it should start empty (a warning is recorded otherwise).
        data: a loaded dataset, or a plain stream.
        ks: turn budgets to report; searches ask for ``max(ks)`` hits.
        limit: ask only the first ``limit`` questions (see :func:`select_records`).
        scopes: evaluate only these user ids (e.g. a train or validation split).
        order: ``end`` or ``stream`` (default: the dataset's own).
        batch_size: most events per ``add()`` call.
        manage: ``end`` runs the managers once per scope after its events.
        qa: generate and score answers with these settings (needs an LLM).
        qa_llm: the LLM for QA (default: the pipeline's).
        tasks: how a task stream is replayed (order ``tasks``: see
            :func:`evolvelab.evaluation.experiential.evaluate_tasks`, which takes over).
        progress: show progress bars.
        console: where progress goes.

    Returns:
        The report, with per-query ``results``.

    Raises:
        EvolveLabError: for bad ``ks`` or ``limit``, or QA without an LLM; stage and LLM
            errors propagate.
    """
    started = time.perf_counter()
    dataset = _as_dataset(data)
    chosen_ks = _check_ks(ks)
    order = order or dataset.order
    if order == "tasks":
        from evolvelab.evaluation.experiential import evaluate_tasks

        if qa is not None:
            raise EvolveLabError("QA is not offered on task streams; evaluate them without --qa")
        return evaluate_tasks(memory, dataset, ks=chosen_ks, settings=tasks, limit=limit,
                              scopes=scopes, batch_size=batch_size, progress=progress,
                              console=console)  # fmt: skip
    answer_llm = qa_llm or memory.llm
    if qa is not None and not llm_available(answer_llm):
        raise EvolveLabError(
            f"QA needs an LLM, and pipeline {memory.name!r} has llm: none; set `llm:` in the "
            "pipeline (e.g. {type: openai, model: ...}) or evaluate without QA"
        )
    records = select_records(dataset.stream.records, scopes=scopes, limit=limit, order=order)
    scorer = _Scorer(dataset, chosen_ks, qa, answer_llm)
    memory.open()
    pipeline_before = _usage(memory.llm)
    qa_before = _usage(answer_llm)
    run = replay(memory, records, k=chosen_ks[-1], order=order, batch_size=batch_size,
                 manage=manage, progress=progress, console=console, on_answer=scorer)  # fmt: skip
    results = scorer.results
    qa_spent = _spent(answer_llm, qa_before) if qa is not None else LLMCounts()
    total = _spent(memory.llm, pipeline_before)
    if answer_llm is not memory.llm:
        total = _add(total, qa_spent)
    seconds = run.ingest_seconds
    return EvalReport(
        pipeline=memory.name, dataset=dataset.name,
        **_score_fields(results, chosen_ks, dataset.categories),
        ingest=Ingest(events=run.events, seconds=round(seconds, 3),
                      per_second=run.events / seconds if seconds > 0 else None,
                      scopes=run.scopes, manage_seconds=round(run.manage_seconds, 3)),
        llm=total,
        qa=_qa_report(results, qa, qa_spent) if qa is not None else None,
        session_recall=_session_recall(dataset, results, chosen_ks),
        data=dataset.source, order=order,
        scopes=list(dict.fromkeys(r.user_id for r in records if r.user_id is not None)),
        limit=limit, created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        wall_seconds=round(time.perf_counter() - started, 3), environment=environment(),
        notes=[p.render() for p in dataset.notes], warnings=run.warnings, results=results,
    )  # fmt: skip


def _session_recall(
    dataset: Dataset, results: list[QueryResult], ks: Sequence[int]
) -> dict[str, dict[str, float]] | None:
    """LongMemEval's session recall@k, for datasets that know each question's answer sessions."""
    from evolvelab.datasets.longmemeval import LongMemEvalDataset, session_recall

    if not isinstance(dataset, LongMemEvalDataset) or not dataset.answer_sessions:
        return None
    return session_recall(results, dataset.answer_sessions, ks) or None


def _redirect_paths(memory: Memory) -> tuple[Memory, list[str]]:
    """Rebuild ``memory`` with explicit store paths cleared, so a fresh run stays fresh."""
    from evolvelab.pipeline import Memory

    spec: Any = memory.spec
    update: dict[str, Any] = {}
    moved: list[str] = []
    for slot in ("store", "graph"):
        config = getattr(spec, slot, None)
        if config is not None and getattr(config, "path", None):
            update[slot] = config.model_copy(update={"path": None})
            moved.append(f"{slot}.path {config.path!r} was ignored: a fresh run keeps its data "
                         "in a temporary directory")  # fmt: skip
    if not update:
        return memory, []
    rebuilt = Memory(spec.model_copy(update=update), registry=memory.registry,
                     data_dir=memory.data_dir, llm=memory.llm, embedder=memory.embedder)  # fmt: skip
    return rebuilt, moved


def evaluate_pipeline(
    pipeline: str | Path,
    data: Dataset | Stream,
    *,
    fresh: bool = True,
    data_dir: str | Path | None = None,
    llm: LLM | None = None,
    embedder: Any = None,
    **options: Any,
) -> EvalReport:
    """Build the pipeline in ``pipeline`` and :func:`evaluate` it on ``data``.

    Args:
        pipeline: the pipeline YAML file.
        data: a loaded dataset, or a plain stream.
        fresh: start from an empty memory. Without ``data_dir`` the stores live in a
            temporary directory removed afterwards (explicit store paths in the YAML are
            ignored, and the report says so); with ``data_dir`` that directory must be
            empty or missing.
        data_dir: keep the stores here (e.g. to search them afterwards).
        llm: use this LLM instead of the configured one (e.g. a FakeLLM in tests).
        embedder: use this embedder instead of the configured one.
        options: passed to :func:`evaluate` (``ks``, ``limit``, ``scopes``, ``qa`` ...).

    Returns:
        The report, with ``pipeline_file`` and ``fresh`` filled in.

    Raises:
        ConfigError: for problems in the pipeline file.
        EvolveLabError: if a fresh run is given a ``data_dir`` that is not empty.
    """
    from evolvelab.pipeline import Memory

    overrides: dict[str, Any] = {k: v for k, v in (("llm", llm), ("embedder", embedder)) if v}
    temporary = None
    if data_dir is not None:
        folder = Path(data_dir)
        if fresh and not datadir.is_empty(folder):
            raise EvolveLabError(
                f"data dir {folder} is not empty; a fresh evaluation needs an empty or missing "
                "directory (or evaluate with fresh=False / --no-fresh to reuse it)"
            )
        overrides["data_dir"] = folder
    elif fresh:
        temporary = datadir.make_temporary("evolvelab-eval-")
        overrides["data_dir"] = temporary
    try:
        memory = Memory.from_yaml(pipeline, **overrides)
        moved: list[str] = []
        if fresh and data_dir is None:
            memory, moved = _redirect_paths(memory)
        with memory:
            report = evaluate(memory, data, **options)
        report.pipeline_file = str(pipeline)
        report.fresh = fresh
        report.warnings = moved + report.warnings
        return report
    finally:
        if temporary is not None:
            datadir.remove(temporary)
