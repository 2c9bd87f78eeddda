"""Dataset loaders: LoCoMo and GoodAI LTM shaped data (written here) become streams."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eval_samples import locomo_sample, write_goodai, write_locomo

from evolvelab.datasets import load_dataset, load_jsonl
from evolvelab.datasets.goodai import answer_text, load_goodai
from evolvelab.datasets.locomo import CATEGORIES, clean_evidence, load_locomo, parse_locomo_date
from evolvelab.errors import EvolveLabError, StreamError
from evolvelab.stream import EventRecord, QueryRecord, write_stream

# --- LoCoMo ------------------------------------------------------------------------------


@pytest.fixture
def locomo(tmp_path: Path) -> Path:
    return write_locomo(tmp_path / "locomo.json")


def test_each_conversation_is_a_scope_with_one_event_per_turn(locomo: Path) -> None:
    data = load_locomo(locomo)
    assert data.name == "locomo" and data.order == "end" and data.categories == CATEGORIES
    assert [s.user_id for s in data.stream.scopes()] == ["conv-a", "conv-b"]
    events = {(e.user_id, e.id): e for e in data.stream.events}
    assert len(events) == 7
    first = events["conv-a", "D1:1"]
    assert first == EventRecord(
        id="D1:1", content="I adopted a grey cat called Miso last week.", speaker="Ana",
        timestamp="2023-05-08T13:56:00+00:00", session_id="conv-a:S1", user_id="conv-a",
    )  # fmt: skip


def test_turns_of_a_session_follow_each_other_one_minute_apart(locomo: Path) -> None:
    events = [e for e in load_locomo(locomo).stream.events if e.user_id == "conv-a"]
    times = [e.timestamp for e in events]
    start = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert times[:3] == [start, start + timedelta(minutes=1), start + timedelta(minutes=2)]
    assert times[3] == datetime(2023, 6, 19, 10, 4, tzinfo=UTC)
    assert [e.session_id for e in events] == ["conv-a:S1"] * 3 + ["conv-a:S2"] * 2


def test_an_image_turn_keeps_only_its_caption(locomo: Path) -> None:
    [image] = [e for e in load_locomo(locomo).stream.events if e.id == "D1:3" and e.user_id == "conv-a"]
    assert image.content == "Here she is."
    assert image.metadata == {"caption": "a photo of a grey cat on a sofa"}


def test_a_session_with_a_date_and_no_turns_is_skipped(locomo: Path) -> None:
    sessions = {e.session_id for e in load_locomo(locomo).stream.events}
    assert sessions == {"conv-a:S1", "conv-a:S2", "conv-b:S1"}


def test_questions_become_queries_asked_after_the_last_turn(locomo: Path) -> None:
    queries = {q.id: q for q in load_locomo(locomo).stream.queries}
    assert list(queries) == [*(f"conv-a:q{i}" for i in range(1, 6)), "conv-b:q1"]
    assert queries["conv-a:q1"] == QueryRecord(
        id="conv-a:q1", text="What is the name of Ana's cat?", user_id="conv-a",
        at="2023-06-19T10:06:00+00:00", evidence=["D1:1"], answer="Miso", category="4",
    )  # fmt: skip
    assert queries["conv-a:q3"].answer == "2023"  # a number in the source becomes text
    assert queries["conv-b:q1"].at == datetime(2024, 1, 2, 23, 32, tzinfo=UTC)


def test_an_adversarial_question_abstains_and_keeps_the_trap_as_distractor(locomo: Path) -> None:
    [q] = [q for q in load_locomo(locomo).stream.queries if q.id == "conv-a:q4"]
    assert (q.category, q.answer, q.distractor) == ("5", "Not mentioned in the conversation", "red")


def test_malformed_evidence_ids_are_split_read_or_dropped_and_reported(locomo: Path) -> None:
    data = load_locomo(locomo)
    evidence = {q.id: q.evidence for q in data.stream.queries}
    assert evidence == {
        "conv-a:q1": ["D1:1"],
        "conv-a:q2": ["D1:1", "D2:1"],  # 'D1:1; D2:1'
        "conv-a:q3": ["D2:1"],  # 'D:2:1' read as D2:1, 'D' dropped
        "conv-a:q4": ["D1:2"],  # 'D1:02' read as D1:2, 'D9:9' names no turn
        "conv-a:q5": [],
        "conv-b:q1": ["D1:1"],
    }
    assert [n.render() for n in data.notes] == [
        f"{locomo}: conv-a.qa[1].evidence: split 'D1:1; D2:1' into 'D1:1', 'D2:1'",
        f"{locomo}: conv-a.qa[2].evidence: read 'D:2:1' as 'D2:1'",
        f"{locomo}: conv-a.qa[2].evidence: dropped 'D': not a turn id (D<session>:<turn>)",
        f"{locomo}: conv-a.qa[3].evidence: read 'D1:02' as 'D1:2'",
        f"{locomo}: conv-a.qa[3].evidence: dropped 'D9:9': conv-a has no turn D9:9",
    ]


def test_clean_evidence_splits_space_joined_lists_and_drops_repeats() -> None:
    ids, notes = clean_evidence(["D1:1 D1:2", "D1:1"], {"D1:1", "D1:2"}, "c")
    assert ids == ["D1:1", "D1:2"] and notes == ["split 'D1:1 D1:2' into 'D1:1', 'D1:2'"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("12:09 am on 13 September, 2023", datetime(2023, 9, 13, 0, 9, tzinfo=UTC)),
        ("12:48 pm on 1 Feb, 2023", datetime(2023, 2, 1, 12, 48, tzinfo=UTC)),
    ],
)
def test_locomo_dates_parse(text: str, expected: datetime) -> None:
    assert parse_locomo_date(text) == expected


def test_a_stream_written_from_a_loader_reads_back_the_same(locomo: Path, tmp_path: Path) -> None:
    data = load_locomo(locomo)
    out = tmp_path / "s.jsonl"
    write_stream(out, [data.stream.header, *data.stream.records])  # type: ignore[list-item]
    assert load_jsonl(out).stream.records == data.stream.records


def test_malformed_locomo_files_list_every_problem_with_its_place(tmp_path: Path) -> None:
    sample = locomo_sample()
    sample[0]["conversation"]["session_2_date_time"] = "yesterday"
    sample[1]["conversation"]["session_1"][1]["dia_id"] = "D1:1"
    with pytest.raises(StreamError) as caught:
        load_locomo(write_locomo(tmp_path / "bad.json", sample))
    lines = caught.value.render().splitlines()
    assert any("conv-a.session_2_date_time: not a LoCoMo date: 'yesterday'" in ln for ln in lines)
    assert any("conv-b.session_1[1].dia_id: turn id 'D1:1' is used twice" in ln for ln in lines)
    assert lines[-1].endswith("2 problems in " + str(tmp_path / "bad.json"))


def test_a_file_that_is_not_locomo_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"sample_id": "x"}))
    with pytest.raises(StreamError, match="expected a JSON list of conversations"):
        load_locomo(path)
    with pytest.raises(StreamError, match="cannot read LoCoMo JSON"):
        load_locomo(tmp_path / "missing.json")


def test_unknown_dataset_kinds_say_what_is_allowed(tmp_path: Path) -> None:
    from evolvelab.datasets import DATASETS

    allowed = re.escape(", ".join(DATASETS))
    assert list(DATASETS)[:5] == ["locomo", "goodai", "jsonl", "tasks", "halumem"]
    with pytest.raises(EvolveLabError, match=rf"unknown dataset 'locmo'; allowed: {allowed} \(did you mean 'locomo'\?\)"):
        load_dataset("locmo", tmp_path)


# --- GoodAI LTM --------------------------------------------------------------------------


@pytest.fixture
def goodai(tmp_path: Path) -> Path:
    return write_goodai(tmp_path / "bench")


def test_goodai_lines_are_events_and_probes_are_queries_in_one_scope(goodai: Path) -> None:
    data = load_goodai(goodai)
    stream = data.stream
    assert data.order == "stream" and [s.user_id for s in stream.scopes()] == ["goodai"]
    assert sorted(e.id for e in stream.events) == [
        "Colours/0:1", "Colours/0:2", "Jokes/0:1", "Jokes/0:2", "Shopping/0:1", "Shopping/0:2",
        "Trigger Response/0:1",
    ]  # fmt: skip
    queries = {q.id: q for q in stream.queries}
    assert sorted(queries) == ["Colours/0:q3", "Jokes/0:q3", "Shopping/0:q3",
                               "Trigger Response/0:q2", "Trigger Response/0:q3"]  # fmt: skip
    colours = queries["Colours/0:q3"]
    assert (colours.text, colours.answer, colours.category) == ("What is my favourite colour?", "Green", "Colours")
    assert colours.evidence == ["Colours/0:1", "Colours/0:2"]
    assert queries["Trigger Response/0:q3"].evidence == ["Trigger Response/0:1"]
    assert queries["Trigger Response/0:q3"].answer == "eat an apple"  # one response per probe
    assert queries["Shopping/0:q3"].answer == "soap 2, milk 1"
    assert all(e.speaker == "user" and e.session_id == "goodai:S1" for e in stream.events)


def test_goodai_interleaving_keeps_each_task_in_order_and_queries_after_their_evidence(goodai: Path) -> None:
    records = load_goodai(goodai).stream.records
    position = {r.id: i for i, r in enumerate(records)}  # type: ignore[union-attr]
    for task in ("Colours/0", "Jokes/0", "Shopping/0", "Trigger Response/0"):
        mine = [r.id for r in records if r.id.startswith(task)]  # type: ignore[union-attr]
        assert mine == sorted(mine, key=lambda i: int(i.rsplit(":", 1)[1].lstrip("q")))
    for query in (r for r in records if isinstance(r, QueryRecord)):
        assert all(position[e] < position[query.id] for e in query.evidence or [])
    # Shopping's first wait is empty: its second line follows the first at once.
    assert position["Shopping/0:2"] == position["Shopping/0:1"] + 1
    times = [r.timestamp if isinstance(r, EventRecord) else r.at for r in records]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_goodai_interleaving_is_seeded(goodai: Path) -> None:
    order = [r.id for r in load_goodai(goodai, seed=0).stream.records]  # type: ignore[union-attr]
    assert order == [r.id for r in load_goodai(goodai, seed=0).stream.records]  # type: ignore[union-attr]
    others = {tuple(r.id for r in load_goodai(goodai, seed=s).stream.records) for s in range(1, 6)}  # type: ignore[union-attr]
    assert others - {tuple(order)}


def test_a_temporal_probe_is_written_from_the_stream_clock(goodai: Path) -> None:
    stream = load_goodai(goodai).stream
    said = next(e.timestamp for e in stream.events if e.id == "Jokes/0:1")
    [probe] = [q for q in stream.queries if q.id == "Jokes/0:q3"]
    assert probe.at is not None and said is not None
    minutes = int((probe.at - said).total_seconds()) // 60
    assert minutes >= (3600 + 5400) // 60  # both time waits passed
    assert probe.text == f"Which joke did I tell you about {minutes // 60} hours {minutes % 60} minutes ago?"
    assert probe.answer == "Joke one." and probe.evidence == ["Jokes/0:1", "Jokes/0:2"]


def test_tasks_without_a_script_are_left_out_and_noted(goodai: Path) -> None:
    notes = [n.render() for n in load_goodai(goodai).notes]
    assert notes == ["Restaurant/0.def.json: left out: the script is empty (the task is driven at run time)"]


def test_goodai_accepts_the_definitions_folder_itself(goodai: Path) -> None:
    assert load_goodai(goodai / "definitions").stream.records == load_goodai(goodai).stream.records


def test_malformed_goodai_definitions_are_errors(tmp_path: Path) -> None:
    bad = tmp_path / "defs" / "Colours" / "0.def.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps({"script": ["a"], "is_question": [True, True]}))
    with pytest.raises(StreamError, match=r"Colours/0.def.json: is_question: has 2 entries for 1 script lines"):
        load_goodai(tmp_path / "defs")
    with pytest.raises(StreamError, match="no GoodAI definitions here"):
        load_goodai(tmp_path / "empty")


def test_expected_responses_render_as_text() -> None:
    assert answer_text(["Red"]) == "Red"
    assert answer_text(["Terence", "Jane"]) == "Terence, Jane"
    assert answer_text([["boat", "raft"], ["noon"]]) == "boat raft, noon"
    assert answer_text("pantry") == "pantry"


@pytest.mark.parametrize(
    ("kind", "name", "text"),
    [
        ("locomo", "empty.json", "[]"),
        ("longmemeval", "empty.json", "[]"),
        ("memoryagentbench", "empty.json", "{}"),
        ("memoryagentbench", "list.json", "[]"),
        ("halumem", "empty.jsonl", ""),
        ("jsonl", "empty.jsonl", ""),
    ],
)
def test_a_dataset_with_nothing_to_replay_is_refused(kind: str, name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StreamError, match="nothing to replay"):
        load_dataset(kind, path)
