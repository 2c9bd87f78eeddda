"""zettelkasten_link: A-MEM links and memory evolution, addressed by note ids.

The memory every test starts from (8-d unit vectors, shown by their first two components;
cosine similarity to the new note in brackets), oldest first:

    far1 (0, 0, 1…)  [0]      far2 (0, 0, 0, 1…)  [0]
    a    (0.8, 0.6)  [0.8]    b    (0.6, 0.8)     [0.6]     c (0.28, 0.96)  [0.28]
    new  (1, 0)      — the only note not processed yet

So with ``neighbours: 3`` the new note's neighbours are a, b, c (rank positions 0, 1, 2),
while positions 0, 1, 2 in insertion order are far1, far2, a: code that applied rank
positions to insertion order (the packaged A-MEM's bug) would rewrite far1 and far2.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.llm import LLMOutputError
from evolvelab.modules.encode.note import NoteAttributes, enriched_text
from evolvelab.modules.manage._amem_evolution import (
    SYSTEM_PROMPT,
    EvolutionDecision,
    NeighbourUpdate,
)
from evolvelab.modules.manage.zettelkasten_link import (
    MARKER,
    ZettelkastenLinkConfig,
    ZettelkastenLinkManager,
)
from evolvelab.modules.store.kuzu import KuzuStore, KuzuStoreConfig
from evolvelab.modules.store.lancedb import LanceDBStore, LanceDBStoreConfig
from evolvelab.modules.store.memory import MemoryStore, MemoryStoreConfig
from evolvelab.pipeline import Memory
from evolvelab.stages import GraphLinks, ManageReport, Resources
from evolvelab.testing import FakeLLM
from evolvelab.types import Event, Link, Note, Scope, Where

ROOT = Path(__file__).resolve().parents[3]
ANA = Scope(user_id="ana")
EMBEDDER = HashingEmbedder(HashingEmbedderConfig(dim=8))
DONE = {MARKER: True}


def vec(x: float, y: float, axis: int | None = None) -> list[float]:
    out = [0.0] * 8
    if axis is not None:
        out[axis] = 1.0
    else:
        out[0], out[1] = x, y
    return out


def at(minute: int) -> datetime:
    return datetime(2024, 1, 1, 10, minute, tzinfo=UTC)


def make(id: str, minute: int, embedding: list[float], **kw: Any) -> Note:
    fields: dict[str, Any] = {"content": f"content of {id}", "context": f"Context of {id}.",
                              "keywords": [f"kw{id}"], "tags": [f"tag{id}"]}  # fmt: skip
    fields.update(kw)
    return Note(id=id, scope=ANA, created_at=at(minute), embedding=embedding, **fields)


def memory_notes() -> list[Note]:
    return [
        make("far1", 0, vec(0, 0, axis=2), metadata=DONE),
        make("far2", 1, vec(0, 0, axis=3), metadata=DONE),
        make("a", 2, vec(0.8, 0.6), tags=["music"], context="Ana said this.", metadata=DONE),
        make("b", 3, vec(0.6, 0.8), tags=["work"], context="Ben said this.", metadata=DONE),
        make("c", 4, vec(0.28, 0.96), metadata=DONE),
        make("new", 5, vec(1, 0), keywords=["cello", "lessons", "concert"], tags=["hobby"]),
    ]


@pytest.fixture(params=["memory", "lancedb+kuzu"])
def res(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Resources]:
    if request.param == "memory":
        store = MemoryStore(MemoryStoreConfig())
        resources = Resources(embedder=EMBEDDER, store=store, data_dir=tmp_path)
        stores: list[Any] = [store]
    else:
        lance = LanceDBStore(LanceDBStoreConfig(path=str(tmp_path / "lance")))
        graph = KuzuStore(KuzuStoreConfig(path=str(tmp_path / "graph")))
        resources = Resources(embedder=EMBEDDER, store=lance, graph=graph, data_dir=tmp_path)
        stores = [lance, graph]
    for store in stores:
        store.open(resources)
    resources.write(memory_notes())
    yield resources
    for store in stores:
        store.close()


def run(res: Resources, llm: Any = None, **config: Any) -> ManageReport:
    options = {"neighbours": 3, "link_threshold": 0.5, "reembed": False, **config}
    manager = ZettelkastenLinkManager(ZettelkastenLinkConfig(**options))
    res.llm = llm
    manager.open(res)
    return manager.manage(ANA)


def get(res: Resources, id: str) -> Note:
    [note] = res.store.get([id], ANA)
    return note


def graph_links(res: Resources, id: str) -> list[tuple[str, str, float]]:
    graph = res.find(GraphLinks)
    [note] = graph.get([id], ANA)
    return sorted((l.target, l.kind, round(l.weight, 6)) for l in note.links)


def untouched(res: Resources, *ids: str) -> None:
    before = {n.id: n for n in memory_notes()}
    for id in ids:
        note = get(res, id)
        assert (note.version, note.tags, note.context) == (1, before[id].tags, before[id].context)


# ------------------------------------------------------------------ without an LLM


def test_rule_links_neighbours_at_or_above_the_threshold(res: Resources) -> None:
    report = run(res)
    assert graph_links(res, "new") == [("a", "related", 0.8), ("b", "related", 0.6)]
    new = get(res, "new")
    assert [(l.target, round(l.weight, 6)) for l in new.links] == [("a", 0.8), ("b", 0.6)]
    assert new.metadata[MARKER] is True and new.version == 2 and new.tags == ["hobby"]
    assert report.detail["processed"] == 1 and report.detail["links"] == 2
    assert report.detail["evolved"] == ["a", "b"] and report.updated == 3


def test_rule_evolves_exactly_the_linked_neighbours(res: Resources) -> None:
    run(res)
    a, b = get(res, "a"), get(res, "b")
    assert a.tags == ["music", "cello", "lessons"]
    assert a.context == "Ana said this. See also: cello, lessons."
    assert b.tags == ["work", "cello", "lessons"]
    assert b.context == "Ben said this. See also: cello, lessons."
    assert (a.version, b.version) == (2, 2)
    untouched(res, "c", "far1", "far2")


def test_rule_caps_tags_and_see_also_terms(res: Resources) -> None:
    run(res, propagate_keywords=3, max_tags=2, see_also=2)
    a = get(res, "a")
    assert a.tags == ["music", "cello"]
    assert a.context == "Ana said this. See also: cello, lessons."


def test_rule_without_propagation_only_links(res: Resources) -> None:
    report = run(res, propagate_keywords=0)
    assert graph_links(res, "new") == [("a", "related", 0.8), ("b", "related", 0.6)]
    assert report.detail["evolved"] == []
    untouched(res, "a", "b", "c", "far1", "far2")


def test_threshold_is_inclusive_and_tunable(res: Resources) -> None:
    run(res, link_threshold=0.8)
    assert graph_links(res, "new") == [("a", "related", 0.8)]


def test_notes_waiting_in_one_run_see_only_earlier_notes(res: Resources) -> None:
    later = make("q", 6, vec(0.96, 0.28), keywords=["recital"], tags=[])
    res.write([later])
    report = run(res)
    assert report.detail["processed"] == 2
    # new (processed first) cannot see q; q sees new (0.96), a (0.936), b (0.8).
    assert [t for t, _, _ in graph_links(res, "new")] == ["a", "b"]
    assert graph_links(res, "q") == [("a", "related", 0.936), ("b", "related", 0.8),
                                     ("new", "related", 0.96)]  # fmt: skip
    new = get(res, "new")
    assert new.tags == ["hobby", "recital"] and new.context == "Context of new. See also: recital."
    assert new.metadata[MARKER] is True and new.version == 3
    assert [l.target for l in new.links] == ["a", "b"]
    assert get(res, "a").context == "Ana said this. See also: recital, cello, lessons."


def test_a_second_run_finds_nothing_new(res: Resources) -> None:
    run(res)
    report = run(res)
    assert report.detail["processed"] == 0 and report.updated == 0
    assert get(res, "a").version == 2


def test_a_re_added_note_is_linked_afresh_and_loses_stale_links(res: Resources) -> None:
    run(res)
    stale = [Link(target="far1", weight=0.9), Link(target="far1", kind="cites", weight=1.0)]
    res.write([make("new", 5, vec(1, 0), keywords=["cello"], tags=["hobby"], links=stale)])
    report = run(res)
    assert report.detail["processed"] == 1
    assert graph_links(res, "new") == [
        ("a", "related", 0.8), ("b", "related", 0.6), ("far1", "cites", 1.0),
    ]  # fmt: skip


def test_evolved_notes_are_re_embedded_over_their_enriched_text(res: Resources) -> None:
    run(res, reembed=True)
    a = get(res, "a")
    expected = EMBEDDER.embed([enriched_text(a)])[0]
    assert a.embedding == pytest.approx([float(x) for x in expected], abs=1e-6)
    assert get(res, "new").embedding == pytest.approx(vec(1, 0))  # its text did not change
    assert get(res, "c").embedding == pytest.approx(vec(0.28, 0.96))


# ------------------------------------------------------------------ with an LLM


def decision(**kw: Any) -> EvolutionDecision:
    fields: dict[str, Any] = {"should_evolve": True, "actions": ["strengthen", "update_neighbor"],
                              "suggested_connections": [], "tags_to_update": [],
                              "neighbour_updates": []}  # fmt: skip
    fields.update(kw)
    return EvolutionDecision(**fields)


EXPECTED_REQUEST = """\
New note [id: new]
time: 2024-01-01T10:05:00+00:00
content: content of new
context: Context of new.
keywords: cello, lessons, concert
tags: hobby

