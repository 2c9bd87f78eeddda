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
from dataclasses import dataclass
from typing import Annotated, Any, Literal

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

    Example:
        >>> from typing import Annotated
        >>> k: Annotated[int, Tunable(5, 100, log=True)] = 20
    """

    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None


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
