"""Test helpers for EvolveLab users and plugin authors.

- :class:`FakeLLM`: queue pydantic answers, get them back in order; fails loudly on a
  mismatch or an empty queue. Pass it as ``Memory.from_yaml(path, llm=FakeLLM())``.
- :class:`HashingEmbedder` (also as ``FakeEmbedder``): deterministic vectors, no model.
- :class:`StoreContract` (``evolvelab.testing.contracts``): the shared test suite every
  store passes; subclass it and provide a ``store`` fixture.
"""

from __future__ import annotations

from typing import Any

from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.testing.fake_llm import FakeLLM, FakeLLMConfig, FakeLLMError

FakeEmbedder = HashingEmbedder

__all__ = [
    "FakeEmbedder",
    "FakeLLM",
    "FakeLLMConfig",
    "FakeLLMError",
    "HashingEmbedder",
    "HashingEmbedderConfig",
    "StoreContract",
]


def __getattr__(name: str) -> Any:  # the contract suite imports pytest: load it on demand
    if name == "StoreContract":
        from evolvelab.testing.contracts import StoreContract

        return StoreContract
    raise AttributeError(f"module 'evolvelab.testing' has no attribute {name!r}")
