"""Contract test suites every store must pass, one per capability.

Subclass :class:`StoreContract` in a test module, name the subclass ``Test…`` and provide
the ``store`` fixture (an opened store). Subclass, instead or as well, the suite of every
capability the store offers — :class:`ScanContract`, :class:`VectorSearchContract`,
:class:`TextSearchContract`, :class:`GraphLinksContract` — and
:class:`DurableStoreContract` (with a ``reopen`` fixture) when the store keeps its data
where a fresh instance finds it again. A store opts in; nothing is skipped at run time,
and a store that offers a capability without running its suite fails
``test_every_capability_the_store_offers_is_tested``::

    import pytest
    from evolvelab.testing.contracts import (
        DurableStoreContract, ScanContract, TextSearchContract, VectorSearchContract,
        store_resources,
    )

    class TestMyStore(DurableStoreContract, ScanContract, VectorSearchContract,
                      TextSearchContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(MyStoreConfig(path=str(tmp_path / "db")))
            store.open(store_resources(store, tmp_path))
            yield store
            store.close()

        @pytest.fixture
        def reopen(self, tmp_path):
            def fresh():
                store = MyStore(MyStoreConfig(path=str(tmp_path / "db")))
                store.open(store_resources(store, tmp_path))
                return store
            return fresh

The suites spell out what every store promises (the ``Store`` class states it too):

* ``add`` upserts by id within an owner (``user_id`` + ``agent_id``): adding a note whose
  id the owner already holds replaces it, even when its ``session_id`` changed. Two
  owners may hold the same id independently: one never overwrites the other's note.
* Every read and delete is confined to a scope: ``user_id`` and ``agent_id`` match
  exactly (``None`` only matches ``None``; ``""`` is not ``None``); ``session_id``
  narrows only when the scope asking sets it. Scope isolation is checked through every
  read the store offers.
* ``get`` returns notes in the order their ids were asked, skipping unknown ids.
* ``Where`` filters apply before ranking (prefilter), so a selective filter never empties
  a top-k that has matching notes further down.
* By default only currently valid notes are returned (``invalid_at`` unset);
  ``Where.valid_at`` asks for the notes valid at a past time, ``include_invalid`` for all.
* ``close`` may be called twice (the durability test closes the store itself).
* Text-search statistics are per owner (the tenancy unit): another owner's notes never
  change a score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.errors import EvolveLabError
from evolvelab.stages import (
    GraphLinks,
    Resources,
    Scannable,
    Store,
    TextSearch,
    VectorSearch,
    capability_name,
)
from evolvelab.types import Hit, Link, Note, Scope, Where

__all__ = [
    "DIM",
    "HOSTILE_STRINGS",
    "SUITES",
    "DurableStoreContract",
    "GraphLinksContract",
    "ScanContract",
    "StoreContract",
    "TextSearchContract",
    "VectorSearchContract",
    "embed",
    "make_note",
    "store_resources",
]

DIM = 64
"""Embedding dimension the contract's notes and stores use."""

EMBEDDER = HashingEmbedder(HashingEmbedderConfig(dim=DIM))

HOSTILE_STRINGS = [
    "a' OR '1'='1",
    '"; DROP TABLE notes; --',
    "%",
    "_",
    "\\",
    "back\\'slash",
    "ünïcødé 用户 🙂",
    "",
    "NULL",
    "*",
]
"""Strings that break stores which paste user values into queries or LIKE patterns."""

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def embed(text: str) -> list[float]:
    """Return the deterministic test embedding of ``text`` (dimension :data:`DIM`)."""
    return [float(x) for x in EMBEDDER.embed([text])[0]]


def make_note(id: str, content: str = "", scope: Scope = ALICE, **fields: Any) -> Note:
    """Build a note with a deterministic embedding of its content.

    Args:
        id: the note id.
        content: the note text (defaults to a sentence naming the id).
        scope: whose note it is.
        **fields: any other :class:`Note` field; ``embedding=None`` leaves it unset.

    Returns:
        The note.
    """
    content = content or f"note {id}"
    fields.setdefault("embedding", embed(content))
    fields.setdefault("created_at", T0)
    return Note(id=id, content=content, scope=scope, **fields)


def store_resources(store: Store, data_dir: Path) -> Resources:
    """Return the resources a contract store is opened with (hashing embedder, ``DIM``)."""
    return Resources(embedder=EMBEDDER, store=store, data_dir=data_dir)


