"""Evaluation reports for people: terminal tables, Markdown and HTML pages, comparisons.

Every view is built from the same rows (:func:`summary_table`, :func:`category_table`,
:func:`compare_table`), so the terminal, the Markdown page and the HTML page agree.
Plots (recall@k curve, recall by category, search latency histogram) come from
:mod:`evolvelab.evaluation.plots` when matplotlib is installed; without it the pages say how to get
them and still carry every table.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from evolvelab.evaluation.schema import EvalReport

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "Table",
    "category_table",
    "compare_table",
    "markdown_table",
    "render_compare",
    "render_report",
    "summary_table",
    "write_html",
    "write_markdown",
]

Table = tuple[list[str], list[list[str]]]
"""A table as ``(header, rows)`` of display strings."""


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _ks(report: EvalReport) -> list[str]:
    return [str(k) for k in report.ks] if report.ks else list(report.recall)


def _main_k(report: EvalReport) -> str:
    ks = _ks(report)
    return "10" if "10" in ks else ks[-1]


def summary_table(report: EvalReport) -> Table:
    """Return recall@k and hit@k per turn budget, then MRR, as a table."""
    ks = _ks(report)
    header = ["metric", *[f"@{k}" for k in ks]]
    rows = [
        ["recall", *[_num(report.recall.get(k)) for k in ks]],
        ["hit", *[_num(report.hit.get(k)) for k in ks]],
        [f"MRR@{ks[-1]}", _num(report.mrr), *[""] * (len(ks) - 1)],
    ]
    return header, rows


def category_table(report: EvalReport) -> Table:
    """Return per category: questions scored (n), skipped, recall@k (R@k), MRR (and QA F1)."""
    ks = _ks(report)
    header = ["category", "n", "skipped", *[f"R@{k}" for k in ks], "MRR"]
    qa = report.qa
    if qa is not None:
        header.append("QA F1")
    rows = []
    for code, score in report.by_category.items():
        label = f"{code} {score.name}" if score.name and score.name != code else code
        row = [label, str(score.questions), str(score.skipped),
               *[_num(score.recall.get(k)) for k in ks], _num(score.mrr)]  # fmt: skip
        if qa is not None:
            block = qa.by_category.get(code)
            row.append(_num(block.f1 if block else None))
        rows.append(row)
    return header, rows


def _facts(report: EvalReport) -> list[tuple[str, str]]:
    """Return the one-line facts of a report: data, latency, ingest, LLM, QA, machine."""
    ingest, latency, llm = report.ingest, report.search_ms, report.llm
    facts = [
        ("pipeline", f"{report.pipeline}" + (f" ({report.pipeline_file})" if report.pipeline_file else "")),
        ("data", f"{report.dataset}: {report.data}" + (f", limit {report.limit}" if report.limit else "")),
        ("questions", f"{report.questions} scored, {report.skipped} skipped (no valid evidence)"),
        ("search", f"p50 {_rate(latency.p50)} ms, p95 {_rate(latency.p95)} ms"),
        ("ingest", f"{ingest.events} events in {ingest.seconds:.1f} s "
                   f"({_rate(ingest.per_second)}/s), {ingest.scopes} scope{'s' if ingest.scopes != 1 else ''}"),
        ("llm", f"{llm.calls} calls, {llm.prompt_tokens} prompt + {llm.completion_tokens} "
                "completion tokens"),
    ]  # fmt: skip
    if report.qa is not None:
        judge = f", judge {_num(report.qa.judge)}" if report.qa.judge is not None else ""
        facts.append(("QA", f"F1 {_num(report.qa.f1)} over {report.qa.questions} answers "
                            f"(top {report.qa.notes} notes){judge}"))  # fmt: skip
    env = report.environment
    if env is not None:
        facts.append(("machine", f"{env.cpu}, {env.cpus} CPUs, {env.platform}, Python "
                                 f"{env.python}, evolvelab {env.evolvelab}"))  # fmt: skip
    facts.append(("run", f"{report.created_at}, {report.wall_seconds:.1f} s, order {report.order}"))
    return facts


def _rich_table(table: Table, title: str | None = None) -> object:
    from rich.markup import escape
    from rich.table import Table as RichTable

    header, rows = table
    out = RichTable(title=title)
    for i, name in enumerate(header):
        out.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:  # labels come from data files (categories, names): not markup
        out.add_row(*(escape(cell) if isinstance(cell, str) else cell for cell in row))
    return out


def render_report(report: EvalReport, console: Console | None = None) -> None:
    """Print a report to the terminal: the summary, categories, then the facts."""
    from rich.console import Console
    from rich.markup import escape

    console = console or Console()
    title = escape(f"{report.pipeline} on {report.dataset}: recall on a turn budget")
    console.print(_rich_table(summary_table(report), title))
    console.print(_rich_table(category_table(report), "by category"))
    for key, value in _facts(report):
        console.print(f"[bold]{key}[/bold]: {escape(str(value))}", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning[/yellow] {escape(str(warning))}", highlight=False)


def _label(report: EvalReport, reports: Sequence[EvalReport], index: int) -> str:
    names = [r.pipeline for r in reports]
    return report.pipeline if names.count(report.pipeline) == 1 else f"{report.pipeline} #{index + 1}"


def compare_table(reports: Sequence[EvalReport]) -> Table:
    """Return reports side by side: recall@k, hit@k, MRR, recall by category, speed, LLM."""
    header = ["", *[_label(r, reports, i) for i, r in enumerate(reports)]]
    ks = list(dict.fromkeys(k for r in reports for k in _ks(r)))
    main = "10" if "10" in ks else ks[-1] if ks else "10"
    codes = list(dict.fromkeys(c for r in reports for c in r.by_category))

    def row(label: str, values: list[str]) -> list[str]:
        return [label, *values]

    rows = [
        row("dataset", [r.dataset for r in reports]),
        row("questions", [f"{r.questions} (+{r.skipped} skipped)" for r in reports]),
        *[row(f"recall@{k}", [_num(r.recall.get(k)) for r in reports]) for k in ks],
        *[row(f"hit@{k}", [_num(r.hit.get(k)) for r in reports]) for k in ks],
        row("MRR", [_num(r.mrr) for r in reports]),
    ]
    for code in codes:
        names = {r.by_category[code].name for r in reports if code in r.by_category}
        name = next(iter(names - {None}), None)
        label = f"recall@{main} {code}" + (f" {name}" if name and name != code else "")
        rows.append(row(label, [_num(r.by_category[code].recall.get(main))
                                if code in r.by_category else "–" for r in reports]))  # fmt: skip
    rows += [
        row("search p50 ms", [_rate(r.search_ms.p50) for r in reports]),
        row("search p95 ms", [_rate(r.search_ms.p95) for r in reports]),
        row("ingest events/s", [_rate(r.ingest.per_second) for r in reports]),
        row("LLM calls", [str(r.llm.calls) for r in reports]),
    ]
    if any(r.qa is not None for r in reports):
        rows.append(row("QA F1", [_num(r.qa.f1) if r.qa else "–" for r in reports]))
    return header, rows


def render_compare(reports: Sequence[EvalReport], console: Console | None = None) -> None:
    """Print reports side by side (see :func:`compare_table`)."""
    from rich.console import Console

    console = console or Console()
    console.print(_rich_table(compare_table(reports), "comparison (recall on a turn budget)"))
    for i, report in enumerate(reports):
        console.print(f"{_label(report, reports, i)}: {report.pipeline_file or '-'} on {report.data}",
                      highlight=False)  # fmt: skip


def markdown_table(table: Table) -> str:
    """Render a table as GitHub Markdown (pipes in cells are escaped)."""
    header, rows = table

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---", *["---:"] * (len(header) - 1)]
    return "\n".join([line(header), "| " + " | ".join(align) + " |", *map(line, rows)]) + "\n"


def _plots(report: EvalReport) -> dict[str, bytes] | None:
    """Return the report's plots by name, or ``None`` without matplotlib."""
    from evolvelab.evaluation.plots import (
        category_png,
        latency_png,
        plots_available,
        recall_curve_png,
    )

    if not plots_available():
        return None
    plots = {"recall": recall_curve_png([report])}
    if report.by_category:
        plots["categories"] = category_png(report)
    if report.search_ms.histogram is not None:
        plots["latency"] = latency_png(report)
    return plots


