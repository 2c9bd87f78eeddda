"""The time-expression parser and the ``temporal`` retrieve stage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from evolvelab import Event, Memory, Scope
from evolvelab.modules.retrieve._temporal import parse_window

NOW = datetime(2023, 10, 2, 14, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("What did Ana do last summer?", date(2023, 6, 1), date(2023, 9, 1)),
        ("What did Ana do this summer?", date(2023, 6, 1), date(2023, 9, 1)),
        ("Where did we go last winter?", date(2022, 12, 1), date(2023, 3, 1)),
        ("When did she go in May 2023?", date(2023, 5, 1), date(2023, 6, 1)),
        ("What happened in May?", date(2023, 5, 1), date(2023, 6, 1)),
        (
            "What happened in December?",
            date(2022, 12, 1),
            date(2023, 1, 1),
        ),  # latest one before now
        ("What did I do in 2022?", date(2022, 1, 1), date(2023, 1, 1)),
        ("What happened two weeks before 9 June 2023?", date(2023, 5, 26), date(2023, 6, 9)),
        ("What did Mel do the week before 1 July, 2023?", date(2023, 6, 24), date(2023, 7, 1)),
        ("And the day after 2023-05-08?", date(2023, 5, 9), date(2023, 5, 10)),
        ("On May 8, 2023 we met", date(2023, 5, 8), date(2023, 5, 9)),
        ("on the 20th of July 2023", date(2023, 7, 20), date(2023, 7, 21)),
        ("What did I buy yesterday?", date(2023, 10, 1), date(2023, 10, 2)),
        ("Where was I three weeks ago?", date(2023, 9, 11), date(2023, 9, 18)),
        ("Where was I 2 days ago?", date(2023, 9, 30), date(2023, 10, 1)),
        ("a couple of months ago", date(2023, 8, 1), date(2023, 9, 1)),
        ("What did they do last week?", date(2023, 9, 25), date(2023, 10, 2)),
        ("What happened last month?", date(2023, 9, 1), date(2023, 10, 1)),
        ("anything recently?", date(2023, 9, 2), date(2023, 10, 3)),
    ],
)
def test_time_expressions_become_windows(text: str, start: date, end: date) -> None:
    window = parse_window(text, NOW)
    assert window is not None
    assert (window.start.date(), window.end.date()) == (start, end)
    assert window.expression.lower() in text.lower()


def test_a_question_without_time_has_no_window() -> None:
    assert parse_window("When did Caroline go to the LGBTQ support group?", NOW) is None
    assert parse_window("I may go to the party", NOW) is None  # 'may' the verb


def test_last_summer_during_summer_means_the_one_before() -> None:
    window = parse_window("last summer", datetime(2023, 7, 15, tzinfo=UTC))
    assert window is not None and window.start.date() == date(2022, 6, 1)


def test_windows_are_half_open_and_can_be_widened() -> None:
    window = parse_window("yesterday", NOW)
    assert window is not None
    assert window.contains(datetime(2023, 10, 1, 23, 59, tzinfo=UTC))
    assert not window.contains(datetime(2023, 10, 2, tzinfo=UTC))
    assert window.contains(datetime(2023, 10, 2, 12, tzinfo=UTC), slack=timedelta(days=1))
    assert window.contains(datetime(2023, 10, 1))  # naive means UTC


ANA = Scope(user_id="ana")
T0 = datetime(2023, 5, 1, 10, 0, tzinfo=UTC)
EVENTS = [
    Event(id="may", content="We hiked the coast trail.", timestamp=T0, session_id="s1"),
    Event(id="june", content="We hiked the volcano trail.", timestamp=T0 + timedelta(days=40), session_id="s2"),
    Event(id="july", content="I painted the kitchen.", timestamp=T0 + timedelta(days=70), session_id="s3"),
]  # fmt: skip


def memory(*retrieve: dict[str, object]) -> Memory:
    spec = {"version": 1, "name": "temporal-test", "embedder": {"type": "none"},
            "encode": [{"type": "turn"}], "store": {"type": "memory"}, "retrieve": list(retrieve)}  # fmt: skip
    return Memory.from_dict(spec).open()


def sources(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.note.source_ids[0] for h in hits]


def test_source_mode_finds_notes_in_the_window_ranked_by_question_words() -> None:
    with memory({"type": "temporal", "slack_days": 0}) as mem:
        mem.add(EVENTS, scope=ANA)
        hits = mem.search("Which trail did we hike in June 2023?", scope=ANA)
        summer = mem.search(
            "What did I do last summer?", scope=ANA
        )  # clock: the newest event, July
        none = mem.search("Which trail did we hike?", scope=ANA)
    assert sources(hits) == ["june"]
    # "trail" is shared; "hike" is not "hiked" (no stemming); "june" and "2023" are time words
    assert hits[0].explain["overlap"] == 1.0 and hits[0].explain["window_days"] == 30.0
    assert sources(summer) == []  # July 10th is in this summer, not last summer
    assert none == []


def test_boost_and_filter_modes_refine_earlier_hits() -> None:
    bm25 = {"type": "bm25", "k": 10}
    question = "Which trail did we hike in May 2023?"
    with memory(bm25) as mem:
        mem.add(EVENTS, scope=ANA)
        plain = mem.search(question, scope=ANA)
    with memory(bm25, {"type": "temporal", "mode": "boost", "boost": 5.0, "slack_days": 0}) as mem:
        mem.add(EVENTS, scope=ANA)
        boosted = mem.search(question, scope=ANA)
    with memory(bm25, {"type": "temporal", "mode": "filter", "slack_days": 0}) as mem:
        mem.add(EVENTS, scope=ANA)
        kept = mem.search(question, scope=ANA)
    assert set(sources(plain)) >= {"may", "june"}
    assert sources(boosted)[0] == "may" and "window_days" in boosted[0].explain
    assert sources(kept) == ["may"]


def test_query_time_sets_now() -> None:
    from evolvelab import Query

    with memory({"type": "temporal", "slack_days": 0}) as mem:
        mem.add(EVENTS, scope=ANA)
        query = Query(text="What did we hike yesterday?", scope=ANA, at=T0 + timedelta(days=41))
        assert sources(mem.search(query)) == ["june"]
