"""Score one candidate: its YAML text → a fresh memory → an evaluation on chosen users.

The :class:`Evaluator` keeps what trials share (the dataset, one cached embedder per
embedder config) and gives every candidate a fresh memory in a temporary directory,
with explicit store paths cleared. :func:`objective_values` reads the spec's objectives
off the report; :func:`train_attrs` keeps what the results and the mutation operator
need later (recall, by category, latency, a sample of misses) as JSON-safe user attrs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evolvelab import datadir
from evolvelab.errors import EvolveLabError
from evolvelab.evaluation import DEFAULT_KS, EvalReport, evaluate
from evolvelab.search.render import load_candidate
from evolvelab.search.summary import Miss

if TYPE_CHECKING:
    from evolvelab.datasets import Dataset
    from evolvelab.registry import Registry
    from evolvelab.search.cache import CachedEmbedder, EmbeddingCache
    from evolvelab.search.spec import Objective
    from evolvelab.stages import LLM, Embedder

__all__ = ["Evaluator", "metric_value", "misses_from_attrs", "objective_values", "train_attrs"]


def metric_value(report: EvalReport, metric: str) -> float:
    """Return ``metric`` (``recall@10``, ``mrr``, ``search_p95``...) from ``report``.

    Raises:
        EvolveLabError: if the report lacks it (a turn budget that was not evaluated).
    """
    if metric.startswith(("recall@", "hit@")):
        table = report.recall if metric.startswith("recall@") else report.hit
        k = metric.split("@", 1)[1]
        if k not in table:
            raise EvolveLabError(f"the report has no {metric} (budgets: {', '.join(table)})")
        return float(table[k])
    if metric == "mrr":
        return float(report.mrr or 0.0)
    if metric in ("search_p50", "search_p95"):
        value = getattr(report.search_ms, metric.removeprefix("search_"))
        return float(value or 0.0)
    if metric == "llm_tokens":
        return float(report.llm.prompt_tokens + report.llm.completion_tokens)
    if metric == "ingest_seconds":
        return float(report.ingest.seconds)
    raise EvolveLabError(f"unknown metric {metric!r}")


def objective_values(report: EvalReport, objectives: Sequence[Objective]) -> list[float]:
    """Return one value per objective, in spec order."""
    return [metric_value(report, o.metric) for o in objectives]


def budgets(objectives: Sequence[Objective]) -> list[int]:
    """Return the turn budgets to evaluate: the defaults plus any an objective names."""
    extra = {int(o.metric.split("@", 1)[1]) for o in objectives if "@" in o.metric}
    return sorted(set(DEFAULT_KS) | extra)


def _pick_misses(report: EvalReport, k: int, count: int) -> list[dict[str, Any]]:
    """Pick up to ``count`` questions with gold evidence outside the budget, across categories."""
    by_category: dict[str, list[Any]] = {}
    for result in report.results or []:
        if result.recall is not None and result.recall.get(str(k), 1.0) < 1.0:
            by_category.setdefault(result.category or "", []).append(result)
    picked: list[dict[str, Any]] = []
    while len(picked) < count and any(by_category.values()):
        for results in by_category.values():
            if results and len(picked) < count:
                result = results.pop(0)
                picked.append({"id": result.id, "retrieved": result.ranked[:k]})
    return picked


def train_attrs(report: EvalReport, *, k: int = 10, misses: int = 0) -> dict[str, Any]:
    """Return the JSON-safe summary of a train evaluation kept on the trial."""
    return {
        "questions": report.questions,
        "recall": dict(report.recall),
        "mrr": report.mrr,
        "search_p95": report.search_ms.p95,
        "llm_tokens": report.llm.prompt_tokens + report.llm.completion_tokens,
        "ingest_seconds": report.ingest.seconds,
        "by_category": {
            code: {"name": c.name, "questions": c.questions, "recall": dict(c.recall)}
            for code, c in report.by_category.items()
        },
        "misses": _pick_misses(report, k, misses),
    }


def misses_from_attrs(attrs: dict[str, Any], dataset: Dataset) -> list[Miss]:
    """Rebuild :class:`Miss` records (question, gold and retrieved text) from trial attrs."""
    events = {e.id: e.content for e in dataset.stream.events}
    queries = {q.id: q for q in dataset.stream.queries}
    out = []
    for item in attrs.get("misses", []):
        query = queries.get(item["id"])
        if query is None:
            continue
        gold = [g for g in query.evidence or [] if g in events]
        retrieved = list(item.get("retrieved", []))
        out.append(
            Miss(
                question=query.text,
                category=dataset.category_name(query.category),
                gold=gold,
                gold_text=[events[g] for g in gold],
                retrieved=retrieved,
                retrieved_text=[events.get(r, "") for r in retrieved],
            )
        )
    return out


class Evaluator:
    """Evaluate candidate pipelines on one dataset, each on a fresh memory.

    Args:
        dataset: the loaded dataset.
        registry: the stage types.
        cache: the shared embedding cache (``None``: embed every trial afresh).
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
        ks: Sequence[int] = DEFAULT_KS,
        limit: int | None = None,
        order: str | None = None,
        llm: LLM | None = None,
    ) -> None:
        self.dataset, self.registry, self.cache = dataset, registry, cache
        self.ks, self.limit, self.order, self.llm = list(ks), limit, order, llm
        self._embedders: dict[str, CachedEmbedder] = {}

    def _embedder(self, config: Any) -> Embedder | None:
        if self.cache is None or config.type == "none":
            return None
        from evolvelab.search.cache import CachedEmbedder

        key = config.model_dump_json()
        if key not in self._embedders:
            inner = self.registry.get("embedder", config.type).cls(config)
            self._embedders[key] = CachedEmbedder(inner, self.cache)  # type: ignore[arg-type]
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
