"""The REST API (FastAPI): the endpoints of ``evolvelab serve``.

| method and path | what |
|---|---|
| ``POST /v1/events`` | add events or chat messages; the note ids written (``incomplete``: a
  stage after the durable write failed; the add is kept) |
| ``POST /v1/search`` | hits (id, content, score, channel, source_ids) and a query id |
| ``GET /v1/notes`` | a page of notes (``user_id``, ``agent_id``, ``session_id``, ``kind``, ``limit``, ``cursor``) |
| ``GET/PATCH/DELETE /v1/notes/{id}`` | read, correct, delete one note (scope as query parameters) |
| ``GET /v1/notes/{id}/history`` | its versions |
| ``DELETE /v1/scopes`` | forget a user and/or agent |
| ``POST /v1/outcomes`` | feedback on the notes a task used |
| ``GET /v1/export`` | the tenant's event log as a JSONL stream |
| ``GET /v1/stats`` | writer numbers: commits, group sizes (no content) |
| ``GET /healthz`` | liveness, no key needed |

Errors are ``{"error": {"code", "message", "field"?}}``; never a stack trace.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from evolvelab.errors import AfterWriteError, EvolveLabError, StageError, format_path
from evolvelab.eventlog import LogFailure
from evolvelab.lifecycle import NoteNotFound
from evolvelab.server.api import (
    EventsIn,
    HistoryOut,
    HitOut,
    LimitExceeded,
    Limits,
    NoteOut,
    OutcomeIn,
    PatchIn,
    ScopeIn,
    SearchIn,
)
from evolvelab.server.gate import Gate
from evolvelab.server.service import MemoryService, ReadOnlyReplica, Tenant
from evolvelab.server.writer import ShuttingDown
from evolvelab.stream import dump_stream

if TYPE_CHECKING:
    from evolvelab.server.keys import KeyRing

__all__ = ["create_app"]

LOG = logging.getLogger("evolvelab.server")
_ID = Annotated[str | None, Query(min_length=1, max_length=256)]
_NOTE = Annotated[str, Path(min_length=1, max_length=256)]


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path")]
    return format_path(parts) or "body"


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            detail = (first.get("ctx") or {}).get("error", "malformed")
            return _error(422, "invalid_json", f"body: invalid JSON ({detail})", "body")
        field = _field(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return _error(422, "invalid_request", f"{field}: {message}{more}", field)

    @app.exception_handler(LimitExceeded)
    async def over(_: Request, exc: LimitExceeded) -> JSONResponse:
        return _error(exc.status, "limit_exceeded", str(exc), exc.field)

    @app.exception_handler(ReadOnlyReplica)
    async def read_only(_: Request, exc: ReadOnlyReplica) -> JSONResponse:
        return _error(405, "read_only", str(exc))

    @app.exception_handler(ShuttingDown)
    async def stopping(_: Request, exc: ShuttingDown) -> JSONResponse:
        response = _error(503, "shutting_down", str(exc))
        response.headers["retry-after"] = "1"
        return response

    @app.exception_handler(NoteNotFound)
    async def missing(_: Request, exc: NoteNotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(StageError)
    async def stage(_: Request, exc: StageError) -> JSONResponse:
        LOG.error("stage failure: %s", exc)
        return _error(500, "stage_failed", f"pipeline stage {exc.stage} ({exc.type_name}) failed")

    @app.exception_handler(LogFailure)
    async def log_failed(_: Request, exc: LogFailure) -> JSONResponse:
        LOG.error("event log failure: %s", exc)
        return _error(500, "log_failed", "the event log could not be written (details are in the "
                                         "server log): a write is not kept; an erasure is finished "
                                         "by the next start")  # fmt: skip

    @app.exception_handler(EvolveLabError)
    async def refused(_: Request, exc: EvolveLabError) -> JSONResponse:
        if _retryable(exc):  # a store's commit conflict that outlived its retries: not the client's
            LOG.warning("commit conflict: %s", exc)
            response = _error(503, "conflict", "the store was busy with another write; retry")
            response.headers["retry-after"] = "1"
            return response
        return _error(422, "invalid_request", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        LOG.exception("internal error")
        return _error(500, "internal", "internal error (details are in the server log)")


def _retryable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is a store's retryable commit conflict."""
    from evolvelab.modules.store._lancedb_tables import is_retryable

    seen: BaseException | None = exc
    while seen is not None:
        if is_retryable(seen):
            return True
        seen = seen.__cause__
    return False