_CAPTIONS = {"recall": "Recall@k curve", "categories": "Recall by category",
             "latency": "Search latency"}  # fmt: skip


def write_markdown(report: EvalReport, path: str | Path) -> list[Path]:
    """Write a Markdown report, with its plots as PNG files beside it.

    Args:
        report: the evaluation report.
        path: the ``.md`` file; plots go to ``<stem>-recall.png`` and so on.

    Returns:
        Every file written, the Markdown first.
    """
    from evolvelab.evaluation.plots import PLOTS_HINT

    target = Path(path)
    written = [target]
    parts = [f"# {report.pipeline} on {report.dataset}\n",
             "\n".join(f"- **{k}**: {v}" for k, v in _facts(report)) + "\n",
             "## Recall on a turn budget\n", markdown_table(summary_table(report)),
             "## By category\n", markdown_table(category_table(report))]  # fmt: skip
    from evolvelab.evaluation._task_render import experience_tables

    for title, table in experience_tables(report):
        parts += [f"## {title}\n", markdown_table(table)]
    plots = _plots(report)
    if plots is None:
        parts.append(f"_No plots: {PLOTS_HINT}_\n")
    else:
        parts.append("## Plots\n")
        for name, png in plots.items():
            image = target.with_name(f"{target.stem}-{name}.png")
            image.write_bytes(png)
            written.append(image)
            parts.append(f"![{_CAPTIONS[name]}]({image.name})\n")
    if report.warnings or report.notes:
        parts.append("## Notes\n")
        parts.append("".join(f"- {line}\n" for line in [*report.warnings, *report.notes]))
    target.write_text("\n".join(parts), encoding="utf-8")
    return written


def _html_table(table: Table) -> str:
    header, rows = table
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
"""


def write_html(report: EvalReport, path: str | Path) -> Path:
    """Write a self-contained HTML report (plots embedded as base64 PNG).

    Returns:
        The file written.
    """
    from evolvelab.evaluation.plots import PLOTS_HINT

    target = Path(path)
    title = html.escape(f"{report.pipeline} on {report.dataset}")
    facts = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in _facts(report))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{title}</h1><ul>{facts}</ul>",
             "<h2>Recall on a turn budget</h2>", _html_table(summary_table(report)),
             "<h2>By category</h2>", _html_table(category_table(report))]  # fmt: skip
    plots = _plots(report)
    if plots is None:
        parts.append(f"<p><i>No plots: {html.escape(PLOTS_HINT)}</i></p>")
    else:
        parts.append("<h2>Plots</h2>")
        for name, png in plots.items():
            data = base64.b64encode(png).decode("ascii")
            parts.append(f"<figure><img alt='{_CAPTIONS[name]}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{_CAPTIONS[name]}</figcaption></figure>")  # fmt: skip
    notes = [*report.warnings, *report.notes]
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>\n")
    target.write_text("".join(parts), encoding="utf-8")
    return target
