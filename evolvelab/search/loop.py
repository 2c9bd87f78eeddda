"""The trial loop: claim a slot, build its candidate, score it on the search users, tell Optuna.

:func:`work` runs trials until the study's slots are used up (one process; several
share a study through its storage); :func:`run_trial` runs one. A candidate that does
not validate, or fails while running, becomes a FAILED trial with its error in the
trial record; it never stops the search. Ctrl-C (or SIGTERM) puts the running trial's
slot back and says so in its file.

With folds (``split: {folds: k}``) a trial is scored on each fold separately and its
objective values are the mean over folds; the per-fold values stay in its record, for
selection.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from evolvelab.errors import ConfigError, EvolveLabError
from evolvelab.search.record import TrialRecord
from evolvelab.search.render import render_pipeline
from evolvelab.search.study import Sampling, claim, open_storage, release
from evolvelab.search.trial import Evaluator, merge_folds, merge_tasks, scores
from evolvelab.search.trialfile import (
    INTERRUPTED,
    RUNNING,
    trial_header,
    trial_path,
    trial_status,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import Trial

    from evolvelab.search.context import Context
    from evolvelab.search.record import Scores
    from evolvelab.stages import LLM

__all__ = ["Progress", "evaluators", "run_trial", "score_splits", "work"]

Progress = Callable[["optuna.Study"], None]


def _set(trial: Trial, **fields: Any) -> None:
    for key, value in TrialRecord.attrs(**fields).items():
        trial.set_user_attr(key, value)


def _candidate(ctx: Context, trial: Trial) -> tuple[str, dict[str, Any], str]:
    """Return the trial's pipeline text (no header), its decoded params and its origin."""
    record = TrialRecord.from_attrs(trial.number, trial.user_attrs)
    data = yaml.safe_load(record.given) if record.given else ctx.space.suggest(trial)
    if isinstance(data, dict):
        root = str(data.get("name") or ctx.spec.name)
        data["name"] = f"{root}-t{trial.number:04d}"
        data = {k: data[k] for k in sorted(data, key=lambda k: (k != "version", k != "name"))}
    params = {
        p.name: p.decode(trial.params[p.name]) for p in ctx.space.params() if p.name in trial.params
    }
    return render_pipeline(data if isinstance(data, dict) else {}), params, record.origin


def evaluators(ctx: Context, *, cached: bool = True, llm: LLM | None = None) -> dict[str, Evaluator]:
    """Return one evaluator per task stream, sharing the embedding cache (or none)."""
    from evolvelab.search.cache import EmbeddingCache

    cache = EmbeddingCache(ctx.out / "embeddings.sqlite") if cached else None
    return {
        task.name: Evaluator(
            task.dataset,
            ctx.registry,
            cache=cache,
            ks=ctx.table.budgets(ctx.objective_names),
            limit=task.spec.limit,
            order=task.spec.order,
            llm=llm,
        )
        for task in ctx.tasks
    }


def score_splits(
    ctx: Context, evaluator: Mapping[str, Evaluator], text: str, file: str, misses: int = 0
) -> Scores:
    """Score a pipeline on the search users: each task's train users, or each fold (merged);
    several tasks are combined by their weights."""
    names = ctx.objective_names
    named = []
    for task in ctx.tasks:
        run = evaluator[task.name].run
        parts = [
            scores(run(text, users, file=file), ctx.table, names, users=users, misses=misses)
            for users in task.search_splits
        ]
        named.append((task.name, task.weight, merge_folds(parts, misses) if task.folds else parts[0]))
    return named[0][2] if len(named) == 1 else merge_tasks(named)


def run_trial(
    ctx: Context,
    study: optuna.Study,
    trial: Trial,
    evaluator: Mapping[str, Evaluator],
    misses: int = 0,
) -> None:
    """Build, score and tell one claimed trial; failures are told as FAILED, never raised."""
    from optuna.trial import TrialState

    started = time.perf_counter()
    number = trial.number
    path = trial_path(ctx, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    text, params, origin = "", {}, "sampler"
    values: list[float] | None = None
    error: str | None = None
    try:
        text, params, origin = _candidate(ctx, trial)
        _set(trial, yaml=text, pipeline=f"trials/{number:04d}.yaml")
        # The file is what runs, so error positions point at its lines; the status line
        # is rewritten in place afterwards, keeping every line where it was.
        path.write_text(trial_header(ctx, number, origin, params, RUNNING) + text, "utf-8")
        train = score_splits(ctx, evaluator, path.read_text(), str(path), misses)
        values = [train.metrics[name] for name in ctx.objective_names]
        _set(trial, train=train)
    except (KeyboardInterrupt, SystemExit):
        if path.exists():  # the caller puts the slot back; the file says so, not "running"
            status = f"interrupted: {INTERRUPTED}"
            path.write_text(trial_header(ctx, number, origin, params, status) + text, "utf-8")
        raise
    except ConfigError as err:
        error = err.render()
    except Exception as err:  # a failing candidate is a result, never the end of the search
        error = f"{type(err).__name__}: {err}"
        if not isinstance(err, EvolveLabError):
            error += "\n" + "".join(traceback.format_exception(err)[-3:])
    _set(trial, seconds=round(time.perf_counter() - started, 3))
    if error is not None:
        _set(trial, error=error)
    header = trial_header(ctx, number, origin, params, trial_status(ctx, values, error))
    path.write_text(header + text, encoding="utf-8")
    if values is None:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, values)


def work(
    ctx: Context,
    *,
    progress: Progress | None = None,
    on_trial: Callable[[int], None] | None = None,
    llm: LLM | None = None,
    mutation_llm: LLM | None = None,
) -> int:
    """Run trials of the study until its slots are used up (or the spec's timeout).

    Args:
        ctx: the prepared search.
        progress: called with the study after every trial.
        on_trial: called with each finished trial's number (tests interrupt here).
        llm: use this LLM in every candidate pipeline (tests).
        mutation_llm: the mutation operator's LLM (default: from the spec; none: off).

    Returns:
        How many trials this process finished.
    """
    from evolvelab.search.mutation import Mutator

    storage = open_storage(ctx.storage)
    sampling = Sampling(ctx.spec, ctx.seed)
    spec = ctx.spec
    evaluator = evaluators(ctx, llm=llm)
    mutator = Mutator.create(ctx, mutation_llm)
    started = time.monotonic()
    done = 0
    fill: dict[str, Any] | None = None
    try:
        while spec.timeout_s is None or time.monotonic() - started < spec.timeout_s:
            claimed = claim(storage, ctx.study, sampling, fill=fill) if fill else None
            claimed = claimed or claim(storage, ctx.study, sampling)
            fill = None
            if claimed is None:
                break
            study, trial = claimed
            try:
                run_trial(ctx, study, trial, evaluator, misses=mutator.misses if mutator else 0)
            except BaseException:
                release(storage, study, trial)
                raise
            done += 1
            if progress is not None:
                progress(study)
            if on_trial is not None:
                on_trial(trial.number)
            if mutator is not None:
                fill = mutator.maybe_propose(study)
    finally:
        for each in evaluator.values():
            each.close()
    return done
