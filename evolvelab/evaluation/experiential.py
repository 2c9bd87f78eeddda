"""Score memory on an experiential task stream: does it supply what helps, as experience grows?

The stream is replayed **task by task** (``evolvelab eval PIPELINE --dataset tasks``):

1. the task's query searches memory for ``max(ks)`` hits; the first ``context`` hits
   are *supplied* to the task, and their note ids recorded;
2. the task's episode (its events) is ingested;
3. the outcome is fed back with ``Memory.feedback(outcome, supplied ids)``: with
   ``feedback: simulated`` (the default) the outcome is that of an agent given the
   supplied episodes (it succeeds when more of them help than mislead, see
   :mod:`evolvelab.evaluation._task_scores`), so credit follows what memory supplied;
   with ``feedback: recorded`` the stream's own outcome record is fed back.

Memory never sees the annotations: only the outcomes. Helpful and misleading episodes
count only once they are in memory (ingested before the task is asked), so a stream
annotated against every other episode serves any order; :func:`permute` shuffles the
task blocks, and :func:`evaluate_tasks_pipeline` replays a few permutations on fresh
memories for the order-robustness spread.

ExpRAG (``pipelines/exprag.yaml``: one note per episode, retrieved by similarity), here
with a hashing embedder and an in-memory store, on the bundled task stream, in its own
order and two permutations:

    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from evolvelab.datasets.tasks import load_tasks, tasks_sample_path
    >>> from evolvelab.evaluation.experiential import evaluate_tasks_pipeline
    >>> pipeline = Path(tempfile.mkdtemp()) / "exprag.yaml"
    >>> _ = pipeline.write_text('''
    ... version: 1
    ... name: exprag
    ... embedder: {type: hashing, dim: 256}
    ... encode: [{type: experience, index: episode}]
    ... store: {type: memory}
    ... retrieve: [{type: vector, k: 10}]
    ... ''')
    >>> data = load_tasks(tasks_sample_path())
    >>> report = evaluate_tasks_pipeline(pipeline, data, permutations=2)
    >>> len(report.experience.orders), round(report.helpful_recall["5"], 2)
    (3, 0.71)
    >>> spread = report.experience.robustness["misleading_rate"]["5"]   # over the 3 orders
    >>> spread.min <= report.misleading_rate["5"] <= spread.max
    True
    >>> shutil.rmtree(pipeline.parent)
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evolvelab.datasets import Dataset
from evolvelab.datasets.tasks import TaskBlock, episode_of, task_blocks
from evolvelab.errors import EvolveLabError
from evolvelab.evaluation._task_render import render_experience
from evolvelab.evaluation._task_scores import (
    TaskScore,
    curve,
    episode_budget,
    order_scores,
    score_task,
    simulated_outcome,
    spread,
)
from evolvelab.evaluation.metrics import rank_ids, ranked_sources, recall_at_k_ids
from evolvelab.evaluation.replay import Replay, _Progress, _Runner, held_warnings
from evolvelab.evaluation.schema import EvalReport, ExperienceReport, Ingest, QueryResult
from evolvelab.stream import EventRecord, OutcomeRecord, QueryRecord, Stream, StreamRecord
from evolvelab.types import Outcome

if TYPE_CHECKING:
    from rich.console import Console

    from evolvelab.pipeline import Memory

__all__ = ["TASK_KS", "TaskSettings", "evaluate_tasks", "evaluate_tasks_pipeline", "experience_metric",
           "permute", "render_experience"]  # fmt: skip

TASK_KS = (1, 5, 10)
"""The episode budgets reported by default."""

Feedback = Literal["simulated", "recorded"]


@dataclass(frozen=True)
class TaskSettings:
    """How a task stream is replayed.

    Attributes:
        context: hits supplied to each task (their ids are fed back).
        feedback: ``simulated`` (an agent given the supplied episodes) or ``recorded``
            (the stream's outcome records).
        window: tasks per point of the curve over the stream.
    """

    context: int = 5
    feedback: Feedback = "simulated"
    window: int = 10

    def __post_init__(self) -> None:
        if self.context < 1 or self.window < 1:
            raise EvolveLabError(
                f"context and window must be at least 1, got {self.context}, {self.window}"
            )
        if self.feedback not in ("simulated", "recorded"):
            raise EvolveLabError(f"unknown feedback {self.feedback!r}; allowed: simulated, recorded")


def permute(data: Dataset, seed: int) -> Dataset:
    """Return ``data`` with its task blocks shuffled by ``random.Random(seed)`` (prefix kept first)."""
    prefix, blocks = task_blocks(data.stream)
    shuffled = list(blocks)
    random.Random(seed).shuffle(shuffled)
    records = [*prefix, *(r for b in shuffled for r in (b.query, *b.records))]
    stream = Stream(source=data.stream.source, header=data.stream.header, records=tuple(records),
                    warnings=data.stream.warnings)  # fmt: skip
    return replace(data, stream=stream)


def _key(record: StreamRecord) -> tuple[str | None, str | None]:
    return record.user_id, record.agent_id


class _Run:
    """The state of one replay: what is in memory, what each task got."""

    def __init__(self, memory: Memory, data: Dataset, ks: list[int], settings: TaskSettings,
                 batch_size: int) -> None:  # fmt: skip
        self.memory, self.ks, self.settings, self.batch = memory, ks, settings, batch_size
        self.episodes = episode_of(data.stream.events)
        self.local: dict[tuple[str | None, str | None], dict[str, str]] = {}
        for (user_id, agent_id, event), episode in self.episodes.items():
            self.local.setdefault((user_id, agent_id), {})[event] = episode
        self.ingested: dict[tuple[str | None, str | None], set[str]] = {}
        self.replay = Replay()
        """Events ingested, time spent, what ingestion dropped (the plain replay's counters)."""
        self._runner = _Runner(memory, self.replay, ks[-1], feedback=True, on_answer=None)
        self.rows: list[TaskScore] = []
        self.results: list[QueryResult] = []
        self.supplied: dict[str, list[str]] = {}

    def add(self, records: Sequence[StreamRecord]) -> None:
        """Ingest the events among ``records`` (consecutive events of a scope batched)."""
        pending: list[EventRecord] = []
        for record in [*records, None]:
            if isinstance(record, EventRecord) and (
                not pending or (_key(pending[0]) == _key(record) and len(pending) < self.batch)
            ):
                pending.append(record)
                continue
            if pending:
                self._runner.add(pending)
                self.ingested.setdefault(_key(pending[0]), set()).update(e.id for e in pending)
            pending = [record] if isinstance(record, EventRecord) else []

    def _valid(self, query: QueryRecord, ids: Iterable[str] | None) -> tuple[list[str], set[str]]:
        """Return the annotated ids already in memory, and their episodes."""
        scope = _key(query)
        known = self.ingested.get(scope, set())
        steps = [i for i in dict.fromkeys(ids or ()) if i in known]
        return steps, {self.episodes[(scope[0], scope[1], i)] for i in steps}

    def ask(self, query: QueryRecord, position: int) -> None:
        """Search for ``query``, score what came back, and remember what was supplied."""
        asked = self._runner.ask(query)
        hits, seconds = asked.hits, asked.seconds
        scope = _key(query)
        local = self.local.get(scope, {})
        budget = episode_budget(hits, local, self.ks[-1])
        gold, helpful = self._valid(query, query.evidence)
        _, misleading = self._valid(query, query.misleading)
        row = score_task(position, budget, helpful, misleading, self.ks)
        supplied = hits[: self.settings.context]
        row.supplied = episode_budget(supplied, local)
        self.supplied[query.id] = [h.note.id for h in supplied]
        self.rows.append(row)
        ranked = ranked_sources(hits)[: self.ks[-1]]
        self.results.append(QueryResult(
            id=query.id, user_id=query.user_id, category=query.category, question=query.text,
            gold=gold, answer=query.answer, ranked=ranked,
            recall={str(k): recall_at_k_ids(ranked, gold, k) or 0.0 for k in self.ks} if gold else None,
            rank=rank_ids(ranked, gold) if gold else None, search_ms=seconds * 1000,
        ))  # fmt: skip
        self._helpful, self._misleading = helpful, misleading

    def feed(self, block: TaskBlock) -> None:
        """Feed the task's outcome back (simulated, or the recorded outcome records)."""
        query = block.query
        row = self.rows[-1]
        used = self.supplied[query.id]
        recorded = [r for r in block.records if isinstance(r, OutcomeRecord)]
        if self.settings.feedback == "simulated":
            success, score = simulated_outcome(row.supplied, self._helpful, self._misleading)
            row.success = success
            outcome = Outcome(task_id=query.id, success=success, score=score, scope=query.scope(),
                              at=query.at, detail="simulated from the supplied episodes")  # fmt: skip
            self._feedback(outcome, used)
            recorded = [r for r in recorded if r.query_id != query.id]
        for record in recorded:
            ids = used if record.query_id == query.id else record.used_ids
            if record.query_id == query.id:
                row.success = record.success
            self._feedback(record.to_outcome(), ids)

    def _feedback(self, outcome: Outcome, used: list[str]) -> None:
        start = time.perf_counter()
        self.memory.feedback(outcome, used)
        self.replay.ingest_seconds += time.perf_counter() - start
        self.replay.outcomes += 1


def _select(
    data: Dataset, scopes: Iterable[str] | None, limit: int | None
) -> tuple[list[StreamRecord], list[TaskBlock]]:
    if limit is not None and limit < 1:
        raise EvolveLabError(f"limit must be at least 1, got {limit}")
    prefix, blocks = task_blocks(data.stream)
    if scopes is not None:
        wanted = set(scopes)
        prefix = [r for r in prefix if r.user_id in wanted]
        blocks = [replace(b, records=tuple(r for r in b.records if r.user_id in wanted))
                  for b in blocks if b.query.user_id in wanted]  # fmt: skip
    return prefix, blocks[:limit] if limit is not None else blocks


def evaluate_tasks(
    memory: Memory,
    data: Dataset,
    *,
    ks: Iterable[int] = TASK_KS,
    settings: TaskSettings | None = None,
    limit: int | None = None,
    scopes: Iterable[str] | None = None,
    batch_size: int = 32,
    progress: bool = False,
    console: Console | None = None,
) -> EvalReport:
    """Replay a task stream through ``memory`` task by task and score what it supplied.

    Args:
        memory: the pipeline (it should start empty; a warning is recorded otherwise).
        data: a task stream (``load_tasks``), or any stream laid out in task blocks.
        ks: episode budgets to report; searches ask for ``max(ks)`` hits.
        settings: context size, feedback mode and curve window (see :class:`TaskSettings`).
        limit: replay only the first ``limit`` tasks.
        scopes: replay only the records of these user ids.
        batch_size: most events per ``add()`` call.
        progress: show a progress bar.
        console: where the bar goes.

    Returns:
        The report: ``helpful_recall`` and ``misleading_rate`` per k, ``experience`` (the
        curve over the stream; one order), step-level ``recall`` of the helpful steps.

    Raises:
        EvolveLabError: for bad ``ks`` or ``limit``.
        IngestError: an ``add`` failed (which batch, and what is stored); other stage
            errors propagate.
    """
    from evolvelab.evaluation.core import _check_ks, _score_fields, _spent, _usage, environment

    started = time.perf_counter()
    settings = settings or TaskSettings()
    chosen = _check_ks(ks)
    prefix, blocks = _select(data, scopes, limit)
    memory.open()
    warnings = held_warnings(memory, dict.fromkeys(_key(r) for b in blocks for r in (b.query, *b.records)))
    before = _usage(memory.llm)
    run = _Run(memory, data, chosen, settings, batch_size)
    run.add(prefix)
    for record in prefix:  # outcomes before the first task: fed as recorded
        if isinstance(record, OutcomeRecord):
            run._feedback(record.to_outcome(), list(record.used_ids))
    if progress and console is None:
        from rich.console import Console

        console = Console(stderr=True)
    with _Progress(progress, console) as bars:
        task = bars.task(f"replay {len(blocks)} tasks", len(blocks))
        for position, block in enumerate(blocks, start=1):
            run.ask(block.query, position)
            run.add(block.records)
            run.feed(block)
            bars.advance(task)
    headline = order_scores(run.rows, chosen, None)
    experience = ExperienceReport(
        tasks=len(run.rows), helpful_tasks=sum(r.helpful_recall is not None for r in run.rows),
        misleading_tasks=sum(r.misleading_rate is not None for r in run.rows),
        context=settings.context, feedback=settings.feedback, success_rate=headline.success_rate,
        curve=curve(run.rows, chosen, settings.window), orders=[headline],
    )  # fmt: skip
    seconds = run.replay.ingest_seconds
    run.replay.warn_dropped()
    return EvalReport(
        pipeline=memory.name, dataset=data.name, **_score_fields(run.results, chosen, data.categories),
        ingest=Ingest(events=run.replay.events, seconds=round(seconds, 3),
                      per_second=run.replay.events / seconds if seconds > 0 else None,
                      scopes=len({_key(b.query) for b in blocks})),
        llm=_spent(memory.llm, before), data=data.source, order="tasks",
        scopes=list(dict.fromkeys(b.query.user_id for b in blocks if b.query.user_id is not None)),
        limit=limit, created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        wall_seconds=round(time.perf_counter() - started, 3), environment=environment(),
        notes=[p.render() for p in data.notes], warnings=warnings + run.replay.warnings, results=run.results,
        helpful_recall=headline.helpful_recall, misleading_rate=headline.misleading_rate,
        experience=experience,
    )  # fmt: skip


def evaluate_tasks_pipeline(
    pipeline: str | Path, data: Dataset, *, permutations: int = 3, seed: int = 0, **options: Any
) -> EvalReport:
    """Evaluate a pipeline file on a task stream in its own order and ``permutations`` others.

    Every order gets a fresh memory. The report is the stream order's, with
    ``experience.orders`` holding every order's headline scores and
    ``experience.robustness`` their spread.

    Args:
        pipeline: the pipeline YAML file.
        data: the task stream.
        permutations: extra replay orders (``permute`` with seeds ``seed+1`` …).
        seed: the base of the permutation seeds.
        options: passed to :func:`~evolvelab.evaluation.evaluate_pipeline` (``ks``,
            ``tasks`` settings, ``llm``, ``embedder``, ``fresh``, ``data_dir`` …); the
            permutations always run on temporary fresh memories.

    Raises:
        EvolveLabError: for a negative number of permutations.
    """
    from evolvelab.evaluation.core import evaluate_pipeline

    if permutations < 0:
        raise EvolveLabError(f"permutations must be 0 or more, got {permutations}")
    options.setdefault("ks", TASK_KS)
    report = evaluate_pipeline(pipeline, data, order="tasks", **options)
    assert report.experience is not None
    orders = list(report.experience.orders)
    quiet = {k: v for k, v in options.items() if k not in ("fresh", "data_dir", "progress", "console")}
    for offset in range(1, permutations + 1):
        other = evaluate_pipeline(pipeline, permute(data, seed + offset), order="tasks", **quiet)
        assert other.experience is not None
        orders.append(other.experience.orders[0].model_copy(update={"seed": seed + offset}))
    report.experience.orders = orders
    report.experience.robustness = spread(orders)
    return report


def experience_metric(report: EvalReport, metric: str) -> float:
    """Read ``helpful_recall@K``, ``misleading_rate@K`` or ``task_success`` off a report.

    These are the experiential objectives the evolver can optimise (helpful recall and
    task success up, misleading rate down).

    Raises:
        EvolveLabError: if the report has no experiential scores or lacks that budget.
    """
    if metric == "task_success":
        if report.experience is None or report.experience.success_rate is None:
            raise EvolveLabError(f"the report of {report.pipeline!r} has no task success rate")
        return float(report.experience.success_rate)
    name, _, k = metric.partition("@")
    table = {"helpful_recall": report.helpful_recall, "misleading_rate": report.misleading_rate}.get(name)
    if name not in ("helpful_recall", "misleading_rate"):
        raise EvolveLabError(f"unknown experiential metric {metric!r}; allowed: helpful_recall@K, "
                             "misleading_rate@K, task_success")  # fmt: skip
    if table is None:
        raise EvolveLabError(f"{metric} needs an experiential task stream (--dataset tasks)")
    if k not in table:
        raise EvolveLabError(f"the report has no {metric} (budgets: {', '.join(table)})")
    return float(table[k])

