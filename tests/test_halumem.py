"""HaluMem's published JSONL (one user per line) loaded as a stream, on a hand-written fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolvelab.datasets import load_dataset
from evolvelab.errors import StreamError
from evolvelab.stream import EventRecord, QueryRecord

USER = {
    "uuid": "u-1",
    "persona_info": "Martin, a consultant who wants a healthier job.",
    "sessions": [
        {
            "start_time": "Dec 15, 2025, 06:11:23", "end_time": "Dec 15, 2025, 06:20:00",
            "dialogue_turn_num": 1,
            "dialogue": [
                {"role": "user", "content": "My job is hurting my health; I want a change.",
                 "timestamp": "Dec 15, 2025, 06:11:23", "dialogue_turn": 0},
                {"role": "assistant", "content": "Recognising that is a good first step.",
                 "timestamp": "Dec 15, 2025, 06:11:23", "dialogue_turn": 0},
            ],
            "memory_points": [
                {"index": 1, "memory_content": "Martin is considering a career change.",
                 "memory_type": "Event Memory", "memory_source": "primary", "is_update": "False",
                 "original_memories": [], "importance": 0.75, "timestamp": "Dec 15, 2025, 08:41:23"},
                {"index": 2, "memory_content": "Martin hates hiking.", "memory_type": "Persona Memory",
                 "memory_source": "interference", "is_update": "False", "original_memories": [],
                 "importance": 0.2, "timestamp": "Dec 15, 2025, 08:41:23"},
            ],
            "questions": [],
            "dialogue_token_length": 40,
        },
        {
            "start_time": "Jan 2, 2026, 10:00:00", "end_time": "Jan 2, 2026, 10:05:00",
            "dialogue_turn_num": 1,
            "dialogue": [{"role": "user", "content": "I started climbing lessons!",
                          "timestamp": "Jan 2, 2026, 10:00:00", "dialogue_turn": 0}],
            "memory_points": [],
            "questions": [
                {"question": "Why is Martin thinking of leaving his job?", "answer": "His health.",
                 "evidence": [{"memory_content": "Martin is considering a career change.",
                               "memory_type": "Event Memory"}],
                 "difficulty": "easy", "question_type": "Basic Fact Recall"},
                {"question": "What sport does Martin do?", "answer": "Climbing.",
                 "evidence": [{"memory_content": "Martin climbs.", "memory_type": "Persona Memory"}],
                 "difficulty": "easy", "question_type": "Basic Fact Recall"},
            ],
            "dialogue_token_length": 10,
        },
    ],
}


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "HaluMem-Medium.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_users_sessions_turns_and_questions_become_a_stream(tmp_path: Path) -> None:
    data = load_dataset("halumem", write(tmp_path, json.dumps(USER)))
    events = [r for r in data.stream.records if isinstance(r, EventRecord)]
    assert [e.id for e in events] == ["S1:1", "S1:2", "S2:1"]
    assert events[0].speaker == "user" and events[0].session_id == "u-1:S1"
    assert events[0].timestamp is not None and events[0].timestamp.isoformat() == "2025-12-15T06:11:23+00:00"
    queries = [r for r in data.stream.records if isinstance(r, QueryRecord)]
    assert [q.id for q in queries] == ["u-1:S2:q1", "u-1:S2:q2"]
    assert data.stream.records.index(queries[0]) == 3  # asked right after its session
    assert queries[0].evidence == ["S1:1", "S1:2"]  # session-level evidence
    assert queries[0].category == "Basic Fact Recall" and queries[0].answer == "His health."
    assert data.order == "stream" and data.name == "halumem"


def test_unmatched_evidence_and_interference_points_are_noted(tmp_path: Path) -> None:
    data = load_dataset("halumem", write(tmp_path, json.dumps(USER)))
    notes = [n.message for n in data.notes]
    assert "user u-1: evidence text matches no memory point" in notes
    assert "user u-1: interference memory point left out of evidence" in notes


def test_bad_lines_are_reported_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(USER), "{not json", json.dumps({"uuid": 3}))
    with pytest.raises(StreamError) as caught:
        load_dataset("halumem", path)
    rendered = [p.render() for p in caught.value.problems]
    assert rendered[0].startswith(f"{path}:2:2: invalid JSON")
    assert rendered[1] == f"{path}:3:1: expected a user object with 'uuid' (string) and 'sessions' (list)"


def test_convert_writes_the_stream(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from evolvelab.cli import cli
    from evolvelab.stream import read_stream

    out = tmp_path / "halumem.jsonl"
    result = CliRunner().invoke(cli, ["convert", "halumem", str(write(tmp_path, json.dumps(USER))),
                                      "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 events, 2 queries in 1 scope(s)" in result.output
    assert len(read_stream(out).queries) == 2
