"""What ``Memory.add`` reports, and how its failures read.

- It returns an ``AddResult``: the list of notes written, plus what was dropped.
- Any error but ``AfterWriteError`` means nothing was written.
- ``AfterWriteError`` means the notes it carries are stored and durable (another process
  finds them), and a later stage failed: a manager that runs on add, or a store that
  raised after its commit (LanceDB's "Retryable commit conflict" after a merge).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evolvelab import AddResult, AfterWriteError, Event, EvolveLabError, Memory, Outcome, Scope, StageError
from evolvelab.llm import LLMConnectionError
from evolvelab.modules.encode.fact import ExtractedFact, ExtractedFacts
from evolvelab.modules.manage.mem0_update import UpdateDecision
from evolvelab.registry import Registry
from evolvelab.testing import FakeLLM

ANA = Scope(user_id="ana")
LANCEDB = "{type: lancedb}"

PIPELINE = """\
version: 1
name: add-report
embedder: {type: hashing, dim: 64}
encode:
  - {type: fact}
store: %(store)s
retrieve:
  - {type: vector, k: 10}
manage:
  - {type: mem0_update, every: 1}
  - {type: dedupe, every: 1}
"""


def fact_answer(messages: list[dict[str, str]], model: type) -> ExtractedFacts:
    """One fact per message line, tied to its event (a well-behaved model)."""
    facts = []
    for line in messages[-1]["content"].split("Messages:\n", 1)[1].splitlines():
        event_id, rest = line[1:].split("] ", 1)
        facts.append(ExtractedFact(text=rest.split(": ", 1)[1], source_ids=[event_id]))
    return ExtractedFacts(facts=facts)


def refuse(messages: list[dict[str, str]], model: type) -> UpdateDecision:
    raise LLMConnectionError("openai LLM 'm' at http://127.0.0.1:9/v1: endpoint timed out")


def build(registry: Registry, llm: FakeLLM, data: Path, store: str = "{type: memory}") -> Memory:
    text = PIPELINE % {"store": store}
    return Memory.from_text(text, registry=registry, llm=llm, data_dir=data)


def event(i: int, text: str) -> Event:
    return Event(id=f"e{i}", content=text, speaker="Ana")


def test_add_returns_the_notes_written_as_a_list(registry: Registry, tmp_path: Path) -> None:
    """The result is a list of notes (len, index, iterate, compare) with a drop report."""
    llm = FakeLLM().always(ExtractedFacts, fact_answer)
    with build(registry, llm, tmp_path) as memory:
        result = memory.add([event(0, "Ana moved to Porto.")], scope=ANA)
        assert isinstance(result, AddResult) and len(result) == 1
        assert result[0].content == "Ana moved to Porto." and [n.id for n in result] == [result[0].id]
        assert result.dropped == [] and result.dropped_count == 0
        assert result.summary() == "1 note written"
        assert memory.add([], scope=ANA) == []


def test_a_manager_failing_after_the_write_says_the_notes_are_stored(
    registry: Registry, tmp_path: Path
) -> None:
    """An update-decision LLM that fails after the write: AfterWriteError with the notes."""
    llm = FakeLLM().always(ExtractedFacts, fact_answer).always(UpdateDecision, refuse)
    with build(registry, llm, tmp_path, LANCEDB) as memory:
        memory.add([event(0, "Ana lives in Leeds.")], scope=ANA)  # nothing to compare with yet
        with pytest.raises(AfterWriteError) as caught:
            memory.add([event(1, "Ana lives in Porto now.")], scope=ANA)
    err = caught.value
    assert isinstance(err, EvolveLabError) and not isinstance(err, StageError)
    assert isinstance(err.cause, LLMConnectionError) and err.__cause__ is err.cause
    assert (err.stage, err.type_name, err.not_run) == ("manage[0]", "mem0_update", ("manage[1] (dedupe)",))
    assert str(err) == (
        "1 note written and durable; then manage[0] (mem0_update) failed: openai LLM 'm' at "
        "http://127.0.0.1:9/v1: endpoint timed out; not run: manage[1] (dedupe)"
    )
    [written] = err.written
    assert written.content == "Ana lives in Porto now." and isinstance(err.written, AddResult)
    # durable: a fresh process on the same folder finds it, and manage() can catch up
    fixed = FakeLLM().always(UpdateDecision, UpdateDecision(op="ADD"))
    with build(registry, fixed, tmp_path, LANCEDB) as again:
        hits = again.search("Where does Ana live now?", scope=ANA)
        assert written.id in {h.note.id for h in hits}
        reports = again.manage(ANA)
        assert reports[0].detail["asked"] == 1


def test_a_failure_before_the_write_leaves_nothing_written(registry: Registry, tmp_path: Path) -> None:
    """An encoder's LLM failure is an ordinary error and the store is untouched."""
    llm = FakeLLM().always(ExtractedFacts, refuse)
    with build(registry, llm, tmp_path) as memory:
        with pytest.raises(LLMConnectionError):
            memory.add([event(0, "Ana lives in Leeds.")], scope=ANA)
        assert memory.count(ANA) == 0


