"""note: A-MEM notes (keywords, tags, context), embedded over the enriched text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evolvelab.embed import HashingEmbedder, HashingEmbedderConfig
from evolvelab.llm import NoLLM
from evolvelab.modules.encode.note import NoteAttributes, NoteConfig, NoteEncoder, enriched_text
from evolvelab.modules.store.memory import MemoryStore, MemoryStoreConfig
from evolvelab.stages import Resources
from evolvelab.testing import FakeLLM
from evolvelab.types import Event, Note, Scope

EMBEDDER = HashingEmbedder(HashingEmbedderConfig(dim=16))
EVENT = Event(
    id="D1:3",
    content="I took my cello to the Bristol workshop; the cello needed new strings.",
    speaker="Ana",
    timestamp=datetime(2023, 5, 8, 13, 56, tzinfo=UTC),
    session_id="S1",
)


def encoder(tmp_path: Path, llm: Any = None, **config: Any) -> NoteEncoder:
    stage = NoteEncoder(NoteConfig(**config))
    store = MemoryStore(MemoryStoreConfig())
    resources = Resources(embedder=EMBEDDER, store=store, llm=llm, data_dir=tmp_path)
    stage.open(resources)
    return stage


def test_enriched_text_is_content_context_keywords_tags() -> None:
    note = Note(id="n", content="c", context="x", keywords=["k1", "k2"], tags=["g"])
    assert enriched_text(note) == "c\nx\nk1 k2\ng"
    assert enriched_text(Note(id="n", content="c")) == "c"


def test_deterministic_attributes(tmp_path: Path) -> None:
    [note] = encoder(tmp_path, NoLLM(), keywords=3, tags=3).encode([EVENT], Scope(user_id="ana"))
    assert note.content == f"Ana: {EVENT.content}"
    assert note.keywords == ["cello", "workshop", "bristol"]  # count, then length, then first use
    assert note.tags == ["Bristol", "Ana", "turn"]
    assert note.context == "Ana said this in session S1 on 08 May 2023."
    expected = EMBEDDER.embed([enriched_text(note)])[0]
    assert note.embedding == pytest.approx([float(x) for x in expected])


def test_llm_attributes_one_request_per_event(tmp_path: Path) -> None:
    llm = FakeLLM().queue(
        NoteAttributes(keywords=["cello", "strings", "workshop", "extra"], tags=["music"],
                       context="Ana had her cello restrung.")  # fmt: skip
    )
    [note] = encoder(tmp_path, llm, keywords=3).encode([EVENT], Scope(user_id="ana"))
    [(messages, model)] = llm.calls
    assert model is NoteAttributes
    assert "Message: " + EVENT.content in messages[0]["content"]
    assert "leave out speaker names and times" in messages[0]["content"]
    assert (note.keywords, note.tags) == (["cello", "strings", "workshop"], ["music"])
    assert note.context == "Ana had her cello restrung."


def test_content_only_embedding(tmp_path: Path) -> None:
    [note] = encoder(tmp_path, NoLLM(), embed_attributes=False).encode([EVENT], Scope())
    assert note.embedding is None  # the store embeds the content
