"""Question answering over retrieved notes, scored the way LoCoMo scores it.

With an LLM, each question is answered from the top retrieved notes (structured output:
:class:`QAAnswer`), and the answer is scored against the gold answer:

- **token F1** (all categories but adversarial): both strings are normalised (commas
  removed, lower-cased, ASCII punctuation removed, the words *a*, *an*, *the* and *and*
  removed, whitespace collapsed), split into words, and each word reduced by the Porter
  stemmer (NLTK's, as LoCoMo's scoring uses); F1 is the harmonic mean of the precision and
  recall of the shared words (counted with multiplicity);
- **multi-hop** questions list several answers: prediction and gold are split on commas,
  each gold part takes its best F1 over the predicted parts, and the parts are averaged;
- **open-domain** gold answers keep only the part before the first ``;``;
- **adversarial** questions are about something the conversation never says: the score is
  1 when the answer abstains (contains "not mentioned" or "no information available",
  case-insensitive), else 0. When the question carries a ``distractor`` the model is
  offered it and "Not mentioned in the conversation" as options (a) and (b), in an order
  fixed per question by the seed; an answer of just ``a`` or ``(b)`` means that option;
- **temporal** questions ask for an approximate date worked out from the notes' dates.

Rules follow the category *name* (``multi-hop``, ``open-domain``, ``adversarial``,
``temporal``); other categories use plain token F1. An optional LLM judge
(:class:`JudgeVerdict`) also says whether each answer means the same as the gold one.
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evolvelab.errors import EvolveLabError
from evolvelab.stages import LLM
from evolvelab.types import Hit

__all__ = [
    "ABSTAIN",
    "JudgeVerdict",
    "QAAnswer",
    "QAOutcome",
    "QASettings",
    "answer_messages",
    "answer_question",
    "is_abstention",
    "judge_messages",
    "multi_answer_f1",
    "normalize_answer",
    "score_answer",
    "token_f1",
]

ABSTAIN = "Not mentioned in the conversation"
"""The option that abstains, offered with an adversarial question's distractor."""

_PUNCTUATION = frozenset(string.punctuation)
_FILLERS = re.compile(r"\b(a|an|the|and)\b")
_ABSTAIN_MARKS = ("not mentioned", "no information available")
_HINTS = {"temporal": "Use the dates of the notes to answer with an approximate date."}


class QASettings(BaseModel):
    """How answers are generated and judged.

    Example:
        >>> QASettings(notes=10, judge=True)
        QASettings(notes=10, judge=True, seed=0)
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    notes: int = Field(10, ge=1, description="How many top hits go into the answering prompt.")
    judge: bool = Field(False, description="Also ask the LLM whether each answer is correct.")
    seed: int = Field(0, description="Fixes the option order of adversarial questions.")


class QAAnswer(BaseModel):
    """The model's answer to one question."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(description="A short phrase answering the question.")


class JudgeVerdict(BaseModel):
    """The judge's call on one answer."""

    model_config = ConfigDict(extra="forbid")

    correct: bool = Field(description="Whether the answer gives the same information as the gold.")
    reason: str = Field("", description="One short sentence saying why.")


@dataclass(frozen=True)
class QAOutcome:
    """A generated answer and its scores (``f1`` is ``None`` without a gold answer)."""

    prediction: str
    f1: float | None
    judge: bool | None = None


@cache
def _stemmer() -> Any:
    try:
        from nltk.stem.porter import PorterStemmer
    except ImportError as err:
        raise EvolveLabError(
            "token F1 stems words with NLTK's Porter stemmer, as LoCoMo's scoring does; "
            "install it with: pip install 'evolvelab[qa]'"
        ) from err
    return PorterStemmer()


def normalize_answer(text: str) -> str:
    """Normalise an answer for scoring: no commas, lower case, no punctuation or fillers.

    Example:
        >>> normalize_answer("The Lord of the Rings, and a hobbit!")
        'lord of rings hobbit'
    """
    text = text.replace(",", "").lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    return " ".join(_FILLERS.sub(" ", text).split())


def _stems(text: str) -> list[str]:
    stem = _stemmer().stem
    return [stem(word) for word in normalize_answer(text).split()]