def create_app(
    service: MemoryService,
    *,
    keys: KeyRing | None = None,
    limits: Limits | None = None,
    cors_origins: list[str] | None = None,
    mcp: bool = True,
    host: str = "127.0.0.1",
) -> Any:
    """Build the ASGI app serving ``service`` (REST, and MCP at ``/mcp``).

    Args:
        service: the served memory (its writer is started by the app's lifespan).
        keys: API keys (``None``: no authentication, for a loopback-only server).
        limits: request limits (default: :class:`~evolvelab.server.api.Limits`).
        cors_origins: origins allowed by CORS (default: none, CORS off).
        mcp: also serve MCP (streamable HTTP) at ``/mcp``.
        host: the host the server binds, for the MCP endpoint's DNS-rebinding guard.

    Returns:
        The app, wrapped in the gate (keys, body limit, access log).
    """
    limits = limits or Limits()
    session_manager = None
    mcp_app = None
    if mcp:
        from evolvelab.server.mcp_tools import http_endpoint

        session_manager, mcp_app = http_endpoint(service, keys, host, limits)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            if session_manager is not None:
                async with session_manager.run():
                    yield
            else:
                yield
        finally:
            service.stop()

    app = FastAPI(
        title="EvolveLab memory",
        description="Serve an EvolveLab memory pipeline: add, search, list, correct, forget, export.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    _install_errors(app)
    _docs(app)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type"])  # fmt: skip
    _routes(app, service, limits)
    _describe_errors_and_keys(app, keyed=keys is not None)
    if mcp_app is not None:
        from starlette.routing import Route

        app.router.routes.append(Route("/mcp", endpoint=mcp_app))
    return Gate(app, keys, limits.max_body_bytes)


_ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "invalid_request, invalid_json, limit_exceeded, ..."},
        "message": {"type": "string", "description": "What is wrong, naming the field or the limit."},
        "field": {"type": "string", "description": "The field at fault, when there is one."},
    }}},
    "required": ["error"],
}  # fmt: skip


def _describe_errors_and_keys(app: FastAPI, *, keyed: bool) -> None:
    """Make ``/openapi.json`` say what the server does: errors as ``{"error": ...}`` (not
    FastAPI's ``{"detail": ...}``) and, with keys, a bearer key on every ``/v1`` path, so
    the ``/docs`` page offers an Authorize button."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "Invalid or over a limit", "content": error}
                if keyed and path.startswith("/v1"):
                    operation["security"] = [{"bearer": []}]
                    responses["401"] = {"description": "Missing or invalid API key", "content": error}
        if "HTTPValidationError" not in json.dumps(schema["paths"]):
            for name in ("HTTPValidationError", "ValidationError"):
                components["schemas"].pop(name, None)
        if keyed:
            components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_ASSETS = "/docs-assets"


def _docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI) and ``/redoc`` with their scripts from this server.

    FastAPI's default pages load Swagger UI and ReDoc from a CDN, so they render blank
    without network access; the ``fastapi-offline`` package ships both (Swagger UI 5,
    which reads the OpenAPI 3.1 that FastAPI writes), served here under ``/docs-assets``.
    """
    from importlib.resources import files

    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    static = files("fastapi_offline") / "static"
    app.mount(_ASSETS, StaticFiles(directory=str(static)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="EvolveLab memory - API",
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css", swagger_favicon_url=f"{_ASSETS}/favicon.png",
        )  # fmt: skip

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="EvolveLab memory - API",
                              redoc_js_url=f"{_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{_ASSETS}/favicon.png", with_google_fonts=False)  # fmt: skip


def _tenant(request: Request) -> Tenant:
    return Tenant(getattr(request.state, "tenant", None))


