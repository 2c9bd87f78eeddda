"""Strict configuration models: the stage config bases and the pipeline's top level.

Every stage class declares a ``config_model`` deriving from one of the stage config bases
below. Its ``type: Literal["name"]`` field is both the YAML tag and the registry key.
:meth:`Registry.pipeline_model <evolvelab.registry.Registry.pipeline_model>` assembles the
whole pipeline model as discriminated unions of the registered configs, so an installed
plugin's types validate exactly like built-ins. This module imports nothing else from
the package: it is the bottom of the dependency chain, next to ``types``.

Tunable ranges for the evolver sit next to the field they tune::

    class VectorConfig(RetrieverConfig):
        type: Literal["vector"] = "vector"
        k: Annotated[int, Tunable(5, 100, log=True)] = Field(20, ge=1, description="...")
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "EmbedderConfig",
    "EncoderConfig",
    "LLMConfig",
    "ManagerConfig",
    "NAME_PATTERN",
    "PipelineSpec",
    "RetrieverConfig",
    "StageConfig",
    "StoreConfig",
    "StrictModel",
    "Tunable",
    "check_name",
    "condition_holds",
    "condition_problems",
    "type_name",
]


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Tunable:
    """Declare the range the evolver may search for a field.

    Put it in the field's ``Annotated`` metadata. Numeric ranges use ``low``/``high``
    (``log=True`` for a log scale, ``step`` for a grid); categorical fields use ``choices``.

    ``when`` makes the field *conditional*: it names other fields of the same config and
    the values under which this one has any effect (every named field must hold one of
    its values). The evolver then asks for this field only in trials where the condition
    holds, so no trial is spent on a knob the stage ignores, and a field whose condition
    the base fixes to false is not searched at all. Where the condition does not hold the
    field is left out of the candidate (it runs with its default), unless the base itself
    wrote it in that same situation.

    Example:
        >>> from typing import Annotated, Literal
        >>> k: Annotated[int, Tunable(5, 100, log=True)] = 20
        >>> fusion: Annotated[Literal["rrf", "score"], Tunable(choices=("rrf", "score"))] = "rrf"
        >>> rrf_k: Annotated[float, Tunable(1, 120, log=True, when={"fusion": "rrf"})] = 60.0
        >>> Tunable(1, 120, when={"fusion": "rrf"}).when
        {'fusion': ('rrf',)}
        >>> Tunable(1, 120, when={"fusion": "rrf"}).active({"fusion": "score"})
        False
    """

    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    when: Mapping[str, tuple[Any, ...]] | None = dataclass_field(default=None, hash=False)
    """Field name -> the values under which this field is used (a single value or a list)."""

    def __post_init__(self) -> None:
        if self.when is None:
            return
        if not isinstance(self.when, Mapping) or not self.when:
            raise TypeError("Tunable(when=...) takes a non-empty mapping: {field: values}")
        normal = {
            str(name): tuple(values) if isinstance(values, list | tuple | set | frozenset)
            else (values,)
            for name, values in self.when.items()
        }  # fmt: skip
        if any(not values for values in normal.values()):
            raise TypeError("Tunable(when=...): every field needs at least one value")
        object.__setattr__(self, "when", normal)

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether the field has an effect, given the config's ``values`` (by field name).

        A field named by ``when`` but missing from ``values`` counts as not matching.
        """
        return condition_holds(self.when, values)


def condition_holds(when: Mapping[str, tuple[Any, ...]] | None, values: Mapping[str, Any]) -> bool:
    """Whether every field ``when`` names holds one of its values in ``values``.

    Values compare by equality, except that a bool never equals a number (``True`` is not
    ``1`` here). No condition (``None``) always holds.

    Example:
        >>> condition_holds({"mode": ("boost",)}, {"mode": "boost", "k": 5})
        True
        >>> condition_holds({"lessons": (True,)}, {"lessons": 1})
        False
    """
    if not when:
        return True
    missing = object()
    for name, allowed in when.items():
        value = values.get(name, missing)
        held = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        if not any(_same(item, option) for item in held for option in allowed):
            return False
    return True


def _same(value: Any, option: Any) -> bool:
    return isinstance(value, bool) == isinstance(option, bool) and value == option


