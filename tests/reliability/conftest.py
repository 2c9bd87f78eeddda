"""Fault and fuzz tests: what EvolveLab promises under hostile input, crashes and concurrency.

Each test reports how much it tried through the ``tally`` fixture (examples generated, kill
points, processes, requests). ``benchmarks/reliability.py`` runs this folder with
``EVOLVELAB_RELIABILITY_TALLY`` set and turns the tallies into the table in
docs/reliability.md, so the counts there are the ones a run measured.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_TALLIES: dict[str, dict[str, object]] = {}


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Callable[[int, str], None]]:
    """Record how many cases this test tried: ``tally(count, "hostile YAML files")``.

    Calls add up within a test, so a loop may call it once per case.
    """
    node = request.node.nodeid
    doc = (request.node.function.__doc__ or "").strip().splitlines()
    entry = _TALLIES.setdefault(
        node,
        {"test": node, "about": doc[0] if doc else request.node.name, "count": 0, "unit": ""},
    )

    def record(count: int, unit: str) -> None:
        entry["count"] = int(entry["count"]) + count  # type: ignore[call-overload]
        entry["unit"] = unit

    yield record


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the tallies where ``EVOLVELAB_RELIABILITY_TALLY`` points, if it is set."""
    target = os.environ.get("EVOLVELAB_RELIABILITY_TALLY")
    if target:
        Path(target).write_text(json.dumps(sorted(_TALLIES.values(), key=lambda e: str(e["test"])), indent=1))
