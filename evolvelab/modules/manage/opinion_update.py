"""``type: opinion_update`` — reinforce or weaken opinions as new evidence arrives (Hindsight).

Each run looks at every valid opinion note (kind ``opinion``) of the owner and at the
notes written since the opinion was last reviewed (``metadata.reviewed_at``, else its
creation): notes of the ``evidence`` kinds that are not opinions held by someone else
about something else. Each piece of evidence gets a stance — by the word rule of
:mod:`~evolvelab.modules.manage._opinions` without an LLM, or by one
:class:`~evolvelab.modules.manage._opinions.StanceVerdicts` request per opinion (at most
``max_evidence`` pieces, newest first) with one — and moves the confidence:
``c + rate * (1 - c)`` on support, ``c - rate * c`` on contradiction. The opinion keeps
the counts in ``metadata.supported`` / ``metadata.contradicted``. An opinion whose
confidence falls below ``close_below`` is closed (``invalid_at``), not deleted.

Run after adds (``every: N``), the manager reads the owner's opinions (a scan of that
kind only) and just the notes added since its last run, by id, as the evidence: the
cost of an add follows the add and the number of opinions, not the size of the memory.
Notes written by another process, and notes added before an opinion but dated after
it, are reviewed by the next sweep (``manage``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.llm import llm_available
from evolvelab.modules.manage._opinions import StanceVerdicts, confidence_of, rule_stance, updated
from evolvelab.stages import Manager, ManageReport, Scannable
from evolvelab.types import Note, Scope, Where

__all__ = ["OpinionUpdateConfig", "OpinionUpdateManager"]


class OpinionUpdateConfig(ManagerConfig):
    """Move each opinion's confidence with the evidence written since it was last reviewed.

    Example:
        ```yaml
        manage:
          - {type: opinion_update, every: 1, rate: 0.2, close_below: 0.1}
        ```
    """

    type: Literal["opinion_update"] = "opinion_update"
    evidence: list[str] = Field(
        default_factory=lambda: ["world", "experience", "opinion", "turn", "fact"],
        description="Note kinds that count as evidence.",
    )
    rate: Annotated[float, Tunable(0.05, 0.5)] = Field(
        0.2,
        gt=0.0,
        le=1.0,
        description="Share of the distance to 1 (support) or 0 (contradiction) moved per piece.",
    )
    min_overlap: Annotated[float, Tunable(0.2, 0.8)] = Field(
        0.34, ge=0.0, le=1.0,
        description="Without an LLM: share of the opinion's content words evidence must hold.",
    )  # fmt: skip
    close_below: Annotated[float, Tunable(0.0, 0.3)] = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Close opinions whose confidence falls below this; 0: never.",
    )
    max_evidence: int = Field(
        12, ge=1, le=200, description="With an LLM: evidence pieces per request."
    )
    use_llm: bool = Field(True, description="Ask the pipeline's LLM when one is configured.")


def _reviewed_at(opinion: Note) -> datetime:
    raw = opinion.metadata.get("reviewed_at")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    return opinion.created_at


def _messages(opinion: Note, evidence: list[Note]) -> list[dict[str, str]]:
    lines = [
        f"[E{i}] ({n.event_time:%Y-%m-%d}) {n.content}" for i, n in enumerate(evidence, start=1)
    ]
    return [
        {"role": "system", "content": "You track how well an opinion is supported. For each piece "
         "of evidence say whether it supports the opinion, contradicts it, or is unrelated."},
        {"role": "user", "content": f"Opinion: {opinion.content}\n\nEvidence:\n" + "\n".join(lines)},
    ]  # fmt: skip


class OpinionUpdateManager(Manager):
    """Reinforce or weaken opinions; close the ones that fall below ``close_below``."""

    config_model: ClassVar[type[OpinionUpdateConfig]] = OpinionUpdateConfig
    config: OpinionUpdateConfig
    requires = (Scannable,)

    def manage(self, scope: Scope) -> ManageReport:
        """Review every valid opinion against the owner's notes newer than its last review."""
        store = self.resources.find(Scannable)
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        notes = list(store.scan(owner, Where(kind=self._kinds())))
        return self._review(owner, [n for n in notes if n.kind == "opinion"], notes)

    def manage_added(self, scope: Scope, ids: Sequence[str]) -> ManageReport:
        """Review the owner's opinions against just the notes added since the last run."""
        store = self.resources.find(Scannable)
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        wanted = Where(kind=self._kinds())
        new = [n for n in self.resources.store.get(ids, owner) if wanted.matches(n)]
        if not new:
            return ManageReport(stage="opinion_update", detail={"opinions": 0, "reviewed": 0})
        opinions = list(store.scan(owner, Where(kind=["opinion"])))
        return self._review(owner, opinions, new)

    def _kinds(self) -> list[str]:
        return list(dict.fromkeys([*self.config.evidence, "opinion"]))

    def _review(self, owner: Scope, opinions: list[Note], notes: list[Note]) -> ManageReport:
        """Move each of ``opinions`` by those of ``notes`` newer than its last review."""
        cfg = self.config
        report = ManageReport(stage="opinion_update")
        llm = self.resources.llm if cfg.use_llm and llm_available(self.resources.llm) else None
        now = self.resources.clock.now(owner)
        changed: list[Note] = []
        reviewed = 0
        for opinion in opinions:
            since = _reviewed_at(opinion)
            newer = [
                n
                for n in notes
                if n.id != opinion.id and n.kind in cfg.evidence and n.created_at > since
            ]
            if not newer:
                continue
            reviewed += 1
            stances = self._stances(opinion, newer, llm)
            confidence = confidence_of(opinion)
            support = contradict = 0
            for stance in stances:
                confidence = updated(confidence, stance, cfg.rate)
                support += stance == "support"
                contradict += stance == "contradict"
            latest = max(n.created_at for n in newer).isoformat()
            metadata = {**opinion.metadata, "reviewed_at": latest}
            update: dict[str, object] = {"metadata": metadata}
            if support or contradict:
                metadata.update(
                    confidence=round(confidence, 4),
                    supported=int(opinion.metadata.get("supported", 0) or 0) + support,  # type: ignore[arg-type]
                    contradicted=int(opinion.metadata.get("contradicted", 0) or 0) + contradict,  # type: ignore[arg-type]
                )
                update["version"] = opinion.version + 1
                report.updated += 1
                if cfg.close_below and confidence < cfg.close_below:
                    update["invalid_at"] = now
                    report.closed += 1
            changed.append(opinion.model_copy(update=update))
        self.resources.write(changed)
        report.detail = {"opinions": len(opinions), "reviewed": reviewed, "llm": llm is not None}
        return report

    def _stances(self, opinion: Note, evidence: list[Note], llm: object) -> list[str]:
        if llm is None:
            return [rule_stance(opinion, n, min_overlap=self.config.min_overlap) for n in evidence]
        chosen = sorted(evidence, key=lambda n: n.created_at, reverse=True)[
            : self.config.max_evidence
        ]
        answer = llm.extract(_messages(opinion, chosen), StanceVerdicts)  # type: ignore[attr-defined]
        labels = {f"E{i}" for i in range(1, len(chosen) + 1)}
        return [v.stance for v in answer.verdicts if v.label in labels]
