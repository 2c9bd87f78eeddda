"""The evaluation report: what ``evolvelab eval`` writes and other tools read.

At least these keys are always there (the contract of the issue that introduced them)::

    {"pipeline": name, "dataset": "locomo", "questions": n, "skipped": n,
     "recall": {"1": r, "5": r, "10": r, "20": r},
     "by_category": {"1": {"questions": n, "recall": {...}}, ...},
     "search_ms": {"p50": x, "p95": x}, "ingest": {"events": n, "seconds": s, "per_second": r},
     "llm": {"calls": n, "prompt_tokens": n, "completion_tokens": n}}

The rest (hit rate, MRR, QA scores, what data and machine produced it, per-query results)
is documented field by field below and in ``docs/evaluation.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evolvelab.errors import EvolveLabError

__all__ = [
    "CategoryScore",
    "CurvePoint",
    "Environment",
    "ExperienceReport",
    "EvalReport",
    "Histogram",
    "HitRecord",
    "Ingest",
    "LLMCounts",
    "Latency",
    "OrderScores",
    "QACategory",
    "QAReport",
    "QueryResult",
    "Spread",
]

Scores = dict[str, float]
"""A score per turn budget, keyed by ``k`` as a string: ``{"1": 0.25, "10": 0.6}``."""


class _Model(BaseModel):
    """Base of the report models: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class LLMCounts(_Model):
    """LLM use: requests, tokens and time."""

    calls: int = Field(0, description="Requests sent (re-asks included).")
    prompt_tokens: int = Field(0, description="Tokens sent.")
    completion_tokens: int = Field(0, description="Tokens received.")
    seconds: float = Field(0.0, description="Time spent waiting for answers.")


class Histogram(_Model):
    """Counts of values between consecutive edges (log-spaced; the last bin includes its right edge)."""

    edges: list[float] = Field(description="Bin edges, ascending; one more than counts.")
    counts: list[int] = Field(description="Values per bin.")


class Latency(_Model):
    """Search latency in milliseconds, one sample per query (query embedding included)."""

    p50: float | None = Field(description="Median.")
    p95: float | None = Field(description="95th percentile (linear interpolation).")
    mean: float | None = Field(None, description="Mean.")
    max: float | None = Field(None, description="Slowest query.")
    histogram: Histogram | None = Field(None, description="Distribution, for plots.")


class Ingest(_Model):
    """What ingestion took: every add() call, plus end-of-conversation manage() runs."""

    events: int = Field(description="Events added.")
    seconds: float = Field(description="Wall time spent in add() and manage().")
    per_second: float | None = Field(description="events / seconds.")
    scopes: int = Field(0, description="Scopes (conversations) ingested.")
    manage_seconds: float = Field(0.0, description="Part of seconds spent in manage().")


class QACategory(_Model):
    """QA scores of one category."""

    questions: int = Field(description="Questions answered.")
    f1: float | None = Field(description="Mean token F1 (abstention score for adversarial).")
    judge: float | None = Field(None, description="Share judged correct, if judged.")


class QAReport(_Model):
    """Answers generated over the retrieved notes, scored against the gold answers."""

    questions: int = Field(description="Questions with a gold answer that were answered.")
    notes: int = Field(description="Top hits given to the answering prompt.")
    f1: float | None = Field(description="Mean token F1 (LoCoMo's scoring rules).")
    judge: float | None = Field(None, description="Share the LLM judge called correct.")
    by_category: dict[str, QACategory] = Field(default_factory=dict, description="Per category.")
    llm: LLMCounts = Field(default_factory=LLMCounts, description="LLM use for QA alone.")


class HitRecord(_Model):
    """One retrieved note, as a query result keeps it."""

    id: str = Field(description="Note id.")
    score: float = Field(description="Retrieval score.")
    channel: str = Field(description="The retriever or fusion that produced it.")
    sources: list[str] = Field(description="Source event ids of the note.")
    content: str = Field(description="The note text.")


