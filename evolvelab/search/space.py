"""The search space: the pipelines a search may try around one or more base pipelines.

:func:`~evolvelab.search.derive.build_space` grows it from the bases, the registry and the
evolve spec; this module holds what it grows and how a candidate is drawn from it.

A :class:`Space` has one :class:`BaseSpace` per base pipeline; each has :class:`Slot` s
(``retrieve[0]``, ``store``...) whose type options (``null``: the slot stays empty) each
carry a :class:`Branch` of searched fields. Parameter names are YAML paths:
``retrieve[0].k``; `` (type)`` is added when the slot's type is searched
(``retrieve[1].k (neighbours)``), ``label:`` when there are several bases.

Trials are built define-by-run: Optuna is asked only for the parameters that the earlier
choices make relevant: a stage type's fields only when that type fills the slot, a hybrid
channel's settings only when the channel is used, and a field declared
``Tunable(..., when={...})`` only when the trial's stage meets its condition
(``retrieve[0].rrf_k`` only with ``fusion: rrf``). :meth:`Space.params_for` maps a
pipeline back to parameters when the space can express it exactly (the base pipeline, an
LLM proposal).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolvelab.config import PipelineSpec, StageConfig, condition_holds
from evolvelab.errors import ConfigError
from evolvelab.search.conditions import (
    channel_values,
    condition_text,
    keeps_unused,
    stage_values,
)
from evolvelab.search.param import Param

if TYPE_CHECKING:
    from optuna.trial import Trial

    from evolvelab.registry import Registry

__all__ = ["BaseSpace", "Branch", "FieldSearch", "Slot", "Space"]

LISTS = ("encode", "retrieve", "manage")
"""Slots that hold a list of stages."""
ORDER = (
    "version",
    "name",
    "description",
    "embedder",
    "llm",
    "encode",
    "store",
    "graph",
    "retrieve",
    "manage",
)
"""Top-level keys of a pipeline file, in the order new keys are placed."""
Choose = Callable[[Param], Any]


@dataclass
class FieldSearch:
    """One searched (or pinned) field of a branch; ``path`` is inside the stage mapping."""

    path: tuple[str | int, ...]
    param: Param | None
    pinned: Any = None
    when: Mapping[str, tuple[Any, ...]] | None = None
    """The field's condition (its ``Tunable(when=...)``): sibling field -> values."""

    def controller(self, name: str) -> tuple[str | int, ...]:
        """The path of the sibling field ``name`` that the condition reads."""
        return (*self.path[:2], name) if self.path[0] == "settings" else (name,)


@dataclass
class Branch:
    """One type that may fill a slot, with its searched fields."""

    type: str
    start: dict[str, Any]
    current: StageConfig
    fields: list[FieldSearch] = field(default_factory=list)
    universe: list[str] | None = None
    """Channels that ``weights[i]`` params refer to (stages with channels and weights)."""


@dataclass
class Slot:
    """A place in the pipeline: ``retrieve[0]``, ``store``; its type options and branches."""

    name: str
    index: int | None
    kind: str
    base_type: str | None
    options: list[str | None]
    choice: Param | None = None
    toggle: bool = False
    branches: dict[str, Branch] = field(default_factory=dict)

    @property
    def path(self) -> tuple[str | int, ...]:
        """The slot's YAML path."""
        return (self.name,) if self.index is None else (self.name, self.index)


@dataclass
class BaseSpace:
    """The space grown from one base pipeline."""

    label: str
    file: Path
    raw: dict[str, Any]
    spec: PipelineSpec
    slots: list[Slot] = field(default_factory=list)


