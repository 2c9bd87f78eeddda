"""The core is a one-way chain: imports (deferred ones included) never loop back.

types → config/stages → registry/plugins → modules → pipeline → evaluation/search/server → cli
(docs/architecture.md). Imports inside ``if TYPE_CHECKING:`` do not count: they never run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "evolvelab"
OUTER = ("evolvelab.cli", "evolvelab.server", "evolvelab.search", "evolvelab.evaluation",
         "evolvelab.datasets", "evolvelab.testing", "evolvelab.__main__")  # fmt: skip
"""Layers on top of the core; each may import the core, the core never imports them."""


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """Return the package modules ``name`` imports anywhere (not under TYPE_CHECKING)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    typing_only = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = (f"{package}.{node.module}" if node.module else package) if node.level else node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    out = set()
    for module in found:
        while module and module not in MODULES:
            module = module.rpartition(".")[0]
        if module and module not in (name, "evolvelab"):
            out.add(module)
    return out


GRAPH = {name: _imports(name) for name in MODULES}
CORE = sorted(n for n in MODULES if not n.startswith(OUTER))


def _cycle(nodes: list[str]) -> list[str] | None:
    """Return one import cycle among ``nodes``, or None."""
    inside, state, stack = set(nodes), dict.fromkeys(nodes, 0), []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(GRAPH[node] & inside):
            if state[target] == 1:
                return [*stack[stack.index(target) :], target]
            if state[target] == 0 and (found := visit(target)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in nodes:
        if state[node] == 0 and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_deferred_imports() -> None:
    assert "evolvelab.pipeline" in GRAPH["evolvelab"]  # the lazy ``Memory`` attribute
    assert "evolvelab.modules.retrieve.bm25" in GRAPH["evolvelab.modules"]  # inside hook functions


def test_no_import_cycle_among_the_core_modules() -> None:
    assert len(CORE) > 60
    assert _cycle(CORE) is None, " → ".join(_cycle(CORE) or [])


@pytest.mark.parametrize("bottom", ["evolvelab.types", "evolvelab.config", "evolvelab.errors"])
def test_the_bottom_of_the_chain_imports_nothing_of_the_package(bottom: str) -> None:
    assert GRAPH[bottom] == set()


def test_stages_never_reach_back_into_the_plugin_system() -> None:
    upward = {"evolvelab.registry", "evolvelab.plugins", "evolvelab.pipeline", "evolvelab.loader"}
    for name in [n for n in CORE if n.startswith("evolvelab.modules.")] + ["evolvelab.stages"]:
        assert not GRAPH[name] & upward, f"{name} imports {sorted(GRAPH[name] & upward)}"


def test_the_core_never_imports_the_layers_on_top() -> None:
    for name in CORE:
        above = sorted(m for m in GRAPH[name] if m.startswith(OUTER))
        assert not above, f"{name} imports {above}"


def test_the_map_in_docs_architecture_names_every_top_level_module_and_package() -> None:
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    top = sorted({n.split(".")[1] for n in MODULES if n.count(".") >= 1})
    missing = [name for name in top if not re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", page)]
    assert missing == [], f"docs/architecture.md does not place: {missing}"
