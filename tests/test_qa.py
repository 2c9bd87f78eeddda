"""QA over retrieved notes: LoCoMo's token F1 (hand-checked), the prompts, FakeLLM runs."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eval_samples import SCRIPT, ScriptedMemory, write_locomo

from evolvelab.evaluation import qa
from evolvelab.datasets.locomo import load_locomo
from evolvelab.errors import EvolveLabError
from evolvelab.evaluation import evaluate
from evolvelab.evaluation.qa import (
    JudgeVerdict,
    QAAnswer,
    QASettings,
    answer_question,
    is_abstention,
    multi_answer_f1,
    normalize_answer,
    score_answer,
    token_f1,
)
from evolvelab.testing import FakeLLM
from evolvelab.types import Hit, Note

SYSTEM = (
    "You answer questions about a person's past conversations using only the memory notes "
    "given. Reply with a short phrase, using the exact words of the notes where you can."
)


def note_hits() -> list[Hit]:
    dated = Note(id="n1", content="Ana: I adopted a grey cat\ncalled Miso.", source_ids=["D1:1"],
                 valid_from=datetime(2023, 5, 8, 13, 56, tzinfo=UTC))  # fmt: skip
    undated = Note(id="n2", content="Ben: hello", source_ids=["D1:2"])
    return [Hit(note=n, score=1.0, channel="t") for n in (dated, undated)]


# --- scoring ---------------------------------------------------------------------------


def test_normalisation_drops_commas_case_punctuation_and_fillers() -> None:
    assert normalize_answer("The Lord of the Rings, and a hobbit!") == "lord of rings hobbit"
    assert normalize_answer("Sweden's  capital") == "swedens capital"


@pytest.mark.parametrize(
    "prediction,gold,f1",
    [
        ("She painted a sunset", "a sunset painting", 0.8),  # stems: she paint sunset | sunset paint
        ("7 May 2023", "7 May, 2023", 1.0),
        ("went camping in the mountains", "camping", 0.4),  # P 1/4, R 1
        ("running", "marathons", 0.0),
        ("", "anything", 0.0),
    ],
)
def test_token_f1_on_hand_checked_cases(prediction: str, gold: str, f1: float) -> None:
    assert token_f1(prediction, gold) == pytest.approx(f1)


def test_multi_hop_answers_are_split_on_commas_and_averaged_over_gold_parts() -> None:
    assert multi_answer_f1("pottery, camping", "camping, pottery, painting") == pytest.approx(2 / 3)
    # gold parts: "teaching piano" best 0.5 (piano lessons), "a cat" 1.0
    assert multi_answer_f1("a cat, piano lessons", "teaching piano, a cat") == pytest.approx(0.75)


def test_category_rules() -> None:
    assert score_answer("running", "running; marathons", "open-domain") == 1.0
    assert score_answer("running", "running; marathons", "single-hop") == pytest.approx(2 / 3)
    assert score_answer("a cat, piano lessons", "teaching piano, a cat", "multi-hop") == pytest.approx(0.75)
    assert score_answer("Not mentioned in the conversation", "whatever", "adversarial") == 1.0
    assert score_answer("It is red", "Not mentioned in the conversation", "adversarial") == 0.0
    assert is_abstention("No information available.") and not is_abstention("red")


def test_f1_without_nltk_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    qa._stemmer.cache_clear()
    monkeypatch.setitem(sys.modules, "nltk.stem.porter", None)
    try:
        with pytest.raises(EvolveLabError, match=r"pip install 'evolvelab\[qa\]'"):
            token_f1("a", "b")
    finally:
        qa._stemmer.cache_clear()


# --- prompts with FakeLLM --------------------------------------------------------------


def test_the_answer_prompt_lists_dated_notes_and_the_question() -> None:
    llm = FakeLLM().queue(QAAnswer(answer=" May 2023 "))
    outcome = answer_question(llm, query_id="q1", question="When did Ana adopt Miso?", hits=note_hits(),
                              gold="8 May 2023", category="temporal")  # fmt: skip
    user = (
        "Memory notes, most relevant first:\n"
        "[1] (8 May 2023) Ana: I adopted a grey cat called Miso.\n"
        "[2] Ben: hello\n\n"
        "Question: When did Ana adopt Miso? Use the dates of the notes to answer with an "
        "approximate date.\nShort answer:"
    )
    assert llm.calls == [([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}], QAAnswer)]
    assert outcome.prediction == "May 2023" and outcome.f1 == pytest.approx(0.8) and outcome.judge is None
    llm.assert_empty()


def test_only_the_top_notes_go_into_the_prompt_and_no_notes_is_said() -> None:
    llm = FakeLLM().always(QAAnswer, QAAnswer(answer="x"))
    answer_question(llm, query_id="q", question="Q?", hits=note_hits(), gold=None,
                    settings=QASettings(notes=1))  # fmt: skip
    answer_question(llm, query_id="q", question="Q?", hits=[], gold=None)
    assert "[2]" not in llm.calls[0][0][1]["content"]
    assert llm.calls[1][0][1]["content"].startswith("Memory notes, most relevant first:\n(none)\n")


def test_an_adversarial_question_offers_the_abstention_and_the_distractor() -> None:
    orders = {qa._options(f"q{i}", "red", 0) for i in range(20)}
    assert orders == {(qa.ABSTAIN, "red"), ("red", qa.ABSTAIN)}
    first, second = qa._options("conv-a:q4", "red", 0)
    llm = FakeLLM().queue(QAAnswer(answer="(a)"))
    outcome = answer_question(llm, query_id="conv-a:q4", question="What colour is Ana's car?",
                              hits=[], gold=qa.ABSTAIN, category="adversarial", distractor="red")  # fmt: skip
    asked = llm.calls[0][0][1]["content"]
    assert f"Question: What colour is Ana's car? Select the correct answer: (a) {first} (b) {second}.\n" in asked
    assert outcome.prediction == first and outcome.f1 == (1.0 if first == qa.ABSTAIN else 0.0)


def test_the_judge_sees_question_gold_and_answer() -> None:
    llm = FakeLLM().queue(QAAnswer(answer="Miso"), JudgeVerdict(correct=True, reason="same name"))
    outcome = answer_question(llm, query_id="q", question="Cat's name?", hits=[], gold="Miso",
                              settings=QASettings(judge=True))  # fmt: skip
    messages, model = llm.calls[1]
    assert model is JudgeVerdict
    assert messages[1] == {"role": "user", "content": "Question: Cat's name?\nGold answer: Miso\nAnswer to grade: Miso"}
    assert outcome.judge is True and outcome.f1 == 1.0


# --- QA inside an evaluation -----------------------------------------------------------

ANSWERS = {
    "What is the name of Ana's cat?": "Miso",  # 1.0
    "What did Ben start and which pet does Ana have?": "a cat, piano lessons",  # 0.75 multi-hop
    "When did Ben start teaching piano?": "June 2023",  # 2/3
    "What colour is Ana's car?": "Not mentioned in the conversation",  # 1.0 adversarial
    "Would Ana like a dog?": "maybe",  # 1.0 (not scored for recall, still answered)
    "What sport does Cy do?": "running",  # 1.0 open-domain, gold cut at ';'
}


def by_question(messages: list[dict[str, str]], model: type) -> QAAnswer:
    asked = messages[1]["content"].split("Question: ", 1)[1]
    return QAAnswer(answer=next(a for q, a in ANSWERS.items() if asked.startswith(q)))


def test_qa_scores_and_llm_use_are_reported(tmp_path: Path) -> None:
    llm = FakeLLM().always(QAAnswer, by_question)
    data = load_locomo(write_locomo(tmp_path / "l.json"))
    report = evaluate(ScriptedMemory(SCRIPT), data, ks=(1,), qa=QASettings(), qa_llm=llm)  # type: ignore[arg-type]
    assert report.qa is not None
    assert report.qa.questions == 6
    assert report.qa.f1 == pytest.approx((1 + 0.75 + 2 / 3 + 1 + 1 + 1) / 6)
    assert report.qa.by_category["1"].f1 == pytest.approx(0.75)
    assert report.qa.by_category["3"].f1 == 1.0 and report.qa.by_category["3"].questions == 2
    assert report.qa.llm.calls == 6 == report.llm.calls
    assert report.llm.prompt_tokens == llm.usage.prompt_tokens > 0
    predictions = {r.question: r.prediction for r in report.results or []}
    assert predictions["What sport does Cy do?"] == "running"


def test_qa_without_an_llm_fails_before_anything_is_ingested(tmp_path: Path) -> None:
    memory = ScriptedMemory(SCRIPT)
    with pytest.raises(EvolveLabError, match="QA needs an LLM"):
        evaluate(memory, load_locomo(write_locomo(tmp_path / "l.json")), qa=QASettings())  # type: ignore[arg-type]
    assert memory.added == []
