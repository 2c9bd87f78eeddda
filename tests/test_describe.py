"""Describing a registered type: the facts docs/types.md, `evolvelab plugins` and the
evolver's catalogue all show, read in one place (evolvelab/describe.py)."""

from __future__ import annotations

import doctest
import io
from contextlib import redirect_stdout
from typing import Annotated, Any, ClassVar, Literal, Protocol

import pytest
from pydantic import Field

import evolvelab.describe
from evolvelab import (
    Hit,
    Query,
    Retriever,
    RetrieverConfig,
    Store,
    StoreConfig,
    Tunable,
    hookimpl,
)
from evolvelab.describe import describe_type, describe_types
from evolvelab.plugin_report import plugin_report, render_plugin_report
from evolvelab.plugins import PluginInfo, get_plugin_manager
from evolvelab.reference import types_markdown
from evolvelab.registry import KINDS, Entry, Registry
from evolvelab.search.prompts import catalogue
from evolvelab.stages import GraphLinks, VectorSearch

PLUGIN = PluginInfo("acme", "acme-memory", "1.2", builtin=False)


class PrefixConfig(RetrieverConfig):
    """Keep the hits whose content starts with a prefix.

    A second paragraph that only the Markdown reference shows.
    """

    type: Literal["prefix"] = "prefix"
    prefix: str = Field(description="What the content must start with.")
    k: Annotated[int, Tunable(3, 40, log=True)] = Field(10, description="How many hits to keep.")
    case: Literal["exact", "fold"] = Field("fold", description="How letters' case is compared.")
    mode: Annotated[str, Tunable(choices=("all", "first"))] = Field("all", description="Which.")
    stop_words: list[str] = Field(default_factory=lambda: ["the"], description="Ignored words.")
    label: str = "prefix"


class Ranked(Protocol):
    """A plugin's own store capability: named in snake case wherever it is shown."""

    def rank(self) -> list[str]: ...


class PrefixRetriever(Retriever):
    config_model: ClassVar[type[PrefixConfig]] = PrefixConfig
    requires: ClassVar[tuple[type[Any], ...]] = (GraphLinks, Ranked, VectorSearch)

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        return previous


def prefix() -> Any:
    return describe_type(Entry("retriever", "prefix", PrefixRetriever, PLUGIN))


# --- the type -------------------------------------------------------------------------


def test_a_type_is_described_by_its_name_kind_plugin_and_cleaned_docstring() -> None:
    info = prefix()
    assert (info.kind, info.name, info.plugin) == ("retriever", "prefix", "acme")
    assert info.doc == (
        "Keep the hits whose content starts with a prefix.\n\n"
        "A second paragraph that only the Markdown reference shows."
    )
    assert info.summary == "Keep the hits whose content starts with a prefix."


@pytest.mark.parametrize("doc", [None, "", "   \n\t  "])
def test_a_type_without_a_docstring_has_an_empty_doc_and_summary(doc: str | None) -> None:
    class BareConfig(RetrieverConfig):
        type: Literal["bare"] = "bare"

    BareConfig.__doc__ = doc

    class Bare(PrefixRetriever):
        config_model: ClassVar[type[BareConfig]] = BareConfig  # type: ignore[assignment]

    info = describe_type(Entry("retriever", "bare", Bare, PLUGIN))
    assert (info.doc, info.summary) == ("", "")


def test_a_stage_needs_what_it_requires_built_in_capabilities_first_then_its_own() -> None:
    info = prefix()
    assert info.needs == ("vector_search", "graph_links", "ranked")
    assert info.offers == ()


def test_a_store_offers_the_capabilities_it_implements_in_the_order_they_are_listed(
    registry: Registry,
) -> None:
    stores = {t.name: t for t in describe_types(registry, "store")}
    assert stores["lancedb"].offers == ("vector_search", "text_search", "scan")
    assert stores["kuzu"].offers == ("scan", "graph_links")
    assert all(t.needs == () for t in stores.values())


def test_a_store_implementing_no_capability_offers_nothing() -> None:
    class PlainConfig(StoreConfig):
        type: Literal["plain"] = "plain"

    class Plain(Store):
        config_model: ClassVar[type[PlainConfig]] = PlainConfig

    info = describe_type(Entry("store", "plain", Plain, PLUGIN))
    assert (info.offers, info.needs) == ((), ())


def test_the_managers_requirement_of_a_stores_own_protocol_is_named_like_the_others(
    registry: Registry,
) -> None:
    managers = {t.name: t for t in describe_types(registry, "manager")}
    assert managers["decay"].needs == ("decaying",)


