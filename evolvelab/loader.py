"""YAML text to a validated pipeline spec, with a position for every problem.

:mod:`evolvelab.located` reads the YAML (plain data, the line and column of every key and
value, duplicate keys, ``{$env: NAME}`` references; anything but plain YAML refused).
Pydantic's errors are then mapped back onto those positions so that every problem reads
``file:line:col: path: message`` with the allowed values and a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from evolvelab.config import PipelineSpec
from evolvelab.errors import ConfigError, Problem, closest
from evolvelab.located import Located, parse_yaml, read_yaml_file

if TYPE_CHECKING:
    from evolvelab.registry import Registry

__all__ = [
    "Located", "SLOT_KINDS", "booleans_read_as_numbers", "load_pipeline", "parse_yaml",
    "validate_pipeline",
]  # fmt: skip

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
    if located.empty:
        problems.append(located.empty_problem(
            "a pipeline needs at least version, name, encode, store and retrieve"
        ))  # fmt: skip
    elif not isinstance(located.data, Mapping):
        problems.append(located.problem((), "a pipeline file must be a mapping of keys"))
    else:
        try:
            spec = registry.pipeline_model().model_validate(located.data)
        except ValidationError as err:
            mapper = _ErrorMapper(located, registry)
            for error in err.errors(include_url=False):
                problem = mapper.map(error)
                if problem.path not in located.unresolved:
                    problems.append(problem)
        except (Exception, SystemExit) as err:  # noqa: BLE001 - a plugin validator's own error
            problems += _raising_stages(located, registry, err)
    if spec is not None:
        problems += booleans_read_as_numbers(located, spec)
    if problems or spec is None:
        raise ConfigError(problems)
    return spec


def booleans_read_as_numbers(located: Located, spec: BaseModel) -> list[Problem]:
    """Find YAML booleans that validated as numbers (pydantic's lax mode reads true as 1).

    ``k: true`` or ``version: yes`` is a slip, not a way to write 1: each such value is
    a problem at its position. Booleans that land in boolean fields are left alone.
    """
    problems = []

    def walk(raw: Any, built: Any, path: Path_) -> None:
        if isinstance(raw, bool):
            if not isinstance(built, bool) and isinstance(built, int | float):
                word = "true" if raw else "false"
                problems.append(located.problem(
                    path, f"expected a number, not a boolean ({word})"
                ))  # fmt: skip
            return
        if isinstance(raw, Mapping):
            for key, value in raw.items():
                if isinstance(built, BaseModel):
                    child = getattr(built, str(key), _MISSING)
                elif isinstance(built, Mapping):
                    child = built.get(key, _MISSING)
                else:
                    return
                if child is not _MISSING:
                    walk(value, child, (*path, key))
        elif isinstance(raw, list) and isinstance(built, list | tuple):
            for i, (value, child) in enumerate(zip(raw, built, strict=False)):
                walk(value, child, (*path, i))

    walk(located.data, spec, ())
    return problems


_MISSING = object()


def _raising_stages(located: Located, registry: Registry, err: BaseException) -> list[Problem]:
    """Locate the stage configs whose checks raise something pydantic does not catch.

    Pydantic turns only ``ValueError`` and ``AssertionError`` from a validator into a
    validation error; anything else (a plugin's ``RuntimeError``, ``KeyError``, even
    ``SystemExit``) aborts the whole validation without a position. Each stage is checked
    again on its own so the problem names the stage, its plugin and its line.
    """
    problems = []
    data = located.data
    for slot, kind in SLOT_KINDS.items():
        items = data.get(slot)
        spots = list(enumerate(items)) if isinstance(items, list) else [(None, items)]
        for index, item in spots:
            name = item.get("type") if isinstance(item, Mapping) else None
            if not isinstance(name, str) or name not in registry.names(kind):
                continue
            entry = registry.get(kind, name)
            try:
                entry.cls.config_model.model_validate(item)
            except ValidationError:
                continue  # reported normally once the raising stage is fixed
            except (Exception, SystemExit) as raised:  # noqa: BLE001
                plugin = entry.plugin
                where = (slot,) if index is None else (slot, index)
                problems.append(located.problem(
                    where,
                    f"{kind} '{name}' (plugin {plugin.name} {plugin.dist} {plugin.version}): "
                    f"checking its settings raised {type(raised).__name__}: {raised}",
                    hints=("this is a bug in the plugin, not in your file: report it to its "
                           "authors",),
                ))  # fmt: skip
    if not problems:
        problems.append(located.problem(
            (), f"checking the pipeline raised {type(err).__name__}: {err}"
        ))  # fmt: skip
    return problems


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
    located = parse_yaml(read_yaml_file(source), file=str(source))
    return validate_pipeline(located, registry), located
