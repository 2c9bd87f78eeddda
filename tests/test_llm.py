"""LLMs: the FakeLLM script, the absent LLM, and the instructor adapters without network.

The adapter tests run a real ``openai.OpenAI`` client wrapped by instructor over an
``httpx2.MockTransport``: the request instructor builds, its parsing, validation re-asks
and our usage counting and error translation are all exercised; nothing leaves the process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel, Field, ValidationError

from evolvelab.errors import EvolveLabError, PluginError
from evolvelab.llm import (
    LLMConnectionError,
    LLMError,
    LLMOutputError,
    NoLLM,
    NoLLMError,
    OllamaLLM,
    OllamaLLMConfig,
    OpenAILLM,
    OpenAILLMConfig,
    llm_available,
)
from evolvelab.testing.fake_llm import FakeLLM, FakeLLMError


class Facts(BaseModel):
    facts: list[str]
    confidence: float = Field(ge=0, le=1)


class Keywords(BaseModel):
    words: list[str]


ASK = [{"role": "user", "content": "Extract the facts: Caroline went to a support group"}]
SECRET = "sk-test-0123456789abcdef"


# --- FakeLLM -----------------------------------------------------------------------------


def test_fake_answers_in_order_and_records_calls() -> None:
    llm = FakeLLM().queue(Facts(facts=["a"], confidence=1), Keywords(words=["b"]))
    assert llm.extract(ASK, Facts) == Facts(facts=["a"], confidence=1)
    assert llm.extract([{"role": "user", "content": "k"}], Keywords).words == ["b"]
    assert [model for _, model in llm.calls] == [Facts, Keywords]
    assert llm.calls[0][0] == ASK
    llm.assert_empty()


def test_fake_counts_usage_in_words() -> None:
    llm = FakeLLM().queue(Keywords(words=["hiking"]))
    llm.extract([{"role": "system", "content": "be brief"}, {"role": "user", "content": "a b c"}],
                Keywords)
    assert llm.usage.calls == 1
    assert llm.usage.prompt_tokens == 5
    assert llm.usage.completion_tokens == len(Keywords(words=["hiking"]).model_dump_json().split())


def test_fake_empty_queue_fails_loudly() -> None:
    llm = FakeLLM()
    with pytest.raises(FakeLLMError, match=r"call #1 asked for Facts but nothing is queued"):
        llm.extract(ASK, Facts)
    assert llm.usage.calls == 0


def test_fake_type_mismatch_fails_loudly() -> None:
    llm = FakeLLM().queue(Keywords(words=["x"]))
    with pytest.raises(FakeLLMError, match=r"asked for Facts but the queued answer is a Keywords"):
        llm.extract(ASK, Facts)


def test_fake_errors_are_test_failures_not_app_errors() -> None:
    assert issubclass(FakeLLMError, AssertionError)
    assert not issubclass(FakeLLMError, EvolveLabError)


def test_fake_callable_answers_see_the_request() -> None:
    def answer(messages: list[dict[str, str]], model: type[BaseModel]) -> BaseModel:
        return model(words=messages[-1]["content"].split())

    llm = FakeLLM().queue(answer)
    assert llm.extract([{"role": "user", "content": "tea garden"}], Keywords).words == [
        "tea",
        "garden",
    ]


def test_fake_callable_returning_wrong_type_fails() -> None:
    llm = FakeLLM().queue(lambda messages, model: Keywords(words=[]))
    with pytest.raises(FakeLLMError, match="Keywords"):
        llm.extract(ASK, Facts)


def test_fake_always_answers_after_the_queue() -> None:
    llm = FakeLLM().always(Keywords, Keywords(words=["std"])).queue(Keywords(words=["first"]))
    got = [llm.extract(ASK, Keywords).words for _ in range(3)]
    assert got == [["first"], ["std"], ["std"]]
    first, second = llm.extract(ASK, Keywords), llm.extract(ASK, Keywords)
    assert first == second and first is not second
    with pytest.raises(FakeLLMError, match="nothing is queued"):
        llm.extract(ASK, Facts)


def test_fake_assert_empty_lists_unused_answers() -> None:
    llm = FakeLLM().queue(Facts(facts=[], confidence=0), Keywords(words=[]))
    llm.extract(ASK, Facts)
    with pytest.raises(FakeLLMError, match=r"1 queued answer\(s\) never asked for: Keywords"):
        llm.assert_empty()


def test_fake_rejects_a_class_or_junk_as_answer() -> None:
    with pytest.raises(FakeLLMError, match="not the class Keywords"):
        FakeLLM().queue(Keywords)
    with pytest.raises(FakeLLMError, match="got str"):
        FakeLLM().queue("words")  # type: ignore[arg-type]


def test_fake_is_not_a_registered_plugin(registry: Any) -> None:
    assert "fake" not in registry.names("llm")
    assert {"none", "openai", "ollama"} <= set(registry.names("llm"))


# --- NoLLM ---------------------------------------------------------------------------------


def test_no_llm_says_what_to_do() -> None:
    with pytest.raises(NoLLMError) as info:
        NoLLM().extract(ASK, Facts)
    text = str(info.value)
    assert "this pipeline has llm: none" in text
    assert "Facts" in text
    assert "type: openai" in text and "type: ollama" in text


def test_no_llm_error_names_the_stage() -> None:
    assert "stage encode[0] (note) needs an LLM" in str(NoLLMError(stage="encode[0] (note)"))


def test_llm_available() -> None:
    assert not llm_available(None)
    assert not llm_available(NoLLM())
    assert llm_available(FakeLLM())


# --- instructor adapters over a mocked transport -------------------------------------------


def _completion(model: str, *, tool: str | None = None, args: dict[str, Any]) -> dict[str, Any]:
    """Return a chat.completion body answering with ``args`` (as a tool call or JSON text)."""
    message: dict[str, Any] = {"role": "assistant", "content": json.dumps(args)}
    if tool is not None:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": tool, "arguments": json.dumps(args)},
                }
            ],
        }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
    }


class Endpoint:
    """A scripted OpenAI-compatible endpoint: replies in order, records the requests."""

    def __init__(self, *replies: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.replies.pop(0)(request)

    def body(self, i: int) -> dict[str, Any]:
        return json.loads(self.requests[i].content)

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))


def tool_reply(args: dict[str, Any]) -> Callable[[httpx2.Request], httpx2.Response]:
    return lambda req: httpx2.Response(
        200, json=_completion(json.loads(req.content)["model"], tool="Facts", args=args)
    )


def _openai(endpoint: Endpoint, **overrides: Any) -> OpenAILLM:
    config = {"model": "gpt-test", "base_url": "http://llm.invalid/v1", "api_key_env": "TEST_KEY"}
    config.update(overrides)
    return OpenAILLM(OpenAILLMConfig(**config), http_client=endpoint.client())


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KEY", SECRET)


def test_openai_builds_the_structured_request() -> None:
    endpoint = Endpoint(tool_reply({"facts": ["support group"], "confidence": 0.9}))
    llm = _openai(endpoint, temperature=0.2, max_tokens=100)
    llm.open()
    messages = [dict(m) for m in ASK]
    answer = llm.extract(messages, Facts)
    assert answer == Facts(facts=["support group"], confidence=0.9)
    assert type(answer) is Facts  # not instructor's subclass carrying the raw completion
    assert messages == ASK  # the caller's list is left alone
    request = endpoint.requests[0]
    assert str(request.url) == "http://llm.invalid/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    body = endpoint.body(0)
    assert body["model"] == "gpt-test"
    assert body["messages"] == ASK
    assert body["temperature"] == 0.2 and body["max_tokens"] == 100
    assert body["tool_choice"]["function"]["name"] == "Facts"
    schema = body["tools"][0]["function"]["parameters"]
    assert set(schema["required"]) == {"facts", "confidence"}


def test_openai_counts_usage() -> None:
    endpoint = Endpoint(
        tool_reply({"facts": ["a"], "confidence": 1}), tool_reply({"facts": [], "confidence": 0})
    )
    llm = _openai(endpoint)
    llm.open()
    llm.extract(ASK, Facts)
    llm.extract(ASK, Facts)
    assert (llm.usage.calls, llm.usage.prompt_tokens, llm.usage.completion_tokens) == (2, 22, 8)
    assert llm.usage.seconds > 0


def test_openai_reasks_after_a_validation_error() -> None:
    endpoint = Endpoint(
        tool_reply({"facts": ["a"], "confidence": 7}), tool_reply({"facts": ["a"], "confidence": 1})
    )
    llm = _openai(endpoint, max_retries=1)
    llm.open()
    assert llm.extract(ASK, Facts).confidence == 1
    assert len(endpoint.requests) == 2
    reask = json.dumps(endpoint.body(1)["messages"])
    assert "less than or equal to 1" in reask
    assert llm.usage.calls == 2 and llm.usage.prompt_tokens == 22


def test_openai_gives_up_with_an_output_error() -> None:
    endpoint = Endpoint(*[tool_reply({"facts": ["a"], "confidence": 7})] * 2)
    llm = _openai(endpoint, max_retries=1)
    llm.open()
    with pytest.raises(LLMOutputError, match=r"no answer validated as Facts after 2 attempt") as e:
        llm.extract(ASK, Facts)
    assert "'gpt-test' at http://llm.invalid/v1" in str(e.value)
    assert llm.usage.calls == 2


def test_openai_http_error_names_endpoint_and_hides_the_key() -> None:
    body = {"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "auth"}}
    endpoint = Endpoint(lambda req: httpx2.Response(401, json=body))
    llm = _openai(endpoint, http_retries=0)
    llm.open()
    with pytest.raises(LLMError, match="HTTP 401") as e:
        llm.extract(ASK, Facts)
    text = str(e.value)
    assert "openai LLM 'gpt-test' at http://llm.invalid/v1" in text
    assert SECRET not in text and "***" in text


def test_openai_unreachable_endpoint() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    llm = _openai(Endpoint(refuse), http_retries=0)
    llm.open()
    with pytest.raises(LLMConnectionError, match="unreachable"):
        llm.extract(ASK, Facts)


def test_credentials_in_base_url_are_not_shown() -> None:
    endpoint = Endpoint(lambda req: httpx2.Response(500, json={"error": {"message": "boom"}}))
    llm = _openai(endpoint, base_url="http://user:hunter2@gw.invalid:8080/v1?token=abc",
                  http_retries=0)
    llm.open()
    with pytest.raises(LLMError) as e:
        llm.extract(ASK, Facts)
    assert "http://gw.invalid:8080/v1" in str(e.value)
    assert "hunter2" not in str(e.value) and "abc" not in str(e.value)


def test_missing_key_variable_is_named_at_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_KEY")
    llm = _openai(Endpoint())
    with pytest.raises(LLMError, match="environment variable TEST_KEY is not set"):
        llm.open()


def test_no_key_needed_when_api_key_env_is_null(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_KEY")
    endpoint = Endpoint(tool_reply({"facts": [], "confidence": 0}))
    llm = _openai(endpoint, api_key_env=None)
    llm.open()
    llm.extract(ASK, Facts)
    assert SECRET not in endpoint.requests[0].headers["authorization"]


def test_api_key_env_must_be_a_name_not_a_key() -> None:
    with pytest.raises(ValidationError, match="NAME of an environment variable"):
        OpenAILLMConfig(model="m", api_key_env=SECRET)
    with pytest.raises(ValidationError):
        OpenAILLMConfig()  # type: ignore[call-arg]  # model is required


def test_a_key_pasted_into_yaml_is_not_echoed(tmp_path: Path, registry: Any) -> None:
    from evolvelab.loader import load_pipeline

    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nname: t\n"
        f"llm: {{type: openai, model: m, api_key_env: {SECRET}}}\n"
        "encode: [{type: turn}]\nstore: {type: memory}\nretrieve: [{type: vector}]\n"
    )
    with pytest.raises(EvolveLabError, match="api_key_env must be the NAME") as e:
        load_pipeline(path, registry)
    assert SECRET not in str(e.value)


def test_missing_instructor_is_a_plugin_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "instructor", None)
    with pytest.raises(PluginError, match="needs instructor: pip install"):
        _openai(Endpoint()).open()


def test_extract_before_open_is_an_error() -> None:
    with pytest.raises(EvolveLabError, match="before open"):
        _openai(Endpoint()).extract(ASK, Facts)


def test_ollama_uses_its_base_url_and_json_mode() -> None:
    endpoint = Endpoint(
        lambda req: httpx2.Response(
            200, json=_completion("llama3.2", args={"facts": ["x"], "confidence": 0.5})
        )
    )
    llm = OllamaLLM(
        OllamaLLMConfig(model="llama3.2", base_url="http://gpu-box:11434/v1"),
        http_client=endpoint.client(),
    )
    llm.open()
    assert llm.extract(ASK, Facts).facts == ["x"]
    assert str(endpoint.requests[0].url) == "http://gpu-box:11434/v1/chat/completions"
    body = endpoint.body(0)
    assert body["model"] == "llama3.2"
    assert body["response_format"] == {"type": "json_object"}
    assert llm.usage.calls == 1


def test_ollama_default_base_url() -> None:
    assert OllamaLLM(OllamaLLMConfig(model="llama3.2")).endpoint == "http://localhost:11434/v1"


@pytest.mark.slow
def test_importing_llm_does_not_import_instructor() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import evolvelab.llm"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "evolvelab.llm" in imported
    assert "instructor" not in imported and "openai" not in imported
