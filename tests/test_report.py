"""Human-readable reports: tables, Markdown and HTML pages with plots, comparisons."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from eval_samples import SCRIPT, ScriptedMemory, write_locomo
from rich.console import Console

from evolvelab.evaluation import plots
from evolvelab.datasets.locomo import load_locomo
from evolvelab.evaluation import EvalReport, evaluate
from evolvelab.evaluation.report import (
    category_table,
    compare_table,
    markdown_table,
    render_compare,
    render_report,
    summary_table,
    write_html,
    write_markdown,
)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def report(tmp_path: Path) -> EvalReport:
    data = load_locomo(write_locomo(tmp_path / "l.json"))
    return evaluate(ScriptedMemory(SCRIPT), data, ks=(1, 2, 3))  # type: ignore[arg-type]


def test_summary_and_category_tables(report: EvalReport) -> None:
    header, rows = summary_table(report)
    assert header == ["metric", "@1", "@2", "@3"]
    assert rows[0] == ["recall", "0.300", "0.500", "0.700"]
    assert rows[1] == ["hit", "0.400", "0.600", "0.800"]
    assert rows[2][:2] == ["MRR@3", "0.567"]  # (1/3 + 1 + 1 + 0 + 1/2) / 5
    header, rows = category_table(report)
    assert header == ["category", "n", "skipped", "R@1", "R@2", "R@3", "MRR"]
    assert rows[0] == ["1 multi-hop", "1", "0", "0.500", "0.500", "0.500", "1.000"]
    assert rows[2][:3] == ["3 open-domain", "1", "1"]


def test_markdown_tables_escape_pipes() -> None:
    text = markdown_table((["a", "b"], [["x|y", "1"]]))
    assert text == "| a | b |\n| --- | ---: |\n| x\\|y | 1 |\n"


def test_the_terminal_report_says_what_produced_the_numbers(report: EvalReport) -> None:
    console = Console(record=True, width=160)
    render_report(report, console)
    text = console.export_text()
    assert "scripted on locomo" in text and "0.300" in text
    assert "questions: 5 scored, 1 skipped" in text and "machine:" in text


def test_compare_puts_reports_side_by_side(report: EvalReport) -> None:
    other = report.model_copy(update={"recall": {"1": 0.9, "2": 0.95, "3": 1.0}})
    header, rows = compare_table([report, other])
    assert header == ["", "scripted #1", "scripted #2"]
    table = {row[0]: row[1:] for row in rows}
    assert table["recall@1"] == ["0.300", "0.900"]
    assert table["recall@3 1 multi-hop"] == ["0.500", "0.500"]
    assert {"search p50 ms", "search p95 ms", "ingest events/s", "MRR"} <= set(table)
    console = Console(record=True, width=160)
    render_compare([report, other], console)
    assert "0.900" in console.export_text()


@pytest.mark.slow
def test_markdown_report_with_plots_beside_it(report: EvalReport, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    written = write_markdown(report, tmp_path / "r.md")
    names = [p.name for p in written]
    assert names == ["r.md", "r-recall.png", "r-categories.png", "r-latency.png"]
    text = (tmp_path / "r.md").read_text()
    assert "![Recall@k curve](r-recall.png)" in text and "| recall | 0.300 | 0.500 | 0.700 |" in text
    assert all(p.read_bytes().startswith(PNG) for p in written[1:])


@pytest.mark.slow
def test_html_report_embeds_its_plots(report: EvalReport, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    page = write_html(report, tmp_path / "r.html").read_text()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 3 and base64.b64decode(images[0]).startswith(PNG)
    assert "<td>0.300</td>" in page


def test_without_matplotlib_the_pages_say_how_to_get_plots(
    report: EvalReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plots, "plots_available", lambda: False)
    assert write_markdown(report, tmp_path / "r.md") == [tmp_path / "r.md"]
    assert "pip install 'evolvelab[plots]'" in (tmp_path / "r.md").read_text()
    assert "pip install &#x27;evolvelab[plots]&#x27;" in write_html(report, tmp_path / "r.html").read_text()
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.slow
def test_plots_are_png(report: EvalReport) -> None:
    pytest.importorskip("matplotlib")
    assert plots.recall_curve_png([report, report]).startswith(PNG)
    assert plots.category_png(report).startswith(PNG)
    assert plots.latency_png(report).startswith(PNG)
