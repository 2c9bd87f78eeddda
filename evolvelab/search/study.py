"""The Optuna study behind a search: storage, sampler, budget slots, claiming trials.

The budget is held in the study itself, as ``WAITING`` trials ("slots") created once by
whichever process creates the study (Optuna lets exactly one ``create_study`` of a name
succeed). Every worker, on this machine or another, claims slots with the storage's
atomic WAITING → RUNNING switch until none are left, so N slots give exactly N trials:
none lost, none run twice, however many workers share the study. The base pipeline(s)
fill the first slots; an LLM proposal fills the slot its worker claims next. A trial
interrupted with Ctrl-C is marked failed (``interrupted``) and its slot is put back, so
re-running the same command resumes where the study stopped.

Only public Optuna API is used, with one documented convention: a slot's fixed
parameters live in the trial system attr ``fixed_params``, as ``enqueue_trial`` writes them.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolvelab.errors import EvolveLabError
from evolvelab.search.record import ATTR, TrialRecord

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial, Trial

    from evolvelab.search.spec import EvolveSpec

__all__ = [
    "Sampling",
    "claim",
    "open_storage",
    "open_study",
    "reclaim_dead",
    "release",
    "released",
    "storage_url",
    "trial_seed",
]

_FIXED = "fixed_params"


def storage_url(storage: str | None, out: Path) -> str:
    """Return the storage to use: ``storage`` as given, or the journal file in ``out``."""
    return storage or str(out / "study.journal")


def open_storage(url: str) -> BaseStorage:
    """Open an Optuna storage: a URL (``sqlite:///``, ``postgresql://``) or a journal file.

    Raises:
        EvolveLabError: if the storage cannot be opened (a missing driver, a bad URL).
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend

    try:
        if "://" not in url:
            Path(url).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(url))
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
        rdb = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        return optuna.storages.get_storage(rdb)  # the cached wrapper every handle then shares
    except ImportError as err:
        hint = " (pip install 'evolvelab[postgres]')" if "psycopg" in str(err) else ""
        raise EvolveLabError(f"cannot open storage {url!r}: {err}{hint}") from err
    except Exception as err:
        raise EvolveLabError(f"cannot open storage {url!r}: {err}") from err


