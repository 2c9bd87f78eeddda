"""Code blocks of the docs, as the tests run them: each block on its own, as written."""

from __future__ import annotations

import re
import types
from pathlib import Path

from evolvelab.plugins import PluginInfo, get_plugin_manager
from evolvelab.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def code_blocks(page: str, language: str) -> list[str]:
    """Return the ``language`` blocks of ``page`` (a path under the repository root)."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == language]


def named_block(page: str, file_name: str) -> str:
    """Return the one python block of ``page`` whose first line is ``# <file_name>``."""
    [code] = [b for b in code_blocks(page, "python") if b.startswith(f"# {file_name}\n")]
    return code


def run_block(code: str, name: str) -> types.ModuleType:
    """Execute ``code`` as the module ``name`` (no ``__future__`` flags of the caller)."""
    module = types.ModuleType(name)
    module.__file__ = f"{name}.py"
    compiled = compile(code, f"<docs: {name}.py>", "exec", dont_inherit=True)
    exec(compiled, module.__dict__)  # noqa: S102 - the docs are ours
    return module


def registry_with(*plugins: object) -> Registry:
    """Return a fresh registry: the built-ins plus ``plugins`` (modules or hook objects)."""
    plugin_set = get_plugin_manager(load_entrypoints=False)
    for i, plugin in enumerate(plugins):
        name = f"docs-plugin-{i}"
        plugin_set.pm.register(plugin, name=name)
        plugin_set.plugins[name] = PluginInfo(name, name, "0", builtin=False)
    return Registry(plugin_set)
