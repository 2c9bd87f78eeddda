"""Evaluate memory pipelines on task streams: recall on a turn budget, latency, QA.

    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from evolvelab.datasets import load_jsonl
    >>> from evolvelab.datasets.sample import sample_path
    >>> from evolvelab.evaluation import evaluate_pipeline
    >>> pipeline = Path(tempfile.mkdtemp()) / "bm25.yaml"
    >>> _ = pipeline.write_text('''
    ... version: 1
    ... name: bm25
    ... embedder: {type: none}
    ... encode: [{type: turn, speaker: true}]
    ... store: {type: memory}
    ... retrieve: [{type: bm25, k: 20}]
    ... ''')
    >>> data = load_jsonl(sample_path())     # the bundled sample stream: users ana and ben
    >>> report = evaluate_pipeline(pipeline, data, scopes=["ana"])
    >>> report.scopes, report.asked, report.questions    # 3 questions have no gold turn
    (['ana'], 31, 28)
    >>> round(report.recall["10"], 2)                     # recall@10 on user ana
    0.41
    >>> [r.id for r in report.results if r.rank is None][:3]     # no gold turn among the hits
    ['ana:q01', 'ana:q02', 'ana:q03']
    >>> shutil.rmtree(pipeline.parent)

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
