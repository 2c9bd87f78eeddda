"""A prepared search: the spec, its base pipelines' space, the dataset and its split.

:func:`prepare` reads the evolve spec and everything it names, checks the train /
validation / test split (or the folds) against the data (known users, no overlap),
derives the search space and decides what the first budget slots hold: each base
pipeline, as parameters when the space can express it exactly, else as a given pipeline. Every worker process prepares its own
:class:`Context` from the same arguments.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolvelab.errors import ConfigError
from evolvelab.search.study import storage_url

if TYPE_CHECKING:
    from evolvelab.datasets import Dataset
    from evolvelab.registry import Registry
    from evolvelab.search.objectives import ObjectiveTable
    from evolvelab.search.space import Space
    from evolvelab.search.spec import DatasetSpec, EvolveSpec, SpaceEntry

__all__ = ["Context", "Task", "prepare", "spec_space"]


@dataclass
class Task:
    """One task stream of the search, loaded, with its weight and split."""

    name: str
    weight: float
    spec: DatasetSpec
    dataset: Dataset
    train: list[str]
    validation: list[str]
    test: list[str]
    folds: list[list[str]]

    @property
    def search_splits(self) -> list[list[str]]:
        """The user groups each trial is scored on: the folds, or the train users."""
        return self.folds or [self.train]


@dataclass
class Context:
    """Everything a process needs to run trials of one search.

    ``dataset``, ``train``, ``validation``, ``test`` and ``folds`` are the first task's;
    ``tasks`` holds them all (``datasets:`` in the spec).
    """

    spec: EvolveSpec
    spec_path: Path
    registry: Registry
    space: Space
    tasks: list[Task]
    table: ObjectiveTable
    out: Path
    storage: str
    study: str
    budget: int
    seed: int
    fills: list[dict[str, Any]] = field(default_factory=list)

    @property
    def objective_names(self) -> list[str]:
        """The objectives' metric names."""
        return [o.metric for o in self.spec.objectives]

    @property
    def dataset(self) -> Dataset:
        """The first task's dataset."""
        return self.tasks[0].dataset

    @property
    def train(self) -> list[str]:
        """The first task's train (search) users."""
        return self.tasks[0].train

    @property
    def validation(self) -> list[str]:
        """The first task's validation (selection) users."""
        return self.tasks[0].validation

    @property
    def test(self) -> list[str]:
        """The first task's test users."""
        return self.tasks[0].test

    @property
    def folds(self) -> list[list[str]]:
        """The first task's folds (only a single task may have folds)."""
        return self.tasks[0].folds

    @property
    def search_splits(self) -> list[list[str]]:
        """The user groups each trial is scored on: the folds, or the train users."""
        return self.tasks[0].search_splits

    def users(self, side: str) -> list[str]:
        """Return the users of ``side`` (train, validation, test) over every task, labelled
        ``task:user`` when there are several tasks."""
        several = len(self.tasks) > 1
        return [f"{t.name}:{u}" if several else u for t in self.tasks for u in getattr(t, side)]

    @property
    def search_label(self) -> str:
        """How reports name the search users: ``train (ana)`` or ``3 folds (ana | ben | cy)``."""
        if self.folds:
            groups = " | ".join(", ".join(fold) for fold in self.folds)
            return f"{len(self.folds)} folds ({groups})"
        return f"train ({', '.join(self.users('train'))})"


def _load_dataset(spec: EvolveSpec, data: DatasetSpec) -> Dataset:
    from evolvelab.datasets import load_dataset, load_jsonl

    if data.type == "sample":
        from evolvelab.datasets.sample import sample_path

        return load_jsonl(sample_path())
    assert data.path is not None
    return load_dataset(data.type, spec.resolve(data.path), seed=data.seed)


def _split(
    spec: EvolveSpec, data: DatasetSpec, where: tuple[str | int, ...], dataset: Dataset
) -> tuple[list[str], list[str], list[str], list[list[str]]]:
    """Return the train, validation and test users, and the folds (k-fold splits)."""
    users = list(dict.fromkeys(r.user_id for r in dataset.stream.records if r.user_id))
    test = data.test.pick(users) if data.test else []
    problems = []
    folds: list[list[str]] = []
    if data.split is not None:
        pool = [u for u in users if u not in test]
        k = data.split.folds
        if len(pool) < k:
            problems.append(
                spec.problem(
                    (*where, "split", "folds"),
                    f"{k} folds need at least {k} users besides the test users; "
                    f"the stream has {len(pool)}",
                )
            )
        folds = [pool[i::k] for i in range(k)]
        train, validation = pool, []
    else:
        assert data.train is not None
        train = data.train.pick(users)
        validation = (
            data.validation.pick(users)
            if data.validation
            else [u for u in users if u not in train and u not in test]
        )
    for side, chosen in (("train", train), ("validation", validation), ("test", test)):
        unknown = [u for u in chosen if u not in users]
        if unknown:
            problems.append(
                spec.problem(
                    (*where, side), f"unknown user(s) {', '.join(unknown)}", allowed=tuple(users)
                )
            )
    for side, chosen, earlier, named in (
        ("validation", validation, train, "train"),
        ("test", test, train + validation, "train or validation"),
    ):
        shared = [u for u in chosen if u in earlier]
        if shared:
            problems.append(
                spec.problem(
                    (*where, side),
                    f"{side} users must not be {named} users (leak): {', '.join(shared)}",
                )
            )
    if not train:
        problems.append(spec.problem((*where, "train"), "no train users"))
    if problems:
        raise ConfigError(problems)
    return train, validation, test, folds


