"""Read JSON strictly: a located error wherever Python's ``json`` accepts too much or crashes.

Python's ``json`` module reads some things a data file should never hold, and fails on
others with an exception that carries no position:

- an integer of more than 4300 digits raises ``ValueError``; any integer outside the
  signed 64-bit range is refused here (stores and other JSON readers cannot keep it);
- a number too large for a float silently becomes ``inf``; refused;
- ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON at all; refused;
- deep nesting raises ``RecursionError``; anything nested deeper than :data:`MAX_DEPTH`
  is refused;
- a ``\\ud800`` escape decodes to a lone surrogate, a string that cannot be written as
  UTF-8, so a store fails on it half-way through a write; refused.

Every refusal is a :class:`json.JSONDecodeError` pointing at the offending token, so code
that already reports JSON errors with line and column reports these the same way::

    >>> loads('{"n": 1e999}')
    Traceback (most recent call last):
    json.decoder.JSONDecodeError: number out of range: 1e999: line 1 column 7 (char 6)

:func:`decode_lines` turns file bytes into lines split only on ``\\n`` (and ``\\r\\n``),
never on the other characters ``str.splitlines`` treats as line breaks (U+2028, U+2029,
U+0085...), which JSON allows unescaped inside strings; bytes that are not UTF-8 are
reported with their line and column.

:func:`locate` maps every key and value of a valid JSON line to its column (and lists
repeated keys), so a problem found after decoding still points at its place.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "JSONPath", "column", "decode_lines", "json_lines", "loads", "locate", "split_lines"]

MAX_DEPTH = 64
"""How deeply arrays and objects may nest."""

JSONPath = tuple[str | int, ...]
"""Keys and list indexes from the top of a JSON value down to one inside it."""

_INT64 = (-(2**63), 2**63 - 1)
_BOM = b"\xef\xbb\xbf"
_DECODER = json.JSONDecoder()
# a string token, a bracket, or a bare word (number, true, false, null, NaN, Infinity)
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|[^\s\[\]{},:"]+', re.S)
_RAW_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Refused(Exception):
    """A token ``json`` would read but this module refuses (raised inside parse hooks)."""


def _short(literal: str) -> str:
    return literal if len(literal) <= 24 else f"{literal[:20]}... ({len(literal)} characters)"


def _int(literal: str) -> int:
    digits = len(literal) - literal.startswith("-")
    if digits <= 19:
        value = int(literal)
        if _INT64[0] <= value <= _INT64[1]:
            return value
    raise _Refused(f"integer out of range (must fit in 64 bits): {_short(literal)}")


def _float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _Refused(f"number out of range: {_short(literal)}")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON (write a number or null)")


def _has_surrogate(value: Any) -> bool:
    """Return whether any string in parsed JSON holds a surrogate code point."""
    if isinstance(value, str):
        return _RAW_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _too_deep(value: Any, max_depth: int) -> bool:
    """Return whether parsed JSON nests deeper than ``max_depth`` (without recursing)."""
    level = [value]
    for _ in range(max_depth):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        level = [item for item in level if isinstance(item, dict | list)]
        if not level:
            return False
    return True


def _first_problem(text: str, max_depth: int) -> tuple[int, str] | None:
    """Scan ``text`` token by token; return (offset, message) of the first refused token.

    Only called once something is known to be wrong, to find where: the text is valid JSON
    up to that point, so the tokens before it are real JSON tokens.
    """
    depth = 0
    for match in _TOKEN.finditer(text):
        token, start = match.group(), match.start()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return start, f"nested deeper than {max_depth} levels"
        elif token in "]}":
            depth -= 1
        elif token.startswith('"'):
            if _RAW_SURROGATE.search(token) or _SURROGATE_ESCAPE.search(token):
                try:
                    decoded = json.loads(token)
                except ValueError:
                    continue
                found = _RAW_SURROGATE.search(decoded)
                if found:
                    code = f"\\u{ord(found.group()):04x}"
                    return start, f"lone surrogate {code} in a string (not valid Unicode text)"
        else:
            check: Callable[[str], Any] = _int
            if token in ("NaN", "Infinity", "-Infinity"):
                check = _constant
            elif any(c in token for c in ".eE"):
                check = _float
            elif not token.lstrip("-")[:1].isdigit():
                continue
            try:
                check(token)
            except _Refused as err:
                return start, str(err)
            except ValueError:
                continue
    return None


def _refuse(text: str, max_depth: int, fallback: str) -> json.JSONDecodeError:
    found = _first_problem(text, max_depth)
    offset, message = found if found is not None else (0, fallback)
    return json.JSONDecodeError(message, text, offset)


def loads(
    text: str,
    *,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse JSON ``text``, refusing what cannot be stored faithfully (see the module doc).

    Args:
        text: one JSON document.
        object_pairs_hook: as for :func:`json.loads` (e.g. to detect duplicate keys).
        max_depth: how deeply arrays and objects may nest.

    Returns:
        The parsed value.

    Raises:
        json.JSONDecodeError: for invalid JSON and for every refusal, with its position.
    """
    try:
        data = json.loads(
            text,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
            object_pairs_hook=object_pairs_hook,
        )
    except _Refused as err:
        raise _refuse(text, max_depth, str(err)) from None
    except RecursionError:
        raise _refuse(text, max_depth, f"nested deeper than {max_depth} levels") from None
    if text.count("[") + text.count("{") > max_depth and _too_deep(data, max_depth):
        raise _refuse(text, max_depth, f"nested deeper than {max_depth} levels")
    if (_RAW_SURROGATE.search(text) or _SURROGATE_ESCAPE.search(text)) and _has_surrogate(data):
        raise _refuse(text, max_depth, "lone surrogate in a string (not valid Unicode text)")
    return data