def ids(items: Iterator[Note] | list[Note] | list[Hit]) -> list[str]:
    """Return the note ids of notes or hits, in order."""
    return [item.note.id if isinstance(item, Hit) else item.id for item in items]


def full_note(id: str = "full", scope: Scope = ALICE) -> Note:
    """Return a note with every field set to a non-default value."""
    plus2 = timezone(timedelta(hours=2))
    return make_note(
        id,
        "Caroline went to the LGBTQ support group on 7 May.",
        scope,
        kind="fact",
        source_ids=["D1:3", "D1:4"],
        created_at=datetime(2023, 5, 8, 13, 56, 0, 123456, tzinfo=UTC),
        valid_from=datetime(2023, 5, 7, 12, 0, tzinfo=plus2),
        invalid_at=None,
        keywords=["support group", "LGBTQ"],
        tags=["identity", "events"],
        context="Caroline talks about her week.",
        importance=72.5,
        layer="long",
        strength=2.25,
        access_count=3,
        last_accessed=datetime(2023, 6, 1, 9, 30, tzinfo=UTC),
        success_count=4,
        failure_count=1,
        links=[Link(target="other", kind="supports", weight=0.75)],
        version=7,
        metadata={"speaker": "Caroline", "turn": 3, "score": 0.5, "image": True, "none": None},
    )


