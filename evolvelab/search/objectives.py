"""The objectives table: every metric a search may optimise, defined once.

A :class:`Metric` says how to read one number off an evaluation report, which way is
better, its unit, and whether it is a *cost* (ties between equally good pipelines go to
the cheaper one). The :class:`ObjectiveTable` holds the built-in metrics plus those
plugins add through the ``register_objectives`` hook, and everything in the evolver asks
it: the spec (which names exist, their default direction), trial scoring, the results
files, the report and the mutation prompt. A metric with ``budget=True`` takes a turn
budget: ``recall@10`` is ``recall`` read at ``k = 10``.

    >>> table = objective_table()
    >>> table.direction("recall@10"), table.unit("search_p95")
    ('maximize', 'ms')

Reading a report of BM25 on the bundled sample stream (user ana):

    >>> import shutil, tempfile
    >>> from evolvelab import Memory
    >>> from evolvelab.datasets import load_jsonl
    >>> from evolvelab.datasets.sample import sample_path
    >>> from evolvelab.evaluation import evaluate
    >>> spec = '''
    ... version: 1
    ... name: bm25
    ... embedder: {type: none}
    ... encode: [{type: turn, speaker: true}]
    ... store: {type: memory}
    ... retrieve: [{type: bm25, k: 20}]
    ... '''
    >>> folder = tempfile.mkdtemp()
    >>> with Memory.from_text(spec, data_dir=folder) as memory:
    ...     report = evaluate(memory, load_jsonl(sample_path()), scopes=["ana"], ks=[5, 10])
    >>> round(table.read(report, "recall@10"), 2), round(table.read(report, "hit@10"), 2)
    (0.41, 0.43)
    >>> table.read(report, "recall@20")
    Traceback (most recent call last):
        ...
    evolvelab.errors.EvolveLabError: the report has no recall@20 (budgets: 5, 10)
    >>> shutil.rmtree(folder)

A plugin adds one by returning it from the hook::

    @hookimpl
    def register_objectives():
        return [Metric("task_success", read=lambda report, k: ..., direction="maximize",
                       unit="share", description="Share of tasks the agent solved.")]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from evolvelab.errors import EvolveLabError, PluginError

if TYPE_CHECKING:
    from evolvelab.evaluation import EvalReport
    from evolvelab.registry import Registry

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_BUDGETS",
    "MAX_BUDGET",
    "Direction",
    "Metric",
    "ObjectiveTable",
    "objective_table",
]

Direction = Literal["maximize", "minimize"]
Reader = Callable[["EvalReport", "int | None"], "float | None"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REF = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)(?:@(?P<k>[1-9]\d*))?$")

MAX_BUDGET = 1000
"""The largest turn budget an objective may name (``recall@1000``)."""

DEFAULT_BUDGETS = (1, 5, 10, 20)
"""The turn budgets every evaluation reports (plus any an objective names)."""


@dataclass(frozen=True)
class Metric:
    """One metric a search can optimise or report.

    Attributes:
        name: the name objectives use (``recall``; written ``recall@10`` when ``budget``).
        read: returns the value from an evaluation report, given the turn budget (``None``
            for metrics without one); ``None`` when the report does not hold it.
        direction: which way is better.
        unit: what the number counts (``share``, ``ms``, ``s``, ``tokens``).
        description: one line for people (spec errors, docs, the mutation prompt).
        budget: whether the name takes ``@K``.
        cost: whether it measures a cost; among equally good pipelines the one with the
            lower costs is selected.

    Example:
        >>> mrr = Metric("mrr", read=lambda r, k: r.mrr, direction="maximize", unit="share",
        ...              description="Mean reciprocal rank of the first gold turn.")
        >>> mrr.budget, mrr.cost        # read once per report, not per turn budget; not a cost
        (False, False)
    """

    name: str
    read: Reader
    direction: Direction
    unit: str
    description: str
    budget: bool = False
    cost: bool = False

    @property
    def pattern(self) -> str:
        """The name as a spec writes it: ``recall@K`` or ``mrr``."""
        return f"{self.name}@K" if self.budget else self.name


def _at(table: str) -> Reader:
    def read(report: EvalReport, k: int | None) -> float | None:
        scores = getattr(report, table)  # None: a report without this table (task streams only)
        value = None if scores is None else scores.get(str(k))
        return None if value is None else float(value)

    return read


def _task_success(report: EvalReport, k: int | None) -> float | None:
    return None if report.experience is None else report.experience.success_rate


BUILTIN_METRICS: tuple[Metric, ...] = (
    Metric("recall", _at("recall"), "maximize", "share",
           "Mean share of a question's gold turns found in the first K turns.", budget=True),
    Metric("hit", _at("hit"), "maximize", "share",
           "Share of questions with a gold turn in the first K turns.", budget=True),
    Metric("mrr", lambda r, k: float(r.mrr or 0.0), "maximize", "share",
           "Mean reciprocal rank of the first gold turn."),
    Metric("search_p50", lambda r, k: float(r.search_ms.p50 or 0.0), "minimize", "ms",
           "Median search latency.", cost=True),
    Metric("search_p95", lambda r, k: float(r.search_ms.p95 or 0.0), "minimize", "ms",
           "95th percentile search latency.", cost=True),
    Metric("llm_tokens", lambda r, k: float(r.llm.prompt_tokens + r.llm.completion_tokens),
           "minimize", "tokens", "LLM prompt and completion tokens of the run.", cost=True),
    Metric("ingest_seconds", lambda r, k: float(r.ingest.seconds), "minimize", "s",
           "Seconds spent ingesting the stream.", cost=True),
    Metric("helpful_recall", _at("helpful_recall"), "maximize", "share",
           "Task streams: share of a task's helpful past episodes among the first K episodes "
           "supplied (of at most K).", budget=True),
    Metric("misleading_rate", _at("misleading_rate"), "minimize", "share",
           "Task streams: share of the first K episodes supplied that mislead the task.",
           budget=True),
    Metric("task_success", _task_success, "maximize", "share",
           "Task streams: share of tasks whose fed-back outcome succeeded."),
)  # fmt: skip
"""The metrics every search knows."""


class ObjectiveTable:
    """The metrics a search knows, by name.

    Args:
        metrics: the metrics (built-ins first, then plugins'); names must be unique.

    Raises:
        PluginError: for a duplicate or malformed name.
    """

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics: dict[str, Metric] = {}
        for metric in metrics:
            if not isinstance(metric, Metric):
                raise PluginError(f"register_objectives() returned {metric!r}, not a Metric")
            if not _NAME.match(metric.name):
                raise PluginError(
                    f"objective name {metric.name!r} must be lower case letters, digits and _"
                )
            if metric.name in self._metrics:
                raise PluginError(f"objective {metric.name!r} is registered twice")
            self._metrics[metric.name] = metric

    @property
    def metrics(self) -> list[Metric]:
        """Every metric, in registration order."""
        return list(self._metrics.values())

    def patterns(self) -> list[str]:
        """The names as a spec writes them (``recall@K``, ``mrr``...)."""
        return [m.pattern for m in self._metrics.values()]

    def problem(self, name: str) -> str | None:
        """Return why ``name`` is not a valid objective, or ``None`` when it is."""
        match = _REF.match(name)
        metric = self._metrics.get(match["name"]) if match else None
        allowed = ", ".join(self.patterns())
        if match is None or metric is None:
            return f"unknown metric {name!r}; allowed: {allowed}"
        if metric.budget and match["k"] is None:
            return f"{metric.name} takes a turn budget: write {metric.name}@10"
        if not metric.budget and match["k"] is not None:
            return f"{metric.name} takes no turn budget: write {metric.name}"
        if match["k"] is not None and int(match["k"]) > MAX_BUDGET:
            return (
                f"the turn budget K of {metric.name}@K is at most {MAX_BUDGET} "
                f"(got {match['k']})"
            )
        return None

    def lookup(self, name: str) -> tuple[Metric, int | None]:
        """Return the metric ``name`` refers to and its turn budget.

        Raises:
            EvolveLabError: for a name the table does not know.
        """
        problem = self.problem(name)
        if problem is not None:
            raise EvolveLabError(problem)
        match = _REF.match(name)
        assert match is not None
        return self._metrics[match["name"]], int(match["k"]) if match["k"] else None

    def direction(self, name: str) -> Direction:
        """Return the natural direction of ``name``: scores up, costs down."""
        return self.lookup(name)[0].direction

    def unit(self, name: str) -> str:
        """Return the unit of ``name``."""
        return self.lookup(name)[0].unit

    def read(self, report: EvalReport, name: str) -> float:
        """Return ``name``'s value in ``report``.

        Raises:
            EvolveLabError: if the report lacks it (a turn budget that was not evaluated).
        """
        metric, k = self.lookup(name)
        value = metric.read(report, k)
        if value is None:
            shown = f" (budgets: {', '.join(map(str, report.ks))})" if metric.budget else ""
            raise EvolveLabError(f"the report has no {name}{shown}")
        return float(value)

    def budgets(self, names: Sequence[str]) -> list[int]:
        """Return the turn budgets to evaluate: the defaults plus any of ``names`` uses."""
        extra = {k for name in names for k in [self.lookup(name)[1]] if k is not None}
        return sorted(set(DEFAULT_BUDGETS) | extra)

    def costs(self) -> list[str]:
        """Return the cost metrics' names (the tie-breakers of selection)."""
        return [m.name for m in self._metrics.values() if m.cost]

    def scores(self, report: EvalReport, names: Sequence[str] = ()) -> dict[str, float]:
        """Return every metric the report holds, by name: ``names`` first, then the rest.

        Budgeted metrics appear at every turn budget of the report. Train and validation
        scores are both made here, so they always carry the same names.
        """
        out: dict[str, float] = {}
        for name in names:
            out[name] = self.read(report, name)
        for metric in self._metrics.values():
            for k in report.ks if metric.budget else [None]:
                key = f"{metric.name}@{k}" if k is not None else metric.name
                if key not in out:
                    value = metric.read(report, k)
                    if value is not None:
                        out[key] = float(value)
        return out


@cache
def _table(metrics: tuple[Metric, ...]) -> ObjectiveTable:
    return ObjectiveTable(metrics)


def objective_table(registry: Registry | None = None) -> ObjectiveTable:
    """Return the table of ``registry``: the built-ins plus what plugins register.

    A plugin whose ``register_objectives`` hook raises is reported and skipped (in strict
    mode, raised), like a plugin whose stage types cannot register.

    Raises:
        PluginError: for a plugin metric that is malformed or clashes with another.
    """
    if registry is None:
        return _table(BUILTIN_METRICS)
    added = tuple(
        metric
        for _, items in registry.contributions("register_objectives")
        for metric in items
    )
    return _table(BUILTIN_METRICS + added)
