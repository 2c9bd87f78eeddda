"""The evolve spec: a strict model, errors with file positions, no train/validation leak."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolvelab.errors import ConfigError
from evolvelab.registry import Registry
from evolvelab.search.evolve import prepare
from evolvelab.search.specfile import load_spec, parse_spec


def _errors(text: str, registry: Registry) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_spec(text, file="spec.yaml", registry=registry)
    return caught.value.render()


def test_a_valid_spec_loads_with_defaults(write_spec, registry: Registry) -> None:
    spec = load_spec(write_spec(), registry)
    assert spec.base == ["fast.yaml"] and spec.resolve("fast.yaml").is_file()
    assert spec.directions == ["maximize"] and spec.study_name == "quick"
    assert spec.mutation_llm(registry) is None  # no LLM: mutation is off


def test_errors_carry_positions_and_suggestions(spec_text: str, registry: Registry) -> None:
    text = spec_text.replace("trials: 5", "trials: 0\nsampelr: {}").replace(
        "{metric: recall@10}", "{metric: recal@10}"
    )
    rendered = _errors(text, registry)
    assert "spec.yaml:9:14: objectives[0].metric: unknown metric 'recal@10'" in rendered
    assert "spec.yaml:11:9: trials: input should be greater than or equal to 1 (got 0)" in rendered
    assert (
        "spec.yaml:12:1: sampelr: unknown field" in rendered
        and "did you mean 'sampler'" in rendered
    )
    assert rendered.endswith("3 problems in spec.yaml")


def test_validation_users_must_not_be_train_users(spec_text: str, registry: Registry) -> None:
    rendered = _errors(
        spec_text.replace("validation: {users: [ben]}", "validation: {users: [ben, ana]}"), registry
    )
    assert (
        "spec.yaml:5:3: dataset: validation users must not be train users (leak): ana" in rendered
    )


def test_split_overlap_is_checked_again_on_the_data(
    spec_text: str, write_spec, tmp_path: Path
) -> None:
    path = write_spec(spec_text.replace("train: {users: [ana]}", "train: {first: 2}"))
    with pytest.raises(
        ConfigError, match=r"validation users must not be train users \(leak\): ben"
    ):
        prepare(path, out=tmp_path / "out")


def test_unknown_users_and_split_forms(
    spec_text: str, write_spec, tmp_path: Path, registry: Registry
) -> None:
    rendered = _errors(
        spec_text.replace("train: {users: [ana]}", "train: {users: [ana], first: 1}"), registry
    )
    assert "dataset.train: give exactly one of users, first or last" in rendered
    path = write_spec(spec_text.replace("train: {users: [ana]}", "train: {users: [zoe]}"))
    with pytest.raises(ConfigError, match="dataset.train: unknown user"):
        prepare(path, out=tmp_path / "out")


def test_mutation_llm_is_checked_against_the_registry(spec_text: str, registry: Registry) -> None:
    rendered = _errors(spec_text + "mutation:\n  llm: {type: opneai, model: x}\n", registry)
    assert "spec.yaml:16:15: mutation.llm.type: unknown llm type 'opneai'" in rendered
    assert "did you mean 'openai'" in rendered
    rendered = _errors(
        spec_text + "mutation:\n  llm: {type: openai, model: x, api_key: sk}\n", registry
    )
    assert "spec.yaml:16:33: mutation.llm.api_key: unknown field for llm 'openai'" in rendered
    assert "sk" not in rendered.split("api_key", 1)[1].split("\n")[0]


def test_space_entries_take_one_form(spec_text: str, registry: Registry) -> None:
    rendered = _errors(spec_text + "  retrieve[0].k: {low: 5, choices: [5, 10]}\n", registry)
    assert (
        "space.retrieve[0].k: give one of {low, high, log, step}, {choices: [...]} or {value: X}"
        in rendered
    )


def test_space_problems_point_into_the_spec(write_spec, tmp_path: Path) -> None:
    path = write_spec(extra="  retrieve[0].kk: {low: 5, high: 9}\n")
    with pytest.raises(ConfigError) as caught:
        prepare(path, out=tmp_path / "out")
    assert (
        f"{path}:15:3: space.retrieve[0].kk: unknown field for retriever 'hybrid'"
        in caught.value.render()
    )


def test_an_objective_named_twice_is_refused(spec_text: str, registry: Registry) -> None:
    text = spec_text.replace(
        "  - {metric: recall@10}\n", "  - {metric: recall@10}\n  - {metric: recall@10}\n"
    )
    rendered = _errors(text, registry)
    assert "spec.yaml:9:3: objectives: recall@10 is named twice" in rendered


@pytest.mark.parametrize("seed", ["-1", "99999999999"])
def test_the_sampler_seed_is_a_seed_numpy_accepts(
    seed: str, spec_text: str, registry: Registry
) -> None:
    rendered = _errors(spec_text.replace("seed: 3", f"seed: {seed}"), registry)
    assert "spec.yaml:10:" in rendered and "sampler.seed: input should be" in rendered


def test_a_turn_budget_has_a_sane_upper_bound(spec_text: str, registry: Registry) -> None:
    rendered = _errors(spec_text.replace("recall@10", "recall@99999999999999999999999"), registry)
    assert (
        "spec.yaml:9:14: objectives[0].metric: the turn budget K of recall@K is at most 1000"
        in rendered
    )
    spec = parse_spec(spec_text.replace("recall@10", "recall@1000"), file="spec.yaml", registry=registry)
    assert spec.objectives[0].metric == "recall@1000"


@pytest.mark.parametrize("bound", ["{low: .nan, high: 2}", "{low: 1, high: .inf}"])
def test_space_bounds_are_finite(bound: str, spec_text: str, registry: Registry) -> None:
    rendered = _errors(spec_text + f"  retrieve[0].k: {bound}\n", registry)
    assert "spec.yaml:15:" in rendered and "space.retrieve[0].k: bounds must be finite" in rendered


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{choices: [a, b]}", "space.retrieve[0].k: 'a' is not a valid value for k:"),
        ("{value: -5}", "space.retrieve[0].k: -5 is not a valid value for k:"),
        ("{low: -3, high: 9, log: false}", "space.retrieve[0].k: -3 is not a valid value for k:"),
    ],
)
def test_space_values_the_field_rejects_are_refused_when_the_spec_loads(
    entry: str, message: str, write_spec, tmp_path: Path
) -> None:
    path = write_spec(extra=f"  retrieve[0].k: {entry}\n")
    with pytest.raises(ConfigError) as caught:
        prepare(path, out=tmp_path / "out")
    rendered = caught.value.render()
    assert f"{path}:15:" in rendered and message in rendered
    assert not (tmp_path / "out" / "trials").exists()  # nothing ran


def test_a_narrowed_range_must_still_have_low_below_high(write_spec, tmp_path: Path) -> None:
    path = write_spec(extra="  retrieve[0].k: {low: 900}\n")  # declared k range ends lower
    with pytest.raises(ConfigError) as caught:
        prepare(path, out=tmp_path / "out")
    assert f"{path}:15:3: space.retrieve[0].k: low (900" in caught.value.render()