def commit_then_fail(store: Any) -> list[int]:
    """Make ``store.add`` commit its rows, then raise like a conflicting LanceDB commit."""
    calls: list[int] = []
    original = store.add

    def add(notes: Any) -> None:
        original(notes)
        calls.append(len(notes))
        raise RuntimeError("lance error: Retryable commit conflict for version 7: Please retry")

    store.add = add
    return calls


def fail_before_commit(store: Any) -> None:
    def add(notes: Any) -> None:
        raise RuntimeError("disk full")

    store.add = add


@pytest.mark.parametrize("store", ["{type: memory}", LANCEDB])
def test_a_store_that_raises_after_its_commit(registry: Registry, tmp_path: Path, store: str) -> None:
    """A store error raised after the rows were committed is reported as written."""
    llm = FakeLLM().always(ExtractedFacts, fact_answer)
    with build(registry, llm, tmp_path, store) as memory:
        commit_then_fail(memory.store)
        with pytest.raises(AfterWriteError) as caught:
            memory.add([event(0, "Ana moved to Porto."), event(1, "Rex is a dog.")], scope=ANA)
        assert memory.count(ANA) == 2
    err = caught.value
    assert err.stage == "store" and len(err.written) == 2
    assert str(err).startswith("2 notes written and durable; then store (")
    assert "Retryable commit conflict" in str(err)
    assert "not run: manage[0] (mem0_update), manage[1] (dedupe)" in str(err)


def test_a_store_that_fails_before_its_commit_is_nothing_written(
    registry: Registry, tmp_path: Path
) -> None:
    """A store error with no rows committed stays an ordinary error: nothing was written."""
    llm = FakeLLM().always(ExtractedFacts, fact_answer)
    with build(registry, llm, tmp_path) as memory:
        fail_before_commit(memory.store)
        with pytest.raises(StageError, match="disk full") as caught:
            memory.add([event(0, "Ana moved to Porto.")], scope=ANA)
        assert not isinstance(caught.value, AfterWriteError)
        assert memory.count(ANA) == 0


def test_the_errors_cross_process_boundaries_intact() -> None:
    """AfterWriteError (and the StageError it may carry) survive pickling, as evolver workers need."""
    import pickle

    cause = StageError("manage[0]", "mem0_update", "manage failed: boom")
    err = AfterWriteError(AddResult([]), "manage[0]", "mem0_update", cause, not_run=["manage[1] (dedupe)"])
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.not_run == err.not_run and back.stage == "manage[0]"
    assert isinstance(back.cause, StageError) and str(back.cause) == str(cause)


def test_a_graph_failure_on_a_re_add_keeps_what_was_stored(registry: Registry, tmp_path: Path) -> None:
    """The graph write fails: new notes are undone, notes stored before stay as they were."""
    text = PIPELINE.split("manage:")[0] % {"store": "{type: lancedb}\ngraph: {type: kuzu}"}
    text = text.replace("{type: fact}", "{type: turn}")
    first = [event(0, "Ana moved to Porto.")]
    with Memory.from_text(text, registry=registry, data_dir=tmp_path) as memory:
        [stored] = memory.add(first, scope=ANA)
        assert memory.graph is not None

        def graph_down(notes: Any) -> None:
            raise RuntimeError("graph down")

        memory.graph.add = graph_down  # type: ignore[method-assign]
        with pytest.raises(StageError, match="graph down") as caught:
            memory.add([event(1, "Rex is a dog.")], scope=ANA)
        assert not isinstance(caught.value, AfterWriteError) and memory.count(ANA) == 1
        # re-adding the stored event (a new version: changed text) while the graph is down
        with pytest.raises(StageError, match="graph down") as caught:
            memory.add([event(0, "Ana moved to Porto in May.")], scope=ANA)
        assert not isinstance(caught.value, AfterWriteError)
        [kept] = memory.store.get([stored.id], stored.scope)
        assert kept.model_dump() == stored.model_dump()


def test_feedback_whose_manager_fails_says_the_counts_are_stored(registry: Registry) -> None:
    spec = ("version: 1\nname: fb\nembedder: {type: none}\nencode:\n  - {type: turn}\n"
            "store: {type: memory}\nretrieve:\n  - {type: bm25}\nmanage:\n  - {type: utility_prune}\n")  # fmt: skip
    scope = Scope(user_id="ana")
    with Memory.from_text(spec, registry=registry) as memory:
        [note] = memory.add([event(0, "Ana adopted a cat.")], scope=scope)
        [manager] = memory.managers

        def broken(*args: Any) -> None:
            raise ValueError("feedback store offline")

        manager.on_feedback = broken  # type: ignore[method-assign]
        with pytest.raises(AfterWriteError) as caught:
            memory.feedback(Outcome(success=True, scope=scope), [note.id])
        [stored] = memory.store.get([note.id], scope)
    assert caught.value.stage == "manage[0]" and [n.id for n in caught.value.written] == [note.id]
    assert "1 note written and durable" in str(caught.value)
    assert stored.success_count == 1  # counted once: the outcome must not be sent again
