"""The built-in stage types, registered through the same hooks as any plugin.

One screen lists them all; each lives in a module named after its YAML ``type``.
"""

from __future__ import annotations

from evolvelab.hookspecs import hookimpl


@hookimpl
def register_encoders():  # noqa: ANN201 - hook signatures are documented in hookspecs
    from evolvelab.modules.encode.arcmemo import ArcMemoEncoder
    from evolvelab.modules.encode.experience import ExperienceEncoder
    from evolvelab.modules.encode.fact import FactEncoder
    from evolvelab.modules.encode.gmemory_task import GMemoryTaskEncoder
    from evolvelab.modules.encode.hindsight_retain import HindsightRetainEncoder
    from evolvelab.modules.encode.note import NoteEncoder
    from evolvelab.modules.encode.turn import TurnEncoder

    return [
        TurnEncoder,
        NoteEncoder,
        FactEncoder,
        GMemoryTaskEncoder,
        ExperienceEncoder,
        ArcMemoEncoder,
        HindsightRetainEncoder,
    ]


@hookimpl
def register_stores():  # noqa: ANN201
    from evolvelab.modules.store.kuzu import KuzuStore
    from evolvelab.modules.store.lancedb import LanceDBStore
    from evolvelab.modules.store.layered_decay import LayeredDecayStore
    from evolvelab.modules.store.memory import MemoryStore

    return [LanceDBStore, KuzuStore, MemoryStore, LayeredDecayStore]


@hookimpl
def register_retrievers():  # noqa: ANN201
    from evolvelab.modules.retrieve.arcmemo import ArcMemoRetriever
    from evolvelab.modules.retrieve.bm25 import BM25Retriever
    from evolvelab.modules.retrieve.case_policy import CasePolicyRetriever
    from evolvelab.modules.retrieve.gmemory import GMemoryRetriever
    from evolvelab.modules.retrieve.guard import GuardRetriever
    from evolvelab.modules.retrieve.hcam import HCAMRetriever
    from evolvelab.modules.retrieve.hindsight_recall import HindsightRecallRetriever
    from evolvelab.modules.retrieve.hindsight_reflect import HindsightReflectRetriever
    from evolvelab.modules.retrieve.hybrid import HybridRetriever
    from evolvelab.modules.retrieve.link_expand import LinkExpandRetriever
    from evolvelab.modules.retrieve.lsh import LSHRetriever
    from evolvelab.modules.retrieve.neighbours import NeighboursRetriever
    from evolvelab.modules.retrieve.recency import RecencyRetriever
    from evolvelab.modules.retrieve.semantic_cache import SemanticCacheRetriever
    from evolvelab.modules.retrieve.speaker import SpeakerRetriever
    from evolvelab.modules.retrieve.temporal import TemporalRetriever
    from evolvelab.modules.retrieve.vector import VectorRetriever

    return [
        VectorRetriever,
        BM25Retriever,
        HybridRetriever,
        RecencyRetriever,
        NeighboursRetriever,
        SpeakerRetriever,
        LinkExpandRetriever,
        LSHRetriever,
        GMemoryRetriever,
        GuardRetriever,
        CasePolicyRetriever,
        ArcMemoRetriever,
        HCAMRetriever,
        TemporalRetriever,
        HindsightRecallRetriever,
        HindsightReflectRetriever,
        SemanticCacheRetriever,
    ]


@hookimpl
def register_managers():  # noqa: ANN201
    from evolvelab.modules.manage.case_q import CaseQManager
    from evolvelab.modules.manage.decay import DecayManager
    from evolvelab.modules.manage.dedupe import DedupeManager
    from evolvelab.modules.manage.entity_observe import EntityObserveManager
    from evolvelab.modules.manage.hcam_chunk import HCAMChunkManager
    from evolvelab.modules.manage.insight_refine import InsightRefineManager
    from evolvelab.modules.manage.insight_score import InsightScoreManager
    from evolvelab.modules.manage.mem0_update import Mem0UpdateManager
    from evolvelab.modules.manage.opinion_update import OpinionUpdateManager
    from evolvelab.modules.manage.thought_manage import ThoughtManager
    from evolvelab.modules.manage.utility_prune import UtilityPruneManager
    from evolvelab.modules.manage.zettelkasten_link import ZettelkastenLinkManager

    return [
        DedupeManager,
        DecayManager,
        ZettelkastenLinkManager,
        ThoughtManager,
        InsightScoreManager,
        InsightRefineManager,
        Mem0UpdateManager,
        UtilityPruneManager,
        CaseQManager,
        HCAMChunkManager,
        OpinionUpdateManager,
        EntityObserveManager,
    ]


@hookimpl
def register_embedders():  # noqa: ANN201
    from evolvelab.embed import HashingEmbedder, MiniLMEmbedder, NoEmbedder

    return [MiniLMEmbedder, HashingEmbedder, NoEmbedder]


@hookimpl
def register_llms():  # noqa: ANN201
    from evolvelab.llm import NoLLM, OllamaLLM, OpenAILLM

    return [NoLLM, OpenAILLM, OllamaLLM]
