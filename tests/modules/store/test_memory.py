"""The in-memory store: the store contract plus BM25 details."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evolvelab.modules.store.memory import MemoryStore, MemoryStoreConfig, tokenize
from evolvelab.stages import GraphLinks, Scannable, TextSearch, VectorSearch
from evolvelab.testing.contracts import (
    GraphLinksContract,
    ScanContract,
    TextSearchContract,
    VectorSearchContract,
    make_note,
    store_resources,
)
from evolvelab.types import Scope, Where

ALICE = Scope(user_id="alice")


@pytest.fixture
def memory_store(tmp_path: Path) -> MemoryStore:
    store = MemoryStore(MemoryStoreConfig())
    store.open(store_resources(store, tmp_path))
    return store


class TestMemoryStore(ScanContract, VectorSearchContract, TextSearchContract, GraphLinksContract):
    @pytest.fixture
    def store(self, memory_store: MemoryStore) -> MemoryStore:
        return memory_store


def test_offers_every_capability(memory_store: MemoryStore) -> None:
    for capability in (VectorSearch, TextSearch, Scannable, GraphLinks):
        assert isinstance(memory_store, capability)


def test_tokens_are_lower_cased_alphanumeric_runs() -> None:
    words = ["hello", "world", "snake", "case", "café", "42"]
    assert tokenize("Hello, WORLD! snake_case café-42") == words


def test_bm25_score_matches_the_formula(memory_store: MemoryStore) -> None:
    docs = {"a": "apple banana apple", "b": "banana cherry", "c": "cherry date fig grape"}
    memory_store.add([make_note(i, text) for i, text in docs.items()])
    [hit] = [h for h in memory_store.search_text("apple", 3, ALICE, Where()) if h.note.id == "a"]
    n, df, tf, dl, avgdl = 3, 1, 2, 3, (3 + 2 + 4) / 3
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    expected = idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))
    assert hit.score == pytest.approx(expected)


def test_config_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError):
        MemoryStoreConfig(type="memory", k1=1.0)  # type: ignore[call-arg]
