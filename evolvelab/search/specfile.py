"""Read an evolve spec file: YAML text to a validated :class:`EvolveSpec`, or every problem.

Problems are positioned like pipeline problems (``file:line:col: path: message``), with the
allowed keys and a did-you-mean for unknown ones; ``$env`` references resolve from the
environment as in pipeline files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from evolvelab.errors import ConfigError, Problem, closest
from evolvelab.loader import booleans_read_as_numbers
from evolvelab.located import Located, parse_yaml, read_yaml_file
from evolvelab.search.spec import EvolveSpec, error_message

if TYPE_CHECKING:
    from evolvelab.registry import Registry

__all__ = ["load_spec", "parse_spec"]


def _fields_at(loc: tuple[Any, ...]) -> tuple[str, ...]:
    """Return the allowed keys of the spec model at ``loc`` (for did-you-mean)."""
    model: Any = EvolveSpec
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            if model is EvolveSpec.model_fields["space"] or isinstance(part, int):
                continue
            return tuple(getattr(model, "model_fields", {}))
        annotation = field.annotation
        args = list(getattr(annotation, "__args__", ()))
        args += [inner for a in args for inner in getattr(a, "__args__", ())]  # list[Model]
        nested = [
            a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        model = nested[0] if nested else None
    return tuple(getattr(model, "model_fields", {}))


def _problems(err: ValidationError, located: Located) -> list[Problem]:
    problems = []
    for error in err.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        if error["type"] == "extra_forbidden":
            allowed = _fields_at(loc[:-1])
            problems.append(
                located.problem(
                    loc,
                    "unknown field",
                    at_key=True,
                    allowed=allowed,
                    suggestion=closest(str(loc[-1]), allowed),
                )
            )
            continue
        message = error_message(error)
        value = error.get("input")
        if (
            error["type"] != "missing"
            and isinstance(value, str | int | float | bool)
            and repr(value) not in message
        ):
            message += f" (got {value!r})"
        problems.append(located.problem(loc, message))
    return problems


def load_spec(source: str | Path, registry: Registry | None = None) -> EvolveSpec:
    """Read, parse and validate an evolve spec file.

    Args:
        source: the spec YAML file.
        registry: the types the mutation LLM config is checked against (default: built-ins
            plus plugins).

    Returns:
        The spec; relative paths in it resolve against the file's folder.

    Raises:
        ConfigError: every problem in the file, with line and column.
    """
    from evolvelab.registry import default_registry

    text = read_yaml_file(source)
    registry = registry or default_registry()
    return parse_spec(text, file=str(source), folder=Path(source).parent, registry=registry)


def parse_spec(
    text: str, *, file: str = "<spec>", folder: Path | None = None, registry: Registry | None = None
) -> EvolveSpec:
    """Validate evolve spec text (see :func:`load_spec`).

    Raises:
        ConfigError: every problem in the text.
    """
    located = parse_yaml(text, file=file)
    problems = list(located.problems)
    spec = None
    if located.empty:
        needs = "an evolve spec needs at least version, name, base and dataset"
        problems.append(located.empty_problem(needs))
    elif not isinstance(located.data, Mapping):
        problems.append(located.problem((), "an evolve spec must be a mapping of keys"))
    else:
        try:
            spec = EvolveSpec.model_validate(located.data, context={"registry": registry})
        except ValidationError as err:
            problems += [p for p in _problems(err, located) if p.path not in located.unresolved]
        else:
            problems += booleans_read_as_numbers(located, spec)
    if problems or spec is None:
        raise ConfigError(problems)
    spec._folder = folder if folder is not None else Path()
    spec._located = located
    if registry is not None:
        spec.mutation_llm(registry)
    return spec
