"""The results table prints user text as text: rich markup in it is shown, never obeyed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from evolvelab.search.outcome import EvolveResult
from evolvelab.search.report import print_results
from evolvelab.search.selection import Finalist


def test_user_ids_and_notes_with_markup_print_verbatim(tmp_path: Path) -> None:
    out = tmp_path / "[red]out"
    ctx = SimpleNamespace(
        spec=SimpleNamespace(name="quick"),
        budget=2,
        objective_names=["recall@10"],
        folds=[],
        out=out,
        users=lambda side: ["[bold]u2"] if side == "validation" else [],
    )
    best = Finalist(1, "best", "", {"recall@10": 0.5}, file="[/x]best.yaml")
    result = EvolveResult(
        out=str(out), study="quick", storage="s", budget=2, complete=2, failed=0, running=0,
        waiting=0, objectives=["recall@10"], train_users=["[bold]u1"],
        validation_users=["[bold]u2"], best=[best],
        headline="held-out gain on validation users ([bold]u2)",
        notes=["user [/x] had no questions"],
    )  # fmt: skip
    console = Console(record=True, width=200)
    print_results(ctx, result, console=console)  # type: ignore[arg-type]
    text = console.export_text()
    assert "validation users ([bold]u2)" in text
    assert "note: user [/x] had no questions" in text
    assert "[/x]best.yaml" in text and "[red]out" in text
