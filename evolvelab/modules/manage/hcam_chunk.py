"""``type: hcam_chunk`` — divide memory into chunks with coarse summaries (HCAM).

Hierarchical Chunk Attention Memory (Lampinen et al., "Towards mental time travel: a
hierarchical memory for reinforcement learning agents", NeurIPS 2021) keeps the past in
chunks, each with a coarse summary; recall attends to the summaries first and reads only
the best chunks in detail (the ``hcam`` retriever).

Each run reads the owner's notes of the ``kinds`` (default: turns), orders each
session's by event time (then the position the ``turn`` encoder recorded, then id), and
cuts them into chunks: one per session (``chunk: session``) or ``size`` consecutive
turns of a session (``chunk: turns``; a chunk never spans two sessions). A chunk is a
note of kind ``chunk``:

- ``content``: its summary (:mod:`~evolvelab.modules.manage._chunk_summary`: the LLM's,
  or the extractive one without an LLM);
- ``metadata.members``: the ids of its notes, comma-separated, in order; ``source_ids``:
  their events (so evaluation could map a chunk back), ``keywords``: its terms;
- its id is stable per (owner, session, chunk index, chunking), so a chunk that gained
  turns is rewritten in place. Only chunks whose members changed are summarised again;
  chunks whose notes are all gone are deleted.

Extractive summaries weigh terms against the whole scope, so the idf a summary was
written with is the one of its last rewrite (documented, not re-summarised on every
add).

Run after adds (``every: N``), the manager reads the notes added since its last run by
id and re-cuts only their sessions (a scan of each such session, not of the scope);
the term counts of the scope are kept from its first sweep in this process and grow
with each add's new notes (version 1: a note rewritten with new text keeps the counts
of its first text, and one re-sent unchanged is counted again, until the next sweep), so
summaries come out as a sweep would write them. Counts are kept for the
:data:`OWNERS_KEPT` owners used last; an owner whose counts were dropped is swept again on
its next run. Notes without a session share one pseudo-session, which is re-cut by
scanning the owner. Deletions and other processes' notes reach the counts with the next
sweep (``manage``).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.llm import llm_available
from evolvelab.modules.manage._chunk_summary import (
    ChunkSummary,
    document_frequency,
    extractive_summary,
    summary_messages,
)
from evolvelab.stages import Manager, ManageReport, Scannable
from evolvelab.types import Note, Scope, Where, stable_id

__all__ = ["CHUNK_KIND", "HCAMChunkConfig", "HCAMChunkManager", "chunk_members"]

CHUNK_KIND = "chunk"
"""The note kind of chunk summaries."""
OWNERS_KEPT = 256
"""How many owners' term counts a manager keeps between runs (the least recently used go)."""


class HCAMChunkConfig(ManagerConfig):
    """Cut memory into chunks (a session, or N turns) and keep a coarse summary of each.

    Example:
        ```yaml
        manage:
          - {type: hcam_chunk, every: 1, chunk: session, terms: 12, sentences: 4}
        ```
    """

    type: Literal["hcam_chunk"] = "hcam_chunk"
    chunk: Annotated[Literal["session", "turns"], Tunable(choices=("session", "turns"))] = Field(
        "session", description="session: one chunk per session; turns: `size` turns of a session."
    )
    size: Annotated[int, Tunable(4, 32, log=True, when={"chunk": "turns"})] = Field(
        8, ge=1, le=1000, description="Turns per chunk with `chunk: turns`."
    )
    kinds: list[str] = Field(
        default_factory=lambda: ["turn"], min_length=1, description="Note kinds cut into chunks."
    )
    terms: Annotated[int, Tunable(4, 24)] = Field(
        12, ge=1, le=100, description="Without an LLM: distinctive terms a summary keeps."
    )
    sentences: Annotated[int, Tunable(1, 8)] = Field(
        4, ge=0, le=50, description="Without an LLM: sentences a summary keeps."
    )
    use_llm: bool = Field(
        True, description="Write summaries with the pipeline's LLM when one is configured."
    )
    index: Annotated[Literal["summary", "full"], Tunable(choices=("summary", "full"))] = Field(
        "full",
        description="What a chunk is ranked by: its summary, or (full) the summary plus every "
        "member's text, a bag of words like HCAM's mean-pooled chunk key.",
    )


def chunk_members(note: Note) -> list[str]:
    """Return the member note ids a chunk note lists, in order."""
    members = note.metadata.get("members")
    return [m for m in members.split(",") if m] if isinstance(members, str) else []


def _order(note: Note) -> tuple[object, ...]:
    position = note.metadata.get("position")
    return (note.event_time, position if isinstance(position, int) else 1 << 62, note.id)


