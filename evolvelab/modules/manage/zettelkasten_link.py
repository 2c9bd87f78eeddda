"""``type: zettelkasten_link`` — A-MEM link generation and memory evolution.

Every note added since the last run is processed once, oldest first (``created_at``, then
id), as A-MEM processes each insert:

1. **Neighbours.** The ``neighbours`` notes nearest to it by embedding (the note store's
   vector search; the note itself and notes still waiting after it are left out, so a
   note only ever sees the memory that existed when it arrived).
2. **Decision.** With an LLM, one structured request per note
   (:class:`~evolvelab.modules.manage._amem_evolution.EvolutionDecision`), which addresses
   neighbours by their stable ids. Without one (or with ``use_llm: false``), the
   deterministic rule: link to every neighbour whose cosine similarity is at least
   ``link_threshold``, and evolve each linked neighbour by propagating keywords.
3. **Apply.** Links go from the new note to the chosen neighbours (kind ``link_kind``,
   weight = cosine similarity), into the graph store through ``GraphLinks.link`` and onto
   ``Note.links``. Evolved neighbours get new context and tags, ``version + 1``, and a
   new embedding when their enriched text changed (``reembed``).

A processed note carries ``metadata["amem_processed"] = True``; that marker lives in the
stores, so a later process (or a later run in this one) knows exactly which notes are
new. Re-adding a note (same id) drops the marker, and the note is linked afresh; its old
``link_kind`` links are replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig, Tunable
from evolvelab.llm import LLMOutputError, llm_available
from evolvelab.modules.encode.note import enriched_text
from evolvelab.modules.manage._amem_evolution import (
    Candidate,
    EvolutionDecision,
    Plan,
    evolution_messages,
    plan_from_decision,
)
from evolvelab.stages import GraphLinks, ManageReport, Manager, Scannable, VectorSearch
from evolvelab.types import Link, Note, Scope, Where

__all__ = ["MARKER", "ZettelkastenLinkConfig", "ZettelkastenLinkManager"]

MARKER = "amem_processed"
"""Metadata key set on every note the manager has processed."""

SEE_ALSO = "See also: "
"""Opens the clause the deterministic rule keeps at the end of an evolved note's context."""


class ZettelkastenLinkConfig(ManagerConfig):
    """Link each new note to its nearest notes and evolve them (A-MEM).

    Example:
        ```yaml
        manage:
          - {type: zettelkasten_link, neighbours: 5, link_threshold: 0.7, every: 1}
        ```
    """

    type: Literal["zettelkasten_link"] = "zettelkasten_link"
    neighbours: Annotated[int, Tunable(2, 15)] = Field(
        5,
        ge=1,
        le=50,
        description="How many nearest notes each new note is compared with (A-MEM: 5).",
    )
    link_threshold: Annotated[float, Tunable(0.5, 0.9)] = Field(
        0.7,
        ge=-1.0,
        le=1.0,
        description="Without an LLM: link to a neighbour whose cosine similarity is at least this.",
    )
    link_kind: str = Field("related", min_length=1, description="Kind of the links written.")
    propagate_keywords: Annotated[int, Tunable(0, 5)] = Field(
        2,
        ge=0,
        le=10,
        description="Without an LLM: how many of the new note's keywords each linked neighbour "
        "gains as tags and in its see-also clause; 0: links only, no evolution.",
    )
    max_tags: int = Field(
        8,
        ge=1,
        le=50,
        description="Without an LLM: a neighbour gains tags only while it has fewer.",
    )
    see_also: Annotated[int, Tunable(0, 12)] = Field(
        6,
        ge=0,
        le=50,
        description="Without an LLM: most terms in a neighbour's see-also clause, newest "
        "first; 0: leave contexts alone.",
    )
    reembed: bool = Field(
        True,
        description="Re-embed a note whose enriched text (content, context, keywords, tags) "
        "changed; set false when notes are embedded over content alone.",
    )
    use_llm: bool = Field(
        True, description="Ask the pipeline's LLM when one is configured; false: always the rule."
    )


@dataclass
class _Run:
    """What one ``manage`` call has done so far."""

    changed: dict[str, Note] = field(default_factory=dict)
    links: dict[str, list[Link]] = field(default_factory=dict)
    evolved: set[str] = field(default_factory=set)
    invalid_ids: list[str] = field(default_factory=list)
    llm_calls: int = 0
    fallbacks: int = 0


