"""Candidate pipelines as readable YAML, and back to validated specs.

Every trial's pipeline is written the way a person would write it: keys in the base's
order, short stages on one line (``- {type: bm25, k: 30}``), defaults the base did not
spell out left out, ``{$env: NAME}`` references kept (never their secret values).
Validation always goes through that text, so a trial's YAML file re-loads to exactly
the configuration that was scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from evolvelab.loader import Located, parse_yaml, validate_pipeline

if TYPE_CHECKING:
    from evolvelab.config import PipelineSpec
    from evolvelab.registry import Registry

__all__ = ["load_candidate", "render_pipeline", "validate_candidate"]

WIDTH = 96
"""Longest line a one-line stage may take."""


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written on one line."""


class _FlowList(list):  # type: ignore[type-arg]
    """A list written on one line."""


class _Dumper(yaml.SafeDumper):
    """Safe dumper that keeps insertion order, indents lists and honours the flow markers."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(
    _Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True)
)
_Dumper.add_representer(
    _FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)
_Dumper.add_representer(
    dict, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=False)
)
_Dumper.add_representer(
    list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=False)
)


def _flow(value: Any) -> Any:
    """Mark ``value`` and everything inside it for one-line output."""
    if isinstance(value, Mapping):
        return _Flow({k: _flow(v) for k, v in value.items()})
    if isinstance(value, list):
        return _FlowList(_flow(v) for v in value)
    return value


def _one_line(value: Any) -> str:
    return yaml.dump(
        _flow(value), Dumper=_Dumper, width=10_000, sort_keys=False, allow_unicode=True
    ).strip()


def _stage(value: Any, indent: int) -> Any:
    """A stage mapping: one line if it fits, else a block with one-line values."""
    if not isinstance(value, Mapping):
        return _flow(value)
    if indent + len(_one_line(value)) <= WIDTH:
        return _flow(value)
    return {k: _flow(v) for k, v in value.items()}


def _layout(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, list) and all(isinstance(item, Mapping) for item in value) and value:
            out[key] = [_stage(item, 4) for item in value]
        elif isinstance(value, Mapping):
            out[key] = _stage(value, len(key) + 2) if "type" in value else _flow(value)
        else:
            out[key] = _flow(value)
    return out


def render_pipeline(data: Mapping[str, Any], header: str | None = None) -> str:
    """Render a pipeline mapping as readable YAML text.

    Args:
        data: the pipeline, shaped like the YAML file.
        header: comment lines to put on top (``# `` is added to each).

    Returns:
        The YAML text, ending in a newline.
    """
    body = yaml.dump(
        _layout(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=WIDTH, indent=2
    )
    lines = [f"# {line}".rstrip() for line in (header or "").splitlines()]
    return "\n".join([*lines, body]) if lines else body


def load_candidate(
    text: str, registry: Registry, *, file: str = "<candidate>"
) -> tuple[PipelineSpec, Located]:
    """Parse and validate pipeline text (``$env`` references resolved).

    Raises:
        ConfigError: every problem, positioned in ``text``.
    """
    located = parse_yaml(text, file=file)
    return validate_pipeline(located, registry), located


def validate_candidate(
    data: Mapping[str, Any], registry: Registry, *, file: str = "<candidate>"
) -> PipelineSpec:
    """Render ``data`` and validate the text (see :func:`load_candidate`).

    Raises:
        ConfigError: every problem, positioned in the rendered text.
    """
    return load_candidate(render_pipeline(data), registry, file=file)[0]
