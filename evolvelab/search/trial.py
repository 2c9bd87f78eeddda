"""Score one candidate: its YAML text → a fresh memory → an evaluation on chosen users.

The :class:`Evaluator` keeps what trials share (the dataset, one cached embedder per
embedder config) and gives every candidate a fresh memory in a temporary directory,
with explicit store paths cleared. :func:`scores` turns a report into the trial record's
:class:`~evolvelab.search.record.Scores` (every metric of the objectives table, recall by
category, a sample of misses for the mutation operator); :func:`merge_folds` combines
the scores of k folds; :func:`misses_from` rebuilds the missed questions' text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evolvelab import datadir
from evolvelab.evaluation import evaluate
from evolvelab.search.objectives import DEFAULT_BUDGETS
from evolvelab.search.record import CategoryScores, MissRef, Scores
from evolvelab.search.render import load_candidate
from evolvelab.search.summary import Miss

if TYPE_CHECKING:
    from evolvelab.datasets import Dataset
    from evolvelab.evaluation import EvalReport
    from evolvelab.registry import Registry
    from evolvelab.search.cache import CachedEmbedder, EmbeddingCache
    from evolvelab.search.objectives import ObjectiveTable
    from evolvelab.stages import LLM, Embedder

__all__ = ["Evaluator", "merge_folds", "merge_tasks", "misses_from", "scores"]


def _pick_misses(report: EvalReport, k: int, count: int) -> list[MissRef]:
    """Pick up to ``count`` questions with gold evidence outside the budget, across categories."""
    by_category: dict[str, list[Any]] = {}
    for result in report.results or []:
        if result.recall is not None and result.recall.get(str(k), 1.0) < 1.0:
            by_category.setdefault(result.category or "", []).append(result)
    picked: list[MissRef] = []
    while len(picked) < count and any(by_category.values()):
        for results in by_category.values():
            if results and len(picked) < count:
                result = results.pop(0)
                picked.append(MissRef(id=result.id, retrieved=result.ranked[:k]))
    return picked


def scores(
    report: EvalReport,
    table: ObjectiveTable,
    names: Sequence[str],
    *,
    users: Sequence[str],
    k: int = 10,
    misses: int = 0,
) -> Scores:
    """Return what a trial keeps of one evaluation: ``names`` first, then every metric.

    Raises:
        EvolveLabError: if the report lacks one of ``names`` (a budget not evaluated).
    """
    return Scores(
        users=list(users),
        questions=report.questions,
        metrics=table.scores(report, names),
        by_category={
            code: CategoryScores(name=c.name, questions=c.questions, recall=dict(c.recall))
            for code, c in report.by_category.items()
        },
        misses=_pick_misses(report, k, misses),
    )


def merge_folds(folds: Sequence[Scores], misses: int = 0) -> Scores:
    """Combine the scores of each fold: metrics are the mean over folds (each fold counts
    the same, however many questions it has); categories pool their questions."""
    names = [n for n in folds[0].metrics if all(n in f.metrics for f in folds)]
    categories: dict[str, CategoryScores] = {}
    for fold in folds:
        for code, cat in fold.by_category.items():
            have = categories.get(code)
            if have is None:
                categories[code] = cat.model_copy(deep=True)
                continue
            total = have.questions + cat.questions
            recall = {
                k: (have.recall.get(k, 0.0) * have.questions + v * cat.questions) / max(total, 1)
                for k, v in cat.recall.items()
            }
            categories[code] = CategoryScores(name=have.name, questions=total, recall=recall)
    picked = [m for group in zip(*(f.misses for f in folds), strict=False) for m in group]
    return Scores(
        users=[u for f in folds for u in f.users],
        questions=sum(f.questions for f in folds),
        metrics={n: sum(f.metrics[n] for f in folds) / len(folds) for n in names},
        by_category=categories,
        misses=picked[:misses],
        folds=[dict(f.metrics) for f in folds],
    )


def merge_tasks(named: Sequence[tuple[str, float, Scores]]) -> Scores:
    """Combine the scores of several datasets: metrics are the weighted mean; categories,
    users and misses keep their dataset's name (the misses are the first dataset's)."""
    total = sum(weight for _, weight, _ in named)
    names = [n for n in named[0][2].metrics if all(n in s.metrics for _, _, s in named)]
    return Scores(
        users=[f"{name}:{u}" for name, _, s in named for u in s.users],
        questions=sum(s.questions for _, _, s in named),
        metrics={n: sum(w * s.metrics[n] for _, w, s in named) / total for n in names},
        by_category={
            f"{name}:{code}": cat for name, _, s in named for code, cat in s.by_category.items()
        },
        misses=list(named[0][2].misses),
        tasks={name: dict(s.metrics) for name, _, s in named},
    )


def misses_from(train: Scores | None, dataset: Dataset) -> list[Miss]:
    """Rebuild :class:`Miss` records (question, gold and retrieved text) from a trial's scores."""
    if train is None:
        return []
    events = {e.id: e.content for e in dataset.stream.events}
    queries = {q.id: q for q in dataset.stream.queries}
    out = []
    for item in train.misses:
        query = queries.get(item.id)
        if query is None:
            continue
        gold = [g for g in query.evidence or [] if g in events]
        out.append(
            Miss(
                question=query.text,
                category=dataset.category_name(query.category),
                gold=gold,
                gold_text=[events[g] for g in gold],
                retrieved=list(item.retrieved),
                retrieved_text=[events.get(r, "") for r in item.retrieved],
            )
        )
    return out