class StoreContract:
    """What every store promises; subclass it (or the suites below) and provide ``store``.

    Reads are checked through every path the store offers; the capability suites
    (:class:`ScanContract`, :class:`VectorSearchContract`, :class:`TextSearchContract`,
    :class:`GraphLinksContract`) and :class:`DurableStoreContract` add what each promises.
    """

    @pytest.fixture
    def store(self) -> Store:
        """Return an opened store over empty storage (subclasses override)."""
        raise NotImplementedError("subclasses of StoreContract provide a `store` fixture")

    def test_every_capability_the_store_offers_is_tested(self, store: Store) -> None:
        untested = [
            capability_name(cap) for cap, suite in SUITES.items()
            if isinstance(store, cap) and not isinstance(self, suite)
        ]  # fmt: skip
        assert untested == [], f"also subclass the suites of: {', '.join(untested)}"

    # ----------------------------------------------------------------- add / get

    def test_get_returns_every_field_as_added(self, store: Store) -> None:
        note = full_note()
        store.add([make_note("other"), note])
        [got] = store.get(["full"], ALICE)
        assert got.model_dump(exclude={"embedding"}) == note.model_dump(exclude={"embedding"})
        if got.embedding is not None:
            assert got.embedding == pytest.approx(note.embedding, abs=1e-6)

    def test_datetimes_come_back_aware_utc(self, store: Store) -> None:
        store.add([full_note()])
        [got] = store.get(["full"], ALICE)
        for name in ("created_at", "valid_from", "last_accessed"):
            value = getattr(got, name)
            assert value.utcoffset() == timedelta(0), f"{name} is not UTC: {value!r}"
        assert got.valid_from == datetime(2023, 5, 7, 10, 0, tzinfo=UTC)

    def test_metadata_keeps_value_types(self, store: Store) -> None:
        store.add([full_note()])
        [got] = store.get(["full"], ALICE)
        assert {k: type(v) for k, v in got.metadata.items()} == {
            "speaker": str,
            "turn": int,
            "score": float,
            "image": bool,
            "none": type(None),
        }

    def test_note_without_embedding_can_be_added(self, store: Store) -> None:
        store.add([make_note("plain", "no vector yet", embedding=None)])
        assert ids(store.get(["plain"], ALICE)) == ["plain"]

    def test_embedding_of_wrong_dimension_is_refused(self, store: Store) -> None:
        with pytest.raises(EvolveLabError):
            store.add([make_note("bad", embedding=[0.5] * (DIM + 1))])

    def test_add_with_the_same_id_replaces_the_note(self, store: Store) -> None:
        store.add([make_note("n1", "first version")])
        store.add([make_note("n1", "second version", version=2)])
        [got] = store.get(["n1"], ALICE)
        assert (got.content, got.version) == ("second version", 2)
        assert store.count(ALICE) == 1

    def test_add_replaces_within_one_batch_and_across_sessions(self, store: Store) -> None:
        s1 = ALICE.narrowed("s1")
        s2 = ALICE.narrowed("s2")
        store.add([make_note("n1", "in session one", s1)])
        store.add([make_note("n1", "moved to session two", s2)])
        assert store.get(["n1"], s1) == []
        assert ids(store.get(["n1"], s2)) == ["n1"]
        assert store.count(ALICE) == 1

    def test_get_keeps_the_order_asked_and_skips_unknown_ids(self, store: Store) -> None:
        store.add([make_note("a"), make_note("b"), make_note("c")])
        assert ids(store.get(["c", "missing", "a"], ALICE)) == ["c", "a"]
        assert store.get([], ALICE) == []

    def test_add_of_nothing_is_a_no_op(self, store: Store) -> None:
        store.add([])
        assert store.count(ALICE) == 0

    def test_ids_with_quotes_and_wildcards_are_just_ids(self, store: Store) -> None:
        notes = [
            make_note(value or "empty-id", f"hostile id {i}")
            for i, value in enumerate(HOSTILE_STRINGS)
        ]
        store.add(notes + [make_note("plain")])
        for note in notes:
            assert ids(store.get([note.id], ALICE)) == [note.id]
        assert store.count(ALICE) == len(notes) + 1
        assert store.delete(["a' OR '1'='1"], ALICE) == 1
        assert store.delete(["%"], ALICE) == 1
        assert store.count(ALICE) == len(notes) - 1

    # ----------------------------------------------------------------- delete / count

    def test_delete_returns_how_many_were_deleted(self, store: Store) -> None:
        store.add([make_note("a"), make_note("b"), make_note("c")])
        assert store.delete(["a", "b", "missing"], ALICE) == 2
        assert ids(store.get(["a", "b", "c"], ALICE)) == ["c"]
        assert store.delete([], ALICE) == 0

    def test_delete_is_confined_to_the_scope(self, store: Store) -> None:
        store.add([make_note("a", scope=ALICE), make_note("a", scope=BOB)])
        assert store.delete(["a"], BOB) == 1
        assert ids(store.get(["a"], ALICE)) == ["a"]
        assert store.get(["a"], BOB) == []

    def test_delete_in_a_session_spares_other_sessions(self, store: Store) -> None:
        store.add([make_note("a", scope=ALICE.narrowed("s1"))])
        assert store.delete(["a"], ALICE.narrowed("s2")) == 0
        assert store.delete(["a"], ALICE) == 1

    def test_count_counts_valid_and_closed_notes_of_the_scope(self, store: Store) -> None:
        store.add(
            [
                make_note("a"),
                make_note("b", invalid_at=T0),
                make_note("c", scope=ALICE.narrowed("s1")),
                make_note("d", scope=BOB),
            ]
        )
        assert store.count(ALICE) == 3
        assert store.count(ALICE.narrowed("s1")) == 1
        assert store.count(BOB) == 1
        assert store.count(Scope(user_id="carol")) == 0

    # ----------------------------------------------------------------- scope isolation

    @pytest.mark.parametrize("user_id", HOSTILE_STRINGS)
    def test_hostile_user_ids_see_only_their_own_notes(self, store: Store, user_id: str) -> None:
        hostile = Scope(user_id=user_id)
        victim = Scope(user_id="victim")
        store.add([make_note("mine", "shared words here", hostile)])
        store.add([make_note("theirs", "shared words here", victim)])
        store.add([make_note("mine", "victim copy of shared words", victim)])
        self._assert_sees_only(store, hostile, {"mine": "shared words here"})
        self._assert_sees_only(
            store, victim, {"theirs": "shared words here", "mine": "victim copy of shared words"}
        )
        assert store.delete(["theirs", "mine"], hostile) == 1
        assert store.count(victim) == 2

    @pytest.mark.parametrize(
        ("owner", "other"),
        [
            (Scope(user_id=""), Scope(user_id=None)),
            (Scope(user_id="%"), Scope(user_id="alice")),
            (Scope(user_id="_"), Scope(user_id="a")),
            (Scope(user_id="alice"), Scope(user_id="Alice")),
            (Scope(user_id="alice"), Scope(user_id="alice ")),
            (Scope(user_id="alice"), Scope(user_id="alice", agent_id="bot")),
            (Scope(agent_id="bot"), Scope(agent_id=None)),
            (Scope(user_id="a", agent_id="b"), Scope(user_id="b", agent_id="a")),
            (Scope(user_id="a|b"), Scope(user_id="a", agent_id="b")),
        ],
        ids=repr,
    )
    def test_scopes_match_exactly(self, store: Store, owner: Scope, other: Scope) -> None:
        store.add([make_note("n", "a private note", owner)])
        self._assert_sees_only(store, other, {})
        self._assert_sees_only(store, owner, {"n": "a private note"})

    def test_session_narrows_only_when_the_scope_sets_it(self, store: Store) -> None:
        store.add(
            [
                make_note("s1", "session one note", ALICE.narrowed("s1")),
                make_note("s2", "session two note", ALICE.narrowed("s2")),
                make_note("none", "sessionless note", ALICE),
            ]
        )
        assert sorted(ids(store.get(["s1", "s2", "none"], ALICE))) == ["none", "s1", "s2"]
        assert ids(store.get(["s1", "s2", "none"], ALICE.narrowed("s1"))) == ["s1"]
        assert store.get(["s1"], Scope(user_id="alice", session_id="s3")) == []
        assert store.get(["s1"], Scope(user_id=None, session_id="s1")) == []

    def _assert_sees_only(self, store: Store, scope: Scope, expected: dict[str, str]) -> None:
        """Check every read path returns exactly ``expected`` (id → content) in ``scope``."""
        probe = ["mine", "theirs", "n", "a"]
        got = {n.id: n.content for n in store.get(probe, scope)}
        assert got == expected, f"get in {scope!r}"
        assert store.count(scope) == len(expected), f"count in {scope!r}"
        everything = Where(include_invalid=True)
        if isinstance(store, Scannable):
            got = {n.id: n.content for n in store.scan(scope, everything)}
            assert got == expected, f"scan in {scope!r}"
        if isinstance(store, VectorSearch):
            hits = store.search_vectors(embed("shared words private note"), 50, scope, everything)
            got = {h.note.id: h.note.content for h in hits}
            assert got == expected, f"search_vectors in {scope!r}"
        if isinstance(store, TextSearch):
            hits = store.search_text("shared words private note", 50, scope, everything)
            assert {h.note.id: h.note.content for h in hits}.items() <= expected.items(), (
                f"search_text in {scope!r}"
            )
            assert len(hits) == len(expected), f"search_text in {scope!r}"

    # ----------------------------------------------------------------- where filters

    def _filter_fixture(self, store: Store) -> None:
        store.add(
            [
                make_note("fact-long", "a fact", kind="fact", layer="long", tags=["x", "y"]),
                make_note("fact-short", "a fact", kind="fact", layer="short", tags=["y"]),
                make_note("turn", "a turn", kind="turn", layer=None, tags=[]),
                make_note("lesson", "a lesson", kind="lesson", layer="long", tags=["z"]),
                make_note("closed", "a fact", kind="fact", layer="long", invalid_at=T0),
            ]
        )

    def _where_cases(self) -> list[tuple[Where, set[str]]]:
        return [
            (Where(), {"fact-long", "fact-short", "turn"}),  # lessons are hidden by default
            (Where(hidden_kinds=[]), {"fact-long", "fact-short", "turn", "lesson"}),
            (Where(kind="fact"), {"fact-long", "fact-short"}),
            (Where(kind=["fact", "lesson"]), {"fact-long", "fact-short", "lesson"}),
            (Where(layer="long"), {"fact-long"}),
            (Where(layer="long", hidden_kinds=[]), {"fact-long", "lesson"}),
            (Where(tags=["x", "z"], kind=["fact", "lesson"]), {"fact-long", "lesson"}),
            (Where(tags=["y"], layer="short"), {"fact-short"}),
            (Where(kind=[]), set()),
            (Where(tags=[]), set()),
            (Where(kind="fact", include_invalid=True), {"fact-long", "fact-short", "closed"}),
            (Where(kind="a' OR '1'='1"), set()),
            (Where(tags=["x') OR ('1'='1"]), set()),
            (Where(layer=["%"]), set()),
        ]


