"""MCP with the official client library: over stdio (`evolvelab mcp`) and over streamable
HTTP (`/mcp` of `evolvelab serve`, with the same tenant rules as REST)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from served import Served, write_pipeline

pytestmark = pytest.mark.slow

TOOLS = {"add_memory", "search_memory", "get_memory", "list_memories", "delete_memory", "record_outcome"}


async def _session(client: Any) -> dict[str, Any]:
    """List tools, add, search, get, list, record an outcome, delete: what an agent does."""
    tools = (await client.list_tools()).tools
    found: dict[str, Any] = {"tools": {tool.name: tool for tool in tools}}
    added = await client.call_tool("add_memory", {"content": "Ana's favourite tea is genmaicha.",
                                                  "speaker": "Ana"})  # fmt: skip
    assert not added.is_error, added.content
    (note_id,) = added.structured_content["ids"]
    search = await client.call_tool("search_memory", {"query": "favourite tea", "k": 3})
    found["search"] = search.structured_content
    got = await client.call_tool("get_memory", {"id": note_id})
    assert got.structured_content["content"] == "Ana: Ana's favourite tea is genmaicha."
    listed = await client.call_tool("list_memories", {"limit": 10})
    assert [m["id"] for m in listed.structured_content["memories"]] == [note_id]
    outcome = await client.call_tool("record_outcome", {
        "success": True, "used_ids": [note_id], "query_id": search.structured_content["query_id"]})
    assert outcome.structured_content == {"credited": 1}
    gone = await client.call_tool("delete_memory", {"id": note_id})
    assert gone.structured_content == {"deleted": 1}
    missing = await client.call_tool("get_memory", {"id": note_id})
    assert missing.is_error
    found["note_id"] = note_id
    return found


def _check(found: dict[str, Any]) -> None:
    assert set(found["tools"]) == TOOLS
    for tool in found["tools"].values():
        assert tool.description and tool.input_schema["type"] == "object"
    assert "query" in found["tools"]["search_memory"].input_schema["required"]
    (hit,) = found["search"]["hits"]
    assert hit["id"] == found["note_id"] and "genmaicha" in hit["content"]


def test_stdio_server_for_one_user(tmp_path: Path) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    pipeline = write_pipeline(tmp_path)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "evolvelab", "mcp", str(pipeline), "--data-dir", str(tmp_path / "data"),
              "--user", "ana"],
        cwd=str(tmp_path),
    )  # fmt: skip

    async def main() -> dict[str, Any]:
        async with Client(params) as client:
            return await _session(client)

    _check(asyncio.run(main()))
    log = (tmp_path / "data" / "eventlog" / "log.jsonl").read_text()
    assert '"user_id":"ana"' in log and "genmaicha" not in log  # deleted: erased from the log


def test_streamable_http_applies_the_tenant_of_the_key(two_tenants: Served) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def main(tenant: str) -> dict[str, Any]:
        http = httpx2.AsyncClient(headers=two_tenants.headers(tenant), timeout=30)
        async with http, Client(streamable_http_client(f"{two_tenants.url}/mcp", http_client=http)) as client:
            found = await _session(client)
            await client.call_tool("add_memory", {"content": "Acme's tea is genmaicha."})
            return found

    _check(asyncio.run(main("acme")))

    async def other_tenant_search() -> Any:
        http = httpx2.AsyncClient(headers=two_tenants.headers("globex"), timeout=30)
        async with http, Client(streamable_http_client(f"{two_tenants.url}/mcp", http_client=http)) as client:
            await client.call_tool("add_memory", {"content": "Globex keeps oolong."})
            return (await client.call_tool("search_memory", {"query": "tea oolong genmaicha"})).structured_content

    hits = asyncio.run(other_tenant_search())["hits"]
    assert [h["content"] for h in hits] == ["Globex keeps oolong."]


def test_tool_errors_say_why_and_the_limits_of_rest_hold(two_tenants: Served) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    globex_note = httpx.post(f"{two_tenants.url}/v1/events", headers=two_tenants.headers("globex"),
                             json={"scope": {"user_id": "ana"}, "events": [{"content": "Globex plan B."}]}).json()["ids"][0]  # fmt: skip

    async def main() -> dict[str, Any]:
        http = httpx2.AsyncClient(headers=two_tenants.headers("acme"), timeout=30)
        async with http, Client(streamable_http_client(f"{two_tenants.url}/mcp", http_client=http)) as client:
            listed = await client.list_tools()
            schemas = {t.name: t.input_schema for t in listed.tools}
            calls = {
                "other tenant's id": ("get_memory", {"id": globex_note, "user_id": "ana"}),
                "delete other's": ("delete_memory", {"id": globex_note, "user_id": "ana"}),
                "bad cursor": ("list_memories", {"cursor": "garbage"}),
                "too long": ("add_memory", {"content": "x" * 20_001}),
                "empty user": ("add_memory", {"content": "hi", "user_id": ""}),
                "long user": ("add_memory", {"content": "hi", "user_id": "u" * 257}),
                "empty query": ("search_memory", {"query": ""}),
                "too many ids": ("record_outcome", {"success": True, "used_ids": ["n"] * 1001}),
            }
            results = {}
            for label, (tool, args) in calls.items():
                result = await client.call_tool(tool, args)
                results[label] = (result.is_error, result.content[0].text)
            return {"schemas": schemas, "results": results}

    out = asyncio.run(main())
    results = out["results"]
    assert all(is_error for is_error, _ in results.values()), results
    assert "no note" in results["other tenant's id"][1] and "no memory" in results["delete other's"][1]
    assert "not a cursor" in results["bad cursor"][1]
    assert "20000" in results["too long"][1] and "at least 1" in results["empty user"][1]
    assert "256" in results["long user"][1] and "1000" in results["too many ids"][1]
    schemas = out["schemas"]
    assert schemas["add_memory"]["properties"]["content"]["maxLength"] == 20_000
    assert schemas["record_outcome"]["properties"]["used_ids"]["maxItems"] == 1000
    # the other tenant's note is untouched
    response = httpx.get(f"{two_tenants.url}/v1/notes/{globex_note}", params={"user_id": "ana"},
                         headers=two_tenants.headers("globex"))  # fmt: skip
    assert response.status_code == 200


def test_text_that_is_not_unicode_is_a_tool_error_saying_so(tmp_path: Path) -> None:
    from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError

    from evolvelab.pipeline import Memory
    from evolvelab.server.mcp_tools import build_mcp
    from evolvelab.server.service import MemoryService

    memory = Memory.from_yaml(write_pipeline(tmp_path), data_dir=tmp_path / "data")
    memory.use_event_log()
    service = MemoryService(memory)
    server = build_mcp(service)
    service.start()
    try:
        for args in ({"content": "a lone \ud800"}, {"content": "fine", "speaker": "\udfff"}):
            with pytest.raises(ToolError) as caught:
                asyncio.run(server.call_tool("add_memory", args))
            assert not isinstance(caught.value, UnexpectedToolError)
            assert "unicode" in str(caught.value).lower()
    finally:
        service.stop()
    assert "\\ud800" not in (tmp_path / "data" / "eventlog" / "log.jsonl").read_text()
