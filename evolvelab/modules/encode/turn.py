"""``type: turn`` — one note per event, no LLM.

The note's content is the event text, optionally prefixed with the speaker and the date
and followed by chosen metadata (an image caption, say), so that what is indexed carries
who said it and when.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from evolvelab.config import EncoderConfig
from evolvelab.stages import Encoder
from evolvelab.types import Event, Note, Scope, stable_id

__all__ = ["TurnConfig", "TurnEncoder", "note_from_event", "render_event"]


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


def note_from_event(event: Event, scope: Scope, content: str, encoder: str) -> Note:
    """Build the note for ``event`` with a stable id (same scope, event and encoder → same id)."""
    scope = scope.narrowed(event.session_id)
    metadata = dict(event.metadata)
    if event.speaker is not None:
        metadata.setdefault("speaker", event.speaker)
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


class TurnEncoder(Encoder):
    """One note per event; the note keeps the event id as its source."""

    config_model: ClassVar[type[TurnConfig]] = TurnConfig
    config: TurnConfig

    def encode(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        cfg = self.config
        return [
            note_from_event(
                event,
                scope,
                render_event(event, speaker=cfg.speaker, date=cfg.date, metadata=cfg.metadata),
                "turn",
            )
            for event in events
        ]
