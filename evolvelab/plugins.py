"""The plugin manager: built-ins and installed plugins registered the same way.

Entry points in the ``evolvelab`` group are loaded one at a time. A plugin that fails to
import is reported with its name and skipped, whatever it raises (``SystemExit`` and
``KeyboardInterrupt`` included), so one broken package never takes the CLI down; with
``EVOLVELAB_STRICT_PLUGINS=1`` the failure is raised instead (use it in plugin CI).
``EVOLVELAB_LOAD_PLUGINS`` limits loading to a comma-separated list of entry-point names
(empty: none).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from dataclasses import dataclass
from importlib import metadata

import pluggy

from evolvelab import hookspecs
from evolvelab.errors import PluginError, closest

__all__ = [
    "PluginInfo",
    "PluginLoadFailure",
    "PluginSet",
    "get_plugin_manager",
    "strict_plugins",
]

GROUP = "evolvelab"


@dataclass(frozen=True)
class PluginInfo:
    """A registered plugin: its name, the distribution that ships it, and its version."""

    name: str
    dist: str
    version: str
    builtin: bool


@dataclass(frozen=True)
class PluginLoadFailure:
    """An entry point that could not be loaded."""

    name: str
    dist: str
    version: str
    error: str


@dataclass
class PluginSet:
    """A plugin manager together with what was loaded and what failed."""

    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    failures: list[PluginLoadFailure]


def _version() -> str:
    from evolvelab import __version__

    return __version__


def strict_plugins() -> bool:
    """Return whether EVOLVELAB_STRICT_PLUGINS asks for plugin failures to be fatal."""
    return os.environ.get("EVOLVELAB_STRICT_PLUGINS", "").lower() in {"1", "true", "yes"}


def _allowed_names() -> set[str] | None:
    raw = os.environ.get("EVOLVELAB_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _check_hooks(pm: pluggy.PluginManager, name: str) -> None:
    known = [spec for spec in dir(hookspecs) if spec.startswith("register_")]
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        hook = str(err).split("'")[1] if "'" in str(err) else str(err)
        hint = closest(hook, known)
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise PluginError(f"plugin {name!r} implements unknown hook {hook!r}{extra}") from err


def get_plugin_manager(load_entrypoints: bool = True) -> PluginSet:
    """Create a plugin manager with the built-ins and, optionally, installed plugins.

    Args:
        load_entrypoints: also load the ``evolvelab`` entry points of installed packages.

    Returns:
        The manager plus what was registered and which entry points failed.

    Raises:
        PluginError: in strict mode, for the first plugin that fails to load.
    """
    from evolvelab import modules

    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.register(modules, name="evolvelab")
    plugins = {"evolvelab": PluginInfo("evolvelab", "evolvelab", _version(), builtin=True)}
    failures: list[PluginLoadFailure] = []
    if load_entrypoints:
        allowed = _allowed_names()
        seen: set[str] = set()
        for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
            if (allowed is not None and ep.name not in allowed) or ep.name in seen:
                continue
            seen.add(ep.name)
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            try:
                with contextlib.redirect_stdout(sys.stderr):  # stdout may carry data (-o -)
                    module = ep.load()
                pm.register(module, name=ep.name)
                _check_hooks(pm, ep.name)
            except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
                if pm.has_plugin(ep.name):
                    pm.unregister(name=ep.name)
                detail = "".join(traceback.format_exception_only(type(err), err)).strip()
                if strict_plugins():
                    raise PluginError(
                        f"plugin {ep.name!r} ({dist} {version}) failed to load: {detail}"
                    ) from err
                failures.append(PluginLoadFailure(ep.name, dist, version, detail))
                print(
                    f"evolvelab: plugin {ep.name} ({dist} {version}) failed to load: {detail};"
                    " run `evolvelab plugins` for details",
                    file=sys.stderr,
                )
                continue
            plugins[ep.name] = PluginInfo(ep.name, dist, version, builtin=False)
    if os.environ.get("EVOLVELAB_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
        pm.enable_tracing()
    return PluginSet(pm, plugins, failures)