Its 3 nearest notes, most similar first:

[id: a] similarity 0.800
time: 2024-01-01T10:02:00+00:00
content: content of a
context: Ana said this.
keywords: kwa
tags: music

[id: b] similarity 0.600
time: 2024-01-01T10:03:00+00:00
content: content of b
context: Ben said this.
keywords: kwb
tags: work

[id: c] similarity 0.280
time: 2024-01-01T10:04:00+00:00
content: content of c
context: Context of c.
keywords: kwc
tags: tagc

Decide:
1. should_evolve: true if the new note relates to any of these notes.
2. actions: any of "strengthen" (link the new note to related notes) and "update_neighbor" \
(rewrite notes that the new one sheds light on).
3. For strengthen: suggested_connections, the ids of the notes to link to; tags_to_update, \
the new note's complete new tag list.
4. For update_neighbor: neighbour_updates, one entry per note to rewrite with its id, a new \
one-sentence context and its complete new tag list; leave unchanged notes out.
Use only these ids: a, b, c."""


def test_one_structured_request_per_new_note_naming_neighbours_by_id(res: Resources) -> None:
    llm = FakeLLM().queue(decision(should_evolve=False, actions=[]))
    run(res, llm)
    [(messages, model)] = llm.calls
    assert model is EvolutionDecision
    assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert messages[1]["role"] == "user"
    assert messages[1]["content"] == EXPECTED_REQUEST


def test_llm_decision_is_applied_to_the_named_ids(res: Resources) -> None:
    llm = FakeLLM().queue(
        decision(
            suggested_connections=["b"],
            tags_to_update=["music", "lessons"],
            neighbour_updates=[
                NeighbourUpdate(id="b", context="Ben teaches cello.", tags=["music", "teaching"])
            ],
        )
    )
    report = run(res, llm)
    assert graph_links(res, "new") == [("b", "related", 0.6)]
    assert get(res, "new").tags == ["music", "lessons"]
    b = get(res, "b")
    assert (b.context, b.tags, b.version) == ("Ben teaches cello.", ["music", "teaching"], 2)
    untouched(res, "far1", "far2", "a", "c")  # rank position 1 is b, not far2
    assert report.detail["llm_calls"] == 1 and report.detail["invalid_ids"] == []


def test_ids_the_llm_invents_are_ignored_and_reported(res: Resources) -> None:
    llm = FakeLLM().queue(
        decision(
            suggested_connections=["a", "zzz", "new", "1", " a "],
            neighbour_updates=[
                NeighbourUpdate(id="far1", context="Hijacked.", tags=["x"]),
                NeighbourUpdate(id="0", context="By position.", tags=["x"]),
                NeighbourUpdate(id="a", context="Ana plays cello.", tags=[]),
            ],
        )
    )
    report = run(res, llm)
    assert graph_links(res, "new") == [("a", "related", 0.8)]
    assert report.detail["invalid_ids"] == ["zzz", "new", "1", "far1", "0"]
    a = get(res, "a")
    assert (a.context, a.tags) == ("Ana plays cello.", ["music"])  # empty tags keep the old
    untouched(res, "far1", "far2", "b", "c")


def test_only_the_chosen_actions_are_applied(res: Resources) -> None:
    llm = FakeLLM().queue(
        decision(
            actions=["update_neighbor"],
            suggested_connections=["a"],
            tags_to_update=["ignored"],
            neighbour_updates=[NeighbourUpdate(id="c", context="Cy.", tags=["t"])],
        )
    )
    run(res, llm)
    assert graph_links(res, "new") == []
    assert get(res, "new").tags == ["hobby"]
    assert get(res, "c").context == "Cy."


def test_no_evolution_still_marks_the_note(res: Resources) -> None:
    llm = FakeLLM().queue(decision(should_evolve=False, suggested_connections=["a"]))
    report = run(res, llm)
    assert graph_links(res, "new") == []
    assert get(res, "new").metadata[MARKER] is True
    untouched(res, "a", "b", "c", "far1", "far2")
    assert run(res, llm).detail["llm_calls"] == 0  # nothing new: no second request
    assert report.detail["llm_calls"] == 1


def test_an_unusable_llm_answer_falls_back_to_the_rule(res: Resources) -> None:
    def refuse(messages: list[dict[str, str]], model: type[BaseModel]) -> BaseModel:
        raise LLMOutputError("no answer validated")

    report = run(res, FakeLLM().queue(refuse))
    assert report.detail["llm_fallbacks"] == 1
    assert graph_links(res, "new") == [("a", "related", 0.8), ("b", "related", 0.6)]


def test_use_llm_false_never_asks(res: Resources) -> None:
    llm = FakeLLM()
    run(res, llm, use_llm=False)
    assert llm.calls == []
    assert len(graph_links(res, "new")) == 2


# ------------------------------------------------------------------ in pipelines


def pipeline(tmp_path: Path, llm: FakeLLM | None = None) -> Memory:
    return Memory.from_yaml(
        ROOT / "pipelines" / "amem.yaml", embedder=EMBEDDER, data_dir=tmp_path / "amem",
        **({"llm": llm} if llm else {}),
    )  # fmt: skip


EVENTS = [
    Event(id="1", content="I started cello lessons in January.", speaker="Ana"),
    Event(id="2", content="My cello teacher says my bowing improved.", speaker="Ana"),
    Event(id="3", content="The pharmacy was busy with flu season.", speaker="Ana"),
]


def link_first(messages: list[dict[str, str]], model: type[BaseModel]) -> BaseModel:
    ids = messages[1]["content"].rsplit("Use only these ids: ", 1)[1].rstrip(".").split(", ")
    return decision(suggested_connections=ids[:1], tags_to_update=["music"])


def test_amem_pipeline_without_an_llm(tmp_path: Path) -> None:
    with pipeline(tmp_path) as memory:
        for event in EVENTS:
            memory.add([event], scope=ANA)
        hits = memory.search("cello lessons", k=10, scope=ANA)
        notes = list(memory.store.scan(ANA, Where()))
    assert all(n.metadata[MARKER] for n in notes) and len(notes) == 3
    assert {h.channel for h in hits} <= {"vector", "link_expand"} and len(hits) == 3


def test_amem_pipeline_with_an_llm_is_durable_across_reopening(tmp_path: Path) -> None:
    attrs = NoteAttributes(keywords=["cello"], tags=["music"], context="About music.")
    llm = FakeLLM().always(NoteAttributes, attrs).always(EvolutionDecision, link_first)
    with pipeline(tmp_path, llm) as memory:
        first, second = (memory.add([e], scope=ANA)[0] for e in EVENTS[:2])
    assert [m for _, m in llm.calls] == [NoteAttributes, NoteAttributes, EvolutionDecision]
    llm2 = FakeLLM().always(NoteAttributes, attrs).always(EvolutionDecision, link_first)
    with pipeline(tmp_path, llm2) as memory:
        third = memory.add([EVENTS[2]], scope=ANA)[0]
        graph = memory.graph
        assert graph is not None
        links = {n.id: [l.target for l in n.links if l.kind == "related"]
                 for n in graph.get([first.id, second.id, third.id], ANA)}  # fmt: skip
    # one decision per new note: the reopened pipeline asks only about the third
    assert [m for _, m in llm2.calls] == [NoteAttributes, EvolutionDecision]
    assert links[first.id] == [] and links[second.id] == [first.id]
    assert len(links[third.id]) == 1


def test_config_is_strict() -> None:
    with pytest.raises(ValidationError):
        ZettelkastenLinkConfig(neighbour=5)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ZettelkastenLinkConfig(neighbours=0)
