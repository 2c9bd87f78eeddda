"""Small things a user of the command line sees: empty searches explained, schema placement,
every requirement shown as a capability name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolvelab.cli import cli

PIPELINE = """\
version: 1
name: small-cli
embedder: {type: none}
encode:
  - {type: turn}
store: {type: lancedb}
retrieve:
  - {type: bm25, k: 5}
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    return path


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def test_searching_a_pipeline_never_run_says_so_and_creates_no_folder(pipeline: Path, tmp_path: Path) -> None:
    data = tmp_path / "never"
    result = run("search", str(pipeline), "cat", "--user", "ana", "--data-dir", str(data), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert f"nothing stored: {pipeline} has no data at {data}" in result.stderr
    assert not data.exists()


def stored(pipeline: Path, tmp_path: Path) -> Path:
    stream = tmp_path / "s.jsonl"
    stream.write_text(json.dumps({"type": "event", "id": "e1", "user_id": "ana",
                                  "content": "I adopted a grey cat called Miso."}) + "\n")  # fmt: skip
    data = tmp_path / "data"
    assert run("run", str(pipeline), "--stream", str(stream), "--data-dir", str(data)).exit_code == 0
    return data


def test_a_search_of_an_empty_scope_says_which_scope_is_empty(pipeline: Path, tmp_path: Path) -> None:
    data = stored(pipeline, tmp_path)
    result = run("search", str(pipeline), "cat", "--user", "zed", "--data-dir", str(data), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert result.stderr == "no notes stored for user 'zed'\n"


def test_a_search_without_a_scope_on_scoped_notes_hints_at_user(pipeline: Path, tmp_path: Path) -> None:
    data = stored(pipeline, tmp_path)
    result = run("search", str(pipeline), "cat", "--data-dir", str(data))
    assert result.exit_code == 0
    assert "search with --user NAME" in result.stderr
    found = run("search", str(pipeline), "cat", "--user", "ana", "--data-dir", str(data), "--json")
    assert found.stderr == "" and len(json.loads(found.stdout)) == 1


def test_schema_without_arguments_creates_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("schema", "--builtins-only")
    assert result.exit_code == 0 and result.stdout == "wrote pipeline.schema.json\n"
    assert json.loads((tmp_path / "pipeline.schema.json").read_text())["title"] == "EvolveLab pipeline"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipeline.schema.json"]


def test_schema_without_arguments_writes_into_an_existing_pipelines_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pipelines").mkdir()
    monkeypatch.chdir(tmp_path)
    result = run("schema", "--builtins-only")
    assert result.exit_code == 0 and result.stdout == "wrote pipelines/pipeline.schema.json\n"
    assert (tmp_path / "pipelines" / "pipeline.schema.json").is_file()


def test_every_describer_shows_the_decay_managers_requirement_as_a_capability_name(registry: object) -> None:
    from evolvelab.plugin_report import plugin_report
    from evolvelab.reference import types_markdown
    from evolvelab.search.prompts import catalogue

    report = plugin_report(registry)  # type: ignore[arg-type]
    requires = {t["name"]: t["requires"] for t in report["types"]["manager"]}
    assert requires["decay"] == ["decaying"]
    assert all(name == name.lower() for names in requires.values() for name in names)
    decay_section = types_markdown(registry).split("### `decay`", 1)[1].split("###", 1)[0]  # type: ignore[arg-type]
    assert "Needs a store with: decaying." in decay_section
    assert "decay: " in catalogue(registry) and "Needs a store with: decaying." in catalogue(registry)  # type: ignore[arg-type]
