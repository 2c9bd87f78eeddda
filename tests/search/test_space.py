"""The search space: YAML-path names, conditional parameters, structure, round trips."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from evolvelab.errors import ConfigError
from evolvelab.registry import Registry
from evolvelab.search.derive import build_space
from evolvelab.search.render import load_candidate, render_pipeline, validate_candidate
from evolvelab.search.spec import SpaceEntry

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _space(path: Path, registry: Registry, **entries: dict) -> object:
    return build_space([path], registry, entries={k: SpaceEntry(**v) for k, v in entries.items()})


def _names(space) -> list[str]:
    return [p.name for p in space.params()]


def test_declared_tunables_become_yaml_path_params(fast_pipeline: Path, registry: Registry) -> None:
    space = _space(fast_pipeline, registry)
    names = _names(space)
    assert {
        "encode[0].context",
        "store.bm25_k1",
        "store.bm25_b",
        "retrieve[0].k",
        "retrieve[0].fusion",
        "retrieve[0].candidates",
        "retrieve[0].rrf_k",
    } <= set(names)
    assert dict(space.describe())["retrieve[0].k"] == "5..100 log"


def test_spec_narrows_pins_and_extends(fast_pipeline: Path, registry: Registry) -> None:
    space = _space(
        fast_pipeline,
        registry,
        **{
            "retrieve[0].k": {"low": 10, "high": 40},
            "store.bm25_b": {"value": 0.5},
            "retrieve[0].weights[1]": {"low": 0.1, "high": 2.0},
            "encode[0].date": {"choices": [False, True]},
        },
    )
    described = dict(space.describe())
    assert described["retrieve[0].k"] == "10..40 log"
    assert "store.bm25_b" not in described
    assert described["retrieve[0].weights[1]"] == "0.1..2.0"
    assert described["encode[0].date"] == "{false, true}"
    assert space.params_for(space.bases[0].spec) is None  # the base pins 0.75: it runs as given
    data = space.suggest(optuna.create_study().ask())
    assert data["store"]["bm25_b"] == 0.5  # pinned values apply to every trial


def test_base_is_trial_zero_params(fast_pipeline: Path, registry: Registry) -> None:
    space = _space(fast_pipeline, registry, **{"retrieve[0].weights[1]": {"low": 0.1, "high": 2.0}})
    base = space.bases[0]
    params = space.params_for(base.spec)
    assert params is not None and params["retrieve[0].weights[1]"] == 0.7
    assert validate_candidate(space.from_params(params), registry) == base.spec.model_copy()


def test_type_choice_gives_conditional_params(fast_pipeline: Path, registry: Registry) -> None:
    space = _space(
        fast_pipeline, registry, **{"retrieve[1].type": {"choices": [None, "neighbours"]}}
    )
    names = _names(space)
    assert "retrieve[1].type" in names and "retrieve[1].window (neighbours)" in names
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        data = space.suggest(trial)
        chosen = trial.params["retrieve[1].type"]
        seen.add(chosen)
        has_window = "retrieve[1].window (neighbours)" in trial.params
        assert has_window == (chosen == "neighbours")
        assert len(data["retrieve"]) == (2 if chosen else 1)
        study.tell(trial, 0.0)
    assert seen == {None, "neighbours"}


def test_enabled_toggle_and_channel_subsets_keep_weights_aligned(
    fast_pipeline: Path, registry: Registry
) -> None:
    space = _space(
        fast_pipeline,
        registry,
        **{
            "retrieve[0].channels": {"choices": [["bm25"], ["vector", "bm25"], ["bm25", "vector"]]},
            "retrieve[0].weights": {"low": 0.1, "high": 2.0},
        },
    )
    params = space.params_for(space.bases[0].spec)
    params.update(
        {
            "retrieve[0].channels": '["vector","bm25"]',
            "retrieve[0].weights[0]": 1.5,
            "retrieve[0].weights[1]": 0.25,
        }
    )
    hybrid = space.from_params(params)["retrieve"][0]
    assert hybrid["channels"] == ["vector", "bm25"] and hybrid["weights"] == [0.25, 1.5]
    params["retrieve[0].channels"] = '["bm25"]'
    del params["retrieve[0].weights[1]"]
    hybrid = space.from_params(params)["retrieve"][0]
    assert hybrid["channels"] == ["bm25"] and hybrid["weights"] == [1.5]


def test_manage_stage_switch(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\nname: m\nembedder: {type: hashing, dim: 32}\nencode: [{type: turn}]\n"
        "store: {type: memory}\nretrieve: [{type: bm25}]\nmanage:\n"
        "  - {type: dedupe, similarity: 0.95}\n"
    )
    space = _space(path, registry, **{"manage[0].enabled": {"choices": [True, False]}})
    params = space.params_for(space.bases[0].spec)
    assert params["manage[0].enabled"] is True and "manage[0].similarity" in params
    params["manage[0].enabled"] = False
    assert "manage" not in space.from_params(params)


def test_round_trip_params_yaml_config(fast_pipeline: Path, registry: Registry) -> None:
    space = _space(
        fast_pipeline,
        registry,
        **{
            "retrieve[1].type": {"choices": [None, "neighbours"]},
            "retrieve[0].channels": {"choices": [["bm25"], ["bm25", "vector"]]},
            "retrieve[0].weights": {"low": 0.1, "high": 2.0},
        },
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        trial = study.ask()
        data = space.suggest(trial)
        text = render_pipeline(data, header=f"trial {trial.number}")
        spec, _ = load_candidate(text, registry)
        assert spec == validate_candidate(data, registry)
        params = space.params_for(spec)
        assert params is not None
        assert validate_candidate(space.from_params(params), registry) == spec
        study.tell(trial, 0.0)


def test_yaml_is_readable_and_in_the_users_order(fast_pipeline: Path, registry: Registry) -> None:
    space = _space(fast_pipeline, registry)
    text = render_pipeline(space.from_params(space.params_for(space.bases[0].spec)))
    assert text.splitlines()[:4] == [
        "version: 1",
        "name: fast",
        "description: Hashing vectors and BM25 in memory, for quick trials.",
        "embedder: {type: hashing, dim: 64}",
    ]
    assert "  - {type: hybrid, channels: [bm25, vector], weights: [1.0, 0.7], k: 20}" in text
    assert "bm25_k1" not in text  # defaults the base did not write stay out


def test_env_references_stay_references(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOLVE_TEST_MODEL", "secret-model-name")
    path = tmp_path / "env.yaml"
    path.write_text(
        "version: 1\nname: env\nembedder: {type: hashing, dim: 32}\n"
        "llm: {type: openai, model: {$env: EVOLVE_TEST_MODEL}}\n"
        "encode: [{type: turn}]\nstore: {type: memory}\nretrieve: [{type: bm25}]\n"
    )
    space = _space(path, registry)
    text = render_pipeline(space.from_params(space.params_for(space.bases[0].spec)))
    assert "{$env: EVOLVE_TEST_MODEL}" in text and "secret-model-name" not in text


def test_bad_entries_are_reported_together(fast_pipeline: Path, registry: Registry) -> None:
    with pytest.raises(ConfigError) as caught:
        _space(
            fast_pipeline,
            registry,
            **{
                "retrieve[0].kk": {"low": 1, "high": 5},
                "retrieve[3].type": {"choices": [None, "bm25"]},
                "retrieve[1].type": {"choices": ["nieghbours"]},
                "encode[0].metadata": {"low": 1, "high": 2},
            },
        )
    text = caught.value.render()
    assert (
        "retrieve[0].kk: unknown field for retriever 'hybrid'" in text
        and "did you mean 'k'" in text
    )
    assert "a new optional stage is added with retrieve[1].type" in text
    assert "unknown retriever type 'nieghbours'" in text and "did you mean 'neighbours'" in text
    assert "encode[0].metadata is a list of str: give choices of whole lists" in text
    assert "4 problems" in text


def test_several_bases_get_a_base_choice(
    fast_pipeline: Path, tmp_path: Path, registry: Registry
) -> None:
    other = tmp_path / "bm25.yaml"
    other.write_text(
        "version: 1\nname: plain\nembedder: {type: none}\nencode: [{type: turn}]\n"
        "store: {type: memory}\nretrieve: [{type: bm25, k: 30}]\n"
    )
    space = build_space([fast_pipeline, other], registry)
    names = _names(space)
    assert names[0] == "base" and "fast:retrieve[0].k" in names and "bm25:retrieve[0].k" in names
    for base in space.bases:
        params = space.params_for(base.spec)
        assert params["base"] == base.label
        assert validate_candidate(space.from_params(params), registry) == base.spec


def test_channel_settings_are_searched_only_for_the_channels_a_trial_uses(
    fast_pipeline: Path, registry: Registry
) -> None:
    space = _space(
        fast_pipeline,
        registry,
        **{
            "retrieve[0].channels": {"choices": [["vector"], ["bm25", "vector"]]},
            "retrieve[0].settings.bm25.content_weight": {"low": 0.1, "high": 0.5},
        },
    )
    names = _names(space)
    assert "retrieve[0].settings.bm25.content_weight" in names
    assert "retrieve[0].settings.bm25.drop_stop_words" in names  # declared by bm25 itself
    assert not any(".settings.bm25.k" in name for name in names)  # candidates sets k
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(16):
        trial = study.ask()
        data = space.suggest(trial)
        hybrid = data["retrieve"][0]
        uses_bm25 = "bm25" in hybrid["channels"]
        seen.add(uses_bm25)
        asked = "retrieve[0].settings.bm25.content_weight" in trial.params
        assert asked == uses_bm25
        if uses_bm25:
            weight = hybrid["settings"]["bm25"]["content_weight"]
            assert 0.1 <= weight <= 0.5
        else:
            assert "bm25" not in hybrid.get("settings", {})
        spec = validate_candidate(data, registry)  # every drawn candidate is valid
        params = space.params_for(spec)
        assert params is not None
        assert validate_candidate(space.from_params(params), registry) == spec
        study.tell(trial, 0.0)
    assert seen == {True, False}


def test_a_base_with_channel_settings_is_rebuilt_as_written(
    fast_pipeline: Path, tmp_path: Path, registry: Registry
) -> None:
    path = tmp_path / "tuned.yaml"
    path.write_text(
        fast_pipeline.read_text(encoding="utf-8").replace(
            "k: 20}", "k: 20, settings: {bm25: {content_weight: 0.34}}}"
        ),
        encoding="utf-8",
    )
    space = _space(path, registry)
    base = space.bases[0]
    params = space.params_for(base.spec)
    assert params is not None and params["retrieve[0].settings.bm25.content_weight"] == 0.34
    assert params["retrieve[0].settings.bm25.drop_stop_words"] is False  # the channel's default
    rebuilt = space.from_params(params)
    assert rebuilt["retrieve"][0]["settings"] == {"bm25": {"content_weight": 0.34}}


@pytest.mark.parametrize(
    "tuned", ["weights: [1.0, 0.7]", "settings: {bm25: {content_weight: 0.34}}"]
)
def test_channel_subsets_leave_the_stages_own_fields_searched(
    fast_pipeline: Path, tmp_path: Path, registry: Registry, tuned: str
) -> None:
    # the base's weights or settings are fitted to each subset before the declared ranges
    # are tried at their ends, as a trial fits them: not a conflict of fusion or k
    path = tmp_path / "tuned.yaml"
    path.write_text(
        fast_pipeline.read_text(encoding="utf-8").replace("weights: [1.0, 0.7]", tuned),
        encoding="utf-8",
    )
    entries = {"retrieve[0].channels": {"choices": [["bm25", "vector"], ["vector"]]}}
    space = _space(path, registry, **entries)
    wanted = {"retrieve[0].fusion", "retrieve[0].rrf_k", "retrieve[0].candidates", "retrieve[0].k"}
    assert wanted <= set(_names(space))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    for _ in range(12):
        trial = study.ask()
        validate_candidate(space.suggest(trial), registry)  # every drawn candidate is valid
        study.tell(trial, 0.0)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("retrieve[0].settings.bm25.content_weigth", "unknown field for channel 'bm25'"),
        ("retrieve[0].settings.recency.k", "name one channel's field: settings.CHANNEL.FIELD"),
        ("retrieve[0].settings.bm25", "name one channel's field: settings.CHANNEL.FIELD"),
    ],
)
def test_bad_channel_setting_keys_are_refused(
    key: str, message: str, fast_pipeline: Path, registry: Registry
) -> None:
    with pytest.raises(ConfigError) as caught:
        _space(fast_pipeline, registry, **{key: {"low": 0.1, "high": 0.5}})
    assert message in str(caught.value)
