"""Print an experiential report: headline scores, the curve over the stream, order spread."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from evolvelab.evaluation.schema import EvalReport

__all__ = ["render_experience"]


def render_experience(report: EvalReport, console: Console | None = None) -> None:
    """Print a task-stream report: headline scores, the curve and the order spread."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    exp = report.experience
    if exp is None or report.helpful_recall is None or report.misleading_rate is None:
        return
    ks = list(report.helpful_recall)
    split = f"all {exp.tasks} tasks of {report.dataset}, stream order"
    title = f"{report.pipeline}: experiential scores ({split}; feedback {exp.feedback}, "
    table = Table(title=f"{title}context {exp.context})")
    for column in ("metric", *(f"@{k}" for k in ks)):
        table.add_column(column, justify="right")
    table.add_row("helpful recall", *(f"{report.helpful_recall[k]:.3f}" for k in ks))
    table.add_row("misleading rate", *(f"{report.misleading_rate[k]:.3f}" for k in ks))
    for name, spreads in exp.robustness.items():
        table.add_row(f"{name.replace('_', ' ')} ± sd over {len(exp.orders)} orders",
                      *(f"{spreads[k].mean:.3f} ± {spreads[k].std:.3f}" for k in ks))  # fmt: skip
    console.print(table)
    window = exp.curve[0].end - exp.curve[0].start + 1 if exp.curve else 0
    curve_table = Table(title=f"over the stream (stream order, {window} tasks per row)")
    k = "5" if "5" in ks else ks[-1]
    for column in ("tasks", f"helpful recall@{k}", f"misleading rate@{k}", "success"):
        curve_table.add_column(column, justify="right")
    for point in exp.curve:
        success = "-" if point.success_rate is None else f"{point.success_rate:.2f}"
        curve_table.add_row(f"{point.start}-{point.end}", f"{point.helpful_recall[k]:.3f}",
                            f"{point.misleading_rate[k]:.3f}", success)  # fmt: skip
    console.print(curve_table)
    if exp.success_rate is not None:
        console.print(
            f"task success ({exp.feedback} outcomes, stream order): {exp.success_rate:.3f}; "
            f"scored tasks: {exp.helpful_tasks} for helpful recall, {exp.misleading_tasks} "
            "for misleading rate"
        )
