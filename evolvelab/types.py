"""The data model: what flows between stages.

``Event`` goes in, ``Note`` is what a store keeps, ``Query`` asks, ``Hit`` answers,
``Outcome`` reports how a task went. ``Scope`` says whose memory a record belongs to.

Every record is a strict pydantic model: unknown fields are rejected, so a typo in a
JSONL stream or a plugin's output fails loudly instead of being dropped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AddResult",
    "Dropped",
    "Event",
    "Hit",
    "Link",
    "Note",
    "Outcome",
    "Query",
    "Scope",
    "Where",
    "HIDDEN_KINDS",
    "MetadataValue",
    "stable_id",
    "utcnow",
]

MetadataValue = str | int | float | bool | None
"""Values allowed in ``metadata`` maps: scalars only, so every store can keep them."""


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unicode(value: Any) -> Any:
    """Refuse text holding a lone surrogate: it cannot be written as UTF-8, so a store
    would fail on it half-way through a write. Checks a string, or a mapping's keys and values.
    """
    for part in [*value, *value.values()] if isinstance(value, dict) else [value]:
        found = _SURROGATE.search(part) if isinstance(part, str) else None
        if found:
            code = f"\\u{ord(found.group()):04x}"
            raise ValueError(f"lone surrogate {code} in text (not valid Unicode)")
    return value


def _aware(value: datetime | None) -> datetime | None:
    """Treat naive datetimes as UTC so that comparisons never mix the two kinds.

    A time whose UTC value falls outside years 1-9999 (``0001-01-01T00:00+01:00``) is
    refused: stores keep UTC, so it could be written but never read back.
    """
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"time out of range in UTC: {value.isoformat()}") from None
    return value


def stable_id(prefix: str, *parts: str | None) -> str:
    """Derive a stable identifier from its parts.

    The same parts always give the same id, so re-ingesting a stream upserts the same
    notes instead of duplicating them.

    Example:
        >>> stable_id("n", "alice", "D1:3", "turn")
        'n_...'
    """
    digest = hashlib.blake2b(digest_size=12)
    for part in parts:
        digest.update((part or "").encode("utf-8"))
        digest.update(b"\x1f")
    return f"{prefix}_{digest.hexdigest()}"


class Record(BaseModel):
    """Base of every data record: strict, validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Scope(Record):
    """Whose memory a record belongs to.

    Stores enforce scope on every read: a search in one user's scope never sees another
    user's notes. ``user_id`` and ``agent_id`` always match exactly (an unset field only
    matches notes where it is unset too); ``session_id`` narrows a search only when given.

    Example:
        >>> Scope(user_id="alice", session_id="s1")
        Scope(user_id='alice', agent_id=None, session_id='s1')
    """

    user_id: str | None = Field(None, description="The end user the memory is about.")
    agent_id: str | None = Field(None, description="The agent that owns the memory.")
    session_id: str | None = Field(None, description="The conversation or task session.")

    _unicode_ids = field_validator("user_id", "agent_id", "session_id")(_unicode)

    def narrowed(self, session_id: str | None) -> Scope:
        """Return this scope with ``session_id`` filled in where it is unset."""
        if session_id is None or self.session_id is not None:
            return self
        return self.model_copy(update={"session_id": session_id})


class Event(Record):
    """Something that happened: a dialogue turn, a tool call, a task outcome.

    ``id`` is the caller's identifier (for LoCoMo, the ``dia_id``); evaluation maps hits
    back to evidence through it.

    Example:
        >>> Event(id="D1:3", content="I went to a support group yesterday.",
        ...       speaker="Caroline", timestamp="2023-05-08T13:56:00")
        Event(id='D1:3', ...)
    """

    id: str = Field(min_length=1, description="Caller-chosen id, unique within a scope.")
    content: str = Field(description="The text of the event.")
    kind: str = Field("turn", description="What kind of event: turn, tool, observation, outcome…")
    speaker: str | None = Field(None, description="Who said or did it.")
    timestamp: datetime | None = Field(None, description="When it happened (event time).")
    session_id: str | None = Field(None, description="Session the event belongs to.")
    metadata: dict[str, MetadataValue] = Field(
        default_factory=dict, description="Extra scalar attributes (e.g. an image caption)."
    )

    _aware_timestamp = field_validator("timestamp")(_aware)
    _unicode_text = field_validator("id", "content", "kind", "speaker", "session_id", "metadata")(
        _unicode
    )


class Link(Record):
    """A typed, weighted edge from one note to another."""

    target: str = Field(description="Id of the note linked to.")
    kind: str = Field("related", description="Edge type, e.g. related, derived_from, supports.")
    weight: float = Field(1.0, description="Edge strength; higher is stronger.")


