"""An encoder written from docs/plugins.md, to the letter, keeps users apart.

The example encoder leaves ``Note.scope`` unset, as the docs say it may: the pipeline
gives each note the scope of its events, on both write paths (``Memory.add`` and the
group commit the server uses), and refuses a note whose scope contradicts its events.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import Field

import evolvelab
from evolvelab import Encoder, EncoderConfig, Event, Note, Scope, StageError, stable_id
from evolvelab.datasets import load_jsonl
from evolvelab.datasets.sample import sample_path
from evolvelab.evaluation import evaluate
from evolvelab.lifecycle import AddRequest, commit_adds
from evolvelab.pipeline import Memory
from evolvelab.registry import Registry

from docs_blocks import named_block, registry_with, run_block


def docs_module(name: str) -> types.ModuleType:
    """The module docs/plugins.md shows as ``# <name>.py``, executed as written."""
    return run_block(named_block("docs/plugins.md", f"{name}.py"), name)


def sentences_memory(tmp_path: Path, registry: Registry | None = None) -> Memory:
    registry = registry or registry_with(docs_module("evolvelab_sentences"))
    spec = {"version": 1, "name": "sentences", "embedder": {"type": "none"},
            "encode": [{"type": "sentences", "min_words": 1}], "store": {"type": "memory"},
            "retrieve": [{"type": "bm25", "k": 20}]}  # fmt: skip
    return Memory.from_dict(spec, registry=registry, data_dir=tmp_path / "data")


@pytest.mark.slow
def test_the_docs_encoder_sets_no_scope_and_still_keeps_users_apart_on_the_sample(tmp_path: Path) -> None:
    with sentences_memory(tmp_path) as memory:
        report = evaluate(memory, load_jsonl(sample_path()), ks=(10,))
        assert memory.count(Scope()) == 0  # nothing landed in the anonymous scope
        assert memory.search("Which pet did Ana adopt?", k=10) == []
    for user in ("ana", "ben"):
        asked = [r for r in report.results if r.user_id == user and r.recall is not None]
        assert asked, user
        assert sum(r.recall["10"] for r in asked) / len(asked) > 0.2, user
        # every source id a query of one user got back is one of that user's events
        assert {i.split(":")[0] for r in asked for i in r.ranked} == {user}


ANA, BEN = Scope(user_id="ana"), Scope(user_id="ben")


def add(memory: Memory, path: str, events: list[Event], scope: Scope) -> object:
    """Add through ``Memory.add`` or through the group commit the server uses."""
    if path == "add":
        return memory.add(events, scope=scope)
    (result,) = commit_adds(memory, [AddRequest(scope, events)])
    if isinstance(result, Exception):
        raise result
    return result


@pytest.mark.parametrize("path", ["add", "group commit"])
def test_each_note_gets_the_owner_of_its_add_and_the_session_of_its_event(tmp_path: Path, path: str) -> None:
    with sentences_memory(tmp_path) as memory:
        add(memory, path, [Event(id="t1", content="I adopted a cat.", session_id="s1"),
                           Event(id="t2", content="It is grey.")], ANA)  # fmt: skip
        add(memory, path, [Event(id="t1", content="I sold my cat.", session_id="s9")], BEN)
        add(memory, path, [Event(id="t3", content="A cat again.", session_id="s2")],
            Scope(user_id="ana", session_id="s7"))  # the add's session stands
        ana = {h.note.content: h.note.scope for h in memory.search("cat grey", k=10, scope=ANA)}
        assert ana == {
            "I adopted a cat.": Scope(user_id="ana", session_id="s1"),
            "It is grey.": Scope(user_id="ana"),
            "A cat again.": Scope(user_id="ana", session_id="s7"),
        }
        assert [h.note.content for h in memory.search("cat", k=10, scope=BEN)] == ["I sold my cat."]
        assert memory.search("cat", k=10) == []


class LeakConfig(EncoderConfig):
    """Return one note per event, with the scope given in ``user``."""

    type: Literal["leak"] = "leak"
    user: str | None = Field(None, description="The user id the notes claim.")
    session: str | None = Field(None, description="The session id the notes claim.")


class LeakEncoder(Encoder):
    config_model: ClassVar[type[LeakConfig]] = LeakConfig

    def encode(self, events, scope):  # noqa: ANN001, ANN201
        own = Scope(user_id=self.config.user, session_id=self.config.session)
        return [Note(id=stable_id("x", e.id), content=e.content, source_ids=[e.id], scope=own)
                for e in events]  # fmt: skip


class LeakPlugin:
    @evolvelab.hookimpl
    def register_encoders(self):  # noqa: ANN201
        return [LeakEncoder]


def leak_memory(tmp_path: Path, **config: str | None) -> Memory:
    spec = {"version": 1, "name": "leak", "embedder": {"type": "none"},
            "encode": [{"type": "turn"}, {"type": "leak", **config}], "store": {"type": "memory"},
            "retrieve": [{"type": "bm25", "k": 20}]}  # fmt: skip
    return Memory.from_dict(spec, registry=registry_with(LeakPlugin()), data_dir=tmp_path / "d")


@pytest.mark.parametrize("path", ["add", "group commit"])
@pytest.mark.parametrize(
    "config,message",
    [
        ({"user": "ben"}, "note 'x_.*' has scope user_id='ben', but the events it came from belong to user_id='ana'"),
        ({"user": None}, "note 'x_.*' has scope the anonymous scope, but the events it came from belong to user_id='ana'"),
        ({"user": "ana", "session": "s2"}, "note 'x_.*' has session_id 's2', but the events it came from are in 's1'"),
    ],
)
def test_a_note_whose_scope_contradicts_its_events_is_refused_and_nothing_is_written(
    tmp_path: Path, path: str, config: dict[str, str | None], message: str
) -> None:
    with leak_memory(tmp_path, **config) as memory:
        with pytest.raises(StageError, match=rf"^encode\[1\] \(leak\): {message} \(leave Note.scope unset"):
            add(memory, path, [Event(id="t1", content="I adopted a cat.", session_id="s1")], ANA)
        assert [memory.count(s) for s in (ANA, BEN, Scope())] == [0, 0, 0]


def test_a_note_that_names_its_own_owner_and_session_is_kept_as_it_is(tmp_path: Path) -> None:
    with leak_memory(tmp_path, user="ana", session="s1") as memory:
        memory.add([Event(id="t1", content="I adopted a cat.", session_id="s1")], scope=ANA)
        hits = memory.search("cat", k=5, scope=ANA)
        assert [h.note.scope for h in hits] == [Scope(user_id="ana", session_id="s1")] * 2
