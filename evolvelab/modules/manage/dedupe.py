"""``type: dedupe`` — merge notes that say the same thing.

Notes in one scope whose normalised content is identical (case, spacing and punctuation
ignored) — or, with ``similarity`` below 1, whose embeddings are at least that similar —
are merged into the oldest: the survivor keeps every source id and the summed usage
counters; the others are deleted.

``manage`` (a sweep) compares every pair of the scope's notes. Run after adds
(``every: N``), the manager compares just the notes added since its last run with
their ``candidates`` nearest stored notes — found by full-text search on the content,
and by vector search when ``similarity`` is below 1 — so an add costs a few searches
per new note, not a pass over the scope. A duplicate that ranks below those candidates
is merged by the next sweep (``evolvelab manage``). A store with neither search falls
back to the sweep.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.stages import Manager, ManageReport, Scannable, TextSearch, VectorSearch
from evolvelab.types import Note, Scope, Where

__all__ = ["DedupeConfig", "DedupeManager"]

_NON_WORD = re.compile(r"[^a-z0-9]+")


class DedupeConfig(ManagerConfig):
    """Merge duplicate notes.

    Example:
        ```yaml
        manage:
          - {type: dedupe, similarity: 0.95, every: 10}
        ```
    """

    type: Literal["dedupe"] = "dedupe"
    similarity: Annotated[float, Tunable(0.85, 1.0)] = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Cosine similarity at which notes count as duplicates; 1.0: identical text only.",
    )
    candidates: int = Field(
        10,
        ge=1,
        le=1000,
        description="After adds: how many nearest stored notes each new note is compared "
        "with (per search: full text, and vectors when `similarity` < 1); a duplicate "
        "ranked further away is merged by the next sweep (`manage`).",
    )


def _normalise(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


class DedupeManager(Manager):
    """Merge duplicates into the oldest note."""

    config_model: ClassVar[type[DedupeConfig]] = DedupeConfig
    config: DedupeConfig
    requires = (Scannable,)

    def _groups(self, notes: list[Note]) -> list[list[Note]]:
        by_text: dict[str, list[Note]] = {}
        for note in notes:
            by_text.setdefault(_normalise(note.content), []).append(note)
        groups = list(by_text.values())
        if self.config.similarity >= 1.0:
            return groups
        import numpy as np

        heads = [g for g in groups if g[0].embedding is not None]
        if len(heads) < 2:
            return groups
        matrix = np.asarray([g[0].embedding for g in heads], dtype=np.float32)
        sims = matrix @ matrix.T
        merged: list[list[Note]] = [g for g in groups if g[0].embedding is None]
        taken = [False] * len(heads)
        for i, group in enumerate(heads):
            if taken[i]:
                continue
            cluster = list(group)
            for j in range(i + 1, len(heads)):
                if not taken[j] and sims[i, j] >= self.config.similarity:
                    taken[j] = True
                    cluster.extend(heads[j])
            merged.append(cluster)
        return merged

    def manage(self, scope: Scope) -> ManageReport:
        """Merge every group of duplicates in ``scope`` (compares all pairs)."""
        store = self.resources.find(Scannable)
        notes = list(store.scan(scope, Where()))
        report = ManageReport(stage="dedupe")
        for group in self._groups(notes):
            if len(group) >= 2:
                self._merge(group, scope, report)
        return report

    def manage_added(self, scope: Scope, ids: Sequence[str]) -> ManageReport:
        """Merge each added note with its duplicates among its nearest stored notes.

        New notes are taken oldest first; a note merged away earlier in the run is
        skipped, and a survivor merged earlier is used as just written.
        """
        by_text = self._capable(TextSearch)
        by_vector = self._capable(VectorSearch) if self.config.similarity < 1.0 else None
        if by_text is None and by_vector is None:
            return self.manage(scope)
        report = ManageReport(stage="dedupe")
        visible = Where()
        new = [n for n in self.resources.store.get(ids, scope) if visible.matches(n)]
        survivors: dict[str, Note] = {}
        gone: set[str] = set()
        for note in sorted(new, key=lambda n: (n.created_at, n.id)):
            if note.id in gone:
                continue
            found = {note.id: survivors.get(note.id, note)}
            key = _normalise(note.content)
            if by_text is not None and key:
                for hit in by_text.search_text(
                    note.content, self.config.candidates, scope, visible, field="content"
                ):
                    if _normalise(hit.note.content) == key:
                        found.setdefault(hit.note.id, hit.note)
            if by_vector is not None and note.embedding is not None:
                for hit in by_vector.search_vectors(
                    note.embedding, self.config.candidates, scope, visible
                ):
                    if hit.score >= self.config.similarity:
                        found.setdefault(hit.note.id, hit.note)
            group = [survivors.get(i, n) for i, n in found.items() if i not in gone]
            if len(group) >= 2:
                survivor, merged = self._merge(group, scope, report)
                survivors[survivor.id] = survivor
                gone.update(merged)
        report.detail = {
            "new": len(new),
            "checked": "nearest",
            "candidates": self.config.candidates,
        }
        return report

    def _capable(self, capability: type[Any]) -> Any | None:
        return next((s for s in self.resources.stores() if isinstance(s, capability)), None)

    def _merge(
        self, group: list[Note], scope: Scope, report: ManageReport
    ) -> tuple[Note, list[str]]:
        """Merge ``group`` into its oldest note; return the survivor and the deleted ids."""
        group.sort(key=lambda n: (n.created_at, n.id))
        keep, rest = group[0], group[1:]
        sources = list(dict.fromkeys(s for n in group for s in n.source_ids))
        survivor = keep.model_copy(
            update={
                "source_ids": sources,
                "access_count": sum(n.access_count for n in group),
                "success_count": sum(n.success_count for n in group),
                "failure_count": sum(n.failure_count for n in group),
                "version": keep.version + 1,
            }
        )
        self.resources.write([survivor])
        self.resources.remove([n.id for n in rest], scope)
        report.updated += 1
        report.deleted += len(rest)
        return survivor, [n.id for n in rest]
