"""The evolve loop on the bundled sample stream: results, failures, resume, mutation."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest
import yaml

from evolvelab.datasets import load_jsonl
from evolvelab.datasets.sample import sample_path
from evolvelab.evaluation import evaluate_pipeline
from evolvelab.evaluation.plots import plots_available
from evolvelab.search.trial import Evaluator
from evolvelab.search.evolve import evolve
from evolvelab.search.record import ATTR
from evolvelab.search.study import open_storage
from evolvelab.testing import FakeLLM


def _trials(out: Path, name: str = "quick") -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=open_storage(str(out / "study.journal")))
    return study.get_trials(deepcopy=False)


@pytest.mark.slow
def test_loop_writes_reproducible_results(
    write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # paths in the results are written relative to the working folder
    out = tmp_path / "out"
    result = evolve(write_spec(), out=out, progress=False)
    assert (result.complete, result.failed, result.waiting, result.running) == (5, 0, 0, 0)
    trials = _trials(out)
    assert (
        trials[0].user_attrs[ATTR + "origin"] == "base" and trials[0].params["retrieve[0].k"] == 20
    )
    assert sorted(p.name for p in (out / "trials").iterdir()) == [f"{n:04d}.yaml" for n in range(5)]
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [int(r["number"]) for r in rows] == list(range(5)) and all(r["recall@10"] for r in rows)
    best = (out / "best.yaml").read_text()
    assert "# Evolved by `evolvelab evolve" in best and "validation (ben): recall@10" in best
    assert result.best[0].validation is not None and result.base[0].validation is not None
    plotted = "## Optimisation history" if plots_available() else "Plots left out"  # `plots` extra
    assert plotted in (out / "report.md").read_text()
    # A trial file scored on its own, as its header says, gives the recorded train score.
    number = result.best[0].number
    header = (out / "trials" / f"{number:04d}.yaml").read_text()
    assert f"# reproduce: evolvelab eval out/trials/{number:04d}.yaml --dataset jsonl" in header
    assert "--user ana" in header
    again = evaluate_pipeline(
        out / "trials" / f"{number:04d}.yaml", load_jsonl(sample_path()), scopes=["ana"]
    )
    assert again.recall["10"] == pytest.approx(result.best[0].train["recall@10"])


def test_invalid_candidates_fail_with_their_error(
    write_spec, tmp_path: Path, spec_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # k: 0 is refused when the spec loads (test_spec.py); with that check off it stands in
    # for any candidate only the running config rejects (a rule across fields or slots).
    from evolvelab.search import derive

    monkeypatch.setattr(derive._Builder, "_check_named", lambda *args: None)
    spec = write_spec(spec_text.replace("trials: 5", "trials: 3") + "  retrieve[0].k: {value: 0}\n")
    result = evolve(spec, out=tmp_path / "out", progress=False)
    assert (result.complete, result.failed) == (1, 2)  # the base runs as given; the others cannot
    failed = [t for t in _trials(tmp_path / "out") if t.state.name == "FAIL"]
    assert all(
        "retrieve[0].k: input should be greater than or equal to 1" in t.user_attrs[ATTR + "error"]
        for t in failed
    )
    path = tmp_path / "out" / "trials" / f"{failed[0].number:04d}.yaml"
    lines = path.read_text().splitlines()
    assert any(line.startswith("# failed: ") for line in lines)
    # The error points at the line of the trial's own file that holds the bad value.
    where = failed[0].user_attrs[ATTR + "error"].split(": retrieve[0].k")[0]
    line, col = (int(n) for n in where.rsplit(":", 2)[1:])
    assert where.startswith(str(path)) and lines[line - 1][col - 1 :].startswith("0")


@pytest.mark.slow
def test_interrupted_search_resumes_without_redoing_trials(
    write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    real = Evaluator.run

    def counting(self, text, users, *, file="<candidate>"):
        calls.append(list(users))
        if len(calls) == 3 and stop:
            raise KeyboardInterrupt
        return real(self, text, users, file=file)

    monkeypatch.setattr(Evaluator, "run", counting)
    stop = True
    spec, out = write_spec(), tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        evolve(spec, out=out, progress=False)
    trials = _trials(out)
    assert [t.state.name for t in trials[:3]] == ["COMPLETE", "COMPLETE", "FAIL"]
    assert trials[2].user_attrs[ATTR + "released"] == "interrupted"
    stop, calls[:] = False, []
    result = evolve(spec, out=out, progress=False)
    assert calls.count(["ana"]) == 3  # the three trials left; none of the first run's again
    assert result.complete == 5 and result.failed == 0
    done = [t for t in _trials(out) if t.state.name == "COMPLETE"]
    assert len(done) == 5 and len({t.number for t in done}) == 5


@pytest.mark.slow
def test_rerun_after_the_budget_only_reports(write_spec, tmp_path: Path) -> None:
    spec, out = write_spec(), tmp_path / "out"
    evolve(spec, out=out, trials=2, progress=False)
    result = evolve(spec, out=out, trials=3, progress=False)  # a larger budget adds one slot
    assert result.complete == 3 and len(_trials(out)) == 3


def _proposal(base_file: Path, k: int, refiner: bool):
    from evolvelab.search.prompts import Diagnosis, Proposal

    base = yaml.safe_load(base_file.read_text(encoding="utf-8"))
    base["retrieve"][0]["k"] = k
    if refiner:
        base["retrieve"].append({"type": "neighbours", "window": 1})
    return Proposal(
        diagnosis=Diagnosis(
            encode="none found",
            store="none found",
            retrieve="the budget is too small",
            manage="none found",
        ),
        design="Widen the fused list.",
        pipeline_yaml=yaml.safe_dump(base, sort_keys=False),
    )


@pytest.mark.slow
def test_llm_mutation_fills_slots(
    write_spec, tmp_path: Path, spec_text: str, fast_pipeline: Path
) -> None:
    from evolvelab.search.prompts import Proposal

    first, later = _proposal(fast_pipeline, 33, refiner=False), _proposal(fast_pipeline, 25, refiner=True)
    llm = FakeLLM().queue(first).always(Proposal, later)
    spec = write_spec(
        spec_text.replace("trials: 5", "trials: 6") + "mutation: {every: 2, top: 2}\n"
    )
    evolve(spec, out=tmp_path / "out", progress=False, mutation_llm=llm)
    mutated = [
        t for t in _trials(tmp_path / "out") if t.user_attrs.get(ATTR + "origin") == "mutation"
    ]
    assert len(mutated) == 2
    assert mutated[0].params["retrieve[0].k"] == 33  # expressible: run as the trial's parameters
    assert mutated[1].params == {} and "neighbours" in mutated[1].user_attrs[ATTR + "given"]
    assert (tmp_path / "out" / "mutations" / "001.json").is_file()
    assert len(_trials(tmp_path / "out")) == 6  # proposals fill budget slots, never add trials


@pytest.mark.slow
def test_several_objectives_give_a_pareto_set(write_spec, tmp_path: Path, spec_text: str) -> None:
    spec = write_spec(
        spec_text.replace("trials: 5", "trials: 4")
        .replace("sampler: {type: tpe, seed: 3, startup_trials: 3}", "sampler: {seed: 3, population: 2}")
        .replace("  - {metric: recall@10}\n", "  - {metric: recall@10}\n  - {metric: search_p95}\n")
    )
    out = tmp_path / "out"
    result = evolve(spec, out=out, progress=False)
    assert result.complete == 4 and result.best and all(f.role == "pareto" for f in result.best)
    assert sorted(p.name for p in (out / "pareto").iterdir()) == sorted(f"{f.number:04d}.yaml" for f in result.best)
    assert not (out / "best.yaml").exists()
    report = (out / "report.md").read_text()
    assert "recall@10 (maximize), search_p95 (minimize)" in report
    assert ("## Pareto front" if plots_available() else "Plots left out") in report
