"""Benchmarks as streams: load LoCoMo, GoodAI LTM or a JSONL stream file as a :class:`Dataset`.

Every loader returns the same thing: a validated :class:`~evolvelab.stream.Stream` (the
records a JSONL file would hold, checked the same way), the names of its question
categories, and notes on what the loader changed or left out of the source (malformed
evidence ids it repaired or dropped, tasks it could not express). ``evolvelab convert``
writes the stream to a file; ``evolvelab eval`` scores a pipeline on it.

A LoCoMo file is a list of conversations, each with dated sessions of turns and the
questions asked about them (the dev split, conversations 0-5, holds 1,157 questions);
one conversation with one question, written here, loads like this:

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from evolvelab.datasets import load_dataset
    >>> turns = [{"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a cat named Miso."},
    ...          {"speaker": "Ben", "dia_id": "D1:2", "text": "Lovely! Send me a photo."}]
    >>> conversation = {"speaker_a": "Ana", "speaker_b": "Ben",
    ...                 "session_1_date_time": "1:56 pm on 8 May, 2023", "session_1": turns}
    >>> qa = [{"question": "What is Ana's cat called?", "answer": "Miso",
    ...        "evidence": ["D1:1"], "category": 4}]
    >>> path = Path(tempfile.mkdtemp()) / "locomo.json"
    >>> _ = path.write_text(json.dumps([{"sample_id": "conv-1", "conversation": conversation,
    ...                                  "qa": qa}]))
    >>> data = load_dataset("locomo", path)
    >>> len(data.stream.events), len(data.stream.queries), data.categories["4"]
    (2, 1, 'single-hop')
    >>> query = data.stream.queries[0]
    >>> query.user_id, query.evidence
    ('conv-1', ['D1:1'])
    >>> import shutil; shutil.rmtree(path.parent)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from evolvelab._strict_json import loads
from evolvelab.errors import EvolveLabError, Problem, StreamError, closest
from evolvelab.stream import Stream, read_stream

__all__ = ["DATASETS", "Dataset", "Order", "load_dataset", "load_json", "load_jsonl"]

Order = Literal["end", "stream", "tasks"]
"""When queries are asked: ``end`` after every event is ingested, ``stream`` where they stand,
``tasks`` task by task with feedback (``evolvelab.evaluation.experiential``)."""


@dataclass(frozen=True)
class Dataset:
    """A benchmark loaded as a stream, with what is needed to report on it.

    Attributes:
        name: the dataset kind, e.g. ``locomo`` (reports print it).
        source: the file or folder it was read from.
        stream: the validated records.
        categories: readable names of the query categories, e.g. ``{"2": "temporal"}``;
            a category missing here is its own name.
        notes: what the loader changed or left out, as renderable problems.
        order: when the dataset's queries are meant to be asked (see :data:`Order`).
    """

    name: str
    source: str
    stream: Stream
    categories: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[Problem, ...] = ()
    order: Order = "end"

    def category_name(self, category: str | None) -> str | None:
        """Return the readable name of ``category`` (itself when it has none)."""
        if category is None:
            return None
        return self.categories.get(category, category)


def load_json(path: str | Path, where: str, what: str) -> Any:
    """Read one JSON document strictly, for a loader (see :mod:`evolvelab._strict_json`).

    Invalid JSON, bytes that are not UTF-8, integers beyond 64 bits, non-finite numbers,
    nesting deeper than 64 levels and lone surrogates all give a located error instead of
    an exception without a position (a leading byte-order mark is ignored).

    Args:
        path: the file.
        where: how messages name the file.
        what: what the file should be, e.g. ``LoCoMo JSON``.

    Returns:
        The parsed document.

    Raises:
        StreamError: ``where:line:col: cannot read <what>: <why>``.
    """
    try:
        data = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")
    except OSError as err:
        raise StreamError([Problem(where, (), f"cannot read {what}: {err}")]) from err
    try:
        return loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        start = data.rfind(b"\n", 0, err.start) + 1
        line, col = data.count(b"\n", 0, err.start) + 1, len(data[start : err.start].decode()) + 1
        message = f"cannot read {what}: not UTF-8 text (byte 0x{data[err.start]:02x})"
        raise StreamError([Problem(where, (), message, line, col)]) from err
    except json.JSONDecodeError as err:
        problem = Problem(where, (), f"cannot read {what}: {err.msg}", err.lineno, err.colno)
        raise StreamError([problem]) from err


def load_jsonl(path: str | Path) -> Dataset:
    """Load a JSONL stream file (the format of ``docs/streams.md``) as a dataset.

    Args:
        path: the ``.jsonl`` file.

    Returns:
        The dataset; its name is the stream header's name, or ``jsonl``.

    Raises:
        StreamError: listing every malformed line.
    """
    stream = read_stream(path)
    name = stream.header.name if stream.header is not None else "jsonl"
    return Dataset(name=name, source=str(path), stream=stream, notes=stream.warnings)


def _locomo(path: str | Path, **options: object) -> Dataset:
    from evolvelab.datasets.locomo import load_locomo

    return load_locomo(path)


def _goodai(path: str | Path, **options: object) -> Dataset:
    from evolvelab.datasets.goodai import load_goodai

    seed = options.get("seed", 0)
    if not isinstance(seed, int):
        raise EvolveLabError(f"goodai seed must be an integer, got {seed!r}")
    return load_goodai(path, seed=seed)


def _jsonl(path: str | Path, **options: object) -> Dataset:
    return load_jsonl(path)


def _tasks(path: str | Path, **options: object) -> Dataset:
    from evolvelab.datasets.tasks import load_tasks

    return load_tasks(path)


def _halumem(path: str | Path, **options: object) -> Dataset:
    from evolvelab.datasets.halumem import load_halumem

    return load_halumem(path)


def _longmemeval(path: str | Path, **options: object) -> Dataset:
    from evolvelab.datasets.longmemeval import load_longmemeval

    return load_longmemeval(path)


def _memoryagentbench(path: str | Path, **options: object) -> Dataset:
    from evolvelab.datasets.memoryagentbench import load_memoryagentbench

    return load_memoryagentbench(path)


DATASETS: Mapping[str, Callable[..., Dataset]] = {
    "locomo": _locomo,
    "goodai": _goodai,
    "jsonl": _jsonl,
    "tasks": _tasks,
    "halumem": _halumem,
    "longmemeval": _longmemeval,
    "memoryagentbench": _memoryagentbench,
}
"""The dataset kinds ``load_dataset`` knows, by name."""


def load_dataset(kind: str, path: str | Path, *, seed: int = 0) -> Dataset:
    """Load a benchmark of the given kind.

    Args:
        kind: ``locomo`` (LoCoMo JSON), ``goodai`` (a folder of GoodAI LTM definitions),
            ``jsonl`` (a stream file), ``tasks`` (an experiential task stream file),
            ``halumem`` (HaluMem's JSONL, one user per line), ``longmemeval`` (a
            LongMemEval JSON file) or ``memoryagentbench`` (MemoryAgentBench rows: JSON,
            JSONL or Parquet).
        path: the file or folder.
        seed: the interleaving seed (``goodai`` only).

    Returns:
        The dataset.

    Raises:
        EvolveLabError: for an unknown kind.
        StreamError: for malformed input, with where and what is allowed, and for
            input that holds no events and no questions.
    """
    loader = DATASETS.get(kind)
    if loader is None:
        hint = closest(kind, DATASETS)
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise EvolveLabError(f"unknown dataset {kind!r}; allowed: {', '.join(DATASETS)}{extra}")
    data = loader(path, seed=seed)
    if not data.stream.events and not data.stream.queries:
        message = (
            f"{kind} data holds nothing to replay: no events and no questions "
            "(an empty list or object, or not the file you meant?)"
        )
        raise StreamError([Problem(str(path), (), message)])
    return data
