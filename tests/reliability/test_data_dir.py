"""A pipeline's name is never a path, and EvolveLab deletes only data folders it created.

``evolvelab run --fresh`` used to ``rmtree`` whatever the data folder resolved to: a
pipeline named ``/some/dir`` deleted that directory, ``../../x`` wrote outside the data
home, and ``--data-dir ~/Documents --fresh`` would have emptied it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolvelab import datadir
from evolvelab.cli import cli
from evolvelab.errors import ConfigError
from evolvelab.evaluation import evaluate_pipeline
from evolvelab.loader import parse_yaml, validate_pipeline
from evolvelab.pipeline import Memory
from evolvelab.registry import Registry
from evolvelab.stream import read_stream

BODY = """\
embedder: {type: hashing, dim: 32}
encode: [{type: turn}]
store: {type: memory}
retrieve: [{type: bm25, k: 5}]
"""

STREAM = [
    {"type": "stream", "name": "tiny", "version": 1},
    {"type": "event", "id": "e1", "user_id": "ana", "content": "I adopted a grey cat called Miso."},
    {"type": "query", "id": "q1", "user_id": "ana", "text": "cat name?", "evidence": ["e1"]},
]


def pipeline(tmp_path: Path, name: str = "safe", body: str = BODY) -> Path:
    path = tmp_path / f"{abs(hash(name))}.yaml"
    path.write_text(f"version: 1\nname: {json.dumps(name)}\n{body}", encoding="utf-8")
    return path


def stream(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in STREAM), encoding="utf-8")
    return path


def treasure(folder: Path) -> Path:
    """A folder holding a file someone cares about."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thesis.txt").write_text("four years of work", encoding="utf-8")
    return folder / "thesis.txt"


@pytest.mark.parametrize(
    "name",
    ["/tmp/evolvelab-victim", "../../escape", "a/b", "..", ".", ".hidden", "a b", "x" * 101,
     "C:\\Users", "nul\u0000byte", "-rf"],
)  # fmt: skip
def test_a_name_that_is_a_path_is_a_located_error(name: str, registry: Registry) -> None:
    text = f"version: 1\nname: {json.dumps(name)}\n{BODY}"
    with pytest.raises(ConfigError) as err:
        validate_pipeline(parse_yaml(text, file="p.yaml"), registry)
    [problem] = err.value.problems
    assert (problem.path, problem.line, problem.col) == (("name",), 2, 7)
    assert "data folder" in problem.message


@pytest.mark.parametrize("name", ["locomo", "hybrid-llm-0a1b2c", "Run_2.v3", "7up"])
def test_plain_names_still_validate(name: str, registry: Registry) -> None:
    text = f"version: 1\nname: {name}\n{BODY}"
    assert validate_pipeline(parse_yaml(text), registry).name == name


def test_run_with_an_absolute_name_exits_2_and_deletes_nothing(tmp_path: Path) -> None:
    victim = treasure(tmp_path / "victim")
    file = pipeline(tmp_path, name=str(victim.parent))
    result = CliRunner().invoke(cli, ["run", str(file), "--stream", str(stream(tmp_path)), "--fresh"])
    assert result.exit_code == 2, result.output
    assert "name" in result.output and "Traceback" not in result.output
    assert victim.read_text(encoding="utf-8") == "four years of work"


def test_fresh_refuses_a_data_dir_evolvelab_did_not_create(tmp_path: Path) -> None:
    victim = treasure(tmp_path / "documents")
    args = ["run", str(pipeline(tmp_path)), "--stream", str(stream(tmp_path))]
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(victim.parent), "--fresh"])
    assert result.exit_code == 2, result.output
    assert "EvolveLab did not create it" in result.output and "Traceback" not in result.output
    assert victim.read_text(encoding="utf-8") == "four years of work"


