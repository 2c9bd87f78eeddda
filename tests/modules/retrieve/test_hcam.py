"""HCAM: chunk summaries (extractive and LLM) and two-level recall over them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evolvelab import Event, Memory, Scope
from evolvelab.modules.manage._chunk_summary import ChunkSummary, extractive_summary
from evolvelab.modules.manage.hcam_chunk import CHUNK_KIND, chunk_members
from evolvelab.modules.retrieve.hcam import HCAMConfig
from evolvelab.registry import Registry
from evolvelab.testing import FakeLLM
from evolvelab.types import Note, Where

ANA = Scope(user_id="ana")
T0 = datetime(2023, 5, 8, 10, 0, tzinfo=UTC)

SESSIONS = {
    "s1": [("Ana", "I adopted a grey cat called Miso."), ("Ben", "Does Miso like the garden?"),
           ("Ana", "Miso sleeps in the garden all day."), ("Ben", "Cats love sun.")],
    "s2": [("Ana", "My sister teaches piano lessons in Lisbon."), ("Ben", "Piano in Lisbon, nice!"),
           ("Ana", "She plays the piano every night."), ("Ben", "Do you play the garden game?")],
    "s3": [("Ana", "We hiked the volcano trail in Madeira."), ("Ben", "How long was the hike?"),
           ("Ana", "Six hours up the volcano."), ("Ben", "Brave!")],
}  # fmt: skip


def events() -> list[Event]:
    out = []
    for day, (session, turns) in enumerate(SESSIONS.items()):
        for i, (who, text) in enumerate(turns):
            out.append(Event(id=f"{session}:{i}", content=text, speaker=who, session_id=session,
                             timestamp=T0 + timedelta(days=7 * day, minutes=i)))  # fmt: skip
    return out


def memory(
    retrieve: dict[str, Any] | None = None, llm: FakeLLM | None = None, **manage: Any
) -> Memory:
    spec = {
        "version": 1, "name": "hcam-test", "embedder": {"type": "hashing", "dim": 256},
        "encode": [{"type": "turn"}], "store": {"type": "memory"},
        "retrieve": [{"type": "hcam", **(retrieve or {})}],
        "manage": [{"type": "hcam_chunk", "every": 1, **manage}],
    }  # fmt: skip
    return Memory.from_dict(spec, **({"llm": llm} if llm else {})).open()


def chunks(mem: Memory) -> list[Note]:
    found = mem.store.scan(ANA, Where(kind=[CHUNK_KIND], include_invalid=True))  # type: ignore[attr-defined]
    return sorted(found, key=lambda n: n.valid_from)


def test_extractive_summary_keeps_distinctive_terms_and_their_sentences() -> None:
    members = [Note(id="a", content="Ana: I adopted a cat. Cats are fun. The weather is fine.",
                    valid_from=T0)]  # fmt: skip
    # "weather" and "fine" appear in every other note of the scope; "adopted"/"cat" nowhere else
    df = Counter({"adopted": 1, "cat": 1, "cats": 1, "fun": 1, "ana": 5, "weather": 5, "fine": 5})
    summary, terms = extractive_summary(members, df, 5, terms=2, sentences=1)
    assert terms == ["adopted", "cat"]  # highest tf-idf, ties broken by first use
    assert summary == "[8 May 2023] adopted, cat | Ana: I adopted a cat."


def test_sessions_become_chunks_with_members_in_order() -> None:
    with memory() as mem:
        mem.add(events(), scope=ANA)
        found = chunks(mem)
    assert len(found) == 3
    first = found[0]
    assert first.kind == CHUNK_KIND and first.scope.session_id == "s1"
    assert first.source_ids == ["s1:0", "s1:1", "s1:2", "s1:3"]
    assert len(chunk_members(first)) == 4
    assert first.metadata["summary"] == "extractive" and first.metadata["turns"] == 4
    assert "miso" in first.keywords and first.content.startswith("[8 May 2023] ")
    assert first.index_text is not None and "Miso sleeps in the garden" in first.index_text


def test_fixed_size_chunks_never_span_sessions_and_grow_in_place() -> None:
    evs = events()
    with memory(chunk="turns", size=3) as mem:
        mem.add(evs[:2], scope=ANA)
        [partial] = chunks(mem)
        assert partial.source_ids == ["s1:0", "s1:1"]
        mem.add(evs[2:], scope=ANA)
        report = mem.manage(ANA)[0]
        found = chunks(mem)
        # 4 turns per session, 3 per chunk: 2 chunks per session
        assert [n.source_ids for n in found[:2]] == [["s1:0", "s1:1", "s1:2"], ["s1:3"]]
        assert len(found) == 6
        grown = next(n for n in found if n.id == partial.id)
        assert grown.version == 2  # rewritten in place, same id
        assert report.added == report.updated == 0  # nothing changed since the last add


def test_deleted_turns_leave_their_chunk() -> None:
    with memory() as mem:
        written = mem.add(events(), scope=ANA)
        s3 = [n.id for n in written if n.scope.session_id == "s3"]
        mem.resources.remove(s3, ANA)
        report = mem.manage(ANA)[0]
        assert report.deleted == 1
        assert [n.scope.session_id for n in chunks(mem)] == ["s1", "s2"]


def test_recall_searches_only_inside_the_top_chunks() -> None:
    with memory({"chunks": 1, "chunk_weight": 0.0}) as mem:
        mem.add(events(), scope=ANA)
        hits = mem.search("piano lessons in Lisbon", k=10, scope=ANA)
        wider = memory({"chunks": 3, "chunk_weight": 0.0})
        wider.add(events(), scope=ANA)
        garden = wider.search("piano garden", k=10, scope=ANA)
        wider.close()
    assert hits and {h.note.scope.session_id for h in hits} == {"s2"}
    assert all(h.note.kind == "turn" and h.channel == "hcam" for h in hits)
    assert hits[0].note.source_ids == ["s2:0"]
    assert hits[0].explain["chunk_rank"] == 1.0
    # three chunks: the garden turns of s1 (and s2's garden question) come back too
    assert {h.note.source_ids[0] for h in garden} >= {"s1:2", "s2:3", "s2:0"}


def test_chunk_weight_mixes_chunk_and_detail_scores() -> None:
    with memory({"chunks": 3, "chunk_weight": 0.5}) as mem:
        mem.add(events(), scope=ANA)
        hits = mem.search("garden", k=10, scope=ANA)
    for hit in hits:
        assert hit.score == pytest.approx(0.5 * hit.explain["chunk"] + 0.5 * hit.explain["detail"])
    assert max(h.explain["detail"] for h in hits) == pytest.approx(1.0)


def test_per_chunk_caps_hits_from_one_chunk() -> None:
    with memory({"chunks": 3, "per_chunk": 1}) as mem:
        mem.add(events(), scope=ANA)
        hits = mem.search("garden piano volcano", k=10, scope=ANA)
    sessions = [h.note.scope.session_id for h in hits]
    assert len(sessions) == len(set(sessions)) == 3


def test_vector_ranking_and_vector_detail() -> None:
    with memory({"rank_by": "vector", "detail": "vector", "chunks": 1}) as mem:
        mem.add(events(), scope=ANA)
        hits = mem.search("volcano hike in Madeira", k=4, scope=ANA)
    assert {h.note.scope.session_id for h in hits} == {"s3"}
    assert len(hits) == 4  # every member has a cosine score


def test_no_chunks_yet_means_no_hits() -> None:
    spec = {"version": 1, "name": "hcam-empty", "embedder": {"type": "none"},
            "encode": [{"type": "turn"}], "store": {"type": "memory"},
            "retrieve": [{"type": "hcam"}]}  # fmt: skip
    with Memory.from_dict(spec) as mem:
        mem.add(events(), scope=ANA)
        assert mem.search("piano", scope=ANA) == []


def test_llm_writes_the_summaries() -> None:
    llm = FakeLLM().always(
        ChunkSummary,
        lambda messages, model: model(summary="Ana talked about something.", keywords=["topic"]),
    )
    with memory(llm=llm) as mem:
        mem.add(events(), scope=ANA)
        found = chunks(mem)
    assert len(llm.calls) == 3  # one request per chunk
    assert "Miso sleeps in the garden" in llm.calls[0][0][-1]["content"]
    assert all(n.content == "Ana talked about something. | topic" for n in found)
    assert all(n.metadata["summary"] == "llm" and n.keywords == ["topic"] for n in found)


def test_vector_ranking_needs_vector_search(registry: Registry) -> None:
    from evolvelab.modules.retrieve.hcam import HCAMRetriever
    from evolvelab.stages import TextSearch, VectorSearch

    assert HCAMRetriever.capabilities_needed(HCAMConfig(), registry) == (TextSearch,)
    both = HCAMConfig(rank_by="both", detail="vector")
    assert HCAMRetriever.capabilities_needed(both, registry) == (TextSearch, VectorSearch)
