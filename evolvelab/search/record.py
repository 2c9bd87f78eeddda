"""The trial record: what the evolver keeps on each Optuna trial, typed.

Optuna keeps a trial's extra data as JSON user attrs. Every attr the evolver writes is a
field of :class:`TrialRecord`, stored under ``evolvelab.<field>``;
:meth:`TrialRecord.to_attrs` writes them and :meth:`TrialRecord.from_trial` reads a
finished (or running) trial back, so no other module spells an attr key:

    >>> import optuna
    >>> study = optuna.create_study(direction="maximize")      # in memory
    >>> trial = study.ask()
    >>> train = Scores(users=["ana"], questions=28, metrics={"recall@10": 0.41})
    >>> TrialRecord.attrs(seconds=3.2)
    {'evolvelab.seconds': 3.2}
    >>> for key, value in TrialRecord.attrs(origin="sampler", train=train, seconds=3.2).items():
    ...     trial.set_user_attr(key, value)
    >>> _ = study.tell(trial, 0.41)
    >>> record = TrialRecord.from_trial(study.trials[0])
    >>> record.state, record.origin, record.train.metrics["recall@10"], record.seconds
    ('complete', 'sampler', 0.41, 3.2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evolvelab.errors import EvolveLabError

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = ["ATTR", "CategoryScores", "MissRef", "Scores", "TrialRecord"]

ATTR = "evolvelab."
"""Prefix of every user attr the evolver sets on trials and studies."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryScores(_Model):
    """Recall of one question category on the scored users."""

    name: str | None = Field(None, description="Readable name, e.g. temporal.")
    questions: int = Field(description="Questions scored.")
    recall: dict[str, float] = Field(default_factory=dict, description="Recall per turn budget.")


class MissRef(_Model):
    """A question whose gold evidence fell outside the budget, and what came back instead."""

    id: str = Field(description="Query id (the text is looked up in the dataset).")
    retrieved: list[str] = Field(default_factory=list, description="Source ids, rank order.")


class Scores(_Model):
    """One evaluation of a pipeline on one set of users (a split or a fold)."""

    users: list[str] = Field(description="The users (scopes) evaluated.")
    questions: int = Field(0, description="Questions scored.")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Every metric of the objectives table, by name."
    )
    by_category: dict[str, CategoryScores] = Field(
        default_factory=dict, description="Recall per category code."
    )
    misses: list[MissRef] = Field(
        default_factory=list, description="A sample of missed questions (for the mutation LLM)."
    )
    folds: list[dict[str, float]] = Field(
        default_factory=list,
        description="Per fold (k-fold splits): its metrics; ``metrics`` is their mean.",
    )
    tasks: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per dataset (several in the spec): its metrics; ``metrics`` is their "
        "weighted mean.",
    )


State = Literal["waiting", "running", "complete", "fail", "pruned"]


class TrialRecord(_Model):
    """One trial of a search: where it came from, what ran, how it scored.

    ``number``, ``state``, ``values`` and ``params`` are Optuna's own; every other field is
    a user attr ``evolvelab.<field>``.
    """

    number: int = Field(description="Optuna trial number.")
    state: State = Field("waiting", description="Optuna trial state, lower case.")
    values: list[float] | None = Field(None, description="Objective values, spec order.")
    params: dict[str, Any] = Field(default_factory=dict, description="Optuna-side parameters.")
    origin: str = Field("sampler", description="base, sampler or mutation.")
    base: str | None = Field(None, description="The base pipeline's label (origin base).")
    given: str | None = Field(None, description="A pipeline run as is (not from parameters).")
    mutation: int | None = Field(None, description="The LLM mutation attempt it came from.")
    diagnosis: dict[str, str] = Field(
        default_factory=dict, description="The mutation LLM's diagnosis per stage."
    )
    host: str | None = Field(None, description="Machine of the worker that ran it.")
    pid: int | None = Field(None, description="Process id of that worker.")
    yaml: str = Field("", description="The pipeline that ran (no header).")
    pipeline: str | None = Field(None, description="Its file, relative to the results folder.")
    train: Scores | None = Field(None, description="Scores on the search users.")
    seconds: float | None = Field(None, description="Wall time of the trial.")
    error: str | None = Field(None, description="Why it failed.")
    released: str | None = Field(
        None, description="Why its slot was put back (interrupted, worker died)."
    )

    @classmethod
    def attr_fields(cls) -> list[str]:
        """The fields stored as user attrs (all but Optuna's own)."""
        return [f for f in cls.model_fields if f not in ("number", "state", "values", "params")]

    @classmethod
    def attrs(cls, **fields: Any) -> dict[str, Any]:
        """Return user attrs for ``fields`` (validated, JSON-safe), keys prefixed.

        Raises:
            pydantic.ValidationError: for a field that does not exist or a wrong value.
        """
        record = cls.model_validate({"number": -1, **fields})
        data = record.model_dump(mode="json", include=set(fields))
        return {ATTR + key: value for key, value in data.items()}

    def to_attrs(self) -> dict[str, Any]:
        """Return every set attr field as Optuna user attrs (``evolvelab.<field>``)."""
        data = self.model_dump(mode="json", include=set(self.attr_fields()), exclude_unset=True)
        return {ATTR + key: value for key, value in data.items()}

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord:
        """Read a trial's record back from Optuna.

        Raises:
            EvolveLabError: if its attrs were written by an incompatible evolvelab.
        """
        return cls.from_attrs(
            trial.number,
            trial.user_attrs,
            state=trial.state.name.lower(),
            values=list(trial.values) if trial.values else None,
            params=dict(trial.params),
        )

    @classmethod
    def from_attrs(cls, number: int, attrs: Mapping[str, Any], **optuna: Any) -> TrialRecord:
        """Read a record from a trial's user attrs (a running trial's, say).

        Raises:
            EvolveLabError: if the attrs were written by an incompatible evolvelab.
        """
        fields = {
            key.removeprefix(ATTR): value
            for key, value in attrs.items()
            if key.startswith(ATTR) and key.removeprefix(ATTR) in cls.attr_fields()
        }
        try:
            return cls.model_validate({"number": number, **optuna, **fields})
        except ValidationError as err:
            raise EvolveLabError(
                f"trial {number} holds attrs this version cannot read (written by an "
                f"older evolvelab?); use another --study name: {err.errors()[0]['msg']}"
            ) from err

    @property
    def complete(self) -> bool:
        """Whether it finished with values (and was not put back)."""
        return self.state == "complete" and bool(self.values) and self.released is None
