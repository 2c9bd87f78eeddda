"""The runtime: build a pipeline from its spec (no I/O), open it, and use it.

    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from evolvelab import Memory, Event, Scope
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "turns.yaml").write_text('''
    ... version: 1
    ... name: turns
    ... embedder: {type: hashing, dim: 256}
    ... encode: [{type: turn}]
    ... store: {type: memory}
    ... retrieve: [{type: vector, k: 5}]
    ... ''')
    >>> ana = Scope(user_id="ana")
    >>> with Memory.from_yaml(folder / "turns.yaml", data_dir=folder / "data") as memory:
    ...     _ = memory.add([Event(id="1", content="I adopted a cat named Miso."),
    ...                     Event(id="2", content="The train to Leeds was late.")], scope=ana)
    ...     hits = memory.search("What is my cat called?", scope=ana)
    >>> hits[0].note.content, hits[0].note.source_ids
    ('I adopted a cat named Miso.', ['1'])
    >>> shutil.rmtree(folder)

The checkout's ``pipelines/`` folder holds ready ones (``hybrid.yaml``: MiniLM vectors
and BM25 in LanceDB, fused).

Building checks what the config model cannot: every stage's store capabilities are
offered by some store, the graph slot holds a graph store, and each stage's own
``check``. Problems are reported with the file positions of the stage they concern.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from evolvelab.config import PipelineSpec, StageConfig
from evolvelab.datadir import prepare as prepare_data_dir
from evolvelab.errors import (
    AfterWriteError,
    ConfigError,
    EvolveLabError,
    Problem,
    StageError,
    format_path,
)
from evolvelab.loader import Located, load_pipeline, parse_yaml, validate_pipeline
from evolvelab.registry import Registry, default_registry
from evolvelab.scoping import ScopeConflict, scope_notes
from evolvelab.stages import (
    LLM,
    Clock,
    Component,
    Embedder,
    Encoder,
    FeedbackAware,
    GraphLinks,
    ManageReport,
    Manager,
    Resources,
    Retriever,
    Store,
    VectorSearch,
    capability_name,
)
from evolvelab.types import AddResult, Dropped, Event, Hit, Note, Outcome, Query, Scope, Where

__all__ = ["Memory"]

C = TypeVar("C", bound=Component)

def _scope(value: Scope | Mapping[str, Any] | None) -> Scope:
    if value is None:
        return Scope()
    if isinstance(value, Scope):
        return value
    try:
        return Scope.model_validate(value)
    except ValidationError as err:
        raise EvolveLabError(f"invalid scope: {err.errors()[0]['msg']}") from err


def _scope_key(scope: Scope) -> tuple[str | None, str | None]:
    return scope.user_id, scope.agent_id


_MEMORY_STATE = (
    "importance", "layer", "strength", "access_count", "last_accessed", "success_count",
    "failure_count", "invalid_at", "keywords", "tags", "context",
)  # fmt: skip
"""Note fields that stages evolve after a note is written; a re-ingest keeps them."""


def _same(stored: Note, note: Note) -> bool:
    """Return whether ``stored`` is ``note`` as written (embeddings aside)."""
    return stored.model_dump(exclude={"embedding"}) == note.model_dump(exclude={"embedding"})


def _merge_stored(new: Note, old: Note) -> Note:
    """Return ``new`` (fresh from an encoder) with the memory state of its stored version."""
    update: dict[str, Any] = {field: getattr(old, field) for field in _MEMORY_STATE}
    fresh = {(link.target, link.kind) for link in new.links}
    kept = [link for link in old.links if (link.target, link.kind) not in fresh]
    update["links"] = [*new.links, *kept]
    update["metadata"] = {**old.metadata, **new.metadata}
    update["source_ids"] = list(dict.fromkeys([*new.source_ids, *old.source_ids]))
    same_text = new.search_text == old.search_text and new.content == old.content
    update["version"] = max(new.version, old.version if same_text else old.version + 1)
    if same_text and new.embedding is None and old.embedding is not None:
        update["embedding"] = old.embedding
    return new.model_copy(update=update)


class Memory:
    """A memory pipeline: encode, store, retrieve, manage.

    Build it with :meth:`from_yaml` (or :meth:`from_dict`); construction opens nothing.
    ``open()`` (or entering a ``with`` block, or the first call that needs it) connects
    the stores and loads the models.

    Args:
        spec: a validated pipeline spec.
        registry: the types to build from (default: built-ins plus installed plugins).
        located: positions of the spec's source, for build-time problems.
        data_dir: where stores without an explicit ``path`` keep their files
            (default: ``$EVOLVELAB_HOME/<name>`` or ``.evolvelab/<name>``).
        llm: use this LLM instead of the configured one (e.g. a ``FakeLLM`` in tests).
        embedder: use this embedder instead of the configured one.

    Raises:
        ConfigError: when stages need capabilities no store offers, and similar.
    """

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        registry: Registry | None = None,
        located: Located | None = None,
        data_dir: str | Path | None = None,
        llm: LLM | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.spec = spec
        self.registry = registry or default_registry()
        self._located = located
        home = Path(os.environ.get("EVOLVELAB_HOME", ".evolvelab"))
        self.data_dir = Path(data_dir) if data_dir is not None else home / spec.name
        s: Any = spec
        self._paths: dict[int, tuple[tuple[str | int, ...], str]] = {}
        self.embedder = embedder or self._make("embedder", ("embedder",), s.embedder, Embedder)
        self.llm = llm or self._make("llm", ("llm",), s.llm, LLM)
        self.encoders = [self._make("encoder", ("encode", i), c, Encoder) for i, c in enumerate(s.encode)]
        self.store = self._make("store", ("store",), s.store, Store)
        self.graph = self._make("store", ("graph",), s.graph, Store) if s.graph else None
        self.retrievers = [
            self._make("retriever", ("retrieve", i), c, Retriever) for i, c in enumerate(s.retrieve)
        ]
        self.managers = [
            self._make("manager", ("manage", i), c, Manager) for i, c in enumerate(s.manage)
        ]
        self._check()
        self.clock = Clock()
        self._opened = False
        self._adds = 0
        self._touched: dict[tuple[str | None, str | None], Scope] = {}

    # construction -----------------------------------------------------------------

    def _make(
        self, kind: str, path: tuple[str | int, ...], config: StageConfig, base: type[C]
    ) -> C:
        cls = self.registry.get(kind, config.type).cls
        try:
            component = cls.build(config, self.registry)
        except Exception as err:  # a plugin's constructor: say which stage, not a traceback
            message = f"{kind} '{config.type}' could not be built: {type(err).__name__}: {err}"
            raise ConfigError([self._problem((*path, "type"), message)]) from err
        assert isinstance(component, base)
        self._paths[id(component)] = (path, kind)
        return component

    def _stages(self) -> list[tuple[tuple[str | int, ...], str, Component]]:
        stages = [*self.encoders, *self.retrievers, *self.managers]
        return [(*self._paths[id(c)], c) for c in stages]

    def _problem(self, path: tuple[str | int, ...], message: str, **kw: Any) -> Problem:
        if self._located is None:
            return Problem("<pipeline>", path, message, **kw)
        return self._located.problem(path, message, **kw)

    def _check(self) -> None:
        problems: list[Problem] = []
        stores = [s for s in (self.store, self.graph) if s is not None]
        if self.graph is not None and not isinstance(self.graph, GraphLinks):
            able = [e.name for e in self.registry.entries("store") if issubclass(e.cls, GraphLinks)]
            problems.append(
                self._problem(
                    ("graph", "type"),
                    f"store '{self.graph.config.type}' cannot be the graph store: it keeps no links",
                    allowed=tuple(able),
                )
            )
        for path, kind, component in self._stages():
            config = component.config
            try:  # plugin code: a failure is a located problem, not a traceback
                needed = list(type(component).capabilities_needed(config, self.registry))
                issues = list(type(component).check(config, self.registry))
            except Exception as err:
                why = f"{type(err).__name__}: {err}"
                message = f"{kind} '{config.type}' could not be checked: {why}"
                problems.append(self._problem((*path, "type"), message))
                continue
            for cap in needed:
                if cap is VectorSearch and not getattr(self.embedder, "vector_search", True):
                    problems.append(
                        self._problem(
                            (*path, "type"),
                            f"{kind} '{config.type}' needs vector search, but the embedder is "
                            f"'{self.embedder.config.type}'",
                            hints=("set embedder: {type: minilm} (or another embedder)",),
                        )
                    )
                    continue
                if any(isinstance(store, cap) for store in stores):
                    continue
                able = [e.name for e in self.registry.entries("store") if issubclass(e.cls, cap)]
                have = ", ".join(f"'{s.config.type}'" for s in stores)
                problems.append(
                    self._problem(
                        (*path, "type"),
                        f"{kind} '{config.type}' needs {capability_name(cap)}, "
                        f"which no store here offers (have {have})",
                        hints=(f"stores with {capability_name(cap)}: {', '.join(able)}",),
                    )
                )
            for issue in issues:
                problems.append(
                    self._problem(
                        (*path, *issue.field),
                        issue.message,
                        allowed=issue.allowed,
                        suggestion=issue.suggestion,
                    )
                )
        if problems:
            raise ConfigError(problems)

    @classmethod
    def from_yaml(cls, path: str | Path, *, registry: Registry | None = None, **overrides: Any) -> Memory:
        """Build a pipeline from a YAML file (nothing is opened yet).

        Keyword overrides (``data_dir``, ``llm``, ``embedder``) are as for the constructor.

        Raises:
            ConfigError: every problem in the file, with line and column.
        """
        registry = registry or default_registry()
        spec, located = load_pipeline(path, registry)
        return cls(spec, registry=registry, located=located, **overrides)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, registry: Registry | None = None, **overrides: Any
    ) -> Memory:
        """Build a pipeline from a mapping shaped like the YAML file.

        Raises:
            ConfigError: every problem in the mapping (positions read ``<dict>``).
        """
        registry = registry or default_registry()
        located = Located(file="<dict>", data=dict(data))
        return cls(validate_pipeline(located, registry), registry=registry, **overrides)

    @classmethod
    def from_text(cls, text: str, *, registry: Registry | None = None, **overrides: Any) -> Memory:
        """Build a pipeline from YAML text (keyword overrides as for the constructor)."""
        registry = registry or default_registry()
        located = parse_yaml(text, file="<string>")
        spec = validate_pipeline(located, registry)
        return cls(spec, registry=registry, located=located, **overrides)

    # lifecycle --------------------------------------------------------------------

    def open(self) -> Memory:
        """Open stores and load models; idempotent. Returns ``self``."""
        if self._opened:
            return self
        prepare_data_dir(self.data_dir)  # created and marked, so only it may be wiped
        self.embedder.open(None)
        self.llm.open(None)
        self.resources = Resources(
            embedder=self.embedder,
            store=self.store,
            graph=self.graph,
            llm=self.llm,
            clock=self.clock,
            data_dir=self.data_dir,
        )
        opened: list[Component] = []
        try:
            for component in [self.store, *([self.graph] if self.graph else []), *self.encoders,
                              *self.retrievers, *self.managers]:
                self._call(component, "open", self.resources)
                opened.append(component)
            self.resources.recover()  # repair a crash between note-store and graph writes
        except BaseException:
            self.resources.close_intents()
            for component in reversed(opened):
                component.close()
            raise
        self._opened = True
        return self

    def close(self) -> None:
        """Close every component (stores last); idempotent."""
        if not self._opened:
            return
        self._opened = False
        for component in [*self.managers, *self.retrievers, *self.encoders]:
            component.close()
        self.resources.close_intents()
        for store in (self.graph, self.store):
            if store is not None:
                store.close()
        self.llm.close()
        self.embedder.close()
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> Memory:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, component: Component, method: str, *args: Any) -> Any:
        """Call a stage method, wrapping unexpected failures in a StageError."""
        try:
            return getattr(component, method)(*args)
        except EvolveLabError:
            raise
        except Exception as err:
            path = format_path(self._paths.get(id(component), ((), ""))[0])
            raise StageError(path, component.config.type, f"{method} failed: {err}") from err

    # the four call points -------------------------------------------------------------

    def add(
        self,
        events: Iterable[Event | Mapping[str, Any]] | None = None,
        scope: Scope | Mapping[str, Any] | None = None,
        *,
        messages: Iterable[Mapping[str, Any]] | None = None,
    ) -> AddResult:
        """Encode ``events`` into notes and store them; durable when this returns.

        All events are validated and encoded before anything is written, so a bad event
        (or an encoder or LLM failure) leaves the store untouched. Then the notes are
        written, then the managers due on this add run. How a failure reads:

        - any error but :class:`~evolvelab.errors.AfterWriteError`: **nothing was written**;
        - ``AfterWriteError``: the notes in ``err.written`` are stored and durable, and a
          later stage failed (a manager, or a store that raised after its commit).

        Args:
            events: events, or mappings with the :class:`~evolvelab.Event` fields.
            scope: whose memory this is (default: the anonymous scope).
            messages: chat messages instead of events (``{"role", "content", "name"?,
                "id"?, "timestamp"?}``; see :class:`~evolvelab.lifecycle.Message`).

        Returns:
            The notes written, as an :class:`~evolvelab.AddResult` (a list of notes that
            also says what the encoders dropped, and why).

        Raises:
            AfterWriteError: the notes were written, then a later stage failed.
            EvolveLabError: nothing was written (invalid event, encoder or store failure).
        """
        self.open()
        scope = _scope(scope)
        if messages is not None:
            from evolvelab.lifecycle import messages_to_events

            events = [*(events or ()), *messages_to_events(messages, scope)]
        try:
            batch = [e if isinstance(e, Event) else Event.model_validate(e) for e in events or ()]
        except ValidationError as err:
            raise EvolveLabError(f"invalid event: {err}") from err
        if not batch:
            return AddResult()
        if self.log is not None:  # logged first, durable before the write: see lifecycle
            from evolvelab.lifecycle import AddRequest, commit_adds

            (result,) = commit_adds(self, [AddRequest(scope, batch)])
            if isinstance(result, EvolveLabError):
                raise result
            return result
        notes, dropped = self._encode(batch, scope)
        stored = self._stored_versions(notes)
        notes = self._keep_memory_state(notes, stored)
        try:
            written = AddResult(self._call_write(notes, list(stored.values())), dropped)
        except EvolveLabError as err:
            stored = self._stored_as_written(notes)
            if not stored:
                raise
            self._count_add(scope, stored)
            raise AfterWriteError(
                AddResult(stored, dropped), "store", self.store.config.type, err,
                total=len(notes), not_run=[self._label(m) for m in self._due_managers()],
            ) from err  # fmt: skip
        failure = self._run_due_managers(scope, written)
        if failure is not None:
            raise failure from failure.cause
        return written

    def _run_due_managers(self, scope: Scope, written: AddResult) -> AfterWriteError | None:
        """Count one add for ``scope``, then run the managers due on it.

        Shared by :meth:`add` and the group commit. Returns the failure (notes written,
        a manager failed; the managers after it named as not run) instead of raising it,
        so a group commit can answer each add of its group on its own.
        """
        self._count_add(scope, written)
        due = self._due_managers()
        for position, manager in enumerate(due):
            try:
                self._call(manager, "manage_after_add", scope)
            except EvolveLabError as err:
                path = format_path(self._paths[id(manager)][0])
                not_run = [self._label(m) for m in due[position + 1 :]]
                failure = AfterWriteError(written, path, manager.config.type, err, not_run=not_run)
                failure.__cause__ = err
                return failure
        return None

    def _encode(self, events: list[Event], scope: Scope) -> tuple[list[Note], list[Dropped]]:
        """Run the encoders over one add's events: its notes, scoped, and what was dropped.

        Every write path encodes through here (``add`` and the group commit of
        :func:`evolvelab.group_commit.commit_adds`), so every note gets the scope of its
        events the same way (:func:`evolvelab.scoping.scope_notes`).

        Raises:
            StageError: an encoder failed, or returned a note whose scope contradicts
                its events (nothing is written either way).
        """
        for event in events:
            self.clock.advance(event.timestamp, scope)
        notes: list[Note] = []
        dropped: list[Dropped] = []
        for encoder in self.encoders:
            encoder.take_dropped()  # left over from an add that failed part-way
            encoded = self._call(encoder, "encode", events, scope)
            try:
                notes.extend(scope_notes(encoded, events, scope))
            except ScopeConflict as err:
                path = format_path(self._paths[id(encoder)][0])
                raise StageError(path, encoder.config.type, f"{err} (leave Note.scope unset: "
                                 "the pipeline gives each note the scope of its events)") from err
            stage = self._label(encoder)
            dropped.extend(
                Dropped(stage=stage, reason=reason, count=count)
                for reason, count in encoder.take_dropped().items()
            )
        return notes, dropped

    def _label(self, component: Component) -> str:
        """Name a stage as ``encode[0] (fact)``."""
        return f"{format_path(self._paths[id(component)][0])} ({component.config.type})"

    def _count_add(self, scope: Scope, written: Sequence[Note] = ()) -> None:
        """Remember that ``scope`` was written to and count the add for manager schedules.

        Scheduled managers (``every`` > 0) also learn which notes the add wrote, so a
        manager of new notes runs over them instead of rescanning the scope.
        """
        self._touched[_scope_key(scope)] = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        self._adds += 1
        for manager in self.managers:
            if manager.config.every:  # type: ignore[attr-defined]
                manager.added(written, scope)

    def _due_managers(self) -> list[Manager]:
        """Return the managers whose ``every`` schedule falls on the current add."""
        due = []
        for manager in self.managers:
            every = manager.config.every  # type: ignore[attr-defined]
            if every and self._adds % every == 0:
                due.append(manager)
        return due

    def _stored_as_written(self, notes: list[Note]) -> list[Note]:
        """Return the notes the note store holds as this add meant to write them.

        Called after a write raised, to tell "nothing written" from "written, then the
        store failed" (say, a commit conflict raised after the commit). A note counts as
        written when the store holds it exactly as written (every field but the embedding);
        if the store cannot even be read, nothing counts as written and the first error
        stands. In doubt it says "not written": adding again is always safe (same ids).
        """
        by_scope: dict[str, list[Note]] = {}
        for note in notes:
            by_scope.setdefault(note.scope.model_dump_json(), []).append(note)
        stored: dict[tuple[str, str], Note] = {}
        try:
            for key, group in by_scope.items():
                for old in self.store.get([n.id for n in group], group[0].scope):
                    stored[(key, old.id)] = old
        except Exception:  # noqa: BLE001 - the store is broken; the write error says why
            return []
        out = []
        for note in notes:
            old = stored.get((note.scope.model_dump_json(), note.id))
            if old is not None and _same(old, note):
                out.append(old)
        return out

    def _stored_versions(self, notes: list[Note]) -> dict[tuple[str, str], Note]:
        """Return the stored versions of ``notes``, keyed by (scope JSON, id)."""
        by_scope: dict[str, list[Note]] = {}
        for note in notes:
            by_scope.setdefault(note.scope.model_dump_json(), []).append(note)
        stored: dict[tuple[str, str], Note] = {}
        asked = [([n.id for n in group], group[0].scope) for group in by_scope.values()]
        for found in self.store.get_many(asked):
            for old in found:
                stored[(old.scope.model_dump_json(), old.id)] = old
        return stored

    def _keep_memory_state(
        self, notes: list[Note], stored: dict[tuple[str, str], Note] | None = None
    ) -> list[Note]:
        """Carry what memory learned about already-stored notes over a re-ingest.

        Encoders own a note's text (content, index text, sources, validity start,
        metadata); everything stages change later — counters, importance, layer, strength,
        closed validity, keywords, tags, context and links added by managers — is kept
        from the stored note, and its embedding is reused when the search text is the same.
        ``stored`` is what :meth:`_stored_versions` returned, when the caller read it already.
        """
        stored = self._stored_versions(notes) if stored is None else stored
        if not stored:
            return notes
        out = []
        for note in notes:
            old = stored.get((note.scope.model_dump_json(), note.id))
            out.append(note if old is None else _merge_stored(note, old))
        return out

    def _call_write(self, notes: list[Note], previous: list[Note] | None = None) -> list[Note]:
        """Write notes through the resources (embed, note store, graph store).

        ``previous``: the stored versions of ``notes``, when already read (saves a read).
        """
        try:
            return self.resources.write(notes, previous=previous)
        except EvolveLabError:
            raise
        except Exception as err:
            raise StageError("store", self.store.config.type, f"add failed: {err}") from err

    def search(
        self,
        query: str | Query,
        k: int = 10,
        scope: Scope | Mapping[str, Any] | None = None,
        where: Where | Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Run the retrieve stages and return the best ``k`` hits.

        Args:
            query: the question, or a full :class:`~evolvelab.Query`.
            k: how many hits to return.
            scope: whose memory to search (default: the anonymous scope).
            where: extra filters, e.g. ``{"kind": "fact"}`` or ``{"valid_at": date}``.
        """
        self.open()
        if isinstance(query, Query):
            q = query
        else:
            try:
                filters = where if isinstance(where, Where) else Where.model_validate(where or {})
            except ValidationError as err:
                allowed = ", ".join(Where.model_fields)
                raise EvolveLabError(f"invalid where filter: {err.errors()[0]['msg']} (allowed keys: {allowed})") from err
            q = Query(text=query, k=k, scope=_scope(scope), where=filters)
        hits: list[Hit] = []
        for retriever in self.retrievers:
            hits = self._call(retriever, "retrieve", q, hits)
        return hits[: q.k]

    def feedback(self, outcome: Outcome, used_ids: Sequence[str]) -> list[ManageReport]:
        """Credit (or blame) the notes that were supplied for a task.

        Success and failure counts of the used notes in ``outcome.scope`` are updated,
        then every manager that reacts to feedback runs. Failures read as for :meth:`add`:
        an :class:`~evolvelab.errors.AfterWriteError` means the counts were written (do not
        send the outcome again: it would count twice) and a manager failed, naming the
        ones that did not run; any other error means nothing was written.
        """
        self.open()
        notes = self.store.get(list(used_ids), outcome.scope)
        field = "success_count" if outcome.success else "failure_count"
        updated = [
            n.model_copy(update={field: getattr(n, field) + 1, "version": n.version + 1})
            for n in notes
        ]
        if updated:
            self._call_write(updated)
        aware = [m for m in self.managers if isinstance(m, FeedbackAware)]
        reports = []
        for position, manager in enumerate(aware):
            try:
                reports.append(self._call(manager, "on_feedback", outcome, updated))
            except EvolveLabError as err:
                if not updated:
                    raise
                path = format_path(self._paths[id(manager)][0])
                not_run = [self._label(m) for m in aware[position + 1 :]]
                written = AddResult(updated, [])
                raise AfterWriteError(written, path, manager.config.type, err, not_run=not_run) from err
        return reports

    def manage(self, scope: Scope | Mapping[str, Any] | None = None) -> list[ManageReport]:
        """Run every manage stage over ``scope`` (default: the scopes written since opening)."""
        self.open()
        scopes = [_scope(scope)] if scope is not None else list(self._touched.values())
        reports = []
        for target in scopes:
            for manager in self.managers:
                reports.append(self._call(manager, "manage", target))
        return reports

    # introspection --------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The pipeline's name."""
        return self.spec.name

    def count(self, scope: Scope | Mapping[str, Any] | None = None) -> int:
        """Return how many notes ``scope`` holds in the note store."""
        self.open()
        return self.store.count(_scope(scope))

    # the memory lifecycle: see evolvelab.lifecycle and evolvelab.rebuild ---------------

    log: Any = None
    """The :class:`~evolvelab.eventlog.EventLog`, once :meth:`use_event_log` attached one."""

    def use_event_log(self, directory: str | Path | None = None) -> Any:
        """Keep an append-only event log (default ``<data dir>/eventlog``) and recover from it.

        From then on adds, corrections, deletions and erasures are logged, durably, before
        they return; :meth:`export` reads the log. Returns what recovery replayed.
        """
        from evolvelab.rebuild import use_event_log

        return use_event_log(self, directory)

    def get(self, id: str, scope: Scope | Mapping[str, Any] | None = None) -> Note:
        """Return one note of ``scope``. Raises ``NoteNotFound`` if ``scope`` has no such note."""
        from evolvelab.lifecycle import get_note

        return get_note(self, id, _scope(scope))

    def list(
        self,
        scope: Scope | Mapping[str, Any] | None = None,
        kind: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Any:
        """Return a page of ``scope``'s notes, oldest first, and the cursor of the next page."""
        from evolvelab.lifecycle import list_notes

        return list_notes(self, _scope(scope), kind=kind, limit=limit, cursor=cursor)

    def update(
        self,
        id: str,
        scope: Scope | Mapping[str, Any] | None = None,
        *,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Note:
        """Correct a note (re-indexed, version + 1; the old version stays in :meth:`history`)."""
        from evolvelab.lifecycle import update_note

        return update_note(self, id, _scope(scope), content=content, metadata=metadata)

    def delete(self, ids: Sequence[str], scope: Scope | Mapping[str, Any] | None = None) -> int:
        """Delete notes of ``scope`` (and, with a log, erase their source events); return how many."""
        from evolvelab.lifecycle import delete_notes

        return delete_notes(self, [ids] if isinstance(ids, str) else ids, _scope(scope))

    def forget(self, scope: Scope | Mapping[str, Any]) -> int:
        """Erase everything of a user and/or agent (an erasure request); return notes deleted."""
        from evolvelab.eventlog import OwnerPattern
        from evolvelab.lifecycle import forget

        owner = _scope(scope)
        return forget(self, OwnerPattern(user_id=owner.user_id, agent_id=owner.agent_id))

    def history(self, id: str, scope: Scope | Mapping[str, Any] | None = None) -> Any:
        """Return a note's versions, oldest first, each with when it was current."""
        from evolvelab.lifecycle import note_history

        return note_history(self, id, _scope(scope))

    def export(self, scope: Scope | Mapping[str, Any] | None = None) -> Any:
        """Yield the event log as stream records (``scope``: only that user/agent).

        Raises:
            EvolveLabError: if this memory keeps no event log.
        """
        from evolvelab.eventlog import OwnerPattern
        from evolvelab.rebuild import export_records

        self.open()
        if self.log is None:
            raise EvolveLabError("this memory keeps no event log: call use_event_log() first")
        owner = None if scope is None else _scope(scope)
        owners = None if owner is None else OwnerPattern(user_id=owner.user_id, agent_id=owner.agent_id)
        return export_records(self.log, owners)

    def import_(self, records: Iterable[Any]) -> Any:
        """Add a stream's events (and feed back its outcomes); the inverse of :meth:`export`."""
        from evolvelab.rebuild import import_records

        return import_records(self, records)