def condition_problems(model: type[BaseModel]) -> list[str]:
    """Check every ``Tunable(when=...)`` of ``model``: the fields and values it names.

    A condition must name other fields of the same model, each with values that field
    accepts (an item of the list, for a list field). The registry refuses a stage type
    with a wrong condition, as it refuses any other malformed config model.

    Returns:
        One message per problem (empty when every condition is sound).
    """
    from pydantic import TypeAdapter

    problems: list[str] = []
    for name, info in model.model_fields.items():
        tunable = next((m for m in info.metadata if isinstance(m, Tunable)), None)
        for other, allowed in ((tunable.when or {}) if tunable else {}).items():
            where = f"{model.__name__}.{name}: Tunable(when=...)"
            if other == name or other not in model.model_fields:
                fields = ", ".join(f for f in model.model_fields if f not in (name, "type"))
                problems.append(f"{where} names {other!r}, not another field ({fields})")
                continue
            adapters = [TypeAdapter(a) for a in _value_types(model.model_fields[other].annotation)]
            for value in allowed:
                if not any(_accepts(adapter, value) for adapter in adapters):
                    problems.append(f"{where}: {value!r} is not a value of {other}")
    return problems


def _value_types(annotation: Any) -> list[Any]:
    """The types a condition's value may have: the field's, or an item's for a list field."""
    members = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    out = []
    for member in members or (annotation,):
        if get_origin(member) in (list, tuple, set, frozenset):
            out.append((get_args(member) or (Any,))[0])
        else:
            out.append(member)
    return out


def _accepts(adapter: Any, value: Any) -> bool:
    from pydantic import ValidationError

    try:
        adapter.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


class StageConfig(StrictModel):
    """Base of every stage configuration. Subclasses set ``type: Literal["name"]``."""

    type: str = Field(description="The registered type name of this stage.")


class EncoderConfig(StageConfig):
    """Base of encode-stage configurations."""


class StoreConfig(StageConfig):
    """Base of store configurations."""


class RetrieverConfig(StageConfig):
    """Base of retrieve-stage configurations."""


class ManagerConfig(StageConfig):
    """Base of manage-stage configurations.

    ``every`` decides when the manager runs on its own: after every N calls to
    ``add()``. With ``every: 0`` it runs only when ``manage()`` is called.
    """

    every: int = Field(0, ge=0, description="Run after every N add() calls; 0: only on manage().")


class EmbedderConfig(StageConfig):
    """Base of embedder configurations."""


class LLMConfig(StageConfig):
    """Base of LLM configurations."""


def type_name(config_model: type[StageConfig]) -> str:
    """Return the single ``type`` literal a config model declares.

    Raises:
        TypeError: if the model's ``type`` field is not a one-value ``Literal``.
    """
    field = config_model.model_fields.get("type")
    annotation = getattr(field, "annotation", None)
    args = getattr(annotation, "__args__", ())
    if getattr(annotation, "__origin__", None) is not Literal or len(args) != 1:
        raise TypeError(
            f"{config_model.__name__}.type must be declared as Literal['name'] with one value"
        )
    return str(args[0])


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
"""What a pipeline name may be: it names the pipeline's data folder, so it is one plain
folder name (letters, digits, ``.``, ``_``, ``-``; a letter or digit first; at most 100
characters), never a path."""


def check_name(name: str) -> str:
    """Return ``name`` if it matches :data:`NAME_PATTERN`.

    Raises:
        ValueError: saying what a name may hold (pydantic turns it into a located problem).
    """
    if not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(
            "a name may use letters, digits, '.', '_' and '-' (a letter or digit first, at "
            "most 100 characters): it names the pipeline's data folder"
        )
    return name


class PipelineSpec(StrictModel):
    """Base of the pipeline model; ``Registry.pipeline_model()`` fills in the stage slots."""

    version: Literal[1] = Field(description="Pipeline file format version. Only 1 exists.")
    name: Annotated[str, AfterValidator(check_name)] = Field(
        description="Name of the pipeline, used in reports and as its data folder's name "
        "(letters, digits, '.', '_', '-').",
        json_schema_extra={"pattern": NAME_PATTERN},
    )
    description: str = Field("", description="What this pipeline is for.")