# --- its fields -----------------------------------------------------------------------


def test_fields_come_in_declaration_order_without_type() -> None:
    names = [f.name for f in prefix().fields]
    assert names == ["prefix", "k", "case", "mode", "stop_words", "label"]


def test_a_required_field_has_no_default() -> None:
    field = prefix().field("prefix")
    assert field.required and field.default is None
    assert field.description == "What the content must start with."


def test_a_default_is_the_value_yaml_gets_and_a_factory_is_called_for_it() -> None:
    info = prefix()
    assert (info.field("k").required, info.field("k").default) == (False, 10)
    assert info.field("stop_words").default == ["the"]
    assert info.field("stop_words").default is not info.field("stop_words").default  # fresh


def test_a_field_without_a_description_describes_itself_as_empty_text() -> None:
    assert prefix().field("label").description == ""


def test_a_tunable_range_or_choice_is_read_from_the_fields_annotation() -> None:
    info = prefix()
    assert info.field("k").tunable == Tunable(3, 40, log=True)
    assert info.field("mode").tunable == Tunable(choices=("all", "first"))
    assert info.field("case").tunable is None and info.field("label").tunable is None


def test_a_field_is_plain_when_it_is_neither_tunable_nor_a_literal_choice() -> None:
    plain = {f.name: f.plain for f in prefix().fields}
    assert plain == {"prefix": True, "k": False, "case": False, "mode": False, "stop_words": True,
                     "label": True}  # fmt: skip
    assert prefix().field("case").is_choice and not prefix().field("mode").is_choice


def test_asking_for_a_field_the_type_lacks_names_the_type() -> None:
    with pytest.raises(KeyError, match="retriever 'prefix' has no field 'kk'"):
        prefix().field("kk")


def test_a_default_factory_runs_only_when_a_default_is_shown() -> None:
    calls: list[int] = []

    class CountedConfig(RetrieverConfig):
        type: Literal["counted"] = "counted"
        seen: list[int] = Field(default_factory=lambda: calls.append(1) or [], description="x")

    class Counted(PrefixRetriever):
        config_model: ClassVar[type[CountedConfig]] = CountedConfig  # type: ignore[assignment]

    info = describe_type(Entry("retriever", "counted", Counted, PLUGIN))
    assert [f.name for f in info.fields] == ["seen"] and calls == []
    assert info.field("seen").default == [] and calls == [1]


# --- the registry ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_registered_type_of_a_kind_is_described_sorted_by_name(
    registry: Registry, kind: str
) -> None:
    described = describe_types(registry, kind)
    assert [t.name for t in described] == registry.names(kind)
    assert {t.kind for t in described} == {kind} and {t.plugin for t in described} == {"evolvelab"}


def test_every_built_in_field_is_described(registry: Registry) -> None:
    missing = [
        f"{t.kind} {t.name}.{f.name}"
        for kind in KINDS
        for t in describe_types(registry, kind)
        for f in t.fields
        if not f.description
    ]
    assert missing == []


# --- the three renderings read the same description -----------------------------------


def test_a_blank_docstring_renders_in_every_describer(registry: Registry) -> None:
    """`evolvelab plugins` failed with IndexError on a config whose docstring was blank."""

    class BlankConfig(RetrieverConfig):
        """   """  # noqa: D419 (the point of the test)

        type: Literal["blank"] = "blank"

    class Blank(PrefixRetriever):
        config_model: ClassVar[type[BlankConfig]] = BlankConfig  # type: ignore[assignment]
        requires: ClassVar[tuple[type[Any], ...]] = ()

    class Plugin:
        @hookimpl
        def register_retrievers(self) -> list[type[Retriever]]:
            return [Blank]

    plugin_set = get_plugin_manager(load_entrypoints=False)
    plugin_set.pm.register(Plugin(), name="blank-plugin")
    plugin_set.plugins["blank-plugin"] = PluginInfo("blank-plugin", "blank", "0.1", builtin=False)
    with_blank = Registry(plugin_set)

    report = plugin_report(with_blank)
    assert {"name": "blank", "plugin": "blank-plugin", "description": "", "fields": [],
            "requires": []} in report["types"]["retriever"]  # fmt: skip
    with redirect_stdout(io.StringIO()):
        render_plugin_report(report)
    assert "### `blank`\n\n### `bm25`" in types_markdown(with_blank)
    assert "\n- blank: \n- bm25: " in catalogue(with_blank)


def test_the_modules_examples_run() -> None:
    result = doctest.testmod(evolvelab.describe)
    assert result.attempted >= 3 and result.failed == 0
