"""What a search leaves in ``--out``: trial files, the trials table, the winner, the report.

::

    OUT/
      study.journal          the Optuna study (default storage; optuna-dashboard reads it)
      embeddings.sqlite      the embedding cache shared by workers and resumed runs
      trials/0007.yaml       every trial's pipeline, with a header (params, search score,
                             the `evolvelab eval` command that reproduces it)
      trials.csv             one row per trial
      best.yaml              single objective: the selected winner, with how it was found
      pareto/0012.yaml       several objectives: the Pareto set
      validation.json        selection and test scores (computed once per pipeline)
      report.md, *.png       the report and its plots
      result.json            the summary below, for scripts
      mutations/001.json     each LLM mutation attempt (when an LLM is configured)

:func:`finish` scores the finalists on the validation users, selects the winner
(:mod:`evolvelab.search.selection`), scores it and the base on the test users (once),
writes all of it and prints the results with the one line that says what was gained on
users the choice never saw. Running it again only refreshes it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evolvelab.errors import EvolveLabError
from evolvelab.search.outcome import EvolveResult, headline
from evolvelab.search.record import TrialRecord
from evolvelab.search.render import render_pipeline
from evolvelab.search.selection import Finalist, Rule, held_out, pick
from evolvelab.search.study import open_storage
from evolvelab.search.trialfile import (
    mark_released,
    reproduce_command,
    trial_header,
    trial_path,
    trial_status,
)

if TYPE_CHECKING:
    from evolvelab.search.context import Context
    from evolvelab.stages import LLM

__all__ = ["finish"]


def _write_trial_file(ctx: Context, record: TrialRecord) -> None:
    """Write a trial's file from the study when this machine has none (another ran it)."""
    path = trial_path(ctx, record.number)
    if not record.yaml or path.exists():
        return
    names = {p.name: p for p in ctx.space.params()}
    params = {k: names[k].decode(v) if k in names else v for k, v in record.params.items()}
    status = trial_status(ctx, record.values, record.error)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        trial_header(ctx, record.number, record.origin, params, status) + record.yaml, "utf-8"
    )


