"""The embedding cache: computed once, shared through the SQLite file, keyed by model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.search.cache import CachedEmbedder, EmbeddingCache


class CountingEmbedder(HashingEmbedder):
    """A hashing embedder that counts the texts it really embeds."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__(HashingEmbedderConfig(dim=dim))
        self.embedded: list[str] = []

    def embed(self, texts):
        self.embedded += list(texts)
        return super().embed(texts)


def test_vectors_are_computed_once_and_shared_through_the_file(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    first = CachedEmbedder(inner, EmbeddingCache(tmp_path / "e.sqlite"))
    first.open(None)
    vectors = first.embed(["a cat", "a dog", "a cat"])
    assert inner.embedded == ["a cat", "a dog"]
    np.testing.assert_allclose(
        vectors, HashingEmbedder(HashingEmbedderConfig(dim=32)).embed(["a cat", "a dog", "a cat"])
    )
    first.close()  # a trial's memory closing keeps the model for the next trial
    assert first.embed(["a dog"]).shape == (1, 32) and inner.embedded == ["a cat", "a dog"]
    other = CountingEmbedder()  # another process: same file, nothing in memory
    again = CachedEmbedder(other, EmbeddingCache(tmp_path / "e.sqlite"))
    np.testing.assert_array_equal(
        again.embed(["a cat", "a bird"]), first.embed(["a cat", "a bird"])
    )
    assert other.embedded == ["a bird"] and again.cache.hits == 1 and again.cache.misses == 1


def test_models_never_share_vectors(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    small, large = CountingEmbedder(16), CountingEmbedder(32)
    CachedEmbedder(small, cache).embed(["same text"])
    assert CachedEmbedder(large, cache).embed(["same text"]).shape == (1, 32)
    assert large.embedded == ["same text"]
