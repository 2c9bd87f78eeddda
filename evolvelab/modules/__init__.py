"""The built-in stage types, registered through the same hooks as any plugin.

One screen lists them all; each lives in a module named after its YAML ``type``.
"""

from __future__ import annotations

from evolvelab.hookspecs import hookimpl


@hookimpl
def register_encoders():  # noqa: ANN201 - hook signatures are documented in hookspecs
    from evolvelab.modules.encode.note import NoteEncoder
    from evolvelab.modules.encode.turn import TurnEncoder

    return [TurnEncoder, NoteEncoder]


@hookimpl
def register_stores():  # noqa: ANN201
    from evolvelab.modules.store.kuzu import KuzuStore
    from evolvelab.modules.store.lancedb import LanceDBStore
    from evolvelab.modules.store.memory import MemoryStore

    return [LanceDBStore, KuzuStore, MemoryStore]


@hookimpl
def register_retrievers():  # noqa: ANN201
    from evolvelab.modules.retrieve.bm25 import BM25Retriever
    from evolvelab.modules.retrieve.hybrid import HybridRetriever
    from evolvelab.modules.retrieve.recency import RecencyRetriever
    from evolvelab.modules.retrieve.vector import VectorRetriever

    return [VectorRetriever, BM25Retriever, HybridRetriever, RecencyRetriever]


@hookimpl
def register_managers():  # noqa: ANN201
    from evolvelab.modules.manage.dedupe import DedupeManager

    return [DedupeManager]


@hookimpl
def register_embedders():  # noqa: ANN201
    from evolvelab.embed import HashingEmbedder, MiniLMEmbedder

    return [MiniLMEmbedder, HashingEmbedder]


@hookimpl
def register_llms():  # noqa: ANN201
    from evolvelab.llm import NoLLM, OllamaLLM, OpenAILLM

    return [NoLLM, OpenAILLM, OllamaLLM]
