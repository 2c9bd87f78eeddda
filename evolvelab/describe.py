"""Describe registered types: what each one is, offers, needs, and which fields it takes.

Three places show the registered types to someone: the Markdown reference
(``docs/types.md``, :mod:`evolvelab.reference`), ``evolvelab plugins``
(:mod:`evolvelab.plugin_report`) and the evolver's catalogue for the LLM mutation
operator (:mod:`evolvelab.search.prompts`). They render differently, but they read the
same facts from the same places, here and only here:

* the config model's docstring (its first line is the summary),
* the store capabilities a store class offers (the protocols of
  :data:`~evolvelab.stages.CAPABILITIES` it implements) or a stage class needs (its
  ``requires``, named by :func:`~evolvelab.stages.capability_names`),
* every field but ``type``, in declaration order: its annotation, whether it is required,
  its default (a default factory is called), its description and its
  :class:`~evolvelab.config.Tunable` range.

Example:
    >>> from evolvelab.registry import builtin_registry
    >>> bm25 = next(t for t in describe_types(builtin_registry(), "retriever") if t.name == "bm25")
    >>> bm25.needs
    ('text_search',)
    >>> k = bm25.field("k")
    >>> k.required, k.default, (k.tunable.low, k.tunable.high)
    (False, 20, (5, 100))
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import TYPE_CHECKING, Any, Literal

from pydantic.fields import FieldInfo

from evolvelab.config import Tunable
from evolvelab.stages import CAPABILITIES, capability_names

if TYPE_CHECKING:
    from evolvelab.registry import Entry, Registry

__all__ = ["FieldDescription", "TypeDescription", "describe_field", "describe_type", "describe_types",
           "tunable_of"]  # fmt: skip


def tunable_of(field: FieldInfo) -> Tunable | None:
    """Return the :class:`~evolvelab.config.Tunable` declared on ``field``, or None.

    Example:
        >>> from evolvelab.registry import builtin_registry
        >>> bm25 = builtin_registry().get("retriever", "bm25").cls.config_model
        >>> tunable_of(bm25.model_fields["k"])
        Tunable(low=5, high=100, log=True, step=None, choices=None, when=None)
    """
    return next((item for item in field.metadata if isinstance(item, Tunable)), None)


@dataclasses.dataclass(frozen=True)
class FieldDescription:
    """One field of a config model, as every describer shows it.

    Attributes:
        name: the YAML key.
        annotation: the declared type (``Annotated`` already taken off by pydantic).
        required: whether YAML must set it.
        description: the field's description ("" when it has none).
        tunable: the range the evolver may search, or None when it is not tunable.
        source: the pydantic field itself (for :attr:`default`).
    """

    name: str
    annotation: Any
    required: bool
    description: str
    tunable: Tunable | None
    source: FieldInfo = dataclasses.field(repr=False, compare=False)

    @property
    def default(self) -> Any:
        """Return the value used when YAML leaves the field out (None when it is required).

        A default factory is called on each read, and only then: describing a type whose
        factory fails (a plugin's bug) does not fail where the default is never shown.
        """
        return None if self.required else self.source.get_default(call_default_factory=True)

    @property
    def is_choice(self) -> bool:
        """Whether the field takes one of fixed values (its type is a ``Literal``)."""
        return typing.get_origin(self.annotation) is Literal

    @property
    def plain(self) -> bool:
        """Whether the field is an operational knob: neither tunable nor a choice."""
        return self.tunable is None and not self.is_choice


@dataclasses.dataclass(frozen=True)
class TypeDescription:
    """One registered type, as every describer shows it.

    Attributes:
        kind: ``encoder``, ``store``, ``retriever``, ``manager``, ``embedder`` or ``llm``.
        name: the YAML ``type:``.
        plugin: the name of the plugin that registered it (``evolvelab`` for the built-ins).
        doc: the config model's docstring, cleaned (``inspect.cleandoc``); "" when it has
            none or only whitespace.
        offers: for a store, the capabilities it offers, in :data:`CAPABILITIES` order;
            empty for every other kind.
        needs: for every other kind, the store capabilities it requires; empty for a store.
        fields: every field but ``type``, in declaration order.
    """

    kind: str
    name: str
    plugin: str
    doc: str
    offers: tuple[str, ...]
    needs: tuple[str, ...]
    fields: tuple[FieldDescription, ...]

    @property
    def summary(self) -> str:
        """Return the first line of the docstring ("" when there is none)."""
        return self.doc.splitlines()[0] if self.doc else ""

    def field(self, name: str) -> FieldDescription:
        """Return the field called ``name``.

        Raises:
            KeyError: when the type has no such field.
        """
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.kind} {self.name!r} has no field {name!r}")


def describe_field(name: str, field: FieldInfo) -> FieldDescription:
    """Describe one pydantic field.

    Args:
        name: the field's name (its YAML key).
        field: ``model.model_fields[name]``.

    Returns:
        Its annotation, whether it is required, description, Tunable and (lazily) default.
    """
    return FieldDescription(
        name=name,
        annotation=field.annotation,
        required=field.is_required(),
        description=field.description or "",
        tunable=tunable_of(field),
        source=field,
    )


def describe_type(entry: Entry) -> TypeDescription:
    """Describe one registered type.

    Args:
        entry: the registry's entry (``registry.get(kind, name)``).

    Returns:
        Its docstring, the capabilities it offers (a store) or needs (any other kind) and
        every field but ``type``.
    """
    model: Any = entry.cls.config_model
    if entry.kind == "store":
        offers = tuple(name for name, cap in CAPABILITIES.items() if issubclass(entry.cls, cap))
        needs: tuple[str, ...] = ()
    else:
        offers, needs = (), tuple(capability_names(entry.cls.requires))
    return TypeDescription(
        kind=entry.kind,
        name=entry.name,
        plugin=entry.plugin.name,
        doc=inspect.cleandoc(model.__doc__ or "").strip(),
        offers=offers,
        needs=needs,
        fields=tuple(describe_field(n, f) for n, f in model.model_fields.items() if n != "type"),
    )


def describe_types(registry: Registry, kind: str) -> list[TypeDescription]:
    """Describe every type of one kind that ``registry`` knows.

    Args:
        registry: built-ins plus whichever plugins it was built with.
        kind: one of :data:`~evolvelab.registry.KINDS`.

    Returns:
        One description per registered type, sorted by name.
    """
    return [describe_type(entry) for entry in registry.entries(kind)]
