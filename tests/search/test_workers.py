"""Several workers on one study: every budget slot runs exactly once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import optuna
import pytest

from evolvelab.search.evolve import evolve
from evolvelab.search.specfile import load_spec
from evolvelab.search.record import ATTR
from evolvelab.search.study import Sampling, claim, open_storage, open_study


def test_concurrent_claims_take_each_slot_once(write_spec, tmp_path: Path) -> None:
    spec = load_spec(write_spec())
    url = str(tmp_path / "study.journal")
    open_study(
        open_storage(url), "race", spec, budget=24, sampler=Sampling(spec, 0).sampler(), fills=[]
    )
    taken: list[int] = []

    def worker() -> None:
        storage = open_storage(url)  # its own handle, as a separate process would have
        while (claimed := claim(storage, "race", Sampling(spec, 0))) is not None:
            study, trial = claimed
            trial.suggest_float("x", 0, 1)
            taken.append(trial.number)
            study.tell(trial, 0.5)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(24))
    study = optuna.load_study(study_name="race", storage=open_storage(url))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 24


@pytest.mark.slow
def test_two_worker_processes_complete_exactly_the_budget(write_spec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = evolve(write_spec(), out=out, trials=8, workers=2, progress=False)
    assert (result.complete, result.failed, result.running, result.waiting) == (8, 0, 0, 0)
    study = optuna.load_study(study_name="quick", storage=open_storage(str(out / "study.journal")))
    trials = study.trials
    assert [t.number for t in trials] == list(range(8))
    assert all(t.state.name == "COMPLETE" and t.user_attrs.get(ATTR + "yaml") for t in trials)
    # every trial ran in one of the two worker processes, none in this one
    pids = {t.user_attrs[ATTR + "pid"] for t in trials}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert sorted(p.name for p in (out / "trials").iterdir()) == [f"{n:04d}.yaml" for n in range(8)]


def test_a_dead_workers_trial_goes_back_to_the_budget(write_spec, tmp_path: Path) -> None:
    import subprocess
    import sys

    from evolvelab.search.study import reclaim_dead, released

    spec = load_spec(write_spec())
    storage = open_storage(str(tmp_path / "study.journal"))
    study, _ = open_study(
        storage, "dead", spec, budget=3, sampler=Sampling(spec, 0).sampler(), fills=[]
    )
    _, trial = claim(storage, "dead", Sampling(spec, 0))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    trial.set_user_attr(ATTR + "pid", int(gone.stdout))
    assert reclaim_dead(storage, study) == [trial.number]
    trials = optuna.load_study(study_name="dead", storage=storage).trials
    assert released(trials[trial.number]) and [t.state.name for t in trials].count("WAITING") == 3
