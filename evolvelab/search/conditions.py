"""Conditional fields in the search space: ``Tunable(..., when={...})``.

A stage declares that a field matters only for some values of its other fields
(``hybrid``'s ``rrf_k`` only with ``fusion: rrf``; see :class:`~evolvelab.config.Tunable`).
The space then asks for such a parameter only in trials whose stage meets the condition,
so the sampler never models a knob that does nothing there. This module holds what the
space does with a declaration:

- :func:`declared_condition` reads it from the stage's config model (a hybrid channel's
  own model, for its ``settings``);
- :func:`possible_values` says which values a trial may give the fields it reads, so a
  field the base can never use is not searched at all;
- :func:`controllers_first` orders a branch's fields so a trial decides ``fusion`` before
  it is asked for ``rrf_k``;
- :func:`met_context` completes an update so a field is in use (for the checks that try
  declared ranges at their ends);
- :func:`stage_values` and :func:`channel_values` read the values a condition names from
  a candidate being built; :func:`keeps_unused` says what the candidate keeps of a field
  it does not use;
- :func:`condition_text` renders a condition for tables (``, when fusion: rrf``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import UnionType
from typing import TYPE_CHECKING, Any, Protocol, Union, get_args, get_origin

from evolvelab.config import StageConfig, condition_holds
from evolvelab.describe import tunable_of

if TYPE_CHECKING:
    from evolvelab.registry import Registry
    from evolvelab.search.param import Param

__all__ = [
    "Condition",
    "channel_values",
    "condition_text",
    "controllers_first",
    "declared_condition",
    "keeps_unused",
    "met_context",
    "possible_values",
    "stage_values",
    "yaml_text",
]

Condition = Mapping[str, tuple[Any, ...]]
"""Sibling field name -> the values under which the conditional field is used."""


class FieldSearch(Protocol):
    """What is read here of a space's searched field (:class:`~evolvelab.search.space.FieldSearch`)."""

    path: tuple[str | int, ...]
    param: Param | None
    pinned: Any
    when: Condition | None

    def controller(self, name: str) -> tuple[str | int, ...]:
        """The path of the sibling field ``name``."""
        ...


class Branch(Protocol):
    """What is read here of a slot's branch (:class:`~evolvelab.search.space.Branch`)."""

    start: dict[str, Any]
    current: StageConfig
    fields: list[Any]


def _default(model: type[StageConfig], name: str) -> Any:
    return model.model_fields[name].get_default(call_default_factory=True)


def _channel_model(registry: Registry, channel: str) -> type[StageConfig]:
    model: type[StageConfig] = registry.get("retriever", channel).cls.config_model
    return model


def declared_condition(
    path: tuple[str | int, ...], model: type[StageConfig], registry: Registry
) -> Condition | None:
    """Return the condition declared on the field at ``path`` of a ``model`` stage.

    For ``("settings", channel, name)`` it is the channel type's own declaration.
    """
    if path[0] == "settings" and len(path) == 3:
        model = _channel_model(registry, str(path[1]))
        info = model.model_fields.get(str(path[2]))
    else:
        info = model.model_fields.get(str(path[0]))
    tunable = tunable_of(info) if info is not None else None
    return tunable.when if tunable is not None else None


def possible_values(
    branch: Branch, item: FieldSearch, registry: Registry
) -> dict[str, list[Any] | None]:
    """Return, for each field ``item``'s condition reads, the values a trial may give it.

    A searched choice gives its choices, a pinned field its value, a field not searched
    the branch's own value (the base's, or the type's default); ``None`` where the values
    are open (a numeric range is searched).
    """
    out: dict[str, list[Any] | None] = {}
    for name in item.when or {}:
        path = item.controller(name)
        other = next((f for f in branch.fields if f.path == path), None)
        if other is not None and other.param is None:
            out[name] = [other.pinned]
        elif other is not None:
            choices = other.param.choices  # type: ignore[union-attr]
            out[name] = list(choices) if choices is not None else None
        elif path[0] == "settings":
            channel = str(path[1])
            settings = dict(getattr(branch.current, "settings", {}) or {})
            own = settings.get(channel, {})
            value = own[name] if name in own else _default(_channel_model(registry, channel), name)
            out[name] = [value]
        else:
            out[name] = [getattr(branch.current, name)]
    return out


