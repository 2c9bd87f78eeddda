"""The progress bar of a search: trials finished of the budget, failures, the best so far.

It reads the study itself, so it shows every worker's trials, on this machine or another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evolvelab.search.study import released

if TYPE_CHECKING:
    import optuna

    from evolvelab.search.context import Context

__all__ = ["ProgressView", "study_counts"]


def study_counts(study: optuna.Study) -> dict[str, Any]:
    """Count the study's trials: finished, failed, running, waiting, and the best so far.

    Interrupted trials whose slot was put back are not counted.
    """
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if not released(t)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    counts = {
        "complete": len(complete),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "running": sum(t.state == TrialState.RUNNING for t in trials),
        "waiting": sum(t.state == TrialState.WAITING for t in trials),
        "best": None,
        "best_number": None,
    }
    if complete:
        sign = -1.0 if study.directions[0].name.lower() == "maximize" else 1.0
        best = min(complete, key=lambda t: (sign * t.values[0], t.number))
        counts["best"], counts["best_number"] = best.values[0], best.number
    return counts


class ProgressView:
    """A rich progress bar over the study (no-op when disabled).

    Args:
        ctx: the prepared search.
        enabled: draw anything at all.
        console: the rich Console to draw on (default: standard error).
    """

    def __init__(self, ctx: Context, *, enabled: bool = True, console: Any = None) -> None:
        self.ctx = ctx
        self.enabled = enabled
        self.console = console
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressView:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]evolve[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console or Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        from rich.markup import escape

        # the study name is the user's text: shown as written, never read as markup
        self._task = self._progress.add_task(
            escape(self.ctx.study), total=self.ctx.budget, status=""
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, study: optuna.Study) -> None:
        """Redraw from the study's current state."""
        if self._progress is None:
            return
        counts = study_counts(study)
        finished = counts["complete"] + counts["failed"]
        total = finished + counts["running"] + counts["waiting"]
        metric = self.ctx.objective_names[0]
        status = (
            f"best {metric} {counts['best']:.4f} (trial {counts['best_number']})"
            if counts["best"] is not None
            else "no trial finished yet"
        )
        if counts["failed"]:
            status += f"  [yellow]{counts['failed']} failed[/]"
        if counts["running"] > 1:
            status += f"  {counts['running']} running"
        self._progress.update(self._task, completed=finished, total=max(total, 1), status=status)
