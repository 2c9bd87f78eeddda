"""Embedders: texts to L2-normalised float32 vectors.

``minilm`` (the default) runs all-MiniLM-L6-v2 as an int8 ONNX model on onnxruntime: no
torch, no download; the model and tokenizer come from installed packages. ``hashing`` is
a deterministic bag-of-words hash for tests: no model at all, same text, same vector.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from evolvelab.config import EmbedderConfig
from evolvelab.stages import Embedder

if TYPE_CHECKING:
    import numpy as np

__all__ = ["HashingEmbedder", "HashingEmbedderConfig"]

_TOKEN = re.compile(r"[a-z0-9]+")


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
