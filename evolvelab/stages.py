"""Stage base classes and the optional capability protocols.

Lifecycle of every component: the pipeline constructs it with its config (no I/O, no
heavy imports), checks what it ``requires``, then calls ``open(resources)`` once, the
stage methods any number of times, and ``close()`` once.

Each base has one to three required methods. Extra abilities of stores (vector search,
full-text search, scanning, graph links) are runtime-checkable protocols: a retriever
lists the ones it needs in ``requires`` and the pipeline refuses to build when no store
offers them, naming the stores that would.
"""

from __future__ import annotations

import abc
import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from evolvelab.config import (
    EmbedderConfig,
    EncoderConfig,
    LLMConfig,
    ManagerConfig,
    RetrieverConfig,
    StageConfig,
    StoreConfig,
)
from evolvelab.errors import EvolveLabError
from evolvelab.types import Event, Hit, Link, Note, Outcome, Query, Scope, Where, utcnow

if TYPE_CHECKING:
    import numpy as np

    from evolvelab.intents import IntentLog

__all__ = [
    "Clock",
    "Component",
    "Embedder",
    "Encoder",
    "GraphLinks",
    "IdleUpkeep",
    "LLM",
    "LLMUsage",
    "ManageReport",
    "Manager",
    "Neighbour",
    "Resources",
    "Retriever",
    "Scannable",
    "Store",
    "TextField",
    "TextSearch",
    "VectorSearch",
    "FeedbackAware",
    "Issue",
    "TypeEntry",
    "TypeLookup",
    "capability_name",
    "capability_names",
]

T = TypeVar("T", bound=BaseModel)

TextField = Literal["index", "content"]
"""Which text of a note a full-text search reads: ``index`` (``Note.search_text``) or ``content``."""


class Clock:
    """The pipeline's notion of "now", kept per memory owner.

    Time follows the events: ``advance(t, scope)`` moves the owner's clock (its user and
    agent) forward to the newest event time seen, so decay and recency behave the same
    when a stream is replayed years later, and one user's dates never age another user's
    notes. ``now(scope)`` is that owner's time; ``now()`` is the newest time of any owner.
    Before any event carries a time, the wall clock is used.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start
        self._owners: dict[tuple[str | None, str | None], datetime] = {}

    def now(self, scope: Scope | None = None) -> datetime:
        """Return the current time of ``scope``'s owner (default: the newest of all)."""
        if scope is not None:
            owned = self._owners.get((scope.user_id, scope.agent_id))
            if owned is not None:
                return owned
        return self._now or utcnow()

    def advance(self, when: datetime | None, scope: Scope | None = None) -> None:
        """Move the clock (and ``scope``'s owner's clock) to ``when`` if that is later."""
        if when is None:
            return
        if self._now is None or when > self._now:
            self._now = when
        if scope is not None:
            key = (scope.user_id, scope.agent_id)
            if key not in self._owners or when > self._owners[key]:
                self._owners[key] = when