class ZettelkastenLinkManager(Manager):
    """Link new notes to their nearest notes and evolve those neighbours."""

    config_model: ClassVar[type[ZettelkastenLinkConfig]] = ZettelkastenLinkConfig
    config: ZettelkastenLinkConfig
    requires = (VectorSearch, GraphLinks, Scannable)

    def manage(self, scope: Scope) -> ManageReport:
        """Process the notes in ``scope`` not processed yet; report links and evolutions.

        Returns:
            A report; ``detail`` holds ``processed``, ``links``, ``evolved`` (ids of the
            rewritten neighbours), ``invalid_ids`` (ids an LLM named that were not among
            the neighbours), ``llm_calls`` and ``llm_fallbacks``.
        """
        scanner = self.resources.find(Scannable)
        return self._link(scope, [n for n in scanner.scan(scope, Where())])

    def manage_added(self, scope: Scope, ids: Sequence[str]) -> ManageReport:
        """Process just the notes added since the last run (read by id, not scanned)."""
        notes = self.resources.store.get(ids, scope)
        return self._link(scope, [n for n in notes if n.invalid_at is None])

    def _link(self, scope: Scope, notes: Sequence[Note]) -> ManageReport:
        """Process those of ``notes`` not processed yet, oldest first."""
        res = self.resources
        pending = [n for n in notes if not n.metadata.get(MARKER)]
        pending.sort(key=lambda n: (n.created_at, n.id))
        run = _Run()
        if pending:
            pending = res.embed_missing(pending)
            graph = res.find(GraphLinks)
            ids = [n.id for n in pending]
            known = {n.id: n.links for n in res.store.get(ids, scope)}
            if graph is not res.store:
                known.update({n.id: n.links for n in graph.get(ids, scope)})
            waiting = set(ids)
            for note in pending:
                waiting.discard(note.id)
                self._process(run.changed.get(note.id, note), scope, waiting, known, run)
            self._write(run, scope, graph, known)
        detail = {
            "processed": len(pending),
            "links": sum(len(v) for v in run.links.values()),
            "evolved": sorted(run.evolved),
            "invalid_ids": run.invalid_ids,
            "llm_calls": run.llm_calls,
            "llm_fallbacks": run.fallbacks,
        }
        return ManageReport(stage="zettelkasten_link", updated=len(run.changed), detail=detail)

    # ------------------------------------------------------------------ per note

    def _neighbours(
        self, note: Note, scope: Scope, waiting: set[str], run: _Run
    ) -> list[Candidate]:
        """Return the nearest earlier notes, best first, with their current state."""
        assert note.embedding is not None
        store = self.resources.find(VectorSearch)
        k = self.config.neighbours + 1 + len(waiting)
        hits = store.search_vectors(note.embedding, k, scope, Where())
        found: list[Candidate] = []
        for hit in hits:
            if hit.note.id == note.id or hit.note.id in waiting:
                continue
            current = run.changed.get(hit.note.id, hit.note)
            found.append(Candidate(note=current, similarity=float(hit.score)))
            if len(found) == self.config.neighbours:
                break
        return found

    def _process(
        self,
        note: Note,
        scope: Scope,
        waiting: set[str],
        known: dict[str, list[Link]],
        run: _Run,
    ) -> None:
        candidates = self._neighbours(note, scope, waiting, run)
        plan = self._decide(note, candidates, run) if candidates else Plan()
        run.invalid_ids.extend(plan.invalid_ids)
        by_id = {c.note.id: c for c in candidates}
        links = [
            Link(target=target, kind=self.config.link_kind, weight=by_id[target].similarity)
            for target in plan.connect
        ]
        kept = [l for l in known.get(note.id, note.links) if l.kind != self.config.link_kind]
        update: dict[str, Any] = {
            "links": kept + links,
            "metadata": {**note.metadata, MARKER: True},
            "version": note.version + 1,
        }
        if plan.note_tags:
            update["tags"] = plan.note_tags
        run.changed[note.id] = self._reembedded(note, note.model_copy(update=update))
        run.links[note.id] = links
        for target, (context, tags) in plan.updates.items():
            old = by_id[target].note
            new = old.model_copy(update={"context": context, "tags": tags})
            if (new.context, new.tags) == (old.context, old.tags):
                continue
            new = new.model_copy(update={"version": old.version + 1})
            run.changed[target] = self._reembedded(old, new)
            run.evolved.add(target)

    def _decide(self, note: Note, candidates: list[Candidate], run: _Run) -> Plan:
        llm = self.resources.llm
        if self.config.use_llm and llm_available(llm):
            assert llm is not None
            run.llm_calls += 1
            try:
                decision = llm.extract(evolution_messages(note, candidates), EvolutionDecision)
            except LLMOutputError:
                run.fallbacks += 1
            else:
                return plan_from_decision(note, candidates, decision)
        return self._rule(note, candidates)

    def _rule(self, note: Note, candidates: list[Candidate]) -> Plan:
        """Return the deterministic plan (see docs/modules/amem.md, "Without an LLM")."""
        cfg = self.config
        linked = [c for c in candidates if c.similarity >= cfg.link_threshold]
        terms = note.keywords[: cfg.propagate_keywords]
        plan = Plan(connect=[c.note.id for c in linked])
        if not terms:
            return plan
        for candidate in linked:
            old = candidate.note
            plan.updates[old.id] = (
                _see_also(old.context, terms, cfg.see_also),
                _gain_tags(old.tags, terms, cfg.max_tags),
            )
        return plan

    def _reembedded(self, old: Note, new: Note) -> Note:
        """Return ``new`` marked for re-embedding when its enriched text changed."""
        if self.config.reembed and enriched_text(old) != enriched_text(new):
            return new.model_copy(update={"embedding": None})
        return new

    # ------------------------------------------------------------------ writing

    def _write(
        self, run: _Run, scope: Scope, graph: GraphLinks, known: dict[str, list[Link]]
    ) -> None:
        """Write every changed note once, then the links, then drop replaced links."""
        notes = list(run.changed.values())
        stale = [n for n in notes if n.embedding is None]
        if stale:
            vectors = self.resources.embedder.embed([enriched_text(n) for n in stale])
            fresh = {n.id: [float(x) for x in v] for n, v in zip(stale, vectors, strict=True)}
            notes = [n.model_copy(update={"embedding": fresh[n.id]}) if n.id in fresh else n
                     for n in notes]  # fmt: skip
        self.resources.write(notes)
        for source, links in run.links.items():
            old = {l.target for l in known.get(source, []) if l.kind == self.config.link_kind}
            dropped = sorted(old - {l.target for l in links})
            if dropped:
                _unlink_kind(graph, source, dropped, self.config.link_kind, known[source], scope)
            if links:
                graph.link(source, links, scope)


