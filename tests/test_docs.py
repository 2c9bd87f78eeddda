"""The docs against the code: hooks documented and tested, examples valid, generated pages fresh."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from evolvelab import hookspecs
from evolvelab.loader import parse_yaml, validate_pipeline
from evolvelab.reference import types_markdown
from evolvelab.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for page in DOCS:
        for lang, body in FENCE.findall(page.read_text(encoding="utf-8")):
            if lang == language:
                found.append((page.name, body))
    return found


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook: str) -> None:
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"### `{hook}({params})`" in (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    assert f"def test_hook_{hook}(" in (ROOT / "tests" / "test_registry.py").read_text()


def test_types_reference_is_fresh(registry: Registry) -> None:
    committed = (ROOT / "docs" / "types.md").read_text(encoding="utf-8")
    assert committed == types_markdown(registry), "run: evolvelab schema --builtins-only --markdown docs/types.md"


PIPELINE_BLOCKS = [(page, body) for page, body in blocks("yaml") if "version: 1" in body]


@pytest.mark.parametrize("page,body", PIPELINE_BLOCKS, ids=[p for p, _ in PIPELINE_BLOCKS])
def test_pipeline_examples_in_docs_validate(page: str, body: str, registry: Registry) -> None:
    validate_pipeline(parse_yaml(body, file=page), registry)


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    [(_, code)] = [b for b in blocks("python") if b[0] == "README.md"]
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the example is ours
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "['t1']" in lines[0] and "Miso" in lines[0]


def test_readme_holds_exactly_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [b for lang, b in FENCE.findall(setup) if lang == "bash"]
    assert len(commands) == 2
    assert "evolvelab evolve" in commands[0] and "pytest" in commands[1]