def _scan_read(store: Any, text: str, where: Where, k: int = 10) -> list[str]:
    return ids(list(store.scan(ALICE, where)))


def _vector_read(store: Any, text: str, where: Where, k: int = 10) -> list[str]:
    return ids(store.search_vectors(embed(text), k, ALICE, where))


def _text_read(store: Any, text: str, where: Where, k: int = 10) -> list[str]:
    return ids(store.search_text(text, k, ALICE, where))


_READS = {"scan": _scan_read, "vector_search": _vector_read, "text_search": _text_read}
"""Each capability's filtered read of ALICE's notes, as note ids in rank order."""


def _check_history(store: Store, read: Callable[..., list[str]]) -> None:
    """A closed note stays visible to reads at a time it was valid."""
    opened, closed = T0, T0 + timedelta(days=30)
    store.add(
        [
            make_note("old", "lives in Boston", valid_from=opened, invalid_at=closed),
            make_note("new", "lives in Denver", valid_from=closed),
        ]
    )
    cases = [
        (Where(), {"new"}),
        (Where(valid_at=opened - timedelta(days=1)), set()),
        (Where(valid_at=opened), {"old"}),
        (Where(valid_at=closed - timedelta(seconds=1)), {"old"}),
        (Where(valid_at=closed), {"new"}),
        (Where(valid_at=closed + timedelta(days=1)), {"new"}),
        (Where(include_invalid=True), {"old", "new"}),
    ]
    for where, expected in cases:
        assert set(read(store, "lives in", where)) == expected, where


