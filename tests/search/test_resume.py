"""Interrupting and resuming a search: it continues, says what was cut short, exits non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from evolvelab.search.trial import Evaluator
from evolvelab.search.evolve import evolve
from evolvelab.search.record import ATTR
from evolvelab.search.study import open_storage, trial_seed


def _trials(out: Path) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="quick", storage=open_storage(str(out / "study.journal")))
    return study.get_trials(deepcopy=False)


@pytest.fixture
def interrupt_third(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Raise KeyboardInterrupt in the third evaluation while ``state['stop']`` is true."""
    state = {"stop": True}
    calls: list[int] = []
    real = Evaluator.run

    def run(self, text, users, *, file="<candidate>"):
        calls.append(1)
        if len(calls) == 3 and state["stop"]:
            raise KeyboardInterrupt
        return real(self, text, users, file=file)

    monkeypatch.setattr(Evaluator, "run", run)
    return state


@pytest.mark.slow
def test_a_resumed_search_continues_instead_of_repeating_its_first_trials(
    write_spec, spec_text: str, tmp_path: Path, interrupt_third: dict[str, bool]
) -> None:
    spec = write_spec(spec_text.replace("trials: 5", "trials: 7"))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        evolve(spec, out=out, progress=False)
    interrupt_third["stop"] = False
    evolve(spec, out=out, progress=False)
    drawn = [
        json.dumps(t.params, sort_keys=True)
        for t in _trials(out)
        if t.state.name == "COMPLETE" and t.user_attrs.get(ATTR + "origin", "sampler") == "sampler"
    ]
    assert len(drawn) == 6 and len(set(drawn)) == 6  # the resumed run drew new parameters


def test_each_trial_has_its_own_seed() -> None:
    seeds = {trial_seed(0, n) for n in range(1000)} | {trial_seed(1, n) for n in range(1000)}
    assert len(seeds) == 2000 and trial_seed(0, 7) == trial_seed(0, 7)


@pytest.mark.slow
def test_an_interrupted_trials_file_says_interrupted(
    write_spec, tmp_path: Path, interrupt_third: dict[str, bool]
) -> None:
    spec, out = write_spec(), tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        evolve(spec, out=out, progress=False)
    text = (out / "trials" / "0002.yaml").read_text()
    assert "# interrupted: not scored; its slot was put back" in text
    assert "running" not in text
    # A worker that was killed never rewrote its file; the run that resumes does.
    interrupted = next(line for line in text.splitlines() if line.startswith("# interrupted"))
    (out / "trials" / "0002.yaml").write_text(text.replace(interrupted, "# train: running"))
    interrupt_third["stop"] = False
    evolve(spec, out=out, progress=False)
    text = (out / "trials" / "0002.yaml").read_text()
    assert "# interrupted (interrupted): not scored" in text and "running" not in text


_SIGTERM_AT_THE_END = """
import os, signal, sys, weakref

from evolvelab.search import results

real_finish = results.finish


def finish(*args, **kwargs):
    result = real_finish(*args, **kwargs)

    class Doomed:
        pass

    def tidy(_ref):  # SIGTERM lands while Python runs a weak-reference callback
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100000):
            pass

    doomed = Doomed()
    ref = weakref.ref(doomed, tidy)
    del doomed
    return result


results.finish = finish
from evolvelab.cli import main

sys.argv = ["evolvelab", "evolve", sys.argv[1], "--out", sys.argv[2], "--trials", "2", "--quiet"]
main()
"""


@pytest.mark.slow
def test_a_sigterm_near_the_end_is_not_swallowed(write_spec, tmp_path: Path) -> None:
    script = tmp_path / "term.py"
    script.write_text(textwrap.dedent(_SIGTERM_AT_THE_END), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(write_spec()), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 143, done.stderr
    assert "Exception ignored" not in done.stderr
    assert "interrupted: finished trials are kept" in done.stderr