def controllers_first(fields: list[FieldSearch]) -> list[FieldSearch]:
    """Order ``fields`` so each conditional one comes after the fields its condition reads.

    Otherwise the order is kept; a cycle (two fields conditional on each other) keeps the
    declared order.
    """
    pending, placed = list(fields), []
    paths = {f.path for f in fields}
    while pending:
        done = {f.path for f in placed}
        ready = next(
            (
                f
                for f in pending
                if all(
                    f.controller(n) in done or f.controller(n) not in paths for n in f.when or {}
                )
            ),
            None,
        )
        if ready is None:
            return placed + pending
        placed.append(ready)
        pending.remove(ready)
    return placed


def met_context(
    items: list[FieldSearch], update: dict[str, Any], current: StageConfig
) -> dict[str, Any] | None:
    """Complete ``update`` so each of ``items`` is in use; ``None`` if they cannot all be.

    A field the update sets keeps its value (a pair no trial proposes together, such as
    ``fusion: score`` with ``rrf_k``, gives ``None``). A field it does not set keeps the
    stage's ``current`` value where that meets the condition, else takes the first value
    the condition allows (added to a list field, also a ``list | None`` one, so fields used
    by different items of one list are tried together). Channel settings are left as they are.

    Example:
        >>> from evolvelab.modules.retrieve.hybrid import HybridConfig
        >>> from evolvelab.search.param import Param
        >>> from evolvelab.search.space import FieldSearch
        >>> rrf_k = FieldSearch(("rrf_k",), Param("rrf_k", 1, 120), when={"fusion": ("rrf",)})
        >>> met_context([rrf_k], {"rrf_k": 1.0}, HybridConfig(fusion="score"))
        {'rrf_k': 1.0, 'fusion': 'rrf'}
        >>> met_context([rrf_k], {"rrf_k": 1.0, "fusion": "score"}, HybridConfig()) is None
        True
    """
    out = dict(update)
    model = type(current)
    stage = [item for item in items if item.path[0] != "settings"]
    for item in stage:
        for name, allowed in (item.when or {}).items():
            value = out[name] if name in out else getattr(current, name)
            if name in update or condition_holds({name: allowed}, {name: value}):
                continue
            option = allowed[0]
            if option is not None and (isinstance(value, list) or _holds_list(model, name)):
                out[name] = [*(value or []), option]  # another item's value stays too
            else:
                out[name] = option
    values = {**{n: getattr(current, n) for item in stage for n in item.when or {}}, **out}
    if all(condition_holds(item.when, values) for item in stage):
        return out
    return None


def _holds_list(model: type[StageConfig], name: str) -> bool:
    """Whether field ``name`` holds a list (``list[str] | None`` included)."""
    annotation = model.model_fields[name].annotation
    members = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    return any(get_origin(m) in (list, tuple, set, frozenset) for m in members or (annotation,))


def stage_values(
    config: Mapping[str, Any], model: type[StageConfig], when: Condition
) -> dict[str, Any]:
    """Return the values ``when`` reads from a stage mapping: as written, else the default."""
    return {name: config[name] if name in config else _default(model, name) for name in when}


def channel_values(
    branch: Branch,
    drawn: Mapping[str, Mapping[str, Any]],
    channel: str,
    when: Condition,
    registry: Registry,
) -> dict[str, Any]:
    """Return the values ``when`` reads from one channel's settings.

    Each is the value drawn for this candidate, else the start's, else the channel's default.
    """
    start = dict((branch.start.get("settings") or {}).get(channel) or {})
    own = {**start, **drawn.get(channel, {})}
    return stage_values(own, _channel_model(registry, channel), when)


def keeps_unused(
    start: Mapping[str, Any], name: str, when: Condition, model: type[StageConfig]
) -> bool:
    """Whether a field the candidate does not use keeps the start's value.

    It does only where the start (the base stage) wrote the field while it was unused
    too: the base is then rebuilt as written. A value the base wrote for a situation the
    candidate left (``rrf_k`` of a base with ``fusion: rrf``, in a trial with ``score``)
    is left out, so the stage runs with its default and its file says only what applies.
    """
    return name in start and not condition_holds(when, stage_values(start, model, when))


def condition_text(when: Condition | None) -> str:
    """Render ``when`` after a parameter's range: ``, when fusion: rrf`` ("" for none)."""
    if not when:
        return ""
    parts = [f"{name}: {'|'.join(yaml_text(v) for v in values)}" for name, values in when.items()]
    return ", when " + ", ".join(parts)


def yaml_text(value: Any) -> str:
    """Render a condition's value as YAML writes it: ``rrf``, ``true``, ``null``."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)
