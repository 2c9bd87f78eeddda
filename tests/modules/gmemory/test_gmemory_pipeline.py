"""``pipelines/gmemory.yaml`` and the docs page: valid, and working end to end without an LLM."""

from __future__ import annotations

import re
from pathlib import Path

from evolvelab import Event, Memory, Outcome, Scope
from evolvelab.loader import parse_yaml, validate_pipeline
from evolvelab.modules._gmemory_graph import query_id
from evolvelab.registry import Registry
from evolvelab.stream import read_stream
from evolvelab.testing import HashingEmbedder, HashingEmbedderConfig

ROOT = Path(__file__).resolve().parents[3]
PIPELINE = ROOT / "pipelines" / "gmemory.yaml"
PAGE = ROOT / "docs" / "modules" / "gmemory.md"
ANA = Scope(user_id="ana")


def open_pipeline(tmp_path: Path) -> Memory:
    embedder = HashingEmbedder(HashingEmbedderConfig(dim=64))
    return Memory.from_yaml(PIPELINE, embedder=embedder, data_dir=tmp_path).open()


def test_the_pipeline_and_the_docs_examples_validate(registry: Registry) -> None:
    Memory.from_yaml(PIPELINE, registry=registry)
    blocks = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert blocks
    for block in blocks:
        if "version: 1" in block:
            validate_pipeline(parse_yaml(block, file=str(PAGE)), registry)


def test_the_sample_conversation_runs_as_implicit_session_tasks(tmp_path: Path) -> None:
    stream = read_stream(ROOT / "evolvelab" / "data" / "sample.jsonl")
    with open_pipeline(tmp_path) as memory:
        for scope, batch in stream.event_batches(32):
            if scope.user_id == "ana":
                memory.add(batch, scope=scope)
        sessions = {e.session_id for e in stream.events if e.user_id == "ana"}
        found = memory.store.get([query_id(ANA, f"session:{s}") for s in sessions], ANA)
        assert len(found) == len(sessions)
        hits = memory.search(stream.queries[0].to_query(k=10))
    assert hits and {h.channel for h in hits} == {"gmemory.downward"}
    assert all(h.note.kind == "interaction" for h in hits)


def test_tasks_outcomes_and_insights_close_the_loop(tmp_path: Path) -> None:
    with open_pipeline(tmp_path) as memory:
        for n in range(6):
            memory.add([Event(id=f"t{n}", content=f"put the mug {n} in the cabinet", kind="task"),
                        Event(id=f"t{n}:1", content="open the cabinet", kind="action"),
                        Event(id=f"t{n}:2", content="put the mug in the cabinet", kind="action")],
                       scope=ANA)  # fmt: skip
            memory.feedback(Outcome(task_id=f"t{n}", success=True, scope=ANA), [])
        memory.manage(ANA)
        hits = memory.search("put the mug 7 in the cabinet", scope=ANA)
        insights = [h for h in hits if h.channel == "gmemory.upward"]
        assert (
            insights
            and insights[0].note.kind == "insight"
            and "cabinet" in insights[0].note.content
        )
        [report] = memory.feedback(Outcome(task_id="t5", success=False, scope=ANA),
                                      [insights[0].note.id])  # fmt: skip
        assert report.stage == "insight_score"
        note = memory.store.get([insights[0].note.id], ANA)[0]
    assert note.importance == 0.0 and note.invalid_at is not None
