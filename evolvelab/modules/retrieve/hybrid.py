"""``type: hybrid`` — weighted fusion of several retrieval channels.

Each channel is a registered source retriever (``vector``, ``bm25``, ``recency`` or a
plugin's) run with ``k = candidates``. Two fusions:

- ``rrf`` (reciprocal rank): a note scores ``sum_c weight_c / (rrf_k + rank_c)``, ranks
  starting at 1;
- ``score``: a note scores ``sum_c weight_c * score_c / max score_c`` — each channel's
  scores divided by that channel's best, so BM25 and cosine land on one scale.

Notes a channel did not return get nothing from it. Naive equal-weight fusion with a weak
channel can hurt (on LoCoMo, BM25 alone beats an equal-weight RRF of BM25 and MiniLM), so
the weights are tunable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from evolvelab.config import RetrieverConfig, StageConfig, Tunable
from evolvelab.errors import closest
from evolvelab.stages import Issue, Resources, Retriever
from evolvelab.types import Hit, Query

__all__ = ["HybridConfig", "HybridRetriever", "fuse"]


class HybridConfig(RetrieverConfig):
    """Fuse channels by weighted reciprocal rank.

    Example:
        ```yaml
        retrieve:
          - {type: hybrid, channels: [bm25, vector], weights: [1.0, 0.6], k: 20}
        ```
    """

    type: Literal["hybrid"] = "hybrid"
    channels: list[str] = Field(
        default_factory=lambda: ["bm25", "vector"],
        min_length=1,
        description="Source retriever types to fuse, each run with k = candidates.",
    )
    weights: list[float] | None = Field(
        None, description="One weight per channel (default: all 1.0)."
    )
    fusion: Annotated[Literal["rrf", "score"], Tunable(choices=("rrf", "score"))] = Field(
        "rrf", description="rrf: weighted reciprocal rank; score: weighted max-normalised scores."
    )
    rrf_k: Annotated[float, Tunable(1, 120, log=True)] = Field(
        60.0, gt=0, description="Rank offset of reciprocal-rank fusion."
    )
    candidates: Annotated[int, Tunable(10, 200, log=True)] = Field(
        50, ge=1, le=1000, description="How many notes each channel fetches."
    )
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many fused notes to keep."
    )

    @field_validator("channels")
    @classmethod
    def _distinct(cls, channels: list[str]) -> list[str]:
        if len(set(channels)) != len(channels):
            raise ValueError("channels must not repeat")
        return channels

    @field_validator("weights")
    @classmethod
    def _one_per_channel(cls, weights: list[float] | None, info: ValidationInfo) -> list[float] | None:
        channels = info.data.get("channels")
        if weights is not None and channels is not None and len(weights) != len(channels):
            raise ValueError(f"give one weight per channel: {len(channels)} channels, {len(weights)} weights")
        return weights


def _channel_config(registry: Any, name: str, candidates: int) -> StageConfig:
    model = registry.get("retriever", name).cls.config_model
    return model(k=candidates) if "k" in model.model_fields else model()


class HybridRetriever(Retriever):
    """Run every channel, fuse their rankings."""

    config_model: ClassVar[type[HybridConfig]] = HybridConfig
    config: HybridConfig

    @classmethod
    def check(cls, config: StageConfig, registry: Any) -> list[Issue]:
        assert isinstance(config, HybridConfig)
        sources = [e.name for e in registry.entries("retriever") if e.cls.source and e.name != "hybrid"]
        issues = []
        for i, name in enumerate(config.channels):
            if name not in sources:
                issues.append(
                    Issue(
                        ("channels", i),
                        f"unknown channel '{name}'",
                        allowed=tuple(sources),
                        suggestion=closest(name, sources),
                    )
                )
        return issues

    @classmethod
    def capabilities_needed(cls, config: StageConfig, registry: Any) -> tuple[type[Any], ...]:
        assert isinstance(config, HybridConfig)
        needed: list[type[Any]] = []
        for name in config.channels:
            if name in registry.names("retriever"):
                channel = registry.get("retriever", name).cls
                needed.extend(channel.capabilities_needed(channel.config_model(), registry))
        return tuple(dict.fromkeys(needed))

    def open(self, resources: Resources) -> None:
        super().open(resources)
        registry = resources.registry
        if registry is None:
            from evolvelab.registry import default_registry

            registry = default_registry()
        self._channels: list[Retriever] = []
        for name in self.config.channels:
            entry = registry.get("retriever", name)
            channel = entry.cls(_channel_config(registry, name, self.config.candidates))
            assert isinstance(channel, Retriever)
            channel.open(resources)
            self._channels.append(channel)

    def close(self) -> None:
        for channel in getattr(self, "_channels", []):
            channel.close()

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        weights = self.config.weights or [1.0] * len(self._channels)
        results = [
            (name, weight, channel.retrieve(query, []))
            for name, weight, channel in zip(self.config.channels, weights, self._channels, strict=True)
        ]
        fused = fuse(results, fusion=self.config.fusion, rrf_k=self.config.rrf_k, channel="hybrid")
        return self.extend(previous, fused[: self.config.k])


def fuse(
    results: Sequence[tuple[str, float, Sequence[Hit]]],
    *,
    fusion: Literal["rrf", "score"] = "score",
    rrf_k: float = 60.0,
    channel: str,
) -> list[Hit]:
    """Fuse ranked lists into one, best first (see the module docstring for the formulas).

    Args:
        results: ``(name, weight, hits)`` per list, each list best first.
        fusion: ``score`` (weighted max-normalised scores) or ``rrf`` (weighted reciprocal rank).
        rrf_k: the rank offset of reciprocal-rank fusion.
        channel: the channel the fused hits carry.

    Returns:
        One hit per note; ``explain`` keeps the note's first hit's explain and adds each
        list's raw score (``score``) or rank (``rrf``) under its name.
    """
    by_score = fusion == "score"
    fused: dict[str, float] = {}
    explain: dict[str, dict[str, float]] = {}
    notes = {}
    for name, weight, hits in results:
        best = max((h.score for h in hits), default=0.0)
        for rank, hit in enumerate(hits, start=1):
            note_id = hit.note.id
            notes.setdefault(note_id, hit.note)
            if by_score:
                gain = weight * hit.score / best if best > 0 else 0.0
            else:
                gain = weight / (rrf_k + rank)
            fused[note_id] = fused.get(note_id, 0.0) + gain
            explain.setdefault(note_id, dict(hit.explain))[name] = (
                hit.score if by_score else float(rank)
            )
    ranked = sorted(fused, key=lambda note_id: -fused[note_id])
    return [
        Hit(note=notes[nid], score=fused[nid], channel=channel, explain=explain[nid])
        for nid in ranked
    ]
