"""LLMs: messages in, a validated pydantic object out.

The only module that imports ``instructor`` and ``openai``, and only inside ``open()``.
``none`` (the default) has no model: stages that need one check :func:`llm_available`
and say what they do without it. ``openai`` talks to any OpenAI-compatible endpoint
(OpenAI, vLLM, llama.cpp's server, a gateway); ``ollama`` to a local Ollama. API keys
come from an environment variable named in the config, never from YAML.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, model_validator

from evolvelab.config import LLMConfig
from evolvelab.errors import EvolveLabError, PluginError
from evolvelab.stages import LLM, Resources

if TYPE_CHECKING:
    import instructor

__all__ = [
    "LLMConnectionError",
    "LLMError",
    "LLMOutputError",
    "NoLLM",
    "NoLLMConfig",
    "NoLLMError",
    "OllamaLLM",
    "OllamaLLMConfig",
    "OpenAILLM",
    "OpenAILLMConfig",
    "llm_available",
]

T = TypeVar("T", bound=BaseModel)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPENAI_URL = "https://api.openai.com/v1"
_PIP_HINT = "pip install 'instructor>=1.17,<1.18' 'openai>=3.3,<3.4'"
_MAX_DETAIL = 400
_DOCS_LINK = re.compile(r"For further information visit \S+")


class LLMError(EvolveLabError):
    """A call to an LLM endpoint failed (the message names the endpoint and model)."""


class LLMConnectionError(LLMError):
    """The endpoint could not be reached or did not answer in time."""


class LLMOutputError(LLMError):
    """The model's answers did not validate against the response model, retries included."""


class NoLLMError(EvolveLabError):
    """A stage needs an LLM but the pipeline has ``llm: none``.

    Args:
        stage: who needs it, e.g. ``"encode[0] (note)"``; omitted when unknown.
        wanted: what it wanted, e.g. the response model's name.
    """

    def __init__(self, stage: str | None = None, wanted: str | None = None) -> None:
        who = f"stage {stage}" if stage else "a stage"
        what = f" (to produce {wanted})" if wanted else ""
        super().__init__(
            f"this pipeline has llm: none; {who} needs an LLM{what}. Set `llm:` to "
            "{type: openai, model: ...} or {type: ollama, model: ...}, or use a stage "
            "that works without one"
        )
        self.stage = stage


def llm_available(llm: LLM | None) -> bool:
    """Return whether ``llm`` can answer (it is set and is not ``NoLLM``).

    Args:
        llm: the pipeline's LLM, typically ``resources.llm``.

    Returns:
        ``False`` for ``None`` and for :class:`NoLLM`, ``True`` otherwise.
    """
    return llm is not None and not isinstance(llm, NoLLM)


class NoLLMConfig(LLMConfig):
    """No LLM: stages that need one fall back or refuse, as each documents.

    Example:
        >>> NoLLMConfig()
        NoLLMConfig(type='none')
    """

    type: Literal["none"] = "none"


class NoLLM(LLM):
    """The absent LLM. ``extract`` always raises :class:`NoLLMError`."""

    config_model: ClassVar[type[NoLLMConfig]] = NoLLMConfig
    config: NoLLMConfig

    def __init__(self, config: NoLLMConfig | None = None) -> None:
        super().__init__(config or NoLLMConfig())

    def extract(self, messages: list[dict[str, str]], response_model: type[T]) -> T:
        """Raise: there is no model to ask.

        Raises:
            NoLLMError: always.
        """
        raise NoLLMError(wanted=response_model.__name__)


class _EndpointConfig(LLMConfig):
    """Knobs shared by the OpenAI-compatible endpoints."""

    model: str = Field(min_length=1, description="Model name as the endpoint knows it.")
    temperature: float | None = Field(
        0.0, ge=0.0, le=2.0, description="Sampling temperature; null: the endpoint's default."
    )
    max_tokens: int | None = Field(
        None, ge=1, description="Most tokens per answer; null: the endpoint's default."
    )
    max_retries: int = Field(
        2, ge=0, le=10, description="Re-asks after an answer fails validation (instructor)."
    )
    http_retries: int = Field(
        2, ge=0, le=10, description="Retries of failed requests (timeouts, 429, 5xx)."
    )
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for one answer.")

    @model_validator(mode="after")
    def _env_name(self) -> Self:
        # A model-level check on purpose: a field error would carry the value, and error
        # text that echoes it would print a key pasted here by mistake.
        name = getattr(self, "api_key_env", None)
        if name is not None and not _ENV_NAME.match(name):
            raise ValueError(
                "api_key_env must be the NAME of an environment variable (letters, digits, "
                "_), not the key itself"
            )
        return self


