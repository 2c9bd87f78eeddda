"""The registry: stage classes by (kind, type name). The only module calling ``pm.hook``.

It checks everything plugins register: the class derives from the right stage base, its
``config_model`` declares a one-value ``type`` literal (and sound ``Tunable(when=...)``
conditions), and no two plugins claim the same type name (a YAML file must not change meaning when a package is installed).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, create_model

from evolvelab.config import (
    EmbedderConfig,
    EncoderConfig,
    LLMConfig,
    ManagerConfig,
    PipelineSpec,
    RetrieverConfig,
    StageConfig,
    StoreConfig,
    condition_problems,
    type_name,
)
from evolvelab.errors import PluginError, closest
from evolvelab.plugins import (
    PluginInfo,
    PluginLoadFailure,
    PluginSet,
    get_plugin_manager,
    strict_plugins,
)
from evolvelab.stages import LLM, Component, Embedder, Encoder, Manager, Retriever, Store

if TYPE_CHECKING:
    import click

__all__ = ["KINDS", "Entry", "Kind", "Registry", "builtin_registry", "default_registry"]

Kind = Literal["encoder", "store", "retriever", "manager", "embedder", "llm"]

KINDS: dict[str, tuple[str, type[Component], type[StageConfig]]] = {
    "encoder": ("register_encoders", Encoder, EncoderConfig),
    "store": ("register_stores", Store, StoreConfig),
    "retriever": ("register_retrievers", Retriever, RetrieverConfig),
    "manager": ("register_managers", Manager, ManagerConfig),
    "embedder": ("register_embedders", Embedder, EmbedderConfig),
    "llm": ("register_llms", LLM, LLMConfig),
}
"""Each kind: the hook that collects it, the class base, the config base."""

DEFAULTS: dict[str, str] = {"embedder": "minilm", "llm": "none"}


@dataclass(frozen=True)
class Entry:
    """A registered type: its name, class, and the plugin that provides it."""

    kind: str
    name: str
    cls: type[Component]
    plugin: PluginInfo


class Registry:
    """Typed look-ups of registered stage classes.

    Build one with :func:`default_registry` (built-ins plus installed plugins, cached per
    process) or ``Registry(get_plugin_manager(load_entrypoints=False))`` in tests.

    Raises:
        PluginError: when a plugin registers something invalid or a duplicate name.
    """

    def __init__(self, plugin_set: PluginSet) -> None:
        self._set = plugin_set
        self._failures = list(plugin_set.failures)
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._skipped: set[str] = set()
        self._model: type[PipelineSpec] | None = None
        # collect every plugin's classes from every hook first, so that a plugin whose hook
        # raises (even half-way through a generator) registers nothing at all
        offered: dict[str, tuple[PluginInfo, list[tuple[str, Any]]]] = {}
        broken: dict[str, str] = {}
        for kind, (hook_name, _, _) in KINDS.items():
            # get_hookimpls() lists plugins in registration order: built-ins first
            for impl in getattr(plugin_set.pm.hook, hook_name).get_hookimpls():
                plugin = plugin_set.plugins.get(
                    impl.plugin_name, PluginInfo(impl.plugin_name, "?", "?", builtin=False)
                )
                classes = offered.setdefault(plugin.name, (plugin, []))[1]
                if plugin.name in broken:
                    continue
                try:
                    classes.extend((kind, cls) for cls in list(impl.function() or ()))
                except BaseException as err:  # noqa: BLE001 - a plugin must not take the tool down
                    self._plugin_failed(plugin, PluginError(f"{hook_name}() raised {err!r}"), err)
                    broken[plugin.name] = hook_name
        for name, (plugin, classes) in offered.items():
            if name not in broken:
                self._add_plugin(plugin, classes)

    def _add_plugin(self, plugin: PluginInfo, classes: list[tuple[str, Any]]) -> None:
        """Check and add all of one plugin's classes, or none of them."""
        staged: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        try:
            for kind, cls in classes:
                entry = self._entry(kind, cls, plugin)
                if entry.name in staged[kind]:
                    raise PluginError(
                        f"{kind} type {entry.name!r} is registered twice by plugin "
                        f"{plugin.name!r} ({plugin.dist} {plugin.version})"
                    )
                staged[kind][entry.name] = entry
        except PluginError as err:
            self._plugin_failed(plugin, err, err)
            return
        except Exception as err:  # noqa: BLE001 - e.g. a config_model property that raises
            where = f"plugin {plugin.name!r} ({plugin.dist} {plugin.version})"
            error = PluginError(f"{where}: checking its classes raised {err!r}")
            self._plugin_failed(plugin, error, err)
            return
        for kind, entries in staged.items():
            self._entries[kind].update(entries)

    def _plugin_failed(self, plugin: PluginInfo, err: PluginError, cause: BaseException) -> None:
        """Record that a plugin is skipped, or raise (built-ins, strict mode)."""
        self._skipped.add(plugin.name)
        if plugin.builtin or strict_plugins():
            if cause is err:
                raise err
            raise PluginError(f"plugin {plugin.name!r}: {err}") from cause
        self._failures.append(PluginLoadFailure(plugin.name, plugin.dist, plugin.version, str(err)))
        print(f"evolvelab: plugin {plugin.name} skipped: {err}", file=sys.stderr)

    def _entry(self, kind: str, cls: Any, plugin: PluginInfo) -> Entry:
        """Check one registered class and return its entry (not added yet)."""
        _, base, config_base = KINDS[kind]
        where = f"plugin {plugin.name!r} ({plugin.dist} {plugin.version})"
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"{where} registered {cls!r} as a {kind}, but it does not subclass "
                f"evolvelab.{base.__name__}"
            )
        config_model = getattr(cls, "config_model", None)
        if not (isinstance(config_model, type) and issubclass(config_model, config_base)):
            raise PluginError(
                f"{where}: {cls.__name__}.config_model must subclass "
                f"evolvelab.{config_base.__name__}"
            )
        try:
            name = type_name(config_model)
        except TypeError as err:
            raise PluginError(f"{where}: {err}") from err
        literal = config_model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
        if not isinstance(literal, str) or not name or name.split() != [name]:
            raise PluginError(
                f"{where}: {config_model.__name__}.type must be a non-empty name without spaces "
                f"(a string a pipeline file can hold as `type: NAME`), not {literal!r}"
            )
        undescribed = [
            field for field, info in config_model.model_fields.items()
            if field != "type" and not (info.description or "").strip()
        ]  # fmt: skip
        if undescribed and (plugin.builtin or strict_plugins()):
            raise PluginError(
                f"{where}: {config_model.__name__} has field(s) without a description: "
                f"{', '.join(undescribed)} (write Field(..., description=...): descriptions "
                "feed the JSON Schema, `evolvelab plugins` and the docs)"
            )
        conditions = condition_problems(config_model)
        if conditions:
            raise PluginError(f"{where}: {'; '.join(conditions)}")
        existing = self._entries[kind].get(name)
        if existing is not None:
            other = existing.plugin
            raise PluginError(
                f"{kind} type {name!r} is registered twice: by {where} and by plugin "
                f"{other.name!r} ({other.dist} {other.version}); uninstall one of them"
            )
        return Entry(kind, name, cls, plugin)

    @property
    def plugins(self) -> dict[str, PluginInfo]:
        """Registered plugins by name."""
        return dict(self._set.plugins)

    @property
    def failures(self) -> list[PluginLoadFailure]:
        """Entry points that failed to load."""
        return list(self._failures)

    def entries(self, kind: str) -> list[Entry]:
        """Return the entries of one kind, sorted by name."""
        return [self._entries[kind][name] for name in sorted(self._entries[kind])]

    def names(self, kind: str) -> list[str]:
        """Return the registered type names of one kind, sorted."""
        return sorted(self._entries[kind])

    def get(self, kind: str, name: str) -> Entry:
        """Return the entry for ``(kind, name)``.

        Raises:
            PluginError: naming the allowed types and the closest match.
        """
        try:
            return self._entries[kind][name]
        except KeyError:
            allowed = self.names(kind)
            hint = closest(name, allowed)
            extra = f" (did you mean {hint!r}?)" if hint else ""
            raise PluginError(
                f"unknown {kind} type {name!r}; allowed: {', '.join(allowed)}{extra}"
            ) from None

    def default_config(self, kind: str) -> StageConfig | None:
        """Return the default config for the ``embedder`` and ``llm`` slots."""
        name = DEFAULTS.get(kind)
        if name is None or name not in self._entries[kind]:
            entries = self.entries(kind)
            return entries[0].cls.config_model() if entries else None
        return self._entries[kind][name].cls.config_model()

    def pipeline_model(self) -> type[PipelineSpec]:
        """Return the pipeline model for the types registered here (built once per registry).

        Each stage slot is a discriminated union (on ``type``) of the registered configs
        of its kind, so an installed plugin's types validate exactly like built-ins.
        """
        if self._model is None:
            self._model = _pipeline_model(self)
        return self._model

    def pipeline_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of pipeline files for the types registered here.

        Editors use it (``# yaml-language-server: $schema=./pipeline.schema.json``) to
        complete ``type:`` values and flag unknown keys as you type.
        """
        schema = self.pipeline_model().model_json_schema()
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "pipeline.schema.json",
            **schema,
            "title": "EvolveLab pipeline",
        }

    def add_commands(self, cli: click.Group) -> None:
        """Let every plugin add its sub-commands to ``cli``, one plugin at a time.

        A plugin whose hook raises (any exception, ``SystemExit`` included) or that would
        replace a command already there adds none of its commands and is reported; the
        other plugins' commands and the built-in ones stay. Plugins skipped while
        registering their types add no commands either.

        Raises:
            PluginError: for such a plugin in strict mode (``EVOLVELAB_STRICT_PLUGINS=1``).
        """
        for impl in self._set.pm.hook.register_commands.get_hookimpls():
            plugin = self._set.plugins.get(
                impl.plugin_name, PluginInfo(impl.plugin_name, "?", "?", builtin=False)
            )
            if plugin.name in self._skipped:
                continue
            before = dict(cli.commands)
            try:
                impl.function(*(cli for _ in impl.argnames))
                replaced = sorted(n for n in before if cli.commands.get(n) is not before[n])
                if replaced:
                    names = ", ".join(replaced)
                    raise PluginError(f"register_commands() replaced command(s) {names}")
            except BaseException as err:  # noqa: BLE001 - a plugin must not take the tool down
                cli.commands.clear()
                cli.commands.update(before)
                error = err if isinstance(err, PluginError) else PluginError(
                    f"register_commands() raised {err!r}"
                )  # fmt: skip
                self._plugin_failed(plugin, error, err)

    def contributions(self, hook_name: str) -> list[tuple[PluginInfo, list[Any]]]:
        """Return what each plugin's ``hook_name`` hook returns, built-ins first.

        For hooks that collect things other than stage types (``register_objectives``):
        the caller checks what they hold. Plugins skipped while registering their types
        contribute nothing; a plugin whose hook raises is reported and skipped.

        Raises:
            PluginError: for such a plugin in strict mode (``EVOLVELAB_STRICT_PLUGINS=1``).
        """
        out = []
        for impl in getattr(self._set.pm.hook, hook_name).get_hookimpls():
            plugin = self._set.plugins.get(
                impl.plugin_name, PluginInfo(impl.plugin_name, "?", "?", builtin=False)
            )
            if plugin.name in self._skipped:
                continue
            try:
                out.append((plugin, list(impl.function() or ())))
            except BaseException as err:  # noqa: BLE001 - a plugin must not take the tool down
                self._plugin_failed(plugin, PluginError(f"{hook_name}() raised {err!r}"), err)
        return out

    def hook_implementations(self) -> dict[str, list[str]]:
        """Return, per plugin, the hooks it implements."""
        out: dict[str, list[str]] = {}
        for hook_name, hook in vars(self._set.pm.hook).items():
            if not hook_name.startswith("register_"):
                continue
            for impl in hook.get_hookimpls():
                out.setdefault(impl.plugin_name, []).append(hook_name)
        return {name: sorted(hooks) for name, hooks in out.items()}


def _union(configs: list[type[StageConfig]]) -> Any:
    if len(configs) == 1:
        return configs[0]
    return Annotated[Union[tuple(configs)], Field(discriminator="type")]  # noqa: UP007


def _pipeline_model(registry: Registry) -> type[PipelineSpec]:
    """Assemble the pipeline model from the configs ``registry`` holds."""

    def configs(kind: str) -> list[type[StageConfig]]:
        return [entry.cls.config_model for entry in registry.entries(kind)]

    encoder, store = _union(configs("encoder")), _union(configs("store"))
    retriever, manager = _union(configs("retriever")), _union(configs("manager"))
    embedder, llm = _union(configs("embedder")), _union(configs("llm"))
    default_embedder = registry.default_config("embedder")
    default_llm = registry.default_config("llm")
    fields: dict[str, Any] = {
        "embedder": (
            embedder,
            Field(default_embedder, description="Turns text into vectors for every stage."),
        ),
        "llm": (llm, Field(default_llm, description="The LLM used by LLM-aware stages.")),
        "encode": (
            list[encoder],  # type: ignore[valid-type]
            Field(min_length=1, description="Encode stages: events to notes, in order."),
        ),
        "store": (store, Field(description="The note store: keeps notes, vectors, text.")),
        "graph": (
            store | None,
            Field(None, description="Optional graph store for links and tiers."),
        ),
        "retrieve": (
            list[retriever],  # type: ignore[valid-type]
            Field(min_length=1, description="Retrieve stages, applied in order."),
        ),
        "manage": (
            list[manager],  # type: ignore[valid-type]
            Field(default_factory=list, description="Manage stages that keep memory healthy."),
        ),
    }
    return create_model("Pipeline", __base__=PipelineSpec, **fields)


@cache
def default_registry() -> Registry:
    """Return the process-wide registry: built-ins plus installed plugins."""
    return Registry(get_plugin_manager(load_entrypoints=True))


@cache
def builtin_registry() -> Registry:
    """Return the registry of the built-in types only (no entry points), cached per process."""
    return Registry(get_plugin_manager(load_entrypoints=False))


