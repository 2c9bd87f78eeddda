"""What the REST API accepts and returns, and the limits that keep hostile clients small.

Request bodies are strict (unknown fields are 422 errors naming the field). Limits are
checked after parsing and answered with 422 (413 for the body size) and a message that
names the limit, e.g. ``events: 900 events in one request; the limit is 500 (max_events)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evolvelab.errors import EvolveLabError
from evolvelab.eventlog import NoteVersion
from evolvelab.lifecycle import Message
from evolvelab.types import Event, Hit, MetadataValue, Note, Scope, Where, stable_id

__all__ = [
    "EventIn", "EventsIn", "HitOut", "LimitExceeded", "Limits", "NoteOut", "OutcomeIn",
    "PatchIn", "ScopeIn", "SearchIn",
]  # fmt: skip

_ID = 256


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Strict):
    """Per-request limits of a server.

    Example:
        >>> Limits(max_events=100, max_k=50)
        Limits(max_body_bytes=1048576, max_events=100, max_text_chars=20000, max_k=50,
               max_page=500, max_ids=1000)
    """

    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body, in bytes.")
    max_events: int = Field(500, ge=1, description="Events (or messages) in one request.")
    max_text_chars: int = Field(20_000, ge=1, description="Characters in one event, message or query.")
    max_k: int = Field(100, ge=1, description="Hits one search may ask for.")
    max_page: int = Field(500, ge=1, description="Notes in one page of a listing.")
    max_ids: int = Field(1000, ge=1, description="Note ids in one outcome.")


class LimitExceeded(EvolveLabError):
    """A request went over one of the server's limits."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.status = status


class ScopeIn(_Strict):
    """Whose memory: user, agent, session (the tenant is added by the server)."""

    user_id: str | None = Field(None, min_length=1, max_length=_ID, description="The end user.")
    agent_id: str | None = Field(None, min_length=1, max_length=_ID, description="The agent.")
    session_id: str | None = Field(None, min_length=1, max_length=_ID, description="The session.")

    def scope(self) -> Scope:
        """Return it as a :class:`~evolvelab.types.Scope`."""
        return Scope(**self.model_dump())


class EventIn(_Strict):
    """One event; ``id`` is derived from its fields when left out."""

    id: str | None = Field(None, min_length=1, max_length=_ID, description="Event id (default: derived).")
    content: str = Field(description="The text of the event.")
    kind: str = Field("turn", max_length=64, description="turn, tool, observation, outcome...")
    speaker: str | None = Field(None, max_length=_ID, description="Who said or did it.")
    timestamp: datetime | None = Field(None, description="When it happened (ISO-8601).")
    session_id: str | None = Field(None, max_length=_ID, description="Its session.")
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, description="Extra scalars.")

    def event(self, scope: Scope) -> Event:
        """Return it as an :class:`~evolvelab.types.Event` with a stable id."""
        data = self.model_dump()
        if data["id"] is None:
            when = self.timestamp.isoformat() if self.timestamp else None
            data["id"] = stable_id("e", self.session_id or scope.session_id, self.kind,
                                   self.speaker, when, self.content)  # fmt: skip
        return Event(**data)


class EventsIn(_Strict):
    """``POST /v1/events``: events or chat messages for one scope."""

    scope: ScopeIn = Field(default_factory=ScopeIn, description="Whose memory.")
    events: list[EventIn] | None = Field(None, description="Events to remember.")
    messages: list[Message] | None = Field(None, description="Or chat messages to remember.")

    @model_validator(mode="after")
    def _one_of(self) -> EventsIn:
        if (self.events is None) == (self.messages is None):
            raise ValueError("give exactly one of 'events' or 'messages'")
        return self

    def check(self, limits: Limits) -> None:
        """Raise :class:`LimitExceeded` if the request is over a limit."""
        field, items = ("events", self.events) if self.events is not None else ("messages", self.messages)
        assert items is not None
        if len(items) > limits.max_events:
            raise LimitExceeded(field, f"{len(items)} items in one request; the limit is "
                                       f"{limits.max_events} (max_events)")  # fmt: skip
        for index, item in enumerate(items):
            if len(item.content) > limits.max_text_chars:
                raise LimitExceeded(f"{field}[{index}].content",
                                    f"{len(item.content)} characters; the limit is "
                                    f"{limits.max_text_chars} (max_text_chars)")  # fmt: skip


