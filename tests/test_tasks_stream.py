"""Experiential task streams: the generator, the bundled sample, the loader and task blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolvelab.datasets import load_dataset
from evolvelab.datasets.tasks import episode_of, load_tasks, task_blocks, tasks_sample_path
from evolvelab.datasets.tasks_generate import build_tasks, main, write_tasks
from evolvelab.errors import EvolveLabError
from evolvelab.evaluation.experiential import permute
from evolvelab.stream import EventRecord, OutcomeRecord, QueryRecord, parse_stream, read_stream


def test_the_committed_sample_is_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    written = write_tasks(tmp_path / "tasks.jsonl")
    assert written.read_bytes() == tasks_sample_path().read_bytes(), (
        "run: python -m evolvelab.datasets.tasks_generate"
    )


def test_the_generator_is_seeded_and_seeds_differ() -> None:
    assert build_tasks(12, seed=5) == build_tasks(12, seed=5)
    assert build_tasks(12, seed=5) != build_tasks(12, seed=6)


def test_the_command_writes_a_bigger_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "big.jsonl"
    assert main(["--tasks", "120", "--seed", "3", "--out", str(out)]) == 0
    assert len(read_stream(out).queries) == 120
    assert main(["--tasks", "1", "--out", str(out)]) == 2
    assert "at least 2 tasks" in capsys.readouterr().err


def test_each_task_is_a_query_then_its_episode_then_its_outcome() -> None:
    stream = read_stream(tasks_sample_path())
    assert not stream.warnings
    prefix, blocks = task_blocks(stream)
    assert prefix == [] and len(blocks) == 60
    for block in blocks:
        events = [r for r in block.records if isinstance(r, EventRecord)]
        assert events[0].kind == "task" and events[0].id == block.query.id
        assert events[-1].kind == "outcome" and events[-1].id == f"{block.query.id}:end"
        assert {e.session_id for e in events} == {block.query.id}
        outcome = [r for r in block.records if isinstance(r, OutcomeRecord)]
        assert [o.query_id for o in outcome] == [block.query.id]
        assert outcome[0].success is events[-1].metadata["success"]
        assert all(e.metadata.get("subproblem") for e in events[1:-1])


def test_failed_episodes_record_where_and_why() -> None:
    stream = read_stream(tasks_sample_path())
    failed = [e for e in stream.events if e.kind == "outcome" and e.metadata["success"] is False]
    assert 5 <= len(failed) <= 30
    for event in failed:
        assert event.content.startswith("failed: ") and "/" in str(event.metadata["failed_at"])


def test_helpful_steps_did_the_needed_subproblem_and_failures_mislead() -> None:
    stream = read_stream(tasks_sample_path())
    by_id = {e.id: e for e in stream.events}
    steps_of = {q.id: {str(e.metadata["subproblem"]) for e in stream.events
                       if e.session_id == q.id and "subproblem" in e.metadata}
                for q in stream.queries}  # fmt: skip
    failed_at = {e.session_id: e.metadata.get("failed_at") for e in stream.events if e.kind == "outcome"}
    later = 0
    for query in stream.queries:
        own = steps_of[query.id]
        finished = failed_at[query.id] is None  # a failed episode stops before its plan ends
        for step in query.evidence or []:
            event = by_id[step]
            assert event.session_id != query.id
            assert event.metadata["subproblem"] in own or not finished
            assert failed_at[event.session_id] != event.metadata["subproblem"]
        failures = [i for i in query.misleading or [] if i.endswith(":end")]
        for end in failures:
            assert failed_at[by_id[end].session_id] in own or not finished
        later += bool(query.evidence)
    assert later > 40, "most tasks share a sub-problem with another episode"
    assert sum(bool(q.misleading) for q in stream.queries) > 30


def test_load_tasks_replays_in_task_order_with_family_names() -> None:
    data = load_dataset("tasks", tasks_sample_path())
    assert data.order == "tasks" and data.name == "tasks-60-seed11"
    assert data.categories == {"household": "household", "puzzles": "puzzles", "tools": "tool-use recipes"}


def test_a_stream_without_queries_is_not_a_task_stream(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "event", "id": "e1", "content": "hello"}\n', encoding="utf-8")
    with pytest.raises(EvolveLabError, match="needs query records"):
        load_tasks(path)


def test_misleading_ids_that_name_no_event_are_warnings_like_evidence() -> None:
    stream = parse_stream(
        '{"type": "event", "id": "e1", "content": "x", "agent_id": "a"}\n'
        '{"type": "query", "id": "q", "text": "t", "evidence": ["e1"], "misleading": ["e9"], "agent_id": "a"}\n',
        "s.jsonl",
    )
    assert [p.render() for p in stream.warnings] == [
        "s.jsonl:2:78: misleading[0]: misleading id 'e9' names no event in scope agent_id='a'"
    ]


def test_permutations_keep_every_block_whole() -> None:
    data = load_tasks(tasks_sample_path())
    shuffled = permute(data, seed=1)
    _, original = task_blocks(data.stream)
    _, moved = task_blocks(shuffled.stream)
    assert [b.query.id for b in moved] != [b.query.id for b in original]
    assert sorted(moved, key=lambda b: b.query.id) == sorted(original, key=lambda b: b.query.id)
    assert permute(data, seed=1).stream.records == shuffled.stream.records


def test_episodes_are_sessions_else_task_ids_else_the_event_itself() -> None:
    events = [EventRecord(id="a", content="x", session_id="S"),
              EventRecord(id="b", content="x", metadata={"task_id": "T"}),
              EventRecord(id="c", content="x")]  # fmt: skip
    assert episode_of(events) == {(None, None, "a"): "S", (None, None, "b"): "T", (None, None, "c"): "c"}


def test_query_records_accept_misleading_annotations() -> None:
    record = QueryRecord(id="q", text="t", evidence=["e1"], misleading=["e2"])
    assert record.misleading == ["e2"]


def test_several_users_get_their_own_interleaved_experience() -> None:
    from evolvelab.stream import dump_stream

    stream = parse_stream(dump_stream(build_tasks(6, seed=2, users=3)), "three.jsonl")
    assert not stream.warnings
    assert [q.id for q in stream.queries[:4]] == ["U1-T0001", "U2-T0001", "U3-T0001", "U1-T0002"]
    assert {q.user_id for q in stream.queries} == {"user1", "user2", "user3"}
    by_id = {(e.user_id, e.id): e for e in stream.events}
    for query in stream.queries:  # annotations stay inside the user's own experience
        for step in [*(query.evidence or []), *(query.misleading or [])]:
            assert (query.user_id, step) in by_id and step.startswith(query.id.split("-")[0])
    prefix, blocks = task_blocks(stream)
    assert prefix == [] and len(blocks) == 18
