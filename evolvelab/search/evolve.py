"""The evolve loop: claim a slot, build a candidate, score it on the train users, tell Optuna.

    >>> from evolvelab.search.evolve import evolve
    >>> result = evolve("pipelines/evolve/sample.yaml", out="runs/sample")
    >>> result.best[0].train, result.best[0].validation

:func:`prepare` reads the spec, the base pipeline(s), the dataset and its split, and
derives the space; :func:`work` runs trials until the study's slots are used up (one
process; several share a study through its storage); :func:`evolve` ties them together,
with ``workers`` processes on this machine, then evaluates the winners and the base on the
validation users and writes the results (:mod:`evolvelab.search.results`).

A candidate that does not validate, or fails while running, becomes a FAILED trial with
the error text in its ``evolvelab.error`` attr; it never stops the search.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evolvelab.errors import ConfigError, EvolveLabError
from evolvelab.search.context import Context, prepare
from evolvelab.search.render import render_pipeline
from evolvelab.search.study import (
    ATTR,
    Sampling,
    claim,
    open_storage,
    open_study,
    release,
)
from evolvelab.search.trial import Evaluator, budgets, objective_values, train_attrs

if TYPE_CHECKING:
    import optuna
    from optuna.trial import Trial

    from evolvelab.search.results import EvolveResult
    from evolvelab.stages import LLM

__all__ = [
    "Context",
    "evolve",
    "mark_released",
    "prepare",
    "run_trial",
    "trial_header",
    "trial_status",
    "work",
]

Progress = Callable[["optuna.Study"], None]
INTERRUPTED = "not scored; its slot was put back (re-run the same command to resume)"
"""The status line of a trial file whose trial was interrupted or whose worker died."""


def trial_header(
    ctx: Context, number: int, origin: str, params: dict[str, Any], status: str
) -> str:
    """Return a trial file's comment header; ``status`` is its one-line outcome."""
    from evolvelab.search.results import reproduce_command

    lines = [
        f"# evolvelab evolve: trial {number} of study '{ctx.study}' (spec {ctx.spec_path})",
        f"# origin: {origin}",
    ]
    if params:
        lines.append("# params:")
        lines += [f"#   {name}: {json.dumps(value)}" for name, value in params.items()]
    lines.append(f"# {status}")
    reproduce = reproduce_command(ctx, f"trials/{number:04d}.yaml", ctx.train)
    lines.append(f"# reproduce: {reproduce}")
    return "\n".join(lines) + "\n"


def trial_status(ctx: Context, values: list[float] | None, error: str | None) -> str:
    """Return the one-line outcome of a trial for its file header."""
    if error is not None or values is None:
        return "failed: " + (error or "no values").splitlines()[0]
    scores = ", ".join(f"{n} {v:.4g}" for n, v in zip(ctx.objective_names, values, strict=True))
    return f"train ({', '.join(ctx.train)}): {scores}"


def mark_released(ctx: Context, number: int, reason: str) -> None:
    """Rewrite the status line of trial ``number``'s file when it still says "running".

    A worker that was killed (``reason``: ``worker died``) never rewrote its trial's file;
    the process that put the slot back does it, if the file is on this machine.
    """
    path = ctx.out / "trials" / f"{number:04d}.yaml"
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    running = "\n# train: running\n"
    if running in text:
        status = f"\n# interrupted ({reason}): {INTERRUPTED}\n"
        path.write_text(text.replace(running, status, 1), encoding="utf-8")


def _candidate(ctx: Context, trial: Trial) -> tuple[str, dict[str, Any], str]:
    """Return the trial's pipeline text (no header), its decoded params and its origin."""
    attrs = trial.user_attrs
    given = attrs.get(ATTR + "given")
    data = yaml.safe_load(given) if given else ctx.space.suggest(trial)
    if isinstance(data, dict):
        root = str(data.get("name") or ctx.spec.name)
        data["name"] = f"{root}-t{trial.number:04d}"
        data = {k: data[k] for k in sorted(data, key=lambda k: (k != "version", k != "name"))}
    params = {
        p.name: p.decode(trial.params[p.name]) for p in ctx.space.params() if p.name in trial.params
    }
    origin = str(attrs.get(ATTR + "origin", "sampler"))
    return render_pipeline(data if isinstance(data, dict) else {}), params, origin


