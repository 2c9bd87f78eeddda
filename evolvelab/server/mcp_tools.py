"""MCP tools over a served memory (the official ``mcp`` SDK).

Six tools an LLM can call: ``add_memory``, ``search_memory``, ``get_memory``,
``list_memories``, ``delete_memory``, ``record_outcome``. Two transports:

- stdio (``evolvelab mcp PIPELINE --user U``): a local memory for one user, e.g. a
  desktop assistant; ``--user``/``--agent`` are the default scope.
- streamable HTTP at ``/mcp`` of ``evolvelab serve``: the same tenant rules as REST (the
  API key in the ``Authorization`` header decides the tenant).

The tools' argument bounds come from the server's :class:`~evolvelab.server.api.Limits`
when the server is built, so this module evaluates annotations eagerly (no
``from __future__ import annotations``): the SDK reads them to write each tool's schema.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from evolvelab.errors import AfterWriteError, EvolveLabError
from evolvelab.server.api import Limits
from evolvelab.server.gate import bearer_token
from evolvelab.server.service import MemoryService, Tenant
from evolvelab.types import Event, Scope, stable_id

if TYPE_CHECKING:
    from evolvelab.server.keys import KeyRing

__all__ = ["build_mcp", "http_endpoint"]

INSTRUCTIONS = (
    "Long-term memory. Call search_memory before answering questions that may depend on "
    "what the user said earlier; call add_memory with facts, preferences and events worth "
    "remembering; after a task, call record_outcome with the ids of the memories you used."
)

_ID = 256
User = Annotated[str | None, Field(min_length=1, max_length=_ID,
                                   description="The user whose memory this is (leave out: the server's default user).")]  # fmt: skip
Agent = Annotated[str | None, Field(min_length=1, max_length=_ID,
                                    description="The agent whose memory this is (leave out: the server's default agent).")]  # fmt: skip
Session = Annotated[str | None, Field(min_length=1, max_length=_ID,
                                      description="The conversation or task session, if any.")]  # fmt: skip
MemoryId = Annotated[str, Field(min_length=1, max_length=_ID,
                                description="A memory id, as search_memory or list_memories returned it.")]  # fmt: skip


@contextlib.contextmanager
def _as_tool_error() -> Iterator[None]:
    """Turn the failures a caller can act on into tool errors the model reads.

    Anything else is a crash: the SDK shows the model only the tool's name and logs it.
    An :class:`~evolvelab.errors.AfterWriteError` passes through: the write is durable,
    so the tool answers with what was stored and a warning instead of failing.
    """
    try:
        yield
    except AfterWriteError:
        raise
    except (EvolveLabError, PermissionError) as err:
        raise ToolError(str(err)) from err


@dataclass(frozen=True)
class Defaults:
    """The scope a tool call uses for fields it leaves out (stdio: ``--user``/``--agent``)."""

    user_id: str | None = None
    agent_id: str | None = None


def build_mcp(service: MemoryService, *, keys: "KeyRing | None" = None,
              defaults: Defaults | None = None, limits: Limits | None = None) -> Any:  # fmt: skip
    """Return an ``MCPServer`` whose tools use ``service``.

    This module imports the MCP SDK; import it only when a server is built.

    Args:
        service: the served memory.
        keys: with keys, each call's tenant comes from its ``Authorization`` header.
        defaults: the scope used where a call leaves user or agent out.
        limits: the REST API's limits, applied to tool arguments too (text length,
            hits, page size, ids per outcome); their bounds are in each tool's schema.
    """
    defaults = defaults or Defaults()
    limits = limits or Limits()
    Text = Annotated[str, Field(min_length=1, max_length=limits.max_text_chars,
                                description="What to remember, in one or a few sentences.")]  # fmt: skip
    Query = Annotated[str, Field(min_length=1, max_length=limits.max_text_chars,
                                 description="The question or topic to look up, in words.")]  # fmt: skip
    max_k, max_page = min(50, limits.max_k), min(200, limits.max_page)
    server = MCPServer("evolvelab", instructions=INSTRUCTIONS, log_level="WARNING")

    def tenant_of(ctx: Context) -> Tenant:
        if keys is None:
            return Tenant(None)
        name = keys.tenant_for(bearer_token(ctx.headers or {}))
        if name is None:
            raise PermissionError("missing or invalid API key")
        return Tenant(name)

    def scope(user_id: str | None, agent_id: str | None, session_id: str | None = None) -> Scope:
        return Scope(user_id=user_id or defaults.user_id, agent_id=agent_id or defaults.agent_id,
                     session_id=session_id)  # fmt: skip

    @server.tool()
    async def add_memory(
        content: Text,
        ctx: Context,
        speaker: Annotated[str | None, Field(max_length=_ID, description="Who said it (e.g. the user's name).")] = None,
        user_id: User = None, agent_id: Agent = None, session_id: Session = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Remember something: a fact, a preference, an event, a lesson. Returns the ids of the
        memories written (adding the same text again updates them, it does not duplicate)."""
        where = scope(user_id, agent_id, session_id)
        event = Event(id=stable_id("mcp", session_id, speaker, content), content=content,
                      speaker=speaker, session_id=session_id, kind="turn")  # fmt: skip
        try:
            with _as_tool_error():
                result = await service.add(tenant_of(ctx), where, [event])
        except AfterWriteError as err:  # stored; a later stage failed
            return {"ids": [note.id for note in err.written], "warning": str(err)}
        return {"ids": [note.id for note in result]}

    @server.tool()
    async def search_memory(
        query: Query,
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=max_k, description="How many memories to return at most.")] = 5,
        user_id: User = None, agent_id: Agent = None, session_id: Session = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Search long-term memory. Returns the best memories, best first (id, content, score,
        source_ids), and a query_id to pass to record_outcome. No hits: nothing relevant is stored."""
        with _as_tool_error():
            query_id, hits = await service.search(tenant_of(ctx), scope(user_id, agent_id, session_id),
                                                  query, k, None)  # fmt: skip
        return {
            "query_id": query_id,
            "hits": [{"id": h.note.id, "content": h.note.content, "score": round(h.score, 4),
                      "source_ids": h.note.source_ids} for h in hits],
        }  # fmt: skip

    @server.tool()
    async def get_memory(
        id: MemoryId,
        ctx: Context, user_id: User = None, agent_id: Agent = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Read one memory in full by its id (an error if this user has no memory with that id)."""
        with _as_tool_error():
            note = await service.get(tenant_of(ctx), id, scope(user_id, agent_id))
        return {"id": note.id, "content": note.content, "kind": note.kind,
                "source_ids": note.source_ids, "created_at": note.created_at.isoformat(),
                "version": note.version, "metadata": note.metadata}  # fmt: skip

    @server.tool()
    async def list_memories(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=max_page, description="How many memories per page.")] = 20,
        cursor: Annotated[str | None, Field(max_length=1024, description=(
            "Leave out for the first page; then the next_cursor the previous page returned."))] = None,
        user_id: User = None, agent_id: Agent = None, session_id: Session = None,
    ) -> dict[str, Any]:  # fmt: skip
        """List stored memories, oldest first, a page at a time (next_cursor null: the last page)."""
        with _as_tool_error():
            page = await service.list(tenant_of(ctx), scope(user_id, agent_id, session_id),
                                      kind=None, limit=limit, cursor=cursor)  # fmt: skip
        return {"memories": [{"id": n.id, "content": n.content} for n in page.notes],
                "next_cursor": page.next_cursor}  # fmt: skip

    @server.tool()
    async def delete_memory(
        id: MemoryId,
        ctx: Context, user_id: User = None, agent_id: Agent = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Delete one memory that is wrong or that the user asked to forget (an error if this
        user has no memory with that id)."""
        with _as_tool_error():
            deleted = await service.delete(tenant_of(ctx), [id], scope(user_id, agent_id))
        if not deleted:
            raise ToolError(f"no memory {id!r} for this user")
        return {"deleted": deleted}

    @server.tool()
    async def record_outcome(
        success: Annotated[bool, Field(description="Whether the task succeeded.")],
        used_ids: Annotated[list[MemoryId], Field(max_length=limits.max_ids,
                                                  description="Ids of the memories the task used.")],  # fmt: skip
        ctx: Context,
        query_id: Annotated[str | None, Field(max_length=_ID, description="query_id from search_memory.")] = None,
        score: Annotated[float | None, Field(ge=0, le=1, description="A graded result, 0 to 1.")] = None,
        user_id: User = None, agent_id: Agent = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Report how a task that used memories went, so helpful memories gain weight.
        Returns how many of used_ids are memories of this user (those are credited)."""
        try:
            with _as_tool_error():
                credited = await service.outcome(tenant_of(ctx), scope(user_id, agent_id),
                                                 query_id=query_id, success=success, score=score,
                                                 used_ids=used_ids)  # fmt: skip
        except AfterWriteError as err:  # counted; a later stage failed: do not report again
            return {"credited": len(err.written), "warning": str(err)}
        return {"credited": credited}

    return server


def http_endpoint(service: MemoryService, keys: "KeyRing | None", host: str,
                  limits: Limits | None = None) -> tuple[Any, Any]:  # fmt: skip
    """Return ``(session manager, ASGI app)`` for MCP over streamable HTTP (stateless, JSON).

    The session manager must run (``async with manager.run()``) while the app serves.
    """
    server = build_mcp(service, keys=keys, limits=limits)
    app = server.streamable_http_app(stateless_http=True, json_response=True, host=host)
    return server.session_manager, app
