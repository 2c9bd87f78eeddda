"""Fixtures for the evolver tests: a fast base pipeline and spec on the bundled sample stream."""

from __future__ import annotations

from pathlib import Path

import pytest

FAST = """\
version: 1
name: fast
description: Hashing vectors and BM25 in memory, for quick trials.
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn, speaker: true}
store: {type: memory}
retrieve:
  - {type: hybrid, channels: [bm25, vector], weights: [1.0, 0.7], k: 20}
"""

SPEC = """\
version: 1
name: quick
base: [fast.yaml]
dataset:
  type: sample
  train: {users: [ana]}
  validation: {users: [ben]}
objectives:
  - {metric: recall@10}
sampler: {type: tpe, seed: 3, startup_trials: 3}
trials: 5
space:
  retrieve[0].weights[0]: {value: 1.0}
  retrieve[0].weights[1]: {low: 0.1, high: 2.0}
"""


@pytest.fixture
def spec_text() -> str:
    """The quick spec's text (sample stream, train ana, validation ben, 5 trials)."""
    return SPEC


@pytest.fixture
def fast_pipeline(tmp_path: Path) -> Path:
    """A quick base pipeline (hashing embedder, memory store) written to a file."""
    path = tmp_path / "fast.yaml"
    path.write_text(FAST, encoding="utf-8")
    return path


@pytest.fixture
def write_spec(tmp_path: Path, fast_pipeline: Path):
    """Write an evolve spec (default: SPEC, plus any extra text) beside the fast pipeline."""

    def write(text: str = SPEC, extra: str = "", name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text + extra, encoding="utf-8")
        return path

    return write
