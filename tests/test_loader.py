"""YAML parsing: positions, duplicate keys, environment references, validation."""

from __future__ import annotations

import pytest

from evolvelab.errors import ConfigError
from evolvelab.loader import load_pipeline, parse_yaml, validate_pipeline
from evolvelab.registry import Registry

MINIMAL = """\
version: 1
name: minimal
embedder: {type: hashing, dim: 32}
encode:
  - {type: turn}
store: {type: memory}
retrieve:
  - {type: bm25, k: 5}
"""


def test_positions_point_at_keys_and_values() -> None:
    located = parse_yaml(MINIMAL, file="p.yaml")
    assert located.keys[("retrieve",)] == (7, 1)
    assert located.values[("retrieve", 0, "k")] == (8, 21)
    assert located.values[("encode", 0)] == (5, 5)


def test_duplicate_keys_are_reported_not_collapsed() -> None:
    located = parse_yaml("a: 1\nb: 2\na: 3\n", file="d.yaml")
    [problem] = located.problems
    assert (problem.line, problem.col) == (3, 1)
    assert problem.message == "key 'a' appears twice (first at line 1)"
    assert located.data == {"a": 1, "b": 2}


def test_env_reference_resolves(monkeypatch: pytest.MonkeyPatch, registry: Registry) -> None:
    monkeypatch.setenv("EVOLVELAB_TEST_K", "9")
    text = MINIMAL.replace("k: 5", "k: {$env: EVOLVELAB_TEST_K}")
    spec = validate_pipeline(parse_yaml(text), registry)
    assert spec.retrieve[0].k == 9  # type: ignore[attr-defined]


def test_env_reference_default(registry: Registry) -> None:
    text = MINIMAL.replace("k: 5", "k: {$env: EVOLVELAB_TEST_SURELY_UNSET, default: 4}")
    spec = validate_pipeline(parse_yaml(text), registry)
    assert spec.retrieve[0].k == 4  # type: ignore[attr-defined]


def test_env_value_is_never_echoed_in_errors(monkeypatch: pytest.MonkeyPatch, registry: Registry) -> None:
    monkeypatch.setenv("EVOLVELAB_TEST_SECRET", "sk-very-secret-value")
    text = MINIMAL.replace("k: 5", "k: {$env: EVOLVELAB_TEST_SECRET}")
    with pytest.raises(ConfigError) as err:
        validate_pipeline(parse_yaml(text, file="s.yaml"), registry)
    assert "sk-very-secret" not in str(err.value)
    assert "s.yaml:8:" in str(err.value)


def test_all_problems_reported_at_once(registry: Registry) -> None:
    text = MINIMAL.replace("version: 1", "version: 3").replace("k: 5", "k: 0, kk: 1")
    with pytest.raises(ConfigError) as err:
        validate_pipeline(parse_yaml(text, file="m.yaml"), registry)
    paths = [".".join(map(str, p.path)) for p in err.value.problems]
    assert paths == ["version", "retrieve.0.k", "retrieve.0.kk"]


def test_missing_file_is_a_config_error(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="cannot read file"):
        load_pipeline(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        validate_pipeline(parse_yaml("- 1\n- 2\n", file="l.yaml"), registry)


def test_yaml_11_traps_are_caught_by_validation(registry: Registry) -> None:
    text = MINIMAL.replace("{type: turn}", "{type: turn, speaker: no}")
    spec = validate_pipeline(parse_yaml(text), registry)
    assert spec.encode[0].speaker is False  # type: ignore[attr-defined]
