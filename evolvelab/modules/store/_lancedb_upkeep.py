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

Nothing here touches LanceDB: the store keeps an :class:`Upkeep` per table and asks
:func:`due` after each write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from evolvelab.modules.store.lancedb import LanceDBStoreConfig

__all__ = ["Upkeep", "due", "text_lag"]


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
