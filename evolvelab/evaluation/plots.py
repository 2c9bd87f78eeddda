"""Plots of evaluation reports as PNG bytes (matplotlib, an optional extra).

Install with ``pip install 'evolvelab[plots]'``. Only ``matplotlib.figure.Figure`` is used
(no pyplot, no global backend), so drawing here never changes a caller's matplotlib state.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Sequence
from typing import Any

from evolvelab.errors import EvolveLabError
from evolvelab.evaluation.schema import EvalReport

__all__ = ["PLOTS_HINT", "category_png", "latency_png", "plots_available", "recall_curve_png"]

PLOTS_HINT = "plots need matplotlib: pip install 'evolvelab[plots]'"
"""What to tell a user who has no matplotlib."""


def plots_available() -> bool:
    """Return whether matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def _figure(width: float = 6.4, height: float = 3.6) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise EvolveLabError(PLOTS_HINT) from err
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _label(report: EvalReport, reports: Sequence[EvalReport]) -> str:
    names = [r.pipeline for r in reports]
    return report.pipeline if names.count(report.pipeline) == 1 else f"{report.pipeline} ({report.data})"


def recall_curve_png(reports: Sequence[EvalReport]) -> bytes:
    """Draw recall@k (turn budget) against k, one line per report.

    Raises:
        EvolveLabError: if matplotlib is missing.
    """
    figure = _figure()
    axes = figure.add_subplot()
    for report in reports:
        ks = [int(k) for k in report.recall]
        axes.plot(ks, [report.recall[str(k)] for k in ks], marker="o", label=_label(report, reports))
    axes.set_xlabel("k (turn budget)")
    axes.set_ylabel("recall@k")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.set_title("Evidence recall by turn budget")
    axes.legend(loc="lower right", fontsize="small")
    return _png(figure)


def category_png(report: EvalReport) -> bytes:
    """Draw recall@k per question category, one bar per k.

    Raises:
        EvolveLabError: if matplotlib is missing.
    """
    figure = _figure()
    axes = figure.add_subplot()
    codes = list(report.by_category)
    ks = [str(k) for k in report.ks] or list(report.recall)
    width = 0.8 / max(len(ks), 1)
    for i, k in enumerate(ks):
        xs = [c + (i - (len(ks) - 1) / 2) * width for c in range(len(codes))]
        axes.bar(xs, [report.by_category[c].recall.get(k, 0.0) for c in codes], width, label=f"@{k}")
    labels = [f"{c}\n{report.by_category[c].name}" if report.by_category[c].name else c for c in codes]
    crowded = len(codes) > 6 or any(len(label) > 14 for label in labels)
    axes.set_xticks(range(len(codes)), [label.replace("\n", " ") if crowded else label
                                        for label in labels], fontsize="small",
                    rotation=30 if crowded else 0, ha="right" if crowded else "center")  # fmt: skip
    axes.set_ylabel("recall")
    axes.set_ylim(0, 1)
    axes.grid(axis="y", alpha=0.3)
    axes.set_title("Recall by category")
    axes.legend(fontsize="small", ncols=len(ks))
    return _png(figure)


def latency_png(report: EvalReport) -> bytes:
    """Draw the histogram of search latency (log-spaced bins, log axis), p50 and p95 marked.

    Raises:
        EvolveLabError: if matplotlib is missing, or the report has no histogram.
    """
    histogram = report.search_ms.histogram
    if histogram is None:
        raise EvolveLabError("the report has no latency histogram (no query was asked)")
    figure = _figure()
    axes = figure.add_subplot()
    edges = histogram.edges
    widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    axes.bar(edges[:-1], histogram.counts, widths, align="edge", edgecolor="white")
    for name, style in (("p50", "--"), ("p95", ":")):
        value = getattr(report.search_ms, name)
        if value is not None:
            axes.axvline(value, linestyle=style, color="black", linewidth=1,
                         label=f"{name} {value:.1f} ms")  # fmt: skip
    axes.set_xscale("log")
    axes.legend(fontsize="small")
    axes.set_xlabel("search latency (ms, log scale)")
    axes.set_ylabel("queries")
    axes.set_title("Search latency")
    return _png(figure)
