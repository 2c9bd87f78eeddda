"""``type: experience`` — one note per finished episode: ExpRAG's experience, AgentFly's case.

Evo-Memory's ExpRAG baseline stores each finished task as one experience text (the
input, what the agent did, the feedback) and retrieves the most similar experiences as
exemplars; AgentFly (Memento) keeps the same record as a **case** ``(state, plan,
reward)``. This encoder writes that record:

- events are grouped into episodes by ``metadata.task_id``, else ``session_id``, else
  the event's own id (an event that belongs to nothing is an episode of one);
- an event whose kind is a task kind (``task``, ``query``) gives the episode's **task**
  (the state); an event of an outcome kind (``outcome``) gives its **outcome**: its
  boolean ``metadata.success`` becomes the note's ``metadata.success`` and
  ``metadata.reward`` (1.0 or 0.0), and its text the reason;
- every other event is a step of the plan, rendered one per line (``[tool] …``).

The note's content reads ``Task: …`` / the steps / ``Outcome: …``; its ``source_ids`` are
every event of the episode (how evaluation maps it back). ``index: task`` makes searches
read the task statement only (AgentFly retrieves cases by state similarity); ``index:
episode`` the whole text (ExpRAG). An episode added over several ``add()`` calls is
one note, rebuilt from what is stored plus the new events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import EncoderConfig, Tunable
from evolvelab.stages import Encoder
from evolvelab.types import Event, Note, Scope, stable_id

__all__ = ["ExperienceConfig", "ExperienceEncoder", "episode_key", "experience_id"]


class ExperienceConfig(EncoderConfig):
    """Write one note per episode: task, steps, outcome.

    Example:
        ```yaml
        encode:
          - {type: experience, index: task}
        ```
    """

    type: Literal["experience"] = "experience"
    index: Literal["task", "episode"] = Field(
        "episode",
        description="What searches read: the task statement (AgentFly's state) or the whole "
        "episode (ExpRAG).",
    )
    kind: str = Field("experience", min_length=1, description="Kind of the notes written.")
    task_kinds: list[str] = Field(
        default_factory=lambda: ["task", "query"], description="Event kinds that state the task."
    )
    outcome_kinds: list[str] = Field(
        default_factory=lambda: ["outcome"],
        description="Event kinds that end the episode (boolean metadata.success).",
    )
    max_steps: Annotated[int, Tunable(5, 80, log=True)] = Field(
        40, ge=1, le=1000, description="Most steps written into the note (the first ones)."
    )


def episode_key(event: Event) -> str:
    """Return the episode an event belongs to: task id, else session, else its own id."""
    task = event.metadata.get("task_id")
    if task is not None:
        return str(task)
    return event.session_id or event.id


def experience_id(scope: Scope, key: str) -> str:
    """Return the stable id of an episode's note."""
    return stable_id("exp", scope.user_id, scope.agent_id, key)


def _step(event: Event) -> str:
    who = f"{event.speaker}: " if event.speaker else ""
    return f"[{event.kind}] {who}{event.content}"


class ExperienceEncoder(Encoder):
    """Group events into episodes and write (or extend) one note per episode."""

    config_model: ClassVar[type[ExperienceConfig]] = ExperienceConfig
    config: ExperienceConfig

    def _parts(self, stored: Note | None) -> tuple[str | None, list[str], dict[str, Any]]:
        if stored is None:
            return None, [], {}
        task = stored.metadata.get("task")
        lines = stored.content.split("\n")
        steps = [line for line in lines if not line.startswith(("Task: ", "Outcome: "))]
        return (str(task) if task is not None else None), steps, dict(stored.metadata)

    def encode(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        """Return one note per episode touched by ``events`` (stored episodes extended)."""
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        groups: dict[str, list[Event]] = {}
        for event in events:
            groups.setdefault(episode_key(event), []).append(event)
        ids = {key: experience_id(owner, key) for key in groups}
        stored = {n.id: n for n in self.resources.store.get(list(ids.values()), owner)}
        notes = []
        for key, members in groups.items():
            old = stored.get(ids[key])
            task, steps, metadata = self._parts(old)
            metadata.update({"task_id": key})
            for event in members:
                if event.kind in self.config.task_kinds:
                    task = event.content
                elif event.kind in self.config.outcome_kinds:
                    success = event.metadata.get("success")
                    if isinstance(success, bool):
                        metadata.update({"success": success, "reward": 1.0 if success else 0.0})
                    metadata["outcome"] = event.content
                elif len(steps) < self.config.max_steps:
                    steps.append(_step(event))
            if task is not None:
                metadata["task"] = task
            lines = [f"Task: {task}"] if task is not None else []
            lines += steps
            if "outcome" in metadata:
                lines.append(f"Outcome: {metadata['outcome']}")
            first = old or None
            start = min((e.timestamp for e in members if e.timestamp is not None), default=None)
            fields: dict[str, Any] = {
                "id": ids[key],
                "content": "\n".join(lines) or members[0].content,
                "kind": self.config.kind,
                "source_ids": list(dict.fromkeys([*(first.source_ids if first else []),
                                                  *(e.id for e in members)])),  # fmt: skip
                "scope": owner,
                "metadata": metadata,
                "valid_from": first.valid_from if first is not None and first.valid_from else start,
            }
            if self.config.index == "task" and task is not None:
                fields["index_text"] = task
            if first is not None:
                fields["created_at"] = first.created_at
            elif start is not None:
                fields["created_at"] = start
            notes.append(Note(**fields))
        return notes
