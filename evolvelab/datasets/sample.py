"""The bundled sample stream: two invented friendships, ten sessions each, with gold queries.

``evolvelab run --sample``, ``evolvelab eval --dataset jsonl --sample`` and the evolver's
default dataset (``pipelines/evolve/sample.yaml``) read it. Everything in it is written for
EvolveLab (no benchmark text is copied). Each user scope (``ana``, ``ben``) is a chat
between two friends over most of a year: small talk mixed with facts that matter later
(jobs, pets, trips, family, a move, preferences that change). Queries carry exact gold
evidence ids across the categories single-hop, multi-hop, temporal, knowledge-update and
adversarial (unanswerable, ``evidence: []``). docs/streams.md describes it in numbers.

    >>> from evolvelab.datasets import load_jsonl
    >>> from evolvelab.datasets.sample import sample_path
    >>> data = load_jsonl(sample_path())
    >>> sorted({q.user_id for q in data.stream.queries})
    ['ana', 'ben']

The file is generated; its script and generator are data and a tool, so they live in the
checkout (``tools/sample/``), not in the installed package.
"""

from __future__ import annotations

from pathlib import Path

from evolvelab._bundled import bundled_path

__all__ = ["sample_path"]


def sample_path() -> Path:
    """Return the path of the installed sample stream (``evolvelab/data/sample.jsonl``)."""
    return bundled_path("sample.jsonl")