def _check_naive_valid_at(store: Store, read: Callable[..., list[str]]) -> None:
    """A ``valid_at`` without a time zone means UTC."""
    closed = datetime(2024, 2, 1, tzinfo=UTC)
    store.add([make_note("old", "lives in Boston", invalid_at=closed)])
    assert set(read(store, "lives in", Where(valid_at=datetime(2024, 1, 31, 23, 59)))) == {"old"}


def _check_filters_before_top_k(store: Store, read: Callable[..., list[str]]) -> None:
    """A selective filter applies before ranking: it never empties a top-k with matches."""
    crowd = [make_note(f"t{i}", f"coffee order number {i}", kind="turn") for i in range(40)]
    store.add([*crowd, make_note("rare", "the coffee order was wrong once", kind="lesson")])
    assert read(store, "coffee order number", Where(kind="lesson"), 3) == ["rare"]


class DurableStoreContract(StoreContract):
    """For a store that keeps its notes where a fresh instance finds them again.

    Provide a ``reopen`` fixture: a callable opening a fresh instance over the same storage.
    """

    @pytest.fixture
    def reopen(self) -> Callable[[], Store]:
        """Return a callable opening a fresh instance over the same storage (override)."""
        raise NotImplementedError("subclasses of DurableStoreContract provide a `reopen` fixture")

    def test_notes_survive_a_reopen(self, store: Store, reopen: Callable[[], Store]) -> None:
        note = full_note()
        store.add([make_note("other"), note, make_note("b", scope=BOB)])
        store.close()
        fresh = reopen()
        try:
            [got] = fresh.get(["full"], ALICE)
            assert got.model_dump(exclude={"embedding"}) == note.model_dump(exclude={"embedding"})
            assert fresh.count(BOB) == 1
        finally:
            fresh.close()


class ScanContract(StoreContract):
    """For a store offering ``Scannable``: listing a scope's notes."""

    def test_the_store_offers_scan(self, store: Store) -> None:
        assert isinstance(store, Scannable)

    def test_scan_keeps_closed_notes_visible_in_the_past(self, store: Store) -> None:
        _check_history(store, _READS["scan"])

    def test_scan_reads_a_naive_valid_at_as_utc(self, store: Store) -> None:
        _check_naive_valid_at(store, _READS["scan"])

    def test_scan_applies_where_filters(self, store: Store) -> None:
        self._filter_fixture(store)
        for where, expected in self._where_cases():
            assert set(ids(list(store.scan(ALICE, where)))) == expected, where

    def test_scan_yields_every_note_of_the_scope(self, store: Store) -> None:
        store.add([make_note(f"a{i}") for i in range(5)] + [make_note("b", scope=BOB)])
        assert sorted(ids(list(store.scan(ALICE, Where())))) == [f"a{i}" for i in range(5)]
        assert ids(list(store.scan(BOB, Where()))) == ["b"]
        assert list(store.scan(Scope(user_id="carol"), Where())) == []


