"""The memory lifecycle: chat input, read, list, correct, delete, forget, history.

These are the operations an agent needs beyond ``add`` and ``search``; ``Memory`` exposes
each as a method (``memory.get``, ``memory.list``, ``memory.update`` ...). When the memory
keeps an event log (:meth:`Memory.use_event_log`), every change goes to the log first and
is durable before the call returns; see :mod:`evolvelab.eventlog`.

    >>> import shutil, tempfile
    >>> from evolvelab import Memory
    >>> spec = '''
    ... version: 1
    ... name: chat
    ... embedder: {type: hashing, dim: 64}
    ... encode: [{type: turn, speaker: true}]
    ... store: {type: memory}
    ... retrieve: [{type: vector, k: 5}]
    ... '''
    >>> folder = tempfile.mkdtemp()
    >>> memory = Memory.from_text(spec, data_dir=folder).open()
    >>> memory.use_event_log()              # a new log: nothing to recover
    ReplayReport(entries=0, events=0, updates=0, deletes=0, forgets=0, outcomes=0, failures=[])
    >>> memory.add(messages=[{"role": "user", "name": "Ana", "content": "I moved to Lisbon."}],
    ...            scope={"user_id": "ana"}).summary()
    '1 note written'
    >>> page = memory.list({"user_id": "ana"}, limit=20)
    >>> note = memory.update(page.notes[0].id, {"user_id": "ana"}, content="Ana moved to Porto.")
    >>> note.version, [v.content for v in memory.history(note.id, {"user_id": "ana"})]
    (2, ['Ana: I moved to Lisbon.', 'Ana moved to Porto.'])
    >>> memory.forget({"user_id": "ana"})   # notes gone, and their events erased from the log
    1
    >>> list(memory.export({"user_id": "ana"}))
    []
    >>> memory.close(); shutil.rmtree(folder)

Group commit (:mod:`evolvelab.group_commit`, re-exported here) writes several ``add``
requests, of any scopes, with one log fsync and one store write.
"""

from __future__ import annotations

import base64
import heapq
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evolvelab.errors import AfterWriteError, EvolveLabError
from evolvelab.eventlog import (
    AddEntry,
    DeleteEntry,
    ForgetEntry,
    NoteVersion,
    OutcomeEntry,
    OwnerPattern,
    UpdateEntry,
    VoidEntry,
)
from evolvelab.group_commit import AddRequest, commit_adds
from evolvelab.stages import Scannable
from evolvelab.types import (
    Event,
    MetadataValue,
    Note,
    Outcome,
    Scope,
    Where,
    stable_id,
    utcnow,
)

if TYPE_CHECKING:
    from evolvelab.pipeline import Memory

__all__ = [
    "AddRequest",
    "Message",
    "NoteNotFound",
    "NotePage",
    "apply_outcome",
    "commit_adds",
    "delete_notes",
    "erase_from_log",
    "forget",
    "get_note",
    "list_notes",
    "messages_to_events",
    "note_history",
    "record_outcome",
    "update_note",
]  # fmt: skip


class NoteNotFound(EvolveLabError):
    """No note with this id in this scope (it may exist in another scope: that is not said)."""


class Message(BaseModel):
    """One chat message, the shape agent frameworks use.

    ``name`` (or, without it, ``role``) becomes the event's speaker; ``id`` is derived
    from the session, role, name, time and text when not given, so sending the same
    conversation again updates the same notes instead of duplicating them.

    Example:
        >>> Message(role="user", content="I moved to Lisbon.", name="Ana")
        Message(role='user', content='I moved to Lisbon.', name='Ana', id=None, timestamp=None,
                session_id=None, metadata={})
    """

    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, description="user, assistant, system, tool ...")
    content: str = Field(description="The message text.")
    name: str | None = Field(None, description="Who spoke (becomes the speaker).")
    id: str | None = Field(None, min_length=1, description="Message id (default: derived).")
    timestamp: datetime | None = Field(None, description="When it was said.")
    session_id: str | None = Field(None, description="The conversation it belongs to.")
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, description="Extras.")


def messages_to_events(
    messages: Iterable[Message | Mapping[str, Any]], scope: Scope
) -> list[Event]:
    """Turn chat messages into events (stable ids, ``name`` or ``role`` as speaker).

    Raises:
        EvolveLabError: naming the first invalid message.
    """
    events = []
    for index, raw in enumerate(messages):
        try:
            message = raw if isinstance(raw, Message) else Message.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise EvolveLabError(f"messages[{index}].{where}: {first['msg']}") from err
        session = message.session_id or scope.session_id
        when = message.timestamp.isoformat() if message.timestamp else None
        event_id = message.id or stable_id(
            "m", session, message.role, message.name, when, message.content
        )
        events.append(
            Event(
                id=event_id,
                content=message.content,
                speaker=message.name or message.role,
                timestamp=message.timestamp,
                session_id=session,
                metadata={**message.metadata, "role": message.role},
            )
        )
    return events


