"""`evolvelab evolve` on the command line, and the specs and docs that ship with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolvelab.cli import cli
from evolvelab.registry import Registry
from evolvelab.search.specfile import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_evolve_command_runs_and_reports(write_spec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["evolve", str(write_spec()), "--trials", "3", "--out", str(out), "--seed", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "best" in result.output and "base" in result.output and "valid." in result.output
    assert (out / "best.yaml").is_file() and (out / "report.md").is_file()


def test_evolve_command_renders_spec_problems(write_spec, spec_text: str, tmp_path: Path) -> None:
    spec = write_spec(spec_text.replace("trials: 5", "trials: -1"))
    result = CliRunner().invoke(cli, ["evolve", str(spec), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"{spec}:11:9: trials: input should be greater than or equal to 1" in result.output


def test_bundled_specs_load(registry: Registry, tmp_path: Path) -> None:
    from evolvelab.search.context import spec_space

    for path in sorted((ROOT / "pipelines" / "evolve").glob("*.yaml")):
        spec = load_spec(path, registry)
        space = spec_space(spec, registry, tmp_path / path.stem)  # with what `auto` derives
        assert space.params(), path


def test_spec_examples_in_the_docs_validate(registry: Registry) -> None:
    text = (ROOT / "docs" / "evolve.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml evolve\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    for body in blocks:
        spec = parse_spec(
            body, file="docs/evolve.md", folder=ROOT / "pipelines" / "evolve", registry=registry
        )
        assert all(spec.resolve(b).is_file() for b in spec.base)


def test_when_every_trial_fails_the_command_says_so_and_exits_1(
    write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evolvelab.errors import EvolveLabError
    from evolvelab.search.trial import Evaluator

    def broken(self, text, users, *, file="<candidate>"):
        raise EvolveLabError("the store is unreachable")

    monkeypatch.setattr(Evaluator, "run", broken)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["evolve", str(write_spec()), "--trials", "2", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 1, result.output
    assert "no trial produced a valid pipeline (2 failed)" in result.output
    assert "the store is unreachable" in result.output  # the first failure, so the user can act
    assert not (out / "best.yaml").exists() and (out / "trials.csv").is_file()
