"""Selection that generalises: validation picks, folds must all hold, ties go to the cheaper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolvelab.search.evolve import evolve
from evolvelab.search.record import TrialRecord
from evolvelab.search.selection import Finalist, Rule, held_out, pick

RULE = Rule("recall@10", "maximize", 0.0, ("ingest_seconds", "search_p95", "llm_tokens"))


def fin(number: int, *, val: float | None = None, folds: tuple[float, ...] = (),
        ingest: float = 1.0, base: bool = False) -> Finalist:  # fmt: skip
    """A finalist with a validation score, fold scores and an ingest cost."""
    return Finalist(
        number=number,
        role="base" if base else "trial",
        yaml=f"trial {number}",
        train={"recall@10": sum(folds) / len(folds) if folds else 0.0},
        folds=[{"recall@10": v} for v in folds],
        validation=None if val is None else {"recall@10": val},
        costs={"ingest_seconds": ingest, "search_p95": 10.0, "llm_tokens": 0.0},
    )


def test_validation_picks_the_winner() -> None:
    finalists = [fin(0, val=0.5, base=True), fin(4, val=0.58), fin(13, val=0.52)]
    assert pick(finalists, RULE).number == 4


def test_a_slower_pipeline_with_no_held_out_gain_loses_to_the_base() -> None:
    finalists = [fin(0, val=0.52, base=True), fin(13, val=0.52, ingest=2.4)]
    assert pick(finalists, RULE).number == 0
    tolerant = Rule("recall@10", "maximize", 0.01, RULE.costs)
    finalists = [fin(0, val=0.52, base=True), fin(13, val=0.525, ingest=2.4), fin(5, val=0.5)]
    assert pick(finalists, tolerant).number == 0  # within tolerance: a tie, the base is cheaper


def test_costs_are_measured_only_when_a_tie_needs_them() -> None:
    measured: list[int] = []

    def measure(finalist: Finalist) -> None:
        measured.append(finalist.number)
        finalist.costs = {"ingest_seconds": float(finalist.number)}

    finalists = [fin(0, val=0.5, base=True), fin(3, val=0.6), fin(7, val=0.6)]
    for finalist in finalists:
        finalist.costs = {}
    assert pick(finalists, RULE, measure=measure).number == 3
    assert measured == [3, 7]


def test_with_folds_a_winner_must_hold_on_every_fold() -> None:
    base = fin(0, folds=(0.50, 0.50), base=True)
    lucky = fin(1, folds=(0.90, 0.45))  # best mean, but worse than the base on fold 2
    steady = fin(2, folds=(0.55, 0.52))
    assert pick([base, lucky, steady], RULE, folds=[0, 1]).number == 2
    assert pick([base, lucky], RULE, folds=[0, 1]).number == 0


def test_cross_validation_scores_each_fold_with_the_pick_of_the_others() -> None:
    base = fin(0, folds=(0.50, 0.50, 0.50), base=True)
    a = fin(1, folds=(0.70, 0.50, 0.40))  # wins folds 1-2 but loses fold 3
    b = fin(2, folds=(0.55, 0.60, 0.55))
    finalists = [base, a, b]
    winner = pick(finalists, RULE, folds=[0, 1, 2])
    assert winner.number == 2
    compared = held_out(finalists, winner, RULE, folds=3)
    assert compared.split == "cross-validation"
    # fold 1 held out: b is the only one holding on folds 2-3 -> +0.05; fold 2: a and b
    # hold on folds 1 and 3? a loses fold 3 -> b, +0.10; fold 3: a holds on 1-2 with the
    # best mean (0.60 vs 0.575) -> a, -0.10.
    assert compared.per_fold == [(2, pytest.approx(0.05)), (2, pytest.approx(0.10)),
                                 (1, pytest.approx(-0.10))]  # fmt: skip
    assert compared.gain == pytest.approx((0.05 + 0.10 - 0.10) / 3)


def test_a_test_split_is_the_held_out_number_when_there_is_one() -> None:
    base, winner = fin(0, val=0.5, base=True), fin(4, val=0.6)
    base.test, winner.test = {"recall@10": 0.40}, {"recall@10": 0.45}
    compared = held_out([base, winner], winner, RULE)
    assert (compared.split, compared.gain) == ("test", pytest.approx(0.05))


def test_minimised_objectives_gain_when_they_go_down() -> None:
    rule = Rule("search_p95", "minimize")
    base = Finalist(0, "base", "", {}, validation={"search_p95": 20.0})
    fast = Finalist(1, "trial", "", {}, validation={"search_p95": 12.0})
    assert pick([base, fast], rule).number == 1
    assert held_out([base, fast], fast, rule).gain == pytest.approx(8.0)


@pytest.mark.slow
def test_folds_score_every_trial_on_each_fold_and_report_the_cross_validated_gain(
    write_spec, spec_text: str, tmp_path: Path
) -> None:
    spec = write_spec(
        spec_text.replace(
            "  train: {users: [ana]}\n  validation: {users: [ben]}\n", "  split: {folds: 2}\n"
        ).replace("trials: 5", "trials: 4")
    )
    out = tmp_path / "out"
    result = evolve(spec, out=out, progress=False)
    assert result.folds == [["ana"], ["ben"]] and result.held_out is not None
    assert result.held_out.split == "cross-validation" and len(result.held_out.per_fold) == 2
    assert result.headline.startswith("held-out gain ")
    assert "2-fold cross-validation over users" in result.headline
    report = (out / "report.md").read_text()
    assert "## Folds" in report and result.headline in report
    assert result.headline in (out / "best.yaml").read_text()
    saved = json.loads((out / "result.json").read_text())
    assert saved["held_out"]["split"] == "cross-validation"
    import optuna

    from evolvelab.search.study import open_storage

    study = optuna.load_study(study_name="quick", storage=open_storage(str(out / "study.journal")))
    record = TrialRecord.from_trial(study.trials[0])
    assert record.train is not None and len(record.train.folds) == 2
    mean = sum(f["recall@10"] for f in record.train.folds) / 2
    assert record.values == [pytest.approx(mean)]


@pytest.mark.slow
def test_hit_at_k_objectives_are_evaluated_on_validation(
    write_spec, spec_text: str, tmp_path: Path
) -> None:
    spec = write_spec(
        spec_text.replace("  - {metric: recall@10}\n", "  - {metric: hit@10}\n").replace(
            "trials: 5", "trials: 2"
        )
    )
    result = evolve(spec, out=tmp_path / "out", progress=False)
    best = (tmp_path / "out" / "best.yaml").read_text()
    assert "validation (ben): hit@10 " in best and "not evaluated" not in best
    assert result.winner is not None and "hit@10" in (result.winner.validation or {})


def _three_users(path: Path) -> Path:
    """Write the sample stream plus a third user, ``cy`` (ben's chat under another name)."""
    from evolvelab.datasets.sample import sample_path

    lines = sample_path().read_text(encoding="utf-8").splitlines()
    extra = []
    for line in lines:
        record = json.loads(line)
        if record.get("user_id") == "ben":
            record["user_id"] = "cy"
            for key in ("id", "session_id"):
                if isinstance(record.get(key), str):
                    record[key] = record[key].replace("ben:", "cy:", 1)
            if record.get("evidence"):
                record["evidence"] = [e.replace("ben:", "cy:", 1) for e in record["evidence"]]
            extra.append(json.dumps(record))
    path.write_text("\n".join(lines + extra) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_test_split_is_scored_once_at_the_end_and_named_in_the_headline(
    write_spec, spec_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evolvelab.search.trial import Evaluator

    seen: list[list[str]] = []
    real = Evaluator.run

    def run(self, text, users, *, file="<candidate>"):
        seen.append(list(users))
        return real(self, text, users, file=file)

    monkeypatch.setattr(Evaluator, "run", run)
    data = _three_users(tmp_path / "three.jsonl")
    spec = write_spec(
        spec_text.replace("  type: sample\n", f"  type: jsonl\n  path: {data.name}\n")
        .replace("  validation: {users: [ben]}\n", "  validation: {users: [ben]}\n  test: {users: [cy]}\n")
        .replace("trials: 5", "trials: 3")
    )
    result = evolve(spec, out=tmp_path / "out", progress=False)
    tested = [i for i, users in enumerate(seen) if users == ["cy"]]
    assert 1 <= len(tested) <= 2  # the winner and the base, once each (once if they are one)
    assert min(tested) > max(i for i, users in enumerate(seen) if users == ["ana"])
    assert result.held_out is not None and result.held_out.split == "test"
    assert "on test users (cy), never used to search or select" in result.headline
    assert "test (cy): recall@10" in (tmp_path / "out" / "best.yaml").read_text()


def test_splits_must_not_share_users() -> None:
    from evolvelab.errors import ConfigError
    from evolvelab.search.specfile import parse_spec

    head = "version: 1\nname: s\nbase: [b.yaml]\n"
    with pytest.raises(ConfigError, match="test users must not be train users"):
        parse_spec(head + "dataset: {type: sample, train: {users: [ana]}, test: {users: [ana]}}\n")
    with pytest.raises(ConfigError, match="split: .folds: k. replaces train and validation"):
        parse_spec(head + "dataset: {type: sample, train: {users: [ana]}, split: {folds: 2}}\n")
    with pytest.raises(ConfigError, match="give train users"):
        parse_spec(head + "dataset: {type: sample}\n")


@pytest.mark.slow
def test_several_datasets_are_weighted_and_broken_down(
    write_spec, spec_text: str, tmp_path: Path
) -> None:
    datasets = (
        "datasets:\n"
        "  - {name: first, weight: 3, type: sample, train: {users: [ana]}, validation: {users: [ben]}}\n"
        "  - {name: second, type: sample, train: {users: [ben]}, validation: {users: [ana]}}\n"
    )
    head, rest = spec_text.split("dataset:\n", 1)
    tail = "objectives:" + rest.split("objectives:", 1)[1]
    spec = write_spec(head + datasets + tail.replace("trials: 5", "trials: 3"))
    out = tmp_path / "out"
    result = evolve(spec, out=out, progress=False)
    import optuna

    from evolvelab.search.study import open_storage

    study = optuna.load_study(study_name="quick", storage=open_storage(str(out / "study.journal")))
    record = TrialRecord.from_trial(study.trials[0])
    assert record.train is not None and set(record.train.tasks) == {"first", "second"}
    first, second = (record.train.tasks[n]["recall@10"] for n in ("first", "second"))
    assert record.values == [pytest.approx((3 * first + second) / 4)]
    assert result.train_users == ["first:ana", "second:ben"]
    winner = result.winner
    assert winner is not None and set(winner.by_task["validation"]) == {"first", "second"}
    report = (out / "report.md").read_text()
    assert "## Per dataset" in report and "(the weighted mean over the datasets)" in report
    assert "# reproduce (second): evolvelab eval" in (out / "trials" / "0000.yaml").read_text()


@pytest.mark.slow
def test_without_held_out_users_the_headline_says_nothing_generalises(
    write_spec, spec_text: str, tmp_path: Path
) -> None:
    spec = write_spec(
        spec_text.replace("  train: {users: [ana]}\n  validation: {users: [ben]}\n",
                          "  train: {users: [ana, ben]}\n").replace("trials: 5", "trials: 2")
    )  # fmt: skip
    result = evolve(spec, out=tmp_path / "out", progress=False)
    assert result.held_out is None and result.headline.startswith("no held-out users: trial ")
    assert "best on train; no held-out users" in (tmp_path / "out" / "best.yaml").read_text()
