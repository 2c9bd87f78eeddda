"""The Markdown reference of every registered type, generated from the config models.

``evolvelab schema --builtins-only --markdown docs/types.md`` writes it; a test fails when
the committed page is stale, so the field tables never drift from the code. What it shows
of each type comes from :mod:`evolvelab.describe`; this module only writes it as Markdown.
"""

from __future__ import annotations

import inspect
from typing import get_origin

from evolvelab.describe import FieldDescription, TypeDescription, describe_types
from evolvelab.registry import KINDS, Registry

__all__ = ["types_markdown"]

_TITLES = {
    "encoder": "Encoders (`encode:`)",
    "store": "Stores (`store:` and `graph:`)",
    "retriever": "Retrievers (`retrieve:`)",
    "manager": "Managers (`manage:`)",
    "embedder": "Embedders (`embedder:`)",
    "llm": "LLMs (`llm:`)",
}


def _annotation(field: FieldDescription) -> str:
    text = str(field.annotation).replace("typing.", "")
    for noise in ("<class '", "'>"):
        text = text.replace(noise, "")
    return text.replace("|", "\\|")


def _default(field: FieldDescription) -> str:
    return "required" if field.required else f"`{field.default!r}`"


def _tunable(field: FieldDescription, lists: frozenset[str] = frozenset()) -> str:
    item = field.tunable
    if item is None:
        return ""
    if item.choices is not None:
        text = ", ".join(map(str, item.choices))
    else:
        scale = " (log)" if item.log else ""
        text = f"{item.low:g} – {item.high:g}{scale}"
    if item.when:  # a conditional field: searched only where the stage uses it
        needs = [
            f"{' or '.join(_plain(v) for v in values)} in `{name}`"
            if name in lists
            else f"`{name}: {' or '.join(_plain(v) for v in values)}`"
            for name, values in item.when.items()
        ]
        text += f"; only with {' and '.join(needs)}"
    return text


def _plain(value: object) -> str:
    if value is None:
        return "null"  # as YAML writes it
    return str(value).lower() if isinstance(value, bool) else str(value)


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


def _type_markdown(info: TypeDescription) -> list[str]:
    lines = [f"### `{info.name}`", ""]
    if info.doc:
        lines += [*_docstring_markdown(info.doc), ""]
    if info.kind == "store":
        lines += [f"Capabilities: {', '.join(info.offers) or 'none'}.", ""]
    elif info.needs:
        lines += [f"Needs a store with: {', '.join(info.needs)}.", ""]
    if info.fields:
        lines += ["| field | type | default | evolver range | description |", "|---|---|---|---|---|"]
        lists = frozenset(f.name for f in info.fields if get_origin(f.annotation) is list)
        for field in info.fields:
            lines.append(
                f"| `{field.name}` | {_annotation(field)} | {_default(field)} "
                f"| {_tunable(field, lists)} "
                f"| {field.description} |"
            )
        lines.append("")
    return lines


def _section(registry: Registry, kind: str) -> list[str]:
    lines = [f"## {_TITLES[kind]}", ""]
    for info in describe_types(registry, kind):
        lines += _type_markdown(info)
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
