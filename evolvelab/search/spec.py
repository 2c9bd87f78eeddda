"""The evolve spec: what ``evolvelab evolve SPEC.yaml`` searches, on which data, for what.

A spec names the base pipeline(s), the dataset and its train / validation split (trials
are scored on train users only; validation users are never seen during the search), the
objectives, the sampler, the budget, search-space overrides and the LLM mutation
settings. Paths in it are relative to the spec file. Problems are reported like pipeline
problems, ``file:line:col: path: message``, all at once::

    version: 1
    name: sample
    base: [../hybrid.yaml]
    dataset: {type: sample, train: {users: [ana]}, validation: {users: [ben]}}
    objectives: [{metric: recall@10}]
    trials: 30
    space:
      retrieve[0].k: {low: 10, high: 40}
"""

from __future__ import annotations

from collections.abc import Mapping
from math import isfinite
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from evolvelab.config import NAME_PATTERN, check_name
from evolvelab.errors import ConfigError, Problem, closest
from evolvelab.loader import Located
from evolvelab.search.dataspec import DatasetSpec, Folds, Split, TaskSpec, _Model

if TYPE_CHECKING:
    from evolvelab.config import LLMConfig
    from evolvelab.registry import Registry
    from evolvelab.search.objectives import ObjectiveTable

__all__ = [
    "TaskSpec",
    "AutoSpec",
    "DatasetSpec",
    "EvolveSpec",
    "Folds",
    "MutationSpec",
    "Objective",
    "SamplerSpec",
    "SelectSpec",
    "SpaceEntry",
    "Split",
    "error_message",
]

def _table(info: ValidationInfo) -> ObjectiveTable:
    """Return the objectives table to check names against (the validation context's)."""
    from evolvelab.search.objectives import objective_table

    registry = (info.context or {}).get("registry")
    return objective_table(registry)


class SelectSpec(_Model):
    """How the winner is chosen among the trials (single objective).

    The ``top`` best trials on the search users and the base pipeline(s) are the
    finalists; the one best on the validation users (with folds: best mean among those
    at least as good as the base on every fold) wins. Scores within ``tolerance`` of
    each other are a tie, broken toward the cheaper pipeline (ingest time, search time,
    LLM tokens, measured on the same users), so a slower pipeline with no held-out gain
    loses to the base.

    Example:
        ```yaml
        select: {top: 5, tolerance: 0.005}
        ```
    """

    top: int = Field(5, ge=1, le=50, description="Best trials on the search users to finalise.")
    tolerance: float = Field(
        0.0, ge=0.0, description="Score differences up to this much count as ties."
    )


class Objective(_Model):
    """One thing to optimise, measured on the search users.

    ``metric`` is a name of the objectives table (:mod:`evolvelab.search.objectives`):
    the built-ins ``recall@K``, ``hit@K``, ``mrr``, ``search_p50``, ``search_p95``,
    ``llm_tokens``, ``ingest_seconds``, and any a plugin registers. Without a
    ``direction``, scores are maximised and costs minimised.

    Example:
        ```yaml
        objectives:
          - {metric: recall@10}                            # maximize by default
          - {metric: search_p95, direction: minimize}
        ```
    """

    metric: str = Field(
        description="recall@K, hit@K, mrr, search_p50, search_p95, llm_tokens, "
        "ingest_seconds, or a plugin's metric."
    )
    direction: Literal["maximize", "minimize"] = Field(
        description="Default: the metric's natural direction (maximize scores, minimize costs)."
    )

    @model_validator(mode="before")
    @classmethod
    def _natural_direction(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping) or data.get("direction") is not None:
            return data
        metric, table = data.get("metric"), _table(info)
        if isinstance(metric, str) and table.problem(metric) is None:
            return {**data, "direction": table.direction(metric)}
        return {**data, "direction": "maximize"}  # the metric's own error is reported

    @field_validator("metric")
    @classmethod
    def _known(cls, metric: str, info: ValidationInfo) -> str:
        problem = _table(info).problem(metric)
        if problem is not None:
            raise ValueError(problem)
        return metric

    @property
    def goal(self) -> Literal["maximize", "minimize"]:
        """The direction (explicit or the metric's natural one)."""
        return self.direction


