"""The data part of an evolve spec: which task stream(s), and how their users are split.

``dataset:`` (one stream) or ``datasets:`` (several, weighted) in an evolve spec; each
names its users' roles: train (search), validation (selection), test (report only), or
k folds (``split: {folds: k}``). See :mod:`evolvelab.search.spec` for the whole spec.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DatasetSpec", "Folds", "Split", "TaskSpec"]


class _Model(BaseModel):
    """Base of the spec models: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Split(_Model):
    """Which users (scopes) form one side of the split. Give exactly one key.

    Example:
        ```yaml
        train: {users: [conv-26, conv-30]}     # or {first: 4}, or {last: 2}
        ```
    """

    users: list[str] | None = Field(None, min_length=1, description="These user ids.")
    first: int | None = Field(None, ge=1, description="The first N users of the stream.")
    last: int | None = Field(None, ge=1, description="The last N users of the stream.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Split:
        given = [name for name in ("users", "first", "last") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of users, first or last")
        return self

    def pick(self, users: list[str]) -> list[str]:
        """Return the chosen user ids out of ``users`` (the stream's, in order)."""
        if self.users is not None:
            return list(self.users)
        if self.first is not None:
            return users[: self.first]
        assert self.last is not None
        return users[-self.last :]


class Folds(_Model):
    """k-fold over users: every trial is scored on each fold, and must hold on all of them.

    Example:
        ```yaml
        split: {folds: 3}        # the users (less any test users) dealt into 3 folds
        ```
    """

    folds: int = Field(ge=2, le=20, description="How many folds the users are dealt into.")


class DatasetSpec(_Model):
    """The task stream trials are scored on, and how its users are split.

    Three roles, each user in at most one: ``train`` users score every trial (the
    search), ``validation`` users pick the winner among the best trials (selection),
    and optional ``test`` users are touched once, at the end, for the report only. For
    small streams, ``split: {folds: k}`` replaces train and validation: the users are
    dealt into k folds, every trial is scored on each, and the winner must beat the base
    on every fold; its held-out gain is estimated by cross-validation.

    Example:
        ```yaml
        dataset:
          type: locomo
          path: ../../../shared/data/locomo/locomo-dev.json
          train: {first: 4}
          validation: {last: 2}
        ```
    """

    type: Literal["locomo", "goodai", "jsonl", "sample", "tasks"] = Field(
        description="locomo (JSON), goodai (a folder), jsonl (a stream file), sample (bundled), "
        "tasks (an experiential task stream, replayed task by task)."
    )
    path: str | None = Field(None, description="File or folder, relative to the spec file.")
    seed: int = Field(0, description="Interleaving seed (goodai only).")
    train: Split | None = Field(None, description="Users the search scores trials on.")
    validation: Split | None = Field(
        None,
        description="Users the winner is selected on (default: every user not in train or test).",
    )
    test: Split | None = Field(
        None, description="Users scored once at the end, for the report only (default: none)."
    )
    split: Folds | None = Field(
        None, description="k-fold over the users instead of train and validation."
    )
    limit: int | None = Field(
        None, ge=1, description="Ask only the first N questions of each evaluation (speed)."
    )
    order: Literal["end", "stream"] | None = Field(
        None, description="Ask questions after all events (end) or where they stand (stream)."
    )

    @model_validator(mode="after")
    def _path_and_split(self) -> DatasetSpec:
        if self.type != "sample" and not self.path:
            raise ValueError(f"dataset type {self.type!r} needs a path")
        if self.type == "sample" and self.path:
            raise ValueError("dataset type 'sample' is bundled: leave out path")
        if self.split is not None and (self.train or self.validation):
            raise ValueError("split: {folds: k} replaces train and validation: leave them out")
        if self.split is None and self.train is None:
            raise ValueError("give train users (train: {users: [...]}) or split: {folds: k}")
        named = [(side, set(getattr(self, side).users or ()))
                 for side in ("train", "validation", "test") if getattr(self, side)]  # fmt: skip
        for i, (side, users) in enumerate(named):
            for other, theirs in named[i + 1 :]:
                shared = sorted(users & theirs)
                if shared:
                    raise ValueError(
                        f"{other} users must not be {side} users (leak): {', '.join(shared)}"
                    )
        return self


class TaskSpec(DatasetSpec):
    """One of several task streams of a spec (``datasets:``), with its weight.

    The objective is the weighted mean over the datasets of each one's score on its own
    search users; the report breaks every number down per dataset.

    Example:
        ```yaml
        datasets:
          - {name: locomo, weight: 2, type: locomo, path: ../../../shared/data/locomo/locomo-dev.json,
             train: {first: 4}, validation: {last: 2}}
          - {name: goodai, type: goodai, path: ../../../shared/data/goodai-ltm,
             train: {first: 2}, validation: {last: 1}}
        ```
    """

    name: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="How reports name the dataset."
    )
    weight: float = Field(1.0, gt=0, description="Its weight in the objective (weighted mean).")
