"""The bm25 retriever: stop-word dropping and the content blend, with hand-checked numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evolvelab import Event, Hit, Memory, Note, Scope
from evolvelab.modules.retrieve.bm25 import BM25Config, without_stop_words
from evolvelab.modules.retrieve._fusion import fuse
from evolvelab.registry import Registry

SCOPE = Scope(user_id="u")
T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def pipeline(store: str = "memory", context: int = 0, **bm25: object) -> str:
    options = "".join(f", {key}: {str(value).lower()}" for key, value in bm25.items())
    return f"""\
version: 1
name: bm25
embedder: {{type: none}}
encode:
  - {{type: turn, speaker: false, context: {context}}}
store: {{type: {store}}}
retrieve:
  - {{type: bm25, k: 10{options}}}
"""


def session(*texts: str) -> list[Event]:
    return [
        Event(id=f"e{i}", content=text, session_id="s", timestamp=T0 + timedelta(minutes=i))
        for i, text in enumerate(texts)
    ]


def bm25(tf: int, df: int, n: int, length: int, avgdl: float) -> float:
    """One term's BM25 weight with the memory store's defaults (k1 1.2, b 0.75)."""
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avgdl))


class Spy:
    """Wrap a store's ``search_text`` and record every call."""

    def __init__(self, memory: Memory) -> None:
        memory.open()
        self.inner = memory.store.search_text  # type: ignore[attr-defined]
        self.calls: list[tuple[str, str]] = []
        memory.store.search_text = self  # type: ignore[attr-defined]

    def __call__(
        self, text: str, k: int, scope: Scope, where: Any, field: str = "index"
    ) -> list[Hit]:
        self.calls.append((text, field))
        return self.inner(text, k, scope, where, field=field)


def events_of(hits: list[Hit]) -> list[str]:
    return [h.note.source_ids[0] for h in hits]


# --------------------------------------------------------------------- without_stop_words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How does John feel while surfing?", "john feel surfing"),
        ("Where's Ana's dog?", "ana's dog"),  # "where's" is a stop word, "ana's" is not
        ("Caroline's LGBTQ group, 2023!", "caroline's lgbtq group 2023"),
        ("pottery", "pottery"),
        ("What is it?", "What is it?"),  # only stop words: sent as it is
        ("How?! Why...", "How?! Why..."),
        ("", ""),
        ("  ", "  "),
    ],
)
def test_without_stop_words(text: str, expected: str) -> None:
    assert without_stop_words(text) == expected


def test_options_are_off_by_default() -> None:
    config = BM25Config()
    assert (config.drop_stop_words, config.content_weight, config.k) == (False, 0.0, 20)
    with pytest.raises(ValueError):
        BM25Config(content_weight=-0.1)


# --------------------------------------------------------------------- drop_stop_words

QUESTION = "How does John feel while surfing?"
DISTRACTOR = "How does it feel? How does that feel?"  # 8 tokens, no John, no surfing
ANSWER = "John went surfing at dawn"  # 5 tokens


def test_question_words_match_a_distractor_unless_dropped(registry: Registry) -> None:
    avgdl, n = (8 + 5) / 2, 2
    answer = 2 * bm25(1, 1, n, 5, avgdl)  # john + surfing
    feel = bm25(2, 1, n, 8, avgdl)
    with Memory.from_text(pipeline(), registry=registry) as memory:
        memory.add(session(DISTRACTOR, ANSWER), scope=SCOPE)
        spy = Spy(memory)
        kept = memory.search(QUESTION, scope=SCOPE)
    assert spy.calls == [(QUESTION, "index")]
    # how, does and feel each occur twice in the distractor: same tf, df, length
    assert [(e, round(h.score, 6)) for e, h in zip(events_of(kept), kept, strict=True)] == [
        ("e0", round(3 * feel, 6)),
        ("e1", round(answer, 6)),
    ]
    assert 3 * feel > answer > feel

    with Memory.from_text(pipeline(drop_stop_words=True), registry=registry) as memory:
        memory.add(session(DISTRACTOR, ANSWER), scope=SCOPE)
        spy = Spy(memory)
        dropped = memory.search(QUESTION, scope=SCOPE)
    assert spy.calls == [("john feel surfing", "index")]
    assert events_of(dropped) == ["e1", "e0"]
    assert [h.score for h in dropped] == pytest.approx([answer, feel])
    assert {h.channel for h in dropped} == {"bm25"}


