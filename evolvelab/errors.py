"""The project's error types and how configuration problems are rendered.

Every error that crosses the public API is an :class:`EvolveLabError`. Configuration
problems are collected as :class:`Problem` records and raised together in one
:class:`ConfigError`, rendered like a compiler's diagnostics::

    pipelines/x.yaml:12:5: retrieve[0].typ: unknown field for retriever 'hybrid'
        allowed: type, k, channels, weights   (did you mean 'type'?)
    1 problem in pipelines/x.yaml
"""

from __future__ import annotations

import re

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AfterWriteError",
    "ConfigError",
    "EvolveLabError",
    "PluginError",
    "Problem",
    "StageError",
    "StreamError",
    "closest",
    "format_path",
]


class EvolveLabError(Exception):
    """Base of every error EvolveLab raises on purpose."""


class PluginError(EvolveLabError):
    """A plugin could not be loaded, or registered something invalid."""


class StageError(EvolveLabError):
    """A stage failed while the pipeline was running.

    Args:
        stage: the YAML path of the stage, e.g. ``retrieve[1]``.
        type_name: the stage's registered type.
        message: what went wrong.
    """

    def __init__(self, stage: str, type_name: str, message: str) -> None:
        super().__init__(f"{stage} ({type_name}): {message}")
        self.stage = stage
        self.type_name = type_name
        self.message = message

    def __reduce__(self) -> Any:
        return (type(self), (self.stage, self.type_name, self.message))


class AfterWriteError(EvolveLabError):
    """``add`` stored its notes durably, then a later stage failed.

    Every other error from ``Memory.add`` means *nothing was written*. This one means the
    notes in ``written`` are on disk and searchable (retrying the ``add`` is not needed and
    upserts the same notes); what failed came after the write: a manager that runs on
    add, or a store that raised after its commit. Managers that did not run are named in
    ``not_run``; ``memory.manage(scope)`` runs them again. The original error is chained
    (``__cause__``).

    Args:
        written: the notes written (an :class:`~evolvelab.AddResult`, with what was dropped).
        stage: the YAML path of the stage that failed, e.g. ``manage[0]`` or ``store``.
        type_name: the failing stage's registered type.
        cause: the error it raised.
        total: how many notes the add meant to write, when not all of them are stored.
        not_run: stages that were due but did not run, e.g. ``("manage[1] (decay)",)``.

    Example:
        A manager that asks an LLM after each add, and an LLM that fails (a ``FakeLLM``
        with no answer queued stands in for an endpoint that is down):

        >>> import shutil, tempfile
        >>> from evolvelab import Event, Memory, Scope
        >>> from evolvelab.testing import FakeLLM
        >>> spec = '''
        ... version: 1
        ... name: demo
        ... embedder: {type: hashing, dim: 64}
        ... encode: [{type: turn}]
        ... store: {type: memory}
        ... retrieve: [{type: vector, k: 5}]
        ... manage: [{type: mem0_update, kinds: [turn], every: 1}, {type: dedupe, every: 1}]
        ... '''
        >>> folder, ana = tempfile.mkdtemp(), Scope(user_id="ana")
        >>> with Memory.from_text(spec, llm=FakeLLM(), data_dir=folder) as memory:
        ...     _ = memory.add([Event(id="e1", content="Ana lives in Leeds.")], scope=ana)
        ...     try:
        ...         memory.add([Event(id="e2", content="Ana lives in Porto now.")], scope=ana)
        ...     except AfterWriteError as err:
        ...         print(err.stage, err.type_name, len(err.written), err.not_run)
        ...     print(memory.count(ana), "notes stored")   # e2's note is kept
        manage[0] mem0_update 1 ('manage[1] (dedupe)',)
        2 notes stored
        >>> shutil.rmtree(folder)
    """

    def __init__(
        self,
        written: Any,
        stage: str,
        type_name: str,
        cause: BaseException,
        *,
        total: int | None = None,
        not_run: Sequence[str] = (),
    ) -> None:
        self.written = written
        self.stage = stage
        self.type_name = type_name
        self.cause = cause
        self.not_run = tuple(not_run)
        count = len(written)
        noun = "note" if (total if total is not None else count) == 1 else "notes"
        partial = total is not None and total != count
        head = f"{count} of {total} {noun}" if partial else f"{count} {noun}"
        text = f"{head} written and durable; then {stage} ({type_name}) failed: {cause}"
        if self.not_run:
            text += f"; not run: {', '.join(self.not_run)}"
        self._total = total
        super().__init__(text)

    def __reduce__(self) -> Any:
        # rebuilt from its parts, so it crosses process boundaries (evolver workers) intact
        return (
            _rebuild_after_write,
            (self.written, self.stage, self.type_name, self.cause, self._total, self.not_run),
        )


def _rebuild_after_write(
    written: Any, stage: str, type_name: str, cause: BaseException, total: int | None,
    not_run: Sequence[str],
) -> AfterWriteError:  # fmt: skip
    return AfterWriteError(written, stage, type_name, cause, total=total, not_run=not_run)


def format_path(path: Sequence[str | int]) -> str:
    """Render a path like ``("retrieve", 0, "k")`` as ``retrieve[0].k``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def closest(word: str, choices: Iterable[str]) -> str | None:
    """Return the choice closest to ``word``, or ``None`` if nothing is close."""
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True)
class Problem:
    """One configuration problem, with where it is and what would be allowed.

    ``line`` and ``col`` are 1-based; they are ``None`` when the input did not come from
    a file (a dict passed from Python).
    """

    file: str
    path: tuple[str | int, ...]
    message: str
    line: int | None = None
    col: int | None = None
    allowed: tuple[str, ...] = ()
    suggestion: str | None = None
    hints: tuple[str, ...] = field(default=())

    def render(self) -> str:
        """Render the problem as ``file:line:col: path: message`` plus help lines."""
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.col}"
        path = format_path(self.path)
        head = f"{where}: {path}: {self.message}" if path else f"{where}: {self.message}"
        lines = [head]
        if self.allowed:
            text = "    allowed: " + ", ".join(self.allowed)
            if self.suggestion:
                text += f"   (did you mean '{self.suggestion}'?)"
            lines.append(text)
        elif self.suggestion:
            lines.append(f"    did you mean '{self.suggestion}'?")
        lines.extend(f"    {hint}" for hint in self.hints)
        return "\n".join(_printable(line) for line in lines)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    r"""Escape control characters (``\x1b`` and the like) that a file put into a message.

    Values and keys of hostile files are echoed in problems; raw, an escape sequence would
    reach the terminal (set its title, clear it, fake output), and bidirectional overrides
    would reorder what is shown.
    """
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1] if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)  # fmt: skip


class ConfigError(EvolveLabError):
    """One or more problems in a pipeline (or other) configuration.

    Attributes:
        problems: every problem found, sorted by position.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(
            problems, key=lambda p: (p.file, p.line or 0, p.col or 0, format_path(p.path))
        )
        super().__init__(self.render())

    def render(self) -> str:
        """Render all problems followed by a count per file."""
        lines = [p.render() for p in self.problems]
        files = dict.fromkeys(p.file for p in self.problems)
        for name in files:
            n = sum(1 for p in self.problems if p.file == name)
            lines.append(f"{n} problem{'s' if n != 1 else ''} in {name}")
        return "\n".join(lines)


class StreamError(ConfigError):
    """Malformed lines in an event-stream JSONL file (rendered like config problems)."""
