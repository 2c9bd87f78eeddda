"""The entries of the event log: one pydantic model per kind of line.

Public through :mod:`evolvelab.eventlog`, which writes and reads them; kept apart so the
log's mechanics (appends, fsync, rewrites, snapshots) read on their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from evolvelab.errors import EvolveLabError
from evolvelab.types import Event, MetadataValue, Scope, utcnow

__all__ = [
    "ENTRY", "AddEntry", "DeleteEntry", "Entry", "ForgetEntry", "LogEntry", "LogFailure",
    "NoteVersion", "OutcomeEntry", "OwnerPattern", "QueryEntry", "UpdateEntry", "VoidEntry",
]  # fmt: skip


class LogFailure(EvolveLabError):
    """The event log could not be written or rewritten (a disk or file-system failure).

    A server error, not a client mistake: the log stays open and as it was before.
    """


class Entry(BaseModel):
    """Base of every log entry: strict; ``seq`` is assigned by the log when appended."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(0, ge=0, description="Position in the log (1, 2, ...), set on append.")
    at: datetime = Field(default_factory=utcnow, description="When the entry was accepted.")


class AddEntry(Entry):
    """Events accepted into one scope (one ``add`` call or one request)."""

    op: Literal["add"] = "add"
    scope: Scope = Field(description="Whose memory the events belong to.")
    events: list[Event] = Field(description="The events, as accepted.")


class QueryEntry(Entry):
    """A question asked of memory, and the ids of the notes it was answered with."""

    op: Literal["query"] = "query"
    scope: Scope
    id: str = Field(description="Query id, returned to the caller for outcomes.")
    text: str
    k: int = 10
    hit_ids: list[str] = Field(default_factory=list)
    hit_sources: list[list[str]] = Field(
        default_factory=list, description="Source event ids of each hit, aligned with hit_ids."
    )


class OutcomeEntry(Entry):
    """How a task that used memory went."""

    op: Literal["outcome"] = "outcome"
    scope: Scope
    query_id: str | None = None
    success: bool
    score: float | None = None
    used_ids: list[str] = Field(default_factory=list)
    detail: str = ""
    counts: dict[str, int] | None = Field(
        None,
        description="The success (or failure) count of each credited note before this "
        "outcome: replay credits only notes still at that count, so it never counts twice "
        "(None in logs written before this field: replay credits every used note).",
    )


class NoteVersion(BaseModel):
    """One version of a note and the interval in which it was the current one."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="The note's version number.")
    content: str = Field(description="Its text in that version.")
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    valid_from: datetime | None = Field(None, description="When this version became current.")
    valid_to: datetime | None = Field(None, description="When it was replaced (None: current).")


class UpdateEntry(Entry):
    """A correction of one note: the new text and metadata, and the version it replaced."""

    op: Literal["update"] = "update"
    scope: Scope
    note_id: str
    kind: str = "turn"
    source_ids: list[str] = Field(default_factory=list)
    content: str
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    previous: NoteVersion


class DeleteEntry(Entry):
    """Notes deleted; their source events are erased from the log as well."""

    op: Literal["delete"] = "delete"
    scope: Scope
    note_ids: list[str]
    source_ids: list[str] = Field(default_factory=list)


class OwnerPattern(BaseModel):
    """Which memory owners an erasure or export covers: unset fields match anything.

    ``user_prefix`` confines the pattern to user ids starting with it (a server applies
    its tenant this way, so forgetting an agent never reaches another tenant's users).

    Example:
        >>> OwnerPattern(user_id="ana").matches(Scope(user_id="ana", agent_id="bot"))
        True
    """

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(None, description="Only this user (None: any).")
    agent_id: str | None = Field(None, description="Only this agent (None: any).")
    user_prefix: str | None = Field(None, description="Only user ids starting with this.")

    def matches(self, scope: Scope) -> bool:
        """Return whether ``scope``'s owner (user and agent) fits the pattern."""
        if self.user_id is not None and scope.user_id != self.user_id:
            return False
        if self.agent_id is not None and scope.agent_id != self.agent_id:
            return False
        return self.user_prefix is None or (scope.user_id or "").startswith(self.user_prefix)


class ForgetEntry(Entry):
    """Everything of a user and/or agent erased (no content is kept, only who)."""

    op: Literal["forget"] = "forget"
    owners: OwnerPattern


class VoidEntry(Entry):
    """Earlier entries that never reached the stores (their write failed): skip them."""

    op: Literal["void"] = "void"
    seqs: list[int]


LogEntry = Annotated[
    AddEntry | QueryEntry | OutcomeEntry | UpdateEntry | DeleteEntry | ForgetEntry | VoidEntry,
    Field(discriminator="op"),
]
"""Any one line of the log, told apart by ``op``."""

ENTRY: TypeAdapter[LogEntry] = TypeAdapter(LogEntry)
"""Reads one line of the log (a dict) into its entry."""