def test_a_query_of_only_stop_words_is_sent_unchanged(registry: Registry) -> None:
    with Memory.from_text(pipeline(drop_stop_words=True), registry=registry) as memory:
        memory.add(session(DISTRACTOR, ANSWER), scope=SCOPE)
        spy = Spy(memory)
        hits = memory.search("How does it?", scope=SCOPE)
    assert spy.calls == [("How does it?", "index")]
    assert events_of(hits) == ["e0"]


# --------------------------------------------------------------------- content_weight

# With context 1, e1 is indexed with the long e0 before it, and e2 with e1: both index texts
# hold "puppy" once, and e2's is much shorter, so the index search ranks the borrower first.
CHORES = "we spent the whole weekend cleaning the garage and the attic and the shed"
PUPPY = session(CHORES, "then I adopted a puppy", "wow")


def test_the_content_blend_normalises_each_search_by_its_best() -> None:
    notes = {i: Note(id=i, content=i) for i in "abc"}

    def hits(**scores: float) -> list[Hit]:
        return [Hit(note=notes[i], score=s, channel="bm25") for i, s in scores.items()]

    def _blend(index: list[Hit], content: list[Hit], weight: float) -> list[Hit]:
        return fuse([("index", 1.0, index), ("content", weight, content)], channel="bm25")

    fused = _blend(hits(a=4.0, b=2.0), hits(b=3.0, c=1.5), 0.8)
    # a: 4/4 = 1.0;  b: 2/4 + 0.8 * 3/3 = 1.3;  c: 0.8 * 1.5/3 = 0.4
    assert [(h.note.id, round(h.score, 9)) for h in fused] == [("b", 1.3), ("a", 1.0), ("c", 0.4)]
    assert [h.explain for h in fused] == [
        {"index": 2.0, "content": 3.0},
        {"index": 4.0},
        {"content": 1.5},
    ]
    assert {h.channel for h in fused} == {"bm25"}
    only_index = _blend(hits(a=2.0, b=1.0), [], 0.5)
    assert [(h.note.id, h.score) for h in only_index] == [("a", 1.0), ("b", 0.5)]
    assert _blend([], [], 1.0) == []


def test_content_weight_zero_asks_the_store_once(registry: Registry) -> None:
    with Memory.from_text(pipeline(context=1), registry=registry) as memory:
        memory.add(PUPPY, scope=SCOPE)
        spy = Spy(memory)
        hits = memory.search("puppy", scope=SCOPE)
    assert spy.calls == [("puppy", "index")]
    assert events_of(hits) == ["e2", "e1"]  # the borrower's shorter index text wins
    assert all(h.explain == {} for h in hits)


def test_content_weight_ranks_the_turn_that_says_it_above_its_successor(
    registry: Registry,
) -> None:
    with Memory.from_text(pipeline(context=1), registry=registry) as memory:
        memory.add(PUPPY, scope=SCOPE)
        plain = {h.note.source_ids[0]: h.score for h in memory.search("puppy", scope=SCOPE)}
    with Memory.from_text(pipeline(context=1, content_weight=1.0), registry=registry) as memory:
        written = memory.add(PUPPY, scope=SCOPE)
        assert written[2].index_text == "then I adopted a puppy wow"
        assert written[2].content == "wow"
        spy = Spy(memory)
        hits = memory.search("puppy", scope=SCOPE)
    assert spy.calls == [("puppy", "index"), ("puppy", "content")]
    assert events_of(hits) == ["e1", "e2"]
    e1, e2 = hits
    # only e1's content says "puppy": its content score is the best (1.0 after normalising)
    assert e1.explain["index"] == pytest.approx(plain["e1"])
    assert set(e1.explain) == {"index", "content"} and e1.explain["content"] > 0
    assert e2.explain == {"index": pytest.approx(plain["e2"])}
    assert e2.score == pytest.approx(1.0)  # the best index score, no content match
    assert e1.score == pytest.approx(plain["e1"] / plain["e2"] + 1.0)
    assert {h.channel for h in hits} == {"bm25"}


