"""The LongMemEval loader, on a small file written by hand in the published format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evolvelab.cli import cli
from evolvelab.datasets import load_dataset
from evolvelab.datasets.longmemeval import load_longmemeval, parse_date, session_recall
from evolvelab.errors import StreamError
from evolvelab.evaluation.schema import QueryResult
from evolvelab.stream import read_stream

QUESTIONS: list[dict[str, Any]] = [
    {
        "question_id": "e47becba",
        "question_type": "single-session-user",
        "question": "What degree did I graduate with?",
        "answer": "Business Administration",
        "question_date": "2023/05/30 (Tue) 23:40",
        # the haystack is not in date order: the loader sorts it
        "haystack_session_ids": ["sharegpt_x_0", "answer_280352e9"],
        "haystack_dates": ["2023/05/21 (Sun) 10:00", "2023/05/20 (Sat) 02:21"],
        "haystack_sessions": [
            [{"role": "user", "content": "Write a poem about the sea."},
             {"role": "assistant", "content": "The sea is wide..."}],
            [{"role": "user", "content": "I graduated with a degree in Business Administration.",
              "has_answer": True},
             {"role": "assistant", "content": "Congratulations!"}],
        ],
        "answer_session_ids": ["answer_280352e9"],
    },
    {
        "question_id": "0a995998_abs",
        "question_type": "knowledge-update",
        "question": "What is my cat's name?",
        "answer": "You did not mention a cat.",
        "question_date": "2023/06/01 (Thu) 09:00",
        "haystack_session_ids": ["s1"],
        "haystack_dates": ["2023/05/25 (Thu) 08:00"],
        "haystack_sessions": [[{"role": "user", "content": "I have a dog called Rex."}]],
        "answer_session_ids": [],
    },
    {
        "question_id": "gpt4_2655b836",
        "question_type": "multi-session",
        "question": "How many trips did I take?",
        "answer": 2,
        "question_date": "2023/07/01 (Sat) 12:00",
        "haystack_session_ids": ["a1", "a2"],
        "haystack_dates": ["2023/06/01 (Thu) 08:00", "2023/06/10 (Sat) 08:00"],
        "haystack_sessions": [[{"role": "user", "content": "Back from Lisbon."}],
                              [{"role": "user", "content": "Back from Rome."}]],
        "answer_session_ids": ["a1", "a2"],  # no turn marked has_answer
    },
]  # fmt: skip


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "longmemeval_s.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_each_question_is_a_scope_with_its_haystack_in_date_order(tmp_path: Path) -> None:
    data = load_dataset("longmemeval", write(tmp_path, QUESTIONS))
    assert data.name == "longmemeval" and data.order == "end"
    assert [s.user_id for s in data.stream.scopes()] == [
        "e47becba",
        "0a995998_abs",
        "gpt4_2655b836",
    ]
    first = [e for e in data.stream.events if e.user_id == "e47becba"]
    assert [e.id for e in first] == [
        "answer_280352e9:1",
        "answer_280352e9:2",
        "sharegpt_x_0:1",
        "sharegpt_x_0:2",
    ]
    assert first[0].timestamp == datetime(2023, 5, 20, 2, 21, tzinfo=UTC)
    assert first[1].timestamp == datetime(2023, 5, 20, 2, 22, tzinfo=UTC)  # one minute later
    assert (first[0].speaker, first[0].session_id) == ("user", "answer_280352e9")


def test_questions_carry_type_date_answer_and_turn_evidence(tmp_path: Path) -> None:
    data = load_longmemeval(write(tmp_path, QUESTIONS))
    degree, cat, trips = data.stream.queries
    assert degree.evidence == ["answer_280352e9:1"]
    assert degree.category == "single-session-user" and degree.answer == "Business Administration"
    assert degree.at == datetime(2023, 5, 30, 23, 40, tzinfo=UTC)
    assert cat.evidence == []  # abstention: annotated unanswerable
    assert trips.answer == "2" and trips.evidence == [
        "a1:1",
        "a2:1",
    ]  # every turn of the answer sessions
    assert any("no turn is marked has_answer" in note.render() for note in data.notes)
    assert data.answer_sessions["e47becba"] == ("answer_280352e9",)
    assert data.category_name("multi-session") == "multi-session"


def test_session_recall_ranks_sessions_by_their_first_retrieved_turn() -> None:
    def result(qid: str, ranked: list[str], category: str) -> QueryResult:
        return QueryResult(id=qid, question="?", ranked=ranked, category=category, search_ms=1.0)

    results = [
        result("q1", ["s9:1", "s9:2", "ans:3"], "single-session-user"),  # answer session ranked 2nd
        result("q2", ["a1:1", "x:1", "a2:4"], "multi-session"),  # a1 1st, a2 3rd
        result("q3_abs", ["z:1"], "multi-session"),  # abstention: left out
    ]
    scores = session_recall(
        results, {"q1": ("ans",), "q2": ("a1", "a2"), "q3_abs": ("z",)}, [1, 2, 3]
    )
    assert scores["all"] == {"n": 2.0, "1": 0.25, "2": 0.75, "3": 1.0}
    assert scores["multi-session"] == {"n": 1.0, "1": 0.5, "2": 0.5, "3": 1.0}


def test_dates_parse() -> None:
    assert parse_date("2023/05/30 (Tue) 23:40") == datetime(2023, 5, 30, 23, 40, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a LongMemEval date"):
        parse_date("May 30")


def test_malformed_files_list_every_problem_with_its_place(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(QUESTIONS))
    bad[0]["haystack_dates"][1] = "yesterday"
    del bad[2]["haystack_sessions"]
    bad.append({"question_id": "e47becba", "question": "again?"})
    with pytest.raises(StreamError) as err:
        load_longmemeval(write(tmp_path, bad))
    text = str(err.value)
    assert "e47becba.haystack_dates[1]: not a LongMemEval date: 'yesterday'" in text
    assert "gpt4_2655b836.haystack_sessions: required: a list" in text
    assert "[3].question_id: question_id 'e47becba' is used twice" in text
    assert text.endswith("3 problems in " + str(tmp_path / "longmemeval_s.json"))
    with pytest.raises(StreamError, match="expected a JSON list of questions"):
        load_longmemeval(write(tmp_path, {"not": "a list"}))
    (tmp_path / "broken.json").write_text("[{", encoding="utf-8")
    with pytest.raises(StreamError, match="cannot read LongMemEval JSON"):
        load_longmemeval(tmp_path / "broken.json")


def test_convert_writes_the_stream_format(tmp_path: Path) -> None:
    out = tmp_path / "lme.jsonl"
    result = CliRunner().invoke(
        cli, ["convert", "longmemeval", str(write(tmp_path, QUESTIONS)), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "7 events, 3 queries in 3 scope(s)" in result.output
    stream = read_stream(out)
    assert stream.header is not None and stream.header.name == "longmemeval"
    assert [q.id for q in stream.queries] == ["e47becba", "0a995998_abs", "gpt4_2655b836"]


def test_eval_prints_session_recall(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("version: 1\nname: lme\nembedder: {type: none}\nencode:\n  - {type: turn}\n"
                        "store: {type: memory}\nretrieve:\n  - {type: bm25, k: 10}\n", encoding="utf-8")  # fmt: skip
    args = [
        "eval",
        str(pipeline),
        "--dataset",
        "longmemeval",
        "--data",
        str(write(tmp_path, QUESTIONS)),
        "--k",
        "1,2",
        "--out",
        str(tmp_path / "report.json"),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "session recall (longmemeval, all, 2 questions): R@1 " in result.output
    saved = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["session_recall"]
    assert saved["all"]["n"] == 2 and set(saved["all"]) == {"n", "1", "2"}
