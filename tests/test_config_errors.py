"""Golden tests for configuration error texts: `config_errors/<case>.yaml` → `<case>.txt`.

Error wording is part of the user interface; review diffs to the .txt files like API
changes. Regenerate with `EVOLVELAB_UPDATE_GOLDEN=1 pytest tests/test_config_errors.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evolvelab.errors import ConfigError
from evolvelab.loader import parse_yaml, validate_pipeline
from evolvelab.pipeline import Memory
from evolvelab.registry import Registry

CASES = sorted((Path(__file__).parent / "config_errors").glob("*.yaml"))


def render(case: Path, registry: Registry) -> str:
    label = f"config_errors/{case.name}"
    try:
        located = parse_yaml(case.read_text(encoding="utf-8"), file=label)
        spec = validate_pipeline(located, registry)
        Memory(spec, registry=registry, located=located)
    except ConfigError as err:
        return err.render() + "\n"
    raise AssertionError(f"{case.name} is expected to have problems")


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_error_text_matches_golden(case: Path, registry: Registry) -> None:
    text = render(case, registry)
    golden = case.with_suffix(".txt")
    if os.environ.get("EVOLVELAB_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_every_case_has_a_golden_file() -> None:
    missing = [c.name for c in CASES if not c.with_suffix(".txt").exists()]
    assert not missing