class SearchIn(_Strict):
    """``POST /v1/search``."""

    scope: ScopeIn = Field(default_factory=ScopeIn, description="Whose memory.")
    query: str = Field(min_length=1, description="The question.")
    k: int = Field(10, ge=1, description="How many hits.")
    where: Where | None = Field(None, description="Extra filters (kind, tags, valid_at ...).")

    def check(self, limits: Limits) -> None:
        """Raise :class:`LimitExceeded` if the request is over a limit."""
        if self.k > limits.max_k:
            raise LimitExceeded("k", f"{self.k} hits asked; the limit is {limits.max_k} (max_k)")
        if len(self.query) > limits.max_text_chars:
            raise LimitExceeded("query", f"{len(self.query)} characters; the limit is "
                                         f"{limits.max_text_chars} (max_text_chars)")  # fmt: skip


class PatchIn(_Strict):
    """``PATCH /v1/notes/{id}``: a correction (``null`` metadata values remove keys)."""

    content: str | None = Field(None, description="The corrected text.")
    metadata: dict[str, MetadataValue] | None = Field(None, description="Metadata to set or remove.")

    @model_validator(mode="after")
    def _something(self) -> PatchIn:
        if self.content is None and self.metadata is None:
            raise ValueError("give 'content' and/or 'metadata'")
        return self


class OutcomeIn(_Strict):
    """``POST /v1/outcomes``: how a task that used memory went."""

    scope: ScopeIn = Field(default_factory=ScopeIn, description="Whose memory was used.")
    query_id: str | None = Field(None, max_length=_ID, description="The search it followed.")
    success: bool = Field(description="Whether the task succeeded.")
    score: float | None = Field(None, description="A graded result.")
    used_ids: list[str] = Field(default_factory=list, description="Ids of the notes used.")
    detail: str = Field("", max_length=2000, description="A short note on the outcome.")

    def check(self, limits: Limits) -> None:
        """Raise :class:`LimitExceeded` if the request is over a limit."""
        if len(self.used_ids) > limits.max_ids:
            raise LimitExceeded("used_ids", f"{len(self.used_ids)} ids; the limit is "
                                            f"{limits.max_ids} (max_ids)")  # fmt: skip


class NoteOut(_Strict):
    """A note as the API shows it (no embedding)."""

    id: str
    content: str
    kind: str
    source_ids: list[str]
    user_id: str | None
    agent_id: str | None
    session_id: str | None
    created_at: datetime
    valid_from: datetime | None
    invalid_at: datetime | None
    version: int
    tags: list[str]
    keywords: list[str]
    metadata: dict[str, MetadataValue]
    success_count: int
    failure_count: int

    @classmethod
    def of(cls, note: Note, scope: Scope) -> NoteOut:
        """Build from a note and its scope as the caller sees it."""
        data: dict[str, Any] = note.model_dump(include=set(cls.model_fields))
        return cls(**data, **scope.model_dump())


class HitOut(_Strict):
    """One search hit."""

    id: str
    content: str
    score: float
    channel: str
    source_ids: list[str]
    kind: str
    created_at: datetime

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        """Build from a hit."""
        note = hit.note
        return cls(id=note.id, content=note.content, score=hit.score, channel=hit.channel,
                   source_ids=note.source_ids, kind=note.kind, created_at=note.created_at)  # fmt: skip


class HistoryOut(_Strict):
    """``GET /v1/notes/{id}/history``."""

    id: str
    versions: list[NoteVersion]
