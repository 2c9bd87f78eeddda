"""EvolveLab: memory pipelines for LLM agents, declared in YAML and evolved with Optuna.

The public API is what ``__all__`` lists (plus ``evolvelab.testing``); everything else
may change between releases.
"""

from __future__ import annotations

__version__ = "0.1.0"

from evolvelab.config import (
    EmbedderConfig,
    EncoderConfig,
    LLMConfig,
    ManagerConfig,
    PipelineSpec,
    RetrieverConfig,
    StageConfig,
    StoreConfig,
    StrictModel,
    Tunable,
)
from evolvelab.errors import (
    AfterWriteError,
    ConfigError,
    EvolveLabError,
    PluginError,
    Problem,
    StageError,
    StreamError,
)
from evolvelab.hookspecs import hookimpl
from evolvelab.stages import (
    LLM,
    Clock,
    Embedder,
    Encoder,
    FeedbackAware,
    GraphLinks,
    Issue,
    LLMUsage,
    ManageReport,
    Manager,
    Neighbour,
    Resources,
    Retriever,
    Scannable,
    Store,
    TextSearch,
    TypeLookup,
    VectorSearch,
)
from evolvelab.types import (
    AddResult,
    Dropped,
    Event,
    Hit,
    Link,
    Note,
    Outcome,
    Query,
    Scope,
    Where,
    stable_id,
)

__all__ = [
    "LLM",
    "AddResult",
    "AfterWriteError",
    "Clock",
    "ConfigError",
    "Dropped",
    "Embedder",
    "EmbedderConfig",
    "Encoder",
    "EncoderConfig",
    "Event",
    "EvolveLabError",
    "FeedbackAware",
    "GraphLinks",
    "Hit",
    "Issue",
    "LLMConfig",
    "LLMUsage",
    "Link",
    "ManageReport",
    "Manager",
    "ManagerConfig",
    "Memory",
    "Message",
    "Neighbour",
    "Note",
    "NoteNotFound",
    "NotePage",
    "NoteVersion",
    "Outcome",
    "PipelineSpec",
    "PluginError",
    "Problem",
    "Query",
    "Resources",
    "Retriever",
    "RetrieverConfig",
    "Scannable",
    "Scope",
    "StageConfig",
    "StageError",
    "Store",
    "StoreConfig",
    "StreamError",
    "StrictModel",
    "TextSearch",
    "Tunable",
    "TypeLookup",
    "VectorSearch",
    "Where",
    "__version__",
    "hookimpl",
    "stable_id",
]


def __getattr__(name: str):  # noqa: ANN202 - lazy attribute for the runtime
    if name == "Memory":
        from evolvelab.pipeline import Memory

        return Memory
    if name in ("Message", "NoteNotFound", "NotePage", "NoteVersion"):  # the lifecycle's types
        from evolvelab import lifecycle

        return getattr(lifecycle, name)
    raise AttributeError(f"module 'evolvelab' has no attribute {name!r}")