def _scope(user_id: str | None, agent_id: str | None, session_id: str | None) -> Any:
    return ScopeIn(user_id=user_id, agent_id=agent_id, session_id=session_id).scope()


def _events(body: EventsIn, scope: Any) -> list[Any]:
    """Return the request's events, or raise a 422 naming the item an event refuses.

    The request models accept what JSON can say; an :class:`~evolvelab.types.Event`
    checks more (a time must stay within years 1-9999 in UTC), so an item can pass the
    request model and still be refused here.
    """
    from pydantic import ValidationError

    from evolvelab.lifecycle import messages_to_events

    field = "events" if body.events is not None else "messages"
    items: list[Any] = list(body.events if body.events is not None else body.messages or [])
    events = []
    for index, item in enumerate(items):
        try:
            if body.events is not None:
                events.append(item.event(scope))
            else:
                events.extend(messages_to_events([item], scope))
        except ValidationError as err:
            first = err.errors()[0]
            loc = ("body", field, index, *first.get("loc", ()))
            raise RequestValidationError([{**first, "loc": loc}]) from None
    return events


def _routes(app: FastAPI, service: MemoryService, limits: Limits) -> None:
    @app.api_route("/healthz", methods=["GET", "HEAD"], tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the server answers (no key needed)."""
        return {"status": "ok"}

    @app.post("/v1/events", tags=["memory"])
    async def add_events(body: EventsIn, request: Request) -> dict[str, Any]:
        """Remember events (or chat messages) in a scope; returns once durable."""
        body.check(limits)
        scope = body.scope.scope()
        events = _events(body, scope)
        incomplete = None
        try:
            result = await service.add(_tenant(request), scope, events)
        except AfterWriteError as err:  # durable: acknowledged, with what did not run
            LOG.error("after the write: %s", err)
            result = err.written
            incomplete = {"stage": err.stage, "type": err.type_name, "not_run": list(err.not_run)}
        return {
            "ids": [note.id for note in result],
            "events": len(events),
            "dropped": [d.model_dump() for d in result.dropped],
            "incomplete": incomplete,
        }

    @app.post("/v1/search", tags=["memory"])
    async def search(body: SearchIn, request: Request) -> dict[str, Any]:
        """Search a scope's memory; the query id can be sent back with an outcome."""
        body.check(limits)
        query_id, hits = await service.search(
            _tenant(request), body.scope.scope(), body.query, body.k, body.where
        )
        return {"query_id": query_id, "hits": [HitOut.of(h).model_dump(mode="json") for h in hits]}

    @app.get("/v1/notes", tags=["notes"])
    async def list_notes(
        request: Request, user_id: _ID = None, agent_id: _ID = None, session_id: _ID = None,
        kind: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1)] = 50,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """List a scope's notes, oldest first; pass ``next_cursor`` back for the next page."""
        if limit > limits.max_page:
            raise LimitExceeded("limit", f"{limit} notes asked; the limit is {limits.max_page} (max_page)")
        tenant = _tenant(request)
        page = await service.list(tenant, _scope(user_id, agent_id, session_id), kind=kind,
                                  limit=limit, cursor=cursor)  # fmt: skip
        notes = [NoteOut.of(n, tenant.outside(n.scope)).model_dump(mode="json") for n in page.notes]
        return {"notes": notes, "next_cursor": page.next_cursor}

    @app.get("/v1/notes/{note_id}", tags=["notes"])
    async def get_note(
        note_id: _NOTE, request: Request, user_id: _ID = None, agent_id: _ID = None,
        session_id: _ID = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Read one note of a scope (404 if the scope has no such note)."""
        tenant = _tenant(request)
        note = await service.get(tenant, note_id, _scope(user_id, agent_id, session_id))
        return NoteOut.of(note, tenant.outside(note.scope)).model_dump(mode="json")

    @app.patch("/v1/notes/{note_id}", tags=["notes"])
    async def patch_note(
        note_id: _NOTE, body: PatchIn, request: Request, user_id: _ID = None,
        agent_id: _ID = None, session_id: _ID = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Correct a note: re-indexed, version + 1, the old version kept in its history."""
        if body.content is not None and len(body.content) > limits.max_text_chars:
            raise LimitExceeded("content", f"{len(body.content)} characters; the limit is "
                                           f"{limits.max_text_chars} (max_text_chars)")  # fmt: skip
        tenant = _tenant(request)
        note = await service.update(tenant, note_id, _scope(user_id, agent_id, session_id),
                                    content=body.content, metadata=body.metadata)  # fmt: skip
        return NoteOut.of(note, tenant.outside(note.scope)).model_dump(mode="json")

    @app.delete("/v1/notes/{note_id}", tags=["notes"])
    async def delete_note(
        note_id: _NOTE, request: Request, user_id: _ID = None, agent_id: _ID = None,
        session_id: _ID = None,
    ) -> dict[str, int]:  # fmt: skip
        """Delete one note (and erase its source events from the log); 404 if not there."""
        deleted = await service.delete(_tenant(request), [note_id], _scope(user_id, agent_id, session_id))
        if not deleted:
            raise NoteNotFound(f"no note {note_id!r} in this scope")
        return {"deleted": deleted}

    @app.get("/v1/notes/{note_id}/history", tags=["notes"])
    async def history(
        note_id: _NOTE, request: Request, user_id: _ID = None, agent_id: _ID = None,
        session_id: _ID = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A note's versions, oldest first, each with when it was current."""
        versions = await service.history(_tenant(request), note_id, _scope(user_id, agent_id, session_id))
        return HistoryOut(id=note_id, versions=versions).model_dump(mode="json")

    @app.delete("/v1/scopes", tags=["memory"])
    async def forget(request: Request, user_id: _ID = None, agent_id: _ID = None) -> dict[str, int]:
        """Forget everything of a user and/or agent: notes, and their events in the log."""
        if user_id is None and agent_id is None:
            raise RequestValidationError([{"loc": ("query", "user_id"), "type": "missing",
                                           "msg": "give user_id and/or agent_id"}])  # fmt: skip
        return {"deleted": await service.forget(_tenant(request), user_id, agent_id)}

    @app.post("/v1/outcomes", tags=["memory"])
    async def outcome(body: OutcomeIn, request: Request) -> dict[str, Any]:
        """Feedback: credit (or blame) the notes a task used (``incomplete``: the counts are
        stored, a feedback-aware manager failed after them; do not send the outcome again)."""
        body.check(limits)
        incomplete = None
        try:
            credited = await service.outcome(
                _tenant(request), body.scope.scope(), query_id=body.query_id, success=body.success,
                score=body.score, used_ids=body.used_ids, detail=body.detail,
            )  # fmt: skip
        except AfterWriteError as err:  # durable: acknowledged, with what did not run
            LOG.error("after the write: %s", err)
            credited = len(err.written)
            incomplete = {"stage": err.stage, "type": err.type_name, "not_run": list(err.not_run)}
        return {"credited": credited, "incomplete": incomplete}

    @app.get("/v1/export", tags=["memory"])
    async def export(request: Request) -> StreamingResponse:
        """The tenant's event log as a JSONL stream (``evolvelab run --stream`` reads it)."""
        records = service.export(_tenant(request))

        def chunks() -> Iterator[str]:
            """Read on a worker thread (Starlette iterates a plain iterator there), a chunk
            of up to ~64 KiB of lines at a time: the log is never held whole."""
            chunk: list[str] = []
            size = 0
            for record in records:
                line = dump_stream([record])
                chunk.append(line)
                size += len(line)
                if size >= 65536:
                    yield "".join(chunk)
                    chunk, size = [], 0
            if chunk:
                yield "".join(chunk)

        return StreamingResponse(chunks(), media_type="application/x-ndjson")

    @app.get("/v1/stats", tags=["health"])
    async def stats() -> dict[str, Any]:
        """Writer numbers for the whole server (counts only, no content)."""
        return {**service.writer.stats.as_dict(), "unlogged_queries": service.unlogged_queries}