def _rows(ctx: Context, records: list[TrialRecord]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        metrics = dict(record.train.metrics) if record.train else {}
        error = (record.error or "").splitlines()
        rows.append(
            {
                "number": record.number,
                "state": record.state,
                "origin": record.origin,
                **{name: metrics.pop(name, None) for name in ctx.objective_names},
                **metrics,
                "seconds": record.seconds,
                "pipeline": record.pipeline or "",
                "error": error[0] if error else "",
                "params": json.dumps(record.params, sort_keys=False),
            }
        )
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


class _Scorer:
    """Score pipelines on a side (validation, test) of every task, once per pipeline.

    Scores come from the same objectives table as the search's, under the same names,
    and are kept in ``validation.json``; several tasks are combined by their weights and
    :meth:`breakdown` keeps each task's own. Costs (for ties) are measured with nothing
    cached, so every finalist pays for its own embeddings alike.
    """

    def __init__(self, ctx: Context, llm: LLM | None) -> None:
        self.ctx, self.llm = ctx, llm
        self.path = ctx.out / "validation.json"
        self.known: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self._evaluators: dict[bool, Any] = {}
        self._parts: dict[tuple[str, str, bool], dict[str, dict[str, float]]] = {}

    def _users(self, task: Any, side: str) -> list[str]:
        if side == "cost":
            return list(task.validation or task.search_splits[0])
        return list(getattr(task, side))

    def _one(self, text: str, task: Any, users: list[str], cached: bool) -> dict[str, float] | str:
        from evolvelab.errors import ConfigError

        ctx = self.ctx
        key = hashlib.sha256(
            json.dumps([text, task.name, users, task.spec.limit, cached]).encode()
        ).hexdigest()
        if key not in self.known:
            if cached not in self._evaluators:
                from evolvelab.search.loop import evaluators

                self._evaluators[cached] = evaluators(ctx, cached=cached, llm=self.llm)
            try:
                report = self._evaluators[cached][task.name].run(text, users, file="<selection>")
                self.known[key] = ctx.table.scores(report, ctx.objective_names)
            except ConfigError as err:
                self.known[key] = err.render()
            except Exception as err:
                self.known[key] = f"{type(err).__name__}: {err}"
            self.path.write_text(json.dumps(self.known, indent=1) + "\n", encoding="utf-8")
        return self.known[key]  # type: ignore[no-any-return]

    def score(self, text: str, side: str, *, cached: bool = True) -> dict[str, float] | str:
        """Return ``text``'s metrics on ``side`` (weighted over tasks), or the error text."""
        parts: dict[str, dict[str, float]] = {}
        weights: dict[str, float] = {}
        for task in self.ctx.tasks:
            users = self._users(task, side)
            if not users:
                continue
            scores = self._one(text, task, users, cached)
            if isinstance(scores, str):
                return scores
            parts[task.name], weights[task.name] = scores, task.weight
        if not parts:
            return "no users on this side"
        self._parts[(text, side, cached)] = parts
        total = sum(weights.values())
        names = [n for n in next(iter(parts.values())) if all(n in p for p in parts.values())]
        return {n: sum(weights[t] * p[n] for t, p in parts.items()) / total for n in names}

    def breakdown(self, text: str, side: str, cached: bool = True) -> dict[str, dict[str, float]]:
        """Return each task's own metrics of the last :meth:`score` of ``text`` on ``side``."""
        return self._parts.get((text, side, cached), {})

    def measure(self, finalist: Finalist) -> None:
        """Fill ``finalist.costs``: its cost metrics on the selection users, nothing cached."""
        scores = self.score(finalist.yaml, "cost", cached=False)
        if isinstance(scores, dict):
            finalist.costs = {c: scores[c] for c in self.ctx.table.costs() if c in scores}

    def close(self) -> None:
        for group in self._evaluators.values():
            for evaluator in group.values():
                evaluator.close()


def _finalist(record: TrialRecord, role: Any) -> Finalist:
    return Finalist(
        number=record.number,
        role=role,
        yaml=record.yaml,
        train=dict(record.train.metrics) if record.train else {},
        folds=[dict(f) for f in record.train.folds] if record.train else [],
        file=record.pipeline,
        error=record.error,
        by_task={"train": {k: dict(v) for k, v in record.train.tasks.items()}}
        if record.train and record.train.tasks
        else {},
    )


def _ranked(ctx: Context, records: list[TrialRecord]) -> list[TrialRecord]:
    """Complete trials, best first by the first objective on the search users."""
    objective = ctx.spec.objectives[0]
    sign = -1.0 if objective.goal == "maximize" else 1.0
    done = [r for r in records if r.complete]
    return sorted(done, key=lambda r: (sign * (r.values or [0.0])[0], r.number))


def _select(
    ctx: Context, study: Any, records: list[TrialRecord], scorer: _Scorer, result: EvolveResult
) -> None:
    """Fill the result's base and best finalists and the held-out comparison."""
    bases = [_finalist(r, "base") for r in records if r.origin == "base" and r.complete]
    if len(ctx.spec.objectives) > 1:
        numbers = {t.number for t in study.best_trials}
        pareto = [r for r in _ranked(ctx, records) if r.number in numbers][:12]
        finalists = bases + [_finalist(r, "pareto") for r in pareto]
    else:
        pool = [r for r in _ranked(ctx, records) if r.origin != "base"]
        top = pool if ctx.folds else pool[: ctx.spec.select.top]
        finalists = bases + [_finalist(r, "trial") for r in top]
    if ctx.users("validation"):
        for finalist in finalists:
            scores = scorer.score(finalist.yaml, "validation")
            if isinstance(scores, dict):
                finalist.validation = scores
                finalist.by_task["validation"] = scorer.breakdown(finalist.yaml, "validation")
            else:
                finalist.error = scores
    objective = ctx.spec.objectives[0]
    rule = Rule(
        objective.metric, objective.goal, ctx.spec.select.tolerance, tuple(ctx.table.costs())
    )
    result.base = bases
    if len(ctx.spec.objectives) > 1:
        result.best = [f for f in finalists if f.role == "pareto"]
        return
    folds = list(range(len(ctx.folds))) if ctx.folds else None
    if folds is None and not ctx.users("validation"):  # nothing held out: the best on train
        winner = next((f for f in finalists if not f.is_base), bases[0] if bases else None)
    else:
        winner = pick(finalists, rule, folds, measure=scorer.measure)
    if winner is None:
        return
    if ctx.users("test"):
        for finalist in {id(f): f for f in [winner, *bases]}.values():
            scores = scorer.score(finalist.yaml, "test")
            finalist.test = scores if isinstance(scores, dict) else None
            finalist.by_task["test"] = scorer.breakdown(finalist.yaml, "test")
    chosen = Finalist(**{**asdict(winner), "role": "best"})
    result.best = [chosen]
    result.held_out = held_out(finalists, winner, rule, len(ctx.folds), measure=scorer.measure)


def _best_header(ctx: Context, result: EvolveResult, finalist: Finalist, file: str) -> str:
    names = ctx.objective_names
    base = result.base[0] if result.base else None

    def scores(side: str) -> str:
        mine = getattr(finalist, side) or {}
        theirs = (getattr(base, side) or {}) if base else {}
        return (
            ", ".join(
                f"{n} {mine[n]:.4g}" + (f" (base {theirs[n]:.4g})" if n in theirs else "")
                for n in names
                if n in mine
            )
            or "not evaluated"
        )

    sampler = ctx.spec.sampler.type or ("tpe" if len(names) == 1 else "nsga2")
    if finalist.role == "pareto":
        how = "best on the Pareto front"
    elif ctx.folds:
        how = "selected on the folds"
    elif ctx.users("validation"):
        how = "selected on validation"
    else:
        how = "best on train; no held-out users"
    lines = [
        f"Evolved by `evolvelab evolve {ctx.spec_path}`: study '{ctx.study}', {ctx.budget} trials,",
        f"sampler {sampler} seed {ctx.seed}; base: {', '.join(b.label for b in ctx.space.bases)}.",
        f"Trial {finalist.number} ({how}); searched on {ctx.search_label}.",
        f"{ctx.search_label}: {scores('train')}",
    ]
    if ctx.users("validation"):
        lines.append(f"validation ({', '.join(ctx.users('validation'))}): {scores('validation')}")
    if ctx.users("test"):
        lines.append(f"test ({', '.join(ctx.users('test'))}): {scores('test')}")
    if finalist.role == "best":
        lines.append(result.headline)
    for task in ctx.tasks:
        users = task.test or task.validation or task.train
        label = f" ({task.name})" if len(ctx.tasks) > 1 else ""
        lines.append(f"reproduce{label}: " + reproduce_command(ctx, file, users, task))
    return "\n".join(lines)


def _named(ctx: Context, text: str, number: int) -> dict[str, Any]:
    data = yaml.safe_load(text) or {}
    data["name"] = (
        f"{ctx.spec.name}-evolved"
        if len(ctx.spec.objectives) == 1
        else f"{ctx.spec.name}-p{number:04d}"
    )
    data["description"] = (
        f"Evolved from {', '.join(b.label for b in ctx.space.bases)} by evolvelab evolve "
        f"(trial {number} of study '{ctx.study}')."
    )
    return data


def finish(
    ctx: Context, *, llm: LLM | None = None, progress: bool = True, console: Any = None
) -> EvolveResult:
    """Select the winner, score it on held-out users, write every result file.

    Args:
        ctx: the prepared search.
        llm: the LLM candidate pipelines use (tests).
        progress: print the results table.
        console: the rich Console to print on.

    Returns:
        The result (also in ``OUT/result.json``).

    Raises:
        EvolveLabError: when every finished trial failed (no pipeline to select), after
            the trial files, ``trials.csv`` and the report are written; it quotes the
            first failure.
    """
    import optuna

    from evolvelab.search.progress import study_counts
    from evolvelab.search.report import print_results, write_report

    study = optuna.load_study(study_name=ctx.study, storage=open_storage(ctx.storage))
    records = [TrialRecord.from_trial(t) for t in study.get_trials(deepcopy=False)]
    for record in records:
        if record.released is not None:
            mark_released(ctx, record.number, record.released)
    records = [r for r in records if r.released is None]
    for record in records:
        _write_trial_file(ctx, record)
    rows = _rows(ctx, records)
    _write_csv(ctx.out / "trials.csv", rows)
    counts = study_counts(study)
    result = EvolveResult(
        out=str(ctx.out),
        study=ctx.study,
        storage=ctx.storage,
        budget=ctx.budget,
        complete=counts["complete"],
        failed=counts["failed"],
        running=counts["running"],
        waiting=counts["waiting"],
        objectives=ctx.objective_names,
        train_users=ctx.users("train"),
        validation_users=ctx.users("validation"),
        test_users=ctx.users("test"),
        folds=ctx.folds,
        rows=rows,
    )
    scorer = _Scorer(ctx, llm)
    try:
        _select(ctx, study, records, scorer, result)
    finally:
        scorer.close()
    result.headline = headline(ctx, result)
    for finalist in result.best:
        finalist.file = (
            "best.yaml" if finalist.role == "best" else f"pareto/{finalist.number:04d}.yaml"
        )
        path = ctx.out / finalist.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            render_pipeline(
                _named(ctx, finalist.yaml, finalist.number),
                _best_header(ctx, result, finalist, finalist.file),
            ),
            encoding="utf-8",
        )
    if counts["running"] or counts["waiting"]:
        result.notes.append(
            f"{counts['running']} trial(s) running and {counts['waiting']} waiting: "
            "re-run the same command to continue; these results are partial"
        )
    if not (ctx.users("validation") or ctx.folds or ctx.users("test")):
        result.notes.append("no held-out users: the winner is reported on train users only")
    write_report(ctx, study, result)
    (ctx.out / "result.json").write_text(
        json.dumps(asdict(result), indent=2, default=str) + "\n", encoding="utf-8"
    )
    if progress:
        print_results(ctx, result, console=console)
    if result.failed and not (result.complete or result.running or result.waiting):
        raise EvolveLabError(_all_failed(records, result.failed, ctx.out))
    return result


def _all_failed(records: list[TrialRecord], failed: int, out: Path) -> str:
    """Say that no trial produced a valid pipeline, and why the first one failed."""
    first = next((r for r in sorted(records, key=lambda r: r.number) if r.error), None)
    why = (
        f"; trial {first.number} failed with: {first.error.strip().splitlines()[0]}"
        if first is not None and first.error and first.error.strip()
        else ""
    )
    return (
        f"no trial produced a valid pipeline ({failed} failed), so there is no best.yaml{why} "
        f"(every trial's error is in {out / 'trials'}/NNNN.yaml and trials.csv)"
    )
