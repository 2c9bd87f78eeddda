"""Every shipped pipeline keeps working as its memory grows past the store's thresholds.

Issue 12's first finding: ``conversation.yaml`` broke at 20k rows, when the store built a
vector index over the placeholder vectors of ``embedder: none``. Growing every shipped
pipeline to 20k notes is a benchmark (``benchmarks/scale.py``); this test moves the
thresholds down instead (ANN index at 200 rows of an owner, text-index upkeep and
compaction every few writes) and grows each pipeline past them: every add, a search and a
sweep of the managers must succeed, and a search still finds notes. The experiential
pipelines (an ``experience`` encoder: one note per finished task) grow on task episodes,
the others on a chat.

MiniLM pipelines run with the ``hashing`` embedder at MiniLM's dimension (384), so the
index the store builds has the shape it has in use, without the model's cost; the LLM
stays ``none`` (every LLM-aware stage has a path without one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from evolvelab import Event, Memory, Scope
from evolvelab.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml")) + sorted(
    (ROOT / "pipelines" / "evolved").glob("*.yaml")
)
SMALL_THRESHOLDS = {"index_threshold": 200, "fts_fresh_rows": 32, "reindex_rows": 64,
                    "reindex_writes": 4, "num_partitions": 4}  # fmt: skip
WORDS = ["garden", "bicycle", "cello", "Lisbon", "soup", "tram", "bridge", "concert", "cat",
         "sister", "river", "market", "pottery", "violin", "harbour", "lantern", "orchard"]
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def grown(path: Path, tmp_path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    embedder = data.get("embedder") or {"type": "minilm"}
    if embedder.get("type") == "minilm":
        data["embedder"] = {"type": "hashing", "dim": 384}
    data.pop("llm", None)
    store = data["store"]
    if store["type"] in ("lancedb", "layered_decay"):
        store.update(SMALL_THRESHOLDS)
    for slot in ("store", "graph"):
        if isinstance(data.get(slot), dict) and data[slot].get("path"):
            data[slot]["path"] = str(tmp_path / slot)
    return data


def turns(count: int) -> list[Event]:
    """A two-person chat over several sessions, each turn naming two topic words."""
    return [
        Event(
            id=f"t{i}",
            content=f"I went to the {WORDS[i % len(WORDS)]} with the "
            f"{WORDS[(i * 7 + 3) % len(WORDS)]} on day {i}.",
            speaker=("Ana", "Ben")[i % 2],
            session_id=f"s{i // 40}",
            timestamp=T0 + timedelta(minutes=10 * i),
        )
        for i in range(count)
    ]


def episodes(count: int) -> list[Event]:
    """Finished tasks (task, a tool step, an outcome), for the experiential pipelines.

    The step carries a sub-procedure label (``metadata.subproblem``, as the task generator
    writes it), from which ``arcmemo`` makes concepts without an LLM.
    """
    events = []
    for i in range(count):
        topic, other = WORDS[i % len(WORDS)], WORDS[(i * 7 + 3) % len(WORDS)]
        meta = {"task_id": f"task-{i}"}
        at = T0 + timedelta(minutes=10 * i)
        events += [
            Event(id=f"q{i}", kind="task", content=f"Book the {topic} tour near the {other}.",
                  metadata=meta, timestamp=at),
            Event(id=f"a{i}", kind="tool", content=f"search({topic}, {other}) -> 3 offers",
                  metadata={**meta, "subproblem": f"find {other} offers"}, timestamp=at),
            Event(id=f"o{i}", kind="outcome", content="booked" if i % 3 else "no offer left",
                  metadata={**meta, "success": bool(i % 3)}, timestamp=at),
        ]  # fmt: skip
    return events


def lancedb_pipelines() -> list[Path]:
    def stores(path: Path) -> str:
        return yaml.safe_load(path.read_text(encoding="utf-8"))["store"]["type"]

    return [p for p in PIPELINES if stores(p) in ("lancedb", "layered_decay")]


@pytest.mark.slow
@pytest.mark.parametrize("path", lancedb_pipelines(), ids=lambda p: p.stem)
def test_a_shipped_pipeline_grows_past_the_store_thresholds(
    path: Path, tmp_path: Path, registry: Registry
) -> None:
    scope = Scope(user_id="ana")
    experiential = "type: experience" in path.read_text(encoding="utf-8")
    events = episodes(240) if experiential else turns(320)
    with Memory.from_dict(grown(path, tmp_path), registry=registry, data_dir=tmp_path) as memory:
        for start in range(0, len(events), 32):
            memory.add(events[start : start + 32], scope=scope)
        memory.manage(scope)
        notes = memory.store.count(scope)  # type: ignore[attr-defined]
        assert notes >= 200  # past the ANN threshold, whatever the encoders keep
        query = "Book the cello tour" if experiential else "the cello on day 77"
        hits = memory.search(query, k=10, scope=scope)
        assert hits, f"{path.name}: nothing found after growing to {notes} notes"
