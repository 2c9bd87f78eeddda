"""``type: thought_manage``: post-thinking, insert, merge and forget of TiM thoughts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evolvelab import Event, Memory, Outcome, Scope
from evolvelab.modules.manage.thought_manage import ThoughtManager
from evolvelab.modules.manage._thoughts import (
    MergeDecision,
    Thought,
    ThoughtReview,
    Thoughts,
    salient_statements,
    thought_id,
)
from evolvelab.testing import FakeLLM
from evolvelab.types import Note, Where

ANA = Scope(user_id="ana")
TURNS = [
    Event(id="e1", speaker="Ana", content="Hi Ben! I adopted a grey cat called Miso last week.",
          timestamp="2023-05-08T10:00:00", session_id="s1"),
    Event(id="e2", speaker="Ben", content="Lovely! What colour are his eyes?",
          timestamp="2023-05-08T10:01:00", session_id="s1"),
    Event(id="e3", speaker="Ana", content="Green. My sister teaches piano lessons in Lisbon, by the way.",
          timestamp="2023-05-08T10:02:00", session_id="s1"),
]  # fmt: skip


def memory(
    llm: FakeLLM | None = None, store: str = "memory", data_dir: Path | None = None, **manage: Any
) -> Memory:
    spec = {
        "version": 1, "name": "tim-test", "embedder": {"type": "hashing", "dim": 256},
        "encode": [{"type": "turn"}], "store": {"type": store},
        "retrieve": [{"type": "lsh", "kinds": ["thought"]}],
        "manage": [{"type": "thought_manage", "every": 1, **manage}],
    }  # fmt: skip
    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    if llm is not None:
        overrides["llm"] = llm
    return Memory.from_dict(spec, **overrides).open()


def thoughts(mem: Memory, scope: Scope = ANA, **where: Any) -> list[Note]:
    found = mem.store.scan(scope, Where(kind=["thought"], **where))  # type: ignore[attr-defined]
    return sorted(found, key=lambda n: n.content)


def manager(mem: Memory) -> ThoughtManager:
    [stage] = mem.managers
    assert isinstance(stage, ThoughtManager)
    return stage


def thought(mem: Memory, id: str, content: str, sources: list[str], **extra: Any) -> Note:
    note = Note(id=id, content=content, kind="thought", scope=ANA, source_ids=sources, **extra)
    [written] = mem.resources.write([note])
    return written


# ---------------------------------------------------------------------- the rule without an LLM


def test_salient_statements_are_declarative_first_person_and_wordy() -> None:
    note = Note(id="n", content="Ana: Hi Ben! I adopted a grey cat called Miso last week. Do you like cats? "
                "I am fine. My sister teaches piano lessons in Lisbon.", metadata={"speaker": "Ana"})  # fmt: skip
    assert salient_statements(note, min_words=3, limit=5) == [
        "Ana: I adopted a grey cat called Miso last week.",
        "Ana: My sister teaches piano lessons in Lisbon.",
    ]
    assert salient_statements(note, min_words=3, limit=1) == [
        "Ana: I adopted a grey cat called Miso last week."
    ]
    assert salient_statements(note, min_words=20, limit=5) == []


def test_manage_without_llm_writes_thoughts_with_event_sources_once() -> None:
    mem = memory()
    mem.add(TURNS, scope=ANA)
    found = thoughts(mem)
    assert [(t.content, t.source_ids) for t in found] == [
        ("Ana: I adopted a grey cat called Miso last week.", ["e1"]),
        ("Ana: My sister teaches piano lessons in Lisbon, by the way.", ["e3"]),
    ]
    cat = found[0]
    assert cat.id == thought_id(ANA, cat.content) and cat.scope.session_id == "s1"
    assert cat.metadata == {"head": "Ana", "relation": "said", "tail": "I adopted a grey cat called Miso last week.",
                            "origin": "dialogue"}  # fmt: skip
    [report] = mem.manage(ANA)
    assert report.added == 0 and "thought_about" not in report.detail
    hits = mem.search("grey cat called Miso", scope=ANA)
    assert hits[0].note.source_ids == ["e1"] and hits[0].channel == "lsh"


def test_a_statement_said_again_gains_the_new_source() -> None:
    mem = memory()
    mem.add(TURNS[:1], scope=ANA)
    again = Event(
        id="e9",
        speaker="Ana",
        content="I adopted a grey cat called Miso last week!",
        session_id="s1",
    )
    mem.add([again], scope=ANA)
    [cat] = thoughts(mem)
    assert cat.source_ids == ["e1", "e9"] and cat.version == 2


def test_reopening_does_not_think_twice(tmp_path: Path) -> None:
    mem = memory(store="lancedb", data_dir=tmp_path)
    mem.add(TURNS, scope=ANA)
    mem.close()
    again = memory(store="lancedb", data_dir=tmp_path)
    [report] = again.manage(ANA)
    assert report.added == 0 and len(thoughts(again)) == 2
    later = Event(id="e4", speaker="Ana", content="I started a pottery class on Tuesdays.",
                  timestamp="2023-05-09T09:00:00", session_id="s2")  # fmt: skip
    again.add([later], scope=ANA)
    assert len(thoughts(again)) == 3
    again.close()


def test_merge_collapses_bucket_mates_and_keeps_both_sources() -> None:
    mem = memory(merge_similarity=0.85, think_on=[])
    old = thought(mem, "t-old", "Ana: I adopted a grey cat called Miso last week.", ["e1"],
                  created_at="2023-05-01T00:00:00", success_count=1)  # fmt: skip
    thought(
        mem,
        "t-new",
        "Ana: I adopted a grey cat called Miso.",
        ["e7"],
        created_at="2023-06-01T00:00:00",
    )
    thought(
        mem,
        "t-far",
        "Ana: I adopted a grey kitten called Miso.",
        ["e8"],
        created_at="2023-06-02T00:00:00",
    )
    [report] = mem.manage(ANA)
    by_id = {t.id: t for t in thoughts(mem)}
    assert set(by_id) == {"t-old", "t-far"}  # cos(old, new) = 0.89 ≥ 0.85; the kitten is at 0.71
    survivor = by_id["t-old"]
    assert survivor.content == old.content and survivor.source_ids == ["e1", "e7"]
    assert (
        survivor.success_count == 1 and survivor.metadata["merged"] == 1 and survivor.version == 2
    )
    assert (report.updated, report.deleted, report.detail["merged"]) == (1, 1, 1)


def test_forget_deletes_or_closes() -> None:
    mem = memory(think_on=[])
    thought(mem, "t1", "Ana lives in Porto", ["e1"])
    assert manager(mem).forget(["t1", "unknown"], ANA) == 1
    assert thoughts(mem) == []
    closing = memory(think_on=[], forget_mode="close")
    thought(closing, "t1", "Ana lives in Porto", ["e1"])
    assert manager(closing).forget(["t1"], ANA) == 1
    [closed] = thoughts(closing, include_invalid=True)
    assert closed.invalid_at is not None and thoughts(closing) == []


def test_thoughts_blamed_by_feedback_are_forgotten() -> None:
    mem = memory(think_on=[], forget_failures=2)
    thought(mem, "t1", "Ana lives in Porto", ["e1"])
    failure = Outcome(task_id="q1", success=False, scope=ANA)
    [first] = mem.feedback(failure, ["t1"])
    assert first.deleted == 0 and thoughts(mem)[0].failure_count == 1
    [second] = mem.feedback(failure, ["t1"])
    assert second.deleted == 1 and thoughts(mem) == []


def test_capacity_forgets_the_least_useful() -> None:
    mem = memory(think_on=[], max_thoughts=2, merge_similarity=1.0)
    thought(
        mem, "t1", "Ana lives in Porto", ["e1"], success_count=2, created_at="2023-01-01T00:00:00"
    )
    thought(mem, "t2", "Ben plays the cello", ["e2"], created_at="2023-01-02T00:00:00")
    thought(mem, "t3", "Ana's sister teaches piano", ["e3"], created_at="2023-01-03T00:00:00")
    [report] = mem.manage(ANA)
    assert {t.id for t in thoughts(mem)} == {"t1", "t3"} and report.deleted == 1


def test_feedback_without_llm_condenses_used_notes_on_success_only() -> None:
    mem = memory(think_on=[])
    notes = mem.add(TURNS, scope=ANA)
    used = [n.id for n in notes]
    [report] = mem.feedback(Outcome(task_id="q1", success=False, scope=ANA), used)
    assert report.added == 0 and thoughts(mem) == []
    [report] = mem.feedback(Outcome(task_id="q2", success=True, scope=ANA), used)
    [made] = thoughts(mem)
    assert made.content == ("Ana: I adopted a grey cat called Miso last week.; "
                            "Ana: My sister teaches piano lessons in Lisbon, by the way.")  # fmt: skip
    assert (
        made.source_ids == ["e1", "e3"]
        and made.metadata["origin"] == "feedback"
        and report.added == 1
    )


# ---------------------------------------------------------------------- with an LLM


SYSTEM_POST_THINK = (
    "You keep an assistant's long-term memory as inductive thoughts (Think-in-Memory)."
)


def test_post_thinking_asks_for_thoughts_and_writes_them() -> None:
    llm = FakeLLM().queue(Thoughts(thoughts=[
        Thought(head="Ana", relation="adopted", tail="Miso", statement="Ana adopted a grey cat named Miso.", sources=["N1"]),
        Thought(head="Ana's sister", relation="teaches", tail="piano", statement="Ana's sister teaches piano in Lisbon.",
                sources=["N9"]),
    ]))  # fmt: skip
    mem = memory(llm, review_similarity=1.0)
    mem.add(TURNS, scope=ANA)
    [(messages, model)] = llm.calls
    assert model is Thoughts
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith(SYSTEM_POST_THINK)
    assert messages[1] == {"role": "user", "content": (
        "Conversation memories:\n"
        "[N1] (2023-05-08) Ana: Hi Ben! I adopted a grey cat called Miso last week.\n"
        "[N2] (2023-05-08) Ben: Lovely! What colour are his eyes?\n"
        "[N3] (2023-05-08) Ana: Green. My sister teaches piano lessons in Lisbon, by the way.\n\n"
        "Write the thoughts worth keeping.")}  # fmt: skip
    cat, sister = thoughts(mem)
    assert (cat.content, cat.source_ids) == ("Ana adopted a grey cat named Miso.", ["e1"])
    assert cat.metadata == {
        "head": "Ana",
        "relation": "adopted",
        "tail": "Miso",
        "origin": "dialogue",
    }
    assert sister.source_ids == [
        "e1",
        "e2",
        "e3",
    ]  # an unknown label falls back to the whole window
    llm.assert_empty()


def test_window_splits_requests_per_session_and_size() -> None:
    llm = FakeLLM().always(Thoughts, Thoughts())
    mem = memory(llm, window=2)
    mem.add(
        [*TURNS, Event(id="e4", speaker="Ana", content="Hello again.", session_id="s2")], scope=ANA
    )
    assert [m[1]["content"].count("\n[N") for m, _ in llm.calls] == [2, 1, 1]


def decide(messages: list[dict[str, str]], model: type[Any]) -> ThoughtReview:
    """Forget the Porto thought, merge the two cat thoughts (labels read from the request)."""
    label = {
        line.split(") ", 1)[1]: line[1:].split("]")[0]
        for line in messages[1]["content"].splitlines()[1:]
    }
    cats = [label["Ana has a cat"], label["Ana owns a cat called Miso."]]
    return ThoughtReview(forget=[label["Ana lives in Porto"]],
                         merge=[MergeDecision(labels=cats, statement="Ana has a cat called Miso.")])  # fmt: skip


def test_review_merges_and_forgets_bucket_mates() -> None:
    llm = FakeLLM()
    mem = memory(llm, think_on=[], bits=2, probe_radius=2, review_similarity=-1.0)
    thought(mem, "t-porto", "Ana lives in Porto", ["e1"], created_at="2023-01-01T00:00:00")
    thought(mem, "t-cat", "Ana has a cat", ["e2"], created_at="2023-01-02T00:00:00")
    llm.queue(
        Thoughts(thoughts=[
            Thought(head="Ana", relation="moved to", tail="Lisbon", statement="Ana moved to Lisbon.", sources=["N1"]),
            Thought(head="Ana", relation="owns", tail="cat", statement="Ana owns a cat called Miso.", sources=["N1"]),
        ]),
        decide,
    )  # fmt: skip
    turn = Note(id="turn-9", content="Ana: We moved to Lisbon with Miso.", kind="turn", scope=ANA,
                source_ids=["e9"], created_at="2023-03-01T00:00:00")  # fmt: skip
    mem.resources.write([turn])
    [report] = mem.feedback(
        Outcome(task_id="q7", success=True, detail="answered: Lisbon", scope=ANA), ["turn-9"]
    )
    (post, first), (review, second) = llm.calls
    assert (first, second) == (Thoughts, ThoughtReview)
    assert post[1]["content"] == (
        "Task q7 succeeded.\nOutcome detail: answered: Lisbon\nMemories it used:\n"
        "[N1] (2023-03-01) Ana: We moved to Lisbon with Miso.\n\n"
        "Write the thoughts worth keeping for future tasks."
    )
    lines = review[1]["content"].splitlines()
    assert lines[0] == "Thoughts in one bucket:"
    assert lines[1:3] == [
        "[T1] (2023-01-01) Ana lives in Porto",
        "[T2] (2023-01-02) Ana has a cat",
    ]  # oldest first
    assert sorted(line.split(") ", 1)[1] for line in lines[3:]) == [
        "Ana moved to Lisbon.",
        "Ana owns a cat called Miso.",
    ]
    by_content = {t.content: t for t in thoughts(mem)}
    assert set(by_content) == {"Ana has a cat called Miso.", "Ana moved to Lisbon."}
    merged = by_content["Ana has a cat called Miso."]
    assert (
        merged.id == "t-cat"
        and merged.source_ids == ["e2", "e9"]
        and merged.metadata["merged"] == 1
    )
    assert (report.added, report.updated, report.deleted) == (
        2,
        1,
        2,
    )  # 1 merged away + 1 forgotten
    assert report.detail["llm_calls"] == 2
    llm.assert_empty()


def test_use_llm_false_keeps_the_rule_even_with_an_llm() -> None:
    llm = FakeLLM()
    mem = memory(llm, use_llm=False)
    mem.add(TURNS, scope=ANA)
    assert llm.calls == [] and len(thoughts(mem)) == 2


@pytest.mark.parametrize("think_on", [["turn"], []])
def test_pipeline_validates_with_and_without_dialogue_thinking(think_on: list[str]) -> None:
    assert memory(think_on=think_on).managers[0].config.think_on == think_on  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- pipelines/tim.yaml

TIM = Path(__file__).resolve().parents[3] / "pipelines" / "tim.yaml"


def tim(tmp_path: Path, llm: FakeLLM | None = None) -> Memory:
    from evolvelab.testing import HashingEmbedder, HashingEmbedderConfig

    overrides: dict[str, Any] = {"llm": llm} if llm is not None else {}
    embedder = HashingEmbedder(HashingEmbedderConfig(dim=384))
    return Memory.from_yaml(TIM, data_dir=tmp_path, embedder=embedder, **overrides).open()


def test_tim_pipeline_without_llm_recalls_rule_thoughts(tmp_path: Path) -> None:
    mem = tim(tmp_path)
    mem.add(TURNS, scope=ANA)
    hits = mem.search("Which cat did Ana adopt?", scope=ANA)
    assert hits and all(h.note.kind == "thought" and h.channel == "lsh" for h in hits)
    assert {s for h in hits for s in h.note.source_ids} <= {"e1", "e3"}
    mem.close()


def test_tim_pipeline_with_llm_posts_thinks_and_reviews(tmp_path: Path) -> None:
    llm = FakeLLM().queue(
        Thoughts(thoughts=[Thought(head="Ana", relation="adopted", tail="Miso",
                                   statement="Ana adopted a grey cat called Miso.", sources=["N1"])]),
        Thoughts(thoughts=[Thought(head="Ana", relation="adopted", tail="Miso",
                                   statement="Ana adopted Miso, a grey cat.", sources=["N1"])]),
    )  # fmt: skip
    llm.always(ThoughtReview, ThoughtReview())
    mem = tim(tmp_path, llm)
    mem.add(TURNS, scope=ANA)
    assert [model for _, model in llm.calls] == [Thoughts]  # one window of 3 turns, nothing to review
    later = Event(id="e5", speaker="Ana", content="Miso, my grey cat, is doing well.",
                  timestamp="2023-06-01T10:00:00", session_id="s2")  # fmt: skip
    mem.add([later], scope=ANA)
    models = [model for _, model in llm.calls]
    assert models[:2] == [Thoughts, Thoughts] and set(models[2:]) <= {ThoughtReview}
    assert {t.content for t in thoughts(mem)} == {"Ana adopted a grey cat called Miso.", "Ana adopted Miso, a grey cat."}
    hits = mem.search("Ana adopted a grey cat called Miso.", scope=ANA)  # its own bucket in every table
    assert hits[0].note.content == "Ana adopted a grey cat called Miso." and hits[0].note.source_ids == ["e1"]
    mem.close()