def test_fresh_refuses_an_evolvelab_home_that_holds_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    victim = treasure(home / "safe")  # the folder the pipeline name resolves to
    monkeypatch.setenv("EVOLVELAB_HOME", str(home))
    args = ["run", str(pipeline(tmp_path)), "--stream", str(stream(tmp_path)), "--fresh"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert victim.exists()


def test_fresh_wipes_a_folder_evolvelab_created(tmp_path: Path, _home: Path) -> None:
    args = ["run", str(pipeline(tmp_path)), "--stream", str(stream(tmp_path))]
    assert CliRunner().invoke(cli, args).exit_code == 0
    folder = _home / "safe"
    assert datadir.is_marked(folder)
    leftover = folder / "old-store"
    leftover.mkdir()
    result = CliRunner().invoke(cli, [*args, "--fresh"])
    assert result.exit_code == 0, result.output
    assert not leftover.exists() and datadir.is_marked(folder)


def test_fresh_refuses_a_store_path_outside_the_data_folder(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    kept = treasure(outside)
    body = BODY.replace("{type: memory}", f"{{type: lancedb, path: {json.dumps(str(outside))}}}")
    args = ["run", str(pipeline(tmp_path, body=body)), "--stream", str(stream(tmp_path)), "--fresh"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "outside the data folder" in result.output and kept.exists()


def test_open_marks_new_and_empty_folders_only(tmp_path: Path) -> None:
    spec_file = pipeline(tmp_path)
    for folder, marked in ((tmp_path / "new" / "deep"), True), (tmp_path / "empty", True), (
        treasure(tmp_path / "full").parent, False
    ):
        if folder.name == "empty":
            folder.mkdir()
        with Memory.from_yaml(spec_file, data_dir=folder):
            pass
        assert datadir.is_marked(folder) is marked, folder


def test_a_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a folder"):
        Memory.from_yaml(pipeline(tmp_path), data_dir=blocker).open()


def test_wipe_keeps_the_folder_and_refuses_links_and_fakes(tmp_path: Path) -> None:
    folder = datadir.prepare(tmp_path / "data")
    (folder / "lancedb").mkdir()
    (folder / "lancedb" / "x").write_text("1", encoding="utf-8")
    outside = treasure(tmp_path / "outside")
    (folder / "link").symlink_to(outside.parent)
    assert datadir.wipe(folder) is True
    assert [p.name for p in folder.iterdir()] == [datadir.MARKER]
    assert outside.exists()  # a link inside is removed, not followed
    link = tmp_path / "alias"
    link.symlink_to(folder)
    with pytest.raises(ConfigError, match="symbolic link"):
        datadir.remove(link)
    fake = treasure(tmp_path / "fake")
    (fake.parent / datadir.MARKER).write_text("not ours", encoding="utf-8")
    with pytest.raises(ConfigError, match="did not create"):
        datadir.wipe(fake.parent)
    assert fake.exists()


def test_evaluation_and_trial_folders_are_marked_and_removed(tmp_path: Path) -> None:
    seen: list[Path] = []
    with datadir.temporary("evolvelab-trial-") as folder:
        seen.append(folder)
        assert datadir.is_marked(folder)
    assert not seen[0].exists()
    report = evaluate_pipeline(pipeline(tmp_path), read_stream(stream(tmp_path)), ks=(5,))
    assert report.fresh is True
    given = tmp_path / "eval-dir"
    given.mkdir()
    (given / datadir.MARKER).write_text("EvolveLab data folder: left by an earlier run\n")
    evaluate_pipeline(pipeline(tmp_path), read_stream(stream(tmp_path)), data_dir=given, ks=(5,))
    assert datadir.is_marked(given)  # only the marker in it: still counts as empty


def test_rebuild_fresh_wipes_only_a_marked_folder_and_marks_what_it_builds(tmp_path: Path) -> None:
    source = tmp_path / "source"
    memory = Memory.from_yaml(pipeline(tmp_path), data_dir=source)
    memory.use_event_log()
    memory.add([{"id": "e1", "content": "grey cat called Miso"}], scope={"user_id": "ana"})
    memory.close()
    victim = treasure(tmp_path / "documents")
    args = ["rebuild", str(pipeline(tmp_path)), "--from", str(source), "--data-dir"]
    refused = CliRunner().invoke(cli, [*args, str(victim.parent), "--fresh"])
    assert refused.exit_code == 2 and "EvolveLab did not create it" in refused.output
    assert victim.exists()
    target = tmp_path / "rebuilt"
    assert CliRunner().invoke(cli, [*args, str(target)]).exit_code == 0
    assert datadir.is_marked(target)
    again = CliRunner().invoke(cli, [*args, str(target), "--fresh"])
    assert again.exit_code == 0, again.output


LANCE = BODY.replace("store: {type: memory}", "store: {type: lancedb}")


def test_fresh_refuses_a_folder_a_live_process_is_writing(tmp_path: Path) -> None:
    """`run --fresh` used to wipe a served folder under the server: its acknowledged adds and
    its event log were gone. A writer holding the folder's lock now makes the wipe refuse."""
    from evolvelab import Event, Scope

    folder = tmp_path / "served"
    path = pipeline(tmp_path, body=LANCE)
    with Memory.from_yaml(path, data_dir=folder) as served:  # what `evolvelab serve` does
        served.use_event_log()
        served.add([Event(id="e1", content="acknowledged, so durable")], Scope(user_id="ana"))
        before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
        args = ["run", str(path), "--stream", str(stream(tmp_path)), "--data-dir", str(folder)]
        result = CliRunner().invoke(cli, [*args, "--fresh"])
        assert result.exit_code == 2, result.output
        assert "refusing to wipe this folder: it is in use by pid" in " ".join(result.output.split())
        assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
        assert served.count(Scope(user_id="ana")) == 1
    with pytest.raises(ConfigError, match="in use by"):  # remove() checks the same
        with Memory.from_yaml(path, data_dir=folder) as again:
            again.use_event_log()
            datadir.remove(folder)
    result = CliRunner().invoke(cli, [*args, "--fresh"])  # nobody holds it now
    assert result.exit_code == 0, result.output