class VectorSearchContract(StoreContract):
    """For a store offering ``VectorSearch``: nearest notes by cosine."""

    def test_the_store_offers_vector_search(self, store: Store) -> None:
        assert isinstance(store, VectorSearch)

    def test_vector_search_keeps_closed_notes_visible_in_the_past(self, store: Store) -> None:
        _check_history(store, _READS["vector_search"])

    def test_vector_search_reads_a_naive_valid_at_as_utc(self, store: Store) -> None:
        _check_naive_valid_at(store, _READS["vector_search"])

    def test_vector_search_filters_before_top_k(self, store: Store) -> None:
        _check_filters_before_top_k(store, _READS["vector_search"])

    def test_vector_search_applies_where_filters(self, store: Store) -> None:
        self._filter_fixture(store)
        for where, expected in self._where_cases():
            hits = store.search_vectors(embed("a fact"), 10, ALICE, where)
            assert set(ids(hits)) == expected, where

    def test_vector_search_ranks_nearest_first(self, store: Store) -> None:
        store.add(
            [
                make_note("exact", "the cat sat on the mat"),
                make_note("close", "the cat sat on a chair"),
                make_note("far", "quarterly revenue grew by ten percent"),
            ]
        )
        hits = store.search_vectors(embed("the cat sat on the mat"), 3, ALICE, Where())
        assert ids(hits) == ["exact", "close", "far"]
        assert all(h.channel == "vector" for h in hits)

    def test_vector_score_is_cosine_similarity(self, store: Store) -> None:
        texts = {"a": "red apples and green pears", "b": "green pears only", "c": "stock market"}
        store.add([make_note(i, t) for i, t in texts.items()])
        query = embed("red apples")
        hits = store.search_vectors(query, 3, ALICE, Where())
        for hit in hits:
            expected = sum(q * v for q, v in zip(query, embed(texts[hit.note.id]), strict=True))
            assert hit.score == pytest.approx(expected, abs=1e-4)
            assert -1.0 - 1e-6 <= hit.score <= 1.0 + 1e-6
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        negated = [-x for x in embed(texts["a"])]
        scores = {h.note.id: h.score for h in store.search_vectors(negated, 3, ALICE, Where())}
        assert scores["a"] == pytest.approx(-1.0, abs=1e-4)

    def test_vector_search_respects_k(self, store: Store) -> None:
        store.add([make_note(f"n{i}", f"note number {i}") for i in range(12)])
        assert len(store.search_vectors(embed("note number"), 5, ALICE, Where())) == 5
        assert len(store.search_vectors(embed("note number"), 50, ALICE, Where())) == 12
        assert store.search_vectors(embed("note"), 5, BOB, Where()) == []

    def test_vector_search_accepts_numpy_vectors(self, store: Store) -> None:
        store.add([make_note("a", "hello world")])
        hits = store.search_vectors(EMBEDDER.embed(["hello world"])[0], 1, ALICE, Where())
        assert ids(hits) == ["a"]

    def test_vector_search_refuses_a_query_of_wrong_dimension(self, store: Store) -> None:
        store.add([make_note("a", "hello world")])
        with pytest.raises(EvolveLabError):
            store.search_vectors([1.0] * (DIM - 1), 1, ALICE, Where())


