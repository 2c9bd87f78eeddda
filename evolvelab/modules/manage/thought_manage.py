"""``type: thought_manage`` — Think-in-Memory post-thinking: insert, merge and forget thoughts.

After dialogue (on ``manage``, for notes of the ``think_on`` kinds not thought about yet)
and after a task outcome (``on_feedback``, over the notes that were used), the manager
*post-thinks*: the LLM turns the memories into inductive thoughts (a
:class:`~evolvelab.modules.manage._thoughts.Thoughts` request), or, without an LLM, each
note's salient first-person statements become thoughts (feedback: the used notes'
statements condensed into one thought, on success only). Thoughts are **inserted** by
stable id (a thought stated again gains the new sources), then memory is **organised**
over LSH buckets of the scope's thoughts:

- **merge**: with an LLM, each new thought and its bucket-mates above
  ``review_similarity`` go to the LLM (a ``ThoughtReview``), which names thoughts that say
  the same thing; without one, bucket-mates at cosine ≥ ``merge_similarity`` collapse.
  The oldest thought survives with the union of the sources; the others are deleted.
- **forget**: thoughts the review names as contradicted or useless; thoughts blamed by
  feedback (``failure_count ≥ forget_failures`` and more failures than successes); the
  least useful beyond ``max_thoughts``; and whatever :meth:`ThoughtManager.forget` is
  given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.llm import llm_available
from evolvelab.modules.manage._thoughts import (
    THOUGHT,
    ThoughtReview,
    Thoughts,
    condensed_thought,
    post_think_messages,
    review_messages,
    rule_thoughts,
    thought_note,
)
from evolvelab.modules.retrieve._lsh_index import LSHIndex
from evolvelab.stages import ManageReport, Manager, Resources, Scannable, Store
from evolvelab.types import Note, Outcome, Scope, Where

__all__ = ["ThoughtManageConfig", "ThoughtManager"]


class ThoughtManageConfig(ManagerConfig):
    """Write thoughts after dialogue and after outcomes; merge and forget them by bucket.

    Example:
        ```yaml
        manage:
          - {type: thought_manage, every: 1, think_on: [turn], merge_similarity: 0.9}
        ```
    """

    type: Literal["thought_manage"] = "thought_manage"
    think_on: list[str] = Field(
        default_factory=lambda: ["turn"],
        description="Note kinds post-thought on manage(); [] leaves thinking to feedback.",
    )
    use_llm: bool = Field(True, description="Ask the pipeline's LLM when one is configured.")
    window: Annotated[int, Tunable(1, 16)] = Field(
        6, ge=1, le=64, description="Notes of one session per LLM post-thinking request."
    )
    statements_per_note: Annotated[int, Tunable(1, 4)] = Field(
        2, ge=1, le=16, description="Without an LLM: thoughts taken from one note at most."
    )
    condense: Annotated[int, Tunable(1, 5)] = Field(
        3, ge=1, le=16,
        description="Without an LLM: used notes whose first salient statements form a feedback thought.",
    )  # fmt: skip
    min_words: Annotated[int, Tunable(2, 6)] = Field(
        3, ge=1, description="Without an LLM: content words a sentence needs to be salient."
    )
    tables: int = Field(4, ge=1, le=64, description="LSH tables grouping thoughts into buckets.")
    bits: int = Field(8, ge=1, le=32, description="Hyperplanes per LSH table (2**bits buckets).")
    probe_radius: int = Field(
        1, ge=0, le=3, description="Buckets within this Hamming distance count as the same bucket."
    )
    seed: int = Field(0, ge=0, description="Seeds the LSH hyperplanes.")
    merge_similarity: Annotated[float, Tunable(0.8, 0.99)] = Field(
        0.9, gt=0.0, le=1.0, description="Without an LLM: cosine at which bucket-mates merge."
    )
    review_similarity: Annotated[float, Tunable(0.3, 0.9)] = Field(
        0.6, ge=-1.0, le=1.0, description="With an LLM: cosine a bucket-mate needs to be reviewed."
    )
    review_size: int = Field(8, ge=2, le=32, description="With an LLM: thoughts per review at most.")
    forget_failures: Annotated[int, Tunable(0, 5)] = Field(
        2, ge=0, description="Forget thoughts blamed this often (and more than credited); 0: never."
    )
    max_thoughts: int = Field(
        0, ge=0, description="Keep at most this many thoughts per scope (least useful go); 0: no cap."
    )
    forget_mode: Literal["delete", "close"] = Field(
        "delete", description="Forgetting deletes a thought, or closes its validity (invalid_at)."
    )


def _union(lists: Iterable[list[str]]) -> list[str]:
    return list(dict.fromkeys(s for items in lists for s in items))


def _age(note: Note) -> tuple[object, str]:
    return (note.created_at, note.id)


class ThoughtManager(Manager):
    """Post-think, then insert, merge and forget thoughts (TiM's memory update)."""

    config_model: ClassVar[type[ThoughtManageConfig]] = ThoughtManageConfig
    config: ThoughtManageConfig
    requires = (Scannable,)

    def open(self, resources: Resources) -> None:
        """Start with no record of which notes were thought about (rebuilt per scope)."""
        super().open(resources)
        self._done: dict[tuple[str | None, str | None], set[str]] = {}
        self._marks: dict[tuple[str | None, str | None], datetime | None] = {}
        self.llm_calls = 0

    @property
    def _store(self) -> Store:
        return self.resources.find(Scannable)  # type: ignore[no-any-return]

    @property
    def _use_llm(self) -> bool:
        return self.config.use_llm and llm_available(self.resources.llm)

    # ------------------------------------------------------------------ entry points

    def manage(self, scope: Scope) -> ManageReport:
        """Post-think over notes not thought about yet, then merge and forget."""
        return self._manage(scope, None)

    def manage_added(self, scope: Scope, ids: Sequence[str]) -> ManageReport:
        """Post-think over the notes added since the last run (read by id), then organise."""
        return self._manage(scope, ids)

    def _manage(self, scope: Scope, ids: Sequence[str] | None) -> ManageReport:
        report, calls = ManageReport(stage="thought_manage"), self.llm_calls
        fresh = self._unthought(scope, ids)
        if fresh:
            written = self.insert(self._think_dialogue(fresh), report)
            self._done[(scope.user_id, scope.agent_id)].update(n.id for n in fresh)
            report.detail["thought_about"] = len(fresh)
        else:
            written = []
        self.organise(scope, {n.id for n in written}, report)
        report.detail["llm_calls"] = self.llm_calls - calls
        return report

    def on_feedback(self, outcome: Outcome, notes: Sequence[Note]) -> ManageReport:
        """Post-think over the notes a task used, then merge and forget."""
        report, calls = ManageReport(stage="thought_manage"), self.llm_calls
        written = self.insert(self._think_feedback(outcome, notes), report) if notes else []
        self.organise(outcome.scope, {n.id for n in written}, report)
        report.detail["llm_calls"] = self.llm_calls - calls
        return report

    # ------------------------------------------------------------------ post-thinking

    def _unthought(self, scope: Scope, ids: Sequence[str] | None = None) -> list[Note]:
        """Return the ``think_on`` notes of ``scope`` not thought about yet, oldest first.

        Notes no newer than the newest thought stored when the owner was first visited
        after ``open`` count as thought about, so reopening a pipeline does not think twice.
        ``ids``: look only at these notes (the ones just added) instead of the scope.
        """
        if not self.config.think_on:
            return []
        if ids is None:
            notes = list(self._store.scan(scope, Where(kind=self.config.think_on)))  # type: ignore[attr-defined]
        else:
            kinds = set(self.config.think_on)
            notes = [n for n in self.resources.store.get(ids, scope)
                     if n.kind in kinds and n.invalid_at is None]  # fmt: skip
        key = (scope.user_id, scope.agent_id)
        if key not in self._marks:
            owner, where = Scope(user_id=key[0], agent_id=key[1]), Where(kind=[THOUGHT], include_invalid=True)
            thoughts = self._store.scan(owner, where)  # type: ignore[attr-defined]
            self._marks[key] = max((t.created_at for t in thoughts), default=None)
        mark, done = self._marks[key], self._done.setdefault(key, set())
        fresh = [n for n in notes if n.id not in done and (mark is None or n.created_at > mark)]
        return sorted(fresh, key=lambda n: (n.event_time, n.id))

    def _think_dialogue(self, notes: list[Note]) -> list[Note]:
        cfg = self.config
        if not self._use_llm:
            now = self.resources.clock.now()
            return rule_thoughts(notes, now=now, min_words=cfg.min_words, limit=cfg.statements_per_note)
        sessions: dict[str | None, list[Note]] = {}
        for note in notes:
            sessions.setdefault(note.scope.session_id, []).append(note)
        thoughts = []
        for group in sessions.values():
            for start in range(0, len(group), cfg.window):
                thoughts.extend(self._ask_thoughts(group[start : start + cfg.window], None))
        return thoughts

    def _think_feedback(self, outcome: Outcome, notes: Sequence[Note]) -> list[Note]:
        if self._use_llm:
            return self._ask_thoughts(list(notes), outcome)
        if not outcome.success:
            return []
        thought = condensed_thought(
            notes, scope=outcome.scope, now=self.resources.clock.now(),
            min_words=self.config.min_words, limit=self.config.condense,
        )  # fmt: skip
        return [thought] if thought is not None else []

    def _ask_thoughts(self, notes: list[Note], outcome: Outcome | None) -> list[Note]:
        labels = [f"N{i}" for i in range(1, len(notes) + 1)]
        by_label = dict(zip(labels, notes, strict=True))
        assert self.resources.llm is not None
        answer = self.resources.llm.extract(post_think_messages(notes, labels, outcome), Thoughts)
        self.llm_calls += 1
        scope = outcome.scope if outcome is not None else notes[0].scope
        now = self.resources.clock.now()
        out = []
        for thought in answer.thoughts:
            statement = thought.statement.strip() or " ".join(
                p for p in (thought.head, thought.relation, thought.tail) if p
            )
            if not statement:
                continue
            sources = [by_label[s] for s in dict.fromkeys(thought.sources) if s in by_label]
            out.append(
                thought_note(statement, sources=sources or notes, scope=scope, now=now,
                             triple=(thought.head, thought.relation, thought.tail),
                             origin="feedback" if outcome else "dialogue")
            )  # fmt: skip
        return out

    # ------------------------------------------------------------------ insert, merge, forget

    def insert(self, thoughts: Sequence[Note], report: ManageReport | None = None) -> list[Note]:
        """Write ``thoughts``; one already stored (same id) gains the new sources instead.

        Returns:
            The thoughts written (new, or stored ones whose sources grew).
        """
        batch: dict[str, Note] = {}
        for note in thoughts:
            if note.id in batch:
                note = batch[note.id].model_copy(
                    update={"source_ids": _union([batch[note.id].source_ids, note.source_ids])}
                )
            batch[note.id] = note
        if not batch:
            return []
        owners: dict[tuple[str | None, str | None], list[Note]] = {}
        for note in batch.values():
            owners.setdefault((note.scope.user_id, note.scope.agent_id), []).append(note)
        out, added, updated = [], 0, 0
        for (user_id, agent_id), notes in owners.items():
            owner = Scope(user_id=user_id, agent_id=agent_id)
            stored = {n.id: n for n in self._store.get([n.id for n in notes], owner)}
            for note in notes:
                old = stored.get(note.id)
                if old is None:
                    out.append(note)
                    added += 1
                    continue
                sources = _union([old.source_ids, note.source_ids])
                if sources != old.source_ids or old.invalid_at is not None:
                    update = {"source_ids": sources, "invalid_at": None, "version": old.version + 1}
                    out.append(old.model_copy(update=update))
                    updated += 1
        written = self.resources.write(out)
        if report is not None:
            report.added += added
            report.updated += updated
        return written

    def merge(self, group: Sequence[Note], statement: str | None = None) -> Note:
        """Collapse ``group`` into its oldest thought; delete the others.

        The survivor keeps the union of the sources and the summed usage counters;
        ``statement`` (from an LLM) replaces its text when given.

        Returns:
            The surviving thought as written.
        """
        keep, *rest = sorted(group, key=_age)
        merged = int(keep.metadata.get("merged") or 0) + len(rest)
        update: dict[str, object] = {
            "source_ids": _union(n.source_ids for n in (keep, *rest)),
            "access_count": sum(n.access_count for n in group),
            "success_count": sum(n.success_count for n in group),
            "failure_count": sum(n.failure_count for n in group),
            "version": keep.version + 1,
            "metadata": {**keep.metadata, "merged": merged},
        }
        if statement and statement.strip() and statement.strip() != keep.content:
            update.update(content=statement.strip(), embedding=None)
        [survivor] = self.resources.write([keep.model_copy(update=update)])
        for note in rest:
            self.resources.remove([note.id], note.scope)
        return survivor

    def forget(self, ids: Sequence[str], scope: Scope) -> int:
        """Forget the thoughts ``ids`` in ``scope`` (delete, or close with ``forget_mode: close``).

        Returns:
            How many thoughts were forgotten.
        """
        notes = [n for n in self._store.get(list(ids), scope) if n.kind == THOUGHT]
        if self.config.forget_mode == "delete":
            for note in notes:
                self.resources.remove([note.id], note.scope)
            return len(notes)
        now = self.resources.clock.now()
        closed = [
            n.model_copy(update={"invalid_at": now, "version": n.version + 1})
            for n in notes
            if n.invalid_at is None
        ]
        self.resources.write(closed)
        return len(closed)

    def organise(self, scope: Scope, new_ids: set[str], report: ManageReport) -> None:
        """Merge and forget the thoughts of ``scope`` (TiM's memory organisation)."""
        thoughts = [
            t for t in self._store.scan(scope, Where(kind=[THOUGHT])) if t.embedding is not None  # type: ignore[attr-defined]
        ]
        survivors = merged = forgotten = 0
        if len(thoughts) > 1:
            index = LSHIndex(self.resources.embedder.dim, tables=self.config.tables,
                             bits=self.config.bits, seed=self.config.seed)  # fmt: skip
            index.build([t.embedding for t in thoughts])
            if self._use_llm:
                survivors, merged, forgotten = self._review(scope, thoughts, index, new_ids)
            else:
                survivors, merged = self._merge_near_duplicates(thoughts, index)
            if merged or forgotten:
                thoughts = list(self._store.scan(scope, Where(kind=[THOUGHT])))  # type: ignore[attr-defined]
        forgotten += self._forget_by_rule(scope, thoughts)
        report.updated += survivors
        report.deleted += merged + forgotten
        report.detail.update(merged=merged, forgotten=forgotten)

    def _mates(self, index: LSHIndex, row: int, threshold: float) -> list[tuple[float, int]]:
        """Return ``(similarity, row)`` of the thoughts sharing a probed bucket with ``row``."""
        rows = index.candidates(index.vectors[row], self.config.probe_radius)
        sims = index.vectors[rows] @ index.vectors[row]
        found = [(float(s), int(r)) for s, r in zip(sims, rows, strict=True) if r != row]
        return sorted((p for p in found if p[0] >= threshold), key=lambda p: (-p[0], p[1]))

    def _merge_near_duplicates(self, thoughts: list[Note], index: LSHIndex) -> tuple[int, int]:
        """Attach each thought to its most similar older cluster head; merge the clusters.

        Returns:
            How many thoughts survived a merge, and how many were merged into them.
        """
        order = sorted(range(len(thoughts)), key=lambda i: _age(thoughts[i]))
        rank = {row: position for position, row in enumerate(order)}
        clusters: dict[int, list[int]] = {}
        for row in order:
            heads = [r for _, r in self._mates(index, row, self.config.merge_similarity)
                     if r in clusters and rank[r] < rank[row]]  # fmt: skip
            clusters.setdefault(heads[0] if heads else row, []).append(row)
        survivors = merged = 0
        for rows in clusters.values():
            if len(rows) > 1:
                self.merge([thoughts[r] for r in rows])
                survivors, merged = survivors + 1, merged + len(rows) - 1
        return survivors, merged

    def _review(
        self, scope: Scope, thoughts: list[Note], index: LSHIndex, new_ids: set[str]
    ) -> tuple[int, int, int]:
        """Ask the LLM about each new thought and its bucket-mates; apply its decisions.

        A new thought already shown in an earlier review of this pass is not asked about
        again, so a bucket of new thoughts costs one request.
        """
        assert self.resources.llm is not None
        gone: set[int] = set()
        reviewed: set[int] = set()
        survivors = merged = forgotten = 0
        for row, thought in sorted(enumerate(thoughts), key=lambda p: _age(p[1])):
            if thought.id not in new_ids or row in gone or row in reviewed:
                continue
            mates = [r for _, r in self._mates(index, row, self.config.review_similarity)
                     if r not in gone][: self.config.review_size - 1]  # fmt: skip
            if not mates:
                continue
            group = sorted([row, *mates], key=lambda r: _age(thoughts[r]))
            reviewed.update(group)
            labels = [f"T{i}" for i in range(1, len(group) + 1)]
            by_label = dict(zip(labels, group, strict=True))
            messages = review_messages([thoughts[r] for r in group], labels)
            review = self.resources.llm.extract(messages, ThoughtReview)
            self.llm_calls += 1
            for decision in review.merge:
                rows = [by_label[x] for x in dict.fromkeys(decision.labels)
                        if x in by_label and by_label[x] not in gone]  # fmt: skip
                if len(rows) > 1:
                    survivor = self.merge([thoughts[r] for r in rows], decision.statement)
                    keep = min(rows, key=lambda r: _age(thoughts[r]))
                    thoughts[keep] = survivor
                    gone.update(r for r in rows if r != keep)
                    survivors, merged = survivors + 1, merged + len(rows) - 1
            drop = [by_label[x] for x in dict.fromkeys(review.forget)
                    if x in by_label and by_label[x] not in gone]  # fmt: skip
            if drop:
                forgotten += self.forget([thoughts[r].id for r in drop], scope)
                gone.update(drop)
        return survivors, merged, forgotten

    def _forget_by_rule(self, scope: Scope, thoughts: list[Note]) -> int:
        """Forget blamed thoughts, then the least useful beyond ``max_thoughts``."""
        limit = self.config.forget_failures
        blamed = [t for t in thoughts
                  if limit and t.failure_count >= limit and t.failure_count > t.success_count]  # fmt: skip
        gone = {t.id for t in blamed}
        kept = [t for t in thoughts if t.id not in gone]
        extra: list[Note] = []
        if self.config.max_thoughts and len(kept) > self.config.max_thoughts:
            ranked = sorted(kept, key=lambda t: (t.success_count - t.failure_count,
                                                 t.access_count, *_age(t)))  # fmt: skip
            extra = ranked[: len(kept) - self.config.max_thoughts]
        ids = [t.id for t in (*blamed, *extra)]
        return self.forget(ids, scope) if ids else 0
