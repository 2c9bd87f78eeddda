"""``type: lancedb``: notes, vectors and full text in an embedded LanceDB table.

One table per store: one row per note, keyed by owner and id. Vector search is exact
(flat) until the table holds ``index_threshold`` rows, then an IVF-RQ index (cosine,
4-bit) answers with a refine step. Full text uses LanceDB's native BM25 index; rows added
since its last update are searched without the index, so notes are findable as soon as
``add`` returns, and the index is brought up to date every ``reindex_rows`` rows.

Scope is enforced here, on every read and delete, through hashed key columns (see
:mod:`evolvelab.modules.store.lancedb_schema`). lancedb and pyarrow are imported in
``open()``, never when this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import StoreConfig, Tunable
from evolvelab.errors import EvolveLabError
from evolvelab.modules.store import lancedb_schema as rows
from evolvelab.stages import Resources, Store, TextField
from evolvelab.types import Hit, Note, Scope, Where

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LanceDBStore", "LanceDBStoreConfig"]


class LanceDBStoreConfig(StoreConfig):
    """Keep notes in a LanceDB table (a directory on disk, or ``s3://…``).

    Example:
        ```yaml
        store:
          type: lancedb
          path: .evolvelab/zettelkasten     # default: <data dir>/lancedb
          table: notes
          index_threshold: 20000            # rows before an ANN index is built
        ```
    """

    type: Literal["lancedb"] = "lancedb"
    path: str | None = Field(
        None, description="Database directory or URI; default: `<data dir>/lancedb`."
    )
    table: str = Field(
        "notes",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
        description="Table name inside the database.",
    )
    fts_stem: bool = Field(True, description="Stem words in the full-text index.")
    fts_remove_stop_words: bool = Field(
        True, description="Leave stop words out of the full-text index."
    )
    fts_ascii_folding: bool = Field(
        True, description="Fold accented letters to ASCII in the full-text index."
    )
    fts_with_position: bool = Field(
        False, description="Keep word positions (needed only for phrase queries)."
    )
    fts_language: str = Field("English", description="Language for stemming and stop words.")
    reindex_rows: int = Field(
        2048,
        ge=1,
        description="Rows added since the last index update that trigger an update "
        "(optimize); until then new rows are searched without the index.",
    )
    fts_fresh: bool = Field(
        True,
        description="Fold rows added since the last index update into the full-text index "
        "before a text search. LanceDB scores unindexed rows against other corpus statistics "
        "than indexed ones, so without this the same note can score differently depending on "
        "when the index was last updated.",
    )
    reindex_writes: int = Field(
        16,
        ge=1,
        description="Writes (add calls) since the last index update that trigger an update: "
        "each write is a new data file, and searches slow down as files pile up.",
    )
    keep_versions_minutes: float = Field(
        60.0,
        ge=0.0,
        description="Index updates also delete table versions older than this; 0 keeps "
        "only the latest (safe only when no other process reads the table).",
    )
    index_threshold: int = Field(
        20_000, ge=1, description="Rows before an ANN vector index is built; exact below."
    )
    num_partitions: int | None = Field(
        None, ge=1, description="IVF partitions of the ANN index; default: LanceDB's choice."
    )
    nprobes: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, description="IVF partitions searched at least, per vector query."
    )
    refine_factor: Annotated[int, Tunable(1, 20, log=True)] = Field(
        5, ge=1, description="Re-rank k × this many ANN candidates with exact distances."
    )


class LanceDBStore(Store):
    """Notes in LanceDB: vector search, BM25 full-text search and scanning."""

    config_model: ClassVar[type[LanceDBStoreConfig]] = LanceDBStoreConfig
    config: LanceDBStoreConfig

    def __init__(self, config: LanceDBStoreConfig) -> None:
        super().__init__(config)
        self._table: Any = None
        self._text_indexes: set[str] = set()
        self._schema: Any = None
        self._vector_index = False
        self._pending = 0
        self._writes = 0

    # ------------------------------------------------------------------ lifecycle

    def open(self, resources: Resources) -> None:
        """Connect to the database, and create the table or check it fits the embedder.

        Raises:
            EvolveLabError: if the table was built with another embedder or dimension,
                or the database cannot be opened.
        """
        super().open(resources)
        import lancedb

        embedder = resources.embedder
        path = self.config.path or str(Path(resources.data_dir) / "lancedb")
        self._schema = rows.schema(embedder.dim, embedder.model_id)
        try:
            db = lancedb.connect(path)
            try:
                self._table = db.open_table(self.config.table)
            except ValueError:  # not found: a new table
                self._table = db.create_table(self.config.table, schema=self._schema)
            else:
                self._check_embedder(path)
            self._ensure_text_index()
            self._vector_index = self._index_on(rows.VECTOR) is not None
            text_index = self._index_on(rows.SEARCH_TEXT)
            stats = self._table.index_stats(text_index.name)
            self._pending = stats.num_unindexed_rows if stats else 0
        except EvolveLabError:
            raise
        except Exception as err:
            raise EvolveLabError(
                f"cannot open LanceDB table {self.config.table!r} at {path}: {err}"
            ) from err

    def close(self) -> None:
        """Drop the table handle (safe to call twice)."""
        self._table = None
        self._text_indexes = set()

    # ------------------------------------------------------------------ Store

    def add(self, notes: Sequence[Note]) -> None:
        """Insert or replace ``notes`` by (owner, id); durable and searchable on return.

        Args:
            notes: the notes; those without an embedding are embedded here.

        Raises:
            EvolveLabError: if an embedding has the wrong dimension.
        """
        if not notes:
            return
        table = rows.notes_to_table(self._embedded(notes), self._schema)
        tbl = self._open_table()
        merge = tbl.merge_insert("_key").when_matched_update_all().when_not_matched_insert_all()
        merge.execute(table)
        self._pending += table.num_rows
        self._writes += 1
        self._maintain()

    def get(self, ids: Sequence[str], scope: Scope) -> list[Note]:
        """Return the notes with these ids in ``scope``, in the order asked.

        Args:
            ids: note ids; unknown ids and ids outside ``scope`` are skipped.
            scope: whose notes to read.

        Returns:
            The notes found.
        """
        if not ids:
            return []
        found = {note.id: note for note in self._select(rows.key_filter(ids, scope))}
        return [found[id] for id in dict.fromkeys(ids) if id in found]

    def delete(self, ids: Sequence[str], scope: Scope) -> int:
        """Delete the notes with these ids in ``scope``.

        Args:
            ids: note ids to delete.
            scope: whose notes to delete.

        Returns:
            How many notes were deleted.
        """
        if not ids:
            return 0
        result = self._open_table().delete(rows.key_filter(ids, scope))
        return int(result.num_deleted_rows)

    def count(self, scope: Scope) -> int:
        """Return how many notes ``scope`` holds, valid or not."""
        return int(self._open_table().count_rows(rows.scope_filter(scope)))

    # ------------------------------------------------------------------ capabilities

    def scan(self, scope: Scope, where: Where) -> Iterator[Note]:
        """Yield every note in ``scope`` passing ``where`` (streamed in batches)."""
        query = self._open_table().search().where(rows.where_filter(scope, where)).limit(None)
        for batch in query.to_batches(1024):
            for row in batch.to_pylist():
                yield rows.row_to_note(row)

    def search_vectors(
        self, vector: Sequence[float] | np.ndarray, k: int, scope: Scope, where: Where
    ) -> list[Hit]:
        """Return the ``k`` notes most cosine-similar to ``vector``, best first.

        Filters are applied before the nearest-neighbour search (prefilter).

        Args:
            vector: the query vector.
            k: how many hits at most.
            scope: whose notes to search.
            where: filters applied before ranking.

        Returns:
            Hits on channel ``vector``; ``score`` is cosine similarity (1 - distance).

        Raises:
            EvolveLabError: if ``vector`` has the wrong dimension.
        """
        query_vector = self.resources.query_vector(vector)
        query = (
            self._open_table()
            .search(query_vector, vector_column_name=rows.VECTOR)
            .distance_type("cosine")
            .where(rows.where_filter(scope, where), prefilter=True)
            .limit(k)
        )
        if self._vector_index:
            query = query.minimum_nprobes(self.config.nprobes).maximum_nprobes(0)
            query = query.refine_factor(self.config.refine_factor)
        return [
            Hit(note=rows.row_to_note(row), score=1.0 - float(row["_distance"]), channel="vector")
            for row in query.to_arrow().to_pylist()
        ]

    def search_text(
        self, text: str, k: int, scope: Scope, where: Where, field: TextField = "index"
    ) -> list[Hit]:
        """Return the ``k`` best BM25 matches for ``text``, best first.

        The query's words are OR-ed; query syntax (quotes, operators, fields) is read as
        plain words. Filters are applied before ranking (prefilter). The ``content``
        field gets its own full-text index the first time it is searched.

        Args:
            text: the query.
            k: how many hits at most.
            scope: whose notes to search.
            where: filters applied before ranking.
            field: ``index`` searches each note's ``search_text``, ``content`` its content.

        Returns:
            Hits on channel ``bm25``; ``score`` is LanceDB's BM25 score.
        """
        from lancedb.query import MatchQuery

        if not any(char.isalnum() for char in text):
            return []
        table = self._open_table()
        if self.config.fts_fresh and self._pending:
            self._optimize()
        column = rows.CONTENT if field == "content" else rows.SEARCH_TEXT
        if column not in self._text_indexes:
            self._ensure_text_index(column)
        query = (
            table.search(MatchQuery(text, column), query_type="fts")
            .where(rows.where_filter(scope, where), prefilter=True)
            .limit(k)
        )
        return [
            Hit(note=rows.row_to_note(row), score=float(row["_score"]), channel="bm25")
            for row in query.to_arrow().to_pylist()
        ]

    # ------------------------------------------------------------------ internals

    def _open_table(self) -> Any:
        if self._table is None:
            raise EvolveLabError("LanceDBStore used before open() or after close()")
        return self._table

    def _select(self, sql: str) -> list[Note]:
        query = self._open_table().search().where(sql).limit(None)
        return [rows.row_to_note(row) for row in query.to_arrow().to_pylist()]

    def _embedded(self, notes: Sequence[Note]) -> list[Note]:
        """Return ``notes`` with embeddings filled in and checked against the embedder."""
        embedder = self.resources.embedder
        missing = [i for i, note in enumerate(notes) if note.embedding is None]
        out = list(notes)
        if missing:
            vectors = embedder.embed([notes[i].search_text for i in missing])
            for i, vector in zip(missing, vectors, strict=True):
                out[i] = notes[i].model_copy(update={"embedding": [float(x) for x in vector]})
        for note in out:
            assert note.embedding is not None
            if len(note.embedding) != embedder.dim:
                raise EvolveLabError(
                    f"note {note.id!r} has a {len(note.embedding)}-dimensional embedding; "
                    f"this store holds {embedder.dim}-dimensional vectors of "
                    f"{embedder.model_id}"
                )
        return out

    def _check_embedder(self, path: str) -> None:
        metadata = self._table.schema.metadata or {}
        layout = metadata.get(rows.LAYOUT, b"1").decode()
        if layout != rows.LAYOUT_VERSION:
            raise EvolveLabError(
                f"LanceDB table {self.config.table!r} at {path} was written with column layout "
                f"{layout}; this version of evolvelab reads layout {rows.LAYOUT_VERSION}. "
                "Re-ingest into a new path (or delete the directory)."
            )
        embedder = self.resources.embedder
        found_model = metadata.get(rows.EMBEDDER_MODEL, b"?").decode()
        found_dim = metadata.get(rows.EMBEDDER_DIM, b"?").decode()
        if (found_model, found_dim) != (embedder.model_id, str(embedder.dim)):
            raise EvolveLabError(
                f"LanceDB table {self.config.table!r} at {path} holds vectors of embedder "
                f"{found_model!r} (dim {found_dim}); this pipeline's embedder is "
                f"{embedder.model_id!r} (dim {embedder.dim}). Use another path or table, "
                f"or re-embed the notes into a new one."
            )

    def _index_on(self, column: str) -> Any:
        for index in self._table.list_indices():
            if column in index.columns:
                return index
        return None

    def _ensure_text_index(self, column: str = rows.SEARCH_TEXT) -> None:
        """Create a full-text index on ``column``, or rebuild it when its settings changed."""
        from lancedb.index import FTS

        wanted = {
            "with_position": self.config.fts_with_position,
            "stem": self.config.fts_stem,
            "remove_stop_words": self.config.fts_remove_stop_words,
            "ascii_folding": self.config.fts_ascii_folding,
            "language": self.config.fts_language,
        }
        index = self._index_on(column)
        if index is not None:
            details = getattr(index, "index_details", None) or {}
            if all(details.get(name, value) == value for name, value in wanted.items()):
                self._text_indexes.add(column)
                return
        self._table.create_index(column, config=FTS(**wanted), replace=True)
        self._text_indexes.add(column)

    def _maintain(self) -> None:
        """Build the ANN index once the table is big enough; fold new rows into indexes."""
        if not self._vector_index and self._pending >= 1:
            if self._table.count_rows() >= self.config.index_threshold:
                self._build_vector_index()
                return
        if self._pending >= self.config.reindex_rows or self._writes >= self.config.reindex_writes:
            self._optimize()

    def _optimize(self) -> None:
        """Compact files, fold new rows into every index, prune old versions."""
        keep = timedelta(minutes=self.config.keep_versions_minutes)
        self._table.optimize(cleanup_older_than=keep)
        self._pending = 0
        self._writes = 0

    def _build_vector_index(self) -> None:
        """Build the IVF-RQ vector index and B-tree indexes on the scope and row keys."""
        from lancedb.index import BTree, IvfRq

        config = IvfRq(
            distance_type="cosine", num_bits=4, num_partitions=self.config.num_partitions
        )
        self._table.create_index(rows.VECTOR, config=config, replace=True)
        for column in ("_owner", "_key"):
            self._table.create_index(column, config=BTree(), replace=True)
        self._optimize()
        self._vector_index = True
