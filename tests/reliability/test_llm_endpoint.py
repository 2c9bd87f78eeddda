"""A misbehaving LLM endpoint, through the real client stack.

Each test starts a small OpenAI-compatible HTTP server on 127.0.0.1 and talks to it
through ``evolvelab.llm.OpenAILLM`` (``openai.OpenAI`` wrapped by instructor, as a user
would configure it in YAML). The server answers from a script: good answers, ids in the
forms models write, garbage, HTTP 500s, answers slower than the timeout. What must hold:

- every failure is an ``LLMError`` naming the endpoint, never another exception;
- the number of requests and the time spent are bounded by ``max_retries``,
  ``http_retries`` and ``timeout``;
- a failure before the write leaves nothing written; a failure after it is an
  ``AfterWriteError`` with the notes that are stored; the command line says which.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evolvelab import AfterWriteError, Event, Memory, Scope
from evolvelab.cli import cli
from evolvelab.llm import LLMConnectionError, LLMError, LLMOutputError, OpenAILLM, OpenAILLMConfig
from evolvelab.modules.encode.fact import ExtractedFacts
from evolvelab.registry import Registry

ANA = Scope(user_id="ana")
Reply = Callable[["Handler", dict[str, Any]], None]


class Handler(BaseHTTPRequestHandler):
    """Answer ``POST /v1/chat/completions`` from the server's script."""

    server: Endpoint

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        tool = body["tools"][0]["function"]["name"] if body.get("tools") else "?"
        self.server.requests.append((tool, body))
        self.server.reply_for(tool)(self, body)

    def send(self, status: int, payload: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("retry-after-ms", "20")  # openai's client honours it: fast retries
        self.end_headers()
        self.wfile.write(payload)


class Endpoint(ThreadingHTTPServer):
    """A scripted OpenAI-compatible server: a queue of replies per response model."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.standing: dict[str, Reply] = {}
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def script(self, tool: str, *replies: Reply, then: Reply | None = None) -> Endpoint:
        self.scripts.setdefault(tool, []).extend(replies)
        if then is not None:
            self.standing[tool] = then
        return self

    def reply_for(self, tool: str) -> Reply:
        queue = self.scripts.get(tool)
        if queue:
            return queue.pop(0)
        return self.standing.get(tool, status(404))

    def count(self, tool: str, *, settle: float = 0.0) -> int:
        """How many requests for ``tool`` arrived; with ``settle``, wait that long for more.

        A client that gave up on a slow answer may already have sent its retry while this
        server's thread has not read it yet (on a loaded machine), so counts after timeouts
        wait for the requests that are on their way.
        """
        deadline = time.monotonic() + settle
        while True:
            seen = sum(1 for name, _ in self.requests if name == tool)
            if time.monotonic() >= deadline:
                return seen
            time.sleep(0.05)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


# --- replies -------------------------------------------------------------------------------


def tool_call(arguments: str) -> Reply:
    """A well-formed completion whose tool call carries ``arguments`` (any text)."""

    def reply(handler: Handler, body: dict[str, Any]) -> None:
        name = body["tools"][0]["function"]["name"]
        call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
        completion = {
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": None, "tool_calls": [call]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }  # fmt: skip
        handler.send(200, json.dumps(completion).encode())

    return reply


def answer(data: dict[str, Any]) -> Reply:
    return tool_call(json.dumps(data))


def facts_per_line(id_form: Callable[[str], str] = lambda i: i, *, empty: int = 0) -> Reply:
    """One fact per message line, its id written with ``id_form``; ``empty`` blank facts too."""

    def reply(handler: Handler, body: dict[str, Any]) -> None:
        text = body["messages"][-1]["content"].split("Messages:\n", 1)[1]
        facts = []
        for line in text.splitlines():
            event_id, rest = line[1:].split("] ", 1)
            facts.append({"text": rest.split(": ", 1)[1], "source_ids": [id_form(event_id)]})
        facts += [{"text": " ", "source_ids": ["e0"]}] * empty
        answer({"facts": facts})(handler, body)

    return reply


def status(code: int) -> Reply:
    return lambda handler, body: handler.send(code, json.dumps({"error": {"message": f"scripted {code}"}}).encode())


def slow(seconds: float) -> Reply:
    def reply(handler: Handler, body: dict[str, Any]) -> None:
        handler.server.stop.wait(seconds)
        try:
            answer({"facts": []})(handler, body)
        except OSError:
            pass  # the client gave up and closed the connection

    return reply


GARBAGE: dict[str, Reply] = {
    "html page": lambda h, b: h.send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    "truncated json": lambda h, b: h.send(200, b'{"id": "x", "choices": [{"mess'),
    "no choices": lambda h, b: h.send(200, b'{"id": "x", "object": "chat.completion", "choices": []}'),
    "arguments not json": tool_call("Sure! Here are the facts: Ana moved to Porto."),
    "wrong shape": answer({"facts": "Ana moved to Porto"}),
    "missing field": answer({"facts": [{"source_ids": ["e0"]}]}),
    "null answer": tool_call("null"),
}


# --- helpers -------------------------------------------------------------------------------


def llm_yaml(url: str, **knobs: Any) -> str:
    settings = {"timeout": 5.0, "http_retries": 0, "max_retries": 0, **knobs}
    extra = ", ".join(f"{k}: {v}" for k, v in settings.items())
    return f"{{type: openai, model: test-model, base_url: '{url}', api_key_env: null, {extra}}}"


def pipeline(url: str, *, manage: bool = False, **knobs: Any) -> str:
    lines = [
        "version: 1", "name: llm-faults", "embedder: {type: hashing, dim: 64}",
        f"llm: {llm_yaml(url, **knobs)}", "encode:", "  - {type: fact}",
        "store: {type: lancedb}", "retrieve:", "  - {type: vector, k: 10}",
    ]  # fmt: skip
    if manage:
        lines += ["manage:", "  - {type: mem0_update, every: 1}"]
    return "\n".join(lines) + "\n"


def events(n: int, start: int = 0) -> list[Event]:
    texts = ["Ana moved to Porto.", "Ana adopted a dog called Rex.", "Rex hates the rain.",
             "Ana teaches piano.", "Ana lives in Lisbon now."]  # fmt: skip
    return [Event(id=f"e{i}", content=texts[i % len(texts)], speaker="Ana") for i in range(start, start + n)]


def llm(url: str, **knobs: Any) -> OpenAILLM:
    config = {"model": "test-model", "base_url": url, "api_key_env": None, "timeout": 5.0,
              "http_retries": 0, "max_retries": 0, **knobs}  # fmt: skip
    client = OpenAILLM(OpenAILLMConfig(**config))
    client.open()
    return client


ASK = [{"role": "user", "content": "Messages:\n[e0] Ana: I moved to Porto."}]


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [lambda i: f"[{i}]", str.upper, lambda i: f"  {i} ", lambda i: f"[ {i.upper()} ]", lambda i: f"{i}, e99"],
    ids=["brackets", "upper", "spaces", "all-of-it", "with-unknown"],
)
def test_fact_ids_in_other_forms_keep_every_fact(
    endpoint: Endpoint, registry: Registry, tmp_path: Path, form: Callable[[str], str], tally: Any
) -> None:
    """Facts whose source ids come back as [e0], E0, ' e0 ' or mixed with unknown ids are kept."""
    endpoint.script("ExtractedFacts", facts_per_line(form))
    with Memory.from_text(pipeline(endpoint.url), registry=registry, data_dir=tmp_path) as memory:
        result = memory.add(events(3), scope=ANA)
        assert memory.count(ANA) == 3
    assert [n.source_ids for n in result] == [["e0"], ["e1"], ["e2"]]
    assert result.dropped == [] and endpoint.count("ExtractedFacts") == 1
    tally(len(endpoint.requests), "LLM requests")


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_answers_fail_cleanly_within_the_retries(
    endpoint: Endpoint, registry: Registry, tmp_path: Path, kind: str, tally: Any
) -> None:
    """Garbage answers: an LLMError after exactly 1 + max_retries requests; nothing written."""
    endpoint.script("ExtractedFacts", then=GARBAGE[kind])
    text = pipeline(endpoint.url, max_retries=2)
    with Memory.from_text(text, registry=registry, data_dir=tmp_path) as memory:
        start = time.perf_counter()
        with pytest.raises(LLMError) as caught:
            memory.add(events(2), scope=ANA)
        spent = time.perf_counter() - start
        assert memory.count(ANA) == 0
    assert not isinstance(caught.value, AfterWriteError)
    assert f"at {endpoint.url}" in str(caught.value)
    assert 1 <= endpoint.count("ExtractedFacts") <= 3 and spent < 5
    # the reason is the last attempt's problem, not instructor's XML dump of every attempt
    assert "the last one: " in str(caught.value) and "<failed_attempts>" not in str(caught.value)
    tally(len(endpoint.requests), "LLM requests")


def test_an_answer_that_never_validates_is_asked_again_then_given_up(endpoint: Endpoint, tally: Any) -> None:
    """An answer of the wrong shape is re-asked max_retries times, then LLMOutputError."""
    endpoint.script("ExtractedFacts", then=GARBAGE["wrong shape"])
    client = llm(endpoint.url, max_retries=2)
    with pytest.raises(LLMOutputError, match=r"after 3 attempt") as caught:
        client.extract(ASK, ExtractedFacts)
    assert str(caught.value).endswith(
        "the last one: 1 validation error for ExtractedFacts facts Input should be a valid "
        "array [type=list_type, input_value='Ana moved to Porto', input_type=str]"
    )
    assert endpoint.count("ExtractedFacts") == 3 and client.usage.calls == 3
    tally(len(endpoint.requests), "LLM requests")


def test_http_500s_are_retried_then_reported(endpoint: Endpoint, tally: Any) -> None:
    """HTTP 500s: exactly 1 + http_retries requests, then an LLMError naming the status."""
    endpoint.script("ExtractedFacts", then=status(500))
    client = llm(endpoint.url, http_retries=2, max_retries=2)
    with pytest.raises(LLMError, match="HTTP 500") as caught:
        client.extract(ASK, ExtractedFacts)
    assert not isinstance(caught.value, LLMOutputError)
    assert endpoint.count("ExtractedFacts") == 3  # re-asks are for invalid answers, not 500s
    tally(len(endpoint.requests), "LLM requests")


def test_a_500_then_an_answer_succeeds(endpoint: Endpoint, registry: Registry, tmp_path: Path, tally: Any) -> None:
    """One 500 followed by a good answer: the add succeeds after one retry."""
    endpoint.script("ExtractedFacts", status(500), status(503), facts_per_line())
    text = pipeline(endpoint.url, http_retries=2)
    with Memory.from_text(text, registry=registry, data_dir=tmp_path) as memory:
        assert len(memory.add(events(2), scope=ANA)) == 2
    assert endpoint.count("ExtractedFacts") == 3
    tally(len(endpoint.requests), "LLM requests")


def test_a_slow_endpoint_times_out_within_the_limit(
    endpoint: Endpoint, registry: Registry, tmp_path: Path, tally: Any
) -> None:
    """An answer slower than ``timeout``: LLMConnectionError in bounded time, nothing written."""
    endpoint.script("ExtractedFacts", then=slow(10))
    text = pipeline(endpoint.url, timeout=0.3, http_retries=1)
    with Memory.from_text(text, registry=registry, data_dir=tmp_path) as memory:
        start = time.perf_counter()
        with pytest.raises(LLMConnectionError, match="timed out"):
            memory.add(events(2), scope=ANA)
        spent = time.perf_counter() - start
        assert memory.count(ANA) == 0
    assert spent < 5  # 2 x 0.3 s plus one backoff
    assert endpoint.count("ExtractedFacts", settle=2.0) == 2
    tally(len(endpoint.requests), "LLM requests")


def test_an_unreachable_endpoint(registry: Registry, tmp_path: Path) -> None:
    """Nothing listening: LLMConnectionError saying unreachable, nothing written."""
    server = Endpoint()
    url = server.url
    server.server_close()
    with Memory.from_text(pipeline(url), registry=registry, data_dir=tmp_path) as memory:
        with pytest.raises(LLMConnectionError, match="unreachable"):
            memory.add(events(1), scope=ANA)
        assert memory.count(ANA) == 0


def test_a_manager_llm_failing_after_the_write(
    endpoint: Endpoint, registry: Registry, tmp_path: Path, tally: Any
) -> None:
    """The update-decision LLM returns 500 after the facts are stored: AfterWriteError."""
    endpoint.script("ExtractedFacts", then=facts_per_line())
    endpoint.script("UpdateDecision", then=status(500))
    text = pipeline(endpoint.url, manage=True)
    with Memory.from_text(text, registry=registry, data_dir=tmp_path) as memory:
        memory.add(events(1), scope=ANA)  # no older fact: nothing to decide, no request
        with pytest.raises(AfterWriteError) as caught:
            memory.add(events(1, start=4), scope=ANA)
    err = caught.value
    assert str(err).startswith("1 note written and durable; then manage[0] (mem0_update) failed: ")
    assert "HTTP 500" in str(err) and [n.source_ids for n in err.written] == [["e4"]]
    with Memory.from_text(pipeline(endpoint.url), registry=registry, data_dir=tmp_path) as again:
        assert again.count(ANA) == 2
    tally(len(endpoint.requests), "LLM requests")


STREAM = [
    {"type": "event", "id": f"e{i}", "user_id": "ana", "speaker": "Ana", "content": text}
    for i, text in enumerate(["I moved to Porto.", "I adopted a dog called Rex.", "Rex hates rain."])
] + [{"type": "query", "id": "q1", "user_id": "ana", "text": "Where did Ana move?", "evidence": ["e0"]}]


def run_cli(tmp_path: Path, text: str) -> Any:
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    stream = tmp_path / "s.jsonl"
    stream.write_text("".join(json.dumps(r) + "\n" for r in STREAM), encoding="utf-8")
    args = ["run", str(tmp_path / "p.yaml"), "--stream", str(stream), "--data-dir", str(tmp_path / "d"),
            "--batch-size", "2"]  # fmt: skip
    return CliRunner().invoke(cli, args)


def test_run_shows_what_the_encoders_dropped(endpoint: Endpoint, tmp_path: Path) -> None:
    """`evolvelab run` says how many LLM facts were dropped, and why."""
    endpoint.script("ExtractedFacts", then=facts_per_line(str.upper, empty=1))
    result = run_cli(tmp_path, pipeline(endpoint.url))
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "ingested 3 events (2 item(s) dropped, see the warning)" in output
    assert "ingest dropped 2 item(s) the encoders could not keep: encode[0] (fact) dropped 2: " \
           "LLM fact with empty text" in output


def test_run_tells_nothing_written_from_written_then_failed(endpoint: Endpoint, tmp_path: Path) -> None:
    """`evolvelab run`: an encoder failure says nothing was written; a manager's says what was."""
    endpoint.script("ExtractedFacts", facts_per_line(), then=status(500))
    (tmp_path / "a").mkdir()
    result = run_cli(tmp_path / "a", pipeline(endpoint.url))
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "error: ingest stopped at events 'e2'..'e2' (1) of user_id='ana' agent_id=None " \
           "(the 2 events of earlier batches are stored); nothing from this batch was written: " in output
    assert "HTTP 500" in output and "Traceback" not in output

    endpoint.scripts.clear()
    endpoint.script("ExtractedFacts", then=facts_per_line())
    endpoint.script("UpdateDecision", then=status(500))
    (tmp_path / "b").mkdir()
    result = run_cli(tmp_path / "b", pipeline(endpoint.url, manage=True))
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    # the second fact of the first batch has the first to compare with: the LLM is asked
    assert "error: ingest stopped at events 'e0'..'e1' (2) of user_id='ana' agent_id=None " \
           "(the first batch); this batch: 2 notes written and durable; then " \
           "manage[0] (mem0_update) failed: " in output
    assert "HTTP 500" in output and "Traceback" not in output


def test_eval_shows_what_ingestion_dropped_and_where_it_stopped(endpoint: Endpoint, tmp_path: Path) -> None:
    """`evolvelab eval` lists the dropped facts among its warnings, and names a failed batch."""
    endpoint.script("ExtractedFacts", then=facts_per_line(empty=1))
    (tmp_path / "p.yaml").write_text(pipeline(endpoint.url), encoding="utf-8")
    stream = tmp_path / "s.jsonl"
    stream.write_text("".join(json.dumps(r) + "\n" for r in STREAM), encoding="utf-8")
    args = ["eval", str(tmp_path / "p.yaml"), "--dataset", "jsonl", "--data", str(stream),
            "--batch-size", "2", "--out", str(tmp_path / "r.json")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    warning = "ingest dropped 2 item(s) the encoders could not keep: encode[0] (fact) dropped 2: " \
              "LLM fact with empty text"
    assert warning in " ".join(result.output.split())
    assert warning in json.loads((tmp_path / "r.json").read_text())["warnings"]

    endpoint.scripts.clear()
    endpoint.script("ExtractedFacts", then=status(500))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "nothing from this batch was written" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_the_command_line_prints_one_error_not_the_clients_retry_log(endpoint: Endpoint, tmp_path: Path) -> None:
    """In a real process, a failing endpoint gives one located error line and exit 1."""
    endpoint.script("ExtractedFacts", then=status(500))
    (tmp_path / "p.yaml").write_text(pipeline(endpoint.url, http_retries=1), encoding="utf-8")
    stream = tmp_path / "s.jsonl"
    stream.write_text("".join(json.dumps(r) + "\n" for r in STREAM), encoding="utf-8")
    args = ["run", str(tmp_path / "p.yaml"), "--stream", str(stream), "--data-dir", str(tmp_path / "d")]
    done = subprocess.run([sys.executable, "-m", "evolvelab", *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors[-1].startswith("error: ingest stopped at events 'e0'..'e2' (3)")
    assert "nothing from this batch was written" in errors[-1] and "HTTP 500" in errors[-1]
    assert "API call failed" not in done.stderr and "Traceback" not in done.stderr
    assert endpoint.count("ExtractedFacts") == 2
