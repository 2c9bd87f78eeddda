"""The memory lifecycle on ``Memory``: chat input, get, list, update, delete, forget,
history, export and import, and the event log behind them."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolvelab.errors import EvolveLabError
from evolvelab.eventlog import AddEntry, DeleteEntry, EventLog
from evolvelab.lifecycle import NoteNotFound
from evolvelab.pipeline import Memory
from evolvelab.stream import EventRecord, OutcomeRecord, QueryRecord, dump_stream, parse_stream
from evolvelab.types import Event, Scope

PIPELINE = """
version: 1
name: lex
embedder: {type: none}
encode:
  - {type: turn, speaker: true, link_turns: false}
store: {type: %s}
retrieve:
  - {type: bm25, k: 20}
"""
ANA = {"user_id": "ana"}
BOB = {"user_id": "bob"}


def _memory(tmp_path: Path, store: str = "memory", name: str = "data") -> Memory:
    memory = Memory.from_text(PIPELINE % store, data_dir=tmp_path / name)
    memory.use_event_log()
    return memory


def _chat(memory: Memory, scope: dict, *texts: str) -> list[str]:
    messages = [{"role": "user", "name": "Ana", "content": text} for text in texts]
    return [note.id for note in memory.add(messages=messages, scope=scope)]


def test_messages_become_turns_with_stable_ids_and_the_name_as_speaker(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    first = memory.add(messages=[{"role": "user", "name": "Ana", "content": "I moved to Lisbon."},
                                 {"role": "assistant", "content": "Nice!"}], scope=ANA)
    assert [n.content for n in first] == ["Ana: I moved to Lisbon.", "assistant: Nice!"]
    again = memory.add(messages=[{"role": "user", "name": "Ana", "content": "I moved to Lisbon."}],
                       scope=ANA)
    assert again[0].id == first[0].id
    assert memory.count(ANA) == 2


def test_a_bad_message_names_its_position(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    with pytest.raises(EvolveLabError, match=r"messages\[1\]\.role"):
        memory.add(messages=[{"role": "user", "content": "ok"}, {"content": "no role"}], scope=ANA)
    assert memory.count(ANA) == 0


def test_get_is_confined_to_the_scope(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    (note_id,) = _chat(memory, ANA, "I have a cat.")
    assert memory.get(note_id, ANA).content == "Ana: I have a cat."
    with pytest.raises(NoteNotFound):
        memory.get(note_id, BOB)


def test_list_pages_in_a_stable_order_until_the_cursor_runs_out(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    ids = _chat(memory, ANA, *[f"fact number {i}" for i in range(7)])
    seen, cursor = [], None
    while True:
        page = memory.list(ANA, limit=3, cursor=cursor)
        seen.extend(n.id for n in page.notes)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen)) == 7
    assert [n.id for n in memory.list(ANA, limit=7).notes] == seen
    with pytest.raises(EvolveLabError, match="cursor"):
        memory.list(ANA, cursor="not-a-cursor")


def test_a_page_keeps_only_its_notes_while_the_scope_streams_past(tmp_path: Path) -> None:
    import tracemalloc
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from evolvelab.lifecycle import list_notes
    from evolvelab.types import Note

    start = datetime(2026, 1, 1, tzinfo=UTC)

    class Streamed:  # a scannable store of 20,000 notes, newest first, made as they are read
        def scan(self, scope: Scope, where: object) -> object:
            for i in reversed(range(20_000)):
                yield Note(id=f"n{i:05d}", content="x" * 200, scope=scope,
                           created_at=start + timedelta(seconds=i))  # fmt: skip

    memory = SimpleNamespace(open=lambda: None, store=Streamed())
    tracemalloc.start()
    try:
        first = list_notes(memory, Scope(user_id="ana"), limit=5)  # type: ignore[arg-type]
        second = list_notes(memory, Scope(user_id="ana"), limit=5, cursor=first.next_cursor)  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [n.id for n in first.notes] == [f"n{i:05d}" for i in range(5)]
    assert [n.id for n in second.notes] == [f"n{i:05d}" for i in range(5, 10)]
    assert peak < 2_000_000, f"peak {peak} bytes: the whole scope was held to sort it"


def test_update_reindexes_and_keeps_the_old_version_in_history(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    (note_id,) = _chat(memory, ANA, "I live in Lisbon.")
    updated = memory.update(note_id, ANA, content="Ana lives in Porto.", metadata={"fixed": True})
    assert updated.version == 2 and updated.metadata["fixed"] is True
    assert memory.search("Porto", scope=ANA)[0].note.id == note_id
    assert memory.search("Lisbon", scope=ANA) == []
    versions = memory.history(note_id, ANA)
    assert [(v.version, v.content) for v in versions] == [(1, "Ana: I live in Lisbon."),
                                                          (2, "Ana lives in Porto.")]
    assert versions[0].valid_to == versions[1].valid_from and versions[1].valid_to is None


def test_update_returns_the_note_as_stored_with_its_new_embedding(tmp_path: Path) -> None:
    text = (PIPELINE % "memory").replace("{type: none}", "{type: hashing, dim: 32}")
    memory = Memory.from_text(text, data_dir=tmp_path / "data")
    memory.use_event_log()
    (note_id,) = _chat(memory, ANA, "I live in Lisbon.")
    before = memory.get(note_id, ANA)
    updated = memory.update(note_id, ANA, content="Ana lives in Porto.")
    assert updated.embedding is not None and updated.embedding != before.embedding
    assert updated == memory.get(note_id, ANA)


def test_delete_erases_the_source_events_from_the_log(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    keep, gone = _chat(memory, ANA, "My dog is Rex.", "My PIN is 4321.")
    assert memory.delete([gone], ANA) == 1
    assert memory.delete([gone], ANA) == 0
    log_text = (tmp_path / "data" / "eventlog" / "log.jsonl").read_text()
    assert "4321" not in log_text and "Rex" in log_text
    assert [r.content for r in memory.export() if isinstance(r, EventRecord)] == ["My dog is Rex."]
    assert memory.get(keep, ANA)


def test_forget_erases_every_agent_of_a_user_and_only_that_user(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    _chat(memory, {"user_id": "ana", "agent_id": "a1"}, "Ana's secret one.")
    _chat(memory, {"user_id": "ana", "agent_id": "a2"}, "Ana's secret two.")
    _chat(memory, BOB, "Bob's note.")
    assert memory.forget(ANA) == 2
    assert memory.count({"user_id": "ana", "agent_id": "a1"}) == 0
    assert memory.count(BOB) == 1
    log_text = (tmp_path / "data" / "eventlog" / "log.jsonl").read_text()
    assert "secret" not in log_text and '"op":"forget"' in log_text
    with pytest.raises(EvolveLabError, match="user_id or an agent_id"):
        memory.forget({})


def test_export_is_a_stream_that_import_replays_into_another_memory(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    _chat(memory, ANA, "I adopted a cat named Miso.", "Miso likes tuna.")
    memory.add([Event(id="b1", content="Bob plays chess.")], scope=BOB)
    records = list(memory.export())
    text = dump_stream(records)
    stream = parse_stream(text)  # a valid stream: `evolvelab run --stream` reads it
    assert len(stream.events) == 3 and {s.user_id for s in stream.scopes()} == {"ana", "bob"}
    other = _memory(tmp_path, name="other")
    report = other.import_(stream.records)
    assert report.events == 3
    assert other.search("cat", scope=ANA)[0].note.content == "Ana: I adopted a cat named Miso."
    assert [r.content for r in memory.export(BOB) if isinstance(r, EventRecord)] == ["Bob plays chess."]


def test_import_feeds_outcomes_back_and_logs_queries(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    (note_id,) = _chat(memory, ANA, "The wifi password is hunter2.")
    memory.import_([QueryRecord(id="q1", text="wifi?", user_id="ana"),
                    OutcomeRecord(query_id="q1", success=True, used_ids=[note_id], user_id="ana")])
    assert memory.get(note_id, ANA).success_count == 1
    kinds = [type(r).__name__ for r in memory.export()]
    assert kinds == ["EventRecord", "QueryRecord", "OutcomeRecord"]


def test_export_without_a_log_says_how_to_get_one(tmp_path: Path) -> None:
    memory = Memory.from_text(PIPELINE % "memory", data_dir=tmp_path / "plain")
    with pytest.raises(EvolveLabError, match="use_event_log"):
        memory.export()


@pytest.mark.slow
def test_logged_but_unapplied_adds_are_recovered_on_open(tmp_path: Path) -> None:
    memory = _memory(tmp_path, store="lancedb")
    _chat(memory, ANA, "Stored normally.")
    memory.close()
    # a crash after the log's fsync and before the store write: the add was acknowledged
    log = EventLog(tmp_path / "data" / "eventlog").open()
    log.append([AddEntry(scope=Scope(user_id="ana"), events=[Event(id="x", content="acked then crashed")])])
    log.close()
    reopened = Memory.from_text(PIPELINE % "lancedb", data_dir=tmp_path / "data")
    report = reopened.use_event_log()
    assert report.events == 1
    assert reopened.search("crashed", scope=ANA)[0].note.content == "acked then crashed"
    assert reopened.use_event_log().entries == 0  # nothing left to recover
    reopened.close()


def test_a_store_that_keeps_nothing_gets_the_whole_log_on_every_open(tmp_path: Path) -> None:
    memory = _memory(tmp_path)  # the in-process store: its notes vanish with the process
    _chat(memory, ANA, "Ana adopted a cat.")
    memory.close()
    reopened = _memory(tmp_path)
    assert [n.content for n in reopened.list(ANA).notes] == ["Ana: Ana adopted a cat."]
    reopened.close()


def test_an_add_that_fails_during_recovery_is_tried_again_by_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evolvelab.modules.store.lancedb import LanceDBStore

    memory = _memory(tmp_path, store="lancedb")
    memory.close()
    log = EventLog(tmp_path / "data" / "eventlog").open()  # acknowledged, then a crash
    log.append([AddEntry(scope=Scope(user_id="ana"), events=[Event(id="x", content="acked then crashed")])])
    log.close()
    real = LanceDBStore.add

    def offline(self: LanceDBStore, *args: object, **kwargs: object) -> None:
        raise EvolveLabError("store offline at start-up")

    monkeypatch.setattr(LanceDBStore, "add", offline)
    first = Memory.from_text(PIPELINE % "lancedb", data_dir=tmp_path / "data")
    report = first.use_event_log()
    assert len(report.failures) == 1 and "store offline" in report.failures[0]
    first.close()
    monkeypatch.setattr(LanceDBStore, "add", real)
    second = Memory.from_text(PIPELINE % "lancedb", data_dir=tmp_path / "data")
    assert second.use_event_log().events == 1  # replayed again, not lost
    assert second.search("crashed", scope=ANA)[0].note.content == "acked then crashed"
    second.close()


@pytest.mark.slow
def test_rebuild_derives_another_pipeline_with_erasures_applied(tmp_path: Path) -> None:
    from evolvelab.rebuild import rebuild

    memory = _memory(tmp_path, store="lancedb")
    keep, gone = _chat(memory, ANA, "Keep this one.", "Delete this one.")
    memory.delete([gone], ANA)
    memory.update(keep, ANA, content="Keep this corrected one.")
    _chat(memory, BOB, "Bob is forgotten.")
    memory.forget(BOB)
    memory.close()
    other = Memory.from_text((PIPELINE % "lancedb").replace("speaker: true", "speaker: false"),
                             data_dir=tmp_path / "rebuilt")
    report = rebuild(other, tmp_path / "data")
    assert report.failures == []
    notes = other.list(ANA).notes
    assert [(n.content, n.version) for n in notes] == [("Keep this corrected one.", 2)]
    assert other.count(BOB) == 0
    with pytest.raises(EvolveLabError, match="not empty"):
        rebuild(other, tmp_path / "data")
    other.close()


def test_a_user_who_comes_back_after_forget_is_remembered_again(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    _chat(memory, ANA, "Before the erasure.")
    memory.forget(ANA)
    _chat(memory, ANA, "After the erasure.")
    memory.forget(BOB)  # another erasure rewrites the log again: Ana's new entry stays
    assert [r.content for r in memory.export() if isinstance(r, EventRecord)] == ["After the erasure."]


@pytest.mark.slow
def test_an_erasure_interrupted_before_the_log_rewrite_is_finished_on_open(tmp_path: Path) -> None:
    memory = _memory(tmp_path, store="lancedb")
    _, secret = _chat(memory, ANA, "Fine to keep.", "My PIN is 4321.")
    source = memory.get(secret, ANA).source_ids
    memory.close()
    log = EventLog(tmp_path / "data" / "eventlog").open()  # the crash: logged, nothing else done
    log.append([DeleteEntry(scope=Scope(user_id="ana"), note_ids=[secret], source_ids=source)])
    log.close()
    reopened = Memory.from_text(PIPELINE % "lancedb", data_dir=tmp_path / "data")
    assert reopened.use_event_log().deletes == 1
    assert "4321" not in (tmp_path / "data" / "eventlog" / "log.jsonl").read_text()
    with pytest.raises(NoteNotFound):
        reopened.get(secret, ANA)
    reopened.close()


def test_a_crash_during_recovery_never_marks_an_erasure_done_before_the_log_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evolvelab.rebuild

    memory = _memory(tmp_path)
    _, secret = _chat(memory, ANA, "Fine to keep.", "My PIN is 4321.")
    source = memory.get(secret, ANA).source_ids
    memory.close()
    log = EventLog(tmp_path / "data" / "eventlog").open()  # the first crash: logged, nothing else
    log.append([DeleteEntry(scope=Scope(user_id="ana"), note_ids=[secret], source_ids=source)])
    log.close()

    def crash(*_: object) -> int:
        raise KeyboardInterrupt("killed while rewriting the log")

    with monkeypatch.context() as patch:  # the second crash: during recovery's log rewrite
        patch.setattr(evolvelab.rebuild, "erase_from_log", crash)
        recovering = Memory.from_text(PIPELINE % "memory", data_dir=tmp_path / "data")
        with pytest.raises(KeyboardInterrupt):
            recovering.use_event_log()
        recovering.log.close()
    reopened = Memory.from_text(PIPELINE % "memory", data_dir=tmp_path / "data")
    reopened.use_event_log()
    assert "4321" not in (tmp_path / "data" / "eventlog" / "log.jsonl").read_text()
    reopened.close()


@pytest.mark.slow
def test_a_deletion_whose_log_rewrite_failed_is_erased_by_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evolvelab.eventlog
    from evolvelab.eventlog import LogFailure

    memory = _memory(tmp_path, store="lancedb")
    _, secret = _chat(memory, ANA, "Fine to keep.", "My PIN is 4321.")

    def refuse(*_: object) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(evolvelab.eventlog.os, "replace", refuse)
        with pytest.raises(LogFailure):
            memory.delete([secret], ANA)
    _chat(memory, ANA, "Written after the failure.")  # the log still takes writes
    memory.close()
    reopened = _memory(tmp_path, store="lancedb")  # the erasure was kept unapplied: this start finishes it
    assert "4321" not in (tmp_path / "data" / "eventlog" / "log.jsonl").read_text()
    assert [n.content for n in reopened.list(ANA).notes] == ["Ana: Fine to keep.",
                                                             "Ana: Written after the failure."]  # fmt: skip
    reopened.close()


@pytest.mark.slow
def test_replaying_an_outcome_twice_never_counts_it_twice(tmp_path: Path) -> None:
    from evolvelab.lifecycle import record_outcome
    from evolvelab.rebuild import replay

    memory = _memory(tmp_path, store="lancedb")
    used, other = _chat(memory, ANA, "The cat is called Miso.", "Lisbon is sunny.")
    assert record_outcome(memory, Scope(user_id="ana"), query_id="q1", success=True,
                          used_ids=[used, "not-a-note"]) == 1  # fmt: skip
    replay(memory, after=0)  # a crash after the feedback, before the mark: replayed...
    replay(memory, after=0)  # ...and replayed again
    assert memory.get(used, ANA).success_count == 1
    assert memory.get(other, ANA).success_count == 0
    memory.close()
    (tmp_path / "data" / "eventlog" / "applied").write_text("0\n")  # the mark was lost
    reopened = _memory(tmp_path, store="lancedb")
    assert reopened.get(used, ANA).success_count == 1
    record_outcome(reopened, Scope(user_id="ana"), query_id="q2", success=True, used_ids=[used])
    assert reopened.get(used, ANA).success_count == 2  # a second outcome still counts
    reopened.close()


def test_an_outcome_that_failed_before_any_count_was_written_is_never_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evolvelab.lifecycle import record_outcome
    from evolvelab.rebuild import replay

    memory = _memory(tmp_path)
    [used] = _chat(memory, ANA, "The cat is called Miso.")

    def offline(*_: object, **__: object) -> None:
        raise EvolveLabError("note store offline")

    with monkeypatch.context() as patch:
        patch.setattr(memory.resources, "write", offline)
        with pytest.raises(EvolveLabError, match="offline"):
            record_outcome(memory, Scope(user_id="ana"), query_id="q1", success=True, used_ids=[used])
    assert memory.get(used, ANA).success_count == 0
    replay(memory, after=0)  # what a restart or a rebuild from the log would do
    assert memory.get(used, ANA).success_count == 0  # the caller was told it failed
    assert not [r for r in memory.export() if isinstance(r, OutcomeRecord)]  # nor exported
    memory.close()
