"""Reasoning paths: one entity-relation chain per retrieved memory, written by an LLM.

The guard asks once per retrieved set (not once per memory, as upstream does): the
question and the memories, labelled ``M1``, ``M2``… in rank order, go in one request
whose answer is a :class:`ReasoningPaths`. Labels exist only inside that request; the
guard maps them straight back to note ids. A memory the model leaves out, or a label it
invents, is simply not judged.

Each path is rendered as text (``head -> relation -> tail; … => conclusion``), embedded
with the pipeline's embedder and clustered like any other claim vector
(:mod:`evolvelab.modules.retrieve._consensus`), which is upstream's ``clustering`` method.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from evolvelab.stages import LLM
from evolvelab.types import Note

__all__ = [
    "PathStep",
    "ReasoningPath",
    "ReasoningPaths",
    "label",
    "path_messages",
    "path_text",
    "request_paths",
]

SYSTEM_PROMPT = (
    "You check memories an agent retrieved for a question. For each memory, reason from "
    "the question to the answer that this memory alone supports, using only what the "
    "memory says. Write that reasoning as a chain of entity-relation steps (head, "
    "relation, tail) and end with the conclusion it leads to. Return one path for every "
    "memory label you are given, and nothing else."
)


class PathStep(BaseModel):
    """One hop of a reasoning path: ``head --relation--> tail``."""

    model_config = ConfigDict(extra="forbid")

    head: str = Field(description="The entity the step starts from.")
    relation: str = Field(description="How the head relates to the tail.")
    tail: str = Field(description="The entity the step reaches.")


class ReasoningPath(BaseModel):
    """The reasoning one memory supports, from the question to a conclusion."""

    model_config = ConfigDict(extra="forbid")

    memory: str = Field(description="The memory's label exactly as shown, e.g. 'M2'.")
    steps: list[PathStep] = Field(description="Entity-relation steps, in order.")
    conclusion: str = Field(description="The answer to the question this memory leads to.")


class ReasoningPaths(BaseModel):
    """One reasoning path per memory of the set."""

    model_config = ConfigDict(extra="forbid")

    paths: list[ReasoningPath] = Field(description="One path per memory label.")


def label(position: int) -> str:
    """Return the label of the memory at 0-based ``position`` in the request (``M1``…)."""
    return f"M{position + 1}"


def path_messages(query: str, notes: Sequence[Note]) -> list[dict[str, str]]:
    """Return the chat messages asking for one reasoning path per note.

    Example:
        >>> note = Note(id="n1", content="Ana's cat   is Pepper.")
        >>> path_messages("What is Ana's cat called?", [note])[1]["content"]
        "Question: What is Ana's cat called?\\n\\nMemories:\\n[M1] Ana's cat is Pepper."
    """
    lines = [f"[{label(i)}] {' '.join(note.content.split())}" for i, note in enumerate(notes)]
    user = f"Question: {query}\n\nMemories:\n" + "\n".join(lines)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def path_text(path: ReasoningPath) -> str:
    """Render a path as ``head -> relation -> tail; … => conclusion`` (the embedded text)."""
    steps = "; ".join(f"{s.head} -> {s.relation} -> {s.tail}" for s in path.steps)
    return f"{steps} => {path.conclusion}" if steps else f"=> {path.conclusion}"


def request_paths(llm: LLM, query: str, notes: Sequence[Note]) -> dict[int, str]:
    """Ask ``llm`` for the set's reasoning paths in one structured request.

    Args:
        llm: the pipeline's LLM.
        query: the question the notes were retrieved for.
        notes: the memories, in rank order.

    Returns:
        The rendered path of each note the model answered for, by 0-based position.
        The first path given for a label wins; unknown labels are ignored.
    """
    answer = llm.extract(path_messages(query, notes), ReasoningPaths)
    positions = {label(i): i for i in range(len(notes))}
    out: dict[int, str] = {}
    for path in answer.paths:
        position = positions.get(path.memory.strip().strip("[]").upper())
        if position is not None and position not in out:
            out[position] = path_text(path)
    return out
