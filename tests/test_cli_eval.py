"""The evaluation commands: convert, eval and compare, driven through click's runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from eval_samples import write_goodai, write_locomo

from evolvelab.cli import cli
from evolvelab.stream import read_stream

FAST = """\
version: 1
name: fast-cli-eval
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn, speaker: true, metadata: [caption]}
store: {type: memory}
retrieve:
  - {type: hybrid, channels: [bm25, vector], k: 10}
"""


@pytest.fixture
def fast(tmp_path: Path) -> Path:
    path = tmp_path / "fast.yaml"
    path.write_text(FAST, encoding="utf-8")
    return path


@pytest.fixture
def locomo(tmp_path: Path) -> Path:
    return write_locomo(tmp_path / "locomo.json")


def invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def test_convert_locomo_writes_a_stream_and_reports_the_cleaning(locomo: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    code, output = invoke("convert", "locomo", locomo, "-o", out)
    assert code == 0, output
    assert f"wrote {out}: 7 events, 6 queries in 2 scope(s)" in output
    assert "note: " in output and "split 'D1:1; D2:1'" in output
    stream = read_stream(out)
    assert stream.header is not None and stream.header.name == "locomo"
    assert len(stream.events) == 7 and stream.warnings == ()


def test_convert_goodai_takes_a_seed(tmp_path: Path) -> None:
    root = write_goodai(tmp_path / "g")
    code, output = invoke("convert", "goodai", root, "-o", tmp_path / "g.jsonl", "--seed", "3")
    assert code == 0 and "7 events, 5 queries in 1 scope(s)" in output
    assert "left out: the script is empty" in output


@pytest.mark.slow
def test_eval_writes_json_markdown_and_html(fast: Path, locomo: Path, tmp_path: Path) -> None:
    out, md, page = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.html"
    code, output = invoke("eval", fast, "--dataset", "locomo", "--data", locomo, "--k", "1,5",
                          "--out", out, "--md", md, "--html", page, "--details")  # fmt: skip
    assert code == 0, output
    assert "fast-cli-eval on locomo" in output and f"wrote {out}" in output
    report = json.loads(out.read_text())
    assert list(report["recall"]) == ["1", "5"] and report["questions"] == 5 and report["skipped"] == 1
    assert report["fresh"] is True and len(report["results"]) == 6
    assert md.exists() and page.read_text().startswith("<!doctype html>")


def test_eval_of_a_jsonl_stream_for_some_users(fast: Path, locomo: Path, tmp_path: Path) -> None:
    stream = tmp_path / "s.jsonl"
    invoke("convert", "locomo", locomo, "-o", stream)
    out = tmp_path / "r.json"
    code, output = invoke("eval", fast, "--dataset", "jsonl", "--data", stream, "--user", "conv-b",
                          "--quiet", "--out", out)  # fmt: skip
    assert code == 0, output
    report = json.loads(out.read_text())
    assert report["dataset"] == "locomo" and report["scopes"] == ["conv-b"] and report["asked"] == 1
    assert "results" not in report and output.strip() == f"wrote {out}"


def test_eval_of_goodai_asks_each_probe_where_it_stands(fast: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    code, output = invoke("eval", fast, "--dataset", "goodai", "--data", write_goodai(tmp_path / "g"),
                          "--quiet", "--out", out)  # fmt: skip
    assert code == 0, output
    report = json.loads(out.read_text())
    assert (report["dataset"], report["order"], report["questions"]) == ("goodai", "stream", 5)
    assert set(report["by_category"]) == {"Colours", "Jokes", "Shopping", "Trigger Response"}
    assert report["notes"] == ["Restaurant/0.def.json: left out: the script is empty (the task is driven at run time)"]


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--k", "1,x"], 2, "expected comma-separated whole numbers >= 1"),
        (["--k", "0"], 2, "expected comma-separated whole numbers >= 1"),
        (["--judge"], 2, "--judge needs --qa"),
        (["--qa"], 1, "QA needs an LLM"),
        (["--limit", "0"], 2, "0 is not in the range x>=1"),
    ],
)
def test_eval_usage_and_runtime_errors(fast: Path, locomo: Path, args: list[str], code: int, message: str) -> None:
    exit_code, output = invoke("eval", fast, "--dataset", "locomo", "--data", locomo, "--quiet", *args)
    assert exit_code == code and message in output


def test_eval_of_a_malformed_dataset_exits_2_with_positions(fast: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"sample_id": "c", "conversation": {"session_1_date_time": "soon", "session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "hi"}]}, "qa": []}]')
    code, output = invoke("eval", fast, "--dataset", "locomo", "--data", bad)
    assert code == 2 and f"{bad}: c.session_1_date_time: not a LoCoMo date: 'soon'" in output


def test_compare_shows_reports_side_by_side(fast: Path, locomo: Path, tmp_path: Path) -> None:
    for name, k in (("a", "1,5"), ("b", "1,10")):
        invoke("eval", fast, "--dataset", "locomo", "--data", locomo, "--k", k, "--quiet",
               "--out", tmp_path / f"{name}.json")  # fmt: skip
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    for row in ("recall@1", "recall@5", "recall@10", "search p95 ms", "fast-cli-eval #1"):
        assert row in result.output
    (tmp_path / "junk.json").write_text("{}")
    bad = CliRunner().invoke(cli, ["compare", str(tmp_path / "junk.json")])
    assert bad.exit_code == 1 and "is not an evaluation report" in bad.output


def test_the_cli_still_starts_without_plotting_or_scoring_libraries() -> None:
    code = ("import sys; from evolvelab.cli import cli; print(sorted(m for m in ('matplotlib', "
            "'nltk', 'evolvelab.evaluation', 'evolvelab.evaluation.report', 'rich.progress') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
