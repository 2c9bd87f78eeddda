"""When a LanceDB owner table gets its upkeep: text index updates and maintenance.

Two costs grow with an owner's table: a full-text index rebuild reads every row, and
maintenance (LanceDB's ``optimize``: compaction, index updates, pruning old versions)
rewrites every row, because compaction merges every small data file into one. Paid on
every write, both make ingest slower the bigger the memory. Here each is paid once per
a share of the table written, so its cost per written row stays flat:

* **text index**: rebuilt after every write while the table holds at most
  ``fts_fresh_rows`` rows (scores then never depend on when it was updated); past that,
  when more than ``reindex_fraction`` of the table was written since the last update.
  Rows the index has not seen are still found (LanceDB searches them without it), with
  slightly different statistics (upstream: lance-format/lance#9058).
* **maintenance**: every ``reindex_rows`` rows or ``reindex_writes`` writes, both
  triggers scaled up once ``reindex_fraction`` of the table is more than
  ``reindex_rows``.
* **ANN index segments**: LanceDB's maintenance folds new rows into the vector index as
  one more index segment (a delta) each time, and its compaction cannot merge the data
  files of different segments, so segments and data files pile up and every search
  opens all of them (docs/benchmarks.md: at 100k rows, the store's search took 4.7x
  exact numpy over 40 segments, 1.65x over one segment and one data file). After it
  compacts, maintenance retrains the index over every row, in one segment, once there
  are more than ``index_max_segments`` segments or the table has doubled since the
  index was trained (its partitions were sized for fewer rows). Maintenance runs once
  per a share of the table written, so this work (whose cost follows the table) is paid
  once per a share of it too.

Nothing here touches LanceDB: the store keeps an :class:`Upkeep` per table and asks
:func:`due` after each write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from evolvelab.modules.store.lancedb import LanceDBStoreConfig

__all__ = ["REBUILD_GROWTH", "Upkeep", "ann_upkeep", "due", "text_lag"]

REBUILD_GROWTH = 2.0
"""Growth since the ANN index was trained that makes maintenance retrain it: its
partitions were sized for the rows it was trained on."""


@dataclass
class Upkeep:
    """What this process knows of one owner's table, and wrote to it since its upkeep.

    Kept in memory so that a write's upkeep asks LanceDB nothing it does not have to:
    listing indexes and counting rows are table reads that cost a little on every write.
    """

    rows: int = 0
    """Rows written since the last maintenance."""
    writes: int = 0
    """Writes since the last maintenance."""
    unindexed: int = 0
    """Rows written since the full-text index last covered the whole table."""
    size: int = 0
    """Rows in the table when last counted, plus rows written since (an upper bound)."""
    text_columns: tuple[str, ...] = ()
    """Columns with a full-text index, as of the last look."""
    vector_index: bool = False
    """Whether the table has an ANN index."""
    trained: int = 0
    """Rows in the table when its ANN index was last trained (0: not known here; a
    table this process did not index is taken as trained at its size when first seen)."""

    def wrote(self, rows: int) -> None:
        """Count one committed write of ``rows`` rows (0 for a delete)."""
        self.rows += rows
        self.writes += 1
        self.unindexed += rows
        self.size += rows


def text_lag(size: int, config: LanceDBStoreConfig) -> float:
    """Return how many written rows the text index may miss in a table of ``size`` rows."""
    if size <= config.fts_fresh_rows:
        return 0.0
    return config.reindex_fraction * size


def due(state: Upkeep, config: LanceDBStoreConfig) -> Literal["maintain", "text", None]:
    """Return the upkeep a table needs after a write: maintenance, a text index update, or none.

    Example:
        >>> from evolvelab.modules.store.lancedb import LanceDBStoreConfig
        >>> config = LanceDBStoreConfig()
        >>> due(Upkeep(rows=32, writes=1, unindexed=32, size=100), config)  # small: exact
        'text'
        >>> due(Upkeep(rows=32, writes=1, unindexed=32, size=5000), config) is None  # lags
        True
        >>> due(Upkeep(rows=512, writes=16, unindexed=512, size=5000), config)
        'maintain'
    """
    scale = max(1.0, config.reindex_fraction * state.size / config.reindex_rows)
    if state.rows >= config.reindex_rows * scale or state.writes >= config.reindex_writes * scale:
        return "maintain"
    if config.fts_fresh and state.unindexed > text_lag(state.size, config):
        return "text"
    return None


def ann_upkeep(segments: int, size: int, trained: int, config: LanceDBStoreConfig) -> bool:
    """Return whether maintenance should retrain a table's ANN index once it has compacted.

    Args:
        segments: the index's segments now (maintenance just added one for new rows).
        size: rows in the table now.
        trained: rows when the index was last trained.
        config: the store's settings (``index_max_segments``).

    Returns:
        ``True`` once the table has grown ``REBUILD_GROWTH`` times since the index was
        trained (its partitions were sized for fewer rows), or when the index has more
        than ``index_max_segments`` segments.

    Example:
        >>> from evolvelab.modules.store.lancedb import LanceDBStoreConfig
        >>> config = LanceDBStoreConfig(index_max_segments=1)
        >>> ann_upkeep(segments=1, size=30_000, trained=20_000, config=config)
        False
        >>> ann_upkeep(segments=2, size=30_000, trained=20_000, config=config)
        True
        >>> ann_upkeep(segments=1, size=40_000, trained=20_000, config=config)
        True
    """
    return size >= REBUILD_GROWTH * max(trained, 1) or segments > config.index_max_segments
