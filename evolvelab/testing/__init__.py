"""Test helpers for EvolveLab users and plugin authors.

- :class:`FakeLLM`: queue pydantic answers, get them back in order; fails loudly on a
  mismatch or an empty queue. Pass it as ``Memory.from_yaml(path, llm=FakeLLM())``.
- :class:`HashingEmbedder` (also as ``FakeEmbedder``): deterministic vectors, no model.
- :class:`StoreContract` and the suite of each capability (``ScanContract``,
  ``VectorSearchContract``, ``TextSearchContract``, ``GraphLinksContract``,
  ``DurableStoreContract``; all in ``evolvelab.testing.contracts``): the shared test
  suites every store passes; subclass those your store offers and provide a ``store``
  fixture.
"""

from __future__ import annotations

from typing import Any

from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.testing.fake_llm import FakeLLM, FakeLLMConfig, FakeLLMError

FakeEmbedder = HashingEmbedder

_SUITES = (
    "DurableStoreContract", "GraphLinksContract", "ScanContract", "StoreContract",
    "TextSearchContract", "VectorSearchContract",
)  # fmt: skip

__all__ = [
    "FakeEmbedder",
    "FakeLLM",
    "FakeLLMConfig",
    "FakeLLMError",
    "HashingEmbedder",
    "HashingEmbedderConfig",
    *_SUITES,
]


def __getattr__(name: str) -> Any:  # the contract suites import pytest: load them on demand
    if name in _SUITES:
        from evolvelab.testing import contracts

        return getattr(contracts, name)
    raise AttributeError(f"module 'evolvelab.testing' has no attribute {name!r}")
