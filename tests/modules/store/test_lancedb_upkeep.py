"""When a LanceDB owner table gets its upkeep: flat cost per written row as it grows."""

from __future__ import annotations

from evolvelab.modules.store._lancedb_upkeep import Upkeep, due, text_lag
from evolvelab.modules.store.lancedb import LanceDBStoreConfig

CONFIG = LanceDBStoreConfig(fts_fresh_rows=256, reindex_fraction=0.1, reindex_rows=2048,
                            reindex_writes=16)  # fmt: skip


def written(size: int, rows: int, writes: int = 1) -> Upkeep:
    return Upkeep(rows=rows, writes=writes, unindexed=rows, size=size)


def test_a_small_table_gets_its_text_index_updated_after_every_write() -> None:
    assert text_lag(256, CONFIG) == 0
    assert due(written(200, 1), CONFIG) == "text"


def test_a_bigger_table_lets_a_share_of_it_wait_for_the_text_index() -> None:
    assert text_lag(5_000, CONFIG) == 500
    assert due(written(5_000, 500, writes=10), CONFIG) is None
    assert due(written(5_000, 501, writes=10), CONFIG) == "text"


def test_without_fts_fresh_the_text_index_waits_for_maintenance() -> None:
    lazy = CONFIG.model_copy(update={"fts_fresh": False})
    assert due(written(200, 1), lazy) is None


def test_maintenance_triggers_grow_with_the_table_past_reindex_rows_over_the_fraction() -> None:
    # up to 2048 / 0.1 = 20,480 rows: every 16 writes or 2048 rows
    assert due(written(10_000, 16 * 32, writes=16), CONFIG) == "maintain"
    # at 100k rows both triggers are scaled by 100k x 0.1 / 2048 (about 4.9)
    assert due(written(100_000, 16 * 32, writes=16), CONFIG) is None
    assert due(written(100_000, 79 * 32, writes=79), CONFIG) == "maintain"
    assert due(written(100_000, 9_000, writes=3), CONFIG) is None
    assert due(written(100_000, 10_000, writes=3), CONFIG) == "maintain"


def test_a_write_is_counted_everywhere_it_matters() -> None:
    state = Upkeep(size=10)
    state.wrote(5)
    state.wrote(0)  # a delete
    assert (state.rows, state.writes, state.unindexed, state.size) == (5, 2, 5, 15)