class OpenAILLMConfig(_EndpointConfig):
    """An OpenAI-compatible chat endpoint through instructor.

    Example:
        >>> OpenAILLMConfig(model="gpt-4o-mini")
        OpenAILLMConfig(type='openai', model='gpt-4o-mini', ..., base_url=None,
                        api_key_env='OPENAI_API_KEY', mode='tools')
        >>> OpenAILLMConfig(model="qwen2.5-7b", base_url="http://gpu:8000/v1", api_key_env=None)
        OpenAILLMConfig(type='openai', model='qwen2.5-7b', ...)
    """

    type: Literal["openai"] = "openai"
    base_url: str | None = Field(
        None, description="Endpoint URL ending in /v1; null: OpenAI's own API."
    )
    api_key_env: str | None = Field(
        "OPENAI_API_KEY",
        description="Name of the environment variable holding the API key; null: no key.",
    )
    mode: Literal["tools", "json", "json_schema", "md_json"] = Field(
        "tools", description="How structured output is requested (instructor mode)."
    )


class OllamaLLMConfig(_EndpointConfig):
    """A local Ollama server through its OpenAI-compatible API.

    Example:
        >>> OllamaLLMConfig(model="llama3.2")
        OllamaLLMConfig(type='ollama', model='llama3.2', ..., base_url='http://localhost:11434/v1',
                        api_key_env=None, mode='json')
    """

    type: Literal["ollama"] = "ollama"
    base_url: str = Field(
        "http://localhost:11434/v1", description="Ollama's OpenAI-compatible endpoint."
    )
    api_key_env: str | None = Field(
        None, description="Environment variable with a key, for a proxied Ollama; null: none."
    )
    mode: Literal["tools", "json", "json_schema", "md_json"] = Field(
        "json", description="How structured output is requested; json works with any model."
    )


