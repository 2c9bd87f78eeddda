"""What a search leaves in ``--out``: trial files, the trials table, the winners, the report.

::

    OUT/
      study.journal          the Optuna study (default storage; optuna-dashboard reads it)
      embeddings.sqlite      the embedding cache shared by workers and resumed runs
      trials/0007.yaml       every trial's pipeline, with a header (params, train score,
                             the `evolvelab eval` command that reproduces it)
      trials.csv             one row per trial
      best.yaml              single objective: the best trial, with how it was found
      pareto/0012.yaml       several objectives: the Pareto set
      validation.json        validation scores (computed once per pipeline)
      report.md, *.png       the report and its plots
      result.json            the summary below, for scripts
      mutations/001.json     each LLM mutation attempt (when an LLM is configured)

:func:`finish` evaluates the winners and the base pipeline(s) on the validation users
(never seen during the search), writes all of it and prints the results table. Running
it again (re-running the same command after the budget is used) only refreshes it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evolvelab.search.render import render_pipeline
from evolvelab.search.study import ATTR, open_storage, released

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from evolvelab.evaluation import EvalReport
    from evolvelab.search.evolve import Context
    from evolvelab.stages import LLM

__all__ = ["EvolveResult", "Finalist", "finish", "reproduce_command"]


@dataclass
class Finalist:
    """A winning (or base) trial with its train and validation scores."""

    number: int
    role: str
    yaml: str
    train: dict[str, float]
    validation: dict[str, float] | None = None
    file: str | None = None
    error: str | None = None


@dataclass
class EvolveResult:
    """The outcome of a search, as ``result.json`` holds it."""

    out: str
    study: str
    storage: str
    budget: int
    complete: int
    failed: int
    running: int
    waiting: int
    objectives: list[str]
    train_users: list[str]
    validation_users: list[str]
    best: list[Finalist] = field(default_factory=list)
    base: list[Finalist] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _shown(path: str | Path) -> str:
    """Return ``path`` normalised: relative to the working directory when it lies below it
    or beside it (``../data/x.json``), else absolute."""
    full = Path(os.path.normpath(Path(path).absolute()))
    here = Path.cwd()
    if full.is_relative_to(here) or full.is_relative_to(here.parent):
        return os.path.relpath(full, here)
    return str(full)


def reproduce_command(ctx: Context, path: str, users: list[str]) -> str:
    """Return the ``evolvelab eval`` command that scores ``path`` as the search did.

    ``path`` is relative to the results folder; both it and the data file are written
    relative to the working directory the search ran in (absolute when outside it).
    """
    data = ctx.spec.dataset
    if data.type == "sample":
        from evolvelab.sample import sample_path

        kind, source = "jsonl", str(sample_path())
    else:
        kind, source = data.type, _shown(ctx.spec.resolve(data.path or ""))
    parts = ["evolvelab eval", _shown(ctx.out / path), "--dataset", kind, "--data", source]
    parts += [f"--user {u}" for u in users]
    if data.limit:
        parts.append(f"--limit {data.limit}")
    if data.order:
        parts.append(f"--order {data.order}")
    if data.type == "goodai" and data.seed:
        parts.append(f"--seed {data.seed}")
    return " ".join(parts)


def metrics(report: EvalReport) -> dict[str, float]:
    """Return a report's scores under the objective metric names."""
    out = {f"recall@{k}": float(v) for k, v in report.recall.items()}
    out["mrr"] = float(report.mrr or 0.0)
    out["search_p95"] = float(report.search_ms.p95 or 0.0)
    out["llm_tokens"] = float(report.llm.prompt_tokens + report.llm.completion_tokens)
    out["ingest_seconds"] = float(report.ingest.seconds)
    return out


def _train_metrics(trial: FrozenTrial, objectives: list[str]) -> dict[str, float]:
    train = trial.user_attrs.get(ATTR + "train", {})
    out = {f"recall@{k}": float(v) for k, v in train.get("recall", {}).items()}
    for name in ("mrr", "search_p95", "llm_tokens", "ingest_seconds"):
        if train.get(name) is not None:
            out[name] = float(train[name])
    out.update(zip(objectives, trial.values or [], strict=False))
    return out


