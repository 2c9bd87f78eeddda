"""``type: entity_observe`` — Hindsight's observation network: one summary per entity.

Each run counts the entities (``metadata.entities``, as ``hindsight_retain`` writes them)
of the owner's notes of the ``kinds`` and keeps one observation note (kind
``observation``) for every entity named by at least ``min_mentions`` notes:

- without an LLM, an extractive summary: ``"<entity>: "`` followed by the ``statements``
  most recent statements naming it, oldest first, joined by ``" | "``;
- with an LLM, one :class:`Observation` request per entity over its ``statements`` most
  recent statements.

``source_ids`` are the events of the statements used, so evaluation charges an
observation for what it summarises; the id is stable per (owner, entity), and an
observation is only rewritten when the statements it would use changed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.llm import llm_available
from evolvelab.modules.encode._entities import note_entities
from evolvelab.stages import Manager, ManageReport, Scannable
from evolvelab.types import Note, Scope, Where, stable_id

__all__ = ["EntityObserveConfig", "EntityObserveManager", "Observation"]


class Observation(BaseModel):
    """What the LLM returns for one entity."""

    summary: str = Field(description="What is known about the entity, in two or three sentences.")


class EntityObserveConfig(ManagerConfig):
    """Keep an observation (entity summary) for every entity the memory names often.

    Example:
        ```yaml
        manage:
          - {type: entity_observe, every: 10, min_mentions: 3, statements: 5}
        ```
    """

    type: Literal["entity_observe"] = "entity_observe"
    kinds: list[str] = Field(
        default_factory=lambda: ["world", "experience", "opinion"],
        min_length=1, description="Note kinds whose entities are observed.",
    )  # fmt: skip
    min_mentions: Annotated[int, Tunable(2, 10)] = Field(
        3,
        ge=1,
        le=1000,
        description="Notes that must name an entity before it gets an observation.",
    )
    statements: Annotated[int, Tunable(2, 10)] = Field(
        5, ge=1, le=100, description="Most recent statements an observation is built from."
    )
    skip_speakers: bool = Field(
        True, description="Leave out entities that are speakers (they name half of a dialogue)."
    )
    use_llm: bool = Field(
        True, description="Write summaries with the pipeline's LLM when one is configured."
    )


class EntityObserveManager(Manager):
    """Write or refresh one observation note per frequently named entity."""

    config_model: ClassVar[type[EntityObserveConfig]] = EntityObserveConfig
    config: EntityObserveConfig
    requires = (Scannable,)

    def manage(self, scope: Scope) -> ManageReport:
        cfg = self.config
        report = ManageReport(stage="entity_observe")
        store = self.resources.find(Scannable)
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        notes = list(store.scan(owner, Where(kind=cfg.kinds)))
        speakers = (
            {str(n.metadata.get("speaker", "")).lower() for n in notes}
            if cfg.skip_speakers
            else set()
        )
        mentions: dict[str, list[Note]] = defaultdict(list)
        for note in notes:
            for name in note_entities(note):
                if name not in speakers:
                    mentions[name].append(note)
        stored = {n.id: n for n in store.scan(owner, Where(kind=["observation"]))}
        llm = self.resources.llm if cfg.use_llm and llm_available(self.resources.llm) else None
        written: list[Note] = []
        for name, named in mentions.items():
            if len(named) < cfg.min_mentions:
                continue
            used = sorted(named, key=lambda n: (n.event_time, n.id))[-cfg.statements :]
            basis = ",".join(n.id for n in used)
            note_id = stable_id("o", owner.user_id, owner.agent_id, name)
            old = stored.get(note_id)
            if old is not None and old.metadata.get("basis") == basis:
                continue
            if llm is not None:
                lines = "\n".join(f"- ({n.event_time:%Y-%m-%d}) {n.content}" for n in used)
                messages = [
                    {
                        "role": "system",
                        "content": "Summarise what these memories say about the entity.",
                    },
                    {"role": "user", "content": f"Entity: {name}\nMemories:\n{lines}"},
                ]
                content = f"{name}: {llm.extract(messages, Observation).summary.strip()}"  # type: ignore[attr-defined]
            else:
                content = f"{name}: " + " | ".join(n.content for n in used)
            written.append(Note(
                id=note_id, content=content, kind="observation",
                source_ids=list(dict.fromkeys(s for n in used for s in n.source_ids)), scope=owner,
                created_at=used[-1].event_time, valid_from=used[0].event_time, keywords=[name],
                metadata={"entity": name, "entities": name, "mentions": len(named), "basis": basis,
                          "network": "observation", "summary": "llm" if llm else "extractive"},
                version=old.version + 1 if old is not None else 1,
            ))  # fmt: skip
            report.added += old is None
            report.updated += old is not None
        self.resources.write(written)
        report.detail = {
            "entities": len(mentions),
            "observed": sum(len(v) >= cfg.min_mentions for v in mentions.values()),
        }
        return report