class SamplerSpec(_Model):
    """How trials are proposed.

    Example:
        ```yaml
        sampler: {type: tpe, seed: 7, startup_trials: 8}
        ```
    """

    type: Literal["tpe", "nsga2", "random"] | None = Field(
        None, description="Default: tpe for one objective, nsga2 for several."
    )
    seed: int = Field(
        0,
        ge=0,
        le=2**31 - 1,
        description="Search seed (0 to 2**31 - 1); trial n's sampler is seeded from (seed, n).",
    )
    startup_trials: int = Field(10, ge=0, description="TPE: random trials before modelling.")
    population: int = Field(20, ge=2, description="NSGA-II: population size.")


class SpaceEntry(_Model):
    """Narrow, extend or pin one search-space parameter. Give one form.

    Forms: ``{low, high, log, step}`` (a numeric range; ``low`` or ``high`` alone narrows a
    declared range), ``{choices: [...]}``, ``{value: X}`` (pinned: not searched).

    Example:
        ```yaml
        space:
          retrieve[0].k: {low: 10, high: 40}
          retrieve[0].weights: {low: 0.1, high: 2.0}
          retrieve[1].type: {choices: [null, neighbours]}
          store.bm25_b: {value: 0.75}
        ```
    """

    low: float | None = Field(None, description="Smallest value.")
    high: float | None = Field(None, description="Largest value.")
    log: bool | None = Field(None, description="Sample on a log scale.")
    step: float | None = Field(None, gt=0, description="Grid step.")
    choices: list[Any] | None = Field(None, min_length=1, description="Allowed values.")
    value: Any = Field(None, description="Pin to this value.")

    @model_validator(mode="after")
    def _one_form(self) -> SpaceEntry:
        numeric = any(v is not None for v in (self.low, self.high, self.log, self.step))
        forms = [numeric, self.choices is not None, self.pinned]
        if sum(forms) != 1:
            raise ValueError("give one of {low, high, log, step}, {choices: [...]} or {value: X}")
        odd = [v for v in (self.low, self.high, self.step) if v is not None and not isfinite(v)]
        if odd:
            raise ValueError(f"bounds must be finite numbers (got {odd[0]})")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self

    @property
    def pinned(self) -> bool:
        """Whether this entry pins a value (``{value: null}`` pins ``None``: an empty slot)."""
        return "value" in self.model_fields_set


class MutationSpec(_Model):
    """The LLM mutation operator (off without an LLM).

    Example:
        ```yaml
        mutation:
          every: 10
          llm: {type: openai, model: gpt-4o-mini, api_key: {$env: OPENAI_API_KEY}}
        ```
    """

    enabled: bool = Field(True, description="Use it when an LLM is configured.")
    every: int = Field(10, ge=1, description="Propose a pipeline after every N finished trials.")
    llm: dict[str, Any] | None = Field(
        None, description="The LLM, as in a pipeline's llm slot (default: none, mutation off)."
    )
    repairs: int = Field(2, ge=0, description="Repair rounds when a proposal does not validate.")
    top: int = Field(3, ge=1, description="How many of the best trials the LLM is shown.")
    misses: int = Field(8, ge=0, le=10, description="Missed questions shown per trial.")