def trial_seed(seed: int, number: int) -> int:
    """Return the sampler seed of trial ``number`` in a search seeded ``seed``.

    Every trial gets its own seed, derived from the search's seed and its number, so a
    search draws the same trials however often it is interrupted and resumed, and
    however many workers share it: a resumed run continues the sequence instead of
    starting it over (re-seeding with the spec's seed would repeat the first trials).
    """
    digest = hashlib.sha256(f"evolvelab:{seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Sampling:
    """Make the spec's sampler for each trial, seeded by :func:`trial_seed`.

    Optuna's samplers hold their own random state; one sampler per trial, seeded from
    the trial number, keeps that state out of the process: TPE and NSGA-II read
    everything else they learn from the study itself.
    """

    spec: EvolveSpec
    seed: int

    def sampler(self, number: int | None = None) -> optuna.samplers.BaseSampler:
        """Return the sampler for trial ``number`` (``None``: the study's own handle)."""
        import optuna

        spec = self.spec
        kind = spec.sampler.type or ("tpe" if len(spec.objectives) == 1 else "nsga2")
        seed = self.seed if number is None else trial_seed(self.seed, number)
        if kind == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if kind == "nsga2":
            return optuna.samplers.NSGAIISampler(
                population_size=spec.sampler.population, seed=seed
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=spec.sampler.startup_trials,
                multivariate=True,
                group=True,
                constant_liar=True,
            )


def _enqueue(study: optuna.Study, fill: Mapping[str, Any] | None) -> None:
    fill = dict(fill or {})
    params = fill.pop("params", None) or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.enqueue_trial(params, user_attrs=TrialRecord.attrs(**fill))


def open_study(
    storage: BaseStorage,
    name: str,
    spec: EvolveSpec,
    *,
    budget: int,
    sampler: optuna.samplers.BaseSampler,
    fills: list[dict[str, Any]],
    wait_s: float = 120.0,
) -> tuple[optuna.Study, bool]:
    """Create the study with ``budget`` slots, or load it and wait until it is ready.

    Args:
        storage: the opened storage.
        name: the study name.
        spec: the evolve spec (its directions; its text is kept on the study).
        budget: trials wanted; on an existing study a larger budget adds slots.
        sampler: the sampler this process uses.
        fills: what the first slots hold (``{"params": {...}}`` or ``{"given": yaml}``,
            plus attrs such as ``origin``): the base pipeline(s).
        wait_s: how long to wait for another process to finish creating the study.

    Returns:
        The study and whether this process created it.

    Raises:
        EvolveLabError: if the existing study optimises other directions, or never
            becomes ready.
    """
    import optuna

    try:
        study = optuna.create_study(
            storage=storage, study_name=name, sampler=sampler, directions=spec.directions
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        created = False
    if created:
        study.set_user_attr(ATTR + "spec", spec.name)
        for fill in fills[:budget]:
            _enqueue(study, fill)
        for _ in range(budget - min(len(fills), budget)):
            _enqueue(study, None)
        study.set_user_attr(ATTR + "budget", budget)
        study.set_user_attr(ATTR + "ready", True)
        return study, True
    wanted = [d.name.lower() for d in study.directions]
    if wanted != spec.directions:
        raise EvolveLabError(
            f"study {name!r} optimises {wanted}, the spec asks for {spec.directions}; "
            "use another --study name"
        )
    deadline = time.monotonic() + wait_s
    while not study.user_attrs.get(ATTR + "ready"):
        if time.monotonic() > deadline:
            raise EvolveLabError(
                f"study {name!r} exists but was never made ready (its creator "
                "stopped early?); delete it or use another --study name"
            )
        time.sleep(0.5)
    have = int(study.user_attrs.get(ATTR + "budget", 0))
    if budget > have:
        for _ in range(budget - have):
            _enqueue(study, None)
        study.set_user_attr(ATTR + "budget", budget)
    return study, False


def _study_id(study: optuna.Study, storage: BaseStorage) -> int:
    return storage.get_study_id_from_name(study.study_name)


def claim(
    storage: BaseStorage,
    name: str,
    sampling: Sampling,
    *,
    fill: Mapping[str, Any] | None = None,
) -> tuple[optuna.Study, Trial] | None:
    """Claim the next slot of study ``name`` for this process; ``None`` when none are left.

    Args:
        storage: the opened storage.
        name: the study name.
        sampling: makes the claimed trial's sampler (seeded by its number).
        fill: put this in the claimed slot (an LLM proposal: ``{"params": ...}`` or
            ``{"given": yaml}`` plus attrs); only empty slots are taken then.

    Returns:
        A fresh study handle (so the sampler sees every finished trial) and the trial.
    """
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=name, storage=storage, sampler=sampling.sampler())
    study_id = _study_id(study, storage)
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if fill is not None and (frozen.system_attrs.get(_FIXED) or frozen.user_attrs):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, frozen.number)
        try:
            if not storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        extra = dict(fill or {})
        if fill is not None:
            storage.set_trial_system_attr(trial_id, _FIXED, extra.pop("params", None) or {})
        attrs = TrialRecord.attrs(**extra, host=socket.gethostname(), pid=os.getpid())
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        study.sampler = sampling.sampler(frozen.number)  # before the trial asks for anything
        return study, optuna.trial.Trial(study, trial_id)
    return None


def _refill(frozen: FrozenTrial) -> dict[str, Any]:
    """Return what an interrupted trial's slot held, to put it back as it was."""
    record = TrialRecord.from_trial(frozen)
    kept = ("given", "origin", "base", "mutation", "diagnosis")
    fill = record.model_dump(mode="json", include=set(kept), exclude_unset=True)
    if frozen.system_attrs.get(_FIXED):
        fill["params"] = frozen.system_attrs[_FIXED]
    return fill


def release(
    storage: BaseStorage,
    study: optuna.Study,
    trial: Trial | FrozenTrial,
    reason: str = "interrupted",
) -> None:
    """Fail ``trial`` as ``reason`` and put its slot back (same content), for a resume."""
    from optuna.trial import FrozenTrial, TrialState

    number = trial.number
    frozen = trial if isinstance(trial, FrozenTrial) else study.get_trials(deepcopy=False)[number]
    trial_id = storage.get_trial_id_from_study_id_trial_number(_study_id(study, storage), number)
    for key, value in TrialRecord.attrs(released=reason).items():
        storage.set_trial_user_attr(trial_id, key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.tell(number, state=TrialState.FAIL)
    _enqueue(study, _refill(frozen))


def reclaim_dead(storage: BaseStorage, study: optuna.Study) -> list[int]:
    """Release RUNNING trials whose worker process on this host is gone; return their numbers.

    Trials of other hosts cannot be checked from here and are left alone.
    """
    from optuna.trial import TrialState

    host = socket.gethostname()
    dead = []
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record = TrialRecord.from_trial(frozen)
        pid = record.pid
        if record.host != host or pid is None:
            continue
        try:
            os.kill(pid, 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        release(storage, study, frozen, reason="worker died")
        dead.append(frozen.number)
    return dead


def released(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was interrupted and its slot put back (it is not part of the budget)."""
    return ATTR + "released" in trial.user_attrs
