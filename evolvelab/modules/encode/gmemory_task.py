"""``type: gmemory_task`` — tasks and their trajectories as G-Memory query and interaction notes.

How a task enters memory through ``add()`` (no LLM involved):

1. An event whose ``kind`` is a task kind (``task`` or ``query``) opens a task. It becomes
   a **query** note keyed by the event id; its ``content`` is the event text and its
   status is ``open`` unless the event's metadata says ``status: resolved|failed`` or
   ``success: true|false``.
2. Every other event is a **step**: an **interaction** note linked from its task's query
   note by a ``trajectory`` link. Its task is ``metadata.task_id`` when the event gives
   one, otherwise the task most recently opened in the same session (by this process).
3. A step with no task (a plain conversation) belongs to its session's implicit task,
   keyed ``session:<session_id>``, whose statement is the session's first
   ``implicit_turns`` steps (``implicit: skip`` drops such events instead).
4. An event of an outcome kind (``outcome``) is a step too; a boolean
   ``metadata.success`` on it marks its task resolved or failed.

When a query note is created it is linked to the most similar past query notes of the
same owner (at most ``neighbours``, each with cosine >= ``similarity``; the edge weight
is the cosine), as G-Memory links a new query in its query graph. Earlier queries of the
same batch count as past. A query note's text and embedding never change afterwards, so
its similarity edges stay true.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import EncoderConfig, Tunable
from evolvelab.modules.encode.turn import render_event
from evolvelab.modules._gmemory_graph import (
    FAILED,
    INTERACTION,
    OPEN,
    QUERY,
    RESOLVED,
    SIMILAR,
    TOLERANCE,
    TRAJECTORY,
    GMemoryError,
    cosine,
    interaction_id,
    note_store,
    owner,
    query_id,
)
from evolvelab.stages import Encoder, GraphLinks, Resources, VectorSearch
from evolvelab.types import Event, Link, Note, Scope, Where

__all__ = ["GMemoryTaskConfig", "GMemoryTaskEncoder"]


class GMemoryTaskConfig(EncoderConfig):
    """Turn task events into query notes and the events after them into interaction notes.

    Example:
        ```yaml
        encode:
          - {type: gmemory_task, similarity: 0.7, neighbours: 10, implicit: session}
        ```
    """

    type: Literal["gmemory_task"] = "gmemory_task"
    task_kinds: list[str] = Field(
        default_factory=lambda: ["task", "query"],
        min_length=1,
        description="Event kinds that open a task (its text becomes a query note).",
    )
    outcome_kinds: list[str] = Field(
        default_factory=lambda: ["outcome"],
        description="Event kinds whose boolean metadata.success resolves or fails their task.",
    )
    similarity: Annotated[float, Tunable(0.5, 0.95)] = Field(
        0.7, ge=-1.0, le=1.0, description="Cosine from which a new query links to a past one."
    )
    neighbours: Annotated[int, Tunable(1, 30)] = Field(
        10, ge=0, le=100, description="Most similar past queries a new query links to."
    )
    implicit: Literal["session", "skip"] = Field(
        "session",
        description="Steps with no task: one implicit task per session, or dropped.",
    )
    implicit_turns: int = Field(
        3, ge=1, le=50, description="Steps whose text is an implicit session task's statement."
    )
    speaker: bool = Field(True, description="Prefix interaction notes with 'speaker: '.")


def _status(event: Event) -> str | None:
    """Return the status an event's metadata declares, if any."""
    status = event.metadata.get("status")
    if status in (OPEN, RESOLVED, FAILED):
        return str(status)
    success = event.metadata.get("success")
    if isinstance(success, bool):
        return RESOLVED if success else FAILED
    return None


