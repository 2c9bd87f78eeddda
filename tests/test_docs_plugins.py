"""docs/plugins.md runs as written: every code block, the contract table, the numbers it states."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from evolvelab import Event, Scope
from evolvelab.errors import PluginError
from evolvelab.pipeline import Memory

from docs_blocks import ROOT, code_blocks, named_block, registry_with, run_block

PAGE = "docs/plugins.md"
PLUGIN = ROOT / "plugins" / "evolvelab-jaccard"


def test_every_python_block_names_its_file_and_runs_as_written() -> None:
    names = []
    for code in code_blocks(PAGE, "python"):
        first = code.splitlines()[0]
        assert re.fullmatch(r"# [\w]+\.py", first), f"a block must start with '# <file>.py': {first!r}"
        names.append(first[2:-3])
        run_block(code, names[-1])  # imports included: nothing is assumed to be in scope
    assert names == ["evolvelab_jaccard", "evolvelab_sentences", "test_my_store",
                     "test_with_a_fake_llm", "evolvelab_hello"]  # fmt: skip


def test_the_retriever_example_is_the_example_plugin_and_scores_notes(tmp_path: Path) -> None:
    code = named_block(PAGE, "evolvelab_jaccard.py")
    shipped = (PLUGIN / "evolvelab_jaccard.py").read_text(encoding="utf-8")
    body = shipped[shipped.index("import heapq") :]
    strip = lambda text: [re.sub(r"\s+# noqa.*$", "", line) for line in text.splitlines()]  # noqa: E731
    assert strip(code)[1:] == strip(body)
    module = run_block(code, "evolvelab_jaccard")
    spec = {"version": 1, "name": "j", "embedder": {"type": "none"}, "encode": [{"type": "turn"}],
            "store": {"type": "memory"}, "retrieve": [{"type": "jaccard", "k": 2}]}  # fmt: skip
    with Memory.from_dict(spec, registry=registry_with(module), data_dir=tmp_path) as memory:
        memory.add([Event(id="e1", content="The red bicycle is in the garage."),
                    Event(id="e2", content="Lunch was a bowl of ramen.")], scope=Scope(user_id="u"))  # fmt: skip
        hits = memory.search("where is the red bicycle", scope=Scope(user_id="u"))
    assert [(h.note.source_ids, h.channel) for h in hits] == [(["e1"], "jaccard")]
    assert hits[0].score == pytest.approx(3 / 5)  # the, red, bicycle shared; where, garage not


def test_the_stated_line_counts_are_the_example_plugins() -> None:
    lines = len((PLUGIN / "evolvelab_jaccard.py").read_text(encoding="utf-8").splitlines())
    page = (ROOT / PAGE).read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.findall(r"(\d+)-line module", page) + re.findall(r"(\d+) lines", page)
    stated += re.findall(r"(\d+)-line package", readme)
    assert len(stated) == 3 and set(stated) == {str(lines)}


def test_the_entry_point_block_is_the_example_plugins() -> None:
    [block] = code_blocks(PAGE, "toml")
    shipped = tomllib.loads((PLUGIN / "pyproject.toml").read_text(encoding="utf-8"))
    assert tomllib.loads(block)["project"]["entry-points"] == shipped["project"]["entry-points"]


def test_the_stage_contract_table_is_one_table_with_every_base() -> None:
    page = (ROOT / PAGE).read_text(encoding="utf-8")
    section = page.split("## Stage contracts", 1)[1].split("\n## ", 1)[0]
    tables = re.findall(r"(?:^\|.*\|\n)+", section, re.M)
    assert len(tables) == 1
    bases = re.findall(r"^\| `(\w+)` \|", tables[0], re.M)
    assert bases == ["Encoder", "Store", "Retriever", "Manager", "Embedder", "LLM"]


def test_the_command_example_adds_a_working_command() -> None:
    module = run_block(named_block(PAGE, "evolvelab_hello.py"), "evolvelab_hello")
    cli = click.Group()
    module.register_commands(cli)
    result = CliRunner().invoke(cli, ["hello"])
    assert result.exit_code == 0 and result.output == "hello from my plugin\n"


@pytest.mark.slow
def test_the_store_test_example_passes_the_contract_suite(tmp_path: Path) -> None:
    (tmp_path / "test_my_store.py").write_text(named_block(PAGE, "test_my_store.py"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_store.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert re.search(r"\d+ passed", result.stdout) and " failed" not in result.stdout


def test_strict_mode_refuses_a_field_without_a_description_as_the_docs_say(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = named_block(PAGE, "evolvelab_jaccard.py").replace(
        '0.0, ge=0.0, le=1.0, description="Drop notes whose overlap is not above this."',
        "0.0, ge=0.0, le=1.0",
    )
    module = run_block(code, "evolvelab_jaccard")
    lenient = registry_with(module)
    assert "jaccard" in lenient.names("retriever")  # without strict mode it is only a style rule
    monkeypatch.setenv("EVOLVELAB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="JaccardConfig has field\\(s\\) without a description: min_overlap"):
        registry_with(module)
    promised = (ROOT / PAGE).read_text(encoding="utf-8")
    assert "JaccardConfig has field(s) without a description: min_overlap" in promised
