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

    from evolvelab.search.evolve import Context
    from evolvelab.search.results import EvolveResult

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


def _finalist_rows(ctx: Context, result: EvolveResult) -> list[list[str]]:
    rows = []
    columns = _columns(ctx)
    for finalist in [*result.base, *result.best]:
        row = [finalist.role, str(finalist.number)]
        row += [_fmt(finalist.train.get(c)) for c in columns]
        row += [_fmt((finalist.validation or {}).get(c)) for c in columns]
        row.append(finalist.file or "")
        rows.append(row)
    return rows


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
    ]


def _plots(
    ctx: Context, study: optuna.Study, result: EvolveResult, weights: dict[str, float] | None
) -> list[str]:
    from evolvelab.plots import PLOTS_HINT, plots_available
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
    data = spec.dataset
    source = (
        "the bundled sample stream"
        if data.type == "sample"
        else f"{data.type} `{spec.resolve(data.path or '')}`"
    )
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
        f"Data: {source}. Train users (search): {', '.join(ctx.train)}. Validation users (report "
        f"only): {', '.join(ctx.validation) or 'none'}. Objectives: {goals}.",
        "",
    ]
    lines += [f"> {note}" for note in result.notes] + ([""] if result.notes else [])
    columns = _columns(ctx)
    head = (
        ["", "trial"]
        + [f"train {c}" for c in columns]
        + [f"validation {c}" for c in columns]
        + ["file"]
    )
    lines += ["## Results", "", *_table(head, _finalist_rows(ctx, result)), ""]
    weights = importances(study) if result.complete >= 4 else None
    lines += _plots(ctx, study, result, weights)
    if weights:
        from evolvelab.plots import plots_available

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
    from rich.table import Table

    console = console or Console()
    columns = _columns(ctx)
    table = Table(
        title=f"evolve {ctx.spec.name}: {result.complete} complete, {result.failed} failed "
        f"of {ctx.budget}"
    )
    table.add_column("")
    table.add_column("trial", justify="right")
    for side in ("train", "valid."):
        for column in columns:
            table.add_column(f"{side} {column}", justify="right")
    table.add_column("file")
    for row in _finalist_rows(ctx, result):
        table.add_row(*row)
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
    written = [
        "best.yaml" if any(f.role == "best" for f in result.best) else "pareto/",
        "report.md",
        "trials.csv",
        "trials/",
    ]
    console.print(f"wrote {', '.join(written)} in {ctx.out}")
