"""Give every encoded note the scope of the events it came from; refuse a contradiction.

Scope is the framework's job, not each encoder's: an encoder may leave ``Note.scope``
unset, and the pipeline fills it in from the ``add`` it runs in. The owner
(``user_id`` + ``agent_id``) is the add's; the session is narrowed the way the built-in
encoders narrow it, to the session of the note's latest source event in the batch
(unless the add names a session itself, which then stands).

An encoder that does set a scope must agree with its events: a note of another owner,
or of a session none of its source events is in, is refused before anything is
written. That is what keeps one user's notes out of another user's searches even when a
plugin gets scope wrong.

    >>> ana = Scope(user_id="ana")
    >>> events = [Event(id="t1", content="I adopted a cat.", session_id="s1")]
    >>> [note] = scope_notes([Note(id="n1", content="cat", source_ids=["t1"])], events, ana)
    >>> note.scope
    Scope(user_id='ana', agent_id=None, session_id='s1')

Both write paths use this: :meth:`Memory.add <evolvelab.pipeline.Memory.add>` and the
group commit of :func:`evolvelab.group_commit.commit_adds` (through ``Memory._encode``).
"""

from __future__ import annotations

from collections.abc import Sequence

from evolvelab.types import Event, Note, Scope

__all__ = ["ScopeConflict", "scope_notes"]


class ScopeConflict(ValueError):
    """A note's scope contradicts the events it came from (the message says how)."""


def _show(scope: Scope) -> str:
    parts = [f"{name}={value!r}" for name, value in scope.model_dump().items() if value is not None]
    return ", ".join(parts) or "the anonymous scope"


def scope_notes(notes: Sequence[Note], events: Sequence[Event], scope: Scope) -> list[Note]:
    """Return ``notes`` with unset scopes filled in from ``events`` and ``scope``.

    Args:
        notes: what one encoder returned for ``events``.
        events: the batch the encoder was given.
        scope: the scope of the ``add`` (whose events these are).

    Returns:
        The notes, each with a scope: its own when the encoder set one, else the add's
        owner narrowed to the session of its latest source event in ``events``.

    Raises:
        ScopeConflict: for the first note whose scope names another owner than the add,
            or a session that neither the add nor any of its source events is in.
    """
    position = {event.id: index for index, event in enumerate(events)}
    out = []
    for note in notes:
        sources = sorted(position[s] for s in dict.fromkeys(note.source_ids) if s in position)
        sessions = [events[i].session_id for i in sources]
        if "scope" not in note.model_fields_set:
            owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id, session_id=scope.session_id)
            narrowed = owner.narrowed(sessions[-1] if sessions else None)
            out.append(note.model_copy(update={"scope": narrowed}))
            continue
        own = note.scope
        if (own.user_id, own.agent_id) != (scope.user_id, scope.agent_id):
            owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
            raise ScopeConflict(
                f"note {note.id!r} has scope {_show(own)}, but the events it came from belong "
                f"to {_show(owner)}"
            )
        if own.session_id is not None:
            allowed = {scope.session_id} if scope.session_id is not None else set(sessions)
            if (sources or scope.session_id is not None) and own.session_id not in allowed:
                shown = " or ".join(
                    "no session" if s is None else repr(s) for s in sorted(allowed, key=str)
                )
                raise ScopeConflict(
                    f"note {note.id!r} has session_id {own.session_id!r}, but the events it "
                    f"came from are in {shown}"
                )
        out.append(note)
    return out