def test_content_weight_decides_how_far_the_content_search_counts(registry: Registry) -> None:
    with Memory.from_text(pipeline(context=1), registry=registry) as memory:
        memory.add(PUPPY, scope=SCOPE)
        plain = {h.note.source_ids[0]: h.score for h in memory.search("puppy", scope=SCOPE)}
    ratio = plain["e1"] / plain["e2"]  # e1 needs a weight above 1 - ratio to overtake e2
    assert 0.1 < 1 - ratio < 0.9
    below, above = round(1 - ratio - 0.05, 3), round(1 - ratio + 0.05, 3)
    for weight, expected in ((below, ["e2", "e1"]), (above, ["e1", "e2"])):
        text = pipeline(context=1, content_weight=weight)
        with Memory.from_text(text, registry=registry) as memory:
            memory.add(PUPPY, scope=SCOPE)
            hits = memory.search("puppy", scope=SCOPE)
        assert events_of(hits) == expected, weight
        assert hits[[h.note.source_ids[0] for h in hits].index("e1")].score == pytest.approx(
            ratio + weight
        )


# --------------------------------------------------------------------- on LanceDB


def content_indexes(data_dir: Path) -> list[list[str]]:
    import lancedb

    db = lancedb.connect(str(data_dir / "lancedb"))
    [name] = [n for n in db.list_tables().tables if n.startswith("notes-")]  # one owner's table
    table = db.open_table(name)
    return [list(index.columns) for index in table.list_indices() if "content" in index.columns]


def test_content_weight_on_lancedb_builds_the_content_index_lazily(
    registry: Registry, tmp_path: Path
) -> None:
    lance_dir = tmp_path / "data"
    text = pipeline("lancedb", context=1)
    with Memory.from_text(text, registry=registry, data_dir=lance_dir) as memory:
        memory.add(PUPPY, scope=SCOPE)
        plain = memory.search("puppy", scope=SCOPE)
    assert events_of(plain) == ["e2", "e1"]
    assert content_indexes(lance_dir) == []  # no content search yet, no content index

    blended = pipeline("lancedb", context=1, content_weight=1.0)
    with Memory.from_text(blended, registry=registry, data_dir=lance_dir) as memory:
        hits = memory.search("puppy", scope=SCOPE)
        assert content_indexes(lance_dir) == [["content"]]
        # a turn added after the content index exists is found by the content search at once
        later = Event(id="e3", content="the puppy chewed a shoe", session_id="s",
                      timestamp=T0 + timedelta(minutes=3))  # fmt: skip
        memory.add([later], scope=SCOPE)
        after_add = memory.search("puppy", scope=SCOPE)
    assert events_of(hits) == ["e1", "e2"]
    e1, e2 = hits
    scores = {h.note.source_ids[0]: h.score for h in plain}
    assert e1.explain["index"] == pytest.approx(scores["e1"], rel=1e-5)
    assert e1.explain["content"] > 0 and "content" not in e2.explain
    assert e2.score == pytest.approx(1.0)
    assert e1.score == pytest.approx(scores["e1"] / scores["e2"] + 1.0, rel=1e-5)
    assert "e3" in events_of(after_add)
    assert set(events_of(after_add)[:2]) == {"e1", "e3"}  # the two turns that say "puppy"
    assert all("content" in h.explain for h in after_add if h.note.source_ids[0] in {"e1", "e3"})

    # reopened, the store finds the content index it built before and blends the same way
    with Memory.from_text(blended, registry=registry, data_dir=lance_dir) as memory:
        again = memory.search("puppy", scope=SCOPE)
        assert content_indexes(lance_dir) == [["content"]]
    assert [(events_of([h])[0], round(h.score, 5)) for h in again] == [
        (events_of([h])[0], round(h.score, 5)) for h in after_add
    ]
