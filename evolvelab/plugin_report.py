"""What ``evolvelab plugins`` shows: plugins, their types per stage, and load failures.

Each type's summary, capabilities and field names come from :mod:`evolvelab.describe`.
"""

from __future__ import annotations

from typing import Any

from evolvelab.describe import describe_types
from evolvelab.registry import KINDS, Registry

__all__ = ["plugin_report", "render_plugin_report"]


def _type_info(registry: Registry, kind: str) -> list[dict[str, Any]]:
    out = []
    for info in describe_types(registry, kind):
        row: dict[str, Any] = {
            "name": info.name,
            "plugin": info.plugin,
            "description": info.summary,
            "fields": [field.name for field in info.fields],
        }
        if kind == "store":
            row["capabilities"] = list(info.offers)
        else:
            row["requires"] = list(info.needs)
        out.append(row)
    return out


def plugin_report(registry: Registry) -> dict[str, Any]:
    """Return a JSON-ready description of every plugin, type and load failure."""
    hooks = registry.hook_implementations()
    plugins = []
    for name, info in sorted(registry.plugins.items(), key=lambda kv: (not kv[1].builtin, kv[0])):
        types = {
            kind: [e.name for e in registry.entries(kind) if e.plugin.name == name] for kind in KINDS
        }
        plugins.append(
            {
                "name": name,
                "dist": info.dist,
                "version": info.version,
                "builtin": info.builtin,
                "hooks": hooks.get(name, []),
                "types": {k: v for k, v in types.items() if v},
            }
        )
    return {
        "plugins": plugins,
        "types": {kind: _type_info(registry, kind) for kind in KINDS},
        "failures": [
            {"name": f.name, "dist": f.dist, "version": f.version, "error": f.error}
            for f in registry.failures
        ],
    }


def render_plugin_report(report: dict[str, Any]) -> None:
    """Print the report as tables."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()  # names, fields and errors come from plugins: printed as written
    table = Table(title="plugins")
    for column in ("plugin", "version", "types"):
        table.add_column(column, overflow="fold")
    for plugin in report["plugins"]:
        types = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in plugin["types"].items())
        table.add_row(escape(plugin["name"]), escape(plugin["version"]), escape(types or "-"))
    console.print(table)
    for kind, infos in report["types"].items():
        sub = Table(title=f"{kind} types")
        for column in ("type", "plugin", "capabilities" if kind == "store" else "requires", "fields"):
            sub.add_column(column, overflow="fold")
        for info in infos:
            caps = info.get("capabilities", info.get("requires", []))
            cells = (info["name"], info["plugin"], ", ".join(caps) or "-", ", ".join(info["fields"]))
            sub.add_row(*map(escape, cells))
        console.print(sub)
    for failure in report["failures"]:
        console.print(
            "[red]failed to load[/red] "
            + escape(f"{failure['name']} ({failure['dist']} {failure['version']}): {failure['error']}")
        )
