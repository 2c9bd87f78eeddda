"""``type: mem0_update`` — ADD / UPDATE / DELETE / NOOP for each new fact (Mem0, Memory-R1).

Each new fact is compared with its nearest existing facts (the top ``candidates`` by
vector similarity among the valid, already checked facts of the same owner, no newer
than the new fact and sharing none of its source events) and one operation is chosen:

- **ADD**: new information; the fact stays as it is.
- **UPDATE** ``target_id``: the fact changes or enriches the target. The target is
  *closed* (``invalid_at`` = the new fact's time) and the new fact becomes its next
  version: it links to the target with a ``supersedes`` link, records
  ``metadata.supersedes``, takes ``version`` = target's + 1, lists its own source ids
  then the target's (the memory's lineage), and, from an LLM, the merged ``text``.
- **DELETE** ``target_id``: the fact says the target is no longer true. The target is
  closed; the new fact stays and links to it with a ``contradicts`` link.
- **NOOP** ``target_id``: the target already says this. The new fact's source ids are
  merged into the target and the new fact is removed.

Nothing is erased by UPDATE or DELETE, so ``search(..., where={"valid_at": t})`` shows
what memory held at time ``t``. A fact counts as new until it carries
``metadata.update_checked = true``, which is written with the decision: the marker lives
in the store, so a later process picks up exactly the facts not yet decided. New facts
are decided one at a time, oldest first; each decided fact is a candidate for the next.

With an LLM, one structured request per new fact that has candidates (``UpdateDecision``
below), naming the candidates by their stable note ids; an answer whose ``target_id`` is
not one of them is applied as ADD and counted under ``invalid``. Without an LLM, the
deterministic rule of :func:`decide_by_rule`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from evolvelab.config import ManagerConfig, StageConfig, Tunable
from evolvelab.llm import llm_available
from evolvelab.modules.encode.fact import content_words
from evolvelab.stages import Issue, ManageReport, Manager, Scannable, TypeLookup, VectorSearch
from evolvelab.text import keywords, tokens
from evolvelab.types import Hit, Link, Note, Scope, Where

__all__ = [
    "CHECKED",
    "Mem0UpdateConfig",
    "Mem0UpdateManager",
    "UpdateDecision",
    "decide_by_rule",
    "is_negation",
    "slot_words",
]

CHECKED = "update_checked"
"""Metadata key marking a fact whose update decision has been made."""

Op = Literal["ADD", "UPDATE", "DELETE", "NOOP"]


class Mem0UpdateConfig(ManagerConfig):
    """Decide ADD / UPDATE / DELETE / NOOP for new facts against their nearest old ones.

    Example:
        ```yaml
        manage:
          - {type: mem0_update, candidates: 5, duplicate: 0.92, related: 0.6, every: 1}
        ```
    """

    type: Literal["mem0_update"] = "mem0_update"
    every: int = Field(1, ge=0, description="Run after every N add() calls; 0: only on manage().")
    candidates: Annotated[int, Tunable(1, 20)] = Field(
        5, ge=1, le=50, description="Nearest existing facts each new fact is compared with (s)."
    )
    kinds: list[str] = Field(
        default_factory=lambda: ["fact"], min_length=1, description="Note kinds treated as facts."
    )
    duplicate: Annotated[float, Tunable(0.85, 0.99)] = Field(
        0.92, gt=0.0, le=1.0, description="Rule: similarity at which a fact is a NOOP duplicate."
    )
    related: Annotated[float, Tunable(0.3, 0.85)] = Field(
        0.6, gt=0.0, le=1.0, description="Rule: similarity a candidate needs for UPDATE or DELETE."
    )
    min_shared: Annotated[int, Tunable(1, 4)] = Field(
        2, ge=1, le=10, description="Rule: content words (names aside) an UPDATE target must share."
    )
    session_scoped: bool = Field(
        False, description="Compare only with facts of the same session (Mem0's run_id)."
    )



class UpdateDecision(BaseModel):
    """What the LLM returns for one new fact."""

    op: Op = Field(description="ADD, UPDATE, DELETE or NOOP.")
    target_id: str | None = Field(
        None, description="UPDATE, DELETE, NOOP: id of the existing memory, copied from the list."
    )
    text: str | None = Field(
        None, description="UPDATE: the updated memory as one sentence (old and new combined)."
    )


_PROMPT = (
    "You maintain a memory of facts. Compare the new fact with the existing memories most "
    "similar to it and choose one operation:\n"
    "- ADD: the new fact is new information; it is stored as a new memory.\n"
    "- UPDATE: the new fact changes or adds detail to one existing memory; that memory is "
    "replaced by `text`, the updated memory in one sentence.\n"
    "- DELETE: the new fact says one existing memory is no longer true; that memory is "
    "removed.\n"
    "- NOOP: one existing memory already says this; nothing is stored.\n"
    "For UPDATE, DELETE and NOOP set `target_id` to the id of that memory, copied exactly "
    "from the list.\n\nExisting memories:\n{memories}\n\nNew fact ({when}): {fact}"
)

_NEGATION = re.compile(
    r"\b(?:not|no|never|nothing|none|nor|cannot|\w+n['’]t|no longer|any ?more|stopped|quit|"
    r"gave up|given up|(?:gone|went) (?:right )?off)\b",
    re.IGNORECASE,
)
_WEAK = frozenset(
    """
    every week weeks month months year years day days today tonight yesterday tomorrow morning
    evening night time times back see seen better best good great going got get gets coming
    come give thing things lot bit one two three last next new made make way people everyone
    anything something nothing though thanks honestly really actually probably pretty
    """.split()
)
"""Words too common in conversation to identify what a fact is about (rule path)."""


def is_negation(text: str) -> bool:
    """Return whether ``text`` carries an explicit negation cue (not, no longer, stopped…)."""
    return _NEGATION.search(text) is not None


def _day(note: Note) -> str:
    return f"{note.event_time:%Y-%m-%d}"


def _normal(text: str) -> str:
    return " ".join(tokens(text))


def slot_words(note: Note, other: Note) -> set[str]:
    """Return the words that say what ``note`` is about, for comparing it with ``other``.

    Content words with a possessive ``'s`` cut, minus the subject and speaker names of
    both notes and minus words too common in conversation to identify a topic.
    """
    names = {w for n in (note, other) for key in ("subject", "speaker")
             for w in tokens(str(n.metadata.get(key) or ""))}  # fmt: skip
    words = {w[:-2] if w.endswith("'s") else w for w in content_words(note.content)}
    return words - names - _WEAK


def decide_by_rule(
    fact: Note, candidates: Sequence[Hit], config: Mem0UpdateConfig
) -> tuple[Op, Note | None]:
    """Choose the operation for ``fact`` without an LLM.

    Candidates are taken best first; "shared" counts the :func:`slot_words` both have.

    1. NOOP on the best candidate if its text equals the fact's (case and punctuation
       aside) or its similarity is at least ``duplicate``;
    2. otherwise, for each candidate with similarity at least ``related`` whose subject
       does not differ from the fact's:
       DELETE it if the fact is a negation, the candidate is not, and they share a word;
       else, if they share at least ``min_shared`` words: NOOP on it if the fact adds no
       word it lacks, UPDATE it otherwise;
    3. otherwise ADD.

    Returns:
        The operation and its target (``None`` for ADD).
    """
    if not candidates:
        return "ADD", None
    best = candidates[0]
    if _normal(best.note.content) == _normal(fact.content) or best.score >= config.duplicate:
        return "NOOP", best.note
    negated = is_negation(fact.content)
    for hit in candidates:
        old = hit.note
        if hit.score < config.related:
            break
        subjects = [str(n.metadata.get("subject") or "").lower() for n in (fact, old)]
        if all(subjects) and subjects[0] != subjects[1]:
            continue
        new_words, old_words = slot_words(fact, old), slot_words(old, fact)
        shared = len(new_words & old_words)
        if negated and shared and not is_negation(old.content):
            return "DELETE", old
        if shared >= config.min_shared:
            return ("UPDATE", old) if new_words - old_words else ("NOOP", old)
    return "ADD", None


class _Run:
    """The decisions of one ``manage`` call, written to the stores in one go at the end.

    Candidates come from the store as it was when the run began; ``view`` overlays what
    the run decided so far, so facts are decided one after another as if each decision
    had been written at once.
    """

    def __init__(self) -> None:
        self.notes: dict[str, Note] = {}
        self.removed: set[str] = set()

    def put(self, *notes: Note) -> None:
        for note in notes:
            self.notes[note.id] = note

    def view(self, hit: Hit) -> Hit | None:
        """Return ``hit`` as the run sees it: updated, or ``None`` if removed or closed."""
        if hit.note.id in self.removed:
            return None
        note = self.notes.get(hit.note.id)
        if note is None:
            return hit
        return None if note.invalid_at is not None else hit.model_copy(update={"note": note})


class Mem0UpdateManager(Manager):
    """Mem0's update step over facts, with closing instead of erasing."""

    config_model: ClassVar[type[Mem0UpdateConfig]] = Mem0UpdateConfig
    config: Mem0UpdateConfig
    requires = (Scannable, VectorSearch)

    @classmethod
    def check(cls, config: StageConfig, registry: TypeLookup) -> list[Issue]:
        """Refuse a ``related`` threshold that is not below ``duplicate``."""
        assert isinstance(config, Mem0UpdateConfig)
        if config.related >= config.duplicate:
            message = f"related ({config.related}) must be below duplicate ({config.duplicate})"
            return [Issue(("related",), message)]
        return []

    def _owner(self, scope: Scope) -> Scope:
        if self.config.session_scoped:
            return scope
        return Scope(user_id=scope.user_id, agent_id=scope.agent_id)

    def _candidates(self, fact: Note, scope: Scope, run: _Run, limit: int) -> list[Hit]:
        store = self.resources.find(VectorSearch)
        vector = fact.embedding
        if vector is None:
            vector = [float(x) for x in self.resources.embedder.embed([fact.content])[0]]
        sources = set(fact.source_ids)
        kept = []
        for found in store.search_vectors(vector, limit, scope, Where(kind=self.config.kinds)):
            hit = run.view(found)
            if (
                hit is not None
                and hit.note.id != fact.id
                and hit.note.metadata.get(CHECKED) is True
                and hit.note.event_time <= fact.event_time
                and not sources & set(hit.note.source_ids)
            ):
                kept.append(hit)
        return kept[: self.config.candidates]

    def _ask(
        self, fact: Note, candidates: Sequence[Hit]
    ) -> tuple[Op, Note | None, str | None, bool]:
        """Return the LLM's decision as (op, target, text, valid)."""
        memories = "\n".join(
            f"[{h.note.id}] (since {_day(h.note)}) {h.note.content}" for h in candidates
        )
        prompt = _PROMPT.format(memories=memories, when=_day(fact), fact=fact.content)
        llm = self.resources.llm
        assert llm is not None
        decision = llm.extract([{"role": "user", "content": prompt}], UpdateDecision)
        if decision.op == "ADD":
            return "ADD", None, None, True
        target = {h.note.id: h.note for h in candidates}.get(decision.target_id or "")
        if target is None:
            return "ADD", None, None, False
        return decision.op, target, decision.text, True

    @staticmethod
    def _close(old: Note, fact: Note, op: Op) -> Note:
        metadata = {**old.metadata, "invalidated_by": fact.id, "closed_by": op}
        return old.model_copy(
            update={"invalid_at": fact.event_time, "version": old.version + 1, "metadata": metadata}
        )

    def _apply(self, fact: Note, op: Op, target: Note | None, text: str | None, run: _Run) -> None:
        metadata = {**fact.metadata, CHECKED: True, "update_op": op}
        if op == "ADD" or target is None:
            run.put(fact.model_copy(update={"metadata": metadata}))
            return
        if op == "NOOP":
            sources = list(dict.fromkeys([*target.source_ids, *fact.source_ids]))
            merged = {"source_ids": sources, "version": target.version + 1}
            run.put(target.model_copy(update=merged))
            run.removed.add(fact.id)
            return
        links = [link for link in fact.links if link.target != target.id]
        if op == "DELETE":
            update: dict[str, object] = {
                "links": [*links, Link(target=target.id, kind="contradicts")],
                "metadata": {**metadata, "contradicts": target.id},
            }
        else:
            update = {
                "links": [*links, Link(target=target.id, kind="supersedes")],
                "source_ids": list(dict.fromkeys([*fact.source_ids, *target.source_ids])),
                "version": target.version + 1,
                "metadata": {**metadata, "supersedes": target.id},
            }
            text = " ".join((text or "").split())
            if text and text != fact.content:
                size = len(fact.keywords) or 5
                update.update(content=text, embedding=None, keywords=keywords(text, size))
        run.put(self._close(target, fact, op), fact.model_copy(update=update))

    def manage(self, scope: Scope) -> ManageReport:
        """Decide ADD / UPDATE / DELETE / NOOP for every unchecked fact in ``scope``."""
        store = self.resources.find(Scannable)
        return self._update(scope, store.scan(self._owner(scope), Where(kind=self.config.kinds)))

    def manage_added(self, scope: Scope, ids: Sequence[str]) -> ManageReport:
        """Decide for the facts added since the last run only (read by id, not scanned)."""
        kinds = set(self.config.kinds)
        notes = self.resources.store.get(ids, self._owner(scope))
        return self._update(scope, [n for n in notes if n.kind in kinds and n.invalid_at is None])

    def _update(self, scope: Scope, notes: Iterable[Note]) -> ManageReport:
        owner = self._owner(scope)
        new = [n for n in notes if n.metadata.get(CHECKED) is not True]
        new.sort(key=lambda n: (n.event_time, n.id))
        use_llm = llm_available(self.resources.llm)
        counts = {"ADD": 0, "UPDATE": 0, "DELETE": 0, "NOOP": 0, "invalid": 0, "asked": 0}
        run = _Run()
        limit = 2 * self.config.candidates + len(new) + 5
        for fact in new:
            candidates = self._candidates(fact, owner, run, limit)
            text: str | None = None
            if use_llm and candidates:
                op, target, text, valid = self._ask(fact, candidates)
                counts["asked"] += 1
                counts["invalid"] += not valid
            else:
                op, target = decide_by_rule(fact, candidates, self.config)
            self._apply(fact, op, target, text, run)
            counts[op] += 1
        self.resources.write([n for n in run.notes.values() if n.id not in run.removed])
        if run.removed:
            self.resources.remove(sorted(run.removed), owner)
        return ManageReport(
            stage="mem0_update",
            added=counts["ADD"],
            updated=counts["UPDATE"] + counts["NOOP"],
            deleted=counts["DELETE"],
            detail=counts,
        )
