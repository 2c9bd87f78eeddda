"""``space: auto``: the structure searched is derived from the registry and never invalid."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evolvelab import Memory, hookimpl
from evolvelab.config import RetrieverConfig, condition_holds
from evolvelab.plugins import get_plugin_manager
from evolvelab.registry import Registry, builtin_registry
from evolvelab.search.auto import auto_entries, embedder_variants
from evolvelab.search.derive import build_space
from evolvelab.search.param import Param
from evolvelab.search.render import validate_candidate
from evolvelab.search.space import Space
from evolvelab.search.spec import AutoSpec
from evolvelab.search.specfile import parse_spec
from evolvelab.stages import Retriever
from evolvelab.types import Hit, Query

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
BASES = ["hybrid.yaml", "conversation.yaml"]
_SPACES: dict[str, Space] = {}


def auto_space(name: str, registry: Registry | None = None, auto: AutoSpec | None = None) -> Space:
    registry = registry or builtin_registry()
    path = PIPELINES / name
    entries = auto_entries(yaml.safe_load(path.read_text()), registry, auto or AutoSpec())
    return build_space([path], registry, entries=entries)


def cached(name: str) -> Space:
    if name not in _SPACES:
        _SPACES[name] = auto_space(name)
    return _SPACES[name]


def draw(rng: random.Random):
    """A random value for any parameter, as the sampler could propose it."""

    def choose(param: Param):
        if param.choices is not None:
            return rng.choice(param.choices)
        assert param.low is not None and param.high is not None
        if param.integer:
            step = int(param.step or 1)
            return rng.randrange(int(param.low), int(param.high) + 1, step)
        if param.step:
            return param.low + param.step * rng.randint(
                0, int((param.high - param.low) / param.step)
            )
        return param.decode(rng.uniform(param.low, param.high))

    return choose


@pytest.mark.parametrize("name", BASES)
def test_auto_derives_structure_from_the_registry(name: str) -> None:
    space = cached(name)
    names = {p.name for p in space.params()}
    chain = len(yaml.safe_load((PIPELINES / name).read_text())["retrieve"])
    assert f"retrieve[{chain}].type" in names and f"retrieve[{chain + 1}].type" in names
    assert "encode[0].type" in names and "manage[0].type" in names
    refiner = next(p for p in space.params() if p.name == f"retrieve[{chain}].type")
    assert None in refiner.choices and "neighbours" in refiner.choices
    assert "link_expand" not in refiner.choices  # needs graph_links: no store here has them
    # parameters of a stage type are asked for only when that type is chosen (conditional)
    assert any(n.endswith("(neighbours)") for n in names)


def test_a_base_stage_the_pipeline_cannot_lose_is_never_dropped_or_swapped_for_a_refiner() -> None:
    # semantic_cache is conversation-cached.yaml's only retrieve stage (it wraps its own
    # stages, so it is no fusion channel): dropping it leaves no retrieve stage at all, and
    # swapping it for a refiner (neighbours, speaker) leaves a chain that finds nothing
    registry = builtin_registry()
    base = yaml.safe_load((PIPELINES / "conversation-cached.yaml").read_text())
    entries = auto_entries(base, registry, AutoSpec(refiners=1))
    assert "retrieve[0].type" not in entries  # nothing it may become, and not droppable
    assert "neighbours" in (entries["retrieve[1].type"].choices or [])  # refiners after it
    assert "semantic_cache" not in (entries["retrieve[1].type"].choices or [])
    two = {**base, "retrieve": [*base["retrieve"], {"type": "neighbours"}]}
    assert None in (
        auto_entries(two, registry, AutoSpec(refiners=0))["retrieve[1].type"].choices or []
    )


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False), base=st.sampled_from(BASES))
def test_auto_never_proposes_an_invalid_pipeline(rng: random.Random, base: str) -> None:
    space = cached(base)
    registry = builtin_registry()
    asked: dict[str, object] = {}
    choose = draw(rng)

    def recording(param: Param):
        asked[param.name] = choose(param)
        return asked[param.name]

    candidate = space.build(recording)
    spec = validate_candidate(candidate, registry)
    Memory(spec, registry=registry)  # raises if invalid
    # a conditional parameter is asked exactly when the drawn stage meets its condition
    for slot, branch, config in chosen_stages(space, asked, spec):
        for item in branch.fields:
            if item.param is None or not item.when:
                continue
            if item.path[0] == "settings" and item.path[1] not in config.channels:
                continue
            values = {n: _setting(config, item.controller(n), registry) for n in item.when}
            holds = condition_holds(item.when, values)
            assert (item.param.name in asked) == holds, (item.param.name, values)


def _setting(config, path: tuple, registry: Registry):
    if path[0] != "settings":
        return getattr(config, str(path[0]))
    own = config.settings.get(path[1], {})
    if path[2] in own:
        return own[path[2]]
    model = registry.get("retriever", path[1]).cls.config_model
    return model.model_fields[path[2]].get_default(call_default_factory=True)


def chosen_stages(space: Space, asked: dict, spec):
    """(slot, branch, validated stage config) of every stage a drawn candidate holds."""
    base = next(b for b in space.bases if b.label == asked.get("base", space.bases[0].label))
    cursor: dict[str, int] = {}
    for slot in base.slots:
        if slot.choice is not None:
            picked = asked[slot.choice.name]
            type_ = (slot.base_type if picked else None) if slot.toggle else picked
        else:
            type_ = slot.options[0]
        if type_ is None:
            continue
        if slot.index is None:
            config = getattr(spec, slot.name)
        else:
            config = getattr(spec, slot.name)[cursor.get(slot.name, 0)]
            cursor[slot.name] = cursor.get(slot.name, 0) + 1
        assert config.type == type_
        yield slot, slot.branches[type_], config


def test_the_auto_space_holds_conditional_parameters() -> None:
    conditional = [n for n, d in cached("hybrid.yaml").describe() if ", when " in d]
    assert "retrieve[0].rrf_k (hybrid)" in conditional  # hybrid.yaml fuses by score


def test_a_plugin_joins_the_space_by_registering_when_the_stores_allow_it() -> None:
    from typing import Literal

    class EchoConfig(RetrieverConfig):
        """Echo the hits (a plugin refiner)."""

        type: Literal["echo"] = "echo"

    class Echo(Retriever):
        config_model = EchoConfig
        source = False

        def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
            return previous

    class Plugin:
        @hookimpl
        def register_retrievers(self):
            return [Echo]

    plugin_set = get_plugin_manager(load_entrypoints=False)
    plugin_set.pm.register(Plugin(), name="echo")
    registry = Registry(plugin_set)
    entries = auto_entries(
        yaml.safe_load((PIPELINES / "hybrid.yaml").read_text()), registry, AutoSpec()
    )
    assert "echo" in (entries["retrieve[1].type"].choices or [])
    narrowed = auto_entries(
        yaml.safe_load((PIPELINES / "hybrid.yaml").read_text()),
        registry,
        AutoSpec(include=["hybrid", "neighbours"], encoders=False, manage=0, refiners=1),
    )
    assert list(narrowed) == ["retrieve[1].type"]
    assert narrowed["retrieve[1].type"].choices == [None, "neighbours"]


def test_space_auto_in_a_spec_is_auto_with_defaults() -> None:
    text = "version: 1\nname: s\nbase: [b.yaml]\ndataset: {type: sample, train: {users: [ana]}}\n"
    spec = parse_spec(text + "space: auto\n")
    assert spec.auto == AutoSpec() and spec.space == {}
    spec = parse_spec(text + "auto: {refiners: 1}\nspace:\n  retrieve[0].k: {value: 10}\n")
    assert spec.auto.refiners == 1 and "retrieve[0].k" in spec.space


LEXICAL = """\
version: 1
name: lexical
embedder: {type: none}
encode:
  - {type: turn, speaker: true}