def run_trial(
    ctx: Context, study: optuna.Study, trial: Trial, evaluator: Evaluator, misses: int = 0
) -> None:
    """Build, score and tell one claimed trial; failures are told as FAILED, never raised."""
    from optuna.trial import TrialState

    started = time.perf_counter()
    number = trial.number
    path = ctx.out / "trials" / f"{number:04d}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text, params, origin = "", {}, "sampler"
    values: list[float] | None = None
    error: str | None = None
    try:
        text, params, origin = _candidate(ctx, trial)
        trial.set_user_attr(ATTR + "yaml", text)
        trial.set_user_attr(ATTR + "pipeline", f"trials/{number:04d}.yaml")
        # The file is what runs, so error positions point at its lines; the status line
        # is rewritten in place afterwards, keeping every line where it was.
        running = trial_header(ctx, number, origin, params, "train: running")
        path.write_text(running + text, encoding="utf-8")
        report = evaluator.run(path.read_text(), ctx.train, file=str(path))
        values = objective_values(report, ctx.spec.objectives)
        trial.set_user_attr(ATTR + "train", train_attrs(report, misses=misses))
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
    trial.set_user_attr(ATTR + "seconds", round(time.perf_counter() - started, 3))
    if error is not None:
        trial.set_user_attr(ATTR + "error", error)
    header = trial_header(ctx, number, origin, params, trial_status(ctx, values, error))
    path.write_text(header + text, encoding="utf-8")
    if values is None:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, values)


def work(
    ctx: Context,
    *,
    worker: int = 0,
    progress: Progress | None = None,
    on_trial: Callable[[int], None] | None = None,
    llm: LLM | None = None,
    mutation_llm: LLM | None = None,
) -> int:
    """Run trials of the study until its slots are used up (or the spec's timeout).

    Args:
        ctx: the prepared search.
        worker: this process's index (each trial's sampler is seeded by its number).
        progress: called with the study after every trial.
        on_trial: called with each finished trial's number (tests interrupt here).
        llm: use this LLM in every candidate pipeline (tests).
        mutation_llm: the mutation operator's LLM (default: from the spec; none: off).

    Returns:
        How many trials this process finished.
    """
    from evolvelab.search.cache import EmbeddingCache
    from evolvelab.search.mutation import Mutator

    storage = open_storage(ctx.storage)
    sampling = Sampling(ctx.spec, ctx.seed)
    spec = ctx.spec
    evaluator = Evaluator(
        ctx.dataset,
        ctx.registry,
        cache=EmbeddingCache(ctx.out / "embeddings.sqlite"),
        ks=budgets(spec.objectives),
        limit=spec.dataset.limit,
        order=spec.dataset.order,
        llm=llm,
    )
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
        evaluator.close()
    return done


def evolve(
    spec_path: str | Path,
    *,
    out: str | Path,
    trials: int | None = None,
    storage: str | None = None,
    study: str | None = None,
    workers: int = 1,
    seed: int | None = None,
    progress: bool = True,
    console: Any = None,
    llm: LLM | None = None,
    mutation_llm: LLM | None = None,
    on_trial: Callable[[int], None] | None = None,
) -> EvolveResult:
    """Run (or resume) the search in ``spec_path`` and write its results to ``out``.

    Args:
        spec_path: the evolve spec file.
        out: the results folder (the default journal storage and embedding cache live here).
        trials: override the budget; on an existing study a larger one adds trials.
        storage: Optuna storage URL or journal file (``postgresql://...`` for many machines).
        study: the study name (default: the spec's).
        workers: processes to run on this machine.
        seed: the sampler seed (default: the spec's).
        progress: show a progress bar and the results table.
        console: a rich Console to draw on.
        llm: use this LLM in candidate pipelines (tests; single process only).
        mutation_llm: the mutation operator's LLM (tests; single process only).
        on_trial: called with each finished trial's number (single process only).

    Returns:
        The results (also written to ``out``).

    Raises:
        ConfigError: for problems in the spec or the files it names.
        EvolveLabError: if the storage cannot be opened or the study does not match.
        KeyboardInterrupt: on Ctrl-C, after the running trials' slots were put back.
    """
    import optuna

    from evolvelab.search.progress import ProgressView
    from evolvelab.search.results import finish
    from evolvelab.search.study import reclaim_dead
    from evolvelab.search.workers import run_workers

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    options = {"out": str(out), "trials": trials, "storage": storage, "study": study, "seed": seed}
    ctx = prepare(spec_path, **options)  # type: ignore[arg-type]
    ctx.out.mkdir(parents=True, exist_ok=True)
    store = open_storage(ctx.storage)
    handle, _ = open_study(
        store,
        ctx.study,
        ctx.spec,
        budget=ctx.budget,
        sampler=Sampling(ctx.spec, ctx.seed).sampler(),
        fills=ctx.fills,
    )
    reclaim_dead(store, handle)
    view = ProgressView(ctx, enabled=progress, console=console)
    with view:
        view.update(handle)
        if workers <= 1:
            work(ctx, progress=view.update, on_trial=on_trial, llm=llm, mutation_llm=mutation_llm)
        else:
            run_workers(ctx, str(spec_path), options, workers, view, store)
    return finish(ctx, llm=llm, progress=progress, console=console)
