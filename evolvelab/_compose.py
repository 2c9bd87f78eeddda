"""Compose YAML text into a node graph, refusing what could hang or exhaust the reader.

The events come from libyaml (PyYAML's C parser) when it is installed, else from PyYAML's
pure-Python parser: the same events, about ten times faster. The composer is this
module's own and iterative, so it never recurses, and it refuses, with the position:

- nesting deeper than :data:`MAX_DEPTH` (the top level counts as 1), and documents of
  more than :data:`MAX_VALUES` values (reading costs about 10 µs a value);
- an alias inside its own anchor (``a: &a [*a]``), which would never end;
- aliases that expand to more than :data:`MAX_VALUES` values (the "billion laughs"), by
  counting on the node graph, where each anchored node exists once, never by expanding;
- aliases that nest the expanded document deeper than :data:`MAX_DEPTH`;
- characters YAML forbids, and more than one document.

Node tags are resolved as PyYAML's safe loader does; what a tag may mean is decided by
the caller (:mod:`evolvelab.located`).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_DEPTH", "MAX_VALUES", "Refused", "compose"]

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists accepted (the top level is 1), aliases expanded."""
MAX_VALUES = 10_000
"""Most values (scalars, lists, mappings) a document may hold, aliases expanded (a
pipeline holds about a hundred)."""


class Refused(Exception):
    """The text cannot be read: ``message`` at 1-based ``line`` and ``col``."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message, self.line, self.col = message, line, col

    @classmethod
    def at(cls, message: str, mark: Any) -> Refused:
        return cls(message, mark.line + 1, mark.column + 1)


class _PyParser(yaml.SafeLoader):
    """PyYAML's pure-Python parser, with flow nesting capped while scanning.

    Each open bracket keeps a possible simple key pending, which makes the scanner
    quadratic in the flow depth; stopping at the limit keeps a ``[[[[...`` line cheap.
    """

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise Refused.at(f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(token_class)  # type: ignore[misc]


_PARSER: Any = getattr(yaml, "CSafeLoader", None) or _PyParser
_RESOLVER = yaml.resolver.Resolver()


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _check_text(text: str) -> None:
    """Refuse lone surrogates up front (libyaml takes only encodable text)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        code = ord(text[err.start])
        message = f"character U+{code:04X} is not allowed in YAML"
        raise Refused(message, *_position(text, err.start)) from err


class _Builder:
    """Turn the event stream into nodes, with the checks listed in the module docstring."""

    def __init__(self) -> None:
        self.root: yaml.Node | None = None
        self.documents = 0
        self.anchors: dict[str, yaml.Node] = {}
        self.open: set[str] = set()
        self.stack: list[list[Any]] = []  # [node, anchor, pending mapping key]
        self.alias_uses: list[tuple[yaml.Node, Any, str]] = []
        self.values = 0

    def count(self, event: Any) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise Refused.at(f"the document holds more than {MAX_VALUES:,} values",
                             event.start_mark)  # fmt: skip

    def attach(self, node: yaml.Node) -> None:
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        parent = frame[0]
        if isinstance(parent, yaml.SequenceNode):
            parent.value.append(node)
        elif frame[2] is None:
            frame[2] = node
        else:
            parent.value.append((frame[2], node))
            frame[2] = None

    def anchor(self, event: Any, node: yaml.Node) -> None:
        if event.anchor is None:
            return
        if event.anchor in self.anchors:
            first = self.anchors[event.anchor].start_mark.line + 1
            raise Refused.at(f"anchor &{event.anchor} is defined twice (first at line {first})",
                             event.start_mark)  # fmt: skip
        self.anchors[event.anchor] = node

    def feed(self, event: Any) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise Refused.at("a second document ('---'); a file holds one", event.start_mark)
        elif isinstance(event, yaml.AliasEvent):
            name = str(event.anchor)
            if name not in self.anchors:
                message = f"alias *{name} names no anchor (&{name}) above it"
                raise Refused.at(message, event.start_mark)
            if name in self.open:
                raise Refused.at(f"alias *{name} is inside its own anchor &{name} "
                                 "(a recursive alias)", event.start_mark)  # fmt: skip
            self.alias_uses.append((self.anchors[name], event.start_mark, name))
            self.attach(self.anchors[name])
        elif isinstance(event, yaml.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
            self.count(event)
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            self.anchor(event, node)
            self.attach(node)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(self.stack) >= MAX_DEPTH:
                raise Refused.at(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
            self.count(event)
            sequence = isinstance(event, yaml.SequenceStartEvent)
            kind = yaml.SequenceNode if sequence else yaml.MappingNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = _RESOLVER.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            self.anchor(event, node)
            self.attach(node)
            self.stack.append([node, event.anchor, None])
            if event.anchor is not None:
                self.open.add(event.anchor)
        elif isinstance(event, yaml.CollectionEndEvent):
            node, anchor, _ = self.stack.pop()
            node.end_mark = event.end_mark
            self.open.discard(anchor)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded(root: yaml.Node) -> tuple[dict[int, int], dict[int, int]]:
    """Return each node's expanded size and depth, without expanding anything.

    The graph is acyclic (recursive aliases were refused), so memoising by node identity
    makes this linear in the number of distinct nodes; sizes are capped just above
    :data:`MAX_VALUES`. Iterative, so alias chains cannot exhaust the Python stack.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        children = _children(node)
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in size)
            continue
        size[id(node)] = min(MAX_VALUES + 1, 1 + sum(size[id(c)] for c in children))
        depth[id(node)] = 1 + max((depth[id(c)] for c in children), default=0)
    return size, depth


def _check_expansion(root: yaml.Node, alias_uses: list[tuple[yaml.Node, Any, str]]) -> None:
    """Refuse alias bombs and alias chains nested too deep (located at the alias)."""
    if not alias_uses:
        return
    size, depth = _expanded(root)
    if size[id(root)] <= MAX_VALUES and depth[id(root)] <= MAX_DEPTH + 1:
        return
    node, mark, anchor = max(alias_uses, key=lambda use: size[id(use[0])])
    if size[id(root)] > MAX_VALUES:
        count = size[id(node)]
        stands = f"more than {MAX_VALUES:,}" if count > MAX_VALUES else f"{count:,}"
        raise Refused.at(
            f"aliases expand this document past {MAX_VALUES:,} values (*{anchor} alone "
            f"stands for {stands}); refused without expanding it",
            mark,
        )
    raise Refused.at(f"aliases nest this document deeper than {MAX_DEPTH} levels", mark)


def compose(text: str) -> yaml.Node | None:
    """Compose ``text`` into a node graph (``None`` when it holds no document).

    Raises:
        Refused: for the limits above and characters YAML forbids.
        yaml.MarkedYAMLError: for YAML syntax errors (with their marks).
    """
    _check_text(text)
    builder = _Builder()
    parser = None
    try:
        parser = _PARSER(text)
        while parser.check_event():
            builder.feed(parser.get_event())
    except yaml.reader.ReaderError as err:
        code = err.character if isinstance(err.character, int) else ord(err.character)
        index = err.position
        if _PARSER is not _PyParser:  # libyaml counts bytes
            index = len(text.encode("utf-8")[: err.position].decode("utf-8", "ignore"))
        message = f"character U+{code:04X} is not allowed in YAML"
        raise Refused(message, *_position(text, index)) from err
    finally:
        if parser is not None:
            parser.dispose()
    if builder.root is not None:
        _check_expansion(builder.root, builder.alias_uses)
    return builder.root
