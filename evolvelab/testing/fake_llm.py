"""A scripted LLM for tests: queue the answers, get them back in order, fail loudly.

Example:
    >>> from pydantic import BaseModel
    >>> class Keywords(BaseModel):
    ...     words: list[str]
    >>> llm = FakeLLM().queue(Keywords(words=["hiking"]))
    >>> llm.extract([{"role": "user", "content": "Keywords of: I went hiking"}], Keywords)
    Keywords(words=['hiking'])
    >>> llm.assert_empty()
    >>> llm.extract([{"role": "user", "content": "Keywords of: I went sailing"}], Keywords)
    Traceback (most recent call last):
        ...
    evolvelab.testing.fake_llm.FakeLLMError: FakeLLM: call #2 asked for Keywords but nothing is queued ...
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import ClassVar, Literal, TypeVar

from pydantic import BaseModel

from evolvelab.config import LLMConfig
from evolvelab.stages import LLM

__all__ = ["Answer", "FakeLLM", "FakeLLMConfig", "FakeLLMError"]

T = TypeVar("T", bound=BaseModel)
Messages = list[dict[str, str]]
Answer = BaseModel | Callable[[Messages, type[BaseModel]], BaseModel]
"""A canned answer: an instance, or ``(messages, response_model) -> instance``."""


class FakeLLMError(AssertionError):
    """The test's script and the code under test disagree (a test failure, not an app error)."""


class FakeLLMConfig(LLMConfig):
    """Configuration of :class:`FakeLLM` (nothing to set; not a registered plugin).

    Example:
        >>> FakeLLMConfig()
        FakeLLMConfig(type='fake')
    """

    type: Literal["fake"] = "fake"


def _words(text: str) -> int:
    return len(text.split())


def _preview(messages: Messages, limit: int = 120) -> str:
    last = messages[-1].get("content", "") if messages else ""
    text = " ".join(str(last).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FakeLLM(LLM):
    """Answer ``extract`` calls from a queue of canned answers, recording every request.

    ``queue`` answers are used first, in order. ``always(model, answer)`` gives a standing
    answer for a response model, used whenever the queue is empty. A request nothing can
    answer, or a queued answer of the wrong type, raises :class:`FakeLLMError`.

    Attributes:
        calls: every request, as ``(messages, response_model)``.
        usage: calls and token counts (tokens estimated as whitespace-separated words).
    """

    config_model: ClassVar[type[FakeLLMConfig]] = FakeLLMConfig
    config: FakeLLMConfig

    def __init__(self, config: FakeLLMConfig | None = None) -> None:
        super().__init__(config or FakeLLMConfig())
        self._queue: deque[Answer] = deque()
        self._always: dict[type[BaseModel], Answer] = {}
        self.calls: list[tuple[Messages, type[BaseModel]]] = []

    def queue(self, *answers: Answer) -> FakeLLM:
        """Append answers to the queue.

        Args:
            answers: pydantic instances, or callables ``(messages, response_model)``
                returning one.

        Returns:
            This FakeLLM, for chaining.

        Raises:
            FakeLLMError: if an answer is neither a pydantic instance nor callable.
        """
        for answer in answers:
            self._check_answer(answer)
            self._queue.append(answer)
        return self

    def always(self, response_model: type[BaseModel], answer: Answer) -> FakeLLM:
        """Answer every request for ``response_model`` with ``answer`` once the queue is empty.

        Args:
            response_model: the model the standing answer is for.
            answer: an instance (returned as a copy each time) or a callable.

        Returns:
            This FakeLLM, for chaining.
        """
        self._check_answer(answer)
        self._always[response_model] = answer
        return self

    @property
    def pending(self) -> int:
        """How many queued answers are left."""
        return len(self._queue)

    def extract(self, messages: Messages, response_model: type[T]) -> T:
        """Return the next canned answer for this request.

        Args:
            messages: the chat messages (recorded in ``calls``).
            response_model: the model the caller expects.

        Returns:
            The answer, checked to be an instance of ``response_model``.

        Raises:
            FakeLLMError: when nothing is queued for the request or the answer's type differs.
        """
        self.calls.append(([dict(m) for m in messages], response_model))
        n = len(self.calls)
        if self._queue:
            answer = self._queue.popleft()
            source = "queued answer"
        elif response_model in self._always:
            answer = self._always[response_model]
            source = f"always({response_model.__name__}) answer"
        else:
            raise FakeLLMError(
                f"FakeLLM: call #{n} asked for {response_model.__name__} but nothing is "
                f"queued (messages end with: {_preview(messages)!r}); "
                f"queue it with llm.queue({response_model.__name__}(...))"
            )
        if callable(answer):
            result = answer(messages, response_model)
        elif source == "queued answer":
            result = answer
        else:
            result = answer.model_copy(deep=True)
        if not isinstance(result, response_model):
            raise FakeLLMError(
                f"FakeLLM: call #{n} asked for {response_model.__name__} but the {source} "
                f"is a {type(result).__name__} ({self.pending} left in the queue; "
                f"messages end with: {_preview(messages)!r})"
            )
        self.usage.calls += 1
        self.usage.prompt_tokens += sum(_words(str(m.get("content", ""))) for m in messages)
        self.usage.completion_tokens += _words(result.model_dump_json())
        return result

    def assert_empty(self) -> None:
        """Check that every queued answer was used.

        Raises:
            FakeLLMError: listing the unused answers' types.
        """
        if self._queue:
            left = ", ".join(_name(a) for a in self._queue)
            raise FakeLLMError(
                f"FakeLLM: {len(self._queue)} queued answer(s) never asked for: {left} "
                f"({len(self.calls)} call(s) made)"
            )

    @staticmethod
    def _check_answer(answer: object) -> None:
        if isinstance(answer, type):
            raise FakeLLMError(
                f"FakeLLM: queue an instance, not the class {answer.__name__}; "
                f"e.g. {answer.__name__}(...)"
            )
        if not isinstance(answer, BaseModel) and not callable(answer):
            raise FakeLLMError(
                f"FakeLLM answers are pydantic instances or callables, got "
                f"{type(answer).__name__}"
            )


def _name(answer: Answer) -> str:
    if isinstance(answer, BaseModel):
        return type(answer).__name__
    return getattr(answer, "__name__", "callable")
