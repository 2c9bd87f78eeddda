"""Commit retries and create-or-open: what makes several processes on one LanceDB safe."""

from __future__ import annotations

import pytest

from evolvelab.errors import EvolveLabError
from evolvelab.modules.store._lancedb_tables import is_retryable, retry_commit

CONFLICT = (
    "lance error: Retryable commit conflict for version 58: This Rewrite transaction was "
    "preempted by concurrent transaction Update at version 58. Please retry."
)


def test_a_retryable_conflict_is_redone_until_it_goes_through() -> None:
    calls = []

    def write() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(CONFLICT)
        return "committed"

    assert retry_commit(write, "writing", first_delay=0.0001) == "committed"
    assert len(calls) == 3


def test_other_errors_pass_through_at_once() -> None:
    calls = []

    def write() -> None:
        calls.append(1)
        raise ValueError("Schema Error: field vector has the wrong size")

    with pytest.raises(ValueError, match="wrong size"):
        retry_commit(write, "writing")
    assert len(calls) == 1


def test_endless_conflicts_end_in_a_clear_error() -> None:
    def write() -> None:
        raise RuntimeError(CONFLICT)

    with pytest.raises(EvolveLabError, match="still conflicting after 3 tries"):
        retry_commit(write, "writing notes", attempts=3, first_delay=0.0001)


def test_conflicts_are_recognised_by_their_text() -> None:
    assert is_retryable(RuntimeError(CONFLICT))
    assert not is_retryable(RuntimeError("IO error: disk full"))


def test_an_owner_table_fetches_its_schema_once_and_still_answers_queries(tmp_path) -> None:
    import lancedb
    import pyarrow as pa

    from evolvelab.modules.store._lancedb_tables import fixed_schema

    db = lancedb.connect(tmp_path / "db")
    plain = db.create_table("t", schema=pa.schema([("_key", pa.string()), ("n", pa.int64())]))
    plain.add([{"_key": "a", "n": 1}])
    assert plain.schema is not plain.schema  # LanceDB fetches it on every call
    table = fixed_schema(db.open_table("t"))
    assert table.schema is table.schema and table.schema == plain.schema
    assert isinstance(table, type(plain)) and fixed_schema(table) is table
    table.add([{"_key": "b", "n": 2}])
    assert table.search().where("n = 2").to_arrow().column("_key").to_pylist() == ["b"]
    assert table.count_rows() == 2
