"""``space: auto``: a search over the pipeline's architecture, derived from the registry.

Instead of naming each knob, a spec can let the evolver vary the structure itself::

    space: auto                  # or, to shape it:
    auto: {refiners: 2, manage: 1, encoders: true, exclude: [guard]}

From the base pipeline and every registered stage type, :func:`auto_entries` derives
``space`` entries (the same entries a person would write, so the rest of the evolver is
unchanged):

- each base retrieve stage may be swapped for another retriever of the same role (a
  *source* that adds hits for another source, a *refiner* that rewrites the list for
  another refiner), and a base refiner may be dropped where the pipeline builds without it;
- ``refiners`` optional slots after the chain, each empty or any refiner, so which
  refiners run, and in which order, is searched;
- the first encoder may be swapped for another encoder;
- ``manage`` optional manage slots;
- ``embedders``: each named embedder makes a *variant* of the base with that embedder
  (:func:`embedder_variants`); the search picks the base or a variant first, and only in a
  variant whose embedder gives vectors do vector stages (``vector``, ``hybrid``...) join.
  The embedder is a choice made before the chain's, so no chain needing vectors is ever
  drawn with an embedder that has none;
- every chosen stage's ``Tunable`` fields are searched (``declared: true``), and only when
  that stage is chosen: parameters are conditional on the structure.

A type joins only if the pipeline still builds with it (its ``requires`` met by the
stores, its config complete with defaults): the registry rules out what would fail, so
no trial is spent on it. Plugins join the space by registering; nothing here names a type.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from evolvelab.errors import ConfigError, EvolveLabError, Problem, closest
from evolvelab.search.render import validate_candidate
from evolvelab.search.spec import SpaceEntry

if TYPE_CHECKING:
    from evolvelab.registry import Registry
    from evolvelab.search.spec import AutoSpec

__all__ = ["auto_entries", "builds", "embedder_variants"]


def builds(data: Mapping[str, Any], registry: Registry) -> bool:
    """Whether the pipeline mapping validates and builds (without opening anything)."""
    from evolvelab.pipeline import Memory

    try:
        Memory(validate_candidate(data, registry), registry=registry)
    except (ConfigError, EvolveLabError):
        return False
    except Exception:  # noqa: BLE001 - a plugin's constructor bug rules its type out
        return False
    return True


def _fits(
    base: Mapping[str, Any], slot: str, index: int, type_: str, registry: Registry
) -> bool:
    """Whether ``base`` builds with ``slot[index]`` set to a default ``type_`` stage."""
    data = copy.deepcopy(dict(base))
    items = list(data.get(slot) or [])
    stage = {"type": type_}
    if index < len(items):
        items[index] = stage
    else:
        items.append(stage)
    data[slot] = items
    return builds(data, registry)


def _builds_without(base: Mapping[str, Any], index: int, registry: Registry) -> bool:
    """Whether ``base`` still builds with its ``retrieve[index]`` left out.

    A stage that is no source may still be the only one (``semantic_cache`` wraps its own
    stages): without it the pipeline would have no retrieve stage at all.
    """
    data = copy.deepcopy(dict(base))
    data["retrieve"] = [s for i, s in enumerate(data.get("retrieve") or []) if i != index]
    return builds(data, registry)


def _allowed(auto: AutoSpec, names: list[str]) -> list[str]:
    kept = [n for n in names if n not in auto.exclude]
    return [n for n in kept if n in auto.include] if auto.include is not None else kept


def _role(cls: type) -> str:
    """Return a retriever type's role in a chain: ``source``, ``refiner`` or ``other``.

    Sources swap for sources and refiners for refiners; only refiners fill the optional
    refiner slots. ``other`` (``semantic_cache``: it finds notes through stages of its
    own) swaps for nothing; it and refiners may be dropped where the pipeline builds
    without them.
    """
    refiner = getattr(cls, "refiner", None)
    if refiner is None:
        refiner = not getattr(cls, "source", True)
    if refiner:
        return "refiner"
    return "source" if getattr(cls, "source", True) else "other"


def auto_entries(base: Mapping[str, Any], registry: Registry, auto: AutoSpec) -> dict[str, SpaceEntry]:
    """Return the structural ``space`` entries for the base pipeline mapping ``base``.

    Args:
        base: the base pipeline as read from its YAML file.
        registry: the stage types that may join.
        auto: the spec's ``auto`` settings.

    Returns:
        Entries keyed by parameter name (``retrieve[2].type`` ...), in slot order.
    """
    entries: dict[str, SpaceEntry] = {}
    retrievers = registry.entries("retriever")
    role = {e.name: _role(e.cls) for e in retrievers}
    names = _allowed(auto, [e.name for e in retrievers])
    chain = list(base.get("retrieve") or [])
    for i, stage in enumerate(chain):
        mine = stage.get("type")
        same = [n for n in names if role[n] == role.get(mine) and n != mine]
        options = [mine, *(n for n in same if _fits(base, "retrieve", i, n, registry))]
        if role.get(mine) != "source" and auto.drop and _builds_without(base, i, registry):
            options.append(None)
        if len(options) > 1:
            entries[f"retrieve[{i}].type"] = SpaceEntry(choices=options)
    refiners = [
        n
        for n in names
        if role[n] == "refiner" and _fits(base, "retrieve", len(chain), n, registry)
    ]
    for i in range(len(chain), len(chain) + (auto.refiners if refiners else 0)):
        entries[f"retrieve[{i}].type"] = SpaceEntry(choices=[None, *refiners])
    encode = list(base.get("encode") or [])
    if auto.encoders and encode:
        mine = encode[0].get("type")
        others = [
            n
            for n in _allowed(auto, registry.names("encoder"))
            if n != mine and _fits(base, "encode", 0, n, registry)
        ]
        if others:
            entries["encode[0].type"] = SpaceEntry(choices=[mine, *others])
    managers = list(base.get("manage") or [])
    fitting = [
        n
        for n in _allowed(auto, registry.names("manager"))
        if _fits(base, "manage", len(managers), n, registry)
    ]
    for i in range(len(managers), len(managers) + (auto.manage if fitting else 0)):
        entries[f"manage[{i}].type"] = SpaceEntry(choices=[None, *fitting])
    return entries


def embedder_variants(
    base: Mapping[str, Any],
    registry: Registry,
    auto: AutoSpec,
    problem: Callable[..., Problem] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Return the base with each of ``auto.embedders`` in place of its embedder.

    A variant is kept only if the base still builds with the embedder (its config
    complete with defaults); an embedder the base already uses makes none.

    Args:
        base: the base pipeline as read from its YAML file.
        registry: the embedder types.
        auto: the spec's ``auto`` settings.
        problem: makes a problem positioned in the spec, given its path and message
            (default: one without a position).

    Returns:
        ``(embedder type, pipeline mapping)`` pairs, in the order ``auto.embedders`` names them.

    Raises:
        ConfigError: if ``auto.embedders`` names an embedder type nobody registered.
    """
    names = registry.names("embedder")
    problem = problem or (lambda path, message, **kw: Problem("<spec>", path, message, **kw))
    unknown = [
        problem(
            ("auto", "embedders", i),
            f"unknown embedder type '{name}'",
            allowed=tuple(names),
            suggestion=closest(name, names),
        )
        for i, name in enumerate(auto.embedders)
        if name not in names
    ]
    if unknown:
        raise ConfigError(unknown)
    mine = (base.get("embedder") or {}).get("type")
    out = []
    for name in dict.fromkeys(auto.embedders):
        if name == mine:
            continue
        data = copy.deepcopy(dict(base))
        data["embedder"] = {"type": name}
        if builds(data, registry):
            out.append((name, data))
    return out