class Evaluator:
    """Evaluate candidate pipelines on one dataset, each on a fresh memory.

    Args:
        dataset: the loaded dataset.
        registry: the stage types.
        cache: the shared embedding cache (``None``: every run embeds its texts afresh,
            with the model kept loaded, so runs' costs compare fairly).
        ks: turn budgets to report.
        limit: ask only the first N questions.
        order: ``end`` or ``stream`` (default: the dataset's).
        llm: use this LLM in every candidate instead of its configured one (tests).
    """

    def __init__(
        self,
        dataset: Dataset,
        registry: Registry,
        *,
        cache: EmbeddingCache | None,
        ks: Sequence[int] = DEFAULT_BUDGETS,
        limit: int | None = None,
        order: str | None = None,
        llm: LLM | None = None,
    ) -> None:
        self.dataset, self.registry, self.cache = dataset, registry, cache
        self.ks, self.limit, self.order, self.llm = list(ks), limit, order, llm
        self._embedders: dict[str, CachedEmbedder] = {}

    def _embedder(self, config: Any) -> Embedder | None:
        if config.type == "none":
            return None
        from evolvelab.search.cache import CachedEmbedder

        key = config.model_dump_json()
        if key not in self._embedders:
            inner = self.registry.get("embedder", config.type).cls(config)
            kept = CachedEmbedder(inner, self.cache)  # type: ignore[arg-type]
            kept.open(None)
            kept.inner.embed(["warm up"])  # load the model now, outside any timed stage
            self._embedders[key] = kept
        return self._embedders[key]

    def run(self, text: str, users: Sequence[str], *, file: str = "<candidate>") -> EvalReport:
        """Build the pipeline in ``text`` on a fresh memory and evaluate it on ``users``.

        Returns:
            The evaluation report, with per-query results.

        Raises:
            ConfigError: if the text does not validate or build (positions in ``file``).
            EvolveLabError: for failures while the pipeline runs.
        """
        from evolvelab.pipeline import Memory

        spec, located = load_candidate(text, self.registry, file=file)
        update = {
            slot: getattr(spec, slot).model_copy(update={"path": None})
            for slot in ("store", "graph")
            if getattr(getattr(spec, slot, None), "path", None)
        }
        if update:
            spec = spec.model_copy(update=update)
        overrides: dict[str, Any] = {}
        embedder = self._embedder(spec.embedder)  # type: ignore[attr-defined]
        if embedder is not None:
            overrides["embedder"] = embedder
        if self.llm is not None:
            overrides["llm"] = self.llm
        with datadir.temporary("evolvelab-trial-") as folder:
            memory = Memory(
                spec, registry=self.registry, located=located, data_dir=folder, **overrides
            )
            with memory:
                return evaluate(
                    memory,
                    self.dataset,
                    ks=self.ks,
                    scopes=list(users),
                    limit=self.limit,
                    order=self.order,
                )  # type: ignore[arg-type]

    def close(self) -> None:
        """Release the embedders kept across trials and the cache's connection."""
        for embedder in self._embedders.values():
            embedder.release()
        self._embedders.clear()
        if self.cache is not None:
            self.cache.close()
