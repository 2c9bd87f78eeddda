"""The plugin manager and registry: one test per hook, invalid registrations, failures."""

from __future__ import annotations

from typing import ClassVar, Literal

import click
import pytest
from click.testing import CliRunner

from evolvelab import (
    LLM,
    Embedder,
    EncoderConfig,
    Encoder,
    Hit,
    Manager,
    ManagerConfig,
    ManageReport,
    PluginError,
    Query,
    Retriever,
    RetrieverConfig,
    Scope,
    Store,
    StoreConfig,
    hookimpl,
)
from evolvelab.config import EmbedderConfig, LLMConfig
from evolvelab.plugins import PluginInfo, get_plugin_manager
from evolvelab.registry import Registry


def registry_with(*plugins: object) -> Registry:
    """A fresh registry: built-ins plus the given in-test plugin objects."""
    plugin_set = get_plugin_manager(load_entrypoints=False)
    for i, plugin in enumerate(plugins):
        name = f"test-plugin-{i}"
        plugin_set.pm.register(plugin, name=name)
        plugin_set.plugins[name] = PluginInfo(name, f"dist-{i}", "9.9", builtin=False)
    return Registry(plugin_set)


class EchoConfig(EncoderConfig):
    type: Literal["echo"] = "echo"


class EchoEncoder(Encoder):
    config_model: ClassVar[type[EchoConfig]] = EchoConfig

    def encode(self, events, scope):  # noqa: ANN001, ANN201
        return []


class NullStoreConfig(StoreConfig):
    type: Literal["null"] = "null"


class NullStore(Store):
    config_model: ClassVar[type[NullStoreConfig]] = NullStoreConfig

    def add(self, notes):  # noqa: ANN001, ANN201
        return None

    def get(self, ids, scope):  # noqa: ANN001, ANN201
        return []

    def delete(self, ids, scope):  # noqa: ANN001, ANN201
        return 0


class NothingConfig(RetrieverConfig):
    type: Literal["nothing"] = "nothing"


class NothingRetriever(Retriever):
    config_model: ClassVar[type[NothingConfig]] = NothingConfig

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        return previous


class NoopConfig(ManagerConfig):
    type: Literal["noop"] = "noop"


class NoopManager(Manager):
    config_model: ClassVar[type[NoopConfig]] = NoopConfig

    def manage(self, scope: Scope) -> ManageReport:
        return ManageReport(stage="noop")


class ZeroConfig(EmbedderConfig):
    type: Literal["zero"] = "zero"


class ZeroEmbedder(Embedder):
    config_model: ClassVar[type[ZeroConfig]] = ZeroConfig
    dim = 4  # type: ignore[assignment]
    model_id = "zero"  # type: ignore[assignment]

    def embed(self, texts):  # noqa: ANN001, ANN201
        import numpy as np

        return np.zeros((len(texts), 4), dtype=np.float32)


class ParrotConfig(LLMConfig):
    type: Literal["parrot"] = "parrot"


class ParrotLLM(LLM):
    config_model: ClassVar[type[ParrotConfig]] = ParrotConfig

    def extract(self, messages, response_model):  # noqa: ANN001, ANN201
        raise NotImplementedError


class AllHooks:
    @hookimpl
    def register_encoders(self):  # noqa: ANN201
        return [EchoEncoder]

    @hookimpl
    def register_stores(self):  # noqa: ANN201
        return [NullStore]

    @hookimpl
    def register_retrievers(self):  # noqa: ANN201
        return [NothingRetriever]

    @hookimpl
    def register_managers(self):  # noqa: ANN201
        return [NoopManager]

    @hookimpl
    def register_embedders(self):  # noqa: ANN201
        return [ZeroEmbedder]

    @hookimpl
    def register_llms(self):  # noqa: ANN201
        return [ParrotLLM]

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command("parrot")
        def parrot() -> None:
            click.echo("squawk")


@pytest.fixture
def with_all() -> Registry:
    return registry_with(AllHooks())