class TextSearchContract(StoreContract):
    """For a store offering ``TextSearch``: BM25 over each note's text."""

    def test_the_store_offers_text_search(self, store: Store) -> None:
        assert isinstance(store, TextSearch)

    def test_text_search_keeps_closed_notes_visible_in_the_past(self, store: Store) -> None:
        _check_history(store, _READS["text_search"])

    def test_text_search_reads_a_naive_valid_at_as_utc(self, store: Store) -> None:
        _check_naive_valid_at(store, _READS["text_search"])

    def test_text_search_filters_before_top_k(self, store: Store) -> None:
        _check_filters_before_top_k(store, _READS["text_search"])

    def test_text_search_applies_where_filters(self, store: Store) -> None:
        self._filter_fixture(store)
        for where, expected in self._where_cases():
            hits = store.search_text("a fact turn lesson", 10, ALICE, where)
            assert set(ids(hits)) == expected, where

    def test_text_search_ranks_term_matches_first(self, store: Store) -> None:
        store.add(
            [
                make_note("pottery", "Melanie signed up for a pottery class"),
                make_note("both", "Pottery and painting are Melanie's hobbies; pottery first"),
                make_note("other", "Caroline went hiking in the mountains"),
            ]
        )
        hits = store.search_text("pottery", 10, ALICE, Where())
        assert set(ids(hits)) == {"pottery", "both"}
        assert all(h.channel == "bm25" for h in hits)
        assert all(h.score > 0 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        hits = store.search_text("caroline hiking", 10, ALICE, Where())
        assert ids(hits)[0] == "other"

    def test_text_search_rarer_terms_weigh_more(self, store: Store) -> None:
        common = [make_note(f"c{i}", f"meeting notes number {i}") for i in range(8)]
        store.add([*common, make_note("rare", "meeting about the zeppelin")])
        hits = store.search_text("meeting zeppelin", 3, ALICE, Where())
        assert ids(hits)[0] == "rare"

    def test_text_scores_ignore_other_owners_notes(self, store: Store) -> None:
        # The tenancy unit is the owner: BM25 statistics come from the owner's notes only.
        store.add([make_note(f"b{i}", f"walrus {word} by the sea", BOB)
                   for i, word in enumerate(("sang", "slept", "swam"))])  # fmt: skip
        before = {h.note.id: h.score for h in store.search_text("walrus sea", 5, BOB, Where())}
        store.add([make_note(f"a{i}", f"walrus walrus sea number {i}") for i in range(40)])
        after = {h.note.id: h.score for h in store.search_text("walrus sea", 5, BOB, Where())}
        assert after.keys() == before.keys() == {"b0", "b1", "b2"}
        assert [after[i] for i in sorted(after)] == pytest.approx(
            [before[i] for i in sorted(before)], rel=1e-6
        )

    def test_text_search_respects_k(self, store: Store) -> None:
        store.add([make_note(f"n{i}", f"apple number {i}") for i in range(12)])
        assert len(store.search_text("apple", 5, ALICE, Where())) == 5
        assert store.search_text("apple", 5, BOB, Where()) == []
        assert store.search_text("banana", 5, ALICE, Where()) == []

    def test_text_search_finds_notes_right_after_add(self, store: Store) -> None:
        store.add([make_note("first", "alpha bravo")])
        assert ids(store.search_text("alpha", 5, ALICE, Where())) == ["first"]
        store.add([make_note("second", "charlie delta")])
        assert ids(store.search_text("charlie", 5, ALICE, Where())) == ["second"]
        store.add([make_note("first", "echo foxtrot")])
        assert store.search_text("alpha", 5, ALICE, Where()) == []
        assert ids(store.search_text("foxtrot", 5, ALICE, Where())) == ["first"]
        store.delete(["second"], ALICE)
        assert store.search_text("charlie", 5, ALICE, Where()) == []

    def test_text_search_of_the_content_field_ignores_index_text(self, store: Store) -> None:
        store.add(
            [
                make_note("indexed", "bravo", index_text="alpha context"),
                make_note("plain", "charlie alpha"),
            ]
        )
        assert set(ids(store.search_text("alpha", 5, ALICE, Where()))) == {"indexed", "plain"}
        assert ids(store.search_text("alpha", 5, ALICE, Where(), field="content")) == ["plain"]
        assert store.search_text("bravo", 5, ALICE, Where()) == []
        [hit] = store.search_text("bravo", 5, ALICE, Where(), field="content")
        assert (hit.note.id, hit.note.index_text) == ("indexed", "alpha context")
        assert hit.channel == "bm25" and hit.score > 0
        # notes added or replaced after the first content search are found at once
        store.add([make_note("late", "bravo late", index_text="delta")])
        found = ids(store.search_text("bravo", 5, ALICE, Where(), field="content"))
        assert set(found) == {"indexed", "late"}
        store.add([make_note("indexed", "echo", index_text="alpha context")])
        assert ids(store.search_text("bravo", 5, ALICE, Where(), field="content")) == ["late"]
        assert ids(store.search_text("echo", 5, ALICE, Where(), field="content")) == ["indexed"]
        assert store.search_text("bravo", 5, BOB, Where(), field="content") == []

    @pytest.mark.parametrize(
        "text", ['"unbalanced', "a AND (b OR", "title:x", "*", "a' OR '1'='1", "", "   ", "+-!"]
    )
    def test_text_search_treats_query_syntax_as_words(self, store: Store, text: str) -> None:
        store.add([make_note("a", "some words here")])
        hits = store.search_text(text, 5, ALICE, Where())
        assert all(h.note.scope == ALICE for h in hits)


class GraphLinksContract(StoreContract):
    """For a store offering ``GraphLinks``: typed links, walked within a scope."""

    def test_the_store_offers_graph_links(self, store: Store) -> None:
        assert isinstance(store, GraphLinks)

    def _graph(self, store: Store) -> GraphLinks:
        # a -> b -> c -> d, a -> e (kind "supports"), f -> a
        store.add([make_note(x) for x in "abcdef"])
        store.link("a", [Link(target="b"), Link(target="e", kind="supports", weight=0.5)], ALICE)
        store.link("b", [Link(target="c")], ALICE)
        store.link("c", [Link(target="d")], ALICE)
        store.link("f", [Link(target="a")], ALICE)
        return store

    def test_neighbours_one_hop(self, store: Store) -> None:
        graph = self._graph(store)
        found = graph.neighbours(["a"], ALICE, hops=1)
        assert {n.id for n in found} == {"b", "e", "f"}
        assert all(n.hops == 1 and n.seed == "a" for n in found)
        [e] = [n for n in found if n.id == "e"]
        assert (e.kind, e.weight) == ("supports", 0.5)

    def test_neighbours_two_hops_nearest_first(self, store: Store) -> None:
        graph = self._graph(store)
        found = graph.neighbours(["a"], ALICE, hops=2, direction="out")
        assert [n.hops for n in found] == [1, 1, 2]
        assert {(n.id, n.hops) for n in found} == {("b", 1), ("e", 1), ("c", 2)}

    def test_neighbours_exclude_the_seeds(self, store: Store) -> None:
        graph = self._graph(store)
        found = graph.neighbours(["a", "b"], ALICE, hops=3)
        assert not {"a", "b"} & {n.id for n in found}
        assert len({n.id for n in found}) == len(found), "each note reported once"

    def test_neighbours_follow_direction(self, store: Store) -> None:
        graph = self._graph(store)
        assert {n.id for n in graph.neighbours(["a"], ALICE, direction="out")} == {"b", "e"}
        assert {n.id for n in graph.neighbours(["a"], ALICE, direction="in")} == {"f"}
        assert {n.id for n in graph.neighbours(["c"], ALICE, hops=2, direction="in")} == {
            "b",
            "a",
        }

    def test_neighbours_filter_link_kinds(self, store: Store) -> None:
        graph = self._graph(store)
        found = graph.neighbours(["a"], ALICE, hops=2, kinds=["supports"])
        assert {n.id for n in found} == {"e"}

    def test_link_replaces_a_link_of_the_same_kind(self, store: Store) -> None:
        graph = self._graph(store)
        graph.link("a", [Link(target="b", weight=0.25)], ALICE)
        [b] = [n for n in graph.neighbours(["a"], ALICE, direction="out") if n.id == "b"]
        assert b.weight == 0.25
        [note] = store.get(["a"], ALICE)
        assert sorted((x.target, x.kind, x.weight) for x in note.links) == [
            ("b", "related", 0.25),
            ("e", "supports", 0.5),
        ]

    def test_unlink_removes_links_and_counts_them(self, store: Store) -> None:
        graph = self._graph(store)
        assert graph.unlink("a", ["b", "e", "zzz"], ALICE) == 2
        assert {n.id for n in graph.neighbours(["a"], ALICE, direction="out")} == set()
        assert graph.unlink("a", ["b"], ALICE) == 0

    def test_deleted_notes_are_not_neighbours(self, store: Store) -> None:
        graph = self._graph(store)
        store.delete(["b"], ALICE)
        assert {n.id for n in graph.neighbours(["a"], ALICE, hops=3, direction="out")} == {"e"}

    def test_links_carried_by_added_notes_are_walkable(self, store: Store) -> None:
        store.add([make_note("t"), make_note("s", links=[Link(target="t", kind="derived_from")])])
        found = store.neighbours(["s"], ALICE, direction="out")
        assert [(n.id, n.kind) for n in found] == [("t", "derived_from")]

    def test_links_never_cross_scopes(self, store: Store) -> None:
        store.add([make_note("a", scope=ALICE), make_note("x", scope=ALICE)])
        store.add([make_note("b", scope=BOB), make_note("a", scope=BOB)])
        with pytest.raises(EvolveLabError):
            store.link("a", [Link(target="b")], ALICE)
        with pytest.raises(EvolveLabError):
            store.link("b", [Link(target="x")], ALICE)
        store.link("a", [Link(target="x")], ALICE)
        store.link("a", [Link(target="b")], BOB)
        assert {n.id for n in store.neighbours(["a"], ALICE)} == {"x"}
        assert {n.id for n in store.neighbours(["a"], BOB)} == {"b"}
        assert store.neighbours(["a"], Scope(user_id="carol")) == []
        assert store.unlink("a", ["x"], BOB) == 0

    def test_neighbours_stay_in_the_session(self, store: Store) -> None:
        s1, s2 = ALICE.narrowed("s1"), ALICE.narrowed("s2")
        store.add([make_note("a", scope=s1), make_note("b", scope=s2)])
        store.link("a", [Link(target="b")], ALICE)
        assert {n.id for n in store.neighbours(["a"], ALICE)} == {"b"}
        assert store.neighbours(["a"], s1) == []


SUITES: dict[type[Any], type[StoreContract]] = {
    Scannable: ScanContract,
    VectorSearch: VectorSearchContract,
    TextSearch: TextSearchContract,
    GraphLinks: GraphLinksContract,
}
"""The suite of each capability protocol; a store's test class subclasses one per protocol."""
