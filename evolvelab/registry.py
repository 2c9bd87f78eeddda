"""The registry: stage classes by (kind, type name). The only module calling ``pm.hook``.

It checks everything plugins register: the class derives from the right stage base, its
``config_model`` declares a one-value ``type`` literal, and no two plugins claim the same
type name (a YAML file must not change meaning when a package is installed).
"""

from __future__ import annotations

import sys


from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from evolvelab.config import (
    EmbedderConfig,
    EncoderConfig,
    LLMConfig,
    ManagerConfig,
    RetrieverConfig,
    StageConfig,
    StoreConfig,
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
        for kind, (hook_name, base, config_base) in KINDS.items():
            hook = getattr(plugin_set.pm.hook, hook_name)
            # get_hookimpls() lists plugins in registration order: built-ins first
            for impl in hook.get_hookimpls():
                plugin = plugin_set.plugins.get(
                    impl.plugin_name, PluginInfo(impl.plugin_name, "?", "?", builtin=False)
                )
                try:
                    for cls in impl.function() or ():
                        self._add(kind, cls, plugin, base, config_base)
                except Exception as err:  # noqa: BLE001 - a plugin must not take the tool down
                    self._plugin_failed(plugin, hook_name, err)

    def _plugin_failed(self, plugin: PluginInfo, hook_name: str, err: Exception) -> None:
        """Record a plugin's registration failure, or raise it (built-ins, strict mode)."""
        message = str(err) if isinstance(err, PluginError) else f"{hook_name}() raised {err!r}"
        if plugin.builtin or strict_plugins():
            if isinstance(err, PluginError):
                raise err
            raise PluginError(f"plugin {plugin.name!r}: {message}") from err
        self._failures.append(PluginLoadFailure(plugin.name, plugin.dist, plugin.version, message))
        print(f"evolvelab: plugin {plugin.name} skipped: {message}", file=sys.stderr)

    def _add(
        self,
        kind: str,
        cls: Any,
        plugin: PluginInfo,
        base: type[Component],
        config_base: type[StageConfig],
    ) -> None:
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
        existing = self._entries[kind].get(name)
        if existing is not None:
            other = existing.plugin
            raise PluginError(
                f"{kind} type {name!r} is registered twice: by {where} and by plugin "
                f"{other.name!r} ({other.dist} {other.version}); uninstall one of them"
            )
        self._entries[kind][name] = Entry(kind, name, cls, plugin)

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

    def add_commands(self, cli: click.Group) -> None:
        """Let every plugin add its sub-commands to ``cli``."""
        self._set.pm.hook.register_commands(cli=cli)

    def hook_implementations(self) -> dict[str, list[str]]:
        """Return, per plugin, the hooks it implements."""
        out: dict[str, list[str]] = {}
        for hook_name, hook in vars(self._set.pm.hook).items():
            if not hook_name.startswith("register_"):
                continue
            for impl in hook.get_hookimpls():
                out.setdefault(impl.plugin_name, []).append(hook_name)
        return {name: sorted(hooks) for name, hooks in out.items()}


@cache
def default_registry() -> Registry:
    """Return the process-wide registry: built-ins plus installed plugins."""
    return Registry(get_plugin_manager(load_entrypoints=True))


@cache
def builtin_registry() -> Registry:
    """Return the registry of the built-in types only (no entry points), cached per process."""
    return Registry(get_plugin_manager(load_entrypoints=False))


