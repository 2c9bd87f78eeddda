"""Experiential reports for people: headline scores, the curve over the stream, order spread.

:func:`experience_tables` builds the rows once; the terminal (:func:`render_experience`)
and the Markdown page (``evolvelab.evaluation.report.write_markdown``) show the same tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from evolvelab.evaluation.schema import EvalReport

__all__ = ["experience_tables", "render_experience"]

Table = tuple[list[str], list[list[str]]]


def experience_tables(report: EvalReport) -> list[tuple[str, Table]]:
    """Return ``(title, (header, rows))`` for a task-stream report; ``[]`` for any other."""
    exp = report.experience
    if exp is None or report.helpful_recall is None or report.misleading_rate is None:
        return []
    ks = list(report.helpful_recall)
    split = f"{'first' if report.limit else 'all'} {exp.tasks} tasks of {report.dataset}"
    title = (f"Experiential scores ({split}, stream order; feedback {exp.feedback}, "
             f"context {exp.context})")  # fmt: skip
    rows = [["helpful recall", *(f"{report.helpful_recall[k]:.3f}" for k in ks)],
            ["misleading rate", *(f"{report.misleading_rate[k]:.3f}" for k in ks)]]  # fmt: skip
    for name, spreads in exp.robustness.items():
        rows.append([f"{name.replace('_', ' ')} ± sd over {len(exp.orders)} orders",
                     *(f"{spreads[k].mean:.3f} ± {spreads[k].std:.3f}" for k in ks)])  # fmt: skip
    tables: list[tuple[str, Table]] = [(title, (["metric", *(f"@{k}" for k in ks)], rows))]
    k = "5" if "5" in ks else ks[-1]
    curve = [[f"{p.start}-{p.end}", f"{p.helpful_recall[k]:.3f}", f"{p.misleading_rate[k]:.3f}",
              "-" if p.success_rate is None else f"{p.success_rate:.2f}"] for p in exp.curve]  # fmt: skip
    success = "-" if exp.success_rate is None else f"{exp.success_rate:.3f}"
    tables.append((
        f"Over the stream (stream order; task success overall {success}; scored: "
        f"{exp.helpful_tasks} tasks for helpful recall, {exp.misleading_tasks} for misleading rate)",
        (["tasks", f"helpful recall@{k}", f"misleading rate@{k}", "success"], curve),
    ))  # fmt: skip
    return tables


def render_experience(report: EvalReport, console: Console | None = None) -> None:
    """Print a task-stream report's tables on the terminal."""
    from rich.console import Console
    from rich.table import Table as RichTable

    console = console or Console()
    for title, (header, rows) in experience_tables(report):
        table = RichTable(title=f"{report.pipeline}: {title}")
        for column in header:
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
