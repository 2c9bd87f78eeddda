"""When and how the evolve loop asks the LLM mutation operator for a new pipeline.

Every ``mutation.every`` finished trials (counted over the whole study, whichever worker
finished them) one worker takes the turn: it summarises the best ``mutation.top`` trials
(:class:`~evolvelab.search.summary.TrialSummary`: YAML, scores, recall by category,
missed questions with their gold and retrieved text) and calls
:func:`evolvelab.search.mutate.propose_mutation`. A validated proposal fills the next slot
this worker claims:

- if the space can express it exactly (same structure, values inside the ranges), as that
  trial's fixed parameters, so the sampler learns from it like from any trial;
- otherwise (a new stage type, a field outside the space) as a *given* pipeline: the trial
  runs that YAML as is and has no parameters.

Each attempt, successful or not, is written to ``OUT/mutations/NNN.json`` (diagnosis per
stage, errors met, rounds, LLM use, the trial it became). Without an LLM the operator is off.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from evolvelab.errors import EvolveLabError
from evolvelab.search.render import render_pipeline, validate_candidate
from evolvelab.search.record import ATTR, TrialRecord
from evolvelab.search.study import released
from evolvelab.search.summary import TrialSummary
from evolvelab.search.trial import misses_from

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from evolvelab.search.context import Context
    from evolvelab.stages import LLM

__all__ = ["Mutator", "summarise"]


def summarise(ctx: Context, trials: list[FrozenTrial]) -> list[TrialSummary]:
    """Turn finished trials into the summaries the mutation operator reads."""
    names = {p.name: p for p in ctx.space.params()}
    table = ctx.table
    labels = [
        f"{o.metric} ({o.goal}, {table.unit(o.metric)})" for o in ctx.spec.objectives
    ]
    out = []
    for trial in trials:
        record = TrialRecord.from_trial(trial)
        metrics = record.train.metrics if record.train else {}
        recall = {
            name.removeprefix("recall@"): value
            for name, value in metrics.items()
            if name.startswith("recall@")
        }
        categories = record.train.by_category if record.train else {}
        params = {k: names[k].decode(v) if k in names else v for k, v in record.params.items()}
        out.append(
            TrialSummary(
                number=record.number,
                pipeline_yaml=record.yaml,
                params=params,
                values=list(record.values or []),
                objectives=labels,
                recall=recall,
                by_category={c: v.model_dump() for c, v in categories.items()},
                misses=misses_from(record.train, ctx.dataset),
            )
        )
    return out


def best_trials(ctx: Context, study: optuna.Study, top: int) -> list[FrozenTrial]:
    """Return up to ``top`` complete trials, best first by the first objective."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    sign = -1.0 if ctx.spec.objectives[0].goal == "maximize" else 1.0
    return sorted(done, key=lambda t: (sign * t.values[0], t.number))[:top]


class Mutator:
    """Decide when to mutate, call the operator, and turn its proposal into a slot fill."""

    def __init__(self, ctx: Context, llm: LLM) -> None:
        self.ctx = ctx
        self.llm = llm
        self.settings = ctx.spec.mutation

    @classmethod
    def create(cls, ctx: Context, llm: LLM | None = None) -> Mutator | None:
        """Return a mutator when the spec enables mutation and an LLM is available, else ``None``.

        Args:
            ctx: the prepared search.
            llm: use this LLM (tests); default: build and open the spec's ``mutation.llm``.
        """
        if not ctx.spec.mutation.enabled:
            return None
        if llm is None:
            config = ctx.spec.mutation_llm(ctx.registry)
            if config is None:
                return None
            llm = ctx.registry.get("llm", config.type).cls(config)  # type: ignore[assignment]
            assert llm is not None
            llm.open(None)
        return cls(ctx, llm)

    @property
    def misses(self) -> int:
        """How many missed questions each trial keeps for the operator."""
        return self.settings.misses

    def _validate(self, data: dict[str, Any]) -> None:
        from evolvelab.pipeline import Memory

        Memory(validate_candidate(data, self.ctx.registry), registry=self.ctx.registry)

    def due(self, study: optuna.Study) -> int | None:
        """Return the number of the attempt due now, or ``None`` (also taking the turn)."""
        from optuna.trial import TrialState

        states = (TrialState.COMPLETE, TrialState.FAIL)
        finished = [t for t in study.get_trials(deepcopy=False, states=states) if not released(t)]
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        attempts = int(study.user_attrs.get(ATTR + "mutations", 0))
        if not waiting or len(finished) < (attempts + 1) * self.settings.every:
            return None
        study.set_user_attr(ATTR + "mutations", attempts + 1)
        return attempts + 1

    def _fill(
        self, pipeline: dict[str, Any], attempt: int, diagnosis: dict[str, str]
    ) -> dict[str, Any]:
        """Return the slot fill of a validated proposal: parameters if expressible, else given."""
        spec = validate_candidate(pipeline, self.ctx.registry)
        params = self.ctx.space.params_for(spec)
        fill: dict[str, Any] = {"origin": "mutation", "mutation": attempt, "diagnosis": diagnosis}
        if params is not None:
            fill["params"] = params
        else:
            fill["given"] = render_pipeline(pipeline)
        return fill

    def maybe_propose(self, study: optuna.Study) -> dict[str, Any] | None:
        """Propose a pipeline when one is due; return the slot fill, or ``None``."""
        from evolvelab.search.mutate import propose_mutation

        attempt = self.due(study)
        if attempt is None:
            return None
        best = summarise(self.ctx, best_trials(self.ctx, study, self.settings.top))
        if not best:
            return None
        record: dict[str, Any] = {"attempt": attempt, "parents": [b.number for b in best]}
        fill: dict[str, Any] | None = None
        try:
            result = propose_mutation(
                self.llm,
                best=best,
                registry=self.ctx.registry,
                validate=self._validate,
                repairs=self.settings.repairs,
            )
            record.update(result.model_dump(mode="json"))
            if result.pipeline is not None:
                fill = self._fill(result.pipeline, attempt, dict(result.diagnosis))
                record["as"] = "params" if "params" in fill else "given"
        except EvolveLabError as err:  # a failed proposal is recorded; the search goes on
            record["errors"] = [*record.get("errors", []), f"{type(err).__name__}: {err}"]
        folder = self.ctx.out / "mutations"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{attempt:03d}.json").write_text(
            json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8"
        )
        return fill
