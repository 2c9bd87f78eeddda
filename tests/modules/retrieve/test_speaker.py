"""The speaker refiner: who a question names, and re-ranking with hand-checked numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evolvelab import Event, Hit, Memory, Note, Query, Scope
from evolvelab.modules.retrieve.speaker import SpeakerConfig, SpeakerRetriever, names_speaker
from evolvelab.registry import Registry

SCOPE = Scope(user_id="u")


@pytest.mark.parametrize(
    ("text", "speaker", "named"),
    [
        ("What did Tim suggest?", "Tim", True),
        ("what did TIM suggest", "Tim", True),  # any case
        ("What did tim suggest?", "TIM", True),
        ("Tim's idea", "Tim", True),  # a possessive still names him
        ("What did Timothy suggest?", "Tim", False),  # whole words only
        ("Optimism is Ana's thing", "Tim", False),
        ("Did Tim-Tom come?", "Tim", True),  # a hyphen ends a word
        ("Where does Ana Ruiz live?", "Ana Ruiz", True),
        ("Where does Ana live?", "Ana Ruiz", True),  # first word, 3 letters
        ("Where does ana live?", "Ana Ruiz", True),
        ("Where does Ruiz live?", "Ana Ruiz", False),  # never by the last word
        ("Where does Anabel live?", "Ana Ruiz", False),
        ("Where does Jo live?", "Jo Smith", False),  # first word too short
        ("Where does Jo Smith live?", "Jo Smith", True),
        ("What did Dr. Ruiz say?", "Dr. Ruiz", True),
        ("what did dr. ruiz say?", "Dr. Ruiz", True),
        ("What did the Dr. say?", "Dr. Ruiz", False),  # "Dr." only in full
        ("What did Ruiz say?", "Dr. Ruiz", False),
        ("What did Mrs. Jones say?", "Mrs. Smith", False),  # a title names nobody
        ("What did Prof. Lee say?", "Prof. Ruiz", False),
        ("What did Tim say?", " Tim ", True),  # surrounding spaces are ignored
        ("What did Tim say?", "", False),  # no name names nobody
        ("What did Tim say?", "   ", False),
        ("", "Tim", False),
        ("What did C.J. say?", "C.J.", True),  # punctuation in a name is literal
        ("What did CXJX say?", "C.J.", False),
    ],
)
def test_names_speaker(text: str, speaker: str, named: bool) -> None:
    assert names_speaker(text, speaker) is named


def note(id: str, speaker: object = None, field: str = "speaker") -> Note:
    metadata = {} if speaker is None else {field: speaker}
    return Note(id=id, content=f"turn {id}", scope=SCOPE, metadata=metadata)


def hit(id: str, score: float, speaker: object = None, field: str = "speaker") -> Hit:
    return Hit(note=note(id, speaker, field), score=score, channel="bm25", explain={"bm25": score})


def refine(previous: list[Hit], text: str = "What did Tim suggest?", **config: object) -> list[Hit]:
    retriever = SpeakerRetriever(SpeakerConfig(**config))  # type: ignore[arg-type]
    return retriever.retrieve(Query(text=text, scope=SCOPE), previous)


def scored(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(h.note.id, round(h.score, 9)) for h in hits]


def test_config_defaults() -> None:
    config = SpeakerConfig()
    assert (config.boost, config.field, config.k) == (0.3, "speaker", 20)
    assert SpeakerRetriever.source is False


def test_named_speakers_gain_a_share_of_their_score() -> None:
    previous = [hit("ana", 1.2, "Ana"), hit("none", 1.1), hit("tim", 1.0, "Tim")]
    hits = refine(previous, boost=0.3)
    # tim: 1.0 + 0.3 * 1.0 = 1.3 overtakes ana (1.2, not named) and none (1.1, no speaker)
    assert scored(hits) == [("tim", 1.3), ("ana", 1.2), ("none", 1.1)]
    assert hits[0].explain == {"bm25": 1.0, "speaker_boost": pytest.approx(0.3)}
    assert hits[1] == previous[0] and hits[2] == previous[1]  # untouched
    assert {h.channel for h in hits} == {"bm25"}
    assert previous[2].score == 1.0  # the input hits are not changed


def test_a_small_boost_may_not_be_enough() -> None:
    previous = [hit("ana", 2.0, "Ana"), hit("tim", 1.0, "Tim")]
    assert scored(refine(previous, boost=0.5)) == [("ana", 2.0), ("tim", 1.5)]
    assert scored(refine(previous, boost=1.5)) == [("tim", 2.5), ("ana", 2.0)]


def test_hits_without_a_speaker_are_untouched() -> None:
    previous = [hit("a", 0.5), hit("b", 0.4, 42), hit("c", 0.3, ""), hit("d", 0.2, "Ana")]
    hits = refine(previous, boost=1.0)
    assert hits == previous
    assert all("speaker_boost" not in h.explain for h in hits)


def test_negative_scores_move_up_not_down() -> None:
    previous = [hit("ana", -0.4, "Ana"), hit("tim", -0.5, "Tim")]
    hits = refine(previous, boost=1.0)
    # tim: -0.5 / (1 + 1.0) = -0.25, now above ana's -0.4
    assert scored(hits) == [("tim", -0.25), ("ana", -0.4)]
    assert hits[0].explain["speaker_boost"] == pytest.approx(0.25)


def test_a_zero_score_gains_nothing() -> None:
    [only] = refine([hit("tim", 0.0, "Tim")], boost=0.5)
    assert only.score == 0.0 and only.explain["speaker_boost"] == 0.0


def test_naming_every_speaker_keeps_the_order() -> None:
    previous = [hit("a", 2.0, "Ana"), hit("t", 1.5, "Tim"), hit("a2", 1.0, "Ana")]
    hits = refine(previous, text="Did Ana or Tim book it?", boost=0.5)
    assert scored(hits) == [("a", 3.0), ("t", 2.25), ("a2", 1.5)]


def test_naming_every_speaker_keeps_the_order_of_negative_scores_for_any_boost() -> None:
    previous = [hit("a", -1.0, "Tim"), hit("b", -2.0, "Tim"), hit("c", -1.5, "Ana")]
    hits = refine(previous, boost=2.0)
    assert scored(hits) == [("a", round(-1 / 3, 9)), ("b", round(-2 / 3, 9)), ("c", -1.5)]


def test_k_truncates_after_reranking() -> None:
    previous = [hit(f"n{i}", 1.0 - i / 10, "Ana") for i in range(5)] + [hit("tim", 0.5, "Tim")]
    hits = refine(previous, boost=1.5, k=2)
    assert scored(hits) == [("tim", 1.25), ("n0", 1.0)]
    hits = refine(previous, boost=1.2, k=3)
    assert scored(hits) == [("tim", 1.1), ("n0", 1.0), ("n1", 0.9)]
    assert refine([], k=3) == []


def test_ties_keep_the_earlier_order() -> None:
    previous = [hit("first", 1.0, "Ana"), hit("second", 0.5, "Tim")]
    assert [h.note.id for h in refine(previous, boost=1.0)] == ["first", "second"]


def test_the_speaker_field_is_configurable() -> None:
    previous = [hit("ana", 1.2, "Ana"), hit("tim", 1.0, "Tim", field="author")]
    assert scored(refine(previous, boost=0.3)) == [("ana", 1.2), ("tim", 1.0)]
    assert scored(refine(previous, boost=0.3, field="author")) == [("tim", 1.3), ("ana", 1.2)]


PIPELINE = """\
version: 1
name: speaker
embedder: {type: none}
encode:
  - {type: turn, speaker: false}
