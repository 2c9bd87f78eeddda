"""Keys of a spec's ``space`` entries: parameter names parsed back into what they target.

A key is a parameter name: ``[base:]slot[index].field[index][ (type)]``, e.g.
``retrieve[0].k``, ``retrieve[0].weights[1]``, ``retrieve[1].window (neighbours)``,
``hybrid:store.bm25_b``; ``slot[index].type`` and ``slot[index].enabled`` name structure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evolvelab.errors import Problem
from evolvelab.search.space import LISTS

if TYPE_CHECKING:
    from evolvelab.search.spec import SpaceEntry

__all__ = ["SpaceKey", "parse_keys"]

ProblemAt = Callable[..., Problem]
_KEY = re.compile(
    r"^(?:(?P<base>[\w.-]+):)?(?P<path>[a-z_]+(?:\[\d+\])?(?:\.\w+(?:\[\d+\])?)*)"
    r"(?: \((?P<type>\w+)\))?$"
)
_PART = re.compile(r"(\w+)|\[(\d+)\]")


@dataclass
class SpaceKey:
    """One parsed ``space`` entry key: which base, slot, field path and type it targets."""

    key: str
    base: str | None
    slot: str
    index: int | None
    rest: tuple[str | int, ...]
    type: str | None
    entry: SpaceEntry
    used: bool = False


def parse_keys(
    entries: Mapping[str, SpaceEntry], problem: ProblemAt, problems: list[Problem]
) -> list[SpaceKey]:
    keys = []
    for key, entry in entries.items():
        match = _KEY.match(key)
        if match is None:
            problems.append(
                problem(
                    key,
                    "not a parameter name; write a YAML path such as "
                    "retrieve[0].k or 'retrieve[0].k (bm25)'",
                )
            )
            continue
        parts: list[str | int] = [int(i) if i else str(w) for w, i in _PART.findall(match["path"])]
        slot = str(parts.pop(0))
        index = parts.pop(0) if parts and isinstance(parts[0], int) else None
        if (
            (slot in LISTS and index is None)
            or (slot not in LISTS and index is not None)
            or not parts
        ):
            problems.append(
                problem(
                    key,
                    f"'{key}' does not name a field of a stage (e.g. retrieve[0].k, store.bm25_b)",
                )
            )
            continue
        keys.append(
            SpaceKey(
                key,
                match["base"],
                slot,
                index if isinstance(index, int) else None,
                tuple(parts),
                match["type"],
                entry,
            )
        )
    return keys
