"""``type: hindsight_retain`` — Hindsight's retain: facts in four networks, entities and links.

Hindsight (Vectorize.io and Virginia Tech, arXiv 2512.12818) keeps memory in four
*networks*; here a note's ``kind`` is its network:

- ``world``: objective facts about the world and the people in it;
- ``experience``: what the agent itself did or said (events of the ``agent_speakers`` or
  of kind ``action``/``tool``);
- ``opinion``: beliefs, with ``metadata.confidence`` in [0, 1] (the ``opinion_update``
  manager moves it as evidence arrives);
- ``observation``: entity summaries, written by the ``entity_observe`` manager.

**Retain without an LLM.** One note per event: the event's text (speaker-prefixed, like
``turn``); an opinion when it states a belief (:func:`~evolvelab.modules.encode._entities.opinion_confidence`),
else world or experience. Entities (``metadata.entities``, ``|``-separated, and
``keywords``) are capitalised spans, quoted names and noun phrases the owner's memory
repeats (:mod:`~evolvelab.modules.encode._entities`). **With an LLM**, one
:class:`RetainResult` request per ``window`` events of a session extracts self-contained
facts, each with its network, confidence, entities, the events it came from and the
facts that caused it.

**Links** (kept on the notes, followed by ``hindsight_recall``'s graph channel):
``entity`` to the ``entity_links`` most recent earlier notes naming the same entity;
``temporal`` to the previous note of the session; ``causal`` to the previous note when a
note says why ("because", "so", "that's why", …; with an LLM, to the facts it names as
causes). Links point back in time; the recall stage walks them both ways.

The encoder keeps, per owner, the entity and phrase counts and each session's last
notes in memory; on first sight of an owner they are rebuilt from the store, so
reopening a pipeline links new notes to old ones.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from evolvelab.config import EncoderConfig, Tunable
from evolvelab.llm import llm_available
from evolvelab.modules.encode._entities import PhraseCounter, entities, note_entities, opinion_confidence
from evolvelab.modules.encode.turn import render_event
from evolvelab.stages import LLM, Encoder, Resources, Scannable
from evolvelab.types import Event, Link, Note, Scope, Where, stable_id

__all__ = [
    "NETWORKS",
    "HindsightRetainConfig",
    "HindsightRetainEncoder",
    "RetainResult",
    "RetainedFact",
]

NETWORKS = ("world", "experience", "opinion", "observation")
"""Hindsight's four networks, used as note kinds."""

_CAUSAL = re.compile(
    r"\b(because|since|so that|that's why|that is why|therefore|as a result|due to|so I|so we)\b",
    re.IGNORECASE,
)


class RetainedFact(BaseModel):
    """One fact the LLM extracted."""

    statement: str = Field(description="A self-contained fact naming people, places and dates.")
    network: Literal["world", "experience", "opinion"] = Field(
        description="Which network it belongs to."
    )
    confidence: float = Field(
        0.7, ge=0.0, le=1.0, description="For opinions: how strongly it is held."
    )
    entities: list[str] = Field(
        default_factory=list, description="People, places, things it names."
    )
    sources: list[str] = Field(
        default_factory=list, description="Labels of the events it comes from, e.g. E1."
    )
    caused_by: list[int] = Field(
        default_factory=list, description="Indexes of earlier facts in this list that caused it."
    )


class RetainResult(BaseModel):
    """What the LLM returns for one window of events."""

    facts: list[RetainedFact] = Field(default_factory=list)


class HindsightRetainConfig(EncoderConfig):
    """Write facts into Hindsight's networks with entities and entity/temporal/causal links.

    Example:
        ```yaml
        encode:
          - {type: hindsight_retain, agent_speakers: [assistant], entity_links: 2}
        ```
    """

    type: Literal["hindsight_retain"] = "hindsight_retain"
    agent_speakers: list[str] = Field(
        default_factory=lambda: ["assistant", "agent"],
        description="Speakers whose events are the agent's own experiences (any case).",
    )
    speaker: bool = Field(True, description="Prefix the content with 'speaker: ' (offline path).")
    metadata: list[str] = Field(
        default_factory=list,
        description="Event metadata keys appended to the content, e.g. [caption].",
    )
    opinion_confidence: Annotated[float, Tunable(0.3, 0.9)] = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Initial confidence of an opinion (offline; hedges and boosters move it).",
    )
    min_repeats: Annotated[int, Tunable(2, 5)] = Field(
        2,
        ge=1,
        le=100,
        description="Times a noun phrase must appear in the owner's memory to be an entity.",
    )
    entity_links: Annotated[int, Tunable(0, 5)] = Field(
        2, ge=0, le=50, description="Earlier notes per shared entity a new note links to."
    )
    context: Annotated[int, Tunable(0, 3)] = Field(
        0,
        ge=0,
        le=10,
        description="Index each note together with this many earlier notes of its session.",
    )
    use_llm: bool = Field(
        True, description="Extract facts with the pipeline's LLM when one is configured."
    )
    window: Annotated[int, Tunable(2, 16)] = Field(
        8, ge=1, le=64, description="Events of one session per LLM request."
    )


