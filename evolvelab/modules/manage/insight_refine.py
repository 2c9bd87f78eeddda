"""``type: insight_refine`` — G-Memory's periodic refinement of the insight tier.

Each run waits until the owner has ``min_tasks`` labelled tasks (query notes with status
resolved or failed), then takes the ``rounds`` newest labelled tasks not refined yet as
anchors. For an anchor it gathers the anchor plus its ``similar`` neighbours (strongest
edge first): up to ``successes`` resolved and ``failures`` failed tasks, their
trajectories, and the valid insights supporting any of them (highest score first).

**With an LLM**: one request per anchor (``InsightOperations``, below) shows those
insights by their note ids and the trajectories, and asks for at most
``max_operations`` operations. Their effects, with every task shown as support:

- ``ADD text``: a new insight, score ``initial_score`` (2), id derived from its
  normalised text; adding a text that is already a valid insight counts as AGREE.
- ``EDIT id text``: the insight's content is rewritten (re-embedded), ``version`` + 1,
  score + 1 (as upstream).
- ``REMOVE id``: the insight is closed (``invalid_at``); with ``remove_penalty`` set its
  score drops by that much instead and it is closed only at <= 0.
- ``AGREE id``: score + 1.

Ids that name no valid insight of the owner are ignored and listed in the report.

**Without an LLM** (``derive: shared_steps``): if the anchor is resolved and at least
``min_support`` of the gathered tasks are resolved, the words found among the top ten
keywords of at least half (and at least two) of those resolved trajectories become one
insight, "Tasks like "<anchor>" were resolved with steps about: w1, w2, ...", with score
``initial_score``, supporting those tasks; an anchor yields at most one such insight,
ever. ``derive: none`` writes nothing without an LLM.

The anchor is then marked ``metadata.refined: true``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.llm import llm_available
from evolvelab.modules._gmemory_graph import (
    FAILED,
    INSIGHT,
    QUERY,
    RESOLVED,
    SIMILAR,
    SUPPORTS,
    graph_store,
    insight_id,
    note_store,
    owner,
    rescore,
    supporting_insights,
    trajectories,
)
from evolvelab.stages import GraphLinks, ManageReport, Manager, Scannable, VectorSearch
from evolvelab.text import keywords
from evolvelab.types import Link, Note, Scope, Where

__all__ = ["InsightOperation", "InsightOperations", "InsightRefineConfig", "InsightRefineManager"]

_SPACE = re.compile(r"\s+")


class InsightRefineConfig(ManagerConfig):
    """Refine the insight tier from recent successful and failed tasks.

    Example:
        ```yaml
        manage:
          - {type: insight_refine, every: 5, min_tasks: 5, successes: 3, failures: 1}
        ```
    """

    type: Literal["insight_refine"] = "insight_refine"
    min_tasks: Annotated[int, Tunable(1, 20)] = Field(
        5, ge=1, description="Labelled tasks the owner needs before any refinement."
    )
    rounds: Annotated[int, Tunable(1, 5)] = Field(
        1, ge=1, le=50, description="Anchor tasks refined per run (newest unrefined first)."
    )
    successes: Annotated[int, Tunable(1, 6)] = Field(
        3, ge=0, le=20, description="Resolved tasks shown per anchor (anchor and similar ones)."
    )
    failures: Annotated[int, Tunable(0, 4)] = Field(
        1, ge=0, le=20, description="Failed tasks shown per anchor."
    )
    steps: int = Field(20, ge=1, le=500, description="Steps of each trajectory shown.")
    max_insights: int = Field(20, ge=0, le=200, description="Most insights shown to the LLM.")
    full: int = Field(
        10, ge=1, description="From this many insights shown, ask to prefer EDIT/REMOVE/AGREE."
    )
    max_operations: Annotated[int, Tunable(1, 8)] = Field(
        4, ge=1, le=50, description="Most operations applied from one answer."
    )
    initial_score: Annotated[float, Tunable(1.0, 4.0)] = Field(
        2.0, gt=0.0, description="Score of a new insight."
    )
    remove_penalty: float | None = Field(
        None, gt=0.0, description="Score REMOVE subtracts; null: REMOVE closes the insight at once."
    )
    derive: Literal["shared_steps", "none"] = Field(
        "shared_steps", description="What to do without an LLM: the shared-steps rule, or nothing."
    )
    min_support: Annotated[int, Tunable(2, 6, when={"derive": "shared_steps"})] = Field(
        2, ge=2, description="Resolved similar tasks the shared-steps rule needs."
    )


class InsightOperation(BaseModel):
    """One change to the insight list, addressing existing insights by note id."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["ADD", "EDIT", "REMOVE", "AGREE"] = Field(description="What to do.")
    insight_id: str | None = Field(
        None, description="Id of the existing insight (EDIT, REMOVE, AGREE); null for ADD."
    )
    text: str = Field(
        "", description="The insight, 'do or avoid X, because Y' (ADD, EDIT); empty otherwise."
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.op in ("ADD", "EDIT") and not self.text.strip():
            raise ValueError(f"{self.op} needs the insight text")
        if self.op != "ADD" and not self.insight_id:
            raise ValueError(f"{self.op} needs the insight_id of an existing insight")
        return self


class InsightOperations(BaseModel):
    """The LLM's answer: the operations to apply, at most the number asked for."""

    model_config = ConfigDict(extra="forbid")

    operations: list[InsightOperation] = Field(description="Operations, most important first.")


SYSTEM = (
    "You maintain the insights of an agent: general rules learnt from past tasks, each "
    "written as 'do or avoid something, because reason'. Compare the successful and failed "
    "trajectories with the current insights and return at most {n} operations: ADD a new "
    "insight (text), EDIT an insight (insight_id, new text), REMOVE an insight that is wrong "
    "or useless (insight_id), AGREE with an insight these tasks confirm (insight_id). "
    "Refer to an existing insight only by the id shown in square brackets."
)


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", text.strip().lower())


class InsightRefineManager(Manager):
    """Refine insights by ADD / EDIT / REMOVE / AGREE, or by the shared-steps rule."""

    config_model: ClassVar[type[InsightRefineConfig]] = InsightRefineConfig
    config: InsightRefineConfig
    requires = (VectorSearch, GraphLinks, Scannable)

    def manage(self, scope: Scope) -> ManageReport:
        """Refine from the newest unrefined labelled tasks of ``scope``'s owner."""
        own, report = owner(scope), ManageReport(stage="insight_refine")
        scanner = self.resources.find(Scannable)
        labelled = [
            n for n in scanner.scan(own, Where(kind=[QUERY]))
            if n.metadata.get("status") in (RESOLVED, FAILED)
        ]  # fmt: skip
        report.detail = {"labelled_tasks": len(labelled), "anchors": [], "ignored": []}
        if len(labelled) < self.config.min_tasks:
            return report
        pending = [n for n in labelled if not n.metadata.get("refined")]
        pending.sort(key=lambda n: (n.created_at, n.id), reverse=True)
        by_id = {n.id: n for n in labelled}
        use_llm = llm_available(self.resources.llm)
        for anchor in pending[: self.config.rounds]:
            shown = self._gather(anchor, by_id, own)
            if use_llm and shown:
                self._refine(shown, own, report)
            elif self.config.derive == "shared_steps":
                self._derive(anchor, shown, own, report)
            metadata = {**anchor.metadata, "refined": True}
            update = {"metadata": metadata, "version": anchor.version + 1}
            self.resources.write([anchor.model_copy(update=update)])
            report.detail["anchors"].append(anchor.id)
        return report

    def _gather(self, anchor: Note, by_id: dict[str, Note], own: Scope) -> list[Note]:
        """Return the anchor's resolved then failed tasks (anchor first in its group)."""
        walked = graph_store(self.resources).neighbours([anchor.id], own, hops=1, kinds=[SIMILAR])
        near = [by_id[n.id] for n in walked if n.id in by_id]
        resolved = [t for t in [anchor, *near] if t.metadata.get("status") == RESOLVED]
        failed = [t for t in [anchor, *near] if t.metadata.get("status") == FAILED]
        return resolved[: self.config.successes] + failed[: self.config.failures]

    # with an LLM -----------------------------------------------------------------------

    def messages(self, shown: list[Note], insights: list[Note], own: Scope) -> list[dict[str, str]]:
        """Return the chat messages of one refinement request."""
        steps = trajectories(self.resources, [t.id for t in shown], own)
        lines = ["Current insights:"]
        lines += [f"[{i.id}] (score {i.importance:g}) {i.content}" for i in insights] or ["(none)"]
        for status, title in ((RESOLVED, "Successful tasks:"), (FAILED, "Failed tasks:")):
            tasks = [t for t in shown if t.metadata.get("status") == status]
            if not tasks:
                continue
            lines += ["", title]
            for task in tasks:
                lines.append(f"Task: {task.content}")
                shown_steps = steps[task.id][: self.config.steps]
                lines += [f"  {n}. {s.content}" for n, s in enumerate(shown_steps, 1)]
        if len(insights) >= self.config.full:
            lines += ["", "The list is full: prefer EDIT, REMOVE or AGREE to ADD."]
        return [
            {"role": "system", "content": SYSTEM.format(n=self.config.max_operations)},
            {"role": "user", "content": "\n".join(lines)},
        ]

    def _refine(self, shown: list[Note], own: Scope, report: ManageReport) -> None:
        pairs = supporting_insights(self.resources, [t.id for t in shown], own)
        insights = sorted((i for i, _ in pairs), key=lambda i: (-i.importance, i.id))
        insights = insights[: self.config.max_insights]
        llm = self.resources.llm
        assert llm is not None
        answer = llm.extract(self.messages(shown, insights, own), InsightOperations)
        self._apply(answer.operations[: self.config.max_operations], shown, own, report)

    def _apply(
        self, ops: list[InsightOperation], shown: list[Note], own: Scope, report: ManageReport
    ) -> None:
        """Apply operations in order; several on one insight compose."""
        now = self.resources.clock.now(own)
        store = note_store(self.resources)
        support = [Link(target=t.id, kind=SUPPORTS) for t in shown]
        sources = list(dict.fromkeys(s for t in shown for s in t.source_ids))
        touched: dict[str, Note] = {}
        created: set[str] = set()

        def current(nid: str) -> Note | None:
            if nid not in touched:
                found = store.get([nid], own)
                if not found or found[0].kind != INSIGHT:
                    return None
                touched[nid] = found[0]
            return touched[nid]

        for op in ops:
            nid = op.insight_id if op.op != "ADD" else insight_id(own, _normalise(op.text))
            assert nid is not None
            note = current(nid)
            if op.op == "ADD" and (note is None or note.invalid_at is not None):
                fields: dict[str, Any] = {
                    "id": nid, "content": op.text.strip(), "kind": INSIGHT, "scope": own,
                    "source_ids": sources, "importance": self.config.initial_score,
                    "created_at": now, "valid_from": now, "links": support,
                    "version": note.version + 1 if note else 1,
                }  # fmt: skip
                touched[nid] = Note(**fields)
                created.add(nid)
                continue
            if note is None or note.invalid_at is not None:
                report.detail["ignored"].append(f"{op.op} {op.insight_id}")
                continue
            if op.op == "REMOVE" and self.config.remove_penalty is None:
                note = note.model_copy(update={"invalid_at": now, "version": note.version + 1})
            elif op.op == "REMOVE":
                assert self.config.remove_penalty is not None
                note = rescore(note, -self.config.remove_penalty, now=now)
            else:
                note = rescore(note, 1.0, now=now)
                if op.op == "EDIT":
                    note = note.model_copy(update={"content": op.text.strip(), "embedding": None})
            if op.op != "REMOVE":
                known = {(x.target, x.kind) for x in note.links}
                extra = [x for x in support if (x.target, x.kind) not in known]
                note = note.model_copy(update={"links": [*note.links, *extra]})
            touched[nid] = note
        for nid, note in touched.items():
            if nid in created:
                report.added += 1
            elif note.invalid_at is not None:
                report.deleted += 1
            else:
                report.updated += 1
        self.resources.write(list(touched.values()))

    # without an LLM --------------------------------------------------------------------

    def _derive(self, anchor: Note, shown: list[Note], own: Scope, report: ManageReport) -> None:
        """Write the anchor's shared-steps insight, if its resolved neighbourhood has one."""
        resolved = [t for t in shown if t.metadata.get("status") == RESOLVED]
        if anchor not in resolved or len(resolved) < self.config.min_support:
            return
        nid = insight_id(own, f"derived:{anchor.id}")
        if note_store(self.resources).get([nid], own):
            return
        steps = trajectories(self.resources, [t.id for t in resolved], own)
        bags = [keywords(" ".join(_spoken(s) for s in steps[t.id]), 10) for t in resolved]
        counts = Counter(word for bag in bags for word in bag)
        need = max(2, math.ceil(len(resolved) / 2))
        first = list(dict.fromkeys(word for bag in bags for word in bag))
        common = [w for w in first if counts[w] >= need]
        shared = sorted(common, key=lambda w: (-counts[w], first.index(w)))[:5]
        if not shared:
            return
        now = self.resources.clock.now()
        note = Note(
            id=nid,
            content=f'Tasks like "{anchor.content}" were resolved with steps about: '
            f"{', '.join(shared)}.",
            kind=INSIGHT,
            scope=own,
            source_ids=list(dict.fromkeys(s for t in resolved for s in t.source_ids)),
            importance=self.config.initial_score,
            created_at=now,
            valid_from=now,
            links=[Link(target=t.id, kind=SUPPORTS) for t in resolved],
            metadata={"derived": "shared_steps"},
        )
        self.resources.write([note])
        report.added += 1


def _spoken(step: Note) -> str:
    """Return a step's text without its 'speaker: ' prefix."""
    speaker = step.metadata.get("speaker")
    prefix = f"{speaker}: " if isinstance(speaker, str) else ""
    return step.content.removeprefix(prefix)