class AutoSpec(_Model):
    """``space: auto``: search the architecture, derived from the registry.

    See :mod:`evolvelab.search.auto`. Entries in ``space`` still apply on top (narrow,
    pin or extend what ``auto`` derives).

    Example:
        ```yaml
        auto: {refiners: 2, manage: 1, encoders: true, exclude: [guard], embedders: [minilm]}
        ```
    """

    refiners: int = Field(2, ge=0, le=4, description="Optional refiner slots after the chain.")
    manage: int = Field(1, ge=0, le=3, description="Optional manage slots.")
    encoders: bool = Field(True, description="Let the first encoder be swapped for another.")
    drop: bool = Field(True, description="Let the base's own refiners be dropped.")
    include: list[str] | None = Field(
        None, description="Only these stage types may join (default: every registered type)."
    )
    exclude: list[str] = Field(default_factory=list, description="Stage types that may not join.")
    embedders: list[str] = Field(
        default_factory=list,
        description="Embedder types to try in place of each base's: each makes a variant of "
        "the base (chosen first), in which stages that need vectors may join.",
    )


SPEC_NAME_MAX = 80
"""The longest spec name: 20 characters are left for the names derived from it
(``<name>-evolved``, ``<name>-p0001``), which must be valid pipeline names too."""


def _spec_name(name: str) -> str:
    """Check a spec name like a pipeline name, leaving room for derived suffixes."""
    if len(name) > SPEC_NAME_MAX:
        raise ValueError(
            f"a spec name is at most {SPEC_NAME_MAX} characters: the evolved pipelines are "
            "named after it ('<name>-evolved', '<name>-p0001')"
        )
    try:
        return check_name(name)
    except ValueError:
        raise ValueError(
            "a spec name may use letters, digits, '.', '_' and '-' (a letter or digit "
            "first): the evolved pipelines are named after it ('<name>-evolved'), and a "
            "pipeline's name is its data folder's"
        ) from None


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class EvolveSpec(_Model):
    """An evolve spec file (``version: 1``)."""

    version: Literal[1] = Field(description="Spec format version. Only 1 exists.")
    name: Annotated[str, AfterValidator(_spec_name)] = Field(
        description="Name of the search (default study name); the evolved pipelines are named "
        f"after it, so it is a plain name (letters, digits, '.', '_', '-'; at most "
        f"{SPEC_NAME_MAX} characters).",
        json_schema_extra={"pattern": NAME_PATTERN, "maxLength": SPEC_NAME_MAX},
    )
    description: str = Field("", description="What the search is for.")
    base: Annotated[list[str], BeforeValidator(_listify)] = Field(
        min_length=1, description="Base pipeline file(s), relative to the spec; trial 0 each."
    )
    dataset: DatasetSpec | None = Field(None, description="The task stream and its split.")
    datasets: list[TaskSpec] | None = Field(
        None, min_length=1, description="Several task streams with weights (instead of dataset)."
    )
    objectives: list[Objective] = Field(
        default_factory=lambda: [Objective(metric="recall@10")],
        min_length=1,
        description="What to optimise, in order (the first one ranks single-objective runs).",
    )
    sampler: SamplerSpec = Field(default_factory=SamplerSpec, description="The sampler.")
    select: SelectSpec = Field(
        default_factory=SelectSpec, description="How the winner is chosen among the trials."
    )
    trials: int = Field(50, ge=1, description="Trial budget of the study (all workers together).")
    timeout_s: float | None = Field(
        None, gt=0, description="Stop starting trials after this many seconds (per process)."
    )
    declared: bool = Field(
        True, description="Search the ranges stages declare (Tunable); false: only `space`."
    )
    space: dict[str, SpaceEntry] = Field(
        default_factory=dict,
        description="Overrides and additions, keyed by parameter name; `auto`: see auto.",
    )
    auto: AutoSpec | None = Field(
        None, description="Search the architecture too (`space: auto` is `auto: {}`)."
    )
    mutation: MutationSpec = Field(default_factory=MutationSpec, description="LLM mutation.")
    storage: str | None = Field(
        None, description="Optuna storage URL or journal file (default: OUT/study.journal)."
    )
    study: str | None = Field(None, description="Study name (default: the spec's name).")

    @field_validator("objectives")
    @classmethod
    def _distinct(cls, objectives: list[Objective]) -> list[Objective]:
        names = [o.metric for o in objectives]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"{', '.join(twice)} is named twice: each objective is one column of the "
                "results, so name each metric once"
            )
        return objectives

    @model_validator(mode="before")
    @classmethod
    def _space_auto(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("space") == "auto":
            return {**data, "space": {}, "auto": data.get("auto") or {}}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> EvolveSpec:
        if (self.dataset is None) == (self.datasets is None):
            raise ValueError("give dataset (one task stream) or datasets (several), not both")
        if self.datasets is not None:
            names = [t.name for t in self.datasets]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"dataset names must differ: {', '.join(twice)}")
            if len(self.datasets) > 1 and any(t.split is not None for t in self.datasets):
                raise ValueError("split: {folds: k} works with one dataset; give train users")
        return self

    @property
    def tasks(self) -> list[tuple[str, float, DatasetSpec, tuple[str | int, ...]]]:
        """Each task stream: its name, weight, settings and where the spec holds it."""
        if self.datasets is not None:
            return [(t.name, t.weight, t, ("datasets", i)) for i, t in enumerate(self.datasets)]
        assert self.dataset is not None
        return [(self.dataset.type, 1.0, self.dataset, ("dataset",))]

    _folder: Path = PrivateAttr(default_factory=Path)
    _located: Located | None = PrivateAttr(default=None)

    @property
    def folder(self) -> Path:
        """The folder of the spec file (relative paths start here)."""
        return self._folder

    @property
    def located(self) -> Located | None:
        """Positions of the spec file's keys and values, when read from a file."""
        return self._located

    def resolve(self, path: str) -> Path:
        """Return ``path`` resolved against the spec file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self._folder / candidate

    @property
    def study_name(self) -> str:
        """The study name: ``study`` or the spec's ``name``."""
        return self.study or self.name

    @property
    def directions(self) -> list[str]:
        """One Optuna direction per objective."""
        return [objective.goal for objective in self.objectives]

    def problem(self, path: tuple[str | int, ...], message: str, **kw: Any) -> Problem:
        """Make a problem positioned at ``path`` in the spec file (when known)."""
        if self._located is None:
            return Problem("<spec>", path, message, **kw)
        return self._located.problem(path, message, **kw)

    def mutation_llm(self, registry: Registry) -> LLMConfig | None:
        """Return the validated mutation LLM config, or ``None`` when mutation is off.

        Raises:
            ConfigError: for an invalid ``mutation.llm`` (positions in the spec file).
        """
        raw = self.mutation.llm
        if not self.mutation.enabled or raw is None or raw.get("type") == "none":
            return None
        field = _llm_field(registry)
        try:
            config = TypeAdapter(Annotated[field.annotation, field]).validate_python(raw)
        except ValidationError as err:
            raise ConfigError(
                [self._llm_problem(e, registry) for e in err.errors(include_url=False)]
            ) from err
        return config  # type: ignore[no-any-return]

    def _llm_problem(self, error: Mapping[str, Any], registry: Registry) -> Problem:
        loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
        path = ("mutation", "llm", *loc[1:])
        raw = self.mutation.llm or {}
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            names = tuple(registry.names("llm"))
            return self.problem(
                (*path, "type"),
                f"unknown llm type {raw.get('type')!r}",
                allowed=names,
                suggestion=closest(str(raw.get("type")), names),
            )
        if error["type"] == "extra_forbidden" and raw.get("type") in registry.names("llm"):
            fields = tuple(registry.get("llm", raw["type"]).cls.config_model.model_fields)
            return self.problem(
                path,
                f"unknown field for llm '{raw['type']}'",
                at_key=True,
                allowed=fields,
                suggestion=closest(str(loc[-1]), fields),
            )
        return self.problem(path, error_message(error))


def _llm_field(registry: Registry) -> Any:
    return registry.pipeline_model().model_fields["llm"]


def error_message(error: Mapping[str, Any]) -> str:
    """Return a pydantic error's message in the project's style (lower case, no prefix)."""
    text = str(error["msg"]).removeprefix("Value error, ")
    return text[:1].lower() + text[1:]