@dataclass
class LLMUsage:
    """Counters every LLM keeps: calls, tokens and seconds spent."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Return the counters as a plain dict (for reports)."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Resources:
    """What a component may use once opened: stores, embedder, LLM, clock, data dir."""

    embedder: Embedder
    store: Store
    graph: Store | None = None
    llm: LLM | None = None
    clock: Clock = field(default_factory=Clock)
    data_dir: Path = Path(".evolvelab")
    intents: IntentLog | None = None
    """The crash-repair log of two-store writes (opened by :meth:`recover`)."""

    def stores(self) -> list[Store]:
        """Return the note store and, if configured, the graph store."""
        return [self.store] if self.graph is None else [self.store, self.graph]

    def query_vector(self, vector: Sequence[float] | np.ndarray) -> np.ndarray:
        """Return ``vector`` as a flat float32 array, checked against the embedder's dimension.

        Raises:
            EvolveLabError: if the dimension differs from the embedder's.
        """
        import numpy as np

        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.embedder.dim:
            raise EvolveLabError(
                f"query vector has {query.shape[0]} dimensions; "
                f"this store holds {self.embedder.dim}"
            )
        return query

    def embed_missing(self, notes: Sequence[Note]) -> list[Note]:
        """Return ``notes`` with an embedding of their search text filled in where it is missing."""
        missing = [i for i, note in enumerate(notes) if note.embedding is None]
        out = list(notes)
        if missing:
            vectors = self.embedder.embed([notes[i].search_text for i in missing])
            for i, vector in zip(missing, vectors, strict=True):
                out[i] = notes[i].model_copy(update={"embedding": [float(x) for x in vector]})
        return out

    def write(self, notes: Sequence[Note], previous: Sequence[Note] | None = None) -> list[Note]:
        """Embed where needed and upsert ``notes`` into the note store and the graph store.

        This is how stages write notes of their own (links, insights, lessons, thoughts):
        both stores stay in step. If the graph write fails, the note-store write is undone:
        notes that were new are deleted again, and notes that were already stored get
        their previous version back (never deleted).

        Args:
            notes: the notes to write.
            previous: their versions in the note store, if the caller read them already
                (saves a read); ``None``: read here when there is a graph store.

        Returns:
            The notes as written (with embeddings).
        """
        if not notes:
            return []
        written = self.embed_missing(notes)
        groups: dict[str, list[Note]] = {}
        for note in written:
            groups.setdefault(note.scope.model_dump_json(), []).append(note)
        if previous is None:
            previous = (
                [old for group in groups.values()
                 for old in self.store.get([n.id for n in group], group[0].scope)]
                if self.graph is not None else []
            )  # fmt: skip
        if self.graph is None:
            self.store.add(written)
            return written
        try:
            with contextlib.ExitStack() as logged:  # a crash in here is repaired on reopen
                for owner, ids in _ids_by_owner(written):
                    logged.enter_context(self._intent(owner, ids))
                self.store.add(written)
                try:
                    self.graph.add(written)
                except BaseException:
                    kept = {(old.scope.model_dump_json(), old.id) for old in previous}
                    for key, group in groups.items():
                        new = [n.id for n in group if (key, n.id) not in kept]
                        if new:
                            self.store.delete(new, group[0].scope)
                    if previous:
                        self.store.add(previous)
                    raise
        except BaseException:
            self._settle()
            raise
        return written

    def remove(self, ids: Sequence[str], scope: Scope) -> int:
        """Delete notes from the note store and the graph store; return how many the note store had."""
        if self.graph is None:
            return self.store.delete(ids, scope)
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        try:
            with self._intent(owner, list(ids)):
                deleted = self.store.delete(ids, scope)
                self.graph.delete(ids, scope)
        except BaseException:
            self._settle()
            raise
        return deleted

    def recover(self) -> int:
        """Open the intent log and repair what a crashed process left half-written.

        Called by the pipeline once its stores are open. With a graph store, every
        two-store write first records its ids in the log, so a crash between the note
        store and the graph is repaired here (see :mod:`evolvelab.intents`); without one
        there is nothing two writes could leave apart.

        Returns:
            How many half-finished writes were repaired.
        """
        if self.graph is None:
            return 0
        from evolvelab.intents import IntentLog

        if self.intents is None:
            self.intents = IntentLog(Path(self.data_dir) / "intents")
        self.intents.open()
        return self.intents.replay(self.store, self.graph)

    def close_intents(self) -> None:
        """Close the intent log (its file goes away when every write finished)."""
        if self.intents is not None:
            self.intents.close()

    def _settle(self) -> None:
        """After a failed two-store write, repair its record now if the stores allow."""
        if self.intents is not None and self.graph is not None:
            self.intents.settle(self.store, self.graph)

    def _intent(self, owner: Scope, ids: list[str]) -> contextlib.AbstractContextManager[None]:
        if self.intents is None:
            return contextlib.nullcontext()
        return self.intents.intent(owner, ids)

    def find(self, capability: type[Any]) -> Any:
        """Return the first store offering ``capability`` (note store first).

        Raises:
            EvolveLabError: if no store offers it (the pipeline checks this at build time).
        """
        for store in self.stores():
            if isinstance(store, capability):
                return store
        raise EvolveLabError(f"no store in this pipeline offers {capability.__name__}")


def _ids_by_owner(notes: Sequence[Note]) -> list[tuple[Scope, list[str]]]:
    """Group note ids by owner (user and agent; ids are unique within an owner)."""
    out: dict[tuple[str | None, str | None], list[str]] = {}
    for note in notes:
        out.setdefault((note.scope.user_id, note.scope.agent_id), []).append(note.id)
    return [(Scope(user_id=user, agent_id=agent), ids) for (user, agent), ids in out.items()]


@dataclass(frozen=True)
class Issue:
    """A problem found by a component's ``check``: where in its config, and what.

    The pipeline reports it at the file position of ``field`` (relative to the stage).

    Example:
        >>> Issue(("channels", 1), "unknown channel 'bm52'", allowed=("bm25", "vector"),
        ...       suggestion="bm25")
        Issue(field=('channels', 1), message="unknown channel 'bm52'", allowed=('bm25', 'vector'),
              suggestion='bm25')
    """

    field: tuple[str | int, ...]
    message: str
    allowed: tuple[str, ...] = ()
    suggestion: str | None = None


class TypeEntry(Protocol):
    """One registered type, as :class:`TypeLookup` returns it."""

    @property
    def name(self) -> str:
        """The type name (``type:`` in YAML)."""
        ...  # pragma: no cover - a protocol

    @property
    def cls(self) -> type[Component]:
        """The stage class."""
        ...  # pragma: no cover - a protocol


class TypeLookup(Protocol):
    """The registered types a stage may look up in ``build``, ``check`` and ``capabilities_needed``.

    The pipeline passes the registry it is built from (built-ins plus installed plugins,
    or the registry a test made), so a stage that builds other stages (``hybrid`` builds
    its channels) gets them from the same place, never from a registry of its own.
    ``kind`` is ``encoder``, ``store``, ``retriever``, ``manager``, ``embedder`` or ``llm``.

    Example:
        >>> from evolvelab.registry import default_registry
        >>> registry = default_registry()
        >>> sources = [e.name for e in registry.entries("retriever") if e.cls.source]
        >>> "bm25" in sources, "neighbours" in sources    # neighbours refines others' hits
        (True, False)
    """

    def names(self, kind: str) -> list[str]:
        """Return the registered type names of one kind, sorted."""
        ...  # pragma: no cover - a protocol

    def entries(self, kind: str) -> list[Any]:
        """Return the :class:`TypeEntry` items of one kind, sorted by name."""
        ...  # pragma: no cover - a protocol

    def get(self, kind: str, name: str) -> Any:
        """Return the :class:`TypeEntry` of ``(kind, name)``; raise ``PluginError`` if unknown."""
        ...  # pragma: no cover - a protocol


class Component(abc.ABC):
    """Base of every pipeline component.

    Subclasses set ``config_model``; constructors only keep the config. ``open`` does
    I/O and imports optional dependencies; ``close`` releases what ``open`` acquired.
    """

    config_model: ClassVar[type[StageConfig]]
    requires: ClassVar[tuple[type[Any], ...]] = ()
    """Capabilities some store in the pipeline must offer (checked at build time)."""

    def __init__(self, config: StageConfig) -> None:
        self.config = config
        self._resources: Resources | None = None

    @classmethod
    def build(cls, config: StageConfig, registry: TypeLookup) -> Component:
        """Return the component for ``config``; the pipeline builds every stage this way.

        The default is ``cls(config)``. A stage made of other stages overrides it and
        builds them from ``registry`` (``hybrid`` builds its channel retrievers), so they
        exist, and fail, when the pipeline is built, not when it is opened. No I/O here.
        """
        return cls(config)

    @classmethod
    def capabilities_needed(cls, config: StageConfig, registry: TypeLookup) -> tuple[type[Any], ...]:
        """Return the store capabilities this stage needs with ``config`` (default: ``requires``)."""
        return cls.requires

    @classmethod
    def check(cls, config: StageConfig, registry: TypeLookup) -> list[Issue]:
        """Return cross-field problems the config model cannot express (none by default)."""
        return []

    @property
    def resources(self) -> Resources:
        """The resources passed to ``open``."""
        if self._resources is None:
            raise EvolveLabError(f"{type(self).__name__} used before open()")
        return self._resources

    def open(self, resources: Resources) -> None:
        """Acquire what the component needs. Subclasses call ``super().open(resources)``."""
        self._resources = resources

    def close(self) -> None:
        """Release what ``open`` acquired."""


class Embedder(Component):
    """Turn texts into L2-normalised float32 vectors."""

    config_model: ClassVar[type[EmbedderConfig]]
    vector_search: ClassVar[bool] = True
    """Whether its vectors can rank notes, so stages may search by vector: ``False`` for a
    placeholder (``embedder: none``), which leaves a pipeline without vector search."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Vector dimension (known without I/O)."""

    @property
    @abc.abstractmethod
    def model_id(self) -> str:
        """Identity of the model and its settings; vectors of different ids never mix."""

    @abc.abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(len(texts), dim)`` float32 array of unit vectors."""

    def open(self, resources: Resources | None = None) -> None:  # type: ignore[override]
        """Load the model. Embedders do not need the other resources."""
        self._resources = resources


class LLM(Component):
    """A structured-output LLM: messages in, a validated pydantic object out."""

    config_model: ClassVar[type[LLMConfig]]

    def __init__(self, config: StageConfig) -> None:
        super().__init__(config)
        self.usage = LLMUsage()

    @abc.abstractmethod
    def extract(self, messages: list[dict[str, str]], response_model: type[T]) -> T:
        """Ask the model and return its answer parsed as ``response_model``."""

    def open(self, resources: Resources | None = None) -> None:  # type: ignore[override]
        """Create the client. LLMs do not need the other resources."""
        self._resources = resources


class Encoder(Component):
    """Turn events into notes."""

    config_model: ClassVar[type[EncoderConfig]]

    @abc.abstractmethod
    def encode(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        """Return the notes for ``events`` (ids stable across re-runs).

        Input that cannot become a note is never dropped silently: call
        :meth:`report_dropped` for it, and ``Memory.add`` reports it in its result.
        """

    def report_dropped(self, reason: str, count: int = 1) -> None:
        """Record that ``count`` items of the batch being encoded could not be kept.

        ``Memory.add`` collects these after ``encode`` returns and lists them, by reason,
        in the :class:`~evolvelab.AddResult` it returns (and the command line shows them).

        Example:
            >>> from evolvelab.modules.encode.turn import TurnConfig, TurnEncoder
            >>> encoder = TurnEncoder(TurnConfig())
            >>> encoder.report_dropped("LLM fact with empty text")
            >>> encoder.report_dropped("LLM fact with empty text", count=2)
            >>> encoder.take_dropped()        # what Memory.add collects after encode
            {'LLM fact with empty text': 3}
            >>> encoder.take_dropped()
            {}
        """
        if count > 0:
            pending: dict[str, int] = dict(getattr(self, "_dropped", {}))
            pending[reason] = pending.get(reason, 0) + count
            self._dropped = pending

    def take_dropped(self) -> dict[str, int]:
        """Return the drops recorded since the last call, by reason, and forget them."""
        pending: dict[str, int] = getattr(self, "_dropped", {})
        self._dropped: dict[str, int] = {}
        return pending


class Store(Component):
    """Keep notes. Every read and delete is confined to a scope.

    What every store guarantees (``evolvelab.testing.contracts`` checks each point; a
    store passes :class:`~evolvelab.testing.contracts.StoreContract` and the capability
    suites of the protocols it offers):

    **add.** ``add(notes)`` upserts by id within an owner (``user_id`` + ``agent_id``): a
    note whose id the owner already holds is replaced, even when its session changed;
    two owners may hold the same id, and neither overwrites the other's. When ``add``
    returns, the notes are durable (a fresh instance over the same storage reads them)
    and visible to every read of this instance, text search included. Every field comes
    back as written (times as aware UTC, metadata with its value types); an embedding of
    the wrong dimension is refused, a note without one is kept. ``add([])`` does nothing.

    **Scope.** Every read (``get``, ``count`` and each capability's search, scan and walk)
    and every ``delete`` is confined to the scope it is given, inside the store, never by
    the caller remembering to filter: ``user_id`` and ``agent_id`` match exactly
    (``None`` only matches ``None``, ``""`` is not ``None``); ``session_id`` narrows only
    when the scope sets it. Ids and user ids are data, never query syntax. Full-text
    statistics are per owner: another owner's notes never change a score. Links never
    cross scopes.

    **Filters and validity.** ``Where`` filters apply before ranking, so a selective
    filter never empties a top-k that has matches further down. Reads return currently
    valid notes (``invalid_at`` unset) unless ``Where.valid_at`` or ``include_invalid``
    asks for others.

    **Threads and processes.** Store methods are synchronous and a store instance is not
    required to be thread-safe: the pipeline calls it from one thread, and the server
    lets reads run together only while no write runs (a read-write lock the writer
    holds alone). Whether several processes may open the same storage is each store's
    own promise, stated in its docs: ``lancedb`` yes (conflicting commits are retried),
    ``kuzu`` one process at a time, ``memory`` keeps nothing to share.
    ``close()`` may be called twice.
    """

    config_model: ClassVar[type[StoreConfig]]
    keeps_data: ClassVar[bool] = True
    """Whether the notes outlive the process (``False`` for ``memory``): an event log
    replays everything into a store that keeps nothing, not only what it missed."""

    @abc.abstractmethod
    def add(self, notes: Sequence[Note]) -> None:
        """Insert or replace ``notes`` by id; durable when this returns."""

    @abc.abstractmethod
    def get(self, ids: Sequence[str], scope: Scope) -> list[Note]:
        """Return the notes with these ids that belong to ``scope`` (unknown ids skipped)."""

    def get_many(self, requests: Sequence[tuple[Sequence[str], Scope]]) -> list[list[Note]]:
        """Answer several :meth:`get` calls at once, in order (one per scope of a batch).

        The default asks one after another; a store whose scopes live apart (``lancedb``:
        a table per owner) may answer them side by side.
        """
        return [self.get(ids, scope) for ids, scope in requests]

    @abc.abstractmethod
    def delete(self, ids: Sequence[str], scope: Scope) -> int:
        """Delete the notes with these ids in ``scope``; return how many were deleted."""

    def count(self, scope: Scope) -> int:
        """Return how many notes ``scope`` holds (valid or not)."""
        if isinstance(self, Scannable):
            return sum(1 for _ in self.scan(scope, Where(include_invalid=True)))
        raise NotImplementedError(f"{type(self).__name__} cannot count notes")


class Retriever(Component):
    """Answer a query, given the hits of the stages before it.

    A retriever that finds notes itself (vector, bm25, recency) appends its hits after
    ``previous``; one that refines (link expansion, reranking) rewrites the list.
    """

    config_model: ClassVar[type[RetrieverConfig]]
    source: ClassVar[bool] = True
    """Whether this retriever finds notes on its own (and can serve as a fusion channel)."""
    refiner: ClassVar[bool | None] = None
    """Whether this retriever only reorders or extends the hits of the stages before it,
    so that ``space: auto`` may put it in a refiner slot or swap it for another refiner.
    ``None``: the opposite of ``source``. A stage that is neither (``semantic_cache``,
    which finds notes through stages of its own but is no fusion channel) sets ``False``."""
    reads_query_time: ClassVar[bool] = False
    """Whether the hits depend on ``query.at`` (recency, decay, "as of" filters). A stage
    that caches answers (``semantic_cache``) only reuses them for a query asked at the same
    time when a stage it wraps says so. Set it to ``True`` if ``retrieve`` reads ``query.at``."""

    @property
    def time_dependent(self) -> bool:
        """Whether this stage's hits depend on ``query.at`` (a stage made of stages
        overrides this to ask its children)."""
        return self.reads_query_time

    @abc.abstractmethod
    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        """Return the hit list after this stage."""

    @staticmethod
    def extend(previous: list[Hit], hits: Sequence[Hit]) -> list[Hit]:
        """Append ``hits`` whose notes are not already in ``previous``."""
        seen = {hit.note.id for hit in previous}
        out = list(previous)
        for hit in hits:
            if hit.note.id not in seen:
                seen.add(hit.note.id)
                out.append(hit)
        return out


@dataclass
class ManageReport:
    """What a manage stage did."""

    stage: str
    added: int = 0
    updated: int = 0
    deleted: int = 0
    closed: int = 0
    """Notes whose validity was closed (``invalid_at`` set) rather than deleted."""
    detail: dict[str, Any] = field(default_factory=dict)


class Manager(Component):
    """Keep memory healthy: link, evolve, decay, consolidate, validate.

    Two ways in:

    * ``manage(scope)``: a sweep over the whole scope (what ``Memory.manage`` calls).
    * After adds (``every: N``), the pipeline tells every scheduled manager what each add
      wrote (:meth:`added`) and, when the manager is due, calls :meth:`manage_after_add`.
      A manager that only has work for *new* notes overrides :meth:`manage_added` and is
      then handed the ids written since its last run, so its cost follows the batch, not
      the size of the memory. Its first run on a scope in a process is still a sweep: notes
      left unprocessed by an earlier process (or a crash) are only found by one. Notes
      another process adds later are found by the next sweep (``manage()``).
    """

    config_model: ClassVar[type[ManagerConfig]]

    @abc.abstractmethod
    def manage(self, scope: Scope) -> ManageReport:
        """Run once over ``scope`` and report what changed."""

    def manage_added(self, scope: Scope, ids: Sequence[str]) -> ManageReport:
        """Run over the notes with ``ids`` (added to ``scope`` since the last run).

        The default is a sweep (``manage(scope)``), right for managers whose work is about
        the whole scope (decay, chunking). A manager that processes new notes overrides it
        and reads just these notes (``store.get``), which may since have been changed or
        deleted by another stage.
        """
        return self.manage(scope)

    def added(self, notes: Sequence[Note], scope: Scope) -> None:
        """Remember the ids of notes an add wrote, for the next :meth:`manage_after_add`."""
        pending = self._added_ids().setdefault(_scope_id(scope), {})
        pending.update(dict.fromkeys(n.id for n in notes))

    def manage_after_add(self, scope: Scope) -> ManageReport:
        """Run as scheduled after an add: a sweep the first time, then the new notes only."""
        key = _scope_id(scope)
        ids = list(self._added_ids().pop(key, {}))
        swept: set[tuple[str | None, str | None]] = self.__dict__.setdefault("_swept", set())
        if key not in swept:
            report = self.manage(scope)
            swept.add(key)
            return report
        return self.manage_added(scope, ids)

    def _added_ids(self) -> dict[tuple[str | None, str | None], dict[str, None]]:
        return self.__dict__.setdefault("_pending_ids", {})


def _scope_id(scope: Scope) -> tuple[str | None, str | None]:
    return (scope.user_id, scope.agent_id)


@runtime_checkable
class FeedbackAware(Protocol):
    """A manager that reacts to task outcomes."""

    def on_feedback(self, outcome: Outcome, notes: Sequence[Note]) -> ManageReport:
        """Update memory after ``outcome``; ``notes`` are the ones that were used."""


@runtime_checkable
class VectorSearch(Protocol):
    """A store that finds notes by vector similarity (score: cosine similarity)."""

    def search_vectors(
        self, vector: Sequence[float] | np.ndarray, k: int, scope: Scope, where: Where
    ) -> list[Hit]:
        """Return up to ``k`` hits in ``scope``, best first."""


@runtime_checkable
class TextSearch(Protocol):
    """A store with a full-text index (score: BM25 or the engine's equivalent)."""

    def search_text(
        self, text: str, k: int, scope: Scope, where: Where, field: TextField = "index"
    ) -> list[Hit]:
        """Return up to ``k`` hits in ``scope``, best first.

        ``field`` picks the text searched: ``index`` (each note's ``search_text``: its
        ``index_text`` when set, else its ``content``) or ``content`` (what a hit shows).
        Callers pass ``field`` only when it is not ``index``.
        """


@runtime_checkable
class IdleUpkeep(Protocol):
    """A store whose upkeep after a write may wait for a moment without writes.

    A served memory's writer (:mod:`evolvelab.server.writer`) calls :meth:`defer_upkeep`
    once, then :meth:`idle_upkeep` whenever no write has come for a few milliseconds,
    one step at a time so that a write arriving meanwhile waits for one step at most.
    A store nobody calls :meth:`defer_upkeep` on keeps doing its upkeep on every write.
    """

    def defer_upkeep(self) -> None:
        """From now on leave the deferrable upkeep of writes for :meth:`idle_upkeep`."""

    def idle_upkeep(self) -> bool:
        """Run one step of the upkeep left waiting; return whether more is waiting."""


@runtime_checkable
class Scannable(Protocol):
    """A store that can list every note in a scope."""

    def scan(self, scope: Scope, where: Where) -> Iterator[Note]:
        """Yield every note in ``scope`` passing ``where``."""


@dataclass(frozen=True)
class Neighbour:
    """A note reached by walking links from a seed note."""

    id: str
    seed: str
    hops: int
    kind: str
    weight: float


@runtime_checkable
class GraphLinks(Protocol):
    """A store that keeps typed links between notes and walks them."""

    def link(self, source: str, links: Sequence[Link], scope: Scope) -> None:
        """Add or replace links from ``source`` (links to notes outside scope are refused)."""

    def unlink(self, source: str, targets: Sequence[str], scope: Scope) -> int:
        """Remove links from ``source`` to ``targets``; return how many were removed."""

    def neighbours(
        self,
        ids: Sequence[str],
        scope: Scope,
        hops: int = 1,
        kinds: Sequence[str] | None = None,
        direction: Literal["out", "in", "both"] = "both",
    ) -> list[Neighbour]:
        """Return notes within ``hops`` links of ``ids`` (seeds excluded), nearest first."""


CAPABILITIES: dict[str, type[Any]] = {
    "vector_search": VectorSearch,
    "text_search": TextSearch,
    "scan": Scannable,
    "graph_links": GraphLinks,
}
"""Capability protocols by the name `evolvelab plugins` shows."""


def capability_name(capability: type[Any]) -> str:
    """Return the name a capability protocol is shown by, everywhere it is shown.

    The four built-in capabilities have the names of :data:`CAPABILITIES`; any other
    protocol (a plugin's, or ``Decaying`` of the ``layered_decay`` store) is its class name
    in snake case.

    Example:
        >>> from evolvelab.modules.store.layered_decay import Decaying
        >>> capability_name(Scannable), capability_name(Decaying)
        ('scan', 'decaying')
    """
    for name, known in CAPABILITIES.items():
        if known is capability:
            return name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", capability.__name__).lower()


def capability_names(capabilities: Sequence[type[Any]]) -> list[str]:
    """Return the names of ``capabilities``: the built-in ones in :data:`CAPABILITIES` order, then the rest."""
    known = [name for name, cap in CAPABILITIES.items() if cap in capabilities]
    other = [capability_name(c) for c in capabilities if c not in CAPABILITIES.values()]
    return [*known, *dict.fromkeys(other)]