class Space:
    """The searchable pipelines around one or more bases.

    Build it with :func:`build_space`. :meth:`suggest` draws a candidate from an Optuna
    trial, :meth:`from_params` rebuilds one from stored parameters, and
    :meth:`params_for` maps a pipeline back to parameters (``None`` when the space
    cannot express it exactly).
    """

    def __init__(self, bases: list[BaseSpace], registry: Registry) -> None:
        self.bases = bases
        self.registry = registry
        labels = [b.label for b in bases]
        self.base_param = Param("base", choices=tuple(labels)) if len(bases) > 1 else None

    def params(self) -> list[Param]:
        """Every parameter the space can ask for, in order, each once."""
        found: dict[str, Param] = {}
        if self.base_param is not None:
            found["base"] = self.base_param
        for base in self.bases:
            for slot in base.slots:
                if slot.choice is not None:
                    found.setdefault(slot.choice.name, slot.choice)
                for branch in slot.branches.values():
                    for item in branch.fields:
                        if item.param is not None:
                            found.setdefault(item.param.name, item.param)
        return list(found.values())

    def suggest(self, trial: Trial) -> dict[str, Any]:
        """Draw a candidate pipeline mapping from ``trial`` (define-by-run)."""
        return self.build(lambda param: param.suggest(trial))

    def from_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Rebuild the candidate of stored (Optuna-side) parameter values.

        Raises:
            KeyError: if a parameter the build needs is missing.
        """
        return self.build(lambda param: param.decode(params[param.name]))

    def build(self, choose: Choose) -> dict[str, Any]:
        """Build a candidate mapping, asking ``choose`` for every relevant parameter."""
        base = self.bases[0]
        if self.base_param is not None:
            label = choose(self.base_param)
            base = next(b for b in self.bases if b.label == label)
        out = {
            k: copy.deepcopy(v)
            for k, v in base.raw.items()
            if k not in (*LISTS, "store", "graph", "embedder", "llm")
        }
        stages: dict[str, Any] = {}
        for slot in base.slots:
            if slot.choice is not None:
                picked = choose(slot.choice)
                type_ = (slot.base_type if picked else None) if slot.toggle else picked
            else:
                type_ = slot.options[0]
            if type_ is None:
                continue
            config = _fill(slot.branches[type_], choose, self.registry)
            if slot.index is None:
                stages[slot.name] = config
            else:
                stages.setdefault(slot.name, []).append(config)
        for name in ORDER:
            if name in stages and (
                name in base.raw or stages[name] != {"type": _default_type(base, name)}
            ):
                out[name] = stages[name]
        return {k: out[k] for k in sorted(out, key=lambda k: _position(base.raw, k))}

    def params_for(self, target: PipelineSpec) -> dict[str, Any] | None:
        """Return the parameters that rebuild ``target``, or ``None`` if none do.

        Names and descriptions are ignored; every other value must match exactly.
        """
        from evolvelab.search.render import validate_candidate

        wanted = _content(target)
        for base in self.bases:
            params = self._read(base, target)
            if params is None:
                continue
            try:
                rebuilt = validate_candidate(self.from_params(params), self.registry)
            except (ConfigError, KeyError):
                continue
            if _content(rebuilt) == wanted:
                return params
        return None

    def _read(self, base: BaseSpace, target: PipelineSpec) -> dict[str, Any] | None:
        params: dict[str, Any] = {}
        if self.base_param is not None:
            params["base"] = self.base_param.encode(base.label)
        cursor = dict.fromkeys(LISTS, 0)
        spec: Any = target
        for slot in base.slots:
            if slot.index is None:
                config = getattr(spec, slot.name, None)
            else:
                items = getattr(spec, slot.name)
                at = cursor[slot.name]
                config = items[at] if at < len(items) and items[at].type in slot.options else None
                cursor[slot.name] += config is not None
            type_ = config.type if config is not None else None
            if type_ not in slot.options:
                return None
            if slot.choice is not None:
                params[slot.choice.name] = slot.choice.encode(
                    type_ is not None if slot.toggle else type_
                )
            if config is None:
                continue
            branch = slot.branches[type_]  # type: ignore[index]
            for item in branch.fields:
                if item.param is None:
                    continue
                if item.when and not condition_holds(
                    item.when,
                    {
                        n: _value_at(branch, config, item.controller(n), self.registry)
                        for n in item.when
                    },
                ):
                    continue  # the stage ignores the field here: the trial never asks for it
                value = _value_at(branch, config, item.path, self.registry)
                if value is _ABSENT:
                    continue
                if not item.param.contains(value):
                    return None
                params[item.param.name] = item.param.encode(value)
        if any(cursor[name] < len(getattr(spec, name)) for name in LISTS):
            return None
        return params

    def describe(self) -> list[tuple[str, str]]:
        """Return ``(name, range)`` of every parameter, for tables and docs.

        A conditional parameter's range says when it is asked: ``1..120 log, when fusion: rrf``.
        """
        conditions: dict[str, Mapping[str, tuple[Any, ...]]] = {}
        for base in self.bases:
            for slot in base.slots:
                for branch in slot.branches.values():
                    for item in branch.fields:
                        if item.param is not None and item.when:
                            conditions.setdefault(item.param.name, item.when)
        return [
            (p.name, p.describe() + condition_text(conditions.get(p.name))) for p in self.params()
        ]


_ABSENT = object()


def _value_at(
    branch: Branch, config: StageConfig, path: tuple[str | int, ...], registry: Registry
) -> Any:
    value = getattr(config, str(path[0]))
    if len(path) == 1:
        return value
    if len(path) == 3 and path[0] == "settings":  # a channel's setting, or its default
        channel, name = str(path[1]), str(path[2])
        if channel not in list(config.channels):
            return _ABSENT
        if name in value.get(channel, {}):
            return value[channel][name]
        model = registry.get("retriever", channel).cls.config_model
        return model.model_fields[name].get_default(call_default_factory=True)
    index = int(path[1])
    if branch.universe is not None and path[0] == "weights":
        channels = list(config.channels)
        channel = branch.universe[index]
        if channel not in channels:
            return _ABSENT
        return (value or [1.0] * len(channels))[channels.index(channel)]
    return value[index] if value is not None and index < len(value) else _ABSENT


def _fill(branch: Branch, choose: Choose, registry: Registry) -> dict[str, Any]:
    """Build one stage's mapping, asking ``choose`` for each field the candidate uses.

    Fields come controllers first (the space orders them so), so a conditional field's
    condition is read from the values already decided; where it does not hold the field
    is not asked for, and :func:`~evolvelab.search.conditions.keeps_unused` decides what the candidate keeps of it.
    """
    config = copy.deepcopy(branch.start)
    model = type(branch.current)
    items: dict[str, dict[int, Any]] = {}
    settings: dict[str, dict[str, Any]] = {}
    idle: dict[tuple[str, ...], Mapping[str, tuple[Any, ...]]] = {}
    for item in branch.fields:
        name = str(item.path[0])
        if len(item.path) == 2 and branch.universe is not None and name == "weights":
            channels = config.get("channels", branch.current.channels)
            if branch.universe[int(item.path[1])] not in channels:
                continue
        if len(item.path) == 3 and name == "settings":
            channel, setting = str(item.path[1]), str(item.path[2])
            if channel not in config.get("channels", branch.current.channels):
                continue  # a channel this candidate does not use: nothing to ask
            if item.when and not condition_holds(
                item.when, channel_values(branch, settings, channel, item.when, registry)
            ):
                idle[(channel, setting)] = item.when
                continue
            value = choose(item.param) if item.param is not None else item.pinned
            settings.setdefault(channel, {})[setting] = value
            continue
        if item.when and not condition_holds(item.when, stage_values(config, model, item.when)):
            idle[(name,)] = item.when
            continue
        value = choose(item.param) if item.param is not None else item.pinned
        if len(item.path) == 1:
            _set(config, model, name, value, branch.start)
        else:
            items.setdefault(name, {})[int(item.path[1])] = value
    if branch.universe is not None and ("weights" in config or "weights" in items):
        old = dict(zip(branch.current.channels, branch.current.weights or [], strict=False))
        chosen = config.get("channels", branch.current.channels)
        picked = items.pop("weights", {})
        by_channel = {branch.universe[i]: v for i, v in picked.items()}
        config["weights"] = [by_channel.get(c, old.get(c, 1.0)) for c in chosen]
    if "settings" in type(branch.current).model_fields:
        _set_settings(config, branch, settings, registry, idle)
    for name, values in items.items():
        current = list(getattr(branch.current, name) or [])
        for index, value in values.items():
            current[index] = value
        _set(config, model, name, current, branch.start)
    for where, when in idle.items():
        if len(where) == 1 and not keeps_unused(branch.start, where[0], when, model):
            config.pop(where[0], None)
    return config


def _set_settings(
    config: dict[str, Any],
    branch: Branch,
    drawn: dict[str, dict[str, Any]],
    registry: Registry,
    idle: Mapping[tuple[str, ...], Mapping[str, tuple[Any, ...]]],
) -> None:
    """Merge drawn channel settings into the start's; keep only the chosen channels'.

    A drawn value equal to what the start already says (or, where it says nothing, to
    the channel's own default) is left out, so the base's file is rebuilt as written.
    A setting the channel does not use here (``idle``) keeps the start's value only
    where the start wrote it while unused too (see :func:`~evolvelab.search.conditions.keeps_unused`).
    """
    channels = config.get("channels", branch.current.channels)
    start = copy.deepcopy(branch.start.get("settings") or {})
    merged: dict[str, dict[str, Any]] = {}
    for channel in channels:
        own = dict(start.get(channel) or {})
        for where, when in idle.items():
            if len(where) == 2 and where[0] == channel and where[1] in own:
                model = registry.get("retriever", channel).cls.config_model
                if not keeps_unused(own, where[1], when, model):
                    own.pop(where[1])
        for name, value in drawn.get(channel, {}).items():
            if name in own or value != _channel_default(registry, channel, name):
                own[name] = value
        if own or channel in start:
            merged[channel] = own
    if merged or "settings" in branch.start:
        config["settings"] = merged
    else:
        config.pop("settings", None)


def _channel_default(registry: Registry, channel: str, name: str) -> Any:
    """The value a channel runs with when the settings do not name ``name``."""
    model = registry.get("retriever", channel).cls.config_model
    return model.model_fields[name].get_default(call_default_factory=True)


def _set(
    config: dict[str, Any], model: type[StageConfig], name: str, value: Any, start: dict[str, Any]
) -> None:
    """Set a field, leaving out values equal to the default the user did not write."""
    default = model.model_fields[name].get_default(call_default_factory=True)
    if name not in start and value == default:
        config.pop(name, None)
    else:
        config[name] = value


def _default_type(base: BaseSpace, name: str) -> str | None:
    field_ = type(base.spec).model_fields.get(name)
    default = field_.get_default(call_default_factory=True) if field_ is not None else None
    return getattr(default, "type", None)


def _position(raw: Mapping[str, Any], key: str) -> tuple[int, int]:
    """Sort keys in the base's own order; new keys go where ORDER puts them."""
    keys = list(raw)
    if key in raw:
        return keys.index(key), 0
    rank = ORDER.index(key) if key in ORDER else len(ORDER)
    after = [k for k in keys if k in ORDER and ORDER.index(k) > rank]
    return (keys.index(after[0]) if after else len(keys)), -1 if after else 1


def _content(spec: PipelineSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"name", "description"})
