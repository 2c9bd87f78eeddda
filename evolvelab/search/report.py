"""The search report: ``OUT/report.md`` with its plots, and the results table on the terminal.

Every number comes from the study or from an evaluation this run made, and the report
says which spec, data, users, sampler and seed produced it. Without matplotlib the plots
are left out and the tables stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evolvelab.search.study import released

if TYPE_CHECKING:
    import optuna

    from evolvelab.search.context import Context
    from evolvelab.search.outcome import EvolveResult

__all__ = ["importances", "print_results", "write_report"]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def importances(study: optuna.Study) -> dict[str, float] | None:
    """Return parameter importances for the first objective, or ``None`` when there are none.

    PED-ANOVA (Optuna's ``PedAnovaImportanceEvaluator``: how much each parameter's values
    differ between the best trials and the rest) needs neither scikit-learn nor SciPy.
    """
    import warnings

    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator

    target = None
    if len(study.directions) > 1:  # PED-ANOVA takes an explicit target as lower-is-better
        sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
        target = lambda t: sign * t.values[0]  # noqa: E731
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(
                study, evaluator=PedAnovaImportanceEvaluator(), target=target
            )
    except Exception:  # too few trials, or no parameter every trial has
        return None
    return {name: float(v) for name, v in values.items()} or None


def _columns(ctx: Context) -> list[str]:
    names = list(ctx.objective_names)
    return names + [m for m in ("recall@10",) if m not in names]


def _sides(ctx: Context) -> list[tuple[str, str]]:
    """The splits the results table shows: (Finalist attribute, column label)."""
    sides = [("train", "folds (mean)" if ctx.folds else "train")]
    if ctx.users("validation"):
        sides.append(("validation", "validation"))
    if ctx.users("test"):
        sides.append(("test", "test"))
    return sides


def _finalist_rows(ctx: Context, result: EvolveResult) -> list[list[str]]:
    rows = []
    columns = _columns(ctx)
    for finalist in [*result.base, *result.best]:
        row = [finalist.role, str(finalist.number)]
        for side, _ in _sides(ctx):
            row += [_fmt((getattr(finalist, side) or {}).get(c)) for c in columns]
        row.append(finalist.file or "")
        rows.append(row)
    return rows


def _fold_rows(ctx: Context, result: EvolveResult) -> list[list[str]]:
    """Per fold: its users, the base's and the winner's score, and the cross-validated pick."""
    metric = ctx.objective_names[0]
    winner = result.winner
    base = result.base[0] if result.base else None
    picks = result.held_out.per_fold if result.held_out else []
    rows = []
    for i, users in enumerate(ctx.folds):
        pick = picks[i] if i < len(picks) else None
        rows.append(
            [
                str(i + 1),
                ", ".join(users),
                _fmt(base.folds[i].get(metric) if base and i < len(base.folds) else None),
                _fmt(winner.folds[i].get(metric) if winner and i < len(winner.folds) else None),
                f"trial {pick[0]}: {pick[1]:+.4f}" if pick else "–",
            ]
        )
    return rows


def _task_table(ctx: Context, result: EvolveResult) -> tuple[list[str], list[list[str]]]:
    """Base and winner per dataset and side, on the first objective."""
    metric = ctx.objective_names[0]
    head = ["dataset", "weight", "side", *(f"{f.role} {f.number}" for f in result.base),
            *(f"{f.role} {f.number}" for f in result.best)]  # fmt: skip
    rows = []
    for task in ctx.tasks:
        for side in ("train", "validation", "test"):
            cells = [(f.by_task.get(side) or {}).get(task.name, {}).get(metric)
                     for f in [*result.base, *result.best]]  # fmt: skip
            if any(c is not None for c in cells):
                rows.append([task.name, f"{task.weight:g}", side, *(_fmt(c) for c in cells)])
    return head, rows


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
    ]


def _plots(
    ctx: Context, study: optuna.Study, result: EvolveResult, weights: dict[str, float] | None
) -> list[str]:
    from evolvelab.evaluation.plots import PLOTS_HINT, plots_available
    from evolvelab.search.plots import history_png, importance_png, pareto_png

    if not plots_available():
        return [f"_Plots left out: {PLOTS_HINT}._", ""]
    lines = []
    complete = [t for t in study.get_trials(deepcopy=False) if t.values and not released(t)]
    metric, goal = ctx.objective_names[0], ctx.spec.objectives[0].goal
    base = next((b.train.get(metric) for b in result.base if metric in b.train), None)
    png = history_png([(t.number, t.values[0]) for t in complete], metric, goal == "maximize", base)
    (ctx.out / "history.png").write_bytes(png)
    lines += ["## Optimisation history", "", "![optimisation history](history.png)", ""]
    if len(ctx.objective_names) > 1 and complete:
        front = {f.number for f in result.best}
        base_values = (
            [result.base[0].train.get(m) for m in ctx.objective_names[:2]] if result.base else None
        )
        png = pareto_png(
            [(t.number, t.values) for t in complete],
            front,
            ctx.objective_names,
            base_values if base_values and None not in base_values else None,
        )  # type: ignore[arg-type]
        (ctx.out / "pareto.png").write_bytes(png)
        lines += ["## Pareto front", "", "![Pareto front](pareto.png)", ""]
    if weights:
        (ctx.out / "importances.png").write_bytes(importance_png(weights, metric))
    return lines


def write_report(ctx: Context, study: optuna.Study, result: EvolveResult) -> None:
    """Write ``OUT/report.md`` (and its plots when matplotlib is installed)."""
    spec = ctx.spec
    sources = []
    for task in ctx.tasks:
        data = task.spec
        where = (
            "the bundled sample stream"
            if data.type == "sample"
            else f"{data.type} `{spec.resolve(data.path or '')}`"
        )
        weight = f" (weight {task.weight:g})" if len(ctx.tasks) > 1 else ""
        sources.append(f"{task.name}: {where}{weight}" if len(ctx.tasks) > 1 else where)
    source = "; ".join(sources)
    sampler = spec.sampler.type or ("tpe" if len(spec.objectives) == 1 else "nsga2")
    goals = ", ".join(f"{o.metric} ({o.goal})" for o in spec.objectives)
    lines = [
        f"# Evolution: {spec.name}",
        "",
        f"Spec `{ctx.spec_path}`; study `{ctx.study}` in `{ctx.storage}`. "
        f"Budget {ctx.budget} trials: "
        f"{result.complete} complete, {result.failed} failed, {result.running} running, "
        f"{result.waiting} waiting. Sampler {sampler}, seed {ctx.seed}.",
        "",
        f"Data: {source}. Search users: {ctx.search_label}. Validation users (selection): "
        f"{', '.join(ctx.users('validation')) or 'none'}. Test users (report only, scored "
        f"once): {', '.join(ctx.users('test')) or 'none'}. Objectives: {goals}"
        + (" (the weighted mean over the datasets)." if len(ctx.tasks) > 1 else "."),
        "",
        f"**{result.headline}**",
        "",
    ]
    lines += [f"> {note}" for note in result.notes] + ([""] if result.notes else [])
    columns = _columns(ctx)
    head = ["", "trial"]
    for _, label in _sides(ctx):
        head += [f"{label} {c}" for c in columns]
    head.append("file")
    lines += ["## Results", "", *_table(head, _finalist_rows(ctx, result)), ""]
    if len(ctx.tasks) > 1:
        lines += ["## Per dataset", "", *_table(*_task_table(ctx, result)), ""]
    if ctx.folds:
        metric = ctx.objective_names[0]
        lines += [
            "## Folds",
            "",
            "Each fold's held-out score comes from the trial picked on the other folds "
            "(cross-validation).",
            "",
            *_table(
                ["fold", "users", f"base {metric}", f"winner {metric}", "picked elsewhere: gain"],
                _fold_rows(ctx, result),
            ),
            "",
        ]
    weights = importances(study) if result.complete >= 4 else None
    lines += _plots(ctx, study, result, weights)
    if weights:
        from evolvelab.evaluation.plots import plots_available

        picture = ["![parameter importances](importances.png)", ""] if plots_available() else []
        lines += [
            "## Parameter importances",
            "",
            *picture,
            *_table(["parameter", "importance"], [[k, f"{v:.3f}"] for k, v in weights.items()]),
            "",
        ]
    ranked = sorted(
        (r for r in result.rows if r["state"] == "complete"),
        key=lambda r: -r[columns[0]] if spec.objectives[0].goal == "maximize" else r[columns[0]],
    )
    top = [
        [
            str(r["number"]),
            r["origin"],
            *[_fmt(r.get(c)) for c in columns],
            _fmt(r["seconds"]),
            r["pipeline"],
        ]
        for r in ranked[:10]
    ]
    lines += [
        "## Top trials",
        "",
        *_table(["trial", "origin", *columns, "seconds", "pipeline"], top),
        "",
    ]
    failed = [
        [str(r["number"]), r["origin"], r["error"][:160]]
        for r in result.rows
        if r["state"] == "fail" and r["error"]
    ]
    if failed:
        lines += ["## Failed trials", "", *_table(["trial", "origin", "error"], failed[:20]), ""]
    lines += [
        "## Search space",
        "",
        *_table(["parameter", "range"], [[n, f"`{d}`"] for n, d in ctx.space.describe()]),
        "",
        "## Reproduce and inspect",
        "",
        "Every `trials/NNNN.yaml` starts with the `evolvelab eval` command that scores it as "
        "the search did (run it from the folder the search ran in).",
        f"Browse the study with `optuna-dashboard {ctx.storage}` (`pip install optuna-dashboard`).",
        "",
    ]
    (ctx.out / "report.md").write_text("\n".join(lines), encoding="utf-8")


def print_results(ctx: Context, result: EvolveResult, *, console: Any = None) -> None:
    """Print the base and the winner(s), train and validation, and where the files are."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    columns = _columns(ctx)
    table = Table(
        title=f"evolve {escape(ctx.spec.name)}: {result.complete} complete, {result.failed} failed "
        f"of {ctx.budget}"
    )
    table.add_column("")
    table.add_column("trial", justify="right")
    for _, label in _sides(ctx):
        for column in columns:
            table.add_column(f"{label.replace('validation', 'valid.')} {column}", justify="right")
    table.add_column("file")
    for row in _finalist_rows(ctx, result):
        table.add_row(*map(escape, row))  # user text (ids, file names) is text, not markup
    console.print(table)
    console.print(escape(result.headline))
    for note in result.notes:
        console.print(f"note: {escape(note)}")
    written = [
        "best.yaml" if any(f.role == "best" for f in result.best) else "pareto/",
        "report.md",
        "trials.csv",
        "trials/",
    ]
    console.print(f"wrote {', '.join(written)} in {escape(str(ctx.out))}")
