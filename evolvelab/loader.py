"""YAML text to a validated pipeline spec, with a position for every problem.

PyYAML's ``compose()`` gives the node tree; walking it once yields plain data, the line
and column of every key and value, duplicate keys (which PyYAML would silently collapse),
and ``{$env: NAME}`` references resolved from the environment. Pydantic's errors are then
mapped back onto those positions so that every problem reads
``file:line:col: path: message`` with the allowed values and a did-you-mean.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from evolvelab.config import PipelineSpec, pipeline_model
from evolvelab.errors import ConfigError, Problem, closest

if TYPE_CHECKING:
    from evolvelab.registry import Registry

__all__ = ["Located", "SLOT_KINDS", "load_pipeline", "parse_yaml", "validate_pipeline"]

Path_ = tuple[str | int, ...]

SLOT_KINDS: dict[str, str] = {
    "encode": "encoder",
    "store": "store",
    "graph": "store",
    "retrieve": "retriever",
    "manage": "manager",
    "embedder": "embedder",
    "llm": "llm",
}
"""The registry kind behind each top-level slot of a pipeline file."""


@dataclass
class Located:
    """Parsed YAML: plain data plus the position of every key and value.

    Positions are 1-based ``(line, col)``; ``keys`` holds the position of a mapping key,
    ``values`` the position of the value under that path.
    """

    file: str
    data: Any
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unresolved: set[Path_] = field(default_factory=set)
    """Paths whose ``$env`` reference could not be resolved (already reported)."""
    from_env: set[Path_] = field(default_factory=set)
    """Paths whose value came from the environment: never echoed in error text."""

    def problem(
        self, path: Path_, message: str, *, at_key: bool = False, **kw: Any
    ) -> Problem:
        """Make a problem positioned at ``path`` (its key, or its value, or the nearest parent)."""
        probe = path
        while True:
            table = self.keys if at_key and probe in self.keys else self.values
            if probe in table:
                line, col = table[probe]
                return Problem(self.file, path, message, line=line, col=col, **kw)
            if not probe:
                return Problem(self.file, path, message, **kw)
            probe = probe[:-1]


_SCALARS = yaml.SafeLoader("")


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _walk(node: yaml.Node, path: Path_, out: Located) -> Any:
    out.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        keys = [k.value if isinstance(k, yaml.ScalarNode) else None for k, _ in node.value]
        if keys == ["$env"] or (set(keys) == {"$env", "default"} and len(keys) == 2):
            return _env(node, path, out)
        result: dict[Any, Any] = {}
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _SCALARS.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool):
                out.problems.append(
                    Problem(out.file, path, "mapping keys must be plain scalars", *_mark(key_node))
                )
                continue
            key = str(key)
            if key in first:
                out.problems.append(
                    Problem(
                        out.file,
                        (*path, key),
                        f"key '{key}' appears twice (first at line {first[key]})",
                        *_mark(key_node),
                    )
                )
                continue
            first[key] = _mark(key_node)[0]
            out.keys[(*path, key)] = _mark(key_node)
            result[key] = _walk(value_node, (*path, key), out)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), out) for i, item in enumerate(node.value)]
    return _SCALARS.construct_object(node)


def _env(node: yaml.MappingNode, path: Path_, out: Located) -> Any:
    spec = {k.value: v for k, v in node.value}
    name_node = spec["$env"]
    name = name_node.value if isinstance(name_node, yaml.ScalarNode) else None
    if not name:
        out.problems.append(
            Problem(out.file, path, "$env needs the name of an environment variable", *_mark(node))
        )
        return None
    if name in os.environ:
        out.from_env.add(path)
        return os.environ[name]
    if "default" in spec:
        return _walk(spec["default"], path, out)
    out.unresolved.add(path)
    out.problems.append(
        Problem(
            out.file,
            path,
            f"environment variable '{name}' is not set",
            *_mark(name_node),
            hints=("set it, or give a default: {$env: NAME, default: VALUE}",),
        )
    )
    return None


def parse_yaml(text: str, file: str = "<string>") -> Located:
    """Parse YAML text into data and positions.

    Raises:
        ConfigError: on a YAML syntax error (with its position).
    """
    out = Located(file=file, data=None)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = f"invalid YAML: {err.problem or err.context}"
        raise ConfigError([Problem(file, (), message, line=line, col=col)]) from err
    out.data = {} if root is None else _walk(root, (), out)
    return out


def _describe(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


_SECRET_WORDS = ("key", "token", "password", "secret")


def _secret(path: Path_, located: Located) -> bool:
    """Whether the value at ``path`` must not be echoed (from the environment, or key-like)."""
    named = any(word in str(part).lower() for part in path for word in _SECRET_WORDS)
    return named or path in located.from_env


def _config_fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


class _ErrorMapper:
    """Turn pydantic errors into positioned problems."""

    def __init__(self, located: Located, registry: Registry) -> None:
        self.located = located
        self.registry = registry

    def _item(self, path: Path_) -> tuple[str | None, Any]:
        """Return the slot kind and the item mapping at ``path``."""
        kind = SLOT_KINDS.get(str(path[0])) if path else None
        node: Any = self.located.data
        for part in path:
            node = node[part] if isinstance(node, Mapping | list) else None
        return kind, node

    def _yaml_path(self, loc: tuple[Any, ...]) -> Path_:
        """Drop the discriminator tags pydantic inserts into ``loc``."""
        path: list[str | int] = []
        node: Any = self.located.data
        for part in loc:
            if isinstance(node, Mapping) and part not in node and node.get("type") == part:
                continue
            if isinstance(node, Mapping | list):
                try:
                    node = node[part]
                except (KeyError, IndexError, TypeError):
                    node = None
            path.append(part)
        return tuple(path)

    def map(self, error: Mapping[str, Any]) -> Problem:
        kind_of = error["type"]
        path = self._yaml_path(tuple(error["loc"]))
        located = self.located
        if kind_of == "extra_forbidden":
            parent = path[:-1]
            key = str(path[-1])
            kind, item = self._item(parent)
            allowed, owner = self._allowed_fields(parent, kind, item)
            return located.problem(
                path,
                f"unknown field{owner}",
                at_key=True,
                allowed=allowed,
                suggestion=closest(key, allowed),
            )
        if kind_of == "missing":
            kind, item = self._item(path[:-1])
            owner = f" ({kind} '{item.get('type')}')" if kind and isinstance(item, Mapping) else ""
            return located.problem(path, f"required field is missing{owner}")
        if kind_of in {"union_tag_invalid", "union_tag_not_found"}:
            kind, item = self._item(path)
            allowed = tuple(self.registry.names(kind)) if kind else ()
            hints = ("types come from installed plugins; run `evolvelab plugins` to see them",)
            if kind_of == "union_tag_not_found":
                return located.problem(path, f"{kind} needs a 'type'", allowed=allowed, hints=hints)
            tag = str(error.get("ctx", {}).get("tag", ""))
            return located.problem(
                (*path, "type"),
                f"unknown {kind} type '{tag}'",
                allowed=allowed,
                suggestion=closest(tag, allowed),
                hints=hints,
            )
        if kind_of == "literal_error" and path[-1:] == ("type",) and str(path[0]) in SLOT_KINDS:
            kind = SLOT_KINDS[str(path[0])]
            tag = str(error.get("input"))
            allowed = tuple(self.registry.names(kind))
            return located.problem(
                path,
                f"unknown {kind} type '{tag}'",
                allowed=allowed,
                suggestion=closest(tag, allowed),
                hints=("types come from installed plugins; run `evolvelab plugins` to see them",),
            )
        if kind_of == "literal_error":
            expected = str(error.get("ctx", {}).get("expected", ""))
            allowed = tuple(part.strip(" '") for part in expected.replace(" or ", ",").split(","))
            got = "hidden" if _secret(path, located) else _describe(error.get("input"))
            return located.problem(
                path,
                f"invalid value ({got})" if _secret(path, located) else f"invalid value {got}",
                allowed=tuple(a for a in allowed if a),
                suggestion=closest(got.strip("'"), allowed),
            )
        message = str(error["msg"]).removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        value = error.get("input")
        if isinstance(value, str | int | float | bool) and not _secret(path, located):
            message += f" (got {_describe(value)})"
        return located.problem(path, message)

    def _allowed_fields(
        self, parent: Path_, kind: str | None, item: Any
    ) -> tuple[tuple[str, ...], str]:
        if not parent:
            fields = ("version", "name", "description", *SLOT_KINDS)
            return tuple(dict.fromkeys(fields)), " in a pipeline"
        if kind and isinstance(item, Mapping) and isinstance(item.get("type"), str):
            type_name = item["type"]
            if type_name in self.registry.names(kind):
                model = self.registry.get(kind, type_name).cls.config_model
                return _config_fields(model), f" for {kind} '{type_name}'"
        return (), ""


def validate_pipeline(located: Located, registry: Registry) -> PipelineSpec:
    """Validate parsed YAML against the pipeline model for ``registry``.

    Raises:
        ConfigError: with every problem found, parse-time ones included.
    """
    problems = list(located.problems)
    spec = None
    if not isinstance(located.data, Mapping):
        problems.append(located.problem((), "a pipeline file must be a mapping of keys"))
    else:
        try:
            spec = pipeline_model(registry).model_validate(located.data)
        except ValidationError as err:
            mapper = _ErrorMapper(located, registry)
            for error in err.errors(include_url=False):
                problem = mapper.map(error)
                if problem.path not in located.unresolved:
                    problems.append(problem)
    if problems or spec is None:
        raise ConfigError(problems)
    return spec


def load_pipeline(
    source: str | Path, registry: Registry | None = None
) -> tuple[PipelineSpec, Located]:
    """Read, parse and validate a pipeline file.

    Args:
        source: path of the YAML file.
        registry: the types to validate against (default: built-ins plus plugins).

    Returns:
        The validated spec and the positions, for build-time checks.

    Raises:
        ConfigError: for every problem in the file, all at once.
    """
    from evolvelab.registry import default_registry

    registry = registry or default_registry()
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([Problem(str(source), (), f"cannot read file: {err.strerror}")]) from err
    located = parse_yaml(text, file=str(source))
    return validate_pipeline(located, registry), located
