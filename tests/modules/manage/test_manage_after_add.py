"""Managers of new notes run over the batch they are called for, not the whole scope.

A manager scheduled with ``every: N`` (``zettelkasten_link``, ``mem0_update``) sweeps the
scope the first time it runs in a process (notes an earlier process left unprocessed are
only found that way); after that it reads just the notes added since its last run, by id.
So the cost of an add follows the add, not the size of the memory (issue 12, item 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from evolvelab import Event, Memory, Note, Scope, Where
from evolvelab.modules.manage.mem0_update import CHECKED
from evolvelab.modules.manage.zettelkasten_link import MARKER
from evolvelab.registry import Registry

ANA = Scope(user_id="ana")

MANAGERS = {
    "zettelkasten_link": (
        "{type: zettelkasten_link, neighbours: 3, every: %(every)s}",
        "{type: note, keywords: 3}",
        MARKER,
    ),
    "mem0_update": ("{type: mem0_update, every: %(every)s}", "{type: fact}", CHECKED),
}

PIPELINE = """\
version: 1
name: after-add
embedder: {type: hashing, dim: 64}
encode:
  - %(encoder)s
store: {type: memory}
retrieve:
  - {type: vector, k: 5}
manage:
  - %(manager)s
"""

TOPICS = ["cello", "Leeds", "cat Pepper", "sister Lucia", "garden", "marathon", "Lisbon", "jazz"]


def build(registry: Registry, manager: str, every: int = 1) -> tuple[Memory, str]:
    text, encoder, marker = MANAGERS[manager]
    spec = PIPELINE % {"encoder": encoder, "manager": text % {"every": every}}
    return Memory.from_text(spec, registry=registry), marker


def event(i: int) -> Event:
    return Event(id=f"e{i}", content=f"I like my {TOPICS[i % len(TOPICS)]} number {i}.",
                 speaker="Ana")  # fmt: skip


class CountingScans:
    """Wraps a store's ``scan`` and counts the rows it yields."""

    def __init__(self, store: Any) -> None:
        self.rows = 0
        self._scan = store.scan
        store.scan = self

    def __call__(self, scope: Scope, where: Where) -> Iterator[Note]:
        for note in self._scan(scope, where):
            self.rows += 1
            yield note


def processed(memory: Memory, marker: str) -> dict[str, bool]:
    notes = memory.store.scan(ANA, Where())  # type: ignore[attr-defined]
    return {n.id: bool(n.metadata.get(marker)) for n in notes}


@pytest.mark.parametrize("manager", sorted(MANAGERS))
def test_after_the_first_sweep_adds_do_not_scan_the_scope(
    registry: Registry, manager: str
) -> None:
    memory, marker = build(registry, manager)
    memory.add([event(0)], scope=ANA)  # first run in this process: a sweep
    scans = CountingScans(memory.store)
    for i in range(1, 8):
        memory.add([event(i)], scope=ANA)
    assert scans.rows == 0
    assert all(processed(memory, marker).values())


@pytest.mark.parametrize("manager", sorted(MANAGERS))
def test_every_n_processes_the_notes_of_every_add_since_the_last_run(
    registry: Registry, manager: str
) -> None:
    memory, marker = build(registry, manager, every=3)
    for i in range(6):
        memory.add([event(i)], scope=ANA)
    assert all(processed(memory, marker).values())
    memory.add([event(6)], scope=ANA)  # not due yet
    assert list(processed(memory, marker).values()).count(False) >= 1


@pytest.mark.parametrize("manager", sorted(MANAGERS))
def test_notes_written_behind_the_pipelines_back_are_found_by_a_sweep(
    registry: Registry, manager: str
) -> None:
    memory, marker = build(registry, manager)
    memory.add([event(0)], scope=ANA)
    stray = memory.store.get(list(processed(memory, marker)), ANA)[0]  # type: ignore[attr-defined]
    fresh = stray.model_copy(update={"id": "stray", "metadata": {}, "embedding": None})
    memory.resources.write([fresh])  # as another process would
    memory.add([event(1)], scope=ANA)
    assert processed(memory, marker)["stray"] is False  # not the batch: left alone
    memory.manage(ANA)
    assert processed(memory, marker)["stray"] is True


THOUGHTS = """\
version: 1
name: thoughts-after-add
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn, speaker: true}
store: {type: memory}
retrieve:
  - {type: vector, k: 5}
manage:
  - {type: thought_manage, every: 1, think_on: [turn]}
"""


def test_thought_manage_thinks_about_the_new_turns_without_scanning_them(
    registry: Registry,
) -> None:
    memory = Memory.from_text(THOUGHTS, registry=registry)
    memory.add([event(0)], scope=ANA)
    scans = CountingScans(memory.store)
    turn_scans = []
    inner = scans._scan
    scans._scan = lambda scope, where: (turn_scans.append(where.kind), inner(scope, where))[1]
    for i in range(1, 6):
        memory.add([event(i)], scope=ANA)
    assert not [kinds for kinds in turn_scans if kinds and "turn" in kinds]
    thoughts = list(memory.store.scan(ANA, Where(kind=["thought"], include_invalid=True)))  # type: ignore[attr-defined]
    assert {s for t in thoughts for s in t.source_ids} >= {f"e{i}" for i in range(6)}
