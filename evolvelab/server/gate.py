"""The door every request passes: API key → tenant, body-size limit, access log.

A pure ASGI middleware, so it also guards the mounted MCP endpoint. With keys, every
path under ``/v1`` and ``/mcp`` needs ``Authorization: Bearer KEY`` (401 otherwise);
the tenant the key belongs to goes into the request's state. Bodies over the limit are
refused with 413 before the app reads them. A body must be JSON a store can keep
(:func:`evolvelab._strict_json.loads`): UTF-8, nested at most 64 deep, no lone surrogate,
no ``NaN`` and no number out of range; anything else is a 422 ``invalid_json`` with its
line and column, before the app (or the MCP endpoint) sees it. A request with two
``Authorization`` headers is refused (401): which one counts would be a guess. The access
log line holds the method, the path (never the query string: it may carry user ids), the
tenant, the status and the latency: never memory content, never keys.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from evolvelab.server.keys import KeyRing

__all__ = ["Gate", "bearer_token"]

ACCESS = logging.getLogger("evolvelab.access")
_GUARDED = ("/v1", "/mcp")


def bearer_token(headers: list[tuple[bytes, bytes]] | Any) -> str | None:
    """Return the token of an ``Authorization: Bearer ...`` header, if there is one."""
    items = headers.items() if hasattr(headers, "items") else headers
    for name, value in items:
        name = name.decode("latin-1") if isinstance(name, bytes) else name
        if name.lower() == "authorization":
            value = value.decode("latin-1") if isinstance(value, bytes) else value
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _loggable(scope: dict) -> str:
    """Return the path as the client sent it, still percent-encoded (no query string).

    The decoded path can hold a newline (``%0A``) and forge a second log line; the raw
    one cannot (the HTTP parser refuses control characters in the request line).
    """
    raw = scope.get("raw_path")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else scope.get("path", "")
    text = text.split("?", 1)[0]
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _authorizations(headers: list[tuple[bytes, bytes]]) -> int:
    return sum(1 for name, _ in headers if name.lower() == b"authorization")


def _not_storable_json(body: bytes) -> str | None:
    """Return why ``body`` is not JSON a store can keep (``None``: it is, or it is empty)."""
    from evolvelab._strict_json import loads

    if not body.strip():
        return None  # the app answers a missing body with the field it lacks
    try:
        text = body.decode("utf-8-sig")  # a leading BOM is allowed, as FastAPI's parser allows it
    except UnicodeDecodeError as err:
        return f"not UTF-8 at byte {err.start}"
    try:
        loads(text)
    except json.JSONDecodeError as err:
        return f"{err.msg} at line {err.lineno} column {err.colno}"
    return None


async def _reply(send: Any, status: int, code: str, message: str, extra: dict | None = None,
                 field: str | None = None) -> None:  # fmt: skip
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for name, value in (extra or {}).items():
        headers.append((name.encode(), value.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """Authenticate, limit the body, and log access for an ASGI app.

    Args:
        app: the app behind the gate.
        keys: valid keys (``None``: no authentication; the tenant is ``None``).
        max_body_bytes: largest body accepted.
    """

    def __init__(self, app: Any, keys: KeyRing | None, max_body_bytes: int) -> None:
        self.app = app
        self.keys = keys
        self.max_body = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path: str = scope.get("path", "")
        status = {"code": 0}
        tenant: str | None = None

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            guarded = path.startswith(_GUARDED)
            if guarded and self.keys is not None:
                if _authorizations(scope.get("headers", [])) > 1:
                    await _reply(sending, 401, "unauthorized", "send one Authorization header, not several",
                                 {"www-authenticate": "Bearer"})  # fmt: skip
                    return
                tenant = self.keys.tenant_for(bearer_token(scope.get("headers", [])))
                if tenant is None:
                    await _reply(sending, 401, "unauthorized", "missing or invalid API key",
                                 {"www-authenticate": "Bearer"})  # fmt: skip
                    return
            scope.setdefault("state", {})["tenant"] = tenant
            if guarded and scope.get("method") in ("POST", "PUT", "PATCH"):
                body = await self._read_body(scope, receive)
                if body is None:
                    await _reply(sending, 413, "too_large",
                                 f"request body over {self.max_body} bytes (max_body_bytes)")  # fmt: skip
                    return
                problem = _not_storable_json(body)
                if problem is not None:
                    await _reply(sending, 422, "invalid_json", f"body: invalid JSON ({problem})",
                                 field="body")  # fmt: skip
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, sending)
        finally:
            ACCESS.info(
                "%s %s tenant=%s status=%s %.1fms", scope.get("method"), _loggable(scope),
                tenant or "-", status["code"] or "-", (time.perf_counter() - start) * 1000,
            )  # fmt: skip

    async def _read_body(self, scope: dict, receive: Any) -> bytes | None:
        """Read the whole body, or return ``None`` once it is over the limit."""
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