class QueryResult(_Model):
    """One asked question: what was wanted, what came back, how it scored."""

    id: str = Field(description="Query id.")
    user_id: str | None = Field(None, description="Scope the question was asked in.")
    category: str | None = Field(None, description="Category code.")
    question: str = Field(description="The question text.")
    gold: list[str] = Field(default_factory=list, description="Valid evidence ids (scored).")
    answer: str | None = Field(None, description="The gold answer.")
    ranked: list[str] = Field(default_factory=list, description="Distinct source ids, rank order.")
    hits: list[HitRecord] = Field(default_factory=list, description="The notes returned.")
    recall: Scores | None = Field(None, description="Recall per turn budget; null if skipped.")
    rank: int | None = Field(None, description="Position of the first gold id in ranked.")
    search_ms: float = Field(description="Search latency.")
    prediction: str | None = Field(None, description="Generated answer (QA runs only).")
    f1: float | None = Field(None, description="Its score (QA runs only).")
    judge: bool | None = Field(None, description="The judge's verdict (with --judge).")


class CategoryScore(_Model):
    """Scores of one question category."""

    name: str | None = Field(None, description="Readable name, e.g. temporal.")
    questions: int = Field(description="Questions scored (with valid evidence).")
    skipped: int = Field(0, description="Questions without valid evidence.")
    recall: Scores = Field(description="Mean recall per turn budget.")
    hit: Scores = Field(default_factory=dict, description="Share with a gold id in budget.")
    mrr: float | None = Field(None, description="Mean reciprocal rank within the largest k.")


class Environment(_Model):
    """Where the numbers were measured."""

    evolvelab: str = Field(description="EvolveLab version.")
    python: str = Field(description="Python version.")
    platform: str = Field(description="Operating system and architecture.")
    cpu: str = Field(description="Processor model, if known.")
    cpus: int | None = Field(description="CPUs this process may use.")


class CurvePoint(_Model):
    """Experiential scores of one stretch of consecutive tasks (positions from 1)."""

    start: int = Field(description="First task position in the stretch.")
    end: int = Field(description="Last task position in the stretch.")
    helpful_tasks: int = Field(description="Tasks in the stretch scored for helpful recall.")
    misleading_tasks: int = Field(description="Tasks in the stretch scored for misleading rate.")
    helpful_recall: Scores = Field(description="Mean helpful recall per episode budget k.")
    misleading_rate: Scores = Field(description="Mean misleading rate per episode budget k.")
    success_rate: float | None = Field(None, description="Share of the stretch's tasks that succeeded.")


class OrderScores(_Model):
    """The headline experiential scores of one replay order."""

    seed: int | None = Field(description="Permutation seed; null for the stream's own order.")
    helpful_recall: Scores = Field(description="Mean helpful recall per k.")
    misleading_rate: Scores = Field(description="Mean misleading rate per k.")
    success_rate: float | None = Field(None, description="Share of tasks that succeeded.")


class Spread(_Model):
    """A score's spread over replay orders."""

    mean: float = Field(description="Mean over orders.")
    std: float = Field(description="Population standard deviation over orders.")
    min: float = Field(description="Lowest.")
    max: float = Field(description="Highest.")


class ExperienceReport(_Model):
    """How memory served a stream of tasks replayed in order (``--dataset tasks``)."""

    tasks: int = Field(description="Tasks replayed (queries asked).")
    helpful_tasks: int = Field(description="Tasks with at least one helpful episode already in memory.")
    misleading_tasks: int = Field(description="Tasks with at least one misleading episode in memory.")
    context: int = Field(description="Hits supplied to each task (their ids are fed back).")
    feedback: str = Field(description="Outcomes fed back: simulated (from what was supplied) or recorded.")
    success_rate: float | None = Field(None, description="Share of tasks whose fed-back outcome succeeded.")
    curve: list[CurvePoint] = Field(default_factory=list, description="Scores over stretches of the stream.")
    orders: list[OrderScores] = Field(default_factory=list, description="Scores per replay order.")
    robustness: dict[str, dict[str, Spread]] = Field(
        default_factory=dict,
        description="Spread over orders: metric (helpful_recall, misleading_rate) -> k -> spread.",
    )


