"""The LLM mutation operator end to end: an evolution talking HTTP to an OpenAI-compatible server.

The test starts a small OpenAI-compatible server on 127.0.0.1 and points the spec's
``mutation.llm`` at it (``type: openai``, as a user would point it at a real endpoint),
so every request goes through the real ``openai`` client and ``instructor``. The server
answers from recorded model outputs, in the shapes real models give them (tool calls
with JSON arguments, usage counts): a valid proposal, a proposal whose YAML sits in prose
and a code fence, one with an invalid field that needs a repair round, and garbage.
Mutations that validate are enqueued as trials; the others are recorded with their error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import optuna
import pytest

from evolvelab.search.evolve import evolve
from evolvelab.search.record import TrialRecord
from evolvelab.search.study import open_storage

DIAGNOSIS = {
    "encode": "none found",
    "store": "none found",
    "retrieve": "Temporal questions miss the turn just before the one retrieved; the fused "
    "list is cut at 20 before the paraphrase matches come in.",
    "manage": "none found",
}
PIPELINE = """version: 1
name: fast
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn, speaker: true}
store: {type: memory}
retrieve:
  - {type: hybrid, channels: [bm25, vector], weights: [1.0, 0.7], k: 30}
"""
# What models answered, per request, in order (recorded shapes: gpt-4o-mini and
# qwen2.5-7b-instruct through vLLM, tool calling; contents shortened).
RECORDED: list[tuple[str, dict[str, Any] | str]] = [
    # 1. a valid proposal: a larger budget, expressible as the search's own parameters
    ("Proposal", {"diagnosis": DIAGNOSIS, "design": "Widen the fused list to 30.",
                  "pipeline_yaml": PIPELINE}),
    # 2. YAML inside prose and a code fence, adding a refiner the space does not have
    ("Proposal", {"diagnosis": DIAGNOSIS, "design": "Add the neighbouring turns.",
                  "pipeline_yaml": "Here is the improved pipeline:\n\n```yaml\n" + PIPELINE
                  + "  - {type: neighbours, window: 1}\n```\n\nThe neighbours refiner brings "
                  "in the turn before and after each hit."}),
    # 3. an invalid field (a name from another library) ...
    ("Proposal", {"diagnosis": DIAGNOSIS, "design": "Retrieve more candidates.",
                  "pipeline_yaml": PIPELINE.replace("k: 30", "top_k: 30")}),
    # ... fixed in the repair round
    ("Repair", {"fix": "Renamed top_k to k, the field the hybrid retriever has.",
                "pipeline_yaml": "```yaml\n" + PIPELINE.replace("k: 30", "k: 26") + "```"}),
    # 4. garbage: no tool call, prose only; instructor re-asks once (max_retries: 1)
    ("Proposal", "I'm sorry, but I can't help with designing that pipeline."),
    ("Proposal", "{\"diagnosis\": \"retrieval is weak\", \"pipeline\": "),
]  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    server: _Endpoint

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        tool = body["tools"][0]["function"]["name"] if body.get("tools") else "?"
        self.server.requests.append((tool, body))
        expected, answer = self.server.replies.pop(0) if self.server.replies else (tool, "")
        assert expected == tool, f"the operator asked for {tool}, the recording has {expected}"
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(answer, dict):
            message["tool_calls"] = [{
                "id": f"call_{len(self.server.requests)}", "type": "function",
                "function": {"name": tool, "arguments": json.dumps(answer)},
            }]  # fmt: skip
        else:
            message["content"] = answer
        completion = {
            "id": f"chatcmpl-{len(self.server.requests)}", "object": "chat.completion",
            "created": 1733400000, "model": body["model"],
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}],
            "usage": {"prompt_tokens": 2400, "completion_tokens": 310, "total_tokens": 2710},
        }  # fmt: skip
        payload = json.dumps(completion).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Endpoint(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.replies = list(RECORDED)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def endpoint() -> Iterator[_Endpoint]:
    server = _Endpoint()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.slow
def test_an_evolution_mutates_through_an_openai_compatible_endpoint(
    endpoint: _Endpoint, write_spec, spec_text: str, tmp_path: Path
) -> None:
    llm = (
        f"{{type: openai, model: recorded-model, base_url: '{endpoint.url}', api_key_env: null,"
        " max_retries: 1, http_retries: 0, timeout: 20}"
    )
    spec = write_spec(
        spec_text.replace("trials: 5", "trials: 10")
        + f"mutation: {{every: 2, top: 2, repairs: 1, llm: {llm}}}\n"
    )
    out = tmp_path / "out"
    result = evolve(spec, out=out, progress=False)
    assert endpoint.replies == []  # every recorded answer was asked for, in order
    assert [tool for tool, _ in endpoint.requests] == [tool for tool, _ in RECORDED]
    assert endpoint.requests[0][1]["model"] == "recorded-model"
    prompt = endpoint.requests[0][1]["messages"][-1]["content"]
    assert "recall@10 (maximize, share) = " in prompt and "# Failure profile of trial" in prompt

    attempts = [json.loads(p.read_text()) for p in sorted((out / "mutations").glob("*.json"))]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert [a.get("as") for a in attempts] == ["params", "given", "params", None]
    assert attempts[2]["rounds"] == 2 and "top_k" in attempts[2]["errors"][0]
    assert attempts[3]["pipeline"] is None and attempts[3]["errors"][0].startswith("round 1: llm:")
    assert attempts[0]["usage"]["calls"] == 1 and attempts[0]["usage"]["prompt_tokens"] == 2400
    assert attempts[0]["diagnosis"]["retrieve"].startswith("Temporal questions")

    study = optuna.load_study(study_name="quick", storage=open_storage(str(out / "study.journal")))
    records = [TrialRecord.from_trial(t) for t in study.trials]
    mutated = [r for r in records if r.origin == "mutation"]
    assert [r.mutation for r in mutated] == [1, 2, 3]  # the garbage attempt enqueued nothing
    assert mutated[0].params["retrieve[0].k"] == 30 and mutated[2].params["retrieve[0].k"] == 26
    assert mutated[1].params == {} and "type: neighbours" in (mutated[1].given or "")
    assert all(r.state == "complete" for r in mutated), [r.error for r in mutated]
    assert len(records) == 10 and result.complete == 10  # proposals fill slots, never add
