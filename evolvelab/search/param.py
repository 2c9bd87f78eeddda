"""One searched parameter: its name, its range or choices, and its Optuna distribution.

Values cross two worlds. In the pipeline a value is what the YAML holds (``[bm25,
vector]``, ``0.7``); in Optuna a categorical choice must be ``None``, a bool, a number or
a string, so list and mapping choices travel as compact JSON text. Floats are rounded
to four significant digits on their way into a pipeline, so every trial's YAML reads
cleanly and re-loads to exactly the configuration that was scored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.trial import Trial

__all__ = ["Param", "round_float"]

DIGITS = 4
"""Significant digits kept of a searched float."""


def round_float(value: float) -> float:
    """Round ``value`` to :data:`DIGITS` significant digits (``0.723498`` → ``0.7235``)."""
    return float(f"{value:.{DIGITS}g}") if math.isfinite(value) else value


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Param:
    """A searched parameter.

    Attributes:
        name: the Optuna parameter name: the YAML path (``retrieve[0].k``), with
            `` (type)`` when the slot's type is searched too and ``base:`` when there
            are several base pipelines.
        low: smallest value of a numeric range.
        high: largest value of a numeric range.
        log: sample the range on a log scale.
        step: grid step of the range.
        integer: whether the range holds whole numbers.
        choices: the allowed pipeline values of a categorical parameter.
    """

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    @property
    def categorical(self) -> bool:
        """Whether the parameter picks from ``choices``."""
        return self.choices is not None

    def distribution(self) -> BaseDistribution:
        """Return the Optuna distribution of this parameter."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.choices is not None:
            return CategoricalDistribution([_encode(c) for c in self.choices])
        assert self.low is not None and self.high is not None
        if self.integer:
            step = 1 if self.log else int(self.step or 1)
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=step)
        return FloatDistribution(
            self.low, self.high, log=self.log, step=None if self.log else self.step
        )

    def suggest(self, trial: Trial) -> Any:
        """Ask ``trial`` for a value and return it as the pipeline holds it."""
        distribution = self.distribution()
        if self.choices is not None:
            raw = trial.suggest_categorical(self.name, distribution.choices)  # type: ignore[attr-defined]
        else:
            suggest = trial.suggest_int if self.integer else trial.suggest_float
            raw = suggest(
                self.name,
                distribution.low,  # type: ignore[attr-defined]
                distribution.high,  # type: ignore[attr-defined]
                step=distribution.step,  # type: ignore[attr-defined]
                log=self.log,
            )
        return self.decode(raw)

    def encode(self, value: Any) -> Any:
        """Return ``value`` (a pipeline value) as Optuna stores it."""
        if self.choices is not None:
            return _encode(value)
        return int(value) if self.integer else float(value)

    def decode(self, raw: Any) -> Any:
        """Return an Optuna value as the pipeline holds it."""
        if self.choices is not None:
            for choice in self.choices:
                if _encode(choice) == raw:
                    return choice
            return raw
        if self.integer:
            return int(raw)
        return round_float(float(raw))

    def contains(self, value: Any) -> bool:
        """Whether ``value`` (a pipeline value) lies in this parameter's space."""
        if self.choices is not None:
            return any(_encode(c) == _encode(value) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and value != int(value):
            return False
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            return False
        if self.step and not self.log:
            steps = (value - self.low) / self.step
            return abs(steps - round(steps)) < 1e-9
        return True

    def widened(self, value: Any) -> Param:
        """Return this parameter stretched to contain ``value`` (the base's own value)."""
        if (value is None and self.choices is None) or self.contains(value):
            return self
        if self.choices is not None:
            return replace(self, choices=(*self.choices, value))
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self
        if self.log and value <= 0:
            return self
        assert self.low is not None and self.high is not None
        low, high = min(self.low, value), max(self.high, value)
        step = self.step
        if step and abs((value - low) / step - round((value - low) / step)) > 1e-9:
            step = None if not self.integer else 1
        return replace(self, low=low, high=high, step=step)

    def describe(self) -> str:
        """Render the range or choices for people: ``5..100 log``, ``{rrf, score}``."""
        if self.choices is not None:
            return "{" + ", ".join(_show(c) for c in self.choices) + "}"
        low = int(self.low) if self.integer else self.low  # type: ignore[arg-type]
        high = int(self.high) if self.integer else self.high  # type: ignore[arg-type]
        text = f"{low}..{high}"
        if self.log:
            text += " log"
        if self.step and not self.log:
            text += f" step {self.step:g}"
        return text
