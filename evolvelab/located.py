"""Read YAML safely: plain data plus the line and column of every key and value.

Pipeline files and evolve specs are read here. :mod:`evolvelab._compose` turns the text
into a node graph (refusing deep nesting, recursive aliases and alias bombs without
expanding anything); walking it once yields plain data, the position of every key and
value, duplicate keys (which PyYAML would silently collapse), and ``{$env: NAME}``
references resolved from the environment.

Only plain YAML is accepted: mappings, lists, strings, numbers, booleans, null and dates.
Everything else is refused with a located problem rather than a traceback or a silent
surprise:

- tags other than the standard ``!!str !!int !!float !!bool !!null !!map !!seq
  !!timestamp`` (so ``!foo``, ``!!python/name:...``, ``!!binary``, ``!!set``);
- values a tag cannot hold (``!!int foo``), impossible dates (``2023-02-30``), integers
  beyond 64 bits, and floats that overflow to infinity (``1.0e+999``; ``.inf`` is fine);
- bytes that are not UTF-8 and characters YAML forbids (NUL, lone surrogates);
- nesting deeper than :data:`MAX_DEPTH`, aliases that contain themselves, and documents
  of more than :data:`MAX_VALUES` values, aliases expanded (counted, never expanded);
- files larger than :data:`MAX_BYTES`, and files with no document at all.

Merge keys are supported: ``<<: *defaults`` (or a list of aliases) copies the keys the
mapping does not set itself, as in YAML 1.1.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evolvelab._compose import MAX_DEPTH, MAX_VALUES, Refused, compose
from evolvelab.errors import ConfigError, Problem

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "Located", "parse_yaml", "read_yaml_file"]

MAX_BYTES = 256 << 10
"""Largest file accepted: 256 KiB (a pipeline is a few KiB)."""

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_TIMESTAMP, _MERGE, _MAP, _SEQ = (_TAG + t for t in ("timestamp", "merge", "map", "seq"))
_SCALAR_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP}
_INT_BITS = 63
_MAX_NUMBER_CHARS = 80
_REFUSED = (
    "EvolveLab reads plain YAML: mappings, lists, strings, numbers, booleans, null, dates"
)


@dataclass
class Located:
    """Parsed YAML: plain data plus the position of every key and value.

    Positions are 1-based ``(line, col)``; ``keys`` holds the position of a mapping key,
    ``values`` the position of the value under that path.
    """

    file: str
    data: Any
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unresolved: set[Path_] = field(default_factory=set)
    """Paths whose value could not be read (already reported; validation stays quiet)."""
    from_env: set[Path_] = field(default_factory=set)
    """Paths whose value came from the environment: never echoed in error text."""
    empty: bool = False
    """The text held no YAML document at all (empty, or only comments)."""

    def problem(
        self, path: Path_, message: str, *, at_key: bool = False, **kw: Any
    ) -> Problem:
        """Make a problem positioned at ``path`` (its key, or its value, or the nearest parent)."""
        probe = path
        while True:
            table = self.keys if at_key and probe in self.keys else self.values
            if probe in table:
                line, col = table[probe]
                return Problem(self.file, path, message, line=line, col=col, **kw)
            if not probe:
                return Problem(self.file, path, message, **kw)
            probe = probe[:-1]

    def empty_problem(self, what: str) -> Problem:
        """The problem for a file with no document: ``what`` says what it should hold."""
        return Problem(self.file, (), f"the file is empty; {what}", line=1, col=1)


def _mark(node: yaml.Node | yaml.Event) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Walker:
    """Turn an acyclic, size-checked node graph into plain data and positions."""

    _bools = yaml.SafeLoader.bool_values

    def __init__(self, out: Located) -> None:
        self.out = out
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, path: Path_, message: str, *hints: str) -> None:
        self.out.problems.append(Problem(self.out.file, path, message, *_mark(node), hints=hints))
        self.out.unresolved.add(path)

    def refuse(self, node: yaml.Node, path: Path_, shape: str) -> None:
        standard = node.tag in (_SCALAR_TAGS | {_MAP, _SEQ})
        why = f"cannot tag {shape}" if standard else "is not supported"
        self.fail(node, path, f"tag {_tag(node.tag)} {why}", _REFUSED)

    def walk(self, node: yaml.Node, path: Path_) -> Any:
        out = self.out
        out.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                return self.refuse(node, path, "a mapping")
            keys = [k.value if isinstance(k, yaml.ScalarNode) else None for k, _ in node.value]
            if keys == ["$env"] or (set(keys) == {"$env", "default"} and len(keys) == 2):
                return self.env(node, path)
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                return self.refuse(node, path, "a list")
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def pairs(self, node: yaml.MappingNode, path: Path_) -> list[tuple[yaml.Node, yaml.Node]]:
        """The mapping's own pairs, then those its merge keys (``<<``) bring in."""
        own: list[tuple[yaml.Node, yaml.Node]] = []
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        merges = 0
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                own.append((key_node, value_node))
                continue
            merges += 1
            if merges > 1:
                self.fail(key_node, path, "a mapping may have one merge key (<<); list the "
                          "mappings to merge instead: <<: [*a, *b]")  # fmt: skip
                continue
            listed = isinstance(value_node, yaml.SequenceNode)
            sources = value_node.value if listed else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode) or source.tag != _MAP:
                    self.fail(source, path, "a merge key (<<) takes a mapping or a list of "
                              "mappings, e.g. <<: *defaults")  # fmt: skip
                    continue
                merged.extend(self.pairs(source, path))
        return own + merged

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        out = self.out
        result: dict[str, Any] = {}
        first: dict[str, int] = {}
        pairs = self.pairs(node, path)
        own = {id(k) for k, _ in node.value}
        for key_node, value_node in pairs:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                out.problems.append(
                    Problem(out.file, path, "mapping keys must be plain scalars", *_mark(key_node))
                )
                continue
            if key_node.tag == _NULL:
                out.problems.append(
                    Problem(out.file, path, "a mapping key is empty or null", *_mark(key_node))
                )
                continue
            key = key_node.value
            if not _is_text(key):
                out.problems.append(Problem(out.file, path, "a mapping key holds a lone "
                                            "surrogate escape", *_mark(key_node)))  # fmt: skip
                continue
            if key in first:
                if id(key_node) in own:
                    out.problems.append(
                        Problem(out.file, (*path, key),
                                f"key '{key}' appears twice (first at line {first[key]})",
                                *_mark(key_node))
                    )  # fmt: skip
                continue  # a merged key the mapping (or an earlier merge) already set
            first[key] = _mark(key_node)[0]
            out.keys[(*path, key)] = _mark(key_node)
            result[key] = self.walk(value_node, (*path, key))
        return result

    def scalar(self, node: yaml.Node, path: Path_) -> Any:
        tag, text = node.tag, str(node.value)
        if not _is_text(text):
            return self.fail(node, path, "text holds a lone surrogate escape (like \\ud800), "
                             "which is not a character")  # fmt: skip
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            if text.lower() in self._bools:
                return self._bools[text.lower()]
            return self.fail(node, path, f"{text[:40]!r} is not a boolean (true or false)")
        if tag == _INT:
            return self.integer(node, path, text)
        if tag == _FLOAT:
            try:
                value = self.constructor.construct_yaml_float(node)
            except (ValueError, IndexError):
                return self.fail(node, path, f"{text[:40]!r} is not a number")
            if math.isinf(value) and "inf" not in text.lower():
                return self.fail(node, path, f"number {text[:40]} is too large",
                                 "quote it if it is text; write .inf for infinity")  # fmt: skip
            return value
        if tag == _TIMESTAMP:
            try:
                return self.constructor.construct_yaml_timestamp(node)
            except (ValueError, AttributeError, OverflowError) as err:
                reason = f" ({err})" if isinstance(err, ValueError) else ""
                return self.fail(node, path, f"{text[:40]!r} is not a valid date{reason}",
                                 "quote it if it is text")  # fmt: skip
        return self.refuse(node, path, "a scalar")

    def integer(self, node: yaml.Node, path: Path_, text: str) -> Any:
        if len(text.replace("_", "")) > _MAX_NUMBER_CHARS:
            return self.fail(node, path, f"integer {text[:20]}... is too large (over 64 bits)",
                             "quote it if it is text")  # fmt: skip
        try:
            value = self.constructor.construct_yaml_int(node)
        except (ValueError, IndexError):
            return self.fail(node, path, f"{text[:40]!r} is not an integer")
        if abs(value) >= 1 << _INT_BITS:
            return self.fail(node, path, f"integer {text} is too large (over 64 bits)",
                             "quote it if it is text")  # fmt: skip
        return value

    def env(self, node: yaml.MappingNode, path: Path_) -> Any:
        out = self.out
        spec = {k.value: v for k, v in node.value}
        name_node = spec["$env"]
        name = name_node.value if isinstance(name_node, yaml.ScalarNode) else None
        if not name or not isinstance(name, str):
            out.problems.append(Problem(out.file, path, "$env needs the name of an environment "
                                        "variable", *_mark(node)))  # fmt: skip
            return None
        if name in os.environ:
            out.from_env.add(path)
            return os.environ[name]
        if "default" in spec:
            return self.walk(spec["default"], path)
        out.unresolved.add(path)
        out.problems.append(
            Problem(out.file, path, f"environment variable '{name}' is not set", *_mark(name_node),
                    hints=("set it, or give a default: {$env: NAME, default: VALUE}",))
        )  # fmt: skip
        return None


