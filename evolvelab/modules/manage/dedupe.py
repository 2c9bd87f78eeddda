"""``type: dedupe`` — merge notes that say the same thing.

Notes in one scope whose normalised content is identical (case, spacing and punctuation
ignored) — or, with ``similarity`` below 1, whose embeddings are at least that similar —
are merged into the oldest: the survivor keeps every source id and the summed usage
counters; the others are deleted.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.stages import ManageReport, Manager, Scannable
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
        1.0, gt=0.0, le=1.0, description="Cosine similarity at which notes count as duplicates; 1.0: identical text only."
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
        store = self.resources.find(Scannable)
        notes = list(store.scan(scope, Where()))
        report = ManageReport(stage="dedupe")
        for group in self._groups(notes):
            if len(group) < 2:
                continue
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
        return report
