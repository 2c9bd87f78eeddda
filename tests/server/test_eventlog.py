"""The event log: append-only, durable on append, torn tails cut, erasure rewrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolvelab.errors import EvolveLabError
from evolvelab.eventlog import AddEntry, EventLog, ForgetEntry, OwnerPattern, QueryEntry, VoidEntry
from evolvelab.types import Event, Scope

ANA = Scope(user_id="ana")


def _add(content: str, scope: Scope = ANA, event_id: str = "e1") -> AddEntry:
    return AddEntry(scope=scope, events=[Event(id=event_id, content=content)])


def test_appends_get_increasing_sequence_numbers_that_survive_reopening(tmp_path: Path) -> None:
    log = EventLog(tmp_path).open()
    first, second = log.append([_add("one"), _add("two", event_id="e2")])
    assert (first.seq, second.seq) == (1, 2)
    log.close()
    again = EventLog(tmp_path).open()
    assert [e.seq for e in again.entries()] == [1, 2]
    assert again.append([_add("three", event_id="e3")])[0].seq == 3


def test_a_torn_last_line_is_cut_off_on_open(tmp_path: Path) -> None:
    log = EventLog(tmp_path).open()
    log.append([_add("kept")])
    log.close()
    with (tmp_path / "log.jsonl").open("ab") as handle:
        handle.write(b'{"seq": 2, "op": "add", "sco')  # a crash mid-write: never acknowledged
    reopened = EventLog(tmp_path).open()
    assert reopened.torn_bytes > 0
    assert [e.seq for e in reopened.entries()] == [1]
    assert reopened.append([_add("next", event_id="e2")])[0].seq == 2


def test_a_corrupt_complete_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_text('{"seq": 1, "op": "nope"}\n')
    log = EventLog(tmp_path).open()  # opening reads only the last sequence number
    with pytest.raises(EvolveLabError, match=r"log.jsonl:1: corrupt event log entry"):
        list(log.entries())
    log.close()
    (tmp_path / "log.jsonl").write_text('{"op": "add"}\n')
    with pytest.raises(EvolveLabError, match="corrupt last event log entry"):
        EventLog(tmp_path).open()


def test_the_last_sequence_number_is_found_past_long_lines(tmp_path: Path) -> None:
    log = EventLog(tmp_path).open()
    log.append([_add("x" * 200_000), _add("y" * 100_000, event_id="e2")])
    log.close()
    assert EventLog(tmp_path).open().append([_add("z", event_id="e3")])[0].seq == 3


def test_voided_entries_are_left_out_when_reading(tmp_path: Path) -> None:
    log = EventLog(tmp_path).open()
    log.append([_add("failed write")])
    log.append([VoidEntry(seqs=[1])])
    log.append([_add("good", event_id="e2")])
    assert [e.seq for e in log.entries()] == [3]


def test_rewrite_erases_content_and_keeps_order(tmp_path: Path) -> None:
    log = EventLog(tmp_path).open()
    bob = Scope(user_id="bob")
    log.append([_add("ana's secret"), _add("bob's note", bob),
                QueryEntry(scope=ANA, id="q1", text="ana's question")])
    pattern = OwnerPattern(user_id="ana")
    log.append([ForgetEntry(owners=pattern)])
    dropped = log.rewrite(lambda e: None if getattr(e, "scope", None) and pattern.matches(e.scope) else e)
    assert dropped == 2
    text = (tmp_path / "log.jsonl").read_text()
    assert "ana's" not in text and "bob's note" in text
    assert [e.op for e in log.entries()] == ["add", "forget"]
    assert log.append([_add("later", bob, "e9")])[0].seq == 5


def test_applied_mark_persists(tmp_path: Path) -> None:
    log = EventLog(tmp_path).open()
    log.append([_add("one")])
    log.mark_applied(1)
    log.close()
    assert EventLog(tmp_path).open().applied == 1


def test_owner_pattern_confines_to_a_prefix() -> None:
    pattern = OwnerPattern(agent_id="bot", user_prefix="acme/")
    assert pattern.matches(Scope(user_id="acme/ana", agent_id="bot"))
    assert not pattern.matches(Scope(user_id="other/ana", agent_id="bot"))
    assert not pattern.matches(Scope(user_id="acme/ana", agent_id="helper"))


def test_one_process_writes_a_log_at_a_time(tmp_path: Path) -> None:
    import subprocess
    import sys

    first = EventLog(tmp_path).open()
    probe = ("import sys; from evolvelab.eventlog import EventLog\n"
             "try:\n    EventLog(sys.argv[1]).open()\nexcept Exception as err:\n    print(err)")
    other = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True)
    assert "is in use by pid" in other.stdout and "one process writes" in other.stdout
    first.close()
    again = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True)
    assert again.stdout == ""


def test_a_new_log_makes_its_name_durable_before_the_first_acknowledgement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import stat

    synced: list[tuple[int, int]] = []
    real = os.fsync

    def recording(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_ino, stat.S_ISDIR(info.st_mode)))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    folder = tmp_path / "data" / "eventlog"
    log = EventLog(folder).open()
    log.append([_add("first")])
    directories = {inode for inode, is_dir in synced if is_dir}
    assert folder.stat().st_ino in directories  # the file's name in its folder
    assert folder.parent.stat().st_ino in directories  # the new folder's name in its parent
    log.close()


def test_a_failed_rename_of_a_rewrite_leaves_the_log_open_and_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evolvelab.eventlog
    from evolvelab.eventlog import LogFailure

    log = EventLog(tmp_path).open()
    log.append([_add("secret"), _add("other", event_id="e2")])

    def refuse(*_: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(evolvelab.eventlog.os, "replace", refuse)
        with pytest.raises(LogFailure, match="unchanged and still open"):
            log.rewrite(lambda e: None if e.seq == 1 else e)
    assert [e.seq for e in log.entries()] == [1, 2]  # unchanged
    assert log.append([_add("three", event_id="e3")])[0].seq == 3  # and still writable
    assert not (tmp_path / "log.jsonl.tmp").exists()
    assert log.rewrite(lambda e: None if e.seq == 1 else e) == 1  # works once the disk does
    assert [e.seq for e in log.entries()] == [2, 3]
    assert log.append([_add("four", event_id="e4")])[0].seq == 4
    log.close()
    assert [e.seq for e in EventLog(tmp_path).open().entries()] == [2, 3, 4]


def test_a_full_disk_while_writing_a_rewrite_leaves_the_log_open_and_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evolvelab.eventlog
    from evolvelab.eventlog import LogFailure

    log = EventLog(tmp_path).open()
    log.append([_add("secret"), _add("other", event_id="e2")])

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(evolvelab.eventlog.os, "fsync", full)  # the copy cannot be made durable
        with pytest.raises(LogFailure, match="cannot write the rewritten copy"):
            log.rewrite(lambda e: None if e.seq == 1 else e)
    assert not (tmp_path / "log.jsonl.tmp").exists()
    assert [e.seq for e in log.entries()] == [1, 2]  # unchanged
    assert log.append([_add("three", event_id="e3")])[0].seq == 3  # and still writable
    assert log.rewrite(lambda e: None if e.seq == 1 else e) == 1  # works once the disk does
    log.close()
    assert [e.seq for e in EventLog(tmp_path).open().entries()] == [2, 3]


def test_an_append_the_disk_took_only_part_of_is_cut_off_and_the_log_stays_readable(
    tmp_path: Path,
) -> None:
    from evolvelab.eventlog import LogFailure

    log = EventLog(tmp_path).open()
    log.append([_add("one")])

    class FullDisk:
        """The log's file on a disk that fills up half way through a write."""

        def __init__(self, real: object) -> None:
            self.real = real

        def write(self, data: memoryview) -> int:
            self.real.write(bytes(data[: len(data) // 2]))  # type: ignore[attr-defined]
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

    real = log._file
    log._file = FullDisk(real)
    with pytest.raises(LogFailure, match="No space left on device"):
        log.append([_add("two", event_id="e2")])
    log._file = real  # the disk has room again
    assert log.append([_add("three", event_id="e3")])[0].seq == 2  # the failed seq is reused
    log.close()
    reopened = EventLog(tmp_path).open()  # no corrupt line: the half entry was cut off
    assert [e.events[0].content for e in reopened.entries()] == ["one", "three"]  # type: ignore[attr-defined]
    reopened.close()


def test_the_applied_mark_is_written_in_place_and_an_unreadable_one_replays_all(tmp_path: Path) -> None:
    log = EventLog(tmp_path).open()
    log.append([_add("one"), _add("two", event_id="e2")])
    log.mark_applied(1)
    log.mark_applied(2)
    log.close()
    assert EventLog(tmp_path).open().applied == 2
    (tmp_path / "applied").write_bytes(b"\x00\x00\x00")  # what a crash could leave
    assert EventLog(tmp_path).open().applied == 0  # replay everything: replay is idempotent


def test_an_entry_kept_unapplied_holds_the_mark_below_it(tmp_path: Path) -> None:
    log = EventLog(tmp_path).open()
    log.append([_add("one"), _add("two", event_id="e2"), _add("three", event_id="e3")])
    log.keep_unapplied(2)
    log.mark_applied(3)
    assert log.applied == 1
    log.close()
    assert EventLog(tmp_path).open().applied == 1


def test_reading_and_exporting_a_log_holds_one_entry_at_a_time(tmp_path: Path) -> None:
    import tracemalloc

    from evolvelab.rebuild import export_records

    log = EventLog(tmp_path, fsync=False).open()
    for n in range(60):  # 60 adds of 100 kB each: a 6 MB log
        log.append([_add(f"{n} " + "x" * 100_000, event_id=f"e{n}")])
    log.append([VoidEntry(seqs=[3])])
    tracemalloc.start()
    try:
        kept = sum(1 for _ in log.entries())
        exported = sum(1 for _ in export_records(log))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    log.close()
    assert (kept, exported) == (59, 59)  # the voided add is left out
    assert peak < 1_500_000, f"peak {peak} bytes: the log was loaded whole"
