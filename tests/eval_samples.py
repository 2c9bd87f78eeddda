"""Small benchmark-shaped data written by the tests (never copied from the real datasets).

- :func:`locomo_sample`: two conversations in the shape of LoCoMo's ``locomo10.json``, with
  an image turn, a session that has a date but no turns, and every kind of malformed
  evidence id the real file has.
- :func:`write_goodai`: a folder of GoodAI-LTM-shaped task definitions.
- :class:`ScriptedMemory`: a stand-in for ``Memory`` whose searches return scripted hits,
  so that evaluation numbers can be computed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evolvelab.llm import NoLLM
from evolvelab.types import Event, Hit, Note, Outcome, Query, Scope


def locomo_sample() -> list[dict[str, Any]]:
    """Return two LoCoMo-shaped conversations (conv-a, conv-b)."""
    image = {"img_url": ["https://example.invalid/cat.jpg"], "query": "grey cat sofa",
             "blip_caption": "a photo of a grey cat on a sofa", "re-download": True}  # fmt: skip
    conv_a = {
        "speaker_a": "Ana",
        "speaker_b": "Ben",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a grey cat called Miso last week."},
            {"speaker": "Ben", "dia_id": "D1:2", "text": "Lovely! Send me a photo."},
            {"speaker": "Ana", "dia_id": "D1:3", "text": "Here she is.", **image},
        ],
        "session_2_date_time": "10:04 am on 19 June, 2023",
        "session_2": [
            {"speaker": "Ben", "dia_id": "D2:1", "text": "I started teaching piano in Lisbon."},
            {"speaker": "Ana", "dia_id": "D2:2", "text": "Miso knocked over my plant today."},
        ],
        "session_3_date_time": "9:00 am on 1 July, 2023",
    }
    qa_a = [
        {"question": "What is the name of Ana's cat?", "answer": "Miso", "evidence": ["D1:1"],
         "category": 4},
        {"question": "What did Ben start and which pet does Ana have?",
         "answer": "teaching piano, a cat", "evidence": ["D1:1; D2:1"], "category": 1},
        {"question": "When did Ben start teaching piano?", "answer": 2023,
         "evidence": ["D:2:1", "D"], "category": 2},
        {"question": "What colour is Ana's car?", "adversarial_answer": "red",
         "evidence": ["D1:02", "D9:9"], "category": 5},
        {"question": "Would Ana like a dog?", "answer": "Maybe", "evidence": [], "category": 3},
    ]  # fmt: skip
    conv_b = {
        "speaker_a": "Cy",
        "speaker_b": "Di",
        "session_1_date_time": "11:30 pm on 2 January, 2024",
        "session_1": [
            {"speaker": "Cy", "dia_id": "D1:1", "text": "I run marathons."},
            {"speaker": "Di", "dia_id": "D1:2", "text": "Impressive!"},
        ],
    }
    qa_b = [{"question": "What sport does Cy do?", "answer": "running; marathons",
             "evidence": ["D1:1"], "category": 3}]  # fmt: skip
    extra = {"event_summary": {}, "observation": {}, "session_summary": {}}
    return [
        {"sample_id": "conv-a", "conversation": conv_a, "qa": qa_a, **extra},
        {"sample_id": "conv-b", "conversation": conv_b, "qa": qa_b, **extra},
    ]


def write_locomo(path: Path, data: list[dict[str, Any]] | None = None) -> Path:
    """Write :func:`locomo_sample` (or ``data``) as JSON to ``path``."""
    path.write_text(json.dumps(data if data is not None else locomo_sample()), encoding="utf-8")
    return path


def _definition(script: list[str], questions: list[bool], waits: list[dict[str, Any]],
                expected: list[Any], temporal: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"script": script, "is_question": questions, "waits": waits,
            "expected_responses": expected, "can_be_interleaved": True,
            "is_temporal": temporal, "uses_callback": False}  # fmt: skip


def write_goodai(root: Path) -> Path:
    """Write a tiny GoodAI-shaped ``definitions`` folder under ``root``; return ``root``."""
    tasks = {
        "Colours/0": _definition(
            ["My favourite colour is Blue.", "My favourite colour is Green.", "What is my favourite colour?"],
            [False, False, True],
            [{"percentage_finished": 40.0}, {"percentage_finished": 80.0}, {}],
            ["Green"],
        ),
        "Trigger Response/0": _definition(
            ["When I say I am hungry, say 'eat an apple'", "I am hungry.", "I am hungry."],
            [False, True, True],
            [{"percentage_finished": 30.0}, {"percentage_finished": 60.0}, {}],
            ["eat an apple", "eat an apple"],
        ),
        "Jokes/0": _definition(
            ["Joke one.", "Joke two."],
            [False, False, True],
            [{"time": 3600, "percentage_finished": 45.0}, {"time": 5400, "percentage_finished": 90.0}, {}],
            ["Joke one."],
            temporal=True,
        ),
        "Shopping/0": _definition(
            ["Add 2 Soap to my list.", "Add 1 Milk to my list.", "Read me the list."],
            [False, False, True],
            [{}, {"percentage_finished": 50.0}, {}],
            [["soap", 2], ["milk", 1]],
        ),
        "Restaurant/0": _definition([], [], [], []),
    }  # fmt: skip
    folder = root / "definitions"
    for name, definition in tasks.items():
        file = folder / f"{name}.def.json"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(definition), encoding="utf-8")
    return root


# Hits each question gets, as the source ids of each note, best first (see the hand
# computation in test_evaluation.py::test_recall_is_computed_on_a_turn_budget).
SCRIPT = {
    "What is the name of Ana's cat?": [["D1:2"], ["D1:2", "D1:3"], ["D1:1"]],
    "What did Ben start and which pet does Ana have?": [["D2:1", "D2:2", "D1:3"], ["D1:1"]],
    "When did Ben start teaching piano?": [["D2:1"], ["D2:1"]],
    "What colour is Ana's car?": [],
    "Would Ana like a dog?": [["D1:1"]],
    "What sport does Cy do?": [["D1:2"], ["D1:1"]],
}



class ScriptedMemory:
    """Answer each query text with scripted notes; record what was added and asked.

    Args:
        script: question text → the source ids of each returned note, best first.
    """

    name = "scripted"
    managers: list[object] = []

    def __init__(self, script: dict[str, list[list[str]]]) -> None:
        self.script = script
        self.llm = NoLLM()
        self.added: list[tuple[str | None, list[str]]] = []
        self.log: list[str] = []
        self.fed: list[tuple[Outcome, list[str]]] = []

    def open(self) -> ScriptedMemory:
        return self

    def count(self, scope: Scope) -> int:
        return 0

    def add(self, events: list[Event], scope: Scope) -> list[Note]:
        self.added.append((scope.user_id, [e.id for e in events]))
        self.log.extend(f"add {scope.user_id}:{e.id}" for e in events)
        return []

    def manage(self, scope: Scope) -> list[object]:
        self.log.append(f"manage {scope.user_id}")
        return []

    def feedback(self, outcome: Outcome, used_ids: list[str]) -> list[object]:
        self.fed.append((outcome, list(used_ids)))
        return []

    def search(self, query: Query) -> list[Hit]:
        self.log.append(f"ask {query.text}")
        notes = self.script.get(query.text, [])
        return [
            Hit(note=Note(id=f"n{i}", content=" ".join(sources), source_ids=sources),
                score=1.0 / (i + 1), channel="script")
            for i, sources in enumerate(notes)
        ][: query.k]  # fmt: skip
