"""Plots of a search as PNG bytes: optimisation history, Pareto front, parameter importances.

Drawn with ``matplotlib.figure.Figure`` only (no pyplot, no global backend), like
:mod:`evolvelab.evaluation.plots`; matplotlib is the optional ``plots`` extra.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from evolvelab.errors import EvolveLabError
from evolvelab.evaluation.plots import PLOTS_HINT

__all__ = ["history_png", "importance_png", "pareto_png"]


def _figure(height: float = 3.6) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise EvolveLabError(PLOTS_HINT) from err
    return Figure(figsize=(6.4, height), dpi=100, layout="constrained")


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def history_png(
    points: Sequence[tuple[int, float]], metric: str, maximize: bool, base: float | None = None
) -> bytes:
    """Draw each trial's value and the best so far, by trial number.

    Args:
        points: ``(trial number, value)`` of the complete trials.
        metric: the objective's name (the y label).
        maximize: whether higher is better.
        base: the base pipeline's value, drawn as a dashed line.

    Raises:
        EvolveLabError: if matplotlib is missing.
    """
    figure = _figure()
    axes = figure.add_subplot()
    ordered = sorted(points)
    xs = [n for n, _ in ordered]
    ys = [v for _, v in ordered]
    best: list[float] = []
    for value in ys:
        best.append(value if not best else (max if maximize else min)(best[-1], value))
    axes.scatter(xs, ys, s=14, alpha=0.6, label="trial")
    axes.step(xs, best, where="post", color="black", linewidth=1.2, label="best so far")
    if base is not None:
        axes.axhline(base, linestyle="--", color="grey", linewidth=1, label=f"base {base:.4g}")
    axes.set_xlabel("trial")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.set_title("Optimisation history (train users)")
    axes.legend(fontsize="small", loc="lower right" if maximize else "upper right")
    return _png(figure)


def pareto_png(
    points: Sequence[tuple[int, Sequence[float]]],
    front: set[int],
    metrics: Sequence[str],
    base: Sequence[float] | None = None,
) -> bytes:
    """Draw the first two objectives of every trial, the Pareto front highlighted.

    Raises:
        EvolveLabError: if matplotlib is missing.
    """
    figure = _figure()
    axes = figure.add_subplot()
    rest = [(v[0], v[1]) for n, v in points if n not in front]
    best = sorted((v[0], v[1]) for n, v in points if n in front)
    if rest:
        axes.scatter(*zip(*rest, strict=True), s=14, alpha=0.4, label="trial")
    if best:
        axes.plot(*zip(*best, strict=True), marker="o", color="crimson", label="Pareto front")
    if base is not None:
        axes.scatter([base[0]], [base[1]], marker="*", s=120, color="black", label="base")
    axes.set_xlabel(metrics[0])
    axes.set_ylabel(metrics[1])
    axes.grid(alpha=0.3)
    axes.set_title("Pareto front (train users)")
    axes.legend(fontsize="small")
    return _png(figure)


def importance_png(importances: Mapping[str, float], metric: str) -> bytes:
    """Draw parameter importances as horizontal bars, most important on top.

    Raises:
        EvolveLabError: if matplotlib is missing.
    """
    items: list[tuple[str, Any]] = sorted(importances.items(), key=lambda kv: kv[1])[-15:]
    figure = _figure(height=max(2.4, 0.35 * len(items) + 1))
    axes = figure.add_subplot()
    axes.barh([name for name, _ in items], [value for _, value in items])
    axes.set_xlabel(f"importance for {metric} (PED-ANOVA)")
    axes.set_title("Parameter importances")
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)
