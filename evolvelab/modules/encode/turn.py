"""``type: turn`` — one note per event, no LLM.

The note's content is the event text, optionally prefixed with the speaker and the date
and followed by chosen metadata (an image caption, say), so that what is indexed carries
who said it and when.

With ``link_turns`` (the default) consecutive turns of a session are linked both ways
(link kinds ``prev`` and ``next``), across batches and processes: the session's stored
turns are read back to find where new ones fit. The ``neighbours`` retriever follows these
links to spread relevance to the turns around a hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from evolvelab.config import EncoderConfig
from evolvelab.stages import Encoder, Resources, Scannable
from evolvelab.types import Event, Link, Note, Scope, Where, stable_id

__all__ = ["TurnConfig", "TurnEncoder", "link_turns", "note_from_event", "render_event"]


class TurnConfig(EncoderConfig):
    """Store every event as one note.

    Example:
        ```yaml
        encode:
          - {type: turn, speaker: true, date: false, metadata: [caption]}
        ```
    """

    type: Literal["turn"] = "turn"
    speaker: bool = Field(True, description="Prefix the content with 'speaker: '.")
    date: bool = Field(False, description="Prefix the content with the event date, '[8 May 2023] '.")
    metadata: list[str] = Field(
        default_factory=list,
        description="Event metadata keys whose values are appended, e.g. [caption].",
    )
    link_turns: bool = Field(
        True, description="Link consecutive turns of a session (kinds prev/next)."
    )


def note_from_event(event: Event, scope: Scope, content: str, encoder: str) -> Note:
    """Build the note for ``event`` with a stable id (same scope, event and encoder → same id)."""
    scope = scope.narrowed(event.session_id)
    metadata = dict(event.metadata)
    if event.speaker is not None:
        metadata.setdefault("speaker", event.speaker)
    metadata["encoder"] = encoder
    fields = {
        "id": stable_id("n", scope.user_id, scope.agent_id, event.id, encoder),
        "content": content,
        "kind": event.kind,
        "source_ids": [event.id],
        "scope": scope,
        "valid_from": event.timestamp,
        "metadata": metadata,
    }
    if event.timestamp is not None:
        fields["created_at"] = event.timestamp
    return Note(**fields)


def render_event(event: Event, *, speaker: bool, date: bool, metadata: Sequence[str]) -> str:
    """Return the indexed text of an event under the given options."""
    text = event.content
    if speaker and event.speaker:
        text = f"{event.speaker}: {text}"
    if date and event.timestamp is not None:
        text = f"[{event.timestamp.day} {event.timestamp:%B %Y}] {text}"
    for key in metadata:
        value = event.metadata.get(key)
        if value not in (None, ""):
            text = f"{text} ({key}: {value})"
    return text


def _with_link(note: Note, kind: str, target: str) -> Note:
    links = [link for link in note.links if link.kind != kind] + [Link(target=target, kind=kind)]
    return note.model_copy(update={"links": links})


def link_turns(notes: list[Note], resources: Resources) -> list[Note]:
    """Link each note to the previous and next note of its session written by the same encoder.

    The session's stored notes are read back (when the note store can scan), so turns
    added in separate batches, or by separate processes, are linked as well, and
    re-ingesting a stream rebuilds the same links. Stored neighbours whose links change are
    returned too, so that they are written again.

    Returns:
        The new notes, linked, followed by the updated stored neighbours.
    """
    groups: dict[str, list[Note]] = {}
    for note in notes:
        groups.setdefault(note.scope.model_dump_json(), []).append(note)
    store = resources.store
    out: list[Note] = []
    touched: dict[str, Note] = {}
    for group in groups.values():
        encoder = group[0].metadata.get("encoder")
        fresh = {n.id for n in group}
        stored: list[Note] = []
        if isinstance(store, Scannable) and group[0].scope.session_id is not None:
            stored = [
                n
                for n in store.scan(group[0].scope, Where(kind=[group[0].kind]))
                if n.metadata.get("encoder") == encoder and n.id not in fresh
            ]
        sequence = sorted([*stored, *group], key=lambda n: (n.event_time, n.id))
        linked = {n.id: n for n in sequence}
        for before, after in zip(sequence, sequence[1:], strict=False):
            linked[before.id] = _with_link(linked[before.id], "next", after.id)
            linked[after.id] = _with_link(linked[after.id], "prev", before.id)
        out.extend(linked[n.id] for n in group)
        for old in stored:
            if linked[old.id].links != old.links:
                touched[old.id] = linked[old.id]
    return out + list(touched.values())


class TurnEncoder(Encoder):
    """One note per event; the note keeps the event id as its source."""

    config_model: ClassVar[type[TurnConfig]] = TurnConfig
    config: TurnConfig

    def encode(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        cfg = self.config
        notes = [
            note_from_event(
                event,
                scope,
                render_event(event, speaker=cfg.speaker, date=cfg.date, metadata=cfg.metadata),
                "turn",
            )
            for event in events
        ]
        return link_turns(notes, self.resources) if cfg.link_turns else notes