def token_f1(prediction: str, gold: str) -> float:
    """Return the F1 of the stemmed, normalised words of ``prediction`` against ``gold``.

    Raises:
        EvolveLabError: if NLTK is not installed.

    Example:
        >>> token_f1("She painted a sunset", "a sunset painting")
        0.8
    """
    predicted, wanted = _stems(prediction), _stems(gold)
    same = sum((Counter(predicted) & Counter(wanted)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def multi_answer_f1(prediction: str, gold: str) -> float:
    """Return the mean, over the comma-separated gold parts, of each part's best F1.

    Example:
        >>> multi_answer_f1("pottery, camping", "camping, pottery, painting")
        0.6666666666666666
    """
    predicted = [p.strip() for p in prediction.split(",")]
    wanted = [g.strip() for g in gold.split(",")]
    return sum(max(token_f1(p, g) for p in predicted) for g in wanted) / len(wanted)


def is_abstention(prediction: str) -> bool:
    """Return whether an answer says the conversation does not tell."""
    lowered = prediction.lower()
    return any(mark in lowered for mark in _ABSTAIN_MARKS)


def score_answer(prediction: str, gold: str, category: str | None) -> float:
    """Score ``prediction`` against ``gold`` under the rule of the category name.

    Args:
        prediction: the generated answer.
        gold: the gold answer.
        category: the category's readable name (``multi-hop``, ``adversarial`` ...).

    Returns:
        A score in [0, 1] (see the module docs for the rules).
    """
    if category == "adversarial":
        return 1.0 if is_abstention(prediction) else 0.0
    if category == "multi-hop":
        return multi_answer_f1(prediction, gold)
    if category == "open-domain":
        gold = gold.split(";")[0].strip()
    return token_f1(prediction, gold)


def _options(query_id: str, distractor: str, seed: int) -> tuple[str, str]:
    """Return options (a) and (b): the abstention and the distractor, in a seeded order."""
    if random.Random(f"{seed}:{query_id}").random() < 0.5:
        return ABSTAIN, distractor
    return distractor, ABSTAIN


def _note_line(position: int, hit: Hit) -> str:
    when = hit.note.event_time if hit.note.valid_from is not None else None
    date = f"({when.day} {when:%B %Y}) " if when is not None else ""
    text = " ".join(hit.note.content.split())
    return f"[{position}] {date}{text}"


def answer_messages(
    question: str, hits: Sequence[Hit], *, category: str | None = None,
    options: tuple[str, str] | None = None,
) -> list[dict[str, str]]:  # fmt: skip
    """Build the answering prompt: the notes, most relevant first, then the question.

    Args:
        question: the question text.
        hits: the notes to answer from (already cut to the wanted number).
        category: the category's readable name; ``temporal`` adds a hint about dates.
        options: options (a) and (b) to choose between, for an adversarial question.

    Returns:
        Chat messages for :meth:`LLM.extract` with :class:`QAAnswer`.
    """
    notes = "\n".join(_note_line(i, hit) for i, hit in enumerate(hits, start=1)) or "(none)"
    asked = question
    if options is not None:
        asked = f"{question} Select the correct answer: (a) {options[0]} (b) {options[1]}."
    hint = _HINTS.get(category or "")
    if hint:
        asked = f"{asked} {hint}"
    system = (
        "You answer questions about a person's past conversations using only the memory "
        "notes given. Reply with a short phrase, using the exact words of the notes where "
        "you can."
    )
    user = f"Memory notes, most relevant first:\n{notes}\n\nQuestion: {asked}\nShort answer:"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def judge_messages(question: str, gold: str, prediction: str) -> list[dict[str, str]]:
    """Build the judging prompt for :class:`JudgeVerdict`."""
    system = (
        "You grade answers to questions about a conversation. An answer is correct when it "
        "gives the same information as the gold answer; wording, extra detail and the "
        "format of dates do not matter."
    )
    user = f"Question: {question}\nGold answer: {gold}\nAnswer to grade: {prediction}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def answer_question(
    llm: LLM, *, query_id: str, question: str, hits: Sequence[Hit], gold: str | None,
    category: str | None = None, distractor: str | None = None,
    settings: QASettings | None = None,
) -> QAOutcome:  # fmt: skip
    """Answer one question from its hits, then score (and optionally judge) the answer.

    Args:
        llm: the model that answers (and judges).
        query_id: the query's id (it seeds the order of adversarial options).
        question: the question text.
        hits: the retrieved notes, best first; the first ``settings.notes`` are used.
        gold: the gold answer; without one nothing is scored or judged.
        category: the category's readable name (it picks the scoring rule).
        distractor: a wrong answer to offer beside the abstention (adversarial).
        settings: how many notes, whether to judge, the seed.

    Returns:
        The answer, its score and the judge's verdict.

    Raises:
        LLMError: if a call fails; EvolveLabError if NLTK is missing.
    """
    settings = settings or QASettings()
    options = None
    if category == "adversarial" and distractor:
        options = _options(query_id, distractor, settings.seed)
    messages = answer_messages(question, hits[: settings.notes], category=category, options=options)
    prediction = llm.extract(messages, QAAnswer).answer.strip()
    if options is not None:
        choice = prediction.lower().strip(" .")
        if choice in ("a", "(a)"):
            prediction = options[0]
        elif choice in ("b", "(b)"):
            prediction = options[1]
    if gold is None:
        return QAOutcome(prediction, None)
    f1 = score_answer(prediction, gold, category)
    verdict = None
    if settings.judge:
        verdict = llm.extract(judge_messages(question, gold, prediction), JudgeVerdict).correct
    return QAOutcome(prediction, f1, verdict)