# --------------------------------------------------------------------------- reading


def get_note(memory: Memory, note_id: str, scope: Scope) -> Note:
    """Return the note ``note_id`` of ``scope``.

    Raises:
        NoteNotFound: if ``scope`` holds no such note.
    """
    memory.open()
    found = memory.store.get([note_id], scope)
    if not found:
        raise NoteNotFound(f"no note {note_id!r} in this scope")
    return found[0]


class NotePage(BaseModel):
    """One page of a listing and the cursor of the next (``None``: this was the last)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    notes: list[Note]
    next_cursor: str | None = None


def _cursor(note: Note) -> str:
    raw = json.dumps([note.created_at.isoformat(), note.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, note_id = json.loads(raw)
        return datetime.fromisoformat(created).isoformat(), str(note_id)
    except (ValueError, TypeError) as err:
        raise EvolveLabError("cursor: not a cursor this server returned") from err


def list_notes(
    memory: Memory,
    scope: Scope,
    *,
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    include_invalid: bool = False,
) -> NotePage:
    """List ``scope``'s notes oldest first (by creation time, then id), a page at a time.

    The cursor is the last listed note's (creation time, id), so a page starts right
    after it whatever was added or deleted meanwhile. Each page streams the scope's
    notes once and keeps only ``limit`` + 1 of them (memory stays bounded by the page);
    the store's scan has no range or order, so the time per page still grows with the
    scope.

    Args:
        memory: the memory.
        scope: whose notes; a ``session_id`` narrows to that session.
        kind: only notes of this kind (hidden kinds such as ``lesson`` only this way).
        limit: page size (at least 1).
        cursor: ``next_cursor`` of the previous page.
        include_invalid: also list superseded (closed) notes.

    Raises:
        EvolveLabError: if the note store cannot list notes, or the cursor is not one.
    """
    memory.open()
    if limit < 1:
        raise EvolveLabError(f"limit must be at least 1, got {limit}")
    if not isinstance(memory.store, Scannable):
        raise EvolveLabError(f"store '{memory.store.config.type}' cannot list notes (no scan)")
    where = Where(kind=kind, include_invalid=include_invalid)
    after = _uncursor(cursor) if cursor is not None else None
    candidates = memory.store.scan(scope, where)
    if after is not None:
        candidates = (n for n in candidates if _order(n) > after)
    # the scan streams; only the page (and one more, to know there is a next) is kept
    notes = heapq.nsmallest(limit + 1, candidates, key=_order)
    page = notes[:limit]
    more = len(notes) > limit
    return NotePage(notes=page, next_cursor=_cursor(page[-1]) if more and page else None)


def _order(note: Note) -> tuple[str, str]:
    """The listing order: creation time (UTC, ISO 8601), then id; unique, so pages are stable."""
    return note.created_at.isoformat(), note.id


def note_history(memory: Memory, note_id: str, scope: Scope) -> list[NoteVersion]:
    """Return every version of a note, oldest first, with when each was current.

    Versions replaced through :func:`update_note` come from the event log; without a
    log only the current version is known.

    Raises:
        NoteNotFound: if ``scope`` holds no such note.
    """
    note = get_note(memory, note_id, scope)
    versions: list[NoteVersion] = []
    if memory.log is not None:
        versions = [entry.previous for entry in memory.log.updates(scope, note_id)]
    start = versions[-1].valid_to if versions else note.created_at
    versions.append(
        NoteVersion(
            version=note.version, content=note.content, metadata=note.metadata,
            valid_from=start, valid_to=note.invalid_at,
        )
    )  # fmt: skip
    return versions


def _same_owner(a: Scope, b: Scope) -> bool:
    return (a.user_id, a.agent_id) == (b.user_id, b.agent_id)


# --------------------------------------------------------------------------- changing


def update_note(
    memory: Memory,
    note_id: str,
    scope: Scope,
    *,
    content: str | None = None,
    metadata: Mapping[str, MetadataValue] | None = None,
    log: bool = True,
) -> Note:
    """Correct a note's text and/or metadata; it is re-indexed and its version goes up.

    The replaced version is kept in the event log (see :func:`note_history`). Metadata
    keys given replace the stored ones; a value of ``None`` removes the key.

    Raises:
        NoteNotFound: if ``scope`` holds no such note.
        EvolveLabError: if neither ``content`` nor ``metadata`` is given.
    """
    if content is None and metadata is None:
        raise EvolveLabError("update needs content or metadata")
    old = get_note(memory, note_id, scope)
    now = utcnow()
    merged = dict(old.metadata)
    for key, value in (metadata or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if log and memory.log is not None:
        earlier = memory.log.updates(old.scope, note_id)
        since = earlier[-1].at if earlier else old.created_at
        previous = NoteVersion(version=old.version, content=old.content,
                               metadata=old.metadata, valid_from=since, valid_to=now)  # fmt: skip
        entry = UpdateEntry(at=now, scope=old.scope, note_id=note_id, kind=old.kind,
                            source_ids=old.source_ids, content=content if content is not None
                            else old.content, metadata=merged, previous=previous)  # fmt: skip
        written = memory.log.append([entry])
    (new,) = memory._call_write([_corrected(old, content, merged)])  # as stored: re-embedded
    if log and memory.log is not None:
        memory.log.mark_applied(written[0].seq)
    return new


def _corrected(old: Note, content: str | None, metadata: dict[str, MetadataValue]) -> Note:
    update: dict[str, Any] = {"metadata": metadata, "version": old.version + 1}
    if content is not None and content != old.content:
        update.update(content=content, index_text=None, embedding=None)
    return old.model_copy(update=update)


def apply_update(memory: Memory, entry: UpdateEntry) -> None:
    """Replay a logged correction: on the note with that id, or as a note of its own."""
    found = memory.store.get([entry.note_id], entry.scope)
    if found:
        new = _corrected(found[0], entry.content, dict(entry.metadata))
    else:
        new = Note(id=entry.note_id, content=entry.content, kind=entry.kind,
                   source_ids=entry.source_ids, scope=entry.scope, metadata=entry.metadata,
                   version=entry.previous.version + 1)  # fmt: skip
    memory._call_write([new])


def record_outcome(
    memory: Memory, scope: Scope, *, query_id: str | None, success: bool,
    score: float | None = None, used_ids: Sequence[str] = (), detail: str = "",
) -> int:  # fmt: skip
    """Credit (or blame) the notes a task used, through the event log when there is one.

    The outcome is logged (durably) with each credited note's count before it, then fed
    back; :func:`apply_outcome` replays it without counting a note twice.

    Returns:
        How many notes were credited (ids not in ``scope`` are skipped).

    Raises:
        AfterWriteError: the counts were written (the outcome is applied: do not send it
            again), then a feedback-aware manager failed.
        EvolveLabError: nothing was written (the logged outcome is voided).
    """
    memory.open()
    owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
    field = "success_count" if success else "failure_count"
    known = memory.store.get(list(used_ids), owner)
    entry = None
    if memory.log is not None:
        entry = memory.log.append([OutcomeEntry(
            scope=owner, query_id=query_id, success=success, score=score, used_ids=list(used_ids),
            detail=detail, counts={n.id: getattr(n, field) for n in known})])[0]  # fmt: skip
    outcome = Outcome(task_id=query_id, success=success, score=score, scope=owner, detail=detail)
    try:
        memory.feedback(outcome, [n.id for n in known])
    except AfterWriteError:
        # the counts are written and durable; a manager failed after them
        if entry is not None:
            memory.log.mark_applied(entry.seq)  # type: ignore[union-attr]
        raise
    except Exception:
        # nothing written (Memory.feedback: any other error comes before the write): the
        # caller hears of a failure, so no replay, rebuild or export may count it later
        if entry is not None:
            memory.log.append([VoidEntry(seqs=[entry.seq])])  # type: ignore[union-attr]
        raise
    if entry is not None:
        memory.log.mark_applied(entry.seq)  # type: ignore[union-attr]
    return len(known)


def apply_outcome(memory: Memory, entry: OutcomeEntry) -> bool:
    """Replay a logged outcome: credit the notes it credited that do not have it yet.

    A note whose count is already past the one logged got this outcome before a crash
    (or an earlier replay), so it is left alone: replaying twice never counts twice.

    Returns:
        Whether anything was fed back.
    """
    ids = list(entry.used_ids)
    if entry.counts is not None:
        field = "success_count" if entry.success else "failure_count"
        stored = memory.store.get(list(entry.counts), entry.scope)
        ids = [n.id for n in stored if getattr(n, field) <= entry.counts[n.id]]
        if not ids:
            return False
    outcome = Outcome(task_id=entry.query_id, success=entry.success, score=entry.score,
                      scope=entry.scope, detail=entry.detail)  # fmt: skip
    memory.feedback(outcome, ids)
    return True


def delete_notes(memory: Memory, ids: Sequence[str], scope: Scope, *, log: bool = True) -> int:
    """Delete notes of ``scope``; with an event log, their source events are erased from it.

    Erasing the sources keeps a deleted memory from coming back when another pipeline is
    rebuilt from the log (it would derive the same memory from the same events).

    Returns:
        How many notes were deleted (ids not in ``scope`` are skipped).
    """
    memory.open()
    notes = memory.store.get(list(ids), scope)
    if not notes:
        return 0
    found = [n.id for n in notes]
    sources = sorted({s for n in notes for s in n.source_ids})
    entry = None
    if log and memory.log is not None:
        entry = memory.log.append([DeleteEntry(scope=scope, note_ids=found, source_ids=sources)])[0]
    deleted = memory.resources.remove(found, scope)
    if entry is not None:
        _erase(memory.log, entry)
    return deleted


def _erase(log: Any, entry: DeleteEntry | ForgetEntry) -> None:
    """Erase what ``entry`` erased from ``log``, then mark it applied.

    If the rewrite fails, the entry is kept unapplied, so the next start erases again
    (the stores are already changed; the log must follow).
    """
    try:
        erase_from_log(log, [entry])
    except EvolveLabError:
        log.keep_unapplied(entry.seq)
        raise
    log.mark_applied(entry.seq)


def erase_from_log(log: Any, erasures: Sequence[DeleteEntry | ForgetEntry]) -> int:
    """Rewrite ``log`` without what ``erasures`` erased, in one pass.

    A deletion erases its source events from the owner's earlier adds; an erasure of
    owners (forget) drops every earlier entry of theirs but the record of the erasure.
    Entries logged after an erasure (a user who came back) are kept.

    Returns:
        How many entries were dropped or changed.
    """
    deletes = [e for e in erasures if isinstance(e, DeleteEntry) and e.source_ids]
    forgets = [e for e in erasures if isinstance(e, ForgetEntry)]
    if not deletes and not forgets:
        return 0

    def change(entry: Any) -> Any:
        scope = getattr(entry, "scope", None)
        if isinstance(entry, ForgetEntry) or not isinstance(scope, Scope):
            return entry
        if any(entry.seq < f.seq and f.owners.matches(scope) for f in forgets):
            return None
        if not isinstance(entry, AddEntry):
            return entry
        gone = {source for d in deletes if entry.seq < d.seq and _same_owner(d.scope, scope)
                for source in d.source_ids}  # fmt: skip
        kept = [e for e in entry.events if e.id not in gone]
        if len(kept) == len(entry.events):
            return entry
        return entry.model_copy(update={"events": kept}) if kept else None

    return log.rewrite(change)


def forget(memory: Memory, owners: OwnerPattern, *, log: bool = True) -> int:
    """Erase everything of the owners ``owners`` matches: notes, and their log entries.

    The owners are the exact pattern (when it names both user and agent) plus every owner
    the event log has seen that matches. The log keeps one content-free record that the
    erasure happened.

    Returns:
        How many notes were deleted.

    Raises:
        EvolveLabError: if the pattern names no user and no agent, or the store cannot scan.
    """
    memory.open()
    if owners.user_id is None and owners.agent_id is None and owners.user_prefix is None:
        raise EvolveLabError("forget needs a user_id or an agent_id")
    if not isinstance(memory.store, Scannable):
        raise EvolveLabError(f"store '{memory.store.config.type}' cannot list notes to forget")
    targets = {(owners.user_id, owners.agent_id)}
    if memory.log is not None:
        targets |= {(s.user_id, s.agent_id) for s in memory.log.owners() if owners.matches(s)}
    targets |= {k for k in memory._touched if owners.matches(Scope(user_id=k[0], agent_id=k[1]))}
    entry = None
    if log and memory.log is not None:
        entry = memory.log.append([ForgetEntry(owners=owners)])[0]
    deleted = 0
    everything = Where(include_invalid=True, hidden_kinds=[])
    for user_id, agent_id in sorted(targets, key=str):
        owner = Scope(user_id=user_id, agent_id=agent_id)
        if not owners.matches(owner):
            continue
        ids = [n.id for n in memory.store.scan(owner, everything)]
        if ids:
            deleted += memory.resources.remove(ids, owner)
        memory._touched.pop((user_id, agent_id), None)
    if entry is not None:
        _erase(memory.log, entry)
    return deleted
