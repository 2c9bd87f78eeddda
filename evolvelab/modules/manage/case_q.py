"""``type: case_q`` — AgentFly's online policy update: record (state, reward) on the cases used.

After a task, Memento writes the outcome back into its episodic memory so the
case-selection policy improves without touching the LLM. Here that write is: for every
case that was supplied to the task (``Memory.feedback``'s used ids), add a ``q`` link
from the case to the **task's own case note** (its state) whose weight is the reward.
The ``case_policy`` retriever reads those links as kernel samples: a case that kept
preceding failures on tasks like the new one scores low; one that kept preceding
successes scores high.

The task's case note is found from ``outcome.task_id``: it is the ``experience`` note
of that episode, which the replay has ingested before feeding the outcome back. An
outcome whose task has no case note teaches nothing and is counted in the report
(``detail.unmatched``). The reward is 1 or 0 from ``success`` (``reward: success``) or the
outcome's graded ``score`` (``reward: score``, falling back to success). A case keeps its
``max_samples`` newest samples.

With ``credit: difference`` a task's reward is not handed to every case alike: when the
reward is the mean worth of the ``m`` cases supplied (the replay's simulated score is),
a case is credited ``m * reward`` minus the others' current Q estimates, so a case
supplied beside good ones is not credited for them (a difference reward).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.modules.encode.experience import experience_id
from evolvelab.modules.retrieve.case_policy import Q_LINK, kernel_q, q_samples
from evolvelab.stages import ManageReport, Manager
from evolvelab.types import Link, Note, Outcome, Scope

__all__ = ["CaseQConfig", "CaseQManager", "reward_of"]


class CaseQConfig(ManagerConfig):
    """Record each feedback's (state, reward) on the cases that were supplied.

    Example:
        ```yaml
        manage:
          - {type: case_q, reward: success, max_samples: 50}
        ```
    """

    type: Literal["case_q"] = "case_q"
    kind: str = Field("experience", min_length=1, description="Note kind of the cases.")
    reward: Literal["success", "score"] = Field(
        "success", description="Reward of a sample: 1/0 from success, or the graded score."
    )
    max_samples: Annotated[int, Tunable(5, 200, log=True)] = Field(
        50, ge=1, description="Samples kept per case (the newest)."
    )
    credit: Literal["shared", "difference"] = Field(
        "shared",
        description="shared: every case used gets the reward; difference: each gets what the "
        "reward says beyond the others' expected share (for a reward that averages over the "
        "cases supplied).",
    )
    bandwidth: float = Field(
        0.1, gt=0.0, description="Kernel bandwidth of the Q estimates behind difference credit "
        "(use the retriever's)."
    )
    prior_weight: float = Field(
        1.0, gt=0.0, description="Prior weight of those estimates (the retriever's)."
    )


def reward_of(outcome: Outcome, mode: Literal["success", "score"]) -> float:
    """Return the reward of ``outcome``: its score (``mode: score``, when set) or 1/0."""
    if mode == "score" and outcome.score is not None:
        return float(outcome.score)
    return 1.0 if outcome.success else 0.0


class CaseQManager(Manager):
    """AgentFly's memory write: kernel samples on the supplied cases."""

    config_model: ClassVar[type[CaseQConfig]] = CaseQConfig
    config: CaseQConfig

    def manage(self, scope: Scope) -> ManageReport:
        """Nothing to do between tasks: the policy learns on feedback."""
        return ManageReport(stage="case_q")

    def _credit(self, cases: list[Note], state: Note, owner: Scope, reward: float) -> dict[str, float]:
        """Return each case's reward: the shared reward, or its difference credit.

        Difference credit treats the reward as the mean worth of the ``m`` cases supplied:
        a case's credit is ``m * reward - sum of the others' current Q``, clipped to [0, 1].
        """
        if self.config.credit == "shared" or len(cases) < 2 or state.embedding is None:
            return {c.id: reward for c in cases}
        targets = list(dict.fromkeys(t for c in cases for t, _ in q_samples(c)))
        vectors = {n.id: n.embedding for n in self.resources.store.get(targets, owner)} if targets else {}
        estimate = {}
        for case in cases:
            prior = case.metadata.get("reward")
            samples = [(vectors.get(t), r, 1.0) for t, r in q_samples(case) if t in vectors]
            estimate[case.id], _ = kernel_q(
                state.embedding, samples, bandwidth=self.config.bandwidth,
                prior=float(prior) if isinstance(prior, int | float) else 0.5,
                prior_weight=self.config.prior_weight)  # fmt: skip
        total = sum(estimate.values())
        m = len(cases)
        return {c.id: min(1.0, max(0.0, m * reward - (total - estimate[c.id]))) for c in cases}

    def on_feedback(self, outcome: Outcome, notes: Sequence[Note]) -> ManageReport:
        """Add a ``q`` sample (the task's state, the reward) to every case used."""
        report = ManageReport(stage="case_q")
        cases = [n for n in notes if n.kind == self.config.kind]
        if not cases:
            return report
        owner = Scope(user_id=outcome.scope.user_id, agent_id=outcome.scope.agent_id)
        state_id = experience_id(owner, outcome.task_id) if outcome.task_id else None
        found = self.resources.store.get([state_id], owner) if state_id else []
        if not found:
            report.detail["unmatched"] = outcome.task_id
            return report
        reward = reward_of(outcome, self.config.reward)
        cases = [c for c in cases if c.id != state_id]
        credit = self._credit(cases, found[0], owner, reward)
        updated = []
        for case in cases:
            samples = [link for link in case.links if link.kind == Q_LINK]
            others = [link for link in case.links if link.kind != Q_LINK]
            samples = [*samples, Link(target=state_id, kind=Q_LINK, weight=credit[case.id])]
            samples = samples[-self.config.max_samples :]
            updated.append(case.model_copy(update={"links": [*others, *samples],
                                                   "version": case.version + 1}))  # fmt: skip
        self.resources.write(updated)
        report.updated = len(updated)
        report.detail["reward"] = reward
        return report