store: {type: memory}
retrieve:
  - {type: bm25, k: 10}
"""

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
TURNS = [
    ("Ana", "camping at the lake, camping in the woods, camping everywhere"),
    ("Tim", "we could try camping near the river this summer"),
    ("Ana", "the river is cold in June"),
]


def test_a_named_speakers_turn_enters_the_top_one(registry: Registry) -> None:
    events = [
        Event(id=f"e{i}", content=text, speaker=who, session_id="s",
              timestamp=T0 + timedelta(minutes=i))
        for i, (who, text) in enumerate(TURNS)
    ]  # fmt: skip
    question = "What did Tim suggest for camping?"
    with Memory.from_text(PIPELINE, registry=registry) as memory:
        written = memory.add(events, scope=SCOPE)
        plain = memory.search(question, scope=SCOPE)
    # the content does not carry the speaker, only the metadata does
    assert [n.metadata["speaker"] for n in written] == ["Ana", "Tim", "Ana"]
    assert "Tim" not in written[1].content
    assert [h.note.source_ids[0] for h in plain] == ["e0", "e1"]
    raw = {h.note.source_ids[0]: h.score for h in plain}
    boost = round(raw["e0"] / raw["e1"] - 1 + 0.1, 3)  # just enough for Tim to overtake

    text = PIPELINE + f"  - {{type: speaker, boost: {boost}, k: 5}}\n"
    with Memory.from_text(text, registry=registry) as memory:
        memory.add(events, scope=SCOPE)
        hits = memory.search(question, k=1, scope=SCOPE)
        both = memory.search(question, k=5, scope=SCOPE)
    [top] = hits
    assert top.note.source_ids[0] == "e1"
    assert top.score == pytest.approx(raw["e1"] * (1 + boost))
    assert top.explain["speaker_boost"] == pytest.approx(raw["e1"] * boost)
    assert [(h.note.source_ids[0], h.score) for h in both] == [
        ("e1", pytest.approx(raw["e1"] * (1 + boost))),
        ("e0", pytest.approx(raw["e0"])),
    ]