@dataclass
class _Owner:
    """What the encoder remembers about one owner's memory."""

    phrases: PhraseCounter
    by_entity: dict[str, deque[str]] = field(default_factory=dict)
    last: dict[str | None, deque[tuple[str, str]]] = field(default_factory=dict)


class HindsightRetainEncoder(Encoder):
    """Events → notes in the world / experience / opinion networks, with entities and links."""

    config_model: ClassVar[type[HindsightRetainConfig]] = HindsightRetainConfig
    config: HindsightRetainConfig

    def open(self, resources: Resources) -> None:
        """Start with no per-owner state; each owner's is rebuilt from the store on first use."""
        super().open(resources)
        self._owners: dict[tuple[str | None, str | None], _Owner] = {}

    def _owner(self, scope: Scope) -> _Owner:
        key = (scope.user_id, scope.agent_id)
        state = self._owners.get(key)
        if state is not None:
            return state
        state = _Owner(PhraseCounter(self.config.min_repeats))
        store = self.resources.store
        if isinstance(store, Scannable):
            owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
            stored = [n for n in store.scan(owner, Where(kind=list(NETWORKS[:3]), include_invalid=True))
                      if n.metadata.get("encoder") == "hindsight_retain"]  # fmt: skip
            for note in sorted(stored, key=lambda n: (n.event_time, n.id)):
                self._remember(state, note)
        self._owners[key] = state
        return state

    def _remember(self, state: _Owner, note: Note) -> None:
        keep = max(self.config.entity_links, 1)
        for name in note_entities(note):
            state.by_entity.setdefault(name, deque(maxlen=keep)).append(note.id)
        state.phrases.add(note.content)
        state.last.setdefault(
            note.scope.session_id, deque(maxlen=max(self.config.context, 1))
        ).append((note.id, note.content))

    def encode(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        if not events:
            return []
        state = self._owner(scope)
        llm = (
            self.resources.llm
            if self.config.use_llm and llm_available(self.resources.llm)
            else None
        )
        drafts = (
            self._with_llm(events, scope, llm)
            if llm is not None
            else self._offline(events, scope, state)
        )
        return self._link(drafts, state)

    # -- drafting ----------------------------------------------------------------------

    def _network(self, event: Event) -> str:
        agents = {s.lower() for s in self.config.agent_speakers}
        if event.kind in ("action", "tool") or (event.speaker or "").lower() in agents:
            return "experience"
        return "world"

    def _offline(
        self, events: Sequence[Event], scope: Scope, state: _Owner
    ) -> list[tuple[Note, list[int]]]:
        cfg = self.config
        drafts: list[tuple[Note, list[int]]] = []
        for event in events:
            content = render_event(event, speaker=cfg.speaker, date=False, metadata=cfg.metadata)
            state.phrases.add(event.content)
            confidence = opinion_confidence(event.content, cfg.opinion_confidence)
            network = "opinion" if confidence is not None else self._network(event)
            names = entities(event.content, state.phrases.repeated_in(event.content))
            if event.speaker:
                names = list(dict.fromkeys([event.speaker.lower(), *names]))
            causal = [len(drafts) - 1] if drafts and _CAUSAL.search(event.content) else []
            drafts.append(
                (self._note(event.id, content, network, names, confidence, [event], scope), causal)
            )
        return drafts

    def _with_llm(
        self, events: Sequence[Event], scope: Scope, llm: LLM
    ) -> list[tuple[Note, list[int]]]:
        sessions: dict[str | None, list[Event]] = {}
        for event in events:
            sessions.setdefault(event.session_id, []).append(event)
        drafts: list[tuple[Note, list[int]]] = []
        for batch in sessions.values():
            for start in range(0, len(batch), self.config.window):
                window = batch[start : start + self.config.window]
                labels = {f"E{i + 1}": e for i, e in enumerate(window)}
                result = llm.extract(_retain_messages(window), RetainResult)
                offset = len(drafts)
                for i, fact in enumerate(result.facts):
                    cited = [labels[s] for s in fact.sources if s in labels] or list(window)
                    confidence = fact.confidence if fact.network == "opinion" else None
                    names = list(
                        dict.fromkeys(n.strip().lower() for n in fact.entities if n.strip())
                    )
                    key = stable_id("f", fact.statement.strip().lower())
                    note = self._note(
                        key, fact.statement.strip(), fact.network, names, confidence, cited, scope
                    )
                    causes = [offset + c for c in fact.caused_by if 0 <= c < i]
                    drafts.append((note, causes))
        return drafts

    def _note(self, key: str, content: str, network: str, names: list[str], confidence: float | None,
              sources: Sequence[Event], scope: Scope) -> Note:  # fmt: skip
        first = sources[0]
        metadata: dict[str, str | float | int | bool | None] = {
            "encoder": "hindsight_retain",
            "network": network,
            "entities": "|".join(names),
        }
        if first.speaker:
            metadata["speaker"] = first.speaker
        if confidence is not None:
            metadata["confidence"] = confidence
        when = max((e.timestamp for e in sources if e.timestamp), default=None)
        fields: dict[str, object] = {
            "id": stable_id("n", scope.user_id, scope.agent_id, key, "hindsight_retain"),
            "content": content, "kind": network, "source_ids": list(dict.fromkeys(e.id for e in sources)),
            "scope": scope.narrowed(first.session_id), "valid_from": when, "keywords": names[:20],
            "metadata": metadata,
        }  # fmt: skip
        if when is not None:
            fields["created_at"] = when
        return Note(**fields)  # type: ignore[arg-type]

    # -- linking -----------------------------------------------------------------------

    def _link(self, drafts: list[tuple[Note, list[int]]], state: _Owner) -> list[Note]:
        cfg = self.config
        out: list[Note] = []
        for note, causes in drafts:
            links: list[Link] = []
            for name in note_entities(note):
                for target in (
                    list(state.by_entity.get(name, ()))[-cfg.entity_links :]
                    if cfg.entity_links
                    else []
                ):
                    if target != note.id:
                        links.append(Link(target=target, kind="entity", weight=1.0))
            recent = state.last.get(note.scope.session_id)
            if recent and recent[-1][0] != note.id:
                links.append(Link(target=recent[-1][0], kind="temporal", weight=1.0))
            for cause in causes:
                links.append(Link(target=out[cause].id if cause < len(out) else drafts[cause][0].id,
                                  kind="causal", weight=1.0))  # fmt: skip
            unique = {(link.target, link.kind): link for link in links}
            update: dict[str, object] = {"links": list(unique.values())}
            if cfg.context and recent:
                before = [text for _, text in list(recent)[-cfg.context :]]
                update["index_text"] = " ".join([*before, note.content])
            note = note.model_copy(update=update)
            out.append(note)
            self._remember(state, note)
        return out


def _retain_messages(window: Sequence[Event]) -> list[dict[str, str]]:
    lines = []
    for i, event in enumerate(window, start=1):
        when = f"({event.timestamp:%Y-%m-%d}) " if event.timestamp else ""
        who = f"{event.speaker}: " if event.speaker else ""
        lines.append(f"[E{i}] {when}{who}{event.content}")
    return [
        {
            "role": "system",
            "content": "You retain memories for an agent. From the events, extract self-contained "
            "facts (resolve pronouns and relative dates using the event dates). Put each in a "
            "network: world (objective facts about the world and people), experience (what the "
            "agent itself did), opinion (a belief someone holds; give its confidence 0-1). List "
            "the entities each fact names, the event labels it comes from, and the indexes of "
            "earlier facts in your list that caused it. Skip small talk.",
        },
        {"role": "user", "content": "Events:\n" + "\n".join(lines) + "\n\nExtract the facts."},
    ]
