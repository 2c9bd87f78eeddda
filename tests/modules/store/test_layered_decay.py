"""The layered-decay store: the store contract in both modes, and FinMem / MemoryBank numbers.

Every expected number is written so a reader can check it by hand: recency is
exp(-days / Q), importance is importance · α ** days, retention is exp(-t / (5 · S)).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from evolvelab.loader import parse_yaml, validate_pipeline
from evolvelab.modules.store.layered_decay import (
    Decaying,
    ImportanceRating,
    ImportanceRatings,
    LayeredDecayConfig,
    LayeredDecayStore,
)
from evolvelab.modules.store._layered_decay_rules import initial_importance
from evolvelab.registry import Registry
from evolvelab.stages import Clock, Scannable, TextSearch, VectorSearch
from evolvelab.testing import FakeLLM
from evolvelab.testing.contracts import (
    DIM,
    DurableStoreContract,
    ScanContract,
    TextSearchContract,
    VectorSearchContract,
    embed,
    make_note,
    store_resources,
)
from evolvelab.types import Note, Outcome, Scope, Where

ALICE = Scope(user_id="alice")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def open_store(
    tmp_path: Path, *, at: datetime | None = None, llm: Any = None, **fields: Any
) -> LayeredDecayStore:
    store = LayeredDecayStore(LayeredDecayConfig(path=str(tmp_path / "db"), **fields))
    resources = store_resources(store, tmp_path)
    resources.clock = Clock(at)
    resources.llm = llm
    store.open(resources)
    return store


def unit(*pairs: tuple[int, float]) -> list[float]:
    """Return a DIM-dimensional vector with the given (axis, value) entries."""
    vector = [0.0] * DIM
    for axis, value in pairs:
        vector[axis] = value
    return vector


def stored(store: LayeredDecayStore, id: str) -> Note:
    [note] = store.get([id], ALICE)
    return note


class TestFinMemContract(DurableStoreContract, ScanContract, VectorSearchContract, TextSearchContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[LayeredDecayStore]:
        store = open_store(tmp_path, mode="finmem")
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], LayeredDecayStore]:
        return lambda: open_store(tmp_path, mode="finmem")


class TestMemoryBankContract(DurableStoreContract, ScanContract, VectorSearchContract, TextSearchContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[LayeredDecayStore]:
        store = open_store(tmp_path, mode="memorybank")
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], LayeredDecayStore]:
        return lambda: open_store(tmp_path, mode="memorybank")


# ---------------------------------------------------------------------------- config


def test_offers_the_capabilities_the_retrievers_and_the_manager_need(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for capability in (VectorSearch, TextSearch, Scannable, Decaying):
        assert isinstance(store, capability)


def test_fields_of_the_other_mode_are_refused() -> None:
    with pytest.raises(ValidationError, match="only for mode finmem.*recency_days_short"):
        LayeredDecayConfig(mode="memorybank", recency_days_short=14)
    with pytest.raises(ValidationError, match="only for mode memorybank.*recall_k"):
        LayeredDecayConfig(mode="finmem", recall_k=3)


def test_thresholds_that_would_bounce_notes_are_refused() -> None:
    with pytest.raises(ValidationError, match="bounce"):
        LayeredDecayConfig(promote_short=50, demote_mid=60)


def test_upstream_constants_are_the_defaults() -> None:
    config = LayeredDecayConfig()
    assert [config.recency_days(x) for x in ("short", "mid", "long")] == [3.0, 90.0, 365.0]
    assert [config.importance_decay(x) for x in ("short", "mid", "long")] == [0.92, 0.967, 0.988]
    assert (config.recency_threshold, config.importance_threshold) == (0.05, 5.0)


# ---------------------------------------------------------------------------- FinMem: placement


def test_new_notes_enter_short_with_the_most_likely_upstream_importance(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0)
    store.add([make_note("news"), make_note("thought", kind="reflection")])
    assert (stored(store, "news").layer, stored(store, "news").importance) == ("short", 50.0)
    assert (stored(store, "thought").layer, stored(store, "thought").importance) == (
        "reflection",
        80.0,
    )


def test_notes_with_a_layer_or_importance_keep_them(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0)
    store.add(
        [make_note("placed", layer="long", importance=12.0), make_note("rated", importance=73.0)]
    )
    assert (stored(store, "placed").layer, stored(store, "placed").importance) == ("long", 12.0)
    assert (stored(store, "rated").layer, stored(store, "rated").importance) == ("short", 73.0)


def test_initial_importance_rules() -> None:
    # mean of upstream's distributions: 0.5·50 + 0.45·70 + 0.05·90 = 61; mid 62; long 75
    assert [initial_importance(x, "mean", 0, "k") for x in ("short", "mid", "long")] == [
        61.0,
        62.0,
        75.0,
    ]
    draws = [initial_importance("short", "sample", 7, f"n{i}") for i in range(2000)]
    assert draws == [initial_importance("short", "sample", 7, f"n{i}") for i in range(2000)]
    assert draws != [initial_importance("short", "sample", 8, f"n{i}") for i in range(2000)]
    share = {v: draws.count(v) / len(draws) for v in (50.0, 70.0, 90.0)}
    assert share[50.0] == pytest.approx(0.50, abs=0.04)
    assert share[70.0] == pytest.approx(0.45, abs=0.04)
    assert share[90.0] == pytest.approx(0.05, abs=0.02)


def test_llm_rates_new_notes_in_one_call(tmp_path: Path) -> None:
    llm = FakeLLM().queue(
        ImportanceRatings(
            ratings=[
                ImportanceRating(index=1, level="high"),
                ImportanceRating(index=3, level="low"),
            ]
        )
    )
    store = open_store(tmp_path, at=T0, llm=llm, importance_from_llm=True)
    store.add(
        [
            make_note("wedding", "I am getting married in June."),
            make_note("old", "already placed", layer="mid", importance=40.0),
            make_note("weather", "It is raining."),
            make_note("lunch", "I had soup."),
        ]
    )
    llm.assert_empty()
    [(messages, model)] = llm.calls
    assert model is ImportanceRatings
    assert messages[0]["role"] == "system" and "low" in messages[0]["content"]
    assert (
        messages[1]["content"]
        == "Memories:\n1. I am getting married in June.\n2. It is raining.\n3. I had soup."
    )
    # short layer values: low 50, medium 70, high 90; unrated notes fall back to the rule (50)
    found = {n.id: n.importance for n in store.get(["wedding", "old", "weather", "lunch"], ALICE)}
    assert found == {"wedding": 90.0, "old": 40.0, "weather": 50.0, "lunch": 50.0}


def test_without_an_llm_the_rule_applies(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0, importance_from_llm=True)
    store.add([make_note("a")])
    assert stored(store, "a").importance == 50.0


# ---------------------------------------------------------------------------- FinMem: decay


def test_recency_and_importance_after_one_and_two_days(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0)
    store.add([make_note("a")])  # short, importance 50, entered at T0
    note = stored(store, "a")
    assert store.decay_state(note, day(1)) == pytest.approx(
        {"recency": math.exp(-1 / 3), "importance": 46.0}
    )
    assert store.decay_state(note, day(2)) == pytest.approx(
        {"recency": 0.513417, "importance": 42.32}, abs=1e-6
    )
    assert store.decay(ALICE, day(1)).updated == 0  # a note that stays is not rewritten
    store.decay(ALICE, day(2))
    assert stored(store, "a").importance == 50.0  # the value at its event time (decay_at unset)
    assert store.decay_state(stored(store, "a"), day(2))["importance"] == pytest.approx(42.32)
    assert store.decay_state(stored(store, "a"), day(2))["recency"] == pytest.approx(
        0.513417, abs=1e-6
    )


def test_decay_steps_compose_whatever_the_schedule(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0)
    store.add([make_note("a", layer="long", importance=90.0)])
    for hours in range(0, 24 * 5 + 1, 7):
        store.decay(ALICE, T0 + timedelta(hours=hours))
    store.decay(ALICE, day(5))
    importance = store.decay_state(stored(store, "a"), day(5))["importance"]
    assert importance == pytest.approx(90 * 0.988**5)  # 84.67: one α per day


def test_short_notes_are_deleted_once_recency_drops_below_005(tmp_path: Path) -> None:
    # exp(-δ/3) < 0.05  ⇔  δ > 3·ln 20 = 8.99 days
    store = open_store(tmp_path, at=T0)
    store.add([make_note("a")])
    report = store.decay(ALICE, day(8.9))
    assert (report.deleted, report.detail["deleted_recency"]) == (0, 0)
    report = store.decay(ALICE, day(9))
    assert (report.deleted, report.detail["deleted_recency"]) == (1, 1)
    assert store.get(["a"], ALICE) == []


def test_notes_are_deleted_once_importance_drops_below_5(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0)
    store.add([make_note("a", importance=6.0)])  # 6 · 0.92² = 5.08, 6 · 0.92³ = 4.67
    assert store.decay(ALICE, day(2)).deleted == 0
    report = store.decay(ALICE, day(3))
    assert (report.deleted, report.detail["deleted_importance"]) == (1, 1)


def test_keep_kinds_are_never_deleted(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0, keep_kinds=["summary"])
    store.add([make_note("s", kind="summary"), make_note("t")])
    assert store.decay(ALICE, day(30)).deleted == 1
    assert [n.id for n in store.scan(ALICE, Where())] == ["s"]


# ---------------------------------------------------------------------------- FinMem: layers


@pytest.mark.parametrize(
    ("layer", "importance", "after"),
    [
        ("short", 60.0, "mid"),  # promote at >= 60
        ("short", 59.99, "short"),
        ("short", 85.0, "long"),  # short -> mid -> long in one pass
        ("mid", 80.0, "long"),  # promote at >= 80
        ("mid", 79.99, "mid"),
        ("mid", 59.99, "short"),  # demote below 60
        ("long", 80.0, "long"),
        ("long", 79.99, "mid"),  # demote below 80
        ("long", 50.0, "short"),  # long -> mid, then mid -> short in the second pass
        ("reflection", 10.0, "reflection"),  # reflections never move
    ],
)
def test_layer_moves_at_the_thresholds(
    tmp_path: Path, layer: str, importance: float, after: str
) -> None:
    store = open_store(tmp_path, at=T0)
    store.add([make_note("a", layer=layer, importance=importance)])
    store.decay(ALICE, T0)
    assert stored(store, "a").layer == after


def test_one_pass_moves_a_note_one_step_down(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0, jump_passes=1)
    store.add([make_note("a", layer="long", importance=50.0)])
    report = store.decay(ALICE, T0)
    assert (stored(store, "a").layer, report.detail["demoted"]) == ("mid", 1)


def test_promotion_restarts_recency_and_demotion_does_not(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0)
    store.add([make_note("up", importance=70.0), make_note("down", layer="mid", importance=61.0)])
    report = store.decay(ALICE, day(1))  # up: 70·0.92 = 64.4 >= 60; down: 61·0.967 = 58.99 < 60
    assert (report.detail["promoted"], report.detail["demoted"]) == (1, 1)
    up, down = stored(store, "up"), stored(store, "down")
    assert (up.layer, down.layer) == ("mid", "short")
    assert (up.version, down.version) == (2, 2)
    # up entered mid on day 1: recency exp(-1/90); down still counts from day 0, now with Q = 3
    assert store.decay_state(up, day(2)) == pytest.approx(
        {"recency": 0.988950, "importance": 64.4 * 0.967}, abs=1e-6
    )
    assert store.decay_state(down, day(2))["recency"] == pytest.approx(math.exp(-2 / 3))


# ---------------------------------------------------------------------------- FinMem: retrieval


def test_vector_search_ranks_by_similarity_plus_recency_plus_importance(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0)
    query = unit((0, 1.0))
    store.add(
        [
            # cosine 1.0, 8 days in short, importance 10: 1 + exp(-8/3) + 10·0.92⁸/100 = 1.1208
            make_note("similar", embedding=unit((0, 1.0)), importance=10.0, created_at=day(-8)),
            # cosine 0.6, fresh, long, importance 90: 0.6 + 1 + 0.9 = 2.5
            make_note("salient", embedding=unit((0, 0.6), (1, 0.8)), layer="long", importance=90.0),
            # cosine 0, fresh, importance capped at 100: 0 + 1 + 1 = 2.0
            make_note("loud", embedding=unit((2, 1.0)), layer="long", importance=150.0),
        ]
    )
    hits = store.search_vectors(query, 3, ALICE, Where())
    assert [h.note.id for h in hits] == ["salient", "loud", "similar"]
    assert [h.explain["compound"] for h in hits] == pytest.approx(
        [2.5, 2.0, 1 + math.exp(-8 / 3) + 0.1 * 0.92**8], abs=1e-6
    )
    assert [h.score for h in hits] == pytest.approx([0.6, 0.0, 1.0], abs=1e-6)  # score stays cosine
    salient = hits[0].explain
    assert salient["compound"] == pytest.approx(
        salient["similarity"] + salient["recency"] + salient["importance"]
    )
    assert store.search_vectors(query, 1, ALICE, Where(), at=day(0))[0].note.id == "salient"


def test_feedback_compounds_through_the_access_counter(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0)
    store.add([make_note("a")])  # importance 50
    won, lost = Outcome(success=True), Outcome(success=False)
    expected = [
        55.0,
        65.0,
        70.0,
    ]  # counter 1, 2, 1: +5, +10, +5 (a failure still adds while the counter is positive)
    for outcome, importance in zip([won, won, lost], expected, strict=True):
        store.reinforce([stored(store, "a")], outcome, T0)
        assert stored(store, "a").importance == importance


# ---------------------------------------------------------------------------- MemoryBank


def test_retention_after_given_times(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0, mode="memorybank")
    one, two = make_note("one"), make_note("two", strength=2.0)
    assert store.decay_state(one, day(5))["retention"] == pytest.approx(math.exp(-1))  # 0.3679
    assert store.decay_state(two, day(5))["retention"] == pytest.approx(math.exp(-0.5))  # 0.6065
    # upstream computes exp(-t/5*S) = exp(-(t/5)·S): S = 2 would give exp(-2) = 0.135,
    # so a recalled note would fade faster
    paper = open_store(tmp_path / "paper", at=T0, mode="memorybank", strength_unit_days=1)
    assert paper.decay_state(one, day(1))["retention"] == pytest.approx(math.exp(-1))


def test_search_recalls_the_first_recall_k_hits(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=day(3), mode="memorybank", recall_k=2)
    words = ["alpha", "bravo", "charlie", "delta"]
    store.add(
        [
            make_note(f"n{i}", f"cat fact {w}", embedding=unit((0, 1.0), (i + 1, 0.1 * i)))
            for i, w in enumerate(words)
        ]
    )
    hits = store.search_vectors(unit((0, 1.0)), 4, ALICE, Where())
    assert [h.note.id for h in hits] == ["n0", "n1", "n2", "n3"]
    assert hits[0].explain["retention"] == pytest.approx(math.exp(-3 / 5))  # before the recall
    after = {n.id: n for n in store.get(["n0", "n1", "n2", "n3"], ALICE)}
    assert [after[f"n{i}"].strength for i in range(4)] == [2.0, 2.0, 1.0, 1.0]
    assert [after[f"n{i}"].access_count for i in range(4)] == [1, 1, 0, 0]
    assert after["n0"].last_accessed == day(3)
    # t restarts at the recall: two days later R = exp(-2 / (5·2))
    assert store.decay_state(after["n0"], day(5))["retention"] == pytest.approx(math.exp(-0.2))
    [hit] = store.search_text("alpha", 1, ALICE, Where())
    assert (hit.note.id, hit.note.strength, stored(store, "n0").strength) == ("n0", 3.0, 3.0)


def test_recall_on_feedback_or_never(tmp_path: Path) -> None:
    store = open_store(tmp_path, at=T0, mode="memorybank", recall_on="feedback")
    store.add([make_note("a", "the cat sat")])
    store.search_vectors(embed("the cat sat"), 1, ALICE, Where())
    assert stored(store, "a").strength == 1.0
    store.reinforce([stored(store, "a")], Outcome(success=False), day(1))
    assert (stored(store, "a").strength, stored(store, "a").last_accessed) == (2.0, day(1))


def test_threshold_forgetting_at_5_ln_2_days(tmp_path: Path) -> None:
    # exp(-t/5) < 0.5  ⇔  t > 5·ln 2 = 3.466 days; strength 2 doubles that to 6.93
    store = open_store(tmp_path, at=T0, mode="memorybank", keep_kinds=["summary"])
    store.add(
        [make_note("weak"), make_note("strong", strength=2.0), make_note("sum", kind="summary")]
    )
    assert store.decay(ALICE, day(3.4)).deleted == 0
    report = store.decay(ALICE, day(3.5))
    assert (report.deleted, report.detail["forgotten"]) == (1, 1)
    assert store.decay(ALICE, day(6.9)).deleted == 0
    assert store.decay(ALICE, day(7.0)).deleted == 1
    assert [n.id for n in store.scan(ALICE, Where())] == ["sum"]


def test_stochastic_forgetting_is_seeded_and_follows_the_curve(tmp_path: Path) -> None:
    def survivors(seed: int, steps: list[float]) -> set[str]:
        store = open_store(
            tmp_path / f"{seed}-{len(steps)}",
            at=T0,
            mode="memorybank",
            forgetting="stochastic",
            seed=seed,
        )
        store.add([make_note(f"n{i}") for i in range(400)])
        for t in steps:
            store.decay(ALICE, day(t))
        return {n.id for n in store.scan(ALICE, Where())}

    once = survivors(1, [5 * math.log(2)])  # R = 0.5: about half survive
    assert 0.42 < len(once) / 400 < 0.58
    assert once == survivors(1, [0.5, 1.0, 2.0, 5 * math.log(2)])  # the schedule does not matter
    assert once != survivors(2, [5 * math.log(2)])


def test_docs_page_examples_validate(registry: Registry) -> None:
    text = (ROOT / "docs" / "modules" / "layered_decay.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL) if "version: 1" in b]
    assert blocks
    for body in blocks:
        validate_pipeline(parse_yaml(body, file="layered_decay.md"), registry)


def test_worked_example_in_the_docs(tmp_path: Path) -> None:
    llm = FakeLLM().queue(
        ImportanceRatings(
            ratings=[
                ImportanceRating(index=1, level="low"),
                ImportanceRating(index=2, level="medium"),
                ImportanceRating(index=3, level="high"),
            ]
        )
    )
    store = open_store(tmp_path, at=T0, llm=llm, importance_from_llm=True)
    store.add([make_note(x) for x in "ABC"])

    def importance(at: float) -> list[float]:
        return [store.decay_state(stored(store, x), day(at))["importance"] for x in "ABC"]

    store.decay(ALICE, day(1))
    assert [stored(store, x).layer for x in "ABC"] == ["short", "mid", "long"]
    assert importance(1) == pytest.approx([46.0, 64.4, 82.8])
    assert [stored(store, x).importance for x in "BC"] == pytest.approx([64.4, 82.8])  # moved
    store.decay(ALICE, day(5))
    assert [stored(store, x).layer for x in "ABC"] == ["short", "short", "mid"]
    assert importance(5) == pytest.approx([32.954, 56.311, 78.897], abs=1e-3)
    assert store.decay_state(stored(store, "B"), day(5))["recency"] == pytest.approx(
        0.26360, abs=1e-5
    )
    report = store.decay(ALICE, day(10))
    assert (report.deleted, report.detail["deleted_recency"]) == (2, 2)
    c = stored(store, "C")
    parts = store.decay_state(c, day(10))
    assert (c.layer, parts["importance"]) == ("mid", pytest.approx(66.710, abs=1e-3))
    assert 0.40 + parts["recency"] + parts["importance"] / 100 == pytest.approx(1.9719, abs=1e-4)


def test_importing_the_module_does_not_import_lancedb() -> None:
    import subprocess
    import sys

    code = "import sys, evolvelab.modules.store.layered_decay; print('lancedb' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "False"
