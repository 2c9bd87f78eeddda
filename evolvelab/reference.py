"""The Markdown reference of every registered type, generated from the config models.

``evolvelab schema --builtins-only --markdown docs/types.md`` writes it; a test fails when
the committed page is stale, so the field tables never drift from the code.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic.fields import FieldInfo

from evolvelab.config import Tunable
from evolvelab.registry import KINDS, Registry
from evolvelab.stages import CAPABILITIES, capability_names

__all__ = ["types_markdown"]

_TITLES = {
    "encoder": "Encoders (`encode:`)",
    "store": "Stores (`store:` and `graph:`)",
    "retriever": "Retrievers (`retrieve:`)",
    "manager": "Managers (`manage:`)",
    "embedder": "Embedders (`embedder:`)",
    "llm": "LLMs (`llm:`)",
}


def _annotation(field: FieldInfo) -> str:
    text = str(field.annotation).replace("typing.", "")
    for noise in ("<class '", "'>"):
        text = text.replace(noise, "")
    return text.replace("|", "\\|")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return f"`{field.default_factory()!r}`"  # type: ignore[call-arg]
    return f"`{field.default!r}`"


def _tunable(field: FieldInfo) -> str:
    for item in field.metadata:
        if isinstance(item, Tunable):
            if item.choices is not None:
                return ", ".join(map(str, item.choices))
            scale = " (log)" if item.log else ""
            return f"{item.low:g} – {item.high:g}{scale}"
    return ""


def _docstring_markdown(doc: str) -> list[str]:
    """Turn a Google-style docstring into Markdown: its ``Example:`` block un-indented."""
    head, _, example = doc.partition("Example:")
    lines = head.rstrip().splitlines()
    if not example.strip():
        return lines
    body = inspect.cleandoc(example)
    fenced = body.startswith("```")
    return [*lines, "", "Example:", "", *([] if fenced else ["```python"]), *body.splitlines(),
            *([] if fenced else ["```"])]  # fmt: skip


def _section(registry: Registry, kind: str) -> list[str]:
    lines = [f"## {_TITLES[kind]}", ""]
    for entry in registry.entries(kind):
        model: Any = entry.cls.config_model
        doc = inspect.cleandoc(model.__doc__ or "")
        lines += [f"### `{entry.name}`", ""]
        if doc:
            lines += [*_docstring_markdown(doc), ""]
        if kind == "store":
            caps = [n for n, cap in CAPABILITIES.items() if issubclass(entry.cls, cap)]
            lines += [f"Capabilities: {', '.join(caps) or 'none'}.", ""]
        else:
            needs = capability_names(getattr(entry.cls, "requires", ()))
            if needs:
                lines += [f"Needs a store with: {', '.join(needs)}.", ""]
        fields = {k: v for k, v in model.model_fields.items() if k != "type"}
        if fields:
            lines += ["| field | type | default | evolver range | description |", "|---|---|---|---|---|"]
            for name, field in fields.items():
                lines.append(
                    f"| `{name}` | {_annotation(field)} | {_default(field)} | {_tunable(field)} "
                    f"| {field.description or ''} |"
                )
            lines.append("")
    return lines


def types_markdown(registry: Registry) -> str:
    """Return the Markdown reference of every type ``registry`` knows."""
    lines = [
        "# Built-in types",
        "",
        "Generated from the config models by "
        "`evolvelab schema --builtins-only --markdown docs/types.md`; do not edit by hand.",
        "",
    ]
    for kind in KINDS:
        lines += _section(registry, kind)
    return "\n".join(lines).rstrip() + "\n"