class Note(Record):
    """One memory record: the superset of what the seed systems keep.

    ``id`` is stable and never a rank position. ``source_ids`` names the events a note was
    built from. ``valid_from`` / ``invalid_at`` make notes bi-temporal: a superseded fact
    is closed, not erased.
    """

    id: str = Field(min_length=1, description="Stable note id.")
    content: str = Field(description="The text that is shown (and indexed, unless index_text is set).")
    index_text: str | None = Field(
        None,
        description="Text to index for search when it differs from content "
        "(e.g. the turn with the turns before it); None: content.",
    )
    kind: str = Field("turn", description="turn, fact, insight, thought, lesson, skill…")
    source_ids: list[str] = Field(default_factory=list, description="Ids of source events.")
    scope: Scope = Field(default_factory=Scope, description="Whose memory this is.")
    created_at: datetime = Field(default_factory=utcnow, description="When the note was written.")
    valid_from: datetime | None = Field(None, description="When the fact became true.")
    invalid_at: datetime | None = Field(None, description="When the fact stopped being true.")
    keywords: list[str] = Field(default_factory=list, description="Salient keywords.")
    tags: list[str] = Field(default_factory=list, description="Category tags.")
    context: str = Field("", description="A sentence situating the note (A-MEM context).")
    embedding: list[float] | None = Field(None, description="Vector of `content`, if embedded.")
    importance: float = Field(0.0, description="Importance score (FinMem scale 0–100).")
    layer: str | None = Field(None, description="Memory layer (short, mid, long, reflection).")
    strength: float = Field(1.0, description="Memory strength S (MemoryBank).")
    access_count: int = Field(0, ge=0, description="How often the note was retrieved.")
    last_accessed: datetime | None = Field(None, description="When the note was last retrieved.")
    success_count: int = Field(0, ge=0, description="Outcomes that succeeded using this note.")
    failure_count: int = Field(0, ge=0, description="Outcomes that failed using this note.")
    links: list[Link] = Field(default_factory=list, description="Typed links to other notes.")
    version: int = Field(1, ge=1, description="Incremented on every update.")
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, description="Extras.")

    _aware_times = field_validator("created_at", "valid_from", "invalid_at", "last_accessed")(
        _aware
    )

    def is_valid_at(self, when: datetime | None) -> bool:
        """Return whether the note was valid at ``when`` (``None``: valid now)."""
        if when is None:
            return self.invalid_at is None
        when = _aware(when)
        assert when is not None
        if self.valid_from is not None and self.valid_from > when:
            return False
        return self.invalid_at is None or self.invalid_at > when

    @property
    def search_text(self) -> str:
        """The text stores index and embedders embed: ``index_text`` or ``content``."""
        return self.content if self.index_text is None else self.index_text

    @property
    def event_time(self) -> datetime:
        """The time the note's content refers to: ``valid_from`` or ``created_at``."""
        return self.valid_from or self.created_at


HIDDEN_KINDS = ("lesson",)
"""Note kinds that searches and scans skip unless they ask for them by ``kind``."""


