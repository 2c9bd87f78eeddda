"""The MemoryAgentBench loader, on small rows written by hand in the published format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evolvelab.cli import cli
from evolvelab.datasets import load_dataset
from evolvelab.datasets.memoryagentbench import chunk_context, load_memoryagentbench, slice_of
from evolvelab.errors import StreamError
from evolvelab.stream import read_stream

FACTS = "\n".join([
    "Here is a list of facts:",
    "0. The instrument Nimbus is a trumpet.",
    "1. Quill was born in the city of Bergen.",
    "2. The instrument Nimbus is a flute.",
    "3. The instrument Nimbus is a trumpet.",
])  # fmt: skip
ROWS: dict[str, list[dict[str, Any]]] = {
    "Accurate_Retrieval": [{
        "context": "Document 1: The Eiffel Tower is in Paris.\nDocument 2: Mount Fuji is in Japan.",
        "questions": ["Where is Mount Fuji?", "Which tower is in Paris?"],
        "answers": [["Japan"], ["The Eiffel Tower", "Eiffel Tower"]],
        "metadata": {"source": "ruler_qa1_197K", "qa_pair_ids": ["ruler_qa1_197K_no0", "ruler_qa1_197K_no1"]},
    }],
    "Conflict_Resolution": [{
        "context": FACTS,
        "questions": ["Which instrument is Nimbus?", "Where was Quill born?"],
        "answers": [["trumpet"], ["Bergen"]],
        "metadata": {"source": "factconsolidation_sh_6k"},
    }],
    "Long_Range_Understanding": [{
        "context": "Chapter one. A long story.",
        "questions": ["Summarise the book."],
        "answers": [["A story about a long journey."]],
        "metadata": {"source": "infbench_sum_eng_shots2"},
    }],
}  # fmt: skip


def write_json(tmp_path: Path, data: Any, name: str = "mab.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_slices_come_from_the_source_or_the_split() -> None:
    assert slice_of("ruler_qa1_197K") == "accurate_retrieval"
    assert slice_of("eventqa_full") == "accurate_retrieval"
    assert slice_of("longmemeval_s_star") == "accurate_retrieval"
    assert slice_of("factconsolidation_mh_262k") == "conflict_resolution"
    assert slice_of("icl_banking77_5900shot") == "test_time_learning"
    assert slice_of("recsys_redial_full") == "test_time_learning"
    assert slice_of("infbench_sum_eng") == "long_range_understanding"
    assert (
        slice_of("mystery", "Conflict_Resolution-00000-of-00001.parquet") == "conflict_resolution"
    )
    assert slice_of("mystery", None) is None


def test_contexts_are_cut_at_line_breaks_then_words() -> None:
    assert chunk_context("a b\nc d\ne f", 4) == ["a b\nc d", "e f"]
    assert chunk_context("a b c d e f g\nh", 3) == ["a b c", "d e f", "g\nh"]  # a long line is cut
    assert chunk_context("\n\n", 5) == []


def test_each_row_is_a_scope_of_chunk_events_then_its_questions(tmp_path: Path) -> None:
    data = load_dataset("memoryagentbench", write_json(tmp_path, ROWS))
    assert data.name == "memoryagentbench" and data.order == "end"
    assert [s.user_id for s in data.stream.scopes()] == [
        "ruler_qa1_197K:0", "factconsolidation_sh_6k:0", "infbench_sum_eng_shots2:0",
    ]  # fmt: skip
    ruler = [e for e in data.stream.events if e.user_id == "ruler_qa1_197K:0"]
    assert [e.id for e in ruler] == ["c1"] and ruler[0].kind == "chunk"  # 16 words fit in one chunk
    fuji, tower = (q for q in data.stream.queries if q.user_id == "ruler_qa1_197K:0")
    assert (fuji.id, fuji.answer, fuji.evidence, fuji.category) == ("ruler_qa1_197K_no0", "Japan", ["c1"],
                                                                    "accurate_retrieval")  # fmt: skip
    assert tower.answer == "The Eiffel Tower"
    assert data.categories == {"accurate_retrieval": "accurate retrieval", "conflict_resolution":
                               "conflict resolution", "long_range_understanding": "long-range understanding"}  # fmt: skip
    assert all(q.at is not None and q.at > max(e.timestamp for e in data.stream.events if e.user_id == q.user_id)
               for q in data.stream.queries)  # fmt: skip


def test_conflict_resolution_evidence_is_the_newest_statement(tmp_path: Path) -> None:
    data = load_memoryagentbench(write_json(tmp_path, ROWS), chunk_words=10)
    facts = [e for e in data.stream.events if e.user_id == "factconsolidation_sh_6k:0"]
    assert [e.content[:2] for e in facts] == ["He", "0.", "1.", "2.", "3."]  # one fact per chunk
    nimbus, quill = (q for q in data.stream.queries if q.category == "conflict_resolution")
    # 'trumpet' is stated in c2, overridden by 'flute' in c4, stated again in c5: the newest counts
    assert nimbus.evidence == ["c5"]
    assert quill.evidence == ["c3"]
    assert nimbus.id == "factconsolidation_sh_6k:0:q1"  # no qa_pair_ids: made from the scope


def test_answers_found_in_no_chunk_are_asked_not_scored_and_counted(tmp_path: Path) -> None:
    data = load_memoryagentbench(write_json(tmp_path, ROWS))
    [summary] = [q for q in data.stream.queries if q.category == "long_range_understanding"]
    assert summary.evidence is None
    notes = [n.render() for n in data.notes]
    assert any(
        "long_range_understanding: 1 of 1 questions have an answer found in no chunk" in n
        for n in notes
    )


def test_a_list_jsonl_and_parquet_read_the_same(tmp_path: Path) -> None:
    rows = ROWS["Conflict_Resolution"] + ROWS["Accurate_Retrieval"]
    as_list = load_memoryagentbench(write_json(tmp_path, rows))
    jsonl = tmp_path / "mab.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    as_lines = load_memoryagentbench(jsonl)
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "Conflict_Resolution-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    as_parquet = load_memoryagentbench(parquet)
    for data in (as_lines, as_parquet):
        assert data.stream.records == as_list.stream.records


def test_malformed_rows_list_every_problem_with_its_place(tmp_path: Path) -> None:
    bad = {"Accurate_Retrieval": [{"context": 3, "questions": ["q"], "answers": [["a"]]},
                                  {"context": "x", "questions": ["q", "r"], "answers": [["a"]]},
                                  "nonsense"]}  # fmt: skip
    with pytest.raises(StreamError) as err:
        load_memoryagentbench(write_json(tmp_path, bad))
    text = str(err.value)
    assert "Accurate_Retrieval[0].context: required: a string" in text
    assert "Accurate_Retrieval[1]: 2 questions but 1 answer lists" in text
    assert "Accurate_Retrieval[2]: expected a row object" in text
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"context": "x", "questions": [], "answers": []}\n{oops\n', encoding="utf-8")
    with pytest.raises(StreamError, match=r"bad.jsonl:2:2: invalid JSON"):
        load_memoryagentbench(jsonl)
    with pytest.raises(StreamError, match="expected a list of rows"):
        load_memoryagentbench(write_json(tmp_path, "just text"))


def test_convert_writes_the_stream_format(tmp_path: Path) -> None:
    out = tmp_path / "mab-stream.jsonl"
    result = CliRunner().invoke(
        cli, ["convert", "memoryagentbench", str(write_json(tmp_path, ROWS)), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "note:" in result.output and "5 queries in 3 scope(s)" in result.output
    assert read_stream(out).header.name == "memoryagentbench"  # type: ignore[union-attr]
