"""What the evolver hands the LLM mutation operator about a finished trial.

:class:`TrialSummary` is one trial's pipeline, score and failure profile: recall by
category and a sample of :class:`Miss` records (the question, its gold evidence, and
what was retrieved instead). :class:`MutationResult` is what the operator returns.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Miss", "MutationResult", "TrialSummary"]


class _Model(BaseModel):
    """Base of the summary models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Miss(_Model):
    """A question the trial's pipeline answered badly (gold evidence outside the budget)."""

    question: str = Field(description="The question text.")
    category: str | None = Field(None, description="Category code or name, if the data has one.")
    gold: list[str] = Field(default_factory=list, description="Gold evidence event ids.")
    gold_text: list[str] = Field(default_factory=list, description="Text of those events.")
    retrieved: list[str] = Field(
        default_factory=list, description="Source event ids retrieved, in rank order."
    )
    retrieved_text: list[str] = Field(
        default_factory=list, description="Text of the retrieved notes, in rank order."
    )


class TrialSummary(_Model):
    """One finished trial: its pipeline, objective values and failure profile."""

    number: int = Field(description="Optuna trial number.")
    pipeline_yaml: str = Field(description="The trial's pipeline as YAML text.")
    params: dict[str, Any] = Field(default_factory=dict, description="Search-space parameters.")
    values: list[float] = Field(default_factory=list, description="Objective values, spec order.")
    objectives: list[str] = Field(
        default_factory=list,
        description="What each value is: metric, direction and unit (recall@10 (maximize, share)).",
    )
    recall: dict[str, float] = Field(
        default_factory=dict, description="Train recall per turn budget, keyed by k as text."
    )
    by_category: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per category code: {name, questions, recall: {k: r}} on the train users.",
    )
    misses: list[Miss] = Field(default_factory=list, description="A sample of missed questions.")


class MutationResult(_Model):
    """What the LLM mutation operator proposes."""

    pipeline: dict[str, Any] | None = Field(
        None, description="A validated pipeline mapping, or None when every repair failed."
    )
    diagnosis: dict[str, str] = Field(
        default_factory=dict, description="Defect diagnosis per stage (encode, retrieve, ...)."
    )
    rounds: int = Field(0, description="LLM rounds used (first proposal plus repairs).")
    errors: list[str] = Field(default_factory=list, description="Validation errors met on the way.")
    usage: dict[str, float] = Field(
        default_factory=dict,
        description="LLM calls, prompt/completion tokens and seconds the operator spent.",
    )
