"""Helpers for the G-Memory tests: an embedder with hand-placed vectors, pipelines on both backends."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytest

from evolvelab import Event, Memory, Scope
from evolvelab.config import EmbedderConfig
from evolvelab.modules._gmemory_graph import query_id
from evolvelab.stages import Embedder

ANA = Scope(user_id="ana")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class TableEmbedderConfig(EmbedderConfig):
    """Vectors looked up by text (test only, not registered)."""

    type: Literal["table"] = "table"


class TableEmbedder(Embedder):
    """Give each known text a hand-placed vector; every other text gets the last axis."""

    config_model: ClassVar[type[TableEmbedderConfig]] = TableEmbedderConfig

    def __init__(self, table: dict[str, Sequence[float]], dim: int = 4) -> None:
        super().__init__(TableEmbedderConfig())
        self.table, self._dim = table, dim

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_id(self) -> str:
        return f"table-{self._dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            vector = list(self.table.get(text, [0.0] * (self._dim - 1) + [1.0]))
            vector += [0.0] * (self._dim - len(vector))
            out[row] = np.asarray(vector, dtype=np.float32) / np.linalg.norm(vector)
        return out


# Hand-placed task statements (dim 4; the last axis is "anything else"):
#   A = (1, 0, 0)          "pack a tent"
#   B = (0.8, 0.6, 0)      cos(A, B) = 0.8            -> B links to A
#   D = (0.28, 0.96, 0)    cos(B, D) = 0.8, cos(A, D) = 0.28  -> D links to B only
#   C = (0, 0, 1)          unrelated to all
VECTORS: dict[str, list[float]] = {
    "pack a tent": [1.0, 0.0, 0.0],
    "pack a sleeping bag": [0.8, 0.6, 0.0],
    "pack a stove": [0.28, 0.96, 0.0],
    "bake bread": [0.0, 0.0, 1.0],
    "how do I pack a tent?": [1.0, 0.0, 0.0],
    "exactly at the threshold": [0.7, math.sqrt(1 - 0.7**2), 0.0],
    "just below the threshold": [0.69, math.sqrt(1 - 0.69**2), 0.0],
}


def task_events(key: str, text: str, steps: Sequence[str], start: int, **meta: Any) -> list[Event]:
    """Return a task event ``key`` followed by its steps, one minute apart from ``start`` hours."""
    when = T0 + timedelta(hours=start)
    events = [
        Event(
            id=key, content=text, kind="task", session_id=f"s-{key}", timestamp=when, metadata=meta
        )
    ]
    for i, step in enumerate(steps, start=1):
        events.append(
            Event(id=f"{key}:{i}", content=step, kind="action", speaker="agent",
                  session_id=f"s-{key}", timestamp=when + timedelta(minutes=i))
        )  # fmt: skip
    return events


TASKS = {
    "A": ("pack a tent", ["fold the tent poles", "check the tent pegs", "roll the tent"]),
    "B": ("pack a sleeping bag", ["fold the sleeping bag", "check the bag straps"]),
    "D": ("pack a stove", ["check the gas", "pack the stove"]),
    "C": ("bake bread", ["knead the dough"]),
}


def qid(key: str, scope: Scope = ANA) -> str:
    """Return the query-note id of task ``key``."""
    return query_id(scope, key)


@pytest.fixture(params=["memory", "lancedb+kuzu"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run a test over the in-memory store and over a real LanceDB + Kuzu pair."""
    return str(request.param)


@pytest.fixture
def make_memory(backend: str, tmp_path: Path) -> Iterator[Callable[..., Memory]]:
    """Return a builder of opened G-Memory pipelines on ``backend``."""
    built: list[Memory] = []

    def make(
        retrieve: dict[str, Any] | None = None,
        manage: list[dict[str, Any]] | None = None,
        encode: dict[str, Any] | None = None,
        table: dict[str, Sequence[float]] | None = None,
        llm: Any = None,
    ) -> Memory:
        root = tmp_path / f"m{len(built)}"
        stores: dict[str, Any] = {"store": {"type": "memory"}}
        if backend != "memory":
            stores = {"store": {"type": "lancedb", "path": str(root / "notes")},
                      "graph": {"type": "kuzu", "path": str(root / "graph")}}  # fmt: skip
        spec = {
            "version": 1,
            "name": "gm-test",
            "encode": [{"type": "gmemory_task", **(encode or {})}],
            **stores,
            "retrieve": [{"type": "gmemory", **(retrieve or {})}],
            "manage": manage or [],
        }
        overrides: dict[str, Any] = {"embedder": TableEmbedder(table or VECTORS), "data_dir": root}
        if llm is not None:
            overrides["llm"] = llm
        memory = Memory.from_dict(spec, **overrides).open()
        built.append(memory)
        return memory

    yield make
    for memory in built:
        memory.close()
