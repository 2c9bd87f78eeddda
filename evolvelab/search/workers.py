"""Several worker processes on this machine over one study (``--workers N``).

Each child prepares its own context from the same arguments and runs
:func:`~evolvelab.search.loop.work` until the study's slots are used up; the parent only
draws the progress of all of them from the shared storage. SIGTERM acts like Ctrl-C in a
child: its running trial's slot is put back and it exits 143 (Ctrl-C: 130), which the
parent reports as an interruption.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from typing import TYPE_CHECKING, Any

from evolvelab.errors import EvolveLabError
from evolvelab.search.interrupt import SIGTERM_EXIT

if TYPE_CHECKING:
    from evolvelab.search.context import Context
    from evolvelab.search.progress import ProgressView

__all__ = ["INTERRUPTED_EXIT", "run_workers"]

INTERRUPTED_EXIT = 130
"""Exit status of a worker stopped by Ctrl-C (SIGTERM: 143)."""


def _worker_main(spec_path: str, options: dict[str, Any]) -> None:
    """Entry point of a ``--workers`` child process."""
    import sys

    import optuna

    from evolvelab.search.context import prepare
    from evolvelab.search.loop import work
    from evolvelab.search.interrupt import SIGTERM_EXIT, terminate_as_interrupt

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stopped = False
    with terminate_as_interrupt() as termination:
        try:
            work(prepare(spec_path, **options))
        except KeyboardInterrupt:
            stopped = True
    if stopped or termination.received:
        sys.exit(SIGTERM_EXIT if termination.received else INTERRUPTED_EXIT)


def run_workers(
    ctx: Context,
    spec_path: str,
    options: dict[str, Any],
    workers: int,
    view: ProgressView,
    store: Any,
) -> None:
    """Run ``workers`` child processes on the study; redraw ``view`` until they all exit.

    Args:
        ctx: the prepared search (the parent's).
        spec_path: the spec file each child prepares from.
        options: the keyword arguments of :func:`~evolvelab.search.context.prepare`.
        workers: how many children.
        view: the progress bar to redraw.
        store: the opened storage the parent reads progress from.

    Raises:
        EvolveLabError: if a child exits with an error.
        KeyboardInterrupt: on Ctrl-C, once the children have put their slots back.
    """
    import optuna

    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(target=_worker_main, args=(spec_path, options), daemon=False)
        for _ in range(workers)
    ]
    for child in children:
        child.start()
    try:
        while any(child.is_alive() for child in children):
            view.update(optuna.load_study(study_name=ctx.study, storage=store))
            time.sleep(0.5)
        view.update(optuna.load_study(study_name=ctx.study, storage=store))
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the children too; a `kill` of this process does not,
        # so stop those still running after a grace period (SIGTERM: they put slots back).
        for child in children:
            child.join(timeout=5)
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join(timeout=60)
        raise
    codes = [child.exitcode for child in children]
    if any(code in (INTERRUPTED_EXIT, SIGTERM_EXIT, -signal.SIGTERM) for code in codes):
        raise KeyboardInterrupt  # a worker was stopped: its slot is back, resume later
    failed = [i for i, code in enumerate(codes) if code not in (0, None)]
    if failed:
        raise EvolveLabError(f"worker(s) {failed} exited with an error; see their output above")
