"""MCP tools over a served memory (the official ``mcp`` SDK).

Six tools an LLM can call: ``add_memory``, ``search_memory``, ``get_memory``,
``list_memories``, ``delete_memory``, ``record_outcome``. Two transports:

- stdio (``evolvelab mcp PIPELINE --user U``): a local memory for one user, e.g. a
  desktop assistant; ``--user``/``--agent`` are the default scope.
- streamable HTTP at ``/mcp`` of ``evolvelab serve``: the same tenant rules as REST (the
  API key in the ``Authorization`` header decides the tenant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from evolvelab.errors import AfterWriteError, EvolveLabError
from evolvelab.lifecycle import NoteNotFound
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

User = Annotated[str | None, Field(description="The user whose memory this is (default: the server's).")]
Agent = Annotated[str | None, Field(description="The agent whose memory this is (default: the server's).")]
Session = Annotated[str | None, Field(description="The conversation or task session, if any.")]


@dataclass(frozen=True)
class Defaults:
    """The scope a tool call uses for fields it leaves out (stdio: ``--user``/``--agent``)."""

    user_id: str | None = None
    agent_id: str | None = None


def build_mcp(service: MemoryService, *, keys: KeyRing | None = None,
              defaults: Defaults | None = None) -> Any:  # fmt: skip
    """Return an ``MCPServer`` whose tools use ``service``.

    This module imports the MCP SDK; import it only when a server is built.

    Args:
        service: the served memory.
        keys: with keys, each call's tenant comes from its ``Authorization`` header.
        defaults: the scope used where a call leaves user or agent out.
    """
    defaults = defaults or Defaults()
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
        content: Annotated[str, Field(description="What to remember, in one or a few sentences.")],
        ctx: Context,
        speaker: Annotated[str | None, Field(description="Who said it (e.g. the user's name).")] = None,
        user_id: User = None, agent_id: Agent = None, session_id: Session = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Remember something: a fact, a preference, an event, a lesson. Returns the memory ids."""
        where = scope(user_id, agent_id, session_id)
        event = Event(id=stable_id("mcp", session_id, speaker, content), content=content,
                      speaker=speaker, session_id=session_id, kind="turn")  # fmt: skip
        try:
            result = await service.add(tenant_of(ctx), where, [event])
        except AfterWriteError as err:  # stored; a later stage failed
            return {"ids": [note.id for note in err.written], "warning": str(err)}
        return {"ids": [note.id for note in result]}

    @server.tool()
    async def search_memory(
        query: Annotated[str, Field(description="The question or topic to look up.")],
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=50, description="How many memories to return.")] = 5,
        user_id: User = None, agent_id: Agent = None, session_id: Session = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Search long-term memory. Returns the best memories (id, content, score) and a query_id."""
        query_id, hits = await service.search(tenant_of(ctx), scope(user_id, agent_id, session_id),
                                              query, k, None)  # fmt: skip
        return {
            "query_id": query_id,
            "hits": [{"id": h.note.id, "content": h.note.content, "score": round(h.score, 4),
                      "source_ids": h.note.source_ids} for h in hits],
        }  # fmt: skip

    @server.tool()
    async def get_memory(
        id: Annotated[str, Field(description="The memory id (from search or list).")],
        ctx: Context, user_id: User = None, agent_id: Agent = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Read one memory in full by its id."""
        try:
            note = await service.get(tenant_of(ctx), id, scope(user_id, agent_id))
        except NoteNotFound as err:
            raise ValueError(str(err)) from err
        return {"id": note.id, "content": note.content, "kind": note.kind,
                "source_ids": note.source_ids, "created_at": note.created_at.isoformat(),
                "version": note.version, "metadata": note.metadata}  # fmt: skip

    @server.tool()
    async def list_memories(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=200, description="How many memories per page.")] = 20,
        cursor: Annotated[str | None, Field(description="next_cursor of the previous page.")] = None,
        user_id: User = None, agent_id: Agent = None, session_id: Session = None,
    ) -> dict[str, Any]:  # fmt: skip
        """List stored memories, oldest first, a page at a time."""
        try:
            page = await service.list(tenant_of(ctx), scope(user_id, agent_id, session_id),
                                      kind=None, limit=limit, cursor=cursor)  # fmt: skip
        except EvolveLabError as err:
            raise ValueError(str(err)) from err
        return {"memories": [{"id": n.id, "content": n.content} for n in page.notes],
                "next_cursor": page.next_cursor}  # fmt: skip

    @server.tool()
    async def delete_memory(
        id: Annotated[str, Field(description="The id of the memory to delete.")],
        ctx: Context, user_id: User = None, agent_id: Agent = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Delete one memory that is wrong or that the user asked to forget."""
        deleted = await service.delete(tenant_of(ctx), [id], scope(user_id, agent_id))
        if not deleted:
            raise ValueError(f"no memory {id!r} here")
        return {"deleted": deleted}

    @server.tool()
    async def record_outcome(
        success: Annotated[bool, Field(description="Whether the task succeeded.")],
        used_ids: Annotated[list[str], Field(description="Ids of the memories the task used.")],
        ctx: Context,
        query_id: Annotated[str | None, Field(description="query_id from search_memory.")] = None,
        score: Annotated[float | None, Field(description="A graded result, 0 to 1.")] = None,
        user_id: User = None, agent_id: Agent = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Report how a task that used memories went, so helpful memories gain weight."""
        credited = await service.outcome(tenant_of(ctx), scope(user_id, agent_id),
                                         query_id=query_id, success=success, score=score,
                                         used_ids=used_ids[:1000])  # fmt: skip
        return {"credited": credited}

    return server


def http_endpoint(service: MemoryService, keys: KeyRing | None, host: str) -> tuple[Any, Any]:
    """Return ``(session manager, ASGI app)`` for MCP over streamable HTTP (stateless, JSON).

    The session manager must run (``async with manager.run()``) while the app serves.
    """
    server = build_mcp(service, keys=keys)
    app = server.streamable_http_app(stateless_http=True, json_response=True, host=host)
    return server.session_manager, app