def _unlink_kind(
    graph: GraphLinks,
    source: str,
    targets: Sequence[str],
    kind: str,
    existing: Sequence[Link],
    scope: Scope,
) -> None:
    """Remove ``kind`` links from ``source`` to ``targets``, keeping links of other kinds."""
    graph.unlink(source, targets, scope)
    keep = [l for l in existing if l.target in set(targets) and l.kind != kind]
    if keep:
        graph.link(source, keep, scope)


def _gain_tags(tags: Sequence[str], terms: Sequence[str], cap: int) -> list[str]:
    """Return ``tags`` plus the ``terms`` it lacks (case-insensitive), while fewer than ``cap``."""
    out = list(tags)
    have = {t.casefold() for t in out}
    for term in terms:
        if len(out) >= cap:
            break
        if term.casefold() not in have:
            out.append(term)
            have.add(term.casefold())
    return out


def _see_also(context: str, terms: Sequence[str], cap: int) -> str:
    """Return ``context`` ending in a see-also clause led by ``terms``, at most ``cap`` terms.

    Example:
        >>> _see_also("Ana said this.", ["cello", "lessons"], 6)
        'Ana said this. See also: cello, lessons.'
        >>> _see_also("Ana said this. See also: cello, lessons.", ["concert", "cello"], 3)
        'Ana said this. See also: concert, cello, lessons.'
    """
    if cap == 0:
        return context
    base, marker, tail = context.rpartition(SEE_ALSO)
    if not marker:
        base, tail = context, ""
    base = base.rstrip()
    before = [t.strip() for t in tail.strip().rstrip(".").split(",") if t.strip()]
    clause = f"{SEE_ALSO}{', '.join(list(dict.fromkeys([*terms, *before]))[:cap])}."
    return f"{base} {clause}" if base else clause