store: {type: memory}
retrieve:
  - {type: bm25, k: 20}
"""


def embedders_spec(tmp_path: Path, embedders: str) -> Path:
    (tmp_path / "lexical.yaml").write_text(LEXICAL)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nname: s\nbase: [lexical.yaml]\n"
        "dataset: {type: sample, train: {users: [ana]}, validation: {users: [ben]}}\n"
        f"auto: {{refiners: 1, manage: 0, encoders: false, embedders: {embedders}}}\n"
    )
    return spec


def test_embedders_make_a_variant_of_the_base_in_which_vector_stages_join() -> None:
    registry = builtin_registry()
    base = yaml.safe_load(LEXICAL)
    auto = AutoSpec(embedders=["hashing", "none"])
    variants = embedder_variants(base, registry, auto)
    assert [name for name, _ in variants] == ["hashing"]  # the base already uses 'none'
    ((_, data),) = variants
    assert data["embedder"] == {"type": "hashing"} and data["retrieve"] == base["retrieve"]
    lexical = auto_entries(base, registry, auto)["retrieve[0].type"].choices or []
    vectors = auto_entries(data, registry, auto)["retrieve[0].type"].choices or []
    assert "vector" not in lexical and "hybrid" not in lexical
    assert "vector" in vectors and "hybrid" in vectors


def test_an_unknown_embedder_is_a_located_problem(tmp_path: Path) -> None:
    from evolvelab.errors import ConfigError
    from evolvelab.search.context import prepare

    with pytest.raises(ConfigError) as caught:
        prepare(embedders_spec(tmp_path, "[minilm, hashng]"), out=tmp_path / "out")
    text = caught.value.render() if hasattr(caught.value, "render") else str(caught.value)
    assert "auto.embedders[1]" in text and "unknown embedder type 'hashng'" in text
    assert "did you mean 'hashing'" in text


def test_the_embedder_is_chosen_first_so_no_vector_stage_runs_without_vectors(
    tmp_path: Path,
) -> None:
    from evolvelab.search.context import prepare

    ctx = prepare(embedders_spec(tmp_path, "[hashing]"), out=tmp_path / "out")
    assert [b.label for b in ctx.space.bases] == ["lexical", "lexical-hashing"]
    assert (tmp_path / "out" / "bases" / "lexical-hashing.yaml").is_file()
    # the variant is searched, not run as a base trial of its own
    assert [fill["base"] for fill in ctx.fills] == ["lexical"]
    rng = random.Random(7)
    seen = set()
    for _ in range(300):
        candidate = ctx.space.build(draw(rng))
        Memory(validate_candidate(candidate, ctx.registry), registry=ctx.registry)
        embedder = candidate.get("embedder", {}).get("type")
        source = candidate["retrieve"][0]["type"]
        seen.add((embedder, source))
        if source in ("vector", "hybrid"):
            assert embedder == "hashing"
    assert (
        ("none", "bm25") in seen and ("hashing", "vector") in seen and ("hashing", "hybrid") in seen
    )
