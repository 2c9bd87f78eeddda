"""``type: hindsight_reflect`` — Hindsight's reflect (CARA): answer with a disposition, form opinions.

Put it after the stages that find notes. With an LLM, one :class:`Reflection` request
gets the question, the first ``window`` hits (labelled ``M1``…) and a *disposition*:
how skeptical (trust in what memories claim), literal (stick to what was said versus
read between the lines) and empathetic (weigh how people feel) to be, each 1–5, plus
``bias_strength`` in [0, 1] (how much the disposition may colour the answer). It
returns an answer and the opinions the agent forms while answering:

- the answer becomes the first hit: a note of kind ``reflection`` (not stored), channel
  ``reflect``, score one above the best hit's, no source ids (so it costs nothing on a turn budget), ``metadata.cited``
  listing the notes it used;
- each opinion is written to the ``opinion`` network (``metadata.confidence``) with the
  cited notes' events as its sources; stating an opinion it already holds moves the
  stored confidence towards the new one by ``rate``
  (``c <- c + rate * (new - c)``).

**Without an LLM** the stage returns the hits unchanged: there is no answer to write,
and no opinion is formed (offline opinions come from ``hindsight_retain`` and move with
``opinion_update``).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.llm import llm_available
from evolvelab.modules.manage._opinions import confidence_of
from evolvelab.stages import Retriever
from evolvelab.types import Hit, Note, Query, stable_id

__all__ = ["FormedOpinion", "HindsightReflectConfig", "HindsightReflectRetriever", "Reflection"]


class FormedOpinion(BaseModel):
    """An opinion the agent forms while reflecting."""

    statement: str = Field(description="The opinion, one self-contained sentence.")
    confidence: float = Field(ge=0.0, le=1.0, description="How strongly it is held, 0-1.")
    entities: list[str] = Field(default_factory=list, description="What it is about.")
    sources: list[str] = Field(
        default_factory=list, description="Labels of the memories behind it, e.g. M2."
    )


class Reflection(BaseModel):
    """What the LLM returns when reflecting on a question."""

    answer: str = Field(description="The answer to the question, from the memories.")
    cited: list[str] = Field(default_factory=list, description="Labels of the memories used.")
    opinions: list[FormedOpinion] = Field(
        default_factory=list, description="Opinions formed, if any."
    )


class HindsightReflectConfig(RetrieverConfig):
    """Answer from the hits with a configurable disposition and record the opinions formed.

    Example:
        ```yaml
        retrieve:
          - {type: hindsight_recall, k: 20}
          - {type: hindsight_reflect, skepticism: 4, literalism: 2, empathy: 3}
        ```
    """

    type: Literal["hindsight_reflect"] = "hindsight_reflect"
    skepticism: Annotated[int, Tunable(1, 5)] = Field(
        3, ge=1, le=5, description="1 trusting … 5 skeptical of claims."
    )
    literalism: Annotated[int, Tunable(1, 5)] = Field(
        3, ge=1, le=5, description="1 reads between the lines … 5 literal."
    )
    empathy: Annotated[int, Tunable(1, 5)] = Field(
        3, ge=1, le=5, description="1 detached … 5 weighs feelings."
    )
    bias_strength: Annotated[float, Tunable(0.0, 1.0)] = Field(
        0.5, ge=0.0, le=1.0, description="How much the disposition may colour the answer."
    )
    window: Annotated[int, Tunable(3, 30)] = Field(
        10, ge=1, le=200, description="Hits given to the LLM."
    )
    form_opinions: bool = Field(
        True, description="Write the opinions the LLM forms to the opinion network."
    )
    rate: Annotated[float, Tunable(0.1, 1.0)] = Field(
        0.5, gt=0.0, le=1.0, description="How far a restated opinion moves the stored confidence."
    )


def _messages(cfg: HindsightReflectConfig, query: Query, hits: list[Hit]) -> list[dict[str, str]]:
    lines = [
        f"[M{i}] ({h.note.event_time:%Y-%m-%d}, {h.note.kind}) {h.note.content}"
        for i, h in enumerate(hits, 1)
    ]
    disposition = (f"skepticism {cfg.skepticism}/5, literalism {cfg.literalism}/5, empathy {cfg.empathy}/5; "
                   f"let this disposition colour your answer with strength {cfg.bias_strength:.2f} (0 none, 1 strongly)")  # fmt: skip
    return [
        {"role": "system", "content": "You answer from your memories, keeping facts (world, "
         "experience) apart from beliefs (opinion, with their confidence). Your disposition: "
         f"{disposition}. Cite the memories you use. If answering leads you to a belief, state it "
         "as an opinion with a confidence."},
        {"role": "user", "content": "Memories:\n" + "\n".join(lines) + f"\n\nQuestion: {query.text}"},
    ]  # fmt: skip


class HindsightReflectRetriever(Retriever):
    """Answer through the LLM; write the opinions it forms."""

    config_model: ClassVar[type[HindsightReflectConfig]] = HindsightReflectConfig
    reads_query_time: ClassVar[bool] = True
    config: HindsightReflectConfig
    source = False

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        llm = self.resources.llm
        if not llm_available(llm) or not previous:
            return previous
        cfg = self.config
        shown = previous[: cfg.window]
        labels = {f"M{i}": h.note for i, h in enumerate(shown, start=1)}
        reflection = llm.extract(_messages(cfg, query, shown), Reflection)  # type: ignore[union-attr]
        cited = [labels[c] for c in reflection.cited if c in labels]
        now = query.at or self.resources.clock.now(query.scope)
        answer = Note(
            id=stable_id("r", query.scope.user_id, query.scope.agent_id, query.text), content=reflection.answer,
            kind="reflection", scope=query.scope, created_at=now,
            metadata={"cited": ",".join(n.id for n in cited), "question": query.text},
        )  # fmt: skip
        if cfg.form_opinions and reflection.opinions:
            self._form(query, reflection.opinions, labels, now)
        top = max(h.score for h in previous)
        return [Hit(note=answer, score=top + 1.0, channel="reflect"), *previous]

    def _form(
        self, query: Query, opinions: list[FormedOpinion], labels: dict[str, Note], now: object
    ) -> None:
        owner = query.scope.model_copy(update={"session_id": None})
        notes = []
        for opinion in opinions:
            statement = opinion.statement.strip()
            note_id = stable_id(
                "n",
                owner.user_id,
                owner.agent_id,
                stable_id("f", statement.lower()),
                "hindsight_reflect",
            )
            [old] = self.resources.store.get([note_id], owner) or [None]
            basis = [labels[s] for s in opinion.sources if s in labels]
            sources = list(dict.fromkeys(s for n in basis for s in n.source_ids))
            names = [e.strip().lower() for e in opinion.entities if e.strip()]
            if old is not None:
                held = confidence_of(old, default=opinion.confidence)
                confidence = held + self.config.rate * (opinion.confidence - held)
                notes.append(old.model_copy(update={
                    "metadata": {**old.metadata, "confidence": round(confidence, 4)},
                    "source_ids": list(dict.fromkeys([*old.source_ids, *sources])), "version": old.version + 1,
                }))  # fmt: skip
                continue
            notes.append(Note(
                id=note_id, content=statement, kind="opinion", source_ids=sources, scope=owner,
                created_at=now, valid_from=now, keywords=names[:20],
                metadata={"encoder": "hindsight_reflect", "network": "opinion", "entities": "|".join(names),
                          "confidence": round(opinion.confidence, 4)},
            ))  # fmt: skip
        self.resources.write(notes)