def test_builtins_are_registered(registry: Registry) -> None:
    assert {"note", "turn"} <= set(registry.names("encoder"))
    assert {"lancedb", "kuzu", "memory"} <= set(registry.names("store"))
    assert {"vector", "bm25", "hybrid", "recency"} <= set(registry.names("retriever"))
    assert registry.names("embedder") == ["hashing", "minilm", "none"]
    assert registry.names("llm") == ["none", "ollama", "openai"]
    assert registry.get("store", "lancedb").plugin.builtin


def test_hook_register_encoders(with_all: Registry) -> None:
    entry = with_all.get("encoder", "echo")
    assert entry.cls is EchoEncoder and entry.plugin.name == "test-plugin-0"


def test_hook_register_stores(with_all: Registry) -> None:
    assert with_all.get("store", "null").cls is NullStore


def test_hook_register_retrievers(with_all: Registry) -> None:
    assert with_all.get("retriever", "nothing").cls is NothingRetriever


def test_hook_register_managers(with_all: Registry) -> None:
    assert with_all.get("manager", "noop").cls is NoopManager


def test_hook_register_embedders(with_all: Registry) -> None:
    assert with_all.get("embedder", "zero").cls is ZeroEmbedder


def test_hook_register_llms(with_all: Registry) -> None:
    assert with_all.get("llm", "parrot").cls is ParrotLLM


def test_hook_register_objectives() -> None:
    from evolvelab.search.objectives import Metric, objective_table

    class Plugin:
        @hookimpl
        def register_objectives(self) -> list[Metric]:
            return [Metric("asked", read=lambda report, k: float(report.asked),
                           direction="minimize", unit="questions", description="Questions asked.")]  # fmt: skip

    plugin_set = get_plugin_manager(load_entrypoints=False)
    plugin_set.pm.register(Plugin(), name="asked")
    table = objective_table(Registry(plugin_set))
    assert table.direction("asked") == "minimize" and table.unit("asked") == "questions"


def test_hook_register_commands(with_all: Registry) -> None:
    group = click.Group("evolvelab")
    with_all.add_commands(group)
    result = CliRunner().invoke(group, ["parrot"])
    assert result.exit_code == 0 and result.output == "squawk\n"


def test_unknown_type_error_lists_allowed_and_suggests(registry: Registry) -> None:
    with pytest.raises(PluginError, match=r"unknown store type 'lancdb'.*allowed: .*lancedb.*did you mean 'lancedb'"):
        registry.get("store", "lancdb")


def test_plugin_registering_wrong_base_is_skipped_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    class Wrong:
        @hookimpl
        def register_retrievers(self):  # noqa: ANN201
            return [NullStore]

    registry = registry_with(Wrong())
    assert "null" not in registry.names("retriever")
    [failure] = registry.failures
    assert failure.name == "test-plugin-0" and "does not subclass evolvelab.Retriever" in failure.error
    assert "skipped" in capsys.readouterr().err


def test_plugin_claiming_a_builtin_name_is_refused() -> None:
    class BM25AgainConfig(RetrieverConfig):
        type: Literal["bm25"] = "bm25"

    class BM25Again(NothingRetriever):
        config_model = BM25AgainConfig  # type: ignore[assignment]

    class Claims:
        @hookimpl
        def register_retrievers(self):  # noqa: ANN201
            return [BM25Again]

    registry = registry_with(Claims())
    assert registry.get("retriever", "bm25").plugin.builtin
    assert "registered twice" in registry.failures[0].error


def test_strict_mode_makes_plugin_failures_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Raises:
        @hookimpl
        def register_stores(self):  # noqa: ANN201
            raise RuntimeError("boom")

    monkeypatch.setenv("EVOLVELAB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="boom"):
        registry_with(Raises())


def test_config_type_must_be_a_single_literal() -> None:
    class Loose(RetrieverConfig):
        type: str = "loose"

    class LooseRetriever(NothingRetriever):
        config_model = Loose  # type: ignore[assignment]

    class Registers:
        @hookimpl
        def register_retrievers(self):  # noqa: ANN201
            return [LooseRetriever]

    registry = registry_with(Registers())
    assert "Literal['name']" in registry.failures[0].error


def test_hook_implementations_are_reported(with_all: Registry) -> None:
    hooks = with_all.hook_implementations()
    assert "register_commands" in hooks["test-plugin-0"]
    assert "register_stores" in hooks["evolvelab"]
