"""``type: arcmemo`` — ArcMemo's concept-level memory: reusable concepts from finished episodes.

ArcMemo (Ho et al., 2025, "ArcMemo: Abstract Reasoning Composition with Lifelong LLM
Memory") stores **concepts** rather than instances: after a problem is solved, the
trace is abstracted into modular takeaways, each with the situation it applies to, and
a new problem selects concepts instead of whole past solutions. A concept note here
holds a **name**, **when it applies** and the **takeaway**, and cites the episodes it
came from.

When an episode ends (an event of an outcome kind arrives), it is abstracted:

- ``abstraction: offline`` works from the episode's step structure: steps labelled with
  the same sub-procedure (``metadata.subproblem``, as the task generator writes) across
  episodes are one concept. An episode that carried the sub-procedure out correctly
  (it succeeded, or failed at another one) **supports** the concept: the takeaway is the
  procedure of its latest supporting episode, "when it applies" lists the tasks of up to
  ``examples`` supporting episodes. An episode that failed at the sub-procedure adds a
  ``Pitfall:`` line with its recorded reason. A concept is written with ``kind:
  concept`` once ``min_support`` episodes support it (``concept_draft`` before).
- ``abstraction: llm`` asks the LLM, with the paper's design of an abstraction prompt
  (the solved task and its trace in; concepts as name, situation, takeaway out, reusing
  existing names so concepts merge), and keeps every concept it returns; ``auto`` uses
  the LLM when one is configured.

``source_ids`` of a concept are the steps of its supporting episodes (so evaluation maps a
concept to them); failed episodes behind a pitfall are cited by ``pitfall_from`` links,
and every source episode by a ``derived_from`` link to its ``experience`` note (written
when the pipeline also encodes ``experience``). Steps of an episode split over several
``add()`` calls are kept in this process until its outcome arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from evolvelab.config import EncoderConfig
from evolvelab.llm import llm_available
from evolvelab.modules.encode.experience import episode_key, experience_id
from evolvelab.stages import Encoder, Resources
from evolvelab.types import Event, Link, Note, Scope, stable_id

__all__ = ["ArcMemoConfig", "ArcMemoEncoder", "ConceptDraft", "Concepts", "abstraction_messages"]

DERIVED, PITFALL = "derived_from", "pitfall_from"


class ArcMemoConfig(EncoderConfig):
    """Abstract concepts (name, when it applies, takeaway) from finished episodes.

    Example:
        ```yaml
        encode:
          - {type: arcmemo, abstraction: auto, min_support: 2}
        ```
    """

    type: Literal["arcmemo"] = "arcmemo"
    abstraction: Literal["auto", "offline", "llm"] = Field(
        "auto", description="Offline from labelled steps, with the LLM, or the LLM when there is one."
    )
    label_key: str = Field("subproblem", description="Step metadata key naming its sub-procedure.")
    min_support: int = Field(2, ge=1, description="Supporting episodes before a concept is retrievable.")
    examples: int = Field(3, ge=1, le=20, description="Task statements listed under 'when it applies'.")
    kind: str = Field("concept", min_length=1, description="Kind of retrievable concept notes.")
    task_kinds: list[str] = Field(default_factory=lambda: ["task", "query"],
                                  description="Event kinds that state the task.")  # fmt: skip
    outcome_kinds: list[str] = Field(default_factory=lambda: ["outcome"],
                                     description="Event kinds that end an episode.")  # fmt: skip


class ConceptDraft(BaseModel):
    """One concept as the LLM writes it."""

    name: str = Field(description="A short reusable name, e.g. 'open a closed container first'.")
    situation: str = Field(description="When it applies: the cues in a task that call for it.")
    takeaway: str = Field(description="What to do (or avoid), general enough to reuse.")
    steps: list[int] = Field(default_factory=list, description="Trace step numbers it came from.")


class Concepts(BaseModel):
    """The concepts abstracted from one episode."""

    concepts: list[ConceptDraft] = Field(default_factory=list)


def abstraction_messages(
    task: str, steps: list[str], outcome: str, known: list[str]
) -> list[dict[str, str]]:
    """Return the abstraction prompt for one finished episode."""
    trace = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
    names = "\n".join(f"- {name}" for name in known) or "(none yet)"
    return [
        {"role": "system", "content": (
            "You study an agent's finished attempt at a task and write reusable lessons for "
            "future, different tasks. Each lesson is a concept: a short name, the situation "
            "(what to recognise in a new task: conditions, cues, structure) and the takeaway "
            "(a concrete suggestion of what to do or check there). Keep them general: replace "
            "the attempt's specific objects, names and numbers by what they stand for, and "
            "ask whether the lesson would still help if those changed. Base lessons on steps "
            "the trace shows. If the attempt failed, or corrected a mistake, write the correct "
            "approach and state the pitfall as a warning for the situation in which it "
            "appears. Write 1-4 concepts. If a known concept fits, reuse its exact name so the "
            "two merge. List the trace steps each concept came from.")},
        {"role": "user", "content": (
            f"Task: {task}\n\nTrace:\n{trace}\n\nOutcome: {outcome}\n\nKnown concepts:\n{names}")},
    ]  # fmt: skip


class ArcMemoEncoder(Encoder):
    """Write and extend concept notes as episodes finish."""

    config_model: ClassVar[type[ArcMemoConfig]] = ArcMemoConfig
    config: ArcMemoConfig

    def open(self, resources: Resources) -> None:
        super().open(resources)
        self._pending: dict[tuple[str | None, str | None, str], list[Event]] = {}
        self._names: list[str] = []

    def _use_llm(self) -> bool:
        if self.config.abstraction == "auto":
            return llm_available(self.resources.llm)
        return self.config.abstraction == "llm"

    def encode(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        """Return the concepts that episodes finishing in ``events`` created or extended."""
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        finished: list[list[Event]] = []
        for event in events:
            key = (owner.user_id, owner.agent_id, episode_key(event))
            self._pending.setdefault(key, []).append(event)
            if event.kind in self.config.outcome_kinds:
                finished.append(self._pending.pop(key))
        concepts: dict[str, Note] = {}
        for episode in finished:
            drafts = self._llm(episode) if self._use_llm() else self._offline(episode)
            for concept_key, update in drafts:
                cid = stable_id("concept", owner.user_id, owner.agent_id, concept_key)
                if cid not in concepts:
                    stored = self.resources.store.get([cid], owner)
                    concepts[cid] = stored[0] if stored else self._empty(cid, owner, concept_key)
                concepts[cid] = self._merge(concepts[cid], update)
        return list(concepts.values())

    # the two abstraction paths -------------------------------------------------------------

    def _parts(self, episode: list[Event]) -> tuple[str, list[Event], Event]:
        task = next((e.content for e in episode if e.kind in self.config.task_kinds), "")
        outcome = episode[-1]
        steps = [e for e in episode if e.kind not in (*self.config.task_kinds, *self.config.outcome_kinds)]
        return task, steps, outcome

    def _offline(self, episode: list[Event]) -> list[tuple[str, dict[str, Any]]]:
        task, steps, outcome = self._parts(episode)
        failed_at = outcome.metadata.get("failed_at")
        success = outcome.metadata.get("success")
        key = episode_key(outcome)
        labels: dict[str, list[Event]] = {}
        for step in steps:
            label = step.metadata.get(self.config.label_key)
            if label is not None:
                labels.setdefault(str(label), []).append(step)
        out = []
        for label, members in labels.items():
            last = label == list(labels)[-1]
            failed_here = success is False and (failed_at == label or (failed_at is None and last))
            out.append((label, {"name": label, "episode": key, "task": task, "failed": failed_here,
                                "reason": outcome.content, "procedure": [s.content for s in members],
                                "sources": [s.id for s in members]}))  # fmt: skip
        return out

    def _llm(self, episode: list[Event]) -> list[tuple[str, dict[str, Any]]]:
        task, steps, outcome = self._parts(episode)
        messages = abstraction_messages(task, [s.content for s in steps], outcome.content, self._names)
        assert self.resources.llm is not None
        answer = self.resources.llm.extract(messages, Concepts)
        key = episode_key(outcome)
        out = []
        for draft in answer.concepts:
            if draft.name.strip() not in self._names:
                self._names.append(draft.name.strip())
            picked = [steps[i - 1].id for i in draft.steps if 1 <= i <= len(steps)] or [s.id for s in steps]
            update = {"name": draft.name.strip(), "episode": key, "task": task, "failed": False,
                      "situation": draft.situation, "takeaway": draft.takeaway, "sources": picked}
            out.append((draft.name.strip().lower(), update))
        return out

    # concept notes ----------------------------------------------------------------------------

    def _empty(self, cid: str, owner: Scope, key: str) -> Note:
        return Note(id=cid, content="", kind=f"{self.config.kind}_draft", scope=owner,
                    metadata={"name": key, "support": 0, "failures": 0})  # fmt: skip

    def _merge(self, note: Note, update: dict[str, Any]) -> Note:
        meta = dict(note.metadata)
        tasks = [t for t in str(meta.get("tasks", "")).split("\n") if t]
        pitfalls = [p for p in str(meta.get("pitfalls", "")).split("\n") if p]
        links = list(note.links)
        sources = list(note.source_ids)
        episode = experience_id(note.scope, update["episode"])
        if update["failed"]:
            meta["failures"] = int(meta.get("failures", 0)) + 1
            reason = update["reason"].removeprefix("failed: ")
            if reason not in pitfalls:
                pitfalls.append(reason)
            links.append(Link(target=episode, kind=PITFALL))
        else:
            meta["support"] = int(meta.get("support", 0)) + 1
            if update["task"] and update["task"] not in tasks:
                tasks = [*tasks, update["task"]][-self.config.examples :]
            if "procedure" in update:
                meta["takeaway"] = "; ".join(update["procedure"])
            else:
                meta["takeaway"], meta["situation"] = update["takeaway"], update["situation"]
            sources = list(dict.fromkeys([*sources, *update["sources"]]))
            links.append(Link(target=episode, kind=DERIVED))
        meta.update({"name": update["name"], "tasks": "\n".join(tasks), "pitfalls": "\n".join(pitfalls)})
        situation = str(meta.get("situation") or "tasks like: " + " | ".join(tasks))
        lines = [f"Concept: {update['name']}", f"When it applies: {situation}",
                 f"Takeaway: {meta.get('takeaway', '(no successful use yet)')}"]  # fmt: skip
        lines += [f"Pitfall: {p}" for p in pitfalls]
        ready = int(meta["support"]) >= self.config.min_support
        unique = {(link.target, link.kind): link for link in links}
        return note.model_copy(update={
            "content": "\n".join(lines), "index_text": f"{update['name']}: {situation}",
            "kind": self.config.kind if ready else f"{self.config.kind}_draft",
            "metadata": meta, "source_ids": sources, "links": list(unique.values()),
            "embedding": None, "version": note.version + 1,
        })  # fmt: skip
