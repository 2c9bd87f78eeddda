"""A write that is durable, then a manager fails: REST and MCP acknowledge it and say what
did not run (a client must not resend it: an outcome would count twice)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from evolvelab.pipeline import Memory
from evolvelab.server.service import MemoryService
from evolvelab.types import Scope

PIPELINE = """
version: 1
name: lex
embedder: {type: none}
encode:
  - {type: turn, speaker: false, link_turns: false}
store: {type: memory}
retrieve:
  - {type: bm25, k: 20}
manage:
  - {type: utility_prune, every: 1}
"""


def broken(*args: Any) -> None:
    raise ValueError("the prune table is offline")


@pytest.fixture
def service(tmp_path: Path) -> MemoryService:
    memory = Memory.from_text(PIPELINE, data_dir=tmp_path / "data")
    memory.use_event_log()
    memory.open()
    [manager] = memory.managers
    manager.manage_after_add = broken  # type: ignore[method-assign]
    manager.on_feedback = broken  # type: ignore[method-assign]
    service = MemoryService(memory)
    service.start()
    yield service
    service.stop()


def test_rest_acknowledges_durable_writes_and_names_the_failed_stage(service: MemoryService) -> None:
    import httpx

    from evolvelab.server.app import create_app

    app = create_app(service, mcp=False)

    async def main() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            added = await client.post("/v1/events", json={
                "scope": {"user_id": "ana"}, "events": [{"id": "e1", "content": "Ana adopted a cat."}]})
            [note_id] = added.json()["ids"]
            outcome = await client.post("/v1/outcomes", json={
                "scope": {"user_id": "ana"}, "success": True, "used_ids": [note_id]})
            return added, outcome

    added, outcome = asyncio.run(main())
    assert added.status_code == 200 and added.json()["incomplete"]["stage"] == "manage[0]"
    assert outcome.status_code == 200
    assert outcome.json() == {"credited": 1, "incomplete": {
        "stage": "manage[0]", "type": "utility_prune", "not_run": []}}
    [note] = service.memory.list(Scope(user_id="ana")).notes
    assert note.success_count == 1


def test_mcp_tools_answer_with_what_was_stored_and_a_warning(service: MemoryService) -> None:
    from evolvelab.server.mcp_tools import build_mcp

    server = build_mcp(service)

    async def main() -> tuple[Any, Any]:
        added = await server.call_tool("add_memory", {"content": "Ana adopted a cat.", "user_id": "ana"})
        [note_id] = _structured(added)["ids"]
        outcome = await server.call_tool("record_outcome", {"success": True, "used_ids": [note_id],
                                                            "user_id": "ana"})  # fmt: skip
        return _structured(added), _structured(outcome)

    added, outcome = asyncio.run(main())
    assert "written and durable; then manage[0] (utility_prune) failed" in added["warning"]
    assert outcome["credited"] == 1
    assert "1 note written and durable" in outcome["warning"]


def _structured(result: Any) -> dict[str, Any]:
    """The tool's structured answer, whatever shape this SDK version returns."""
    if isinstance(result, tuple):
        return result[1]
    return result.structured_content  # type: ignore[no-any-return]
