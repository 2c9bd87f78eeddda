"""HCAM, Hindsight retain and reflect through the OpenAI-compatible layer (a scripted endpoint).

The structured requests go through ``OpenAILLM`` (instructor over an ``httpx2`` mock
transport, no network): each stage's response model becomes a tool schema, and the tool
call's arguments come back into the pipeline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from evolvelab import Event, Memory, Scope
from evolvelab.llm import OpenAILLM, OpenAILLMConfig
from evolvelab.types import Where

pytestmark = pytest.mark.slow  # importing instructor and openai takes seconds

ANA = Scope(user_id="ana")
T0 = datetime(2023, 5, 8, 10, 0, tzinfo=UTC)
EVENTS = [
    Event(id="e1", content="I moved to Porto last week.", speaker="Ana", session_id="s1", timestamp=T0),
    Event(id="e2", content="Porto is lovely in May.", speaker="Ana", session_id="s1",
          timestamp=T0 + timedelta(minutes=1)),
]  # fmt: skip


class Endpoint:
    """Answer each chat completion with a tool call built from the next scripted arguments."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        tool = body["tool_choice"]["function"]["name"]
        message = {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": tool, "arguments": json.dumps(self.answers.pop(0))},
        }]}  # fmt: skip
        return httpx2.Response(200, json={
            "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        })  # fmt: skip


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KEY", "sk-test")


def openai(endpoint: Endpoint) -> OpenAILLM:
    config = OpenAILLMConfig(
        model="gpt-test", base_url="http://llm.invalid/v1", api_key_env="TEST_KEY"
    )
    return OpenAILLM(config, http_client=httpx2.Client(transport=httpx2.MockTransport(endpoint)))


def memory(endpoint: Endpoint, encode: dict[str, Any], retrieve: list[dict[str, Any]],
           manage: list[dict[str, Any]]) -> Memory:  # fmt: skip
    spec = {"version": 1, "name": "openai-paths", "embedder": {"type": "hashing", "dim": 64},
            "encode": [encode], "store": {"type": "memory"}, "retrieve": retrieve, "manage": manage}  # fmt: skip
    return Memory.from_dict(spec, llm=openai(endpoint)).open()


@pytest.mark.slow
def test_hcam_summaries_through_the_openai_layer() -> None:
    endpoint = Endpoint(
        {"summary": "Ana moved to Porto in May 2023.", "keywords": ["Porto", "move"]}
    )
    with memory(
        endpoint, {"type": "turn"}, [{"type": "hcam"}], [{"type": "hcam_chunk", "every": 1}]
    ) as mem:
        mem.add(EVENTS, scope=ANA)
        [chunk] = mem.store.scan(ANA, Where(kind=["chunk"]))  # type: ignore[attr-defined]
        hits = mem.search("Where did Ana move?", scope=ANA)
    assert chunk.content == "Ana moved to Porto in May 2023. | Porto, move"
    assert endpoint.bodies[0]["tool_choice"]["function"]["name"] == "ChunkSummary"
    assert hits and hits[0].note.kind == "turn"


def test_hindsight_retain_and_reflect_through_the_openai_layer() -> None:
    endpoint = Endpoint(
        {"facts": [{"statement": "Ana moved to Porto in early May 2023.", "network": "world",
                    "entities": ["Ana", "Porto"], "sources": ["E1"]},
                   {"statement": "Ana finds Porto lovely in May.", "network": "opinion", "confidence": 0.9,
                    "entities": ["Ana", "Porto"], "sources": ["E2"], "caused_by": [0]}]},
        {"answer": "Porto.", "cited": ["M1"],
         "opinions": [{"statement": "Porto suits Ana.", "confidence": 0.6, "sources": ["M1"]}]},
    )  # fmt: skip
    retrieve = [
        {"type": "hindsight_recall", "channels": ["bm25", "graph"]},
        {"type": "hindsight_reflect"},
    ]
    with memory(endpoint, {"type": "hindsight_retain"}, retrieve, []) as mem:
        written = mem.add(EVENTS, scope=ANA)
        hits = mem.search("Where did Ana move?", scope=ANA)
        opinions = sorted(n.content for n in mem.store.scan(ANA, Where(kind=["opinion"])))  # type: ignore[attr-defined]
    assert [n.kind for n in written] == ["world", "opinion"]
    assert written[1].metadata["confidence"] == 0.9
    assert ("causal", written[0].id) in {(link.kind, link.target) for link in written[1].links}
    assert [b["tool_choice"]["function"]["name"] for b in endpoint.bodies] == [
        "RetainResult",
        "Reflection",
    ]
    assert hits[0].channel == "reflect" and hits[0].note.content == "Porto."
    assert opinions == ["Ana finds Porto lovely in May.", "Porto suits Ana."]
