"""What a client is told when a request fails for a reason that is not its own."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from evolvelab.errors import EvolveLabError
from evolvelab.pipeline import Memory
from evolvelab.server.service import MemoryService

PIPELINE = """
version: 1
name: lex
embedder: {type: none}
encode:
  - {type: turn}
store: {type: memory}
retrieve:
  - {type: bm25}
"""


def post(service: MemoryService, path: str, body: dict[str, Any]) -> httpx.Response:
    from evolvelab.server.app import create_app

    app = create_app(service, mcp=False)

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(path, json=body)

    return asyncio.run(main())


def test_a_commit_conflict_that_outlived_its_retries_is_a_503_to_retry(tmp_path: Path) -> None:
    service = MemoryService(Memory.from_text(PIPELINE, data_dir=tmp_path / "data"))

    async def conflict(*args: Any) -> None:
        try:
            raise OSError("Retryable commit conflict for version 7: Please retry")
        except OSError as err:
            raise EvolveLabError("lancedb store: upsert into notes-ana failed 12 times") from err

    service.add = conflict  # type: ignore[method-assign]
    response = post(service, "/v1/events", {"events": [{"content": "hello"}]})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "conflict"


def test_a_request_the_pipeline_refuses_stays_a_422(tmp_path: Path) -> None:
    service = MemoryService(Memory.from_text(PIPELINE, data_dir=tmp_path / "data"))

    async def refuse(*args: Any) -> None:
        raise EvolveLabError("invalid scope: user_id too long")

    service.add = refuse  # type: ignore[method-assign]
    response = post(service, "/v1/events", {"events": [{"content": "hello"}]})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_a_search_whose_query_cannot_be_logged_is_answered_and_counted(tmp_path: Path) -> None:
    from evolvelab.eventlog import LogFailure

    memory = Memory.from_text(PIPELINE, data_dir=tmp_path / "data")
    memory.use_event_log()
    memory.add([{"id": "e1", "content": "Ana adopted a cat."}], scope={"user_id": "ana"})

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise LogFailure("no space left on device")

    memory.log.append = full_disk  # type: ignore[method-assign]
    service = MemoryService(memory)
    response = post(service, "/v1/search", {"scope": {"user_id": "ana"}, "query": "cat"})
    assert response.status_code == 200
    assert [hit["content"] for hit in response.json()["hits"]] == ["Ana adopted a cat."]
    assert service.unlogged_queries == 1
    memory.close()