def _is_text(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (escapes like ``"\\ud800"`` make it fail)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _tag(tag: str) -> str:
    """Write a tag as the YAML source would: ``!!binary``, ``!foo``."""
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def parse_yaml(text: str, file: str = "<string>") -> Located:
    """Parse YAML text into data and positions, refusing what is not plain YAML.

    Problems inside the document (unsupported tags, impossible values, duplicate keys,
    unset ``$env`` variables) are collected in ``Located.problems``; problems that stop
    the reading (syntax, nesting, alias bombs, size) raise at once.

    Raises:
        ConfigError: on a YAML syntax error, a file too large, too deep, or an alias
            expansion too big — each with its position.
    """
    out = Located(file=file, data=None)
    if len(text) > MAX_BYTES:
        raise ConfigError([Problem(file, (), f"file is larger than {MAX_BYTES:,} characters")])
    try:
        root = compose(text)
    except Refused as err:
        message = f"invalid YAML: {err.message}"
        raise ConfigError([Problem(file, (), message, line=err.line, col=err.col)]) from err
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = f"invalid YAML: {err.problem or err.context}"
        raise ConfigError([Problem(file, (), message, line=line, col=col)]) from err
    except yaml.YAMLError as err:
        raise ConfigError([Problem(file, (), f"invalid YAML: {err}", line=1, col=1)]) from err
    if root is None:
        out.data, out.empty = {}, True
        return out
    out.data = _Walker(out).walk(root, ())
    return out


def read_yaml_file(source: str | Path) -> str:
    """Read a YAML file as UTF-8 text (a leading byte-order mark is dropped).

    Raises:
        ConfigError: if the file cannot be read, is too large, or is not UTF-8 (with the
            line and column of the first bad byte).
    """
    path = Path(source)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise ConfigError([Problem(str(source), (), f"cannot read file: {err.strerror}")]) from err
    if len(raw) > MAX_BYTES:
        raise ConfigError([Problem(str(source), (), f"file is larger than {MAX_BYTES:,} bytes")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        start = raw.rfind(b"\n", 0, err.start) + 1
        col = len(raw[start : err.start].decode("utf-8", "replace")) + 1
        hint = "save it as UTF-8" + (
            " (it looks like UTF-16)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        )
        problem = Problem(
            str(source), (), f"not UTF-8 text: byte {raw[err.start]:#04x} cannot be decoded",
            line=line, col=col, hints=(hint,),
        )  # fmt: skip
        raise ConfigError([problem]) from err