class Where(Record):
    """Filters a search may add on top of its scope.

    Example:
        >>> Where(kind="fact", tags=["travel"])
        Where(kind=['fact'], ...)
    """

    kind: list[str] | None = Field(None, description="Keep notes of these kinds.")
    layer: list[str] | None = Field(None, description="Keep notes in these layers.")
    tags: list[str] | None = Field(None, description="Keep notes carrying any of these tags.")
    valid_at: datetime | None = Field(
        None, description="Keep notes valid at this time (default: only currently valid notes)."
    )
    include_invalid: bool = Field(False, description="Also return closed (superseded) notes.")
    hidden_kinds: list[str] = Field(
        default_factory=lambda: list(HIDDEN_KINDS),
        description="Kinds left out unless `kind` asks for them (default: lesson — warnings "
        "the guard keeps, not memories).",
    )

    @field_validator("kind", "layer", "tags", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    _aware_valid_at = field_validator("valid_at")(_aware)

    def matches(self, note: Note) -> bool:
        """Return whether ``note`` passes every filter (used by scanning stores)."""
        if self.kind is not None and note.kind not in self.kind:
            return False
        if self.kind is None and note.kind in self.hidden_kinds:
            return False
        if self.layer is not None and note.layer not in self.layer:
            return False
        if self.tags is not None and not set(self.tags) & set(note.tags):
            return False
        return self.include_invalid or note.is_valid_at(self.valid_at)


class Query(Record):
    """A question put to memory."""

    text: str = Field(description="The query text.")
    scope: Scope = Field(default_factory=Scope, description="Whose memory to search.")
    k: int = Field(10, ge=1, description="How many hits to return.")
    where: Where = Field(default_factory=Where, description="Extra filters.")
    at: datetime | None = Field(None, description="When the query is asked (default: now).")

    _aware_at = field_validator("at")(_aware)
    _unicode_text = field_validator("text")(_unicode)


class Hit(Record):
    """A retrieved note, its score, and which channel found it."""

    note: Note
    score: float = Field(description="Relevance score; higher is better within one search.")
    channel: str = Field(description="The retriever or fusion that produced the hit.")
    explain: dict[str, float] = Field(
        default_factory=dict, description="Per-channel scores or ranks behind `score`."
    )


class Outcome(Record):
    """How a task that used memory went; drives credit assignment."""

    task_id: str | None = Field(None, description="The task or query id.")
    success: bool = Field(description="Whether the task succeeded.")
    score: float | None = Field(None, description="A graded result, if there is one.")
    scope: Scope = Field(default_factory=Scope, description="Whose memory was used.")
    at: datetime | None = Field(None, description="When the outcome was observed.")
    detail: str = Field("", description="Free-text note on the outcome.")

    _aware_at = field_validator("at")(_aware)



class Dropped(Record):
    """Input an ``add`` received but could not keep: which stage, why, how many.

    Example:
        >>> Dropped(stage="encode[0] (fact)", reason="LLM fact with empty text", count=2)
        Dropped(stage='encode[0] (fact)', reason='LLM fact with empty text', count=2)
    """

    stage: str = Field(description="The stage that dropped it, e.g. `encode[0] (fact)`.")
    reason: str = Field(description="Why it could not be kept, e.g. `LLM fact with empty text`.")
    count: int = Field(1, ge=1, description="How many items were dropped for this reason.")

    def render(self) -> str:
        """Render as ``encode[0] (fact) dropped 2: LLM fact with empty text``."""
        return f"{self.stage} dropped {self.count}: {self.reason}"


class AddResult(list[Note]):
    """What one ``Memory.add`` did: the notes it wrote, and what it could not keep.

    It *is* the list of notes written, so ``len(result)``, iteration, indexing and
    ``result == []`` work as before; ``dropped`` says what the encoders received but
    could not turn into notes (an LLM fact with no text, for instance), so nothing is
    lost without a word.

    Example:
        A fact encoder whose LLM (a ``FakeLLM`` here) returns one fact with no text:

        >>> import shutil, tempfile
        >>> from evolvelab import Memory
        >>> from evolvelab.modules.encode.fact import ExtractedFact, ExtractedFacts
        >>> from evolvelab.testing import FakeLLM
        >>> spec = '''
        ... version: 1
        ... name: facts
        ... embedder: {type: hashing, dim: 64}
        ... encode: [{type: fact}]
        ... store: {type: memory}
        ... retrieve: [{type: vector, k: 5}]
        ... '''
        >>> answer = ExtractedFacts(facts=[
        ...     ExtractedFact(text="Ana moved to Porto.", source_ids=["e1"]),
        ...     ExtractedFact(text="Ana adopted a cat named Miso.", source_ids=["e2"]),
        ...     ExtractedFact(text=" ", source_ids=["e2"])])
        >>> events = [Event(id="e1", content="I moved to Porto."),
        ...           Event(id="e2", content="I adopted a cat, Miso.")]
        >>> folder = tempfile.mkdtemp()
        >>> with Memory.from_text(spec, llm=FakeLLM().queue(answer), data_dir=folder) as memory:
        ...     result = memory.add(events, scope=Scope(user_id="ana"))
        >>> len(result), result.dropped_count, [note.content for note in result]
        (2, 1, ['Ana moved to Porto.', 'Ana adopted a cat named Miso.'])
        >>> result.summary()
        '2 notes written; 1 dropped (encode[0] (fact) dropped 1: LLM fact with empty text)'
        >>> shutil.rmtree(folder)
    """

    def __init__(self, notes: Iterable[Note] = (), dropped: Iterable[Dropped] = ()) -> None:
        super().__init__(notes)
        self.dropped: list[Dropped] = list(dropped)

    @property
    def notes(self) -> list[Note]:
        """The notes written, as a plain list."""
        return list(self)

    @property
    def dropped_count(self) -> int:
        """How many items were dropped, over every stage and reason."""
        return sum(d.count for d in self.dropped)

    def summary(self) -> str:
        """Say in one line how many notes were written and what was dropped, and why."""
        text = f"{len(self)} note{'s' if len(self) != 1 else ''} written"
        if self.dropped:
            reasons = "; ".join(d.render() for d in self.dropped)
            text += f"; {self.dropped_count} dropped ({reasons})"
        return text

    def __repr__(self) -> str:
        return f"AddResult({list.__repr__(self)}, dropped={self.dropped!r})"