class EvalReport(_Model):
    """The result of evaluating one pipeline on one dataset.

    Example:
        >>> import shutil, tempfile
        >>> from pathlib import Path
        >>> from evolvelab import Memory
        >>> from evolvelab.datasets import load_jsonl
        >>> from evolvelab.datasets.sample import sample_path
        >>> from evolvelab.evaluation import evaluate
        >>> folder = Path(tempfile.mkdtemp())
        >>> spec = '''
        ... version: 1
        ... name: bm25
        ... embedder: {type: none}
        ... encode: [{type: turn, speaker: true}]
        ... store: {type: memory}
        ... retrieve: [{type: bm25, k: 20}]
        ... '''
        >>> with Memory.from_text(spec, data_dir=folder / "data") as memory:
        ...     report = evaluate(memory, load_jsonl(sample_path()), scopes=["ana"])
        >>> round(report.recall["10"], 2), report.search_ms.p95 > 0     # user ana
        (0.41, True)
        >>> report.write(folder / "report.json")          # per-query results left out
        >>> EvalReport.read(folder / "report.json").results is None
        True
        >>> shutil.rmtree(folder)
    """

    pipeline: str = Field(description="Pipeline name.")
    dataset: str = Field(description="Dataset kind or stream name.")
    questions: int = Field(description="Questions scored (with at least one valid evidence id).")
    skipped: int = Field(description="Questions asked but not scored (no valid evidence).")
    recall: Scores = Field(description="Mean recall@k on the turn budget, per k.")
    by_category: dict[str, CategoryScore] = Field(description="Scores per category code.")
    search_ms: Latency = Field(description="Search latency per query.")
    ingest: Ingest = Field(description="Ingestion volume and speed.")
    llm: LLMCounts = Field(description="LLM use of the whole run (pipeline stages and QA).")
    hit: Scores = Field(default_factory=dict, description="Share of questions with a gold id in budget.")
    mrr: float | None = Field(None, description="Mean reciprocal rank within the largest k.")
    ks: list[int] = Field(default_factory=list, description="The turn budgets, ascending.")
    asked: int = Field(0, description="Questions asked (scored + skipped).")
    categories: dict[str, str] = Field(default_factory=dict, description="Category code → name.")
    qa: QAReport | None = Field(None, description="QA scores, when answers were generated.")
    session_recall: dict[str, Scores] | None = Field(
        None,
        description="LongMemEval: session recall per k, overall (`all`) and per question type; "
        "`n` counts the questions of each group.",
    )
    data: str = Field("", description="The dataset file or folder.")
    pipeline_file: str | None = Field(None, description="The pipeline YAML, if read from one.")
    order: str = Field("end", description="When queries were asked: end or stream.")
    scopes: list[str] = Field(default_factory=list, description="User ids evaluated.")
    limit: int | None = Field(None, description="Question limit, if one was set.")
    fresh: bool | None = Field(None, description="Whether the memory started empty.")
    created_at: str = Field("", description="When the run finished, ISO-8601 UTC.")
    wall_seconds: float = Field(0.0, description="Wall time of the whole evaluation.")
    environment: Environment | None = Field(None, description="Machine and versions.")
    notes: list[str] = Field(default_factory=list, description="What the loader changed in the data.")
    warnings: list[str] = Field(default_factory=list, description="Problems met during the run.")
    helpful_recall: Scores | None = Field(
        None, description="Experiential streams: mean helpful-episode recall per episode budget k."
    )
    misleading_rate: Scores | None = Field(
        None, description="Experiential streams: mean share of supplied episodes that mislead, per k."
    )
    experience: ExperienceReport | None = Field(
        None, description="Experiential streams: curve over the stream, order robustness, feedback."
    )
    results: list[QueryResult] | None = Field(
        None, description="Per-query detail; written to JSON only when asked for."
    )

    def to_json(self, *, details: bool = False) -> str:
        """Return the report as indented JSON; per-query ``results`` only with ``details``."""
        exclude = None if details else {"results"}
        data = self.model_dump(mode="json", exclude=exclude)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def write(self, path: str | Path, *, details: bool = False) -> None:
        """Write the report as JSON to ``path`` (see :meth:`to_json`)."""
        Path(path).write_text(self.to_json(details=details), encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> EvalReport:
        """Read a report written by :meth:`write`.

        Raises:
            EvolveLabError: if the file cannot be read or is not a report, naming the
                first offending key.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
            return cls.model_validate_json(text)
        except OSError as err:
            raise EvolveLabError(f"cannot read report {path}: {err}") from err
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise EvolveLabError(
                f"{path} is not an evaluation report: {where}: {first['msg']} "
                f"({err.error_count()} problem(s))"
            ) from err