def _display_url(url: str) -> str:
    """Return ``url`` without credentials or query, fit for error text."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _plain(answer: BaseModel, response_model: type[T]) -> T:
    """Return ``answer`` as an instance of exactly ``response_model``.

    instructor answers with an instance of a subclass it derives from the model, carrying
    the raw completion; such an object never equals one built from ``response_model``.
    The values were validated already, so they are copied over without validating again.
    """
    if type(answer) is response_model:
        return answer  # type: ignore[return-value]
    values = {name: getattr(answer, name) for name in response_model.model_fields}
    values.update(answer.__pydantic_extra__ or {})
    plain = response_model.model_construct(_fields_set=answer.model_fields_set, **values)
    if answer.__pydantic_private__ is not None:
        object.__setattr__(plain, "__pydantic_private__", dict(answer.__pydantic_private__))
    return plain


class _InstructorLLM(LLM):
    """An instructor client over ``openai.OpenAI``; subclasses set the config model."""

    config: OpenAILLMConfig | OllamaLLMConfig
    default_key: ClassVar[str] = "none"

    def __init__(
        self, config: OpenAILLMConfig | OllamaLLMConfig, *, http_client: Any = None
    ) -> None:
        """Keep the config; nothing is imported or opened.

        Args:
            config: the endpoint configuration.
            http_client: an ``httpx2.Client`` to send requests through (tests, proxies).
        """
        super().__init__(config)
        self._http_client = http_client
        self._client: instructor.Instructor | None = None
        self._key = ""

    @property
    def endpoint(self) -> str:
        """The endpoint URL, without credentials (safe to show)."""
        return _display_url(self.config.base_url or _OPENAI_URL)

    def _where(self) -> str:
        return f"{self.config.type} LLM {self.config.model!r} at {self.endpoint}"

    def _api_key(self) -> str:
        name = self.config.api_key_env
        if name is None:
            return self.default_key
        key = os.environ.get(name, "")
        if not key:
            raise LLMError(
                f"{self._where()}: environment variable {name} is not set; export the API "
                f"key there (keys never go in pipeline YAML), or set api_key_env: null "
                f"for an endpoint without keys"
            )
        return key

    def open(self, resources: Resources | None = None) -> None:
        """Create the client (no request is sent).

        Args:
            resources: unused; LLMs need nothing else.

        Raises:
            LLMError: if the API key's environment variable is unset.
            PluginError: if instructor or openai is not installed.
        """
        super().open(resources)
        self._key = self._api_key()
        try:
            import instructor
            import openai
        except ImportError as err:
            raise PluginError(f"llm {self.config.type!r} needs {err.name}: {_PIP_HINT}") from err
        raw = openai.OpenAI(
            api_key=self._key,
            base_url=self.config.base_url or _OPENAI_URL,
            timeout=self.config.timeout,
            max_retries=self.config.http_retries,
            http_client=self._http_client,
        )
        mode = {
            "tools": instructor.Mode.TOOLS,
            "json": instructor.Mode.JSON,
            "json_schema": instructor.Mode.JSON_SCHEMA,
            "md_json": instructor.Mode.MD_JSON,
        }[self.config.mode]
        # instructor logs every failed attempt at ERROR; with no logging configured Python
        # would print those to stderr beside the LLMError that already says it all. An
        # application that configures logging still receives them.
        logging.getLogger("instructor").addHandler(logging.NullHandler())
        client = instructor.from_openai(raw, mode=mode)
        client.on("completion:response", self._count)
        self._client = client

    def close(self) -> None:
        """Drop the client."""
        self._client = None

    def _count(self, response: Any) -> None:
        """Count one answered request and its tokens (called by instructor per attempt)."""
        self.usage.calls += 1
        usage = getattr(response, "usage", None)
        self.usage.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        self.usage.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)

    def extract(self, messages: list[dict[str, str]], response_model: type[T]) -> T:
        """Ask the model and return its answer validated as ``response_model``.

        Invalid answers are re-asked up to ``max_retries`` times with the validation
        error; ``usage`` counts every request, re-asks included.

        Args:
            messages: chat messages, ``[{"role": "user", "content": "..."}]``.
            response_model: the pydantic model the answer must validate against.

        Returns:
            The validated answer.

        Raises:
            LLMConnectionError: the endpoint could not be reached or timed out.
            LLMOutputError: no answer validated within the retries.
            LLMError: any other failure (HTTP status, bad request, authentication).
        """
        if self._client is None:
            raise EvolveLabError(f"{type(self).__name__}.extract() called before open()")
        options: dict[str, Any] = {"model": self.config.model}
        if self.config.temperature is not None:
            options["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            options["max_tokens"] = self.config.max_tokens
        start = time.perf_counter()
        try:
            answer = self._client.chat.completions.create(
                messages=messages,  # type: ignore[arg-type]
                response_model=response_model,
                max_retries=self.config.max_retries,
                **options,
            )
            return _plain(answer, response_model)
        except Exception as err:  # noqa: BLE001 - translated below, chained
            raise self._translate(err, response_model) from err
        finally:
            self.usage.seconds += time.perf_counter() - start

    def _translate(self, err: Exception, response_model: type[BaseModel]) -> EvolveLabError:
        """Map an instructor/openai exception to an :class:`LLMError` without secrets."""
        import openai
        from instructor.core.exceptions import InstructorRetryException

        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, openai.OpenAIError):
            cause = cause.__cause__
        where = self._where()
        if isinstance(cause, openai.APIConnectionError):
            kind = "timed out" if isinstance(cause, openai.APITimeoutError) else "unreachable"
            return LLMConnectionError(f"{where}: endpoint {kind}: {self._clean(cause)}")
        if isinstance(cause, openai.APIStatusError):
            return LLMError(f"{where}: HTTP {cause.status_code}: {self._clean(cause)}")
        if cause is not None:
            return LLMError(f"{where}: {type(cause).__name__}: {self._clean(cause)}")
        if isinstance(err, InstructorRetryException):
            attempts = getattr(err, "failed_attempts", None) or []
            last = getattr(attempts[-1], "exception", None) if attempts else None
            return LLMOutputError(
                f"{where}: no answer validated as {response_model.__name__} after "
                f"{err.n_attempts} attempt(s); the last one: {self._clean(last or err)}"
            )
        return LLMError(f"{where}: {type(err).__name__}: {self._clean(err)}")

    def _clean(self, err: BaseException) -> str:
        """Return the error text, shortened, with the API key masked out."""
        text = " ".join(_DOCS_LINK.sub("", str(err)).split())
        if self._key and self._key != self.default_key:
            text = text.replace(self._key, "***")
        return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


class OpenAILLM(_InstructorLLM):
    """Structured output from an OpenAI-compatible endpoint.

    Example:
        The key comes from the environment variable ``api_key_env`` names, read when the
        client is made (never from the pipeline YAML):

        >>> config = OpenAILLMConfig(model="gpt-4o-mini", api_key_env="NO_SUCH_KEY")
        >>> OpenAILLM(config).open()
        Traceback (most recent call last):
            ...
        evolvelab.llm.LLMError: openai LLM ...: environment variable NO_SUCH_KEY is not set; ...

        With the key exported, ``open`` creates the client (no request is sent) and
        ``extract`` returns an instance of the pydantic model asked for::

            llm = OpenAILLM(OpenAILLMConfig(model="gpt-4o-mini"))
            llm.open()                      # reads $OPENAI_API_KEY
            facts = llm.extract([{"role": "user", "content": "..."}], ExtractedFacts)
    """

    config_model: ClassVar[type[OpenAILLMConfig]] = OpenAILLMConfig
    config: OpenAILLMConfig


class OllamaLLM(_InstructorLLM):
    """Structured output from a local Ollama model (no key needed).

    Example:
        >>> from evolvelab.modules.encode.fact import ExtractedFacts
        >>> llm = OllamaLLM(OllamaLLMConfig(model="llama3.2"))
        >>> llm.open()                      # no key needed; no request is sent
        >>> llm.endpoint
        'http://localhost:11434/v1'

        A server that is not there is an :class:`LLMConnectionError` naming the endpoint:

        >>> down = OllamaLLMConfig(model="llama3.2", base_url="http://127.0.0.1:9/v1",
        ...                        http_retries=0, timeout=2.0)
        >>> llm = OllamaLLM(down)
        >>> llm.open()
        >>> llm.extract([{"role": "user", "content": "Ana moved to Lisbon."}], ExtractedFacts)
        Traceback (most recent call last):
            ...
        evolvelab.llm.LLMConnectionError: ollama LLM 'llama3.2' at http://127.0.0.1:9/v1: ...
    """

    config_model: ClassVar[type[OllamaLLMConfig]] = OllamaLLMConfig
    config: OllamaLLMConfig
    default_key: ClassVar[str] = "ollama"