def split_lines(text: str) -> list[str]:
    r"""Split ``text`` on ``\n`` only, dropping the ``\r`` of ``\r\n`` line ends.

    Unlike ``str.splitlines``, a U+2028, U+2029, U+0085, form feed or lone ``\r`` stays
    inside its line: JSON allows several of them unescaped in strings.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def decode_lines(data: bytes) -> tuple[list[str], list[tuple[int, int, str]]]:
    r"""Decode UTF-8 file bytes into lines (as :func:`split_lines`), locating bad bytes.

    A byte-order mark at the start is dropped.

    Args:
        data: the file's bytes.

    Returns:
        The lines (a line that is not UTF-8 is returned empty, so numbering holds) and a
        ``(line, column, message)`` for each such line; both 1-based.
    """
    data = data.removeprefix(_BOM)
    try:
        return split_lines(data.decode("utf-8")), []
    except UnicodeDecodeError:
        pass
    lines, bad = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            col = len(raw[: err.start].decode("utf-8", "replace")) + 1
            bad.append((number, col, f"not UTF-8 text (byte 0x{raw[err.start]:02x})"))
            lines.append("")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines], bad



def json_lines(data: bytes) -> tuple[list[tuple[int, Any]], list[tuple[int, int, str]]]:
    """Decode JSON Lines file bytes strictly (:func:`loads` per line; blank lines skipped).

    Returns:
        ``(number, value)`` for each line that decoded, and a ``(line, column, message)``
        for each that did not (bad bytes or ``invalid JSON: ...``); all 1-based.
    """
    lines, bad = decode_lines(data)
    values = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            values.append((number, loads(line)))
        except json.JSONDecodeError as err:
            bad.append((number, err.colno, f"invalid JSON: {err.msg}"))
    return values, bad

def column(line: str, path: JSONPath) -> int:
    """Return the 1-based column of the value at ``path`` in a JSON line."""
    spots, _ = locate(line)
    return spots.get(path, spots[()])[1]


def locate(text: str) -> tuple[dict[JSONPath, tuple[int, int]], list[tuple[JSONPath, int]]]:
    """Map each path in valid JSON ``text`` to (key column, value column); list repeated keys."""
    spots: dict[JSONPath, tuple[int, int]] = {}
    repeated: list[tuple[JSONPath, int]] = []

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def walk(i: int, path: JSONPath, key_col: int) -> int:
        spots[path] = (key_col, i + 1)
        if text[i] not in "{[":
            return _DECODER.raw_decode(text, i)[1]
        closing, index, keys = ("}" if text[i] == "{" else "]"), 0, set()
        i = skip(i + 1)
        while text[i] != closing:
            if closing == "}":
                key, end = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
                if key in keys:
                    repeated.append(((*path, key), i + 1))
                keys.add(key)
                i = skip(walk(skip(skip(end) + 1), (*path, key), i + 1))
            else:
                i = skip(walk(i, (*path, index), i + 1))
                index += 1
            if text[i] == ",":
                i = skip(i + 1)
        return i + 1

    start = skip(0)
    walk(start, (), start + 1)
    return spots, repeated
