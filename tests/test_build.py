"""Building a pipeline builds every stage, child stages included, from one registry.

A stage made of stages (``hybrid``'s channels) gets them from ``build(config, registry)``
when the pipeline is built; nothing reaches back into the plugin system at ``open``.
What a stage needs is asked as a capability, never as a class check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import pytest

import evolvelab
from evolvelab import (
    ConfigError,
    Embedder,
    EmbedderConfig,
    Hit,
    Issue,
    Query,
    Resources,
    Retriever,
    RetrieverConfig,
    TypeLookup,
)
from evolvelab.modules.retrieve.hybrid import HybridConfig, HybridRetriever
from evolvelab.pipeline import Memory
from evolvelab.registry import Registry

from docs_blocks import registry_with


class FirstConfig(RetrieverConfig):
    """Return the first note the store scans, for any query."""

    type: Literal["first"] = "first"


class FirstRetriever(Retriever):
    config_model: ClassVar[type[FirstConfig]] = FirstConfig

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        return previous


class FlatConfig(EmbedderConfig):
    """A placeholder embedder of a plugin: vectors that rank nothing."""

    type: Literal["flat"] = "flat"


class FlatEmbedder(Embedder):
    config_model: ClassVar[type[FlatConfig]] = FlatConfig
    vector_search: ClassVar[bool] = False
    dim = 4  # type: ignore[assignment]
    model_id = "flat"  # type: ignore[assignment]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.full((len(texts), 4), 0.5, dtype=np.float32)


class Plugin:
    @evolvelab.hookimpl
    def register_retrievers(self):  # noqa: ANN201
        return [FirstRetriever]

    @evolvelab.hookimpl
    def register_embedders(self):  # noqa: ANN201
        return [FlatEmbedder]


def spec(**changes: object) -> dict[str, object]:
    return {"version": 1, "name": "b", "embedder": {"type": "hashing", "dim": 16},
            "encode": [{"type": "turn"}], "store": {"type": "memory"},
            "retrieve": [{"type": "hybrid", "channels": ["bm25", "first"], "candidates": 7}],
            **changes}  # fmt: skip


def test_hybrid_channels_are_built_with_the_pipeline_from_its_registry(tmp_path: object) -> None:
    memory = Memory.from_dict(spec(), registry=registry_with(Plugin()), data_dir=tmp_path)
    [hybrid] = memory.retrievers
    assert isinstance(hybrid, HybridRetriever)
    channels = hybrid._channels  # built, not opened: nothing is read from the registry later
    assert [type(c).__name__ for c in channels] == ["BM25Retriever", "FirstRetriever"]
    assert channels[0].config.k == 7


def test_resources_hold_no_registry() -> None:
    assert "registry" not in {f.name for f in dataclasses.fields(Resources)}


def test_a_hybrid_built_without_its_channels_says_how_to_build_it(tmp_path: object, registry: Registry) -> None:
    memory = Memory.from_dict(spec(retrieve=[{"type": "bm25"}]), registry=registry, data_dir=tmp_path)
    with memory:
        bare = HybridRetriever(HybridConfig(channels=["bm25"]))
        with pytest.raises(evolvelab.EvolveLabError, match=r"HybridRetriever.build\(config, registry\)"):
            bare.open(memory.resources)


def test_an_unknown_channel_is_a_located_problem_not_a_build_failure(registry: Registry) -> None:
    text = "version: 1\nname: b\nencode: [{type: turn}]\nstore: {type: memory}\n" \
           "retrieve:\n  - {type: hybrid, channels: [bm25, bm52]}\n"  # fmt: skip
    with pytest.raises(ConfigError) as err:
        Memory.from_text(text, registry=registry, embedder=FlatEmbedder(FlatConfig()))
    [problem] = err.value.problems
    assert problem.path == ("retrieve", 0, "channels", 1) and "unknown channel 'bm52'" in problem.message


def test_a_placeholder_embedder_of_a_plugin_is_refused_where_vector_search_is_needed(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="needs vector search, but the embedder is 'flat'"):
        Memory.from_dict(spec(embedder={"type": "flat"}, retrieve=[{"type": "vector"}]),
                         registry=registry_with(Plugin()), data_dir=tmp_path)  # fmt: skip


def test_check_and_build_receive_the_public_lookup(registry: Registry) -> None:
    seen: list[object] = []

    class Spy(HybridRetriever):
        @classmethod
        def check(cls, config: object, lookup: TypeLookup) -> list[Issue]:
            seen.append(lookup)
            return super().check(config, lookup)  # type: ignore[arg-type]

    assert isinstance(Spy.build(HybridConfig(channels=["bm25"]), registry), Spy)
    assert Spy.check(HybridConfig(channels=["bm25"]), registry) == [] and seen == [registry]
    assert {"names", "entries", "get"} <= set(dir(TypeLookup))
