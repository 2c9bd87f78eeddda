"""Run a search: prepare it, run its trials (here or in worker processes), finish it.

A base pipeline (BM25 over turns, in memory) and a spec that tries it with and without
stop words in the query, on the bundled sample stream: trained on user ana, the winner
chosen on user ben (``pipelines/evolve/sample.yaml`` is the full-size job):

    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from evolvelab.search.evolve import evolve
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "bm25.yaml").write_text('''
    ... version: 1
    ... name: bm25
    ... embedder: {type: none}
    ... encode: [{type: turn, speaker: true}]
    ... store: {type: memory}
    ... retrieve: [{type: bm25, k: 20}]
    ... ''')
    >>> _ = (folder / "tiny.yaml").write_text('''
    ... version: 1
    ... name: tiny
    ... base: [bm25.yaml]
    ... dataset: {type: sample, train: {users: [ana]}, validation: {users: [ben]}}
    ... objectives: [{metric: recall@10}]
    ... sampler: {type: tpe, seed: 0, startup_trials: 2}
    ... trials: 2
    ... space:
    ...   retrieve[0].drop_stop_words: {choices: [false, true]}
    ... ''')
    >>> result = evolve(folder / "tiny.yaml", out=folder / "out", progress=False)
    >>> result.complete, result.winner.role
    (2, 'best')
    >>> print(result.headline)
    held-out gain +0.1250 recall@10 on validation users (ben), which also chose the
    winner, so this is optimistic (add a test split): 0.5000 against the base's 0.3750;
    trial 1 is the winner
    >>> (folder / "out" / "best.yaml").exists()
    True
    >>> shutil.rmtree(folder)

:func:`~evolvelab.search.context.prepare` reads the spec, the base pipeline(s), the
dataset and its split, and derives the space; :func:`~evolvelab.search.loop.work` runs
trials until the study's slots are used up; :func:`evolve` ties them together, with
``workers`` processes on this machine, then selects the winner and writes the results
(:mod:`evolvelab.search.results`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolvelab.search.context import prepare
from evolvelab.search.loop import work
from evolvelab.search.study import Sampling, open_storage, open_study

if TYPE_CHECKING:
    from evolvelab.search.outcome import EvolveResult
    from evolvelab.stages import LLM

__all__ = ["evolve"]


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
