"""Conditional parameters: a field declared ``Tunable(..., when={...})`` is searched only
where the stage uses it (``hybrid``'s ``rrf_k`` only with ``fusion: rrf``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import optuna
import pytest
from pydantic import Field, model_validator

from evolvelab import hookimpl
from evolvelab.config import RetrieverConfig, Tunable, condition_holds, condition_problems
from evolvelab.errors import ConfigError
from evolvelab.plugins import get_plugin_manager
from evolvelab.registry import Registry, builtin_registry
from evolvelab.search.derive import build_space
from evolvelab.search.render import validate_candidate
from evolvelab.search.spec import SpaceEntry
from evolvelab.stages import Retriever
from evolvelab.types import Hit, Query

optuna.logging.set_verbosity(optuna.logging.WARNING)

HEAD = """\
version: 1
name: cond
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn, speaker: true}
store: {type: memory}
retrieve:
"""


def _base(tmp_path: Path, stage: str, name: str = "cond.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + f"  - {stage}\n", encoding="utf-8")
    return path


def _space(path: Path, registry: Registry | None = None, **entries: dict) -> Any:
    return build_space(
        [path],
        registry or builtin_registry(),
        entries={k: SpaceEntry(**v) for k, v in entries.items()},
    )


def _trials(space: Any, n: int, seed: int = 0) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(params the trial was asked for, candidate) of ``n`` random trials."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        candidate = space.suggest(trial)
        out.append((dict(trial.params), candidate))
        study.tell(trial, 0.0)
    return out


# -- the condition itself


def test_a_condition_holds_when_every_named_field_has_one_of_its_values() -> None:
    when = Tunable(1, 2, when={"fusion": "rrf", "k": [10, 20]}).when
    assert when == {"fusion": ("rrf",), "k": (10, 20)}
    assert condition_holds(when, {"fusion": "rrf", "k": 20})
    assert not condition_holds(when, {"fusion": "score", "k": 20})
    assert not condition_holds(when, {"fusion": "rrf"})  # a field it names is missing
    assert condition_holds(None, {})


def test_a_list_field_meets_a_condition_by_holding_one_of_the_values() -> None:
    when = {"channels": ("graph",)}
    assert condition_holds(when, {"channels": ["bm25", "graph"]})
    assert not condition_holds(when, {"channels": ["bm25", "semantic"]})


def test_a_bool_never_stands_for_a_number() -> None:
    assert not condition_holds({"lessons": (True,)}, {"lessons": 1})
    assert not condition_holds({"hops": (1,)}, {"hops": True})


def test_an_empty_condition_is_refused_where_it_is_declared() -> None:
    with pytest.raises(TypeError, match="non-empty mapping"):
        Tunable(1, 2, when={})
    with pytest.raises(TypeError, match="at least one value"):
        Tunable(1, 2, when={"fusion": []})


# -- the search space


def test_rrf_k_is_asked_only_in_trials_that_fuse_by_rank(tmp_path: Path) -> None:
    space = _space(_base(tmp_path, "{type: hybrid, channels: [bm25, vector], k: 20}"))
    assert dict(space.describe())["retrieve[0].rrf_k"] == "1..120 log, when fusion: rrf"
    seen = set()
    for params, candidate in _trials(space, 40):
        stage = candidate["retrieve"][0]
        fusion = stage.get("fusion", "rrf")
        seen.add(fusion)
        assert ("retrieve[0].rrf_k" in params) == (fusion == "rrf")
        if fusion == "score":
            assert "rrf_k" not in stage  # runs with its default; the file says only what applies
    assert seen == {"rrf", "score"}


def test_the_controlling_field_is_asked_first_whatever_the_declared_order(
    tmp_path: Path,
) -> None:
    class LateConfig(RetrieverConfig):
        """A source whose mode is declared after the field it switches on."""

        type: Literal["late"] = "late"
        strength: Annotated[float, Tunable(0.0, 1.0, when={"mode": "boost"})] = Field(
            0.5, description="Used only with mode boost."
        )
        mode: Annotated[Literal["plain", "boost"], Tunable(choices=("plain", "boost"))] = Field(
            "plain", description="plain or boost."
        )

    registry = _registry_with(LateConfig, source=True)
    space = _space(_base(tmp_path, "{type: late}"), registry)
    names = [p.name for p in space.params()]
    assert names.index("retrieve[0].mode") < names.index("retrieve[0].strength")
    for params, candidate in _trials(space, 30):
        mode = candidate["retrieve"][0].get("mode", "plain")
        assert ("retrieve[0].strength" in params) == (mode == "boost")


def test_a_field_the_base_can_never_use_is_not_searched(tmp_path: Path) -> None:
    path = _base(tmp_path, "{type: hybrid, channels: [bm25, vector], fusion: score, k: 20}")
    pinned = _space(path, **{"retrieve[0].fusion": {"value": "score"}})
    assert "retrieve[0].rrf_k" not in dict(pinned.describe())
    # and where the spec keeps fusion searched, rrf_k stays, conditional on it
    assert "retrieve[0].rrf_k" in dict(_space(path).describe())


def test_a_spec_entry_for_a_field_no_trial_uses_is_a_problem(tmp_path: Path) -> None:
    path = _base(tmp_path, "{type: hybrid, channels: [bm25, vector], fusion: score, k: 20}")
    with pytest.raises(ConfigError) as err:
        _space(
            path,
            **{
                "retrieve[0].fusion": {"value": "score"},
                "retrieve[0].rrf_k": {"low": 10, "high": 90},
            },
        )
    text = err.value.render()
    assert (
        "space.retrieve[0].rrf_k: retrieve[0].rrf_k has no effect here: the stage uses it only "
        "with fusion: rrf, which no trial of this space has (search or set fusion too)"
    ) in text
    # with rrf among the choices the entry is fine, and narrows the conditional range
    space = _space(
        path,
        **{
            "retrieve[0].fusion": {"choices": ["rrf", "score"]},
            "retrieve[0].rrf_k": {"low": 10, "high": 90},
        },
    )
    assert dict(space.describe())["retrieve[0].rrf_k"] == "10.0..90.0 log, when fusion: rrf"


def test_the_condition_is_the_stages_even_when_only_the_spec_names_the_fields(
    tmp_path: Path,
) -> None:
    path = _base(tmp_path, "{type: hybrid, channels: [bm25, vector], k: 20}")
    entries = {
        "retrieve[0].fusion": SpaceEntry(choices=["rrf", "score"]),
        "retrieve[0].rrf_k": SpaceEntry(low=10, high=90),
    }
    space = build_space([path], builtin_registry(), entries=entries, declared=False)
    assert space.describe() == [
        ("retrieve[0].fusion", "{rrf, score}"),
        ("retrieve[0].rrf_k", "10.0..90.0, when fusion: rrf"),
    ]


def test_a_condition_every_trial_meets_is_an_ordinary_parameter(tmp_path: Path) -> None:
    # guard's lesson fields are used only with lessons: true, which guard's default is and
    # no trial changes
    path = _base(tmp_path, "{type: bm25, k: 20}\n  - {type: guard, paths: embedding}")
    described = dict(_space(path).describe())
    assert described["retrieve[1].lesson_hits"] == "0..3"
    assert described["retrieve[1].penalty"] == "0.0..1.0, when action: mark"


def test_a_base_that_wrote_an_unused_field_is_rebuilt_exactly(tmp_path: Path) -> None:
    stage = "{type: hybrid, channels: [bm25, vector], fusion: score, rrf_k: 30, k: 20}"
    space = _space(_base(tmp_path, stage))
    base = space.bases[0]
    params = space.params_for(base.spec)
    assert params is not None and "retrieve[0].rrf_k" not in params
    rebuilt = space.from_params(params)
    assert rebuilt["retrieve"][0]["rrf_k"] == 30
    assert validate_candidate(rebuilt, builtin_registry()) == base.spec


def test_a_value_the_base_wrote_for_rrf_is_dropped_in_a_score_trial(tmp_path: Path) -> None:
    space = _space(_base(tmp_path, "{type: hybrid, channels: [bm25, vector], rrf_k: 30, k: 20}"))
    assert space.params_for(space.bases[0].spec) is not None  # the base is trial 0
    stages = [c["retrieve"][0] for _, c in _trials(space, 30)]
    assert any(s.get("fusion") == "score" for s in stages)
    for stage in stages:
        assert ("rrf_k" in stage) == (stage.get("fusion", "rrf") == "rrf")


def test_a_channel_setting_is_asked_only_when_the_channel_uses_it(tmp_path: Path) -> None:
    stage = (
        "{type: hybrid, channels: [bm25, temporal], settings: {temporal: {mode: source}}, k: 20}"
    )
    space = _space(_base(tmp_path, stage))
    name = "retrieve[0].settings.temporal.boost"
    assert dict(space.describe())[name] == "0.0..2.0, when mode: boost"
    registry = builtin_registry()
    modes = set()
    for params, candidate in _trials(space, 40):
        mode = candidate["retrieve"][0]["settings"]["temporal"]["mode"]
        modes.add(mode)
        assert (name in params) == (mode == "boost")
        validate_candidate(candidate, registry)
    assert modes == {"source", "boost", "filter"}


def test_searching_a_mode_switches_between_its_fields(tmp_path: Path) -> None:
    # layered_decay refuses fields of the other mode: conditions keep each mode's own
    path = tmp_path / "decay.yaml"
    path.write_text(
        HEAD.replace(
            "store: {type: memory}", f"store: {{type: layered_decay, path: {tmp_path / 'db'}}}"
        )
        + "  - {type: bm25, k: 20}\n",
        encoding="utf-8",
    )
    registry = builtin_registry()
    fixed = dict(_space(path, registry).describe())
    assert "store.recency_days_short" in fixed and "store.strength_unit_days" not in fixed
    space = _space(path, registry, **{"store.mode": {"choices": ["finmem", "memorybank"]}})
    described = dict(space.describe())
    assert described["store.strength_unit_days"].endswith("when mode: memorybank")
    assert described["store.recency_days_short"].endswith("when mode: finmem")
    modes = set()
    for params, candidate in _trials(space, 30):
        mode = candidate["store"].get("mode", "finmem")
        modes.add(mode)
        assert ("store.strength_unit_days" in params) == (mode == "memorybank")
        assert ("store.recency_days_short" in params) == (mode == "finmem")
        validate_candidate(candidate, registry)  # never a field of the other mode
    assert modes == {"finmem", "memorybank"}


def test_a_list_field_controls_by_the_values_it_holds(tmp_path: Path) -> None:
    path = _base(tmp_path, "{type: hindsight_recall, channels: [semantic, bm25]}")
    registry = builtin_registry()
    fixed = dict(_space(path, registry).describe())
    assert "retrieve[0].bm25_weight" in fixed and "retrieve[0].hops" not in fixed  # no graph
    subsets = [["semantic", "bm25"], ["bm25", "temporal"], ["semantic", "graph"]]
    space = _space(path, registry, **{"retrieve[0].channels": {"choices": subsets}})
    described = dict(space.describe())
    # checked against each channel subset (not dropped as a conflict of an odd channels value)
    assert described["retrieve[0].hops"] == "1..3, when channels: graph"
    for params, candidate in _trials(space, 30):
        channels = candidate["retrieve"][0].get("channels")
        assert ("retrieve[0].hops" in params) == ("graph" in channels)
        assert ("retrieve[0].slack_days" in params) == ("temporal" in channels)
        validate_candidate(candidate, registry)


# -- plugins declare conditions on their own fields


class _Source(Retriever):
    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        return previous


def _registry_with(config: type[RetrieverConfig], source: bool = False) -> Registry:
    cls = type(
        f"{config.__name__}Retriever", (_Source,), {"config_model": config, "source": source}
    )

    class Plugin:
        @hookimpl
        def register_retrievers(self):
            return [cls]

    plugin_set = get_plugin_manager(load_entrypoints=False)
    plugin_set.pm.register(Plugin(), name="cond-plugin")
    return Registry(plugin_set)


def test_a_condition_that_names_a_wrong_field_or_value_keeps_the_plugin_out() -> None:
    class WrongConfig(RetrieverConfig):
        """A refiner with two broken conditions."""

        type: Literal["wrong"] = "wrong"
        mode: Literal["a", "b"] = Field("a", description="a or b.")
        x: Annotated[float, Tunable(0, 1, when={"mood": "a"})] = Field(0.5, description="x.")
        y: Annotated[float, Tunable(0, 1, when={"mode": "c"})] = Field(0.5, description="y.")

    problems = condition_problems(WrongConfig)
    assert problems == [
        "WrongConfig.x: Tunable(when=...) names 'mood', not another field (mode, y)",
        "WrongConfig.y: Tunable(when=...): 'c' is not a value of mode",
    ]
    registry = _registry_with(WrongConfig)
    assert "wrong" not in registry.names("retriever")
    assert any("names 'mood'" in str(f.error) for f in registry.failures)


def test_every_builtin_condition_names_real_fields_and_values() -> None:
    registry = builtin_registry()
    for kind in ("encoder", "store", "retriever", "manager"):
        for entry in registry.entries(kind):
            assert condition_problems(entry.cls.config_model) == [], entry.name


class _PairConfig(RetrieverConfig):
    """A source whose x and y, each used by another channel, may not sum past 1.5."""

    type: Literal["pair"] = "pair"
    channels: list[Literal["a", "b", "c"]] = Field(
        default_factory=lambda: ["c"], description="Channels run."
    )
    x: Annotated[float, Tunable(0.0, 1.0, when={"channels": "a"})] = Field(
        0.5, description="Used by channel a."
    )
    y: Annotated[float, Tunable(0.0, 1.0, when={"channels": "b"})] = Field(
        0.5, description="Used by channel b."
    )

    @model_validator(mode="after")
    def _within(self) -> _PairConfig:
        if self.x + self.y > 1.5:
            raise ValueError("x + y must not exceed 1.5")
        return self


def test_two_fields_on_one_list_controller_are_checked_together(tmp_path: Path) -> None:
    # channels [a, b] uses x and y at once, so their ends are tried together: y at 1.0 with
    # x at 1.0 breaks the stage, and y is left at its value instead of failing trials
    registry = _registry_with(_PairConfig, source=True)
    entries = {"retrieve[0].channels": {"choices": [["c"], ["a", "b"]]}}
    space = _space(_base(tmp_path, "{type: pair}"), registry, **entries)
    described = dict(space.describe())
    assert described["retrieve[0].x"] == "0.0..1.0, when channels: a"
    assert "retrieve[0].y" not in described
    for _, candidate in _trials(space, 30):
        validate_candidate(candidate, registry)


class _KindsConfig(RetrieverConfig):
    """A source with an optional list controller."""

    type: Literal["kinded"] = "kinded"
    kinds: list[str] | None = Field(None, description="Kinds searched; null: every kind.")
    depth: Annotated[int, Tunable(1, 9, when={"kinds": "turn"})] = Field(
        3, description="Used only when turns are searched."
    )


def test_an_optional_list_controller_is_met_by_holding_the_value(tmp_path: Path) -> None:
    registry = _registry_with(_KindsConfig, source=True)
    entries = {"retrieve[0].kinds": {"choices": [None, ["turn"]]}}
    space = _space(_base(tmp_path, "{type: kinded}"), registry, **entries)
    assert dict(space.describe())["retrieve[0].depth"] == "1..9, when kinds: turn"
    seen = set()
    for params, candidate in _trials(space, 30):
        kinds = candidate["retrieve"][0].get("kinds")
        seen.add(kinds is None)
        assert ("retrieve[0].depth" in params) == (kinds == ["turn"])
        validate_candidate(candidate, registry)
    assert seen == {True, False}


def test_a_problem_names_a_bool_condition_as_yaml(tmp_path: Path) -> None:
    path = _base(
        tmp_path, "{type: bm25, k: 20}\n  - {type: guard, paths: embedding, lessons: false}"
    )
    with pytest.raises(ConfigError) as err:
        _space(path, **{"retrieve[1].lesson_hits": {"low": 0, "high": 2}})
    assert "the stage uses it only with lessons: true, which no trial" in err.value.render()
