"""The typed core of the evolver: one objectives table, a typed trial record, no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import optuna
import pytest

from evolvelab import hookimpl
from evolvelab.errors import ConfigError, EvolveLabError, PluginError
from evolvelab.evaluation.schema import EvalReport
from evolvelab.plugins import get_plugin_manager
from evolvelab.registry import Registry
from evolvelab.search.objectives import BUILTIN_METRICS, Metric, ObjectiveTable, objective_table
from evolvelab.search.record import ATTR, CategoryScores, MissRef, Scores, TrialRecord
from evolvelab.search.specfile import parse_spec

SEARCH = Path(__file__).resolve().parents[2] / "evolvelab" / "search"


def report(**changes: object) -> EvalReport:
    """A small evaluation report with known numbers."""
    data: dict[str, object] = {
        "pipeline": "p",
        "dataset": "d",
        "questions": 4,
        "skipped": 0,
        "recall": {"1": 0.25, "5": 0.5, "10": 0.75, "20": 1.0},
        "hit": {"1": 0.25, "5": 0.75, "10": 1.0, "20": 1.0},
        "mrr": 0.5,
        "ks": [1, 5, 10, 20],
        "by_category": {},
        "search_ms": {"p50": 3.0, "p95": 9.0},
        "ingest": {"events": 10, "seconds": 2.5, "per_second": 4.0},
        "llm": {"prompt_tokens": 100, "completion_tokens": 20},
        **changes,
    }
    return EvalReport.model_validate(data)


def test_every_metric_the_table_reports_reads_back_by_its_name() -> None:
    table = objective_table()
    scores = table.scores(report())
    assert scores["hit@10"] == 1.0 and scores["recall@5"] == 0.5 and scores["llm_tokens"] == 120
    for name, value in scores.items():
        metric, k = table.lookup(name)
        assert table.read(report(), name) == value
        assert (f"{metric.name}@{k}" if metric.budget else metric.name) == name
    assert set(table.patterns()) == {m.pattern for m in BUILTIN_METRICS}


@pytest.mark.parametrize(
    "name,direction,unit",
    [("recall@10", "maximize", "share"), ("hit@3", "maximize", "share"),
     ("search_p95", "minimize", "ms"), ("ingest_seconds", "minimize", "s")],
)  # fmt: skip
def test_the_table_knows_each_metrics_direction_and_unit(name, direction, unit) -> None:
    assert objective_table().direction(name) == direction
    assert objective_table().unit(name) == unit


def test_unknown_metrics_and_missing_budgets_are_named() -> None:
    table = objective_table()
    assert "allowed: recall@K, hit@K, mrr" in (table.problem("hits@10") or "")
    assert table.problem("recall") == "recall takes a turn budget: write recall@10"
    assert table.problem("mrr@5") == "mrr takes no turn budget: write mrr"
    with pytest.raises(EvolveLabError, match=r"the report has no recall@7 \(budgets: 1, 5"):
        table.read(report(), "recall@7")
    assert table.budgets(["recall@7", "mrr"]) == [1, 5, 7, 10, 20]


def test_a_spec_takes_its_objectives_direction_from_the_table() -> None:
    text = "version: 1\nname: s\nbase: [b.yaml]\ndataset: {type: sample, train: {users: [ana]}}\n"
    spec = parse_spec(text + "objectives: [{metric: hit@10}, {metric: search_p95}]\n")
    assert spec.directions == ["maximize", "minimize"]
    with pytest.raises(ConfigError) as err:
        parse_spec(text + "objectives: [{metric: hits@10}]\n", file="s.yaml")
    assert "s.yaml:5:23: objectives[0].metric: unknown metric 'hits@10'" in err.value.render()


def test_the_trial_record_round_trips_through_optuna_attrs() -> None:
    record = TrialRecord(
        number=3,
        state="complete",
        values=[0.5],
        params={"retrieve[0].k": 12},
        origin="mutation",
        mutation=2,
        diagnosis={"retrieve": "too few candidates"},
        host="h",
        pid=7,
        yaml="version: 1\n",
        pipeline="trials/0003.yaml",
        train=Scores(
            users=["ana"],
            questions=4,
            metrics={"recall@10": 0.5, "mrr": 0.25},
            by_category={"1": CategoryScores(name="single-hop", questions=4, recall={"10": 0.5})},
            misses=[MissRef(id="ana:q01", retrieved=["ana:S1:1"])],
            folds=[{"recall@10": 0.4}, {"recall@10": 0.6}],
        ),
        seconds=1.5,
    )
    attrs = record.to_attrs()
    assert all(key.startswith(ATTR) for key in attrs) and ATTR + "error" not in attrs
    study = optuna.create_study()
    distribution = optuna.distributions.IntDistribution(1, 50)
    study.add_trial(
        optuna.trial.create_trial(
            params={"retrieve[0].k": 12},
            distributions={"retrieve[0].k": distribution},
            values=[0.5],
            user_attrs=attrs,
        )
    )
    back = TrialRecord.from_trial(study.trials[0])
    assert back.model_dump(exclude={"number"}) == record.model_dump(exclude={"number"})
    assert back.complete


def test_a_record_from_an_incompatible_version_is_a_clear_error() -> None:
    with pytest.raises(EvolveLabError, match="trial 4 holds attrs this version cannot read"):
        TrialRecord.from_attrs(4, {ATTR + "train": {"recall": {"10": 0.5}}})


def test_no_module_of_the_evolver_imports_another_in_a_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for path in SEARCH.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "evolvelab.search."
            ):
                imported.add(str(node.module).rsplit(".", 1)[1])
        graph[path.stem] = imported
    seen: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        seen[name] = 1
        for other in sorted(graph.get(name, ())):
            assert seen.get(other) != 1, "import cycle: " + " -> ".join([*path, other])
            if other not in seen:
                visit(other, [*path, other])
        seen[name] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name, [name])
    context_users = [n for n, deps in graph.items() if "evolve" in deps]
    assert context_users == [], "Context comes from context.py only"


class _AnsweredPlugin:
    """A plugin adding a metric: the share of asked questions that had gold evidence."""

    @hookimpl
    def register_objectives(self) -> list[Metric]:
        return [
            Metric(
                "answered",
                read=lambda report, k: report.questions / max(report.asked, 1),
                direction="maximize",
                unit="share",
                description="Share of asked questions that had gold evidence.",
            )
        ]


class _BrokenPlugin:
    @hookimpl
    def register_objectives(self) -> list[Metric]:
        raise RuntimeError("no metrics today")


def _registry(*plugins: object) -> Registry:
    plugin_set = get_plugin_manager(load_entrypoints=False)
    for i, plugin in enumerate(plugins):
        plugin_set.pm.register(plugin, name=f"plugin{i}")
    return Registry(plugin_set)


def test_a_plugin_adds_an_objective_through_register_objectives() -> None:
    registry = _registry(_AnsweredPlugin())
    table = objective_table(registry)
    assert table.read(report(asked=5), "answered") == pytest.approx(0.8)
    assert table.direction("answered") == "maximize" and "answered" in table.patterns()
    text = "version: 1\nname: s\nbase: [b.yaml]\ndataset: {type: sample, train: {users: [ana]}}\n"
    spec = parse_spec(text + "objectives: [{metric: answered}]\n", registry=registry)
    assert spec.objectives[0].goal == "maximize"
    with pytest.raises(ConfigError, match="unknown metric 'answered'"):
        parse_spec(text + "objectives: [{metric: answered}]\n")  # not without the plugin


def test_a_plugin_whose_objectives_hook_raises_is_skipped(capsys) -> None:
    table = objective_table(_registry(_BrokenPlugin()))
    assert table.patterns() == objective_table().patterns()
    assert "register_objectives() raised RuntimeError('no metrics today')" in capsys.readouterr().err


def test_a_metric_may_not_take_a_builtin_name() -> None:
    clash = Metric("mrr", read=lambda r, k: 0.0, direction="maximize", unit="share",
                   description="again")  # fmt: skip
    with pytest.raises(PluginError, match="objective 'mrr' is registered twice"):
        ObjectiveTable([*BUILTIN_METRICS, clash])


def test_the_docs_list_every_built_in_objective() -> None:
    page = (SEARCH.parents[1] / "docs" / "evolve.md").read_text(encoding="utf-8")
    table = page.split("## Objectives", 1)[1].split("\n\n", 2)[2]
    for pattern in objective_table().patterns():
        assert f"`{pattern}`" in table, pattern