def _labels(paths: list[Path]) -> list[str]:
    """Each base's label, as :func:`~evolvelab.search.derive.build_space` names it."""
    labels: list[str] = []
    for path in paths:
        label = path.stem
        while label in labels:
            label += "_"
        labels.append(label)
    return labels


def _read(path: Path) -> dict[str, Any]:
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return raw if isinstance(raw, dict) else {}


def _variants(spec: EvolveSpec, registry: Registry, bases: list[Path], out: Path) -> list[Path]:
    """Write each base's ``auto.embedders`` variants to ``OUT/bases/`` and return their files.

    A variant is searched like a base (the first choice of a trial), but it is not a
    base: it is not run as a trial of its own, and gains are not measured against it.
    """
    if spec.auto is None or not spec.auto.embedders:
        return []
    import yaml

    from evolvelab.search.auto import embedder_variants

    folder = out / "bases"
    files = []
    for path in bases:
        for name, data in embedder_variants(_read(path), registry, spec.auto, spec.problem):
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{path.stem}-{name}.yaml"
            text = (
                f"# {path.name} with embedder '{name}': a variant searched by auto.embedders\n"
                + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
            )
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                temporary = target.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
                temporary.write_text(text, encoding="utf-8")
                temporary.replace(target)  # several workers write the same text
            files.append(target)
    return files


def _entries(spec: EvolveSpec, registry: Registry, paths: list[Path]) -> dict[str, SpaceEntry]:
    """Return the space entries: those ``auto`` derives (per base), then the spec's own."""
    if spec.auto is None:
        return dict(spec.space)
    from evolvelab.search.auto import auto_entries

    entries: dict[str, SpaceEntry] = {}
    for path, label in zip(paths, _labels(paths), strict=True):
        prefix = f"{label}:" if len(paths) > 1 else ""
        derived = auto_entries(_read(path), registry, spec.auto)
        entries.update({prefix + key: entry for key, entry in derived.items()})
    return {**entries, **spec.space}


def spec_space(spec: EvolveSpec, registry: Registry, out: Path) -> Space:
    """Derive the space a spec searches: its bases, their ``auto.embedders`` variants, entries.

    Args:
        spec: the loaded evolve spec.
        registry: the stage types.
        out: the results folder (variants are written to ``OUT/bases/``).

    Returns:
        The space; its first ``len(spec.base)`` bases are the spec's own, in order.

    Raises:
        ConfigError: for problems in the bases or the space entries (spec positions).
    """
    from evolvelab.search.derive import build_space

    bases = [spec.resolve(b) for b in spec.base]
    paths = [*bases, *_variants(spec, registry, bases, out)]
    return build_space(
        paths,
        registry,
        entries=_entries(spec, registry, paths),
        declared=spec.declared,
        problem=lambda key, msg, **kw: spec.problem(("space", key), msg, at_key=True, **kw),
    )


def prepare(
    spec_path: str | Path,
    *,
    out: str | Path,
    trials: int | None = None,
    storage: str | None = None,
    study: str | None = None,
    seed: int | None = None,
    registry: Registry | None = None,
) -> Context:
    """Read the spec and everything it names; derive the space.

    Args:
        spec_path: the evolve spec file.
        out: the results folder.
        trials: override the spec's budget.
        storage: override the spec's storage (URL or journal file).
        study: override the study name.
        seed: override the sampler seed.
        registry: the stage types (default: built-ins plus plugins).

    Returns:
        The context trials run in.

    Raises:
        ConfigError: for problems in the spec, its base pipelines or its split.
    """
    from evolvelab.registry import default_registry
    from evolvelab.search.objectives import objective_table
    from evolvelab.search.specfile import load_spec

    registry = registry or default_registry()
    spec = load_spec(spec_path, registry)
    out = Path(out)
    space = spec_space(spec, registry, out)
    tasks = []
    for name, weight, data, where in spec.tasks:
        dataset = _load_dataset(spec, data)
        tasks.append(Task(name, weight, data, dataset, *_split(spec, data, where, dataset)))
    fills = []
    for base in space.bases[: len(spec.base)]:  # variants are searched, not run as bases
        params = space.params_for(base.spec)
        fill: dict[str, Any] = {"origin": "base", "base": base.label}
        if params is not None:
            fill["params"] = params
        else:
            fill["given"] = base.file.read_text(encoding="utf-8")
        fills.append(fill)
    return Context(
        spec=spec,
        spec_path=Path(spec_path),
        registry=registry,
        space=space,
        tasks=tasks,
        table=objective_table(registry),
        out=out,
        storage=storage_url(storage or spec.storage, out),
        study=study or spec.study_name,
        budget=trials or spec.trials,
        seed=spec.sampler.seed if seed is None else seed,
        fills=fills,
    )
