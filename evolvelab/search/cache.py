"""Embeddings cached across trials, processes and runs, keyed by (model id, text).

Every trial builds a fresh memory, but the texts it embeds (turns, questions) are the same
from one trial to the next. :class:`CachedEmbedder` wraps the pipeline's embedder: a vector
is looked up in memory, then in a SQLite file shared by every worker process and every
resumed run (``OUT/embeddings.sqlite``), and only then computed. So a trial costs
retrieval, not re-embedding. The wrapped model is opened once and kept open across trials.

Vectors of different model ids never mix: ``max_length`` changes MiniLM's id, and the
``hashing`` embedder's id carries its dimension.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from evolvelab.config import EmbedderConfig
from evolvelab.stages import Embedder, Resources

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CachedEmbedder", "EmbeddingCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL,
    digest BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, digest)
) WITHOUT ROWID
"""


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """A SQLite file of vectors keyed by (model id, text digest); safe across processes.

    Args:
        path: the SQLite file (created if missing); ``None`` keeps vectors in memory only.

    Attributes:
        hits: vectors served from memory or the file.
        misses: vectors that had to be computed.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.hits = 0
        self.misses = 0
        self._memory: dict[tuple[str, bytes], Any] = {}
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        db = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            self._local.db = db
        return db

    def get(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the cached vectors of ``texts`` under ``model`` (missing ones left out)."""
        import numpy as np

        found: dict[str, np.ndarray] = {}
        wanted: dict[bytes, str] = {}
        for text in dict.fromkeys(texts):
            digest = _digest(text)
            vector = self._memory.get((model, digest))
            if vector is not None:
                found[text] = vector
            else:
                wanted[digest] = text
        db = self._db()
        if db is not None and wanted:
            keys = list(wanted)
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT digest, vector FROM vectors WHERE model = ? AND digest IN ({marks})",
                    (model, *chunk),
                ).fetchall()
                for digest, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    self._memory[(model, digest)] = vector
                    found[wanted[digest]] = vector
        return found

    def put(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        """Remember ``vectors`` (text → vector) under ``model``, in memory and in the file."""
        import numpy as np

        rows = []
        for text, vector in vectors.items():
            digest = _digest(text)
            stored = np.ascontiguousarray(vector, dtype=np.float32)
            self._memory[(model, digest)] = stored
            rows.append((model, digest, stored.tobytes()))
        db = self._db()
        if db is not None and rows:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close this thread's connection to the file."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class CachedEmbedder(Embedder):
    """Serve vectors from an :class:`EmbeddingCache`, computing only the missing ones.

    ``close()`` (called when a trial's memory closes) keeps the wrapped model loaded for
    the next trial; :meth:`release` closes it for good. With ``cache=None`` nothing is
    cached and only the model is kept: what selection uses to time every finalist alike.

    Example:
        >>> import shutil, tempfile
        >>> from pathlib import Path
        >>> from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
        >>> path = Path(tempfile.mkdtemp()) / "embeddings.sqlite"
        >>> cache = EmbeddingCache(path)
        >>> embedder = CachedEmbedder(HashingEmbedder(HashingEmbedderConfig(dim=64)), cache)
        >>> embedder.embed(["I adopted a cat.", "The train was late."]).shape
        (2, 64)
        >>> embedder.embed(["I adopted a cat.", "Miso is grey."]).shape    # one text is new
        (2, 64)
        >>> cache.hits, cache.misses
        (1, 3)
        >>> embedder.release(); cache.close()
        >>> again = EmbeddingCache(path)        # another worker, or a resumed run
        >>> sorted(again.get(embedder.model_id, ["I adopted a cat.", "Not seen yet."]))
        ['I adopted a cat.']
        >>> again.close(); shutil.rmtree(path.parent)

        A trial hands it to its memory: ``Memory(spec, embedder=embedder, data_dir=folder)``.
    """

    config_model: ClassVar[type[EmbedderConfig]] = EmbedderConfig

    def __init__(self, inner: Embedder, cache: EmbeddingCache | None) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.cache = cache
        self._opened = False

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def open(self, resources: Resources | None = None) -> None:
        """Open the wrapped embedder the first time only."""
        super().open(resources)
        if not self._opened:
            self.inner.open(resources)
            self._opened = True

    def close(self) -> None:
        """Keep the wrapped model for the next trial (see :meth:`release`)."""

    def release(self) -> None:
        """Close the wrapped embedder."""
        if self._opened:
            self.inner.close()
            self._opened = False

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return the vectors of ``texts``, computing only those not cached."""
        import numpy as np

        if self.cache is None:  # kept open, never cached: every call pays for its texts
            self.open(None)
            return self.inner.embed(texts)
        found = self.cache.get(self.model_id, texts)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        self.cache.hits += sum(1 for t in texts if t in found)
        if missing:
            self.open(None)
            vectors = self.inner.embed(missing)
            fresh = dict(zip(missing, vectors, strict=True))
            self.cache.put(self.model_id, fresh)
            found.update(fresh)
            self.cache.misses += len(missing)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = found[text]
        return out
