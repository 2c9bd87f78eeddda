"""Evaluate memory pipelines on task streams: recall on a turn budget, latency, QA.

    >>> from evolvelab.datasets import load_dataset
    >>> from evolvelab.evaluation import evaluate_pipeline
    >>> data = load_dataset("locomo", "locomo-dev.json")
    >>> report = evaluate_pipeline("pipelines/bm25.yaml", data, scopes=["conv-26"])
    >>> report.recall["10"], [r.id for r in report.results if r.rank is None][:3]

- :func:`evaluate` scores an opened memory; :func:`evaluate_pipeline` builds one from a
  YAML file on a fresh temporary data directory.
- :class:`EvalReport` is the report (``write``/``read`` JSON; per-query ``results`` in
  Python, in the JSON only when asked for).
- :func:`replay` is the shared ingest/ask loop (also behind ``evolvelab run``).

The metric and the report keys are documented in ``docs/evaluation.md``.
"""

from __future__ import annotations

from evolvelab.evaluation.core import DEFAULT_KS, environment, evaluate, evaluate_pipeline
from evolvelab.evaluation.replay import Asked, Replay, replay, select_records
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

__all__ = [
    "DEFAULT_KS",
    "Asked",
    "CategoryScore",
    "Environment",
    "EvalReport",
    "Histogram",
    "HitRecord",
    "Ingest",
    "LLMCounts",
    "Latency",
    "QACategory",
    "QAReport",
    "QueryResult",
    "Replay",
    "environment",
    "evaluate",
    "evaluate_pipeline",
    "replay",
    "select_records",
]