class GMemoryTaskEncoder(Encoder):
    """Build the query and interaction tiers and link new queries to similar past ones."""

    config_model: ClassVar[type[GMemoryTaskConfig]] = GMemoryTaskConfig
    config: GMemoryTaskConfig
    requires = (VectorSearch, GraphLinks)

    def open(self, resources: Resources) -> None:
        super().open(resources)
        self._open_task: dict[tuple[str | None, str | None, str | None], str] = {}

    # routing ---------------------------------------------------------------------------

    def _route(self, events: Sequence[Event], own: Scope) -> list[tuple[Event, str | None, bool]]:
        """Return ``(event, task key, opens a task)`` for each event; key None: dropped."""
        routed = []
        for event in events:
            session = (own.user_id, own.agent_id, event.session_id)
            if event.kind in self.config.task_kinds:
                self._open_task[session] = event.id
                routed.append((event, event.id, True))
                continue
            task = event.metadata.get("task_id")
            if task is not None:
                routed.append((event, str(task), False))
            elif session in self._open_task:
                routed.append((event, self._open_task[session], False))
            elif self.config.implicit == "session":
                routed.append((event, f"session:{event.session_id or ''}", False))
            else:
                routed.append((event, None, False))
        return routed

    # note building ---------------------------------------------------------------------

    def _new_query(self, key: str, own: Scope, event: Event | None, steps: list[Event]) -> Note:
        if event is not None:
            text, sources, base = event.content, [event.id], event
        else:
            shown = steps[: self.config.implicit_turns]
            text = "\n".join(self._render(e) for e in shown)
            sources, base = [e.id for e in shown], steps[0]
        fields: dict[str, Any] = {
            "id": query_id(own, key),
            "content": text,
            "kind": QUERY,
            "source_ids": sources,
            "scope": own,
            "valid_from": base.timestamp,
            "metadata": {
                "task": key,
                "status": (_status(event) if event else None) or OPEN,
                "session": base.session_id,
            },
        }
        if base.timestamp is not None:
            fields["created_at"] = base.timestamp
        return Note(**fields)

    def _render(self, event: Event) -> str:
        return render_event(event, speaker=self.config.speaker, date=False, metadata=())

    def _step(self, event: Event, key: str, qid: str, own: Scope) -> Note:
        metadata = {**event.metadata, "task": key, "query_id": qid, "session": event.session_id}
        if event.speaker is not None:
            metadata.setdefault("speaker", event.speaker)
        fields: dict[str, Any] = {
            "id": interaction_id(own, event.id),
            "content": self._render(event),
            "kind": INTERACTION,
            "source_ids": [event.id],
            "scope": own,
            "valid_from": event.timestamp,
            "metadata": metadata,
        }
        if event.timestamp is not None:
            fields["created_at"] = event.timestamp
        return Note(**fields)

    # similarity edges ------------------------------------------------------------------

    def _link_similar(self, new: list[Note], own: Scope) -> list[Note]:
        """Embed new query notes and link each to its most similar past queries."""
        if not new:
            return []
        vectors = self.resources.embedder.embed([n.content for n in new])
        store = note_store(self.resources)
        fresh = {n.id for n in new}
        done: list[Note] = []
        for note, vector in zip(new, vectors, strict=True):
            embedding = [float(x) for x in vector]
            pool = [
                hit.note
                for hit in store.search_vectors(
                    vector, self.config.neighbours + len(fresh), own, Where(kind=[QUERY])
                )
                if hit.note.id not in fresh
            ] + done
            scored = sorted(
                ((cosine(embedding, past.embedding), past.id) for past in pool),
                key=lambda pair: (-pair[0], pair[1]),
            )
            links = [
                Link(target=pid, kind=SIMILAR, weight=round(sim, 6))
                for sim, pid in scored
                if sim >= self.config.similarity - TOLERANCE
            ][: self.config.neighbours]
            done.append(
                note.model_copy(update={"embedding": embedding, "links": [*note.links, *links]})
            )
        return done

    # Encoder ---------------------------------------------------------------------------

    def encode(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        """Return new or updated query notes first, then one interaction note per step.

        Raises:
            GMemoryError: if a step names (``metadata.task_id``) a task never added.
        """
        own = owner(scope)
        routed = self._route(events, own)
        keys = list(dict.fromkeys(key for _, key, _ in routed if key is not None))
        wanted = [query_id(own, key) for key in keys]
        stored = {n.id: n for n in note_store(self.resources).get(wanted, own)}
        queries: dict[str, Note] = {}
        trajectory: dict[str, list[Link]] = {}
        created: list[str] = []
        changed: set[str] = set()
        steps: list[Note] = []
        for event, key, opens in routed:
            if key is None:
                continue
            qid = query_id(own, key)
            if qid not in queries:
                if qid in stored:
                    queries[qid] = stored[qid]
                elif opens or key.startswith("session:"):
                    members = [e for e, k, o in routed if k == key and not o]
                    queries[qid] = self._new_query(key, own, event if opens else None, members)
                    created.append(qid)
                else:
                    raise GMemoryError(
                        f"event {event.id!r} names task {key!r} in metadata.task_id, but no "
                        f"event of kind {', '.join(self.config.task_kinds)} with that id was added"
                    )
                trajectory[qid] = []
            query = queries[qid]
            status = _status(event) if opens or event.kind in self.config.outcome_kinds else None
            if status is not None and query.metadata.get("status") != status:
                queries[qid] = query.model_copy(
                    update={"metadata": {**query.metadata, "status": status}}
                )
                changed.add(qid)
            if not opens:
                step = self._step(event, key, qid, own)
                steps.append(step)
                trajectory[qid].append(Link(target=step.id, kind=TRAJECTORY))
        out = []
        for qid, query in queries.items():
            known = {(link.target, link.kind) for link in query.links}
            extra = []
            for link in trajectory[qid]:
                if (link.target, link.kind) not in known:
                    known.add((link.target, link.kind))
                    extra.append(link)
            if extra:
                changed.add(qid)
                queries[qid] = query.model_copy(update={"links": [*query.links, *extra]})
        linked = {n.id: n for n in self._link_similar([queries[q] for q in created], own)}
        for qid, query in queries.items():
            if qid in linked:
                out.append(linked[qid])
            elif qid in changed:
                out.append(query.model_copy(update={"version": query.version + 1}))
        return out + steps