def _write_trial_file(ctx: Context, trial: FrozenTrial) -> None:
    """Write a trial's file from the study when this machine has none (another ran it)."""
    from evolvelab.search.evolve import trial_header, trial_status

    path = ctx.out / "trials" / f"{trial.number:04d}.yaml"
    text = trial.user_attrs.get(ATTR + "yaml")
    if not text or path.exists():
        return
    names = {p.name: p for p in ctx.space.params()}
    params = {k: names[k].decode(v) if k in names else v for k, v in trial.params.items()}
    status = trial_status(ctx, trial.values, trial.user_attrs.get(ATTR + "error"))
    origin = str(trial.user_attrs.get(ATTR + "origin", "sampler"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        trial_header(ctx, trial.number, origin, params, status) + text, encoding="utf-8"
    )


def _rows(ctx: Context, trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        train = _train_metrics(trial, ctx.objective_names)
        error = str(attrs.get(ATTR + "error", "")).splitlines()
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name.lower(),
                "origin": attrs.get(ATTR + "origin", "sampler"),
                **{name: train.get(name) for name in ctx.objective_names},
                **{k: v for k, v in train.items() if k not in ctx.objective_names},
                "seconds": attrs.get(ATTR + "seconds"),
                "pipeline": attrs.get(ATTR + "pipeline", ""),
                "error": error[0] if error else "",
                "params": json.dumps(trial.params, sort_keys=False),
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


class _Validation:
    """Validation scores, computed once per (pipeline, users) and kept in ``validation.json``."""

    def __init__(self, ctx: Context, llm: LLM | None) -> None:
        self.ctx, self.llm = ctx, llm
        self.path = ctx.out / "validation.json"
        self.known: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self._evaluator: Any = None

    def score(self, text: str) -> dict[str, float] | str:
        from evolvelab.errors import ConfigError

        ctx = self.ctx
        key = hashlib.sha256(
            json.dumps([text, ctx.validation, ctx.spec.dataset.limit]).encode()
        ).hexdigest()
        if key not in self.known:
            try:
                report = self._evaluate(text)
                self.known[key] = metrics(report)
            except ConfigError as err:
                self.known[key] = err.render()
            except Exception as err:
                self.known[key] = f"{type(err).__name__}: {err}"
            self.path.write_text(json.dumps(self.known, indent=1) + "\n", encoding="utf-8")
        return self.known[key]  # type: ignore[no-any-return]

    def _evaluate(self, text: str) -> EvalReport:
        from evolvelab.search.cache import EmbeddingCache
        from evolvelab.search.trial import Evaluator, budgets

        if self._evaluator is None:
            spec = self.ctx.spec
            self._evaluator = Evaluator(
                self.ctx.dataset,
                self.ctx.registry,
                cache=EmbeddingCache(self.ctx.out / "embeddings.sqlite"),
                ks=budgets(spec.objectives),
                limit=spec.dataset.limit,
                order=spec.dataset.order,
                llm=self.llm,
            )
        return self._evaluator.run(text, self.ctx.validation, file="<validation>")  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._evaluator is not None:
            self._evaluator.close()


def _finalists(
    ctx: Context, study: Any, trials: list[FrozenTrial]
) -> list[tuple[str, FrozenTrial]]:
    from evolvelab.search.mutation import best_trials

    if len(ctx.spec.objectives) == 1:
        return [("best", t) for t in best_trials(ctx, study, 1)]
    pareto = [t for t in study.best_trials if not released(t)]
    sign = -1.0 if ctx.spec.objectives[0].goal == "maximize" else 1.0
    return [
        ("pareto", t) for t in sorted(pareto, key=lambda t: (sign * t.values[0], t.number))[:12]
    ]


def _best_header(ctx: Context, finalist: Finalist, bases: list[Finalist], file: str) -> str:
    names = ctx.objective_names
    base = bases[0] if bases else None

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
    lines = [
        f"Evolved by `evolvelab evolve {ctx.spec_path}`: study '{ctx.study}', {ctx.budget} trials,",
        f"sampler {sampler} seed {ctx.seed}; base: {', '.join(b.label for b in ctx.space.bases)}.",
        f"Trial {finalist.number} ({'best' if finalist.role == 'best' else 'on the Pareto front'}) "
        f"selected on train users {', '.join(ctx.train)}.",
        f"train: {scores('train')}",
        f"validation ({', '.join(ctx.validation) or 'none'}): {scores('validation')}",
        "reproduce: " + reproduce_command(ctx, file, ctx.validation or ctx.train),
    ]
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
    """Evaluate winners and base on the validation users; write every result file.

    Args:
        ctx: the prepared search.
        llm: the LLM candidate pipelines use (tests).
        progress: print the results table.
        console: the rich Console to print on.

    Returns:
        The result (also in ``OUT/result.json``).
    """
    import optuna

    from evolvelab.search.progress import study_counts
    from evolvelab.search.report import print_results, write_report

    from evolvelab.search.evolve import mark_released

    study = optuna.load_study(study_name=ctx.study, storage=open_storage(ctx.storage))
    for trial in study.get_trials(deepcopy=False):
        if released(trial):
            mark_released(ctx, trial.number, str(trial.user_attrs[ATTR + "released"]))
    trials = [t for t in study.get_trials(deepcopy=False) if not released(t)]
    for trial in trials:
        _write_trial_file(ctx, trial)
    rows = _rows(ctx, trials)
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
        train_users=ctx.train,
        validation_users=ctx.validation,
        rows=rows,
    )
    validation = _Validation(ctx, llm)
    try:
        picked = _finalists(ctx, study, trials)
        bases = [t for t in trials if t.user_attrs.get(ATTR + "origin") == "base"]
        for role, group in (("base", [("base", t) for t in bases]), ("best", picked)):
            for kind, trial in group:
                text = trial.user_attrs.get(ATTR + "yaml", "")
                error = trial.user_attrs.get(ATTR + "error")
                scores = validation.score(text) if text and ctx.validation and not error else None
                finalist = Finalist(
                    trial.number,
                    kind,
                    text,
                    _train_metrics(trial, ctx.objective_names),
                    scores if isinstance(scores, dict) else None,
                    trial.user_attrs.get(ATTR + "pipeline"),
                    error or (scores if isinstance(scores, str) else None),
                )
                (result.base if role == "base" else result.best).append(finalist)
    finally:
        validation.close()
    for finalist in result.best:
        if finalist.role == "best":
            finalist.file = "best.yaml"
        else:
            finalist.file = f"pareto/{finalist.number:04d}.yaml"
        path = ctx.out / finalist.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            render_pipeline(
                _named(ctx, finalist.yaml, finalist.number),
                _best_header(ctx, finalist, result.base, finalist.file),
            ),
            encoding="utf-8",
        )
    if counts["running"] or counts["waiting"]:
        result.notes.append(
            f"{counts['running']} trial(s) running and {counts['waiting']} waiting: "
            "re-run the same command to continue; these results are partial"
        )
    if not ctx.validation:
        result.notes.append("no validation users: the winners are reported on train users only")
    write_report(ctx, study, result)
    (ctx.out / "result.json").write_text(
        json.dumps(asdict(result), indent=2, default=str) + "\n", encoding="utf-8"
    )
    if progress:
        print_results(ctx, result, console=console)
    return result
