"""The evaluation core: the turn-budget metric on hand-computed cases, the report, the loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eval_samples import SCRIPT, ScriptedMemory, write_locomo

from evolvelab.datasets.locomo import load_locomo
from evolvelab.errors import EvolveLabError
from evolvelab.evaluation import EvalReport, evaluate, evaluate_pipeline, select_records
from evolvelab.evaluation.metrics import (
    hit_at_k,
    percentile,
    rank_ids,
    recall_at_k,
    recall_at_k_ids,
    reciprocal_rank_ids,
)
from evolvelab.stream import parse_stream
from evolvelab.types import Hit, Note

FAST = """\
version: 1
name: fast-eval
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn, speaker: true, metadata: [caption]}
store: {type: memory}
retrieve:
  - {type: hybrid, channels: [bm25, vector], k: 10}
"""

def hits(*sources: list[str]) -> list[Hit]:
    return [Hit(note=Note(id=f"n{i}", content="", source_ids=s), score=1.0, channel="t")
            for i, s in enumerate(sources)]  # fmt: skip


@pytest.fixture
def locomo(tmp_path: Path) -> Path:
    return write_locomo(tmp_path / "locomo.json")


# --- metrics ---------------------------------------------------------------------------


def test_a_multi_turn_note_spends_the_budget_it_covers() -> None:
    ranked = hits(["a", "b", "c"], ["gold"])
    assert recall_at_k(ranked, ["gold"], k=3) == 0.0  # the second hit is the 4th id
    assert recall_at_k(ranked, ["gold"], k=4) == 1.0
    assert hit_at_k(ranked, ["gold"], k=3) == 0.0


def test_duplicate_sources_are_counted_once() -> None:
    ranked = hits(["a"], ["a", "b"], ["a"], ["c"])
    assert recall_at_k(ranked, ["c"], k=3) == 1.0
    assert recall_at_k_ids(["x", "x", "y"], ["y", "y"], k=2) == 1.0  # gold repeats count once
    assert rank_ids(["x", "x", "y"], ["y"]) == 2


def test_metrics_without_gold_are_not_scorable() -> None:
    assert recall_at_k_ids(["a"], [], 1) is None and reciprocal_rank_ids(["a"], [], 1) is None


def test_reciprocal_rank_counts_only_within_the_budget() -> None:
    assert reciprocal_rank_ids(["a", "b", "c"], ["c"], k=3) == pytest.approx(1 / 3)
    assert reciprocal_rank_ids(["a", "b", "c"], ["c"], k=2) == 0.0


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == 25.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert percentile([], 50) is None and percentile([7.0], 95) == 7.0
    with pytest.raises(EvolveLabError):
        percentile([1.0], 101)


# --- evaluate ---------------------------------------------------------------------------


def run(locomo: Path, **options: Any) -> tuple[EvalReport, ScriptedMemory]:
    memory = ScriptedMemory(SCRIPT)
    report = evaluate(memory, load_locomo(locomo), ks=(1, 2, 3), **options)  # type: ignore[arg-type]
    return report, memory


def test_recall_is_computed_on_a_turn_budget(locomo: Path) -> None:
    report, _ = run(locomo)
    # Per question, distinct ranked ids and recall @1/@2/@3:
    #   cat:   D1:2 D1:3 D1:1        gold D1:1       0, 0, 1     rank 3
    #   multi: D2:1 D2:2 D1:3 D1:1   gold D1:1 D2:1  .5, .5, .5   rank 1 (D1:1 is 4th)
    #   piano: D2:1 (twice)          gold D2:1       1, 1, 1     rank 1
    #   car:   nothing               gold D1:2       0, 0, 0
    #   dog:   no valid evidence -> skipped
    #   sport: D1:2 D1:1             gold D1:1       0, 1, 1     rank 2
    assert (report.questions, report.skipped, report.asked) == (5, 1, 6)
    assert report.recall == pytest.approx({"1": 1.5 / 5, "2": 2.5 / 5, "3": 3.5 / 5})
    assert report.hit == pytest.approx({"1": 2 / 5, "2": 3 / 5, "3": 4 / 5})
    assert report.mrr == pytest.approx((1 / 3 + 1 + 1 + 0 + 1 / 2) / 5)
    multi = report.by_category["1"]
    assert (multi.name, multi.questions, multi.recall) == ("multi-hop", 1, {"1": 0.5, "2": 0.5, "3": 0.5})
    open_domain = report.by_category["3"]
    assert (open_domain.questions, open_domain.skipped, open_domain.recall["2"]) == (1, 1, 1.0)
    assert list(report.by_category) == ["1", "2", "3", "4", "5"]
    [multi_result] = [r for r in report.results or [] if r.category == "1"]
    assert multi_result.ranked == ["D2:1", "D2:2", "D1:3"] and multi_result.rank == 1


def test_the_report_has_the_documented_keys(locomo: Path) -> None:
    report, _ = run(locomo)
    data = json.loads(report.to_json())
    assert {"pipeline", "dataset", "questions", "skipped", "recall", "by_category", "search_ms",
            "ingest", "llm"} <= set(data)  # fmt: skip
    assert (data["pipeline"], data["dataset"]) == ("scripted", "locomo")
    assert list(data["recall"]) == ["1", "2", "3"]
    assert {"questions", "recall"} <= set(data["by_category"]["1"])
    assert {"p50", "p95"} <= set(data["search_ms"])
    assert {"events", "seconds", "per_second"} <= set(data["ingest"])
    assert {"calls", "prompt_tokens", "completion_tokens"} <= set(data["llm"])
    assert "results" not in data
    detailed = json.loads(report.to_json(details=True))
    assert len(detailed["results"]) == 6 and detailed["results"][0]["question"] == "What is the name of Ana's cat?"


def test_a_written_report_reads_back(locomo: Path, tmp_path: Path) -> None:
    report, _ = run(locomo)
    report.write(tmp_path / "r.json")
    again = EvalReport.read(tmp_path / "r.json")
    assert again.recall == report.recall and again.results is None
    (tmp_path / "bad.json").write_text('{"pipeline": "x"}')
    with pytest.raises(EvolveLabError, match="bad.json is not an evaluation report: dataset: Field required"):
        EvalReport.read(tmp_path / "bad.json")


def test_each_conversation_is_ingested_in_order_before_the_questions(locomo: Path) -> None:
    _, memory = run(locomo, batch_size=2)
    assert memory.added == [("conv-a", ["D1:1", "D1:2"]), ("conv-a", ["D1:3", "D2:1"]),
                            ("conv-a", ["D2:2"]), ("conv-b", ["D1:1", "D1:2"])]  # fmt: skip
    first_ask = next(i for i, line in enumerate(memory.log) if line.startswith("ask"))
    assert all(line.startswith("add") for line in memory.log[:first_ask])


def test_scopes_and_limit_select_what_is_ingested_and_asked(locomo: Path) -> None:
    report, memory = run(locomo, scopes=["conv-b"])
    assert report.asked == 1 and report.scopes == ["conv-b"]
    assert [user for user, _ in memory.added] == ["conv-b"]
    report, memory = run(locomo, limit=2)
    assert report.asked == 2 and {user for user, _ in memory.added} == {"conv-a"}
    assert report.limit == 2


def test_stream_order_asks_each_query_where_it_stands() -> None:
    text = "\n".join(json.dumps(r) for r in [
        {"type": "event", "id": "e1", "content": "one", "user_id": "u"},
        {"type": "query", "id": "q1", "text": "first?", "user_id": "u", "evidence": ["e1"]},
        {"type": "event", "id": "e2", "content": "two", "user_id": "u"},
        {"type": "outcome", "query_id": "q1", "success": True, "user_id": "u", "used_ids": ["n0"]},
        {"type": "query", "id": "q2", "text": "second?", "user_id": "u", "evidence": ["e2"]},
    ])  # fmt: skip
    stream = parse_stream(text)
    memory = ScriptedMemory({"first?": [["e1"]], "second?": [["e1"], ["e2"]]})
    report = evaluate(memory, stream, ks=(1,), order="stream")  # type: ignore[arg-type]
    assert memory.log == ["add u:e1", "ask first?", "add u:e2", "ask second?"]
    assert [o.task_id for o, _ in memory.fed] == ["q1"]
    assert report.recall == {"1": 0.5} and report.order == "stream"
    assert select_records(stream.records, limit=1, order="stream") == list(stream.records[:2])


def test_end_order_runs_managers_once_per_conversation(locomo: Path) -> None:
    memory = ScriptedMemory(SCRIPT)
    memory.managers = [object()]
    evaluate(memory, load_locomo(locomo), ks=(1,))  # type: ignore[arg-type]
    assert [line for line in memory.log if line.startswith("manage")] == ["manage conv-a", "manage conv-b"]


def test_bad_budgets_and_limits_are_errors(locomo: Path) -> None:
    with pytest.raises(EvolveLabError, match="at least 1"):
        run(locomo, limit=0)
    with pytest.raises(EvolveLabError, match="turn budgets"):
        evaluate(ScriptedMemory({}), load_locomo(locomo), ks=(0, 5))  # type: ignore[arg-type]


# --- evaluate_pipeline: a real pipeline on a fresh memory ----------------------------------


@pytest.fixture
def fast(tmp_path: Path) -> Path:
    path = tmp_path / "fast.yaml"
    path.write_text(FAST, encoding="utf-8")
    return path


def test_a_real_pipeline_scores_the_sample_the_same_way_twice(fast: Path, locomo: Path) -> None:
    data = load_locomo(locomo)
    first = evaluate_pipeline(fast, data, ks=(1, 5))
    second = evaluate_pipeline(fast, data, ks=(1, 5))
    assert first.recall == second.recall and first.recall["5"] > 0.5
    assert first.ingest.events == 7 and first.ingest.scopes == 2 and first.fresh is True
    assert first.pipeline_file == str(fast) and first.warnings == []
    assert first.environment is not None and first.environment.cpus


def test_a_fresh_run_refuses_a_data_dir_that_is_not_empty(fast: Path, locomo: Path, tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "x").write_text("old")
    with pytest.raises(EvolveLabError, match="is not empty"):
        evaluate_pipeline(fast, load_locomo(locomo), data_dir=tmp_path / "store")


def test_reusing_a_memory_is_flagged_in_the_report(fast: Path, locomo: Path, tmp_path: Path) -> None:
    data = load_locomo(locomo)
    fast.write_text(FAST.replace("store: {type: memory}", "store: {type: lancedb}"))
    evaluate_pipeline(fast, data, data_dir=tmp_path / "kept")
    again = evaluate_pipeline(fast, data, data_dir=tmp_path / "kept", fresh=False)
    assert any("already held 5 notes" in w for w in again.warnings)


def test_an_explicit_store_path_is_not_used_by_a_fresh_run(fast: Path, locomo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "explicit"
    fast.write_text(FAST.replace("store: {type: memory}", f"store: {{type: lancedb, path: '{elsewhere}'}}"))
    report = evaluate_pipeline(fast, load_locomo(locomo), ks=(1,))
    assert not elsewhere.exists()
    assert report.warnings and "store.path" in report.warnings[0]


def test_the_latency_histogram_keeps_the_body_apart_from_a_slow_outlier() -> None:
    from evolvelab.evaluation.core import _histogram

    latencies = [5.0 + i * 0.05 for i in range(98)] + [600.0, 12.0]
    histogram = _histogram(latencies)
    assert histogram is not None
    assert sum(histogram.counts) == len(latencies)
    assert histogram.edges[0] == 5.0 and histogram.edges[-1] == 600.0
    # equal-width bins would put 99 of 100 queries in the first bar; log bins spread them
    assert max(histogram.counts) < 50
    assert sum(1 for count in histogram.counts if count) >= 4