class HCAMChunkManager(Manager):
    """Keep one summary note per chunk of the owner's turns, rewriting changed chunks."""

    config_model: ClassVar[type[HCAMChunkConfig]] = HCAMChunkConfig
    config: HCAMChunkConfig
    requires = (Scannable,)

    def _chunks(self, notes: list[Note]) -> list[tuple[str | None, int, list[Note]]]:
        sessions: dict[str | None, list[Note]] = {}
        for note in notes:
            sessions.setdefault(note.scope.session_id, []).append(note)
        out = []
        for session, members in sessions.items():
            members.sort(key=_order)
            size = len(members) if self.config.chunk == "session" else self.config.size
            for index, start in enumerate(range(0, len(members), size)):
                out.append((session, index, members[start : start + size]))
        return out

    def manage(self, scope: Scope) -> ManageReport:
        """Re-cut every session of the owner; summarise the chunks that changed."""
        store = self.resources.find(Scannable)
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        notes = list(store.scan(owner, Where(kind=self.config.kinds)))
        stored = list(store.scan(owner, Where(kind=[CHUNK_KIND], include_invalid=True)))
        self._keep_counts(owner, document_frequency(notes))
        return self._cut(owner, notes, stored)

    def manage_added(self, scope: Scope, ids: Sequence[str]) -> ManageReport:
        """Re-cut just the sessions of the notes added since the last run."""
        store = self.resources.find(Scannable)
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        counts = self._counts().get(_owner_id(owner))
        if counts is None:  # no sweep of this owner in this process yet
            return self.manage(scope)
        wanted = Where(kind=self.config.kinds)
        new = [n for n in self.resources.store.get(ids, owner) if wanted.matches(n)]
        if not new:
            return ManageReport(stage="hcam_chunk", detail={"chunks": 0, "notes": counts[1]})
        df, total = counts
        first = [n for n in new if n.version == 1]  # a rewrite was counted with its first text
        added, _ = document_frequency(first)
        df.update(added)
        self._keep_counts(owner, (df, total + len(first)))
        notes: list[Note] = []
        stored: list[Note] = []
        for session in dict.fromkeys(n.scope.session_id for n in new):
            where = owner.narrowed(session)  # session None: the whole owner, filtered below
            notes += [n for n in store.scan(where, wanted) if n.scope.session_id == session]
            stored += [
                n for n in store.scan(where, Where(kind=[CHUNK_KIND], include_invalid=True))
                if n.scope.session_id == session
            ]  # fmt: skip
        return self._cut(owner, notes, stored)

    def _counts(self) -> OrderedDict[tuple[str | None, str | None], tuple[Counter[str], int]]:
        """Term document counts per owner, from the last sweep plus the adds since."""
        return self.__dict__.setdefault("_df", OrderedDict())

    def _keep_counts(self, owner: Scope, counts: tuple[Counter[str], int]) -> None:
        """Keep ``owner``'s counts as the most recently used; drop the oldest past the bound."""
        kept = self._counts()
        kept[_owner_id(owner)] = counts
        kept.move_to_end(_owner_id(owner))
        while len(kept) > OWNERS_KEPT:
            kept.popitem(last=False)

    def _cut(self, owner: Scope, notes: list[Note], stored_chunks: list[Note]) -> ManageReport:
        """Chunk ``notes`` (whole sessions); write changed chunks, delete emptied ones.

        ``stored_chunks`` are the chunk notes of the same sessions; one of them not cut
        again (its session lost its notes) is deleted.
        """
        cfg = self.config
        report = ManageReport(stage="hcam_chunk")
        stored = {n.id: n for n in stored_chunks}
        llm = self.resources.llm if cfg.use_llm and llm_available(self.resources.llm) else None
        df, total = self._counts()[_owner_id(owner)]
        label = "session" if cfg.chunk == "session" else f"turns:{cfg.size}"
        written: list[Note] = []
        kept: set[str] = set()
        for session, index, members in self._chunks(notes):
            chunk_id = stable_id("c", owner.user_id, owner.agent_id, session, str(index), label)
            kept.add(chunk_id)
            ids = ",".join(n.id for n in members)
            old = stored.get(chunk_id)
            mode = "llm" if llm is not None else "extractive"
            if (
                old is not None
                and old.metadata.get("members") == ids
                and old.metadata.get("summary") == mode
                and old.metadata.get("index") == cfg.index
            ):
                continue
            if llm is not None:
                answer = llm.extract(summary_messages(members), ChunkSummary)
                content, terms = (
                    answer.summary.strip(),
                    [k.strip() for k in answer.keywords if k.strip()],
                )
                if terms:
                    content = f"{content} | {', '.join(terms)}"
            else:
                content, terms = extractive_summary(
                    members, df, total, terms=cfg.terms, sentences=cfg.sentences
                )
            full = (
                " ".join([content, *(n.content for n in members)]) if cfg.index == "full" else None
            )
            sources = list(dict.fromkeys(s for n in members for s in n.source_ids))
            written.append(
                Note(
                    id=chunk_id, content=content, index_text=full, kind=CHUNK_KIND, source_ids=sources,
                    scope=owner.narrowed(session), created_at=members[-1].event_time,
                    valid_from=members[0].event_time, keywords=terms[:20],
                    metadata={"members": ids, "chunk_index": index, "chunking": label,
                              "summary": mode, "index": cfg.index, "turns": len(members)},
                    version=old.version + 1 if old is not None else 1,
                )
            )  # fmt: skip
            if old is None:
                report.added += 1
            else:
                report.updated += 1
        self.resources.write(written)
        gone = [
            cid
            for cid, note in stored.items()
            if cid not in kept and note.metadata.get("chunking") == label
        ]
        if gone:
            report.deleted = self.resources.remove(gone, owner)
        report.detail = {"chunks": len(kept), "notes": total}
        return report


def _owner_id(scope: Scope) -> tuple[str | None, str | None]:
    return (scope.user_id, scope.agent_id)
