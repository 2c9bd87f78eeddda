"""Derive a search space from base pipelines, the registry and the evolve spec's entries.

Each stage field declared with ``Tunable`` becomes a parameter (unless ``declared`` is
off); the spec's ``space`` entries narrow (``{low, high}``, ``{choices}``), pin
(``{value}``), add fields, or add structure (``X.type``, ``X.enabled``, channel subsets).
Declared ranges are stretched to hold the base's own value, so the base is always a point
of its space; a range the spec gives is kept as written. A field declared
``Tunable(..., when={...})`` keeps its condition (the trial asks for it only where the
condition holds), and is not searched at all where the branch can never meet it (its
controlling field fixed to another value). See ``docs/evolve.md``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

import yaml
from pydantic import ValidationError

from evolvelab.config import StageConfig, Tunable, condition_holds
from evolvelab.describe import tunable_of
from evolvelab.errors import ConfigError, Problem, closest, format_path
from evolvelab.loader import SLOT_KINDS, load_pipeline
from evolvelab.search.conditions import (
    controllers_first,
    declared_condition,
    met_context,
    possible_values,
    yaml_text,
)
from evolvelab.search.keys import ProblemAt, SpaceKey, parse_keys
from evolvelab.search.param import Param
from evolvelab.search.space import LISTS, ORDER, BaseSpace, Branch, FieldSearch, Slot, Space

if TYPE_CHECKING:
    from evolvelab.registry import Registry
    from evolvelab.search.spec import SpaceEntry

__all__ = ["build_space"]


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _describe_field(model: type[StageConfig], name: str) -> tuple[bool, Any]:
    """Return (is_list, value type) of a config field."""
    annotation = _strip_optional(model.model_fields[name].annotation)
    if get_origin(annotation) is list:
        return True, (get_args(annotation) or (Any,))[0]
    return False, annotation


class _Builder:
    """Grow one base's slots and branches from the registry and the spec's entries."""

    def __init__(
        self,
        registry: Registry,
        keys: list[SpaceKey],
        declared: bool,
        several: bool,
        problem: ProblemAt,
        problems: list[Problem],
    ) -> None:
        self.registry, self.keys, self.declared, self.several = registry, keys, declared, several
        self.problem, self.problems = problem, problems

    def grow(self, base: BaseSpace) -> None:
        spec: Any = base.spec
        for name in ORDER[3:]:
            value = getattr(spec, name, None)
            configs = list(value) if name in LISTS else [value]
            for i, config in enumerate(configs):
                if config is None:
                    continue
                index = i if name in LISTS else None
                raw = base.raw.get(name)
                start = raw[i] if name in LISTS else raw
                slot = Slot(name, index, SLOT_KINDS[name], config.type, [config.type])
                slot.branches[config.type] = Branch(
                    config.type, dict(start or {"type": config.type}), config
                )
                base.slots.append(slot)
        for key in self._mine(base):
            if key.rest in (("type",), ("enabled",)):
                self._structure(base, key)
        for slot in base.slots:
            for option in slot.options:
                if option is not None:
                    self._branch(base, slot, option)

    def _mine(self, base: BaseSpace) -> list[SpaceKey]:
        return [k for k in self.keys if k.base in (None, base.label)]

    def _name(
        self, base: BaseSpace, path: tuple[str | int, ...], slot: Slot | None, type_: str | None
    ) -> str:
        name = format_path(path)
        if slot is not None and slot.choice is not None and not slot.toggle and type_:
            name += f" ({type_})"
        return f"{base.label}:{name}" if self.several else name

    def _fail(self, key: SpaceKey, message: str, **kw: Any) -> None:
        self.problems.append(self.problem(key.key, message, **kw))

    def _structure(self, base: BaseSpace, key: SpaceKey) -> None:
        key.used = True
        slots = [s for s in base.slots if s.name == key.slot]
        slot = next((s for s in slots if s.index == key.index), None)
        kind = SLOT_KINDS.get(key.slot)
        if kind is None:
            return self._fail(key, f"unknown slot '{key.slot}'", allowed=tuple(SLOT_KINDS))
        if slot is None:
            expected = len(slots) if key.slot in LISTS else None
            if (
                key.rest != ("type",)
                or key.index != expected
                or (key.slot not in LISTS and key.slot != "graph")
            ):
                where = f"{key.slot}[{expected}]" if expected is not None else key.slot
                return self._fail(
                    key,
                    f"no such stage in base '{base.label}'; a new optional stage "
                    f"is added with {where}.type: {{choices: [null, ...]}}",
                )
            slot = Slot(key.slot, key.index, kind, None, [None])
            base.slots.append(slot)
            base.slots.sort(key=lambda s: (ORDER.index(s.name), s.index or 0))
        entry = key.entry
        if key.rest == ("enabled",):
            if slot.name not in (*LISTS, "graph") or slot.base_type is None:
                return self._fail(
                    key,
                    "only a base stage of encode, retrieve, manage or graph can be switched off",
                )
            values = [entry.value] if entry.pinned else list(entry.choices or [])
            if any(not isinstance(v, bool) for v in values):
                return self._fail(key, "enabled takes true and false", allowed=("true", "false"))
            slot.options = [slot.base_type if v else None for v in dict.fromkeys(values)]
            if len(values) > 1:
                slot.toggle = True
                slot.choice = Param(
                    self._name(base, (*slot.path, "enabled"), None, None),
                    choices=tuple(dict.fromkeys(values)),
                )
            return None
        values = [entry.value] if entry.pinned else list(entry.choices or [])
        if entry.choices is None and not entry.pinned:
            return self._fail(key, "a slot's type takes {choices: [...]} or {value: TYPE}")
        names = self.registry.names(kind)
        for value in values:
            if value is None and slot.name in ("store", "embedder", "llm"):
                return self._fail(key, f"the {slot.name} slot cannot be empty (null)")
            if value is not None and value not in names:
                return self._fail(
                    key,
                    f"unknown {kind} type '{value}'",
                    allowed=tuple(names),
                    suggestion=closest(str(value), names),
                )
        slot.options = list(dict.fromkeys(values))
        if len(slot.options) > 1:
            slot.choice = Param(
                self._name(base, (*slot.path, "type"), None, None), choices=tuple(slot.options)
            )
        return None

    def _branch(self, base: BaseSpace, slot: Slot, type_: str) -> None:
        entry_cls = self.registry.get(slot.kind, type_).cls
        model = entry_cls.config_model
        branch = slot.branches.get(type_)
        if branch is None:
            try:
                branch = Branch(type_, {"type": type_}, model())
            except ValidationError as err:
                needed = sorted({str(e["loc"][0]) for e in err.errors() if e["loc"]})
                key = format_path((*slot.path, "type"))
                message = f"type '{type_}' needs {', '.join(needed)}: it cannot fill a slot as is"
                self.problems.append(self.problem(key, message))
                return
            slot.branches[type_] = branch
        is_base = type_ == slot.base_type
        mine = [
            k
            for k in self._mine(base)
            if (k.slot, k.index) == (slot.name, slot.index)
            and k.rest not in (("type",), ("enabled",))
            and k.type in (None, type_)
        ]
        fields = [f for f in model.model_fields if f != "type"]
        if "channels" in fields and "weights" in fields:
            branch.universe = list(getattr(branch.current, "channels", []) or [])
            for key in mine:
                if key.rest == ("channels",) and key.entry.choices:
                    for choice in key.entry.choices:
                        for channel in choice if isinstance(choice, list) else []:
                            if channel not in branch.universe:
                                branch.universe.append(channel)
        for key in mine:
            if key.rest[0] not in fields:
                if key.type is None and len(slot.options) > 1:
                    continue  # another branch of this slot may have the field
                key.used = True
                self._fail(
                    key,
                    f"unknown field for {slot.kind} '{type_}'",
                    allowed=tuple(fields),
                    suggestion=closest(str(key.rest[0]), fields),
                )
        if branch.universe is not None and "settings" in fields:
            fields.remove("settings")
            self._channel_settings(
                base, slot, branch, [k for k in mine if k.rest[0] == "settings"], is_base
            )
        for name in fields:
            keys = [k for k in mine if k.rest[0] == name]
            tunable = tunable_of(model.model_fields[name]) if self.declared else None
            if tunable is None and not keys:
                continue
            for key in keys:
                key.used = True
            self._field(base, slot, branch, model, name, tunable, keys, is_base)
        branch.fields.sort(key=lambda f: len(f.path))
        self._conditions(slot, branch, model, mine)
        _drop_conflicts(branch, entry_cls, self.registry, {str(k.rest[0]) for k in mine})
        self._check_named(branch, model, mine)

    def _conditions(
        self, slot: Slot, branch: Branch, model: type[StageConfig], mine: list[SpaceKey]
    ) -> None:
        """Attach each field's ``Tunable(when=...)``; drop fields the branch never uses.

        The condition is the field's own, declared by the stage (also when the spec names
        the field, or ``declared`` is off). A field whose condition no value its
        controlling fields can take here meets (``rrf_k`` with ``fusion`` fixed to
        ``score``) is not searched; a spec entry naming such a field is a problem. One
        that every trial meets becomes an ordinary parameter. The rest are ordered
        controllers first, so a trial decides ``fusion`` before it is asked for ``rrf_k``.
        """
        named = {k.rest: k for k in mine}
        kept: list[FieldSearch] = []
        for item in branch.fields:
            item.when = declared_condition(item.path, model, self.registry)
            if not item.when:
                kept.append(item)
                continue
            fixed = possible_values(branch, item, self.registry)
            meets = {
                n: [condition_holds({n: allowed}, {n: v}) for v in values]
                for n, allowed in item.when.items()
                if (values := fixed.get(n)) is not None
            }
            if len(meets) == len(item.when) and all(all(m) for m in meets.values()):
                item.when = None  # every trial here meets it: an ordinary parameter
            if any(not any(m) for m in meets.values()):
                key = named.get(item.path) or named.get(item.path[:1])
                if key is not None:
                    needs = " and ".join(
                        f"{n}: {' or '.join(map(yaml_text, v))}" for n, v in item.when.items()
                    )
                    fields = ", ".join(item.when)
                    self._fail(
                        key,
                        f"{format_path((*slot.path, *item.path))} has no effect here: the "
                        f"stage uses it only with {needs}, which no trial of this space has "
                        f"(search or set {fields} too)",
                    )
                continue
            kept.append(item)
        branch.fields = controllers_first(kept)

    def _channel_settings(
        self, base: BaseSpace, slot: Slot, branch: Branch, keys: list[SpaceKey], is_base: bool
    ) -> None:
        """Search the settings of a fusing stage's channels (``hybrid``'s ``settings``).

        Each channel type the stage may use (its ``universe``) brings its own ``Tunable``
        fields, ``k`` aside (the stage's ``candidates`` sets it), as parameters named
        ``retrieve[0].settings.bm25.content_weight``; spec entries of that form narrow,
        pin or add them. A trial asks for them only when it uses the channel.
        """
        retrievers = self.registry.names("retriever")
        current: dict[str, dict[str, Any]] = dict(getattr(branch.current, "settings", {}) or {})
        by_path: dict[tuple[str | int, ...], SpaceKey] = {}
        for key in keys:
            key.used = True
            channel = key.rest[1] if len(key.rest) > 1 else None
            if len(key.rest) != 3 or channel not in branch.universe:  # type: ignore[operator]
                self._fail(
                    key,
                    "name one channel's field: settings.CHANNEL.FIELD",
                    allowed=tuple(f"settings.{c}" for c in branch.universe or ()),
                )
                continue
            model = self.registry.get("retriever", str(channel)).cls.config_model
            names = [f for f in model.model_fields if f not in ("type", "k")]
            if key.rest[2] not in names:
                self._fail(
                    key,
                    f"unknown field for channel '{channel}'",
                    allowed=tuple(names),
                    suggestion=closest(str(key.rest[2]), names),
                )
                continue
            by_path[key.rest] = key
        for channel in branch.universe or ():
            if channel not in retrievers:
                continue
            model = self.registry.get("retriever", channel).cls.config_model
            for name, info in model.model_fields.items():
                if name in ("type", "k"):
                    continue
                key = by_path.get(("settings", channel, name))
                tunable = tunable_of(info) if self.declared else None
                if tunable is None and key is None:
                    continue
                _, value_type = _describe_field(model, name)
                value = current.get(channel, {}).get(
                    name, info.get_default(call_default_factory=True)
                )
                path = ("settings", channel, name)
                param = self._param(
                    base, slot, branch, path, tunable, key, value_type, value, is_base
                )
                if param is not None:
                    branch.fields.append(param)

    def _check_named(self, branch: Branch, model: type[StageConfig], mine: list[SpaceKey]) -> None:
        """Refuse spec values the field itself rejects, before any trial runs.

        Each named field's pinned value, every choice, or its range's two ends (as the
        sampler decodes them) is validated alone in the base stage's config; one that
        fails would fail every trial that draws it.
        """
        by_path = {k.rest: k for k in mine}
        for item in branch.fields:
            key = by_path.get(item.path)
            if key is None or not 1 <= len(item.path) <= 2:
                continue
            name = str(item.path[0])
            if item.param is None:
                values = [item.pinned]
            elif item.param.choices is not None:
                values = list(item.param.choices)
            else:
                values = [item.param.decode(item.param.low), item.param.decode(item.param.high)]
            for value in values:
                if len(item.path) == 2:  # one item of a list: validate the list holding it
                    whole = list(getattr(branch.current, name, None) or [])
                    index = int(item.path[1])
                    if branch.universe is not None or index >= len(whole):
                        break
                    whole[index] = value
                    update: Any = whole
                else:
                    update = value
                context = met_context([item], {name: update}, branch.current) or {name: update}
                try:
                    model.model_validate({**branch.start, **context})
                except ValidationError as err:
                    first = err.errors(include_url=False)[0]
                    if first["loc"] and first["loc"][0] != name:
                        continue  # the base stage's own problem, reported elsewhere
                    self._fail(key, f"{value!r} is not a valid value for {name}: {_msg(first)}")
                    break

    def _field(
        self,
        base: BaseSpace,
        slot: Slot,
        branch: Branch,
        model: type[StageConfig],
        name: str,
        tunable: Tunable | None,
        keys: list[SpaceKey],
        is_base: bool,
    ) -> None:
        is_list, value_type = _describe_field(model, name)
        whole = next((k for k in keys if len(k.rest) == 1), None)
        items = {int(k.rest[1]): k for k in keys if len(k.rest) == 2}
        current = getattr(branch.current, name)
        itemised = is_list and (
            whole is None or (whole.entry.choices is None and not whole.entry.pinned)
        )
        if not itemised:
            param = self._param(
                base, slot, branch, (name,), tunable, whole, value_type, current, is_base
            )
            if param is not None:
                branch.fields.append(param)
            return
        where = format_path((*slot.path, name))
        if value_type not in (int, float):
            for key in keys:
                self._fail(
                    key,
                    f"{where} is a list of {getattr(value_type, '__name__', value_type)}: "
                    "give choices of whole lists",
                )
            return
        if branch.universe is not None and name == "weights":
            count = len(branch.universe)
            weights = dict(
                zip(getattr(branch.current, "channels", []), current or [], strict=False)
            )
            values = [weights.get(channel, 1.0) for channel in branch.universe]
        else:
            values = list(current or [])
            count = len(values)
        if count == 0 and whole is not None:
            self._fail(whole, f"{where} is empty here: there is no item to search")
        for i in sorted(set(range(count)) | set(items)):
            if i >= count:
                self._fail(items[i], f"{name} has {count} item(s) here; index {i} is out of range")
                continue
            param = self._param(
                base,
                slot,
                branch,
                (name, i),
                tunable,
                items.get(i) or whole,
                value_type,
                values[i],
                is_base,
            )
            if param is not None:
                branch.fields.append(param)

    def _param(
        self,
        base: BaseSpace,
        slot: Slot,
        branch: Branch,
        path: tuple[str | int, ...],
        tunable: Tunable | None,
        key: SpaceKey | None,
        value_type: Any,
        current: Any,
        is_base: bool,
    ) -> FieldSearch | None:
        if key is not None and key.entry.pinned:
            return FieldSearch(path, None, key.entry.value)
        entry = key.entry if key is not None else None
        spec: dict[str, Any] = {
            "low": None,
            "high": None,
            "log": False,
            "step": None,
            "choices": None,
        }
        if tunable is not None:
            spec.update(
                low=tunable.low,
                high=tunable.high,
                log=tunable.log,
                step=tunable.step,
                choices=tunable.choices,
            )
        if entry is not None:
            if entry.choices is not None:
                spec.update(choices=tuple(entry.choices), low=None, high=None)
            for name in ("low", "high", "log", "step"):
                if getattr(entry, name) is not None:
                    spec[name] = getattr(entry, name)
                    spec["choices"] = None
        numeric = value_type in (int, float)
        where = format_path((*slot.path, *path))
        if spec["choices"] is None and (spec["low"] is None or spec["high"] is None):
            if key is not None:
                need = "low and high" if numeric else "choices"
                self._fail(key, f"{where} has no declared range: give {need}")
            return None
        if spec["choices"] is None and not numeric:
            if key is not None:
                self._fail(key, f"{where} is not a number: give choices")
            return None
        if spec["choices"] is None and spec["low"] > spec["high"]:
            if key is not None:
                self._fail(key, f"low ({spec['low']}) is above high ({spec['high']}) here")
            return None
        if spec["choices"] is None and spec["log"] and spec["low"] <= 0:
            if key is not None:
                self._fail(key, f"a log range needs low > 0 (got {spec['low']})")
            return None
        choices = tuple(spec["choices"]) if spec["choices"] is not None else None
        param = Param(
            self._name(base, (*slot.path, *path), slot, branch.type),
            low=spec["low"],
            high=spec["high"],
            log=bool(spec["log"]),
            step=spec["step"],
            integer=value_type is int and choices is None,
            choices=choices,
        )
        if is_base and key is None:
            param = param.widened(current)
        return FieldSearch(path, param)


def _msg(error: Mapping[str, Any]) -> str:
    from evolvelab.search.spec import error_message

    return error_message(error)


def _corners(param: Param) -> list[Any]:
    """The extreme values of a parameter: its range's ends, or (up to 6 of) its choices."""
    if param.choices is not None:
        return list(param.choices)[:6]
    return [param.decode(param.low), param.decode(param.high)]


def _drop_conflicts(branch: Branch, cls: Any, registry: Registry, named: set[str]) -> None:
    """Stop searching declared fields whose ranges can break the stage's own checks.

    Each field's ``Tunable`` range is declared on its own, but a config may relate two
    fields (``guard``: divergence must not exceed threshold), in its model or in the
    stage's build-time ``check``. Every declared field is tried at the ends of its range,
    alone and against each field kept before it (config validated and checked); a field
    that fails any such pair is left at its value in the base (or its default), so the
    sampler never proposes a stage the config would reject. A conditional field is tried
    with its condition met (its controlling fields set to an allowed value), and a pair
    the conditions never let a trial propose is not tried. A fusing stage's weights and
    settings are fitted to each ``channels`` tried, as a trial fits them. Fields the spec
    names are searched as written.
    """

    def valid(items: list[FieldSearch], update: dict[str, Any]) -> bool:
        full = met_context(items, update, branch.current)
        if full is None:
            return True  # a pair no trial proposes (one's condition rules the other out)
        try:
            config = cls.config_model.model_validate(_fitted(branch, full))
            return not cls.check(config, registry)
        except Exception:  # noqa: BLE001 - any rejection rules the pair out
            return False

    kept: list[FieldSearch] = []
    for item in branch.fields:
        name = str(item.path[0])
        if item.param is None or len(item.path) != 1 or name in named:
            kept.append(item)
            continue
        mine = _corners(item.param)
        others = [o for o in kept if o.param is not None and len(o.path) == 1]
        if all(valid([item], {name: v}) for v in mine) and all(
            valid([item, o], {name: v, str(o.path[0]): w})
            for o in others
            for v in mine
            for w in _corners(o.param)  # type: ignore[arg-type]
        ):
            kept.append(item)
    branch.fields = kept


def _fitted(branch: Branch, update: dict[str, Any]) -> dict[str, Any]:
    """Return the start stage with ``update``, its weights and settings fitted to its channels.

    As a trial does (:mod:`~evolvelab.search.space`): with other ``channels``, a fusing
    stage's ``weights`` follow its channels and ``settings`` keep the chosen channels' only.
    """
    data = {**branch.start, **update}
    if branch.universe is None or "channels" not in update:
        return data
    chosen = list(update["channels"])
    if data.get("weights") is not None and "weights" not in update:
        current = branch.current
        old = dict(zip(current.channels, current.weights or [], strict=False))  # type: ignore[attr-defined]
        data["weights"] = [old.get(c, 1.0) for c in chosen]
    if isinstance(data.get("settings"), Mapping) and "settings" not in update:
        data["settings"] = {c: v for c, v in data["settings"].items() if c in chosen}
    return data


def _default_problem(key: str, message: str, **kw: Any) -> Problem:
    return Problem("<space>", ("space", key), message, **kw)


def build_space(
    bases: list[str | Path],
    registry: Registry,
    *,
    entries: Mapping[str, SpaceEntry] | None = None,
    declared: bool = True,
    problem: ProblemAt = _default_problem,
) -> Space:
    """Derive the search space of ``bases`` from the registry and the spec's entries.

    Args:
        bases: the base pipeline files (each must validate and build).
        registry: the stage types (their ``Tunable`` fields and type names).
        entries: the spec's ``space`` overrides and additions, keyed by parameter name.
        declared: search the ranges the stages declare; ``False``: only ``entries``.
        problem: makes a positioned problem for an entry key (the spec's positions).

    Returns:
        The space.

    Raises:
        ConfigError: for a base that does not validate, or entries that name nothing,
            with every problem at once.
    """
    from evolvelab.pipeline import Memory

    problems: list[Problem] = []
    keys = parse_keys(entries or {}, problem, problems)
    spaces: list[BaseSpace] = []
    for source in bases:
        spec, located = load_pipeline(source, registry)
        Memory(spec, registry=registry, located=located)
        raw = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        label = Path(source).stem
        while label in [b.label for b in spaces]:
            label += "_"
        spaces.append(BaseSpace(label, Path(source), raw, spec))
    builder = _Builder(registry, keys, declared, len(spaces) > 1, problem, problems)
    labels = [b.label for b in spaces]
    for key in keys:
        if key.base is not None and key.base not in labels:
            problems.append(problem(key.key, f"unknown base '{key.base}'", allowed=tuple(labels)))
            key.used = True
    for base in spaces:
        builder.grow(base)
    for key in keys:
        if not key.used:
            problems.append(problem(key.key, "matches no stage field of the base pipeline(s)"))
    if problems:
        raise ConfigError(problems)
    return Space(spaces, registry)
