"""The hooks a plugin may implement.

Hooks only collect things; behaviour lives on the classes they return. Implement them with
``evolvelab.hookimpl`` in a module named by an entry point in the ``evolvelab`` group::

    # pyproject.toml
    [project.entry-points.evolvelab]
    jaccard = "evolvelab_jaccard"

Hook arguments are public API: they may be added to, never renamed or removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from evolvelab.search.objectives import Metric
    from evolvelab.stages import LLM, Embedder, Encoder, Manager, Retriever, Store

hookspec = pluggy.HookspecMarker("evolvelab")
hookimpl = pluggy.HookimplMarker("evolvelab")

__all__ = ["hookimpl", "hookspec"]


@hookspec
def register_encoders() -> Iterable[type[Encoder]]:
    """Return encoder classes (events → notes).

    Example:
        >>> @hookimpl
        ... def register_encoders():
        ...     return [SentenceEncoder]
    """


@hookspec
def register_stores() -> Iterable[type[Store]]:
    """Return store classes (note stores and graph stores).

    Example:
        >>> @hookimpl
        ... def register_stores():
        ...     return [RedisStore]
    """


@hookspec
def register_retrievers() -> Iterable[type[Retriever]]:
    """Return retriever classes (query → hits).

    Example:
        >>> @hookimpl
        ... def register_retrievers():
        ...     return [JaccardRetriever]
    """


@hookspec
def register_managers() -> Iterable[type[Manager]]:
    """Return manager classes (linking, decay, consolidation, validation).

    Example:
        >>> @hookimpl
        ... def register_managers():
        ...     return [NightlyCompaction]
    """


@hookspec
def register_embedders() -> Iterable[type[Embedder]]:
    """Return embedder classes (texts → unit vectors).

    Example:
        >>> @hookimpl
        ... def register_embedders():
        ...     return [MyOnnxEmbedder]
    """


@hookspec
def register_llms() -> Iterable[type[LLM]]:
    """Return LLM classes (structured output from messages).

    Example:
        >>> @hookimpl
        ... def register_llms():
        ...     return [LocalLlamaLLM]
    """


@hookspec
def register_objectives() -> Iterable[Metric]:
    """Return metrics an evolve spec may optimise (``objectives: [{metric: NAME}]``).

    Each :class:`evolvelab.search.objectives.Metric` says how to read its value off an
    evaluation report, which way is better and its unit; names must not clash with the
    built-ins (``recall@K``, ``hit@K``, ``mrr``, ``search_p95``...) or other plugins'.

    Example:
        >>> @hookimpl
        ... def register_objectives():
        ...     return [Metric("answered", read=lambda report, k: report.questions / report.asked,
        ...                    direction="maximize", unit="share",
        ...                    description="Share of asked questions that had gold evidence.")]
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``evolvelab`` command line.

    Example:
        >>> @hookimpl
        ... def register_commands(cli):
        ...     @cli.command()
        ...     def hello():
        ...         click.echo("hello from my plugin")
    """
