"""The command line, driven through click's runner (and a subprocess where it matters)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolvelab import __version__
from evolvelab.cli import cli
from evolvelab.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml")) + sorted(
    (ROOT / "pipelines" / "evolved").glob("*.yaml")
)

FAST = """\
version: 1
name: fast-cli
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn}
store: {type: lancedb}
retrieve:
  - {type: hybrid, channels: [bm25, vector], k: 10}
"""

STREAM = [
    {"type": "stream", "name": "tiny", "version": 1},
    {"type": "event", "id": "e1", "user_id": "ana", "speaker": "Ana", "content": "I adopted a grey cat called Miso."},
    {"type": "event", "id": "e2", "user_id": "ana", "speaker": "Ana", "content": "My sister teaches piano in Lisbon."},
    {"type": "event", "id": "e3", "user_id": "ben", "speaker": "Ben", "content": "My cat is called Pixel."},
    {"type": "query", "id": "q1", "user_id": "ana", "text": "What is the name of Ana's cat?", "evidence": ["e1"]},
    {"type": "query", "id": "q2", "user_id": "ben", "text": "What is the cat called?", "evidence": ["e3"]},
]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def fast_pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "fast.yaml"
    path.write_text(FAST, encoding="utf-8")
    return path


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.slow
def test_help_does_not_import_heavy_libraries() -> None:
    code = "import sys; from evolvelab.cli import cli; print(sorted(m for m in ('lancedb','onnxruntime','optuna','instructor','openai','ladybug') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validate_shipped_pipelines() -> None:
    result = CliRunner().invoke(cli, ["validate", *map(str, PIPELINES)])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok: ") == len(PIPELINES)


@pytest.mark.slow
def test_the_evolved_locomo_pipeline_runs_on_the_sample(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    args = ["run", str(ROOT / "pipelines" / "evolved" / "locomo.yaml"), "--sample",
            "--data-dir", str(tmp_path / "data"), "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    recall = json.loads(out.read_text())["recall"]
    assert 0.3 < recall <= 1.0


def test_validate_reports_typo_and_unknown_type_with_positions(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FAST.replace("{type: turn}", "{type: turn, speakr: true}").replace("lancedb", "lancdb"))
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:5:18: encode[0].speakr: unknown field for encoder 'turn'" in result.output
    assert "(did you mean 'speaker'?)" in result.output
    assert f"{bad}:6:15: store.type: unknown store type 'lancdb'" in result.output
    allowed = next(line for line in result.output.splitlines() if "allowed:" in line and "lancedb" in line)
    assert {"kuzu", "lancedb", "memory"} <= set(allowed.split("allowed:")[1].split("(")[0].replace(",", " ").split())
    assert "2 problems in" in result.output


def test_committed_schema_is_fresh(registry: Registry) -> None:
    committed = json.loads((ROOT / "pipelines" / "pipeline.schema.json").read_text())
    assert committed == registry.pipeline_schema(), "run: evolvelab schema --builtins-only"


def test_schema_to_stdout() -> None:
    result = CliRunner().invoke(cli, ["schema", "--builtins-only", "-o", "-"])
    assert result.exit_code == 0 and json.loads(result.output)["title"] == "EvolveLab pipeline"


def test_plugins_json_lists_builtins_per_stage() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    builtin = next(p for p in report["plugins"] if p["name"] == "evolvelab")
    assert {"kuzu", "lancedb", "memory"} <= set(builtin["types"]["store"])
    assert "hybrid" in builtin["types"]["retriever"]
    lancedb = next(t for t in report["types"]["store"] if t["name"] == "lancedb")
    assert {"vector_search", "text_search", "scan"} <= set(lancedb["capabilities"])


def test_plugins_table() -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0 and "lancedb" in result.output


@pytest.mark.slow
def test_run_then_search_in_another_process(tmp_path: Path, fast_pipeline: Path) -> None:
    stream = write_jsonl(tmp_path / "s.jsonl", STREAM)
    out = tmp_path / "results.json"
    result = CliRunner().invoke(cli, ["run", str(fast_pipeline), "--stream", str(stream), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "ingested 3 events" in result.output and "recall@10 (turn budget) 1.000" in result.output
    summary = json.loads(out.read_text())
    assert [r["recall"] for r in summary["results"]] == [1.0, 1.0]
    assert summary["results"][1]["hits"][0]["sources"] == ["e3"]
    search = subprocess.run(
        [sys.executable, "-m", "evolvelab", "search", str(fast_pipeline), "cat name", "--user", "ana", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    hits = json.loads(search.stdout)
    assert hits[0]["source_ids"] == ["e1"] and all(h["source_ids"] != ["e3"] for h in hits)


def test_run_rejects_a_malformed_stream_without_writing(tmp_path: Path, fast_pipeline: Path) -> None:
    stream = tmp_path / "bad.jsonl"
    lines = [json.dumps(STREAM[1]), '{"type": "event", "id": "e9", "content": ', json.dumps({"type": "event", "id": "x"})]
    stream.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["run", str(fast_pipeline), "--stream", str(stream)])
    assert result.exit_code == 2
    assert f"{stream}:2:" in result.output and f"{stream}:3:" in result.output
    count = CliRunner().invoke(cli, ["search", str(fast_pipeline), "cat", "--user", "ana", "--json"])
    assert json.loads(count.stdout) == [] and "nothing stored" in count.stderr


def test_run_needs_exactly_one_stream(fast_pipeline: Path) -> None:
    result = CliRunner().invoke(cli, ["run", str(fast_pipeline)])
    assert result.exit_code == 2 and "exactly one of --stream FILE or --sample" in result.output


def test_search_with_a_broken_pipeline_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\n")
    result = CliRunner().invoke(cli, ["search", str(bad), "anything"])
    assert result.exit_code == 2 and "required field is missing" in result.output
