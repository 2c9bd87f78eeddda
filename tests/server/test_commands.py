"""The server's command-line commands: keys, refusing to expose an unauthenticated
server, export and rebuild arguments (fast: no server is started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from evolvelab.cli import cli
from evolvelab.pipeline import Memory
from evolvelab.server.keys import KeyRing
from evolvelab.stream import parse_stream

PIPELINE = """
version: 1
name: lex
embedder: {type: none}
encode:
  - {type: turn, speaker: true, link_turns: false}
store: {type: memory}
retrieve:
  - {type: bm25, k: 20}
"""


def test_keys_add_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    result = CliRunner().invoke(cli, ["keys", "add", "acme", "--file", str(keys)])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[0]
    assert key.startswith("evl_") and len(key) > 40
    text = keys.read_text()
    assert key not in text and "sha256:" in text
    assert KeyRing.load(keys).tenant_for(key) == "acme"
    assert KeyRing.load(keys).tenant_for(key + "x") is None
    second = CliRunner().invoke(cli, ["keys", "add", "acme", "--file", str(keys)])
    assert second.stdout.strip() != key
    listed = CliRunner().invoke(cli, ["keys", "list", "--file", str(keys)])
    assert listed.stdout.count("acme") == 2 and "evl_" not in listed.stdout
    key_id = yaml.safe_load(text)["keys"][0]["id"]
    assert CliRunner().invoke(cli, ["keys", "revoke", key_id, "--file", str(keys)]).exit_code == 0
    assert KeyRing.load(keys).tenant_for(key) is None


def test_a_tenant_name_with_a_slash_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["keys", "add", "acme/ana", "--file", str(tmp_path / "k.yaml")])
    assert result.exit_code == 2 and "TENANT" in result.output
    assert not (tmp_path / "k.yaml").exists()


def test_a_malformed_keys_file_is_a_located_error(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("version: 1\nkeys:\n- {tenant: acme, id: k_1, sha256: nothex}\n")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    result = CliRunner().invoke(cli, ["serve", str(pipeline), "--keys", str(keys)])
    assert result.exit_code == 2
    assert "keys[0].sha256: not a SHA-256 hex digest" in result.output


def test_serving_beyond_loopback_needs_keys(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    result = CliRunner().invoke(cli, ["serve", str(pipeline), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "without --keys" in result.output and "127.0.0.1" in result.output


def test_export_writes_a_stream_with_a_header(tmp_path: Path) -> None:
    memory = Memory.from_text(PIPELINE, data_dir=tmp_path / "data")
    memory.use_event_log()
    memory.add(messages=[{"role": "user", "content": "hello there"}], scope={"user_id": "ana"})
    memory.add([{"id": "b1", "content": "bob here"}], scope={"user_id": "bob"})
    memory.close()
    out = tmp_path / "stream.jsonl"
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "data"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    stream = parse_stream(out.read_text())
    assert stream.header is not None and len(stream.events) == 2
    only_bob = CliRunner().invoke(cli, ["export", str(tmp_path / "data"), "--user", "bob"])
    lines = [json.loads(line) for line in only_bob.stdout.splitlines()]
    assert [line.get("content") for line in lines[1:]] == ["bob here"]


def test_export_and_rebuild_need_a_folder_with_a_log(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no event log" in result.output
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    result = CliRunner().invoke(cli, ["rebuild", str(pipeline), "--from", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no event log" in result.output


def test_export_of_one_tenant_strips_its_prefix_and_leaves_others_out(tmp_path: Path) -> None:
    memory = Memory.from_text(PIPELINE, data_dir=tmp_path / "data")
    memory.use_event_log()
    memory.add([{"id": "a1", "content": "acme's ana"}], scope={"user_id": "acme/ana"})
    memory.add([{"id": "g1", "content": "globex's ana"}], scope={"user_id": "globex/ana"})
    memory.close()
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "data"), "--tenant", "acme"])
    lines = [json.loads(line) for line in result.stdout.splitlines()][1:]
    assert [(line["user_id"], line["content"]) for line in lines] == [("ana", "acme's ana")]


def test_the_command_line_does_not_import_the_server_libraries() -> None:
    import subprocess
    import sys

    probe = ("import sys, evolvelab.cli\n"
             "from click.testing import CliRunner\n"
             "CliRunner().invoke(evolvelab.cli.cli, ['--help'])\n"
             "print(sorted(m for m in ('fastapi', 'uvicorn', 'mcp', 'httpx', 'lancedb') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def _stream(path: Path) -> Path:
    path.write_text(json.dumps({"type": "event", "id": "e1", "user_id": "ana", "content": "My cat is Miso."})
                    + "\n" + json.dumps({"type": "query", "id": "q1", "user_id": "ana",
                                         "text": "cat?", "evidence": ["e1"]}) + "\n")  # fmt: skip
    return path


def test_run_and_search_refuse_a_folder_a_server_writes(tmp_path: Path) -> None:
    from evolvelab.eventlog import take_writer_lock
    from evolvelab.rebuild import log_dir

    pipeline = tmp_path / "lex.yaml"
    pipeline.write_text(PIPELINE.replace("{type: memory}", "{type: lancedb}"))
    data = tmp_path / "data"
    data.mkdir()
    held = take_writer_lock(log_dir(data))  # what `evolvelab serve --data-dir data` holds
    try:
        run = CliRunner().invoke(cli, ["run", str(pipeline), "--stream", str(_stream(tmp_path / "s.jsonl")),
                                       "--data-dir", str(data)])  # fmt: skip
        assert run.exit_code == 1
        assert f"refusing to write into {data}: it is in use by pid" in " ".join(run.output.split())
        search = CliRunner().invoke(cli, ["search", str(pipeline), "cat", "--data-dir", str(data)])
        assert search.exit_code == 1 and "in use by pid" in search.output
        assert sorted(p.name for p in data.iterdir()) == ["eventlog"]  # nothing was written
    finally:
        held.close()


@pytest.mark.parametrize("folder", ["existing", "new", "fresh"])
def test_run_holds_the_writer_lock_while_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    from evolvelab.errors import EvolveLabError
    from evolvelab.evaluation import runner
    from evolvelab.eventlog import EventLog
    from evolvelab.rebuild import log_dir

    pipeline = tmp_path / "lex.yaml"
    pipeline.write_text(PIPELINE)
    data = tmp_path / "data"
    if folder != "new":
        data.mkdir()
    seen: list[str] = []
    real = runner.replay

    def replay_while_a_server_starts(*args: object, **kwargs: object) -> object:
        try:
            EventLog(log_dir(data)).open()  # a server starting while the run writes
            seen.append("a second writer opened the folder")
        except EvolveLabError as err:
            seen.append(str(err))
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "replay", replay_while_a_server_starts)
    args = ["run", str(pipeline), "--stream", str(_stream(tmp_path / "s.jsonl")), "--data-dir", str(data)]
    result = CliRunner().invoke(cli, args + (["--fresh"] if folder == "fresh" else []))
    assert result.exit_code == 0, result.output
    assert len(seen) == 1 and "in use by pid" in seen[0]
    EventLog(log_dir(data)).open().close()  # free again once the run is over
    assert (data / ".evolvelab-data").exists()  # the folder is marked as EvolveLab's


def test_search_in_a_folder_without_a_memory_creates_nothing(tmp_path: Path) -> None:
    pipeline = tmp_path / "lex.yaml"
    pipeline.write_text(PIPELINE.replace("{type: memory}", "{type: lancedb}"))
    elsewhere = tmp_path / "documents"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["search", str(pipeline), "cat", "--data-dir", str(elsewhere), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert f"nothing stored: {pipeline} has no data at {elsewhere}" in " ".join(result.stderr.split())
    assert sorted(p.name for p in elsewhere.iterdir()) == ["notes.txt"]  # no lancedb/, no marker
